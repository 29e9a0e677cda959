from dataclasses import dataclass

from apps.audit.models import AuditEvent
from apps.members.models import Member
from apps.oauth.models import Consent
from apps.oauth.scopes import describe

# What a member is shown of their own audit trail: sign-ins and sign-outs, the apps they allowed,
# and changes to how they sign in.
MEMBER_VISIBLE_EVENTS = (
    AuditEvent.Event.LOGIN_SUCCEEDED,
    AuditEvent.Event.LOGOUT,
    AuditEvent.Event.SESSION_ENDED,
    AuditEvent.Event.SIGNED_OUT_EVERYWHERE,
    AuditEvent.Event.MFA_ADDED,
    AuditEvent.Event.MFA_REMOVED,
    AuditEvent.Event.RECOVERY_CODES_GENERATED,
    AuditEvent.Event.CONSENT_GRANTED,
    AuditEvent.Event.CONSENT_DENIED,
)


def member_record(user) -> Member | None:
    return Member.objects.filter(user=user).first()


def recent_security_events(user, limit: int = 10) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(actor_user=user, event__in=MEMBER_VISIBLE_EVENTS).order_by("-time")[:limit]
    )


@dataclass(frozen=True)
class ConnectedApp:
    consent: Consent
    permissions: list[str]  # each allowed scope, in plain words


def connected_apps(user) -> list[ConnectedApp]:
    consents = Consent.objects.filter(user=user).select_related("application").order_by("application__name")
    return [
        ConnectedApp(consent, [description for _, description in describe(consent.scopes)])
        for consent in consents
    ]
