from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

from apps.accounts import services


class SessionActivityMiddleware:
    """Keeps "last seen" on the member's list of signed-in browsers current.

    Only a signed-in session is touched, never the user row; it is written at most once per
    ACTIVITY_INTERVAL per browser.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.session_key and SESSION_KEY in session:
            services.note_activity(request)
        return response
