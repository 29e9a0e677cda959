"""The token endpoint's client_credentials path before the lean one (commit 8968557), kept as the
reference tests/oauth/test_client_credentials_differential.py compares it with.

The same oauthlib grant and LatchOAuth2Validator, as they were: every request in TokenView's
transaction, the client read from the database by every request (no client-cache scope is opened,
so apps/oauth/client_cache.py answers from the database), and the access token stored by its own
INSERT before its audit row is written by another. Only those three choices are undone here, each
where the lean path makes it; everything else is the code under test.
"""

from contextlib import contextmanager

from django.test import override_settings
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from apps.oauth.validators import LatchOAuth2Validator, request_state
from apps.oauth.views import TokenView


class ReferenceValidator(LatchOAuth2Validator):
    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        request_state(request).access_token_waits = False  # its own INSERT, at once
        return super()._create_access_token(expires, request, token, source_refresh_token)


@method_decorator(csrf_exempt, name="dispatch")
class ReferenceTokenView(TokenView):
    validator_class = ReferenceValidator
    UNLOCKED_GRANTS = frozenset()  # every grant in TokenView's transaction

    def dispatch(self, request, *args, **kwargs):
        return self._dispatch(request, *args, **kwargs)  # no client-cache scope


@contextmanager
def reference_path():
    with override_settings(ROOT_URLCONF="tests.oauth.reference_token"):
        yield


def _urlpatterns():
    from config.urls import urlpatterns

    # First match wins: the reference token endpoint at the real one's path.
    return [path("oauth/token", ReferenceTokenView.as_view()), *urlpatterns]


urlpatterns = _urlpatterns()
