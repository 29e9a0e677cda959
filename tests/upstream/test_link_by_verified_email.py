"""Linking an upstream sign-in by email needs the email verified on both sides (finding: account takeover).

The upstream provider must assert its address as verified, and the Latch account with that address
must have verified it too: otherwise whoever put an unconfirmed address on a Latch account would be
offered (or, with `trust_email`, given) the link of the address's real owner.
"""

import pytest

from apps.upstream.models import UpstreamIdentity
from tests.accounts.factories import UserFactory
from tests.upstream.factories import UpstreamProviderFactory
from tests.upstream.idp import FakeIdP
from tests.upstream.test_sign_in import failures, messages_of, sign_in, signed_in_user_id

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("trust_email", [False, True])
def test_upstream_sign_in_never_links_a_latch_account_whose_address_is_unverified(
    client, upstream, trust_email
):
    provider = UpstreamProviderFactory(allow_sign_in=True, default_scopes=["openid"], trust_email=trust_email)
    UserFactory(email="alice@example.org", email_verified=False)

    _, response = sign_in(client, FakeIdP(upstream, provider), email="alice@example.org", email_verified=True)

    assert response["Location"] == "/accounts/login/"
    assert "There is no Latch account for this" in messages_of(response)[0]
    assert signed_in_user_id(client) is None
    assert not UpstreamIdentity.objects.exists()
    assert failures("no_account")
