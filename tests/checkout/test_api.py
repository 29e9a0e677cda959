import copy
import uuid
from datetime import UTC, datetime

import pytest
from rest_framework import serializers

from apps.checkout.models import Balance, Transaction
from apps.members.models import Member
from tests.api.contract import assert_scope_guarded
from tests.api.tokens import issue_token
from tests.checkout.factories import CardFactory, ProductFactory, fund, funded_member, ledger_sum
from tests.conftest import ApiClient
from tests.members.factories import MemberFactory, member_with_login
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db

READ, WRITE = "checkout-read", "checkout-write"


def drf_datetime(value: datetime) -> str:
    return serializers.DateTimeField().to_representation(value)


def transaction_body(entry: Transaction) -> dict:
    entry.refresh_from_db()
    return {
        "id": entry.pk,
        "amount_cents": entry.amount_cents,
        "kind": entry.kind,
        "items": entry.items,
        "description": entry.description,
        "application": entry.application.name if entry.application else None,
        "created_at": drf_datetime(entry.created_at),
    }


def balance_of(member) -> int:
    return Balance.objects.get(member=member).balance_cents


@pytest.fixture(autouse=True)
def overdraft(settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 500
    return 500


@pytest.fixture
def ada():
    return fund(member_with_login(first_name="Ada", last_name="Lovelace", email="ada@example.org"), 1000)


@pytest.fixture
def kiosk_app():
    return service_application(name="Bar kiosk", allowed_scopes=["member-read", READ, WRITE])


@pytest.fixture
def kiosk(kiosk_app) -> ApiClient:
    """The bar's kiosk: an app token with both checkout scopes."""
    return ApiClient(issue_token(f"{READ} {WRITE}", application=kiosk_app))


# --- GET /checkout/balance ----------------------------------------------------------------------------


def test_a_member_reads_their_own_balance(ada, api_as_member):
    response = api_as_member(ada, READ).get("/checkout/balance")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "member": str(ada.public_id),
        "balance_cents": 1000,
        "overdraft_limit_cents": 500,
        "available_cents": 1500,
    }


def test_a_member_who_never_paid_has_a_zero_balance(api_as_member):
    member = member_with_login()

    body = api_as_member(member, READ).get("/checkout/balance").json()

    assert body == {
        "member": str(member.public_id),
        "balance_cents": 0,
        "overdraft_limit_cents": 500,
        "available_cents": 500,
    }


@pytest.mark.parametrize("path", ["/checkout/balance", "/checkout/transactions"])
@pytest.mark.parametrize("parameter", ["member", "card"])
def test_a_members_token_cannot_name_another_member(ada, api_as_member, path, parameter):
    other = funded_member(700)
    card = CardFactory(member=other)
    value = str(other.public_id) if parameter == "member" else card.identifier

    response = api_as_member(ada, READ).get(path, {parameter: value})

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request is not valid.",
        "fields": {parameter: ["A member's token reads only the member's own account; leave this out."]},
    }


def test_a_login_without_a_member_record_has_no_balance(api_as_member):
    login_only = member_with_login()
    Member.objects.filter(pk=login_only.pk).update(user=None)

    assert api_as_member(login_only, READ).get("/checkout/balance").status_code == 404


def test_an_app_reads_any_members_balance_by_id(ada, kiosk):
    response = kiosk.get("/checkout/balance", {"member": str(ada.public_id)})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "member": str(ada.public_id),
        "balance_cents": 1000,
        "overdraft_limit_cents": 500,
        "available_cents": 1500,
    }


def test_an_app_reads_a_balance_by_card_whatever_the_case_of_the_uid(ada, kiosk):
    CardFactory(member=ada, identifier="04A1B2C3D4E5F6")

    response = kiosk.get("/checkout/balance", {"card": "04a1b2c3d4e5f6"})

    assert response.status_code == 200, response.content
    assert response.json()["member"] == str(ada.public_id)
    assert response.json()["balance_cents"] == 1000


@pytest.mark.parametrize("path", ["/checkout/balance", "/checkout/transactions"])
@pytest.mark.parametrize("both", [False, True])
def test_an_app_must_name_exactly_one_member(ada, kiosk, path, both):
    params = {"member": str(ada.public_id), "card": CardFactory(member=ada).identifier} if both else {}

    response = kiosk.get(path, params)

    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {
        "non_field_errors": ["An app's token names the member: give member or card."]
    }


