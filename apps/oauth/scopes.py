"""The scope registry: every scope Latch knows, what it means to a member, and which are defaults.

This is the single source of truth for scopes (the consent page, discovery, the admin's checkboxes
and the API's permission checks all read it). An application may only ever receive the scopes an
administrator allowed it (`Application.allowed_scopes`); the backend below narrows the registry to
them for every grant.
"""

from dataclasses import dataclass

from oauth2_provider.scopes import BaseScopes


@dataclass(frozen=True)
class Scope:
    description: str
    # Granted when a request names no scope at all (and the application is allowed it).
    default: bool = False


SCOPES: dict[str, Scope] = {
    "openid": Scope("Sign you in with your Latch account"),
    "profile": Scope("See your name"),
    "email": Scope("See your email address"),
    "offline_access": Scope("Keep access while you are not using the app"),
    "member-read": Scope("See your membership record and the member directory", default=True),
    "activity-read": Scope("See the association's activities", default=True),
    "group-read": Scope("See the association's groups and committees", default=True),
    "participant-read": Scope("See which activities you are enrolled in"),
    "participant-write": Scope("Enrol you in activities and cancel your enrolments"),
    "checkout-read": Scope("See your balance and purchases"),
    "checkout-write": Scope("Charge purchases to your account"),
    "connections": Scope("Use the accounts you connected to Latch (such as your university account)"),
}


def describe(scope_names: list[str]) -> list[tuple[str, str]]:
    """(name, description) for each known scope, in registry order, for the consent page."""
    requested = set(scope_names)
    return [(name, scope.description) for name, scope in SCOPES.items() if name in requested]


class RegistryScopes(BaseScopes):
    """DOT scopes backend: the registry, narrowed to what the application is allowed."""

    def get_all_scopes(self) -> dict[str, str]:
        return {name: scope.description for name, scope in SCOPES.items()}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        if application is None:
            return list(SCOPES)
        allowed = set(application.allowed_scopes or ())
        return [name for name in SCOPES if name in allowed]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        available = self.get_available_scopes(application, request)
        return [name for name in available if SCOPES[name].default]
