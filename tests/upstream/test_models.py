"""What a provider, identity, connection and application requirement may hold."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from apps.upstream.models import ApplicationUpstreamRequirement, Connection, UpstreamIdentity
from tests.upstream.factories import (
    ConnectionFactory,
    RequirementFactory,
    UpstreamIdentityFactory,
    UpstreamProviderFactory,
)

pytestmark = pytest.mark.django_db


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        instance.full_clean()
    return error.value.message_dict


def test_a_provider_needs_a_discovery_url_or_both_endpoints():
    provider = UpstreamProviderFactory()
    provider.authorization_endpoint = ""

    assert errors_of(provider) == {
        "discovery_url": ["Give a discovery URL, or the authorization and token endpoints."]
    }
    provider.discovery_url = "https://idp.example.edu/.well-known/openid-configuration"
    provider.full_clean()


def test_provider_endpoints_must_be_https_outside_development(settings):
    provider = UpstreamProviderFactory()
    provider.token_endpoint = "http://idp.example.edu/token"

    assert errors_of(provider) == {"token_endpoint": ["Must be an https URL."]}
    settings.LATCH_UPSTREAM_ALLOW_HTTP = True
    provider.full_clean()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("grant_types", ["refresh_token"], "The authorization code grant is the only way"),
        ("grant_types", ["password"], "Choose from: authorization_code, refresh_token."),
        ("grant_types", "authorization_code", "Choose from"),
        ("default_scopes", ["openid", "openid"], "default scopes names a scope twice."),
        ("default_scopes", ["has space"], "'has space' is not a scope name."),
        ("default_scopes", ["files.read"], "Not among the available scopes: files.read"),
        ("available_scopes", [{"scope": "a"}], 'Entry 1 is not {"scope": "...", "description": "..."}.'),
        ("available_scopes", [{"scope": "a b", "description": "x"}], "Entry 1: 'a b' is not a scope name."),
        ("available_scopes", [{"scope": "a", "description": " "}], "Entry 1 needs a description"),
        (
            "available_scopes",
            [{"scope": "a", "description": "x"}, {"scope": "a", "description": "y"}],
            "A scope is listed twice.",
        ),
        ("available_scopes", {"scope": "a"}, 'A list of {"scope": "...", "description": "..."} objects.'),
    ],
)
def test_provider_lists_are_checked(field, value, message):
    provider = UpstreamProviderFactory()
    setattr(provider, field, value)

    assert message in " ".join(errors_of(provider)[field])


def test_signing_in_needs_a_way_to_learn_the_subject():
    provider = UpstreamProviderFactory(allow_sign_in=True)
    provider.jwks_uri = ""
    provider.full_clean()  # the userinfo endpoint still names the member

    provider.userinfo_endpoint = ""
    assert "allow_sign_in" in errors_of(provider)


def test_one_upstream_subject_is_one_latch_member():
    identity = UpstreamIdentityFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        UpstreamIdentityFactory(provider=identity.provider, subject=identity.subject)
    UpstreamIdentityFactory(provider=UpstreamProviderFactory(), subject=identity.subject)
    assert UpstreamIdentity.objects.count() == 2


def test_one_connection_per_member_and_provider():
    connection = ConnectionFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionFactory(user=connection.user, provider=connection.provider)


def test_a_revoked_connection_cannot_keep_tokens():
    connection = ConnectionFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.REVOKED)
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.REVOKED, access_token="", refresh_token=""
    )


def test_a_provider_applications_depend_on_cannot_be_deleted():
    requirement = RequirementFactory()

    with pytest.raises(models.ProtectedError), transaction.atomic():
        requirement.provider.delete()


def test_deleting_an_application_deletes_its_requirements():
    requirement = RequirementFactory()

    requirement.application.delete()

    assert not ApplicationUpstreamRequirement.objects.exists()


def test_requirement_scopes_must_be_among_the_providers():
    provider = UpstreamProviderFactory()
    requirement = RequirementFactory.build(
        provider=provider, application=RequirementFactory().application, scopes=["calendar.read", "drive"]
    )

    assert errors_of(requirement) == {"scopes": [f"Not among {provider.name}'s available scopes: drive"]}


def test_requirement_with_on_missing_error_is_refused_on_a_disabled_provider():
    provider = UpstreamProviderFactory(enabled=False)
    requirement = RequirementFactory.build(
        provider=provider,
        application=RequirementFactory().application,
        on_missing=ApplicationUpstreamRequirement.OnMissing.ERROR,
    )

    assert errors_of(requirement) == {
        "on_missing": [f"Blocked: the app cannot work while {provider.name} is disabled."]
    }
    requirement.on_missing = ApplicationUpstreamRequirement.OnMissing.PROMPT_CONNECT
    requirement.full_clean()


def test_a_requirement_names_the_problem_when_its_provider_is_disabled_later():
    requirement = RequirementFactory(on_missing=ApplicationUpstreamRequirement.OnMissing.ERROR)
    assert requirement.problem == ""

    requirement.provider.enabled = False
    requirement.provider.save()

    assert requirement.problem.startswith("Blocked")