@pytest.mark.parametrize("path", ["/checkout/balance", "/checkout/transactions"])
def test_an_unknown_member_or_card_is_404(kiosk, path):
    assert kiosk.get(path, {"member": str(uuid.uuid4())}).json() == {
        "error": "not_found",
        "error_description": "No member with this id.",
    }
    assert kiosk.get(path, {"card": "DEADBEEF"}).status_code == 404


@pytest.mark.parametrize("path", ["/checkout/balance", "/checkout/transactions"])
def test_a_blocked_card_reveals_nothing(ada, kiosk, path):
    card = CardFactory(member=ada, active=False)

    response = kiosk.get(path, {"card": card.identifier})

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "error_description": "No active card with this identifier.",
    }


@pytest.mark.parametrize(
    "params", [{"member": "not-a-uuid"}, {"member": ""}, {"card": ""}, {"card": "X" * 65}]
)
def test_a_malformed_member_parameter_is_400(kiosk, params):
    response = kiosk.get("/checkout/balance", params)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert set(response.json()["fields"]) == set(params)


def test_balance_is_guarded_by_checkout_read(ada):
    assert_scope_guarded("GET", "/checkout/balance", READ, user=ada.user)
    assert_scope_guarded("GET", "/checkout/balance", READ)


# --- GET /checkout/transactions -----------------------------------------------------------------------


def test_a_member_lists_their_own_transactions_newest_first(ada, kiosk_app, api_as_member):
    beer = ProductFactory(name="Beer", price_cents=220)
    deposit = Transaction.objects.get(member=ada)
    kiosk = ApiClient(issue_token(WRITE, application=kiosk_app))
    kiosk.post(
        "/checkout/charges",
        {
            "member": str(ada.public_id),
            "items": [{"product_id": beer.pk, "quantity": 2}],
            "idempotency_key": "secret-key-of-the-kiosk",
            "description": "Round",
        },
    )
    charge = Transaction.objects.get(member=ada, kind="charge")
    funded_member(900)  # someone else's money is not in the list

    response = api_as_member(ada, READ).get("/checkout/transactions")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert body["results"] == [transaction_body(charge), transaction_body(deposit)]
    assert body["results"][0] == {
        "id": charge.pk,
        "amount_cents": -440,
        "kind": "charge",
        "items": [{"product_id": beer.pk, "name": "Beer", "quantity": 2, "unit_price_cents": 220}],
        "description": "Round",
        "application": "Bar kiosk",
        "created_at": drf_datetime(charge.created_at),
    }
    assert body["results"][1]["application"] is None
    assert "secret-key-of-the-kiosk" not in response.content.decode()


def test_an_app_lists_any_members_transactions_by_id_or_card(ada, kiosk):
    card = CardFactory(member=ada)
    other = funded_member(300)

    by_id = kiosk.get("/checkout/transactions", {"member": str(ada.public_id)}).json()
    by_card = kiosk.get("/checkout/transactions", {"card": card.identifier}).json()
    others = kiosk.get("/checkout/transactions", {"member": str(other.public_id)}).json()

    assert [t["amount_cents"] for t in by_id["results"]] == [1000]
    assert by_card == by_id
    assert [t["amount_cents"] for t in others["results"]] == [300]


def test_transactions_are_filtered_by_creation_time(ada, api_as_member):
    Transaction.objects.filter(member=ada).update(created_at=datetime(2026, 1, 10, 12, tzinfo=UTC))
    fund(ada, 200)
    Transaction.objects.filter(member=ada, amount_cents=200).update(
        created_at=datetime(2026, 2, 10, 12, tzinfo=UTC)
    )
    fund(ada, 300)
    Transaction.objects.filter(member=ada, amount_cents=300).update(
        created_at=datetime(2026, 3, 10, 12, tzinfo=UTC)
    )
    api = api_as_member(ada, READ)

    def amounts(params):
        response = api.get("/checkout/transactions", params)
        assert response.status_code == 200, response.content
        return [t["amount_cents"] for t in response.json()["results"]]

    assert amounts({}) == [300, 200, 1000]
    assert amounts({"created_after": "2026-02-10T12:00:00Z"}) == [300, 200]
    assert amounts({"created_before": "2026-02-10T12:00:00Z"}) == [1000]
    assert amounts(
        {"created_after": "2026-02-01T00:00:00+01:00", "created_before": "2026-03-01T00:00:00Z"}
    ) == [200]


@pytest.mark.parametrize(
    "params", [{"created_after": "yesterday"}, {"created_before": "2026-13-40T00:00:00Z"}]
)
def test_a_malformed_time_filter_is_400(ada, api_as_member, params):
    response = api_as_member(ada, READ).get("/checkout/transactions", params)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert set(response.json()["fields"]) == set(params)


