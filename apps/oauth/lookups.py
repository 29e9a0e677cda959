"""The rows every token request looks up or writes, as SQL compiled once per process.

A token or client is found by a unique column; what differs between requests is only the value
(apps/core/precompiled.py says why this is worth it).
"""

from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.core.fields import Digest
from apps.core.precompiled import PrecompiledInsert, PrecompiledInserts, PrecompiledQuery
from apps.oauth.models import AccessToken, Application, Grant, IDToken, RefreshToken


def _access_token_by_checksum(*also_related: str) -> PrecompiledQuery[AccessToken]:
    return PrecompiledQuery(
        lambda checksum: AccessToken.objects.select_related("application", "user", *also_related).filter(
            token_checksum=checksum
        ),
        "<access token checksum>",
    )


access_token_by_checksum = _access_token_by_checksum()
# The same, with the member record of the token's user joined (a LEFT JOIN: an app's token, or a
# login without a record, has none): the API's member views need it, and it saves them a query.
access_token_with_member_by_checksum = _access_token_by_checksum("user__member")

application_by_client_id = PrecompiledQuery(
    lambda client_id: Application.objects.filter(client_id=client_id),
    "<client id>",
)


def _live_refresh_tokens(checksum: str) -> QuerySet[RefreshToken]:
    return RefreshToken.objects.select_related("application", "user", "access_token").filter(
        token_checksum=checksum, revoked__isnull=True
    )


live_refresh_token_by_checksum = PrecompiledQuery(_live_refresh_tokens, "<refresh token checksum>")

# The same, locked (the token's own row only), for a refresh; a revoked token is left to DOT's checks.
live_refresh_token_for_update = PrecompiledQuery(
    lambda checksum: _live_refresh_tokens(checksum).select_for_update(of=("self",)),
    "<refresh token checksum>",
)

# Codes are stored as digests (DigestField): the value passed is the Digest of the code.
grant_for_update = PrecompiledQuery(
    lambda code_digest: (
        Grant.objects.select_for_update(of=("self",)).select_related("user").filter(code=code_digest)
    ),
    Digest("<code digest>"),
)

new_access_token = PrecompiledInsert(AccessToken)
# A token that no refresh token follows, with its `token.issued` row: one statement, one round trip.
new_access_token_and_event = PrecompiledInserts(AccessToken, AuditEvent)
new_refresh_token = PrecompiledInsert(RefreshToken)
new_id_token = PrecompiledInsert(IDToken)
