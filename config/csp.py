"""Where a page's Content-Security-Policy differs from settings.SECURE_CSP, and why.

Django's ContentSecurityPolicyMiddleware sends SECURE_CSP on every response unless the response
carries its own policy. `django.views.decorators.csp.csp_override` gives one by setting
`response._csp_config`; this module sets the same attribute, because the exceptions below depend on
the request (which origin a form on the page finally lands on), which a decorator fixed at import
time cannot know.

`form-action` is the subtle one. Chrome applies it to every redirect that follows a form
submission, so a page whose form POSTs to Latch and is then redirected to an app must also allow
that app's origin, or the browser stops the redirect and the sign-in never reaches the app:
- the consent page (POST /oauth/authorize, then 302 to the redirect_uri): apps/oauth/views.py;
- the sign-out confirmation (POST /oauth/logout, then 302 to the post_logout_redirect_uri);
- the sign-in page when `next` is an authorization request: after sign-in Latch redirects to
  /oauth/authorize, which redirects straight on to the app when the app skips consent or the
  request says approval_prompt=auto and the member already agreed.
Each gets `'self'` plus the one origin that Latch itself validated against the app's registered URIs,
never an origin taken from the request unchecked.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from allauth.account.utils import get_next_redirect_url
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, QueryDict
from django.urls import reverse

from apps.oauth.models import Application

# What a host may look like in a CSP source expression: a header value must never take a space, a
# comma or a `;` from a URL (that would end the directive and let the URL write its own).
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")


def origin(url: str | None) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, as a CSP source; None for anything else."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def extend_policy(response: HttpResponseBase, additions: Mapping[str, Iterable[str | None]]) -> None:
    """Add sources to directives of the policy this response will be sent with.

    Only directives the policy names are widened: adding one it lacks would tighten it instead (a
    lone `img-src https:` drops the 'self' that default-src gave), and with SECURE_CSP empty (CSP
    turned off) nothing is added.
    """
    policy = getattr(response, "_csp_config", settings.SECURE_CSP)
    if not policy:
        return
    extended = dict(policy)
    for directive, sources in additions.items():
        value = extended.get(directive)
        if value in (None, False, True):  # absent, switched off, or a directive without sources
            continue
        # build_policy() takes a string, a list, a tuple or a set (which it sorts) as a value.
        if isinstance(value, str):
            current = [value]
        else:
            current = sorted(value) if isinstance(value, set) else list(value)
        extended[directive] = current + [s for s in sources if s and s not in current]
    response._csp_config = extended  # type: ignore[attr-defined]


def authorization_request_origin(url: str | None) -> str | None:
    """The origin an authorization request (a local /oauth/authorize?... URL) would send its answer to.

    That is the request's redirect_uri, and only if it is registered for the request's client.
    """
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or parts.path != reverse("oauth2_provider:authorize"):
        return None
    query = QueryDict(parts.query)
    application = Application.objects.filter(client_id=query.get("client_id", "")).first()
    if application is None:
        return None
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri:
        uris = application.redirect_uris.split()
        redirect_uri = uris[0] if len(uris) == 1 else ""  # DOT's default_redirect_uri rule
    if not redirect_uri or not application.redirect_uri_allowed(redirect_uri):
        return None
    return origin(redirect_uri)


def logout_confirmation_origin(response: HttpResponseBase) -> str | None:
    """The post_logout_redirect_uri DOT validated before it rendered its confirmation form."""
    form = (getattr(response, "context_data", None) or {}).get("form")
    return origin(form.initial.get("post_logout_redirect_uri")) if form is not None else None


def _is_html(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().lower() == "text/html"


class PagePolicyMiddleware:
    """Per-page adjustments to the policy; listed after ContentSecurityPolicyMiddleware.

    - Only HTML gets a policy. CSP governs documents; a JSON or JavaScript response is never
      rendered as one (Latch sends nosniff and an exact Content-Type), so the header would be
      dead weight on every token and API call.
    - Forms that may end on an app's origin get that origin in form-action (see the module's
      docstring).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not _is_html(response):
            response._csp_config = {}  # type: ignore[attr-defined]
            response._csp_ro_config = {}  # type: ignore[attr-defined]
            return response
        match = request.resolver_match
        if match is not None and match.view_name == "oauth2_provider:rp-initiated-logout":
            target = logout_confirmation_origin(response)  # DOT's view, so it cannot set this itself
        else:
            target = authorization_request_origin(get_next_redirect_url(request))
        if target:
            extend_policy(response, {"form-action": [target]})
        return response