def test_transactions_are_paginated(ada, api_as_member):
    for cents in (10, 20, 30, 40):
        fund(ada, cents)

    body = api_as_member(ada, READ).get("/checkout/transactions", {"page_size": 2}).json()

    assert body["count"] == 5
    assert [t["amount_cents"] for t in body["results"]] == [40, 30]
    assert body["next"].endswith("page=2&page_size=2")


def test_transactions_are_guarded_by_checkout_read(ada):
    assert_scope_guarded("GET", "/checkout/transactions", READ, user=ada.user)
    assert_scope_guarded("GET", "/checkout/transactions", READ)


# --- POST /checkout/charges ---------------------------------------------------------------------------


def test_charges_are_guarded_by_checkout_write(ada):
    body = {"member": str(ada.public_id), "amount_cents": 100, "idempotency_key": "k1"}

    assert_scope_guarded("POST", "/checkout/charges", WRITE, body=body)

    assert not Transaction.objects.filter(kind="charge").exists()


def test_a_members_own_token_cannot_charge(ada, api_as_member):
    response = api_as_member(ada, f"{READ} {WRITE}").post(
        "/checkout/charges", {"member": str(ada.public_id), "amount_cents": 100, "idempotency_key": "k1"}
    )

    assert response.status_code == 403
    assert response.json() == {
        "error": "access_denied",
        "error_description": "This endpoint takes an application's own token (client credentials), "
        "not a member's.",
    }
    assert balance_of(ada) == 1000


def test_charging_an_amount_answers_201_with_the_transaction_and_the_new_balance(ada, kiosk):
    response = kiosk.post(
        "/checkout/charges",
        {"member": str(ada.public_id), "amount_cents": 350, "idempotency_key": "k1", "description": "Round"},
    )

    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response
    entry = Transaction.objects.get(kind="charge")
    assert response.json() == {
        "transaction": {
            "id": entry.pk,
            "amount_cents": -350,
            "kind": "charge",
            "items": [],
            "description": "Round",
            "application": "Bar kiosk",
            "created_at": drf_datetime(entry.created_at),
        },
        "balance": {
            "member": str(ada.public_id),
            "balance_cents": 650,
            "overdraft_limit_cents": 500,
            "available_cents": 1150,
        },
    }
    assert (entry.member, entry.idempotency_key, entry.application.name) == (ada, "k1", "Bar kiosk")
    assert balance_of(ada) == 650 == ledger_sum(ada)


def test_charging_products_by_card_prices_them_and_charges_the_owner(ada, kiosk):
    card = CardFactory(member=ada, identifier="04A1B2C3D4E5F6")
    beer = ProductFactory(name="Beer", price_cents=220)
    crisps = ProductFactory(name="Crisps", price_cents=120)

    response = kiosk.post(
        "/checkout/charges",
        {
            "card": "04:a1:b2:c3:d4:e5:f6",
            "items": [{"product_id": beer.pk, "quantity": 2}, {"product_id": crisps.pk, "quantity": 1}],
            "idempotency_key": "order-17",
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["transaction"]["amount_cents"] == -560
    assert body["transaction"]["items"] == [
        {"product_id": beer.pk, "name": "Beer", "quantity": 2, "unit_price_cents": 220},
        {"product_id": crisps.pk, "name": "Crisps", "quantity": 1, "unit_price_cents": 120},
    ]
    assert body["transaction"]["description"] == ""
    assert body["balance"]["balance_cents"] == 440
    assert Transaction.objects.get(kind="charge").card == card


def test_a_retry_answers_200_with_the_same_body_and_charges_once(ada, kiosk):
    request = {"member": str(ada.public_id), "amount_cents": 350, "idempotency_key": "k1"}
    first = kiosk.post("/checkout/charges", request)
    kiosk.post(
        "/checkout/charges", {"member": str(ada.public_id), "amount_cents": 100, "idempotency_key": "k2"}
    )

    again = kiosk.post("/checkout/charges", request)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["balance"]["balance_cents"] == 650  # as the first charge left it
    assert Transaction.objects.filter(kind="charge").count() == 2
    assert balance_of(ada) == 550 == ledger_sum(ada)


@pytest.mark.parametrize(
    "change",
    [{"amount_cents": 351}, {"member": "other"}, {"description": "Another round"}],
)
def test_the_same_key_with_a_different_body_is_409_and_charges_nothing(ada, kiosk, change):
    request = {"member": str(ada.public_id), "amount_cents": 350, "idempotency_key": "k1"}
    kiosk.post("/checkout/charges", request)
    other = funded_member(1000)
    changed = {**request, **change}
    if changed["member"] == "other":
        changed["member"] = str(other.public_id)

    response = kiosk.post("/checkout/charges", changed)

    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": "idempotency_key_reused",
        "error_description": "This idempotency key was already used for a different request; "
        "use a new key per charge.",
    }
    assert Transaction.objects.filter(kind="charge").count() == 1
    assert (balance_of(ada), balance_of(other)) == (650, 1000)


def test_a_charge_down_to_exactly_the_overdraft_limit_is_accepted(ada, kiosk):
    response = kiosk.post(
        "/checkout/charges", {"member": str(ada.public_id), "amount_cents": 1500, "idempotency_key": "k1"}
    )

    assert response.status_code == 201, response.content
    assert response.json()["balance"] == {
        "member": str(ada.public_id),
        "balance_cents": -500,
        "overdraft_limit_cents": 500,
        "available_cents": 0,
    }
    assert balance_of(ada) == -500


def test_a_charge_one_cent_past_the_overdraft_limit_is_409_and_charges_nothing(ada, kiosk):
    response = kiosk.post(
        "/checkout/charges", {"member": str(ada.public_id), "amount_cents": 1501, "idempotency_key": "k1"}
    )

    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": "insufficient_funds",
        "error_description": "Insufficient funds: this charge is 1501 cents and 1500 cents are available.",
        "amount_cents": 1501,
        "available_cents": 1500,
    }
    assert not Transaction.objects.filter(kind="charge").exists()
    assert balance_of(ada) == 1000


