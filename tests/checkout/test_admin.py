import pytest

from apps.checkout.models import Balance, Transaction
from tests.checkout.factories import CardFactory, ProductFactory, funded_member, ledger_sum
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_ledger_lists_entries_but_cannot_change_or_delete_them(admin_browser):
    member = funded_member(1000)
    entry = Transaction.objects.get(member=member)

    assert admin_browser.get("/admin/checkout/transaction/").status_code == 200
    view = admin_browser.get(f"/admin/checkout/transaction/{entry.pk}/change/")
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert (
        admin_browser.post(
            f"/admin/checkout/transaction/{entry.pk}/change/", {"description": "edited"}
        ).status_code
        == 403
    )
    assert (
        admin_browser.post(f"/admin/checkout/transaction/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    entry.refresh_from_db()
    assert (entry.amount_cents, entry.description) == (1000, "Opening")


def test_the_add_form_offers_only_deposits_and_corrections(admin_browser):
    html = admin_browser.get("/admin/checkout/transaction/add/").content.decode()

    assert '<option value="deposit"' in html
    assert '<option value="correction"' in html
    assert '<option value="charge"' not in html


def test_an_administrator_records_a_deposit_through_the_service(admin_browser, admin_user):
    member = funded_member(1000)

    response = admin_browser.post(
        "/admin/checkout/transaction/add/",
        {"member": member.pk, "kind": "deposit", "amount": "12.50", "description": "Cash at the bar"},
    )

    assert response.status_code == 302, response.content
    entry = Transaction.objects.latest("id")
    assert (entry.kind, entry.amount_cents, entry.created_by, entry.description) == (
        "deposit",
        1250,
        admin_user,
        "Cash at the bar",
    )
    assert (entry.application, entry.idempotency_key, entry.balance_after_cents) == (None, None, 2250)
    assert Balance.objects.get(member=member).balance_cents == 2250 == ledger_sum(member)


def test_an_administrator_records_a_negative_correction(admin_browser, admin_user):
    member = funded_member(1000)

    response = admin_browser.post(
        "/admin/checkout/transaction/add/",
        {"member": member.pk, "kind": "correction", "amount": "-2.20", "description": "Beer not paid"},
    )

    assert response.status_code == 302, response.content
    assert Transaction.objects.latest("id").amount_cents == -220
    assert Balance.objects.get(member=member).balance_cents == 780


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"kind": "deposit", "amount": "-5.00", "description": ""}, "amount"),
        ({"kind": "deposit", "amount": "0", "description": ""}, "amount"),
        ({"kind": "deposit", "amount": "10000.01", "description": ""}, "amount"),
        ({"kind": "deposit", "amount": "1.234", "description": ""}, "amount"),
        ({"kind": "correction", "amount": "5.00", "description": ""}, "description"),
        ({"kind": "charge", "amount": "5.00", "description": "x"}, "kind"),
    ],
)
def test_an_invalid_entry_is_shown_again_and_writes_nothing(admin_browser, form, field):
    member = funded_member(1000)

    response = admin_browser.post("/admin/checkout/transaction/add/", {"member": member.pk, **form})

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Transaction.objects.count() == 1
    assert Balance.objects.get(member=member).balance_cents == 1000


def test_balances_are_read_only_and_show_whether_they_match_the_ledger(admin_browser):
    member = funded_member(1000)
    balance = Balance.objects.get(member=member)

    html = admin_browser.get("/admin/checkout/balance/").content.decode()

    assert "10.00" in html
    assert 'alt="True"' in html
    assert admin_browser.get("/admin/checkout/balance/add/").status_code == 403
    assert (
        admin_browser.post(f"/admin/checkout/balance/{balance.pk}/change/", {"balance_cents": 5}).status_code
        == 403
    )
    assert (
        admin_browser.post(f"/admin/checkout/balance/{balance.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_verify_balances_reports_a_balance_that_differs_from_its_ledger(admin_browser):
    good = funded_member(1000, first_name="Grace", last_name="Hopper")
    bad = funded_member(500, first_name="Alan", last_name="Turing")
    Balance.objects.filter(member=bad).update(balance_cents=501)
    selected = list(Balance.objects.values_list("pk", flat=True))

    response = admin_browser.post(
        "/admin/checkout/balance/", {"action": "verify_balances", "_selected_action": selected}, follow=True
    )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["These balances differ from the sum of their ledger: Alan Turing (5.01 vs 5.00)"]
    assert 'alt="False"' in response.content.decode()

    Balance.objects.filter(member=bad).update(balance_cents=500)
    response = admin_browser.post(
        "/admin/checkout/balance/", {"action": "verify_balances", "_selected_action": selected}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["All 2 balances match their ledger."]
    assert Balance.objects.get(member=good).balance_cents == 1000


def test_cards_are_found_by_identifier_and_by_member_name(admin_browser):
    CardFactory(identifier="04AABBCCDD", member=MemberFactory(first_name="Ada", last_name="Lovelace"))
    CardFactory(identifier="04EEFF0011", member=MemberFactory(first_name="Grace", last_name="Hopper"))

    by_uid = admin_browser.get("/admin/checkout/card/", {"q": "04AABB"}).content.decode()
    by_name = admin_browser.get("/admin/checkout/card/", {"q": "hopper"}).content.decode()

    assert "04AABBCCDD" in by_uid
    assert "04EEFF0011" not in by_uid
    assert "04EEFF0011" in by_name
    assert "04AABBCCDD" not in by_name


def test_a_card_is_stored_in_the_readers_canonical_form(admin_browser):
    member = MemberFactory()

    response = admin_browser.post(
        "/admin/checkout/card/add/", {"identifier": "04:aa:bb:cc", "member": member.pk, "active": "on"}
    )

    assert response.status_code == 302, response.content
    assert member.checkout_cards.get().identifier == "04AABBCC"


def test_products_list_shows_prices_in_euros(admin_browser):
    ProductFactory(name="Tosti", price_cents=250)

    html = admin_browser.get("/admin/checkout/product/").content.decode()

    assert "Tosti" in html
    assert "2.50" in html
