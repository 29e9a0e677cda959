"""`record()`: the one way to write the audit log (a row, and the same event as a log line).

The one exception is a row written in the same statement as the change it records, so that neither
is ever stored without the other: `event_row()` builds it, the caller stores both, then `log()`
(apps/oauth/validators.py, for a token and its `token.issued`).

Transactions: the row is written on the caller's connection, inside whatever transaction is open,
so it commits exactly when the change it describes commits. If that transaction rolls back, the row
goes with it; the log line on "latch.audit" has already been emitted and stays. Record an event
that must survive a failing request outside the atomic block that will roll back.

No savepoint around the INSERT (it would cost two more statements per token): whatever in the data
could make it fail is settled in Python first (labels cut to length, IPs validated, details turned
into plain JSON), so an INSERT can only fail when the database or its transaction already has.
"""

import json
import logging
import re
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError
from django.http import HttpRequest

from apps.accounts.ip import client_ip_address
from apps.audit.models import AuditEvent
from apps.core.precompiled import PrecompiledInsert

logger = logging.getLogger("latch.audit")

# Every token request writes one event: its INSERT is compiled once (apps/core/precompiled.py).
_new_event = PrecompiledInsert(AuditEvent)

# A detail whose key contains any of these is dropped, however deeply nested: the audit log is read
# by administrators and shipped to log collectors, so it must never hold a secret. Err on the side of
# dropping: "token_family" goes too; name such a detail "family".
SECRET_LIKE = re.compile(
    r"token|secret|passw|pwd|code|verifier|authori[sz]ation|key|cookie|credential|assertion|session|signature",
    re.IGNORECASE,
)


class _Encoder(DjangoJSONEncoder):
    """Dates, UUIDs and decimals as DjangoJSONEncoder writes them; anything else as its str()."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _without_secrets(value: Any, dropped: list[str], path: str = "") -> Any:
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            name = f"{path}{key}"
            if SECRET_LIKE.search(str(key)):
                dropped.append(name)
            else:
                kept[str(key)] = _without_secrets(item, dropped, f"{name}.")
        return kept
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_without_secrets(item, dropped, path) for item in items]
    return value


def clean_details(event: str, details: dict[str, Any]) -> dict[str, Any]:
    """The details without secret-looking keys, as plain JSON values (what is stored is what is logged)."""
    dropped: list[str] = []
    kept = _without_secrets(details, dropped)
    if dropped:
        logger.warning(
            "audit.detail_dropped event=%s keys=%s",
            event,
            ",".join(dropped),
            extra={"event": "audit.detail_dropped", "details": {"audit_event": event, "dropped": dropped}},
        )
    # PostgreSQL refuses NUL in text and in JSON strings; clients control some of these values.
    return json.loads(json.dumps(kept, cls=_Encoder).replace("\\u0000", "\\ufffd"))


def storable(text: str, length: int) -> str:
    """A client-supplied string as a text column can hold it: no NUL, at most `length` characters."""
    return text.replace("\x00", "\ufffd")[:length]


def record(event: str, **arguments: Any) -> AuditEvent | None:
    """Write one audit event: one INSERT and no other query; returns the row, or None if it failed.

    The arguments are event_row's: `request`, `user`, `client_id`, `actor_type`, `actor_label`,
    and the event's details as keywords. The actor is the `user` if given (type "user", labelled
    by email), else the client (type "client", labelled by `client_id`), else "anonymous";
    `actor_type` and `actor_label` override that (e.g. an administrator: `actor_type="admin",
    user=request.user`; a command: `actor_label="manage.py"`). `request.user` is never read (that
    would cost a session query): pass `user` explicitly. The IP comes from `request`
    (apps.accounts.ip.client_ip_address). `details` keys that look like a secret are dropped
    (SECRET_LIKE). An unknown `event` or `actor_type` raises ValueError: that is a bug.
    A failed INSERT is logged and swallowed, so that auditing never breaks the request it records.
    """
    row = event_row(event, **arguments)
    saved = write(row)
    log(row, saved=saved)
    return row if saved else None


def write(row: AuditEvent) -> bool:
    """Store a row of `event_row()`; False, logged, when the INSERT failed (see `record()`)."""
    try:
        _new_event.save(row)
    except DatabaseError:
        name = AuditEvent.Event(row.event).value
        logger.exception(
            "audit.write_failed event=%s",
            name,
            extra={"event": "audit.write_failed", "details": {"audit_event": name}},
        )
        return False
    return True


def event_row(
    event: str,
    *,
    request: HttpRequest | None = None,
    user: Any = None,
    client_id: str = "",
    actor_type: str | None = None,
    actor_label: str = "",
    **details: Any,
) -> AuditEvent:
    """The row `record()` writes, unsaved: for a caller that writes it in the same statement as
    the change it records (apps/oauth/validators.py: a token and its `token.issued`), and then
    calls `log()`. Same arguments and rules as `record()`."""
    event = AuditEvent.Event(event)
    if user is not None and not user.is_authenticated:
        user = None
    if actor_type is None:
        actor_type = (
            AuditEvent.ActorType.USER
            if user
            else AuditEvent.ActorType.CLIENT
            if client_id
            else AuditEvent.ActorType.ANONYMOUS
        )
    actor_type = AuditEvent.ActorType(actor_type)
    return AuditEvent(
        event=event,
        actor_type=actor_type,
        actor_user=user,
        actor_label=storable(actor_label or (user.email if user else client_id), 255),
        client_id=storable(client_id, 100),
        ip=client_ip_address(request),
        details=clean_details(event, details),
    )


def log(row: AuditEvent, *, saved: bool = True) -> None:
    """The event's line on "latch.audit", as `record()` emits it (with the row's id once saved)."""
    user = row.actor_user  # set by event_row, or None: never a query
    event, actor_type = AuditEvent.Event(row.event).value, AuditEvent.ActorType(row.actor_type).value
    logger.info(
        "%s actor=%s:%s client=%s ip=%s details=%s",
        event,
        actor_type,
        row.actor_label or "-",
        row.client_id or "-",
        row.ip or "-",
        json.dumps(row.details, sort_keys=True),
        extra={
            "event": event,
            "id": row.pk if saved else None,
            "actor_type": actor_type,
            "actor_user": str(user.public_id) if user else None,
            "actor_label": row.actor_label,
            "client_id": row.client_id,
            "ip": row.ip,
            "details": row.details,
        },
    )


def application_details(application: Any) -> dict[str, Any]:
    """What application.created records about a new application (never its secret)."""
    return {
        "name": application.name,
        "client_type": application.client_type,
        "grant_type": application.authorization_grant_type,
        "allowed_scopes": list(application.allowed_scopes),
        "redirect_uris": application.redirect_uris.split(),
        "pkce_optional": application.pkce_optional,
        "is_resource_server": application.is_resource_server,
        "require_dpop": application.require_dpop,
    }