def test_without_overdraft_the_last_cent_can_be_spent_but_not_one_more(ada, kiosk, settings):
    settings.CHECKOUT_OVERDRAFT_LIMIT_CENTS = 0
    charge = {"member": str(ada.public_id), "amount_cents": 1000}

    assert kiosk.post("/checkout/charges", {**charge, "idempotency_key": "k1"}).status_code == 201
    refused = kiosk.post("/checkout/charges", {**charge, "amount_cents": 1, "idempotency_key": "k2"})

    assert refused.status_code == 409
    assert (refused.json()["amount_cents"], refused.json()["available_cents"]) == (1, 0)
    assert balance_of(ada) == 0


DROP = "<leave this field out>"


def _malformed_bodies():
    """(name, body changes or a whole non-object body, the field the 400 names)."""
    drop = DROP
    yield "member and card", {"card": "CARD-OF-ADA"}, "non_field_errors"
    yield "neither member nor card", {"member": drop}, "non_field_errors"
    yield "items and amount", {"items": [{"product_id": "BEER", "quantity": 1}]}, "non_field_errors"
    yield "neither items nor amount", {"amount_cents": drop}, "non_field_errors"
    yield "negative amount", {"amount_cents": -100}, "amount_cents"
    yield "zero amount", {"amount_cents": 0}, "amount_cents"
    yield "huge amount", {"amount_cents": 10**30}, "amount_cents"
    yield "amount past the maximum", {"amount_cents": 1_000_001}, "amount_cents"
    yield "amount as a string", {"amount_cents": "100"}, "amount_cents"
    yield "amount as a float", {"amount_cents": 100.0}, "amount_cents"
    yield "amount as a boolean", {"amount_cents": True}, "amount_cents"
    yield "amount null", {"amount_cents": None}, "amount_cents"
    yield "quantity 0", {"amount_cents": drop, "items": [{"product_id": "BEER", "quantity": 0}]}, "items"
    yield (
        "quantity as a string",
        {"amount_cents": drop, "items": [{"product_id": "BEER", "quantity": "2"}]},
        "items",
    )
    yield (
        "huge quantity",
        {"amount_cents": drop, "items": [{"product_id": "BEER", "quantity": 10**20}]},
        "items",
    )
    yield "huge product id", {"amount_cents": drop, "items": [{"product_id": 10**30, "quantity": 1}]}, "items"
    yield (
        "product id as a string",
        {"amount_cents": drop, "items": [{"product_id": "7", "quantity": 1}]},
        "items",
    )
    yield "no items", {"amount_cents": drop, "items": []}, "items"
    yield "items not a list", {"amount_cents": drop, "items": "beer"}, "items"
    yield "item not an object", {"amount_cents": drop, "items": [3]}, "items"
    yield (
        "item with an extra field",
        {
            "amount_cents": drop,
            "items": [{"product_id": "BEER", "quantity": 1, "unit_price_cents": 1}],
        },
        "items",
    )
    yield "unknown product", {"amount_cents": drop, "items": [{"product_id": 987654, "quantity": 1}]}, "items"
    yield "product off sale", {"amount_cents": drop, "items": [{"product_id": "OLD", "quantity": 1}]}, "items"
    yield (
        "total past the maximum",
        {
            "amount_cents": drop,
            "items": [{"product_id": "BEER", "quantity": 1000}] * 5,
        },
        "items",
    )
    yield "unknown member", {"member": str(uuid.uuid4())}, "member"
    yield "member not a uuid", {"member": "ada"}, "member"
    yield "member as a number", {"member": 12}, "member"
    yield "unknown card", {"member": drop, "card": "DEADBEEF"}, "card"
    yield "blocked card", {"member": drop, "card": "BLOCKED-CARD"}, "card"
    yield "card as a number", {"member": drop, "card": 4711}, "card"
    yield "extra field", {"currency": "EUR"}, "currency"
    yield "no idempotency key", {"idempotency_key": drop}, "idempotency_key"
    yield "empty idempotency key", {"idempotency_key": ""}, "idempotency_key"
    yield "idempotency key too long", {"idempotency_key": "k" * 101}, "idempotency_key"
    yield "idempotency key with a newline", {"idempotency_key": "k1\n"}, "idempotency_key"
    yield "idempotency key not ascii", {"idempotency_key": "sleutel-é"}, "idempotency_key"
    yield "idempotency key as a number", {"idempotency_key": 17}, "idempotency_key"
    yield "description too long", {"description": "x" * 201}, "description"
    yield "description as a number", {"description": 5}, "description"
    yield "description with a NUL", {"description": "a\x00b"}, "description"
    yield "a JSON array", [{"amount_cents": 100}], "non_field_errors"


