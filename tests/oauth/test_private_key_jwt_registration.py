"""Registering a private_key_jwt app: Application.clean() (apps/oauth/client_keys.py) accepts only
public asymmetric signing keys, and create_client registers such an app without a secret."""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from joserfc.jwk import ECKey, OctKey, RSAKey

from apps.oauth.models import Application
from tests.oauth.assertions import client_key, jwks, pkjwt_application
from tests.oauth.factories import service_application

pytestmark = pytest.mark.django_db


def problems(**fields) -> dict[str, list[str]]:
    """What full_clean() says of a private_key_jwt client_credentials app with these fields."""
    application = Application(
        name="Keyed",
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_type=Application.CLIENT_CONFIDENTIAL,
        token_endpoint_auth_method="private_key_jwt",
        allowed_scopes=["member-read"],
        client_secret="",
        hash_client_secret=False,
    )
    for name, value in fields.items():
        setattr(application, name, value)
    try:
        application.full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


@pytest.mark.parametrize("kind", ["rsa", "ec", "okp"])
def test_a_public_signing_key_of_each_type_is_accepted(kind):
    assert problems(jwks=jwks(client_key(kind))) == {}


def test_a_jwks_uri_is_accepted():
    assert problems(jwks_uri="https://app.example.org/jwks.json") == {}


@pytest.mark.parametrize(
    ("jwks_value", "message"),
    [
        pytest.param({"keys": [client_key().private()]}, "private key material", id="rsa private key"),
        pytest.param({"keys": [client_key("ec").private()]}, "private key material", id="ec private key"),
        pytest.param({"keys": [client_key("okp").private()]}, "private key material", id="okp private key"),
        pytest.param(
            {"keys": [OctKey.generate_key(256).as_dict(private=True)]}, "symmetric (oct)", id="oct key"
        ),
        pytest.param({"keys": []}, "no keys", id="empty set"),
        pytest.param([client_key().public()], '"keys" list', id="a list, not a set"),
        pytest.param({"keys": "nope"}, '"keys" list', id="keys not a list"),
        pytest.param({"keys": ["nope"]}, "not a JSON object", id="key not an object"),
        pytest.param({"keys": [{"kty": "RSA", "n": "AQAB"}]}, "not a valid public key", id="rsa without e"),
        pytest.param({"keys": [{"kty": "XYZ"}]}, "kty", id="unknown kty"),
        pytest.param({"keys": [{**client_key().public(), "use": "enc"}]}, "signing key", id="encryption key"),
        pytest.param(
            {"keys": [client_key().public(), client_key("ec").public()]}, "same kid", id="duplicate kid"
        ),
        pytest.param(
            {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "kid": "k"}]},
            "not a valid public key",
            id="point off the curve",
        ),
    ],
)
def test_an_unacceptable_jwks_is_refused_with_a_message(jwks_value, message):
    found = problems(jwks=jwks_value)

    assert any(message in text for text in found.get("jwks", [])), found


def test_an_rsa_key_under_2048_bits_is_refused():
    small = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 (the point)

    found = problems(jwks={"keys": [small.as_dict(private=False)]})

    assert "1024 bits" in " ".join(found["jwks"])


def test_a_key_on_another_curve_is_refused():
    k256 = ECKey.import_key(ec.generate_private_key(ec.SECP256K1()))

    found = problems(jwks={"keys": [k256.as_dict(private=False)]})

    assert "curve" in " ".join(found["jwks"])


@pytest.mark.parametrize(
    "uri",
    ["http://app.example.org/jwks.json", "https://user:pw@app.example.org/jwks", "ftp://app.example.org/j"],
)
def test_a_jwks_uri_that_is_not_plain_https_is_refused(uri):
    found = problems(jwks_uri=uri)

    assert found.get("jwks_uri"), found


def test_private_key_jwt_needs_keys():
    assert "a JWKS or a JWKS URI" in " ".join(problems()["jwks"])


def test_private_key_jwt_takes_a_jwks_or_a_jwks_uri_not_both():
    found = problems(jwks=jwks(client_key()), jwks_uri="https://app.example.org/jwks.json")

    assert "not both" in " ".join(found["jwks_uri"])


def test_private_key_jwt_needs_a_confidential_client():
    found = problems(
        jwks=jwks(client_key()),
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://app.example.org/callback",
    )

    assert "confidential" in " ".join(found["client_type"])


def test_a_secret_method_needs_a_confidential_client_and_none_a_public_one():
    public = problems(
        token_endpoint_auth_method="client_secret_basic",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://app.example.org/callback",
    )
    confidential = problems(token_endpoint_auth_method="none")

    assert "confidential" in " ".join(public["client_type"])
    assert "public client" in " ".join(confidential["token_endpoint_auth_method"])


def test_keys_of_an_app_with_another_method_are_checked_too():
    with pytest.raises(ValidationError, match="private key material"):
        service_application(jwks={"keys": [client_key().private()]})


def create_keyed_client(*options: str) -> None:
    """create_client for a confidential client_credentials app with private_key_jwt."""
    call_command(
        "create_client",
        "Keyed service",
        "--grant=client_credentials",
        "--client-type=confidential",
        "--scopes=member-read",
        "--auth-method=private_key_jwt",
        *options,
    )


def test_create_client_registers_a_private_key_jwt_app_without_a_secret(tmp_path, capsys):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(client_key())))

    create_keyed_client(f"--jwks-file={path}", "--json")

    printed = json.loads(capsys.readouterr().out)
    assert printed["client_secret"] is None
    application = Application.objects.get(client_id=printed["client_id"])
    assert application.token_endpoint_auth_method == "private_key_jwt"
    assert application.jwks == jwks(client_key())
    assert application.client_secret == ""


def test_create_client_with_a_jwks_uri(capsys):
    create_keyed_client("--jwks-uri=https://app.example.org/jwks.json")

    out = capsys.readouterr().out
    assert "client_secret: none (private_key_jwt" in out
    assert Application.objects.get().jwks_uri == "https://app.example.org/jwks.json"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param([], "a JWKS or a JWKS URI", id="no keys"),
        pytest.param(["--jwks-uri=http://app.example.org/jwks"], "https", id="http uri"),
    ],
)
def test_create_client_refuses_unusable_keys_and_creates_nothing(extra, message):
    with pytest.raises(CommandError, match=message):
        create_keyed_client(*extra)
    assert not Application.objects.exists()


def test_create_client_refuses_a_private_key_in_the_jwks_file(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [client_key().private()]}))

    with pytest.raises(CommandError, match="private key material"):
        create_keyed_client(f"--jwks-file={path}")
    assert not Application.objects.exists()


def test_create_client_refuses_a_jwks_file_that_is_not_json(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text("{not json")

    with pytest.raises(CommandError, match="--jwks-file"):
        create_keyed_client(f"--jwks-file={path}")
    assert not Application.objects.exists()


def test_the_factory_app_is_valid():
    assert pkjwt_application().token_endpoint_auth_method == "private_key_jwt"