MALFORMED = list(_malformed_bodies())


@pytest.mark.parametrize(
    ("change", "field"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_a_malformed_charge_is_400_and_writes_nothing(ada, kiosk, change, field):
    beer = ProductFactory(name="Beer", price_cents=220)
    old = ProductFactory(name="Old", active=False)
    CardFactory(member=ada, identifier="CARD-OF-ADA")
    CardFactory(member=ada, identifier="BLOCKED-CARD", active=False)
    placeholders = {"BEER": beer.pk, "OLD": old.pk}
    valid = {"member": str(ada.public_id), "amount_cents": 100, "idempotency_key": "k1"}
    change = copy.deepcopy(change)
    if isinstance(change, list):
        body = change
    else:
        body = {key: value for key, value in {**valid, **change}.items() if value is not DROP}
        for item in body.get("items") or []:
            if isinstance(item, dict) and item.get("product_id") in placeholders:
                item["product_id"] = placeholders[item["product_id"]]
    transactions = Transaction.objects.count()

    response = kiosk.post("/checkout/charges", body)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert list(response.json()["fields"]) == [field]
    assert Transaction.objects.count() == transactions
    assert balance_of(ada) == 1000


@pytest.mark.parametrize(
    "payload", [b"{not json", b"", b"null", b'"charge"', b"[]", b'{"amount_cents": NaN}']
)
def test_a_body_that_is_not_a_json_object_is_400(ada, kiosk, payload):
    response = kiosk.client.post(
        "/api/v1/checkout/charges", payload, content_type="application/json", **kiosk.headers
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert not Transaction.objects.filter(kind="charge").exists()


def test_a_member_who_never_paid_may_spend_the_overdraft(kiosk):
    """A member without any balance may still spend the overdraft (and gets a Balance row)."""
    member = MemberFactory()

    response = kiosk.post(
        "/checkout/charges", {"member": str(member.public_id), "amount_cents": 500, "idempotency_key": "k1"}
    )

    assert response.status_code == 201, response.content
    assert response.json()["balance"]["balance_cents"] == -500
    assert balance_of(member) == -500


def test_charges_are_stamped_with_the_app_that_made_them(ada, kiosk):
    canteen = ApiClient(issue_token(WRITE, application=service_application(name="Canteen")))
    request = {"member": str(ada.public_id), "amount_cents": 100, "idempotency_key": "same-key"}

    assert kiosk.post("/checkout/charges", request).status_code == 201
    assert canteen.post("/checkout/charges", request).status_code == 201

    assert sorted(Transaction.objects.filter(kind="charge").values_list("application__name", flat=True)) == [
        "Bar kiosk",
        "Canteen",
    ]
    assert balance_of(ada) == 800
