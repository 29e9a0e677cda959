"""Settings of the example web app (the `demo-web` client of fixtures/demo.json), from the environment.

A separate Django project from Latch: its own SECRET_KEY, its own session cookie, and no database.
The app has no users table; the signed-in member lives in a server-side (file) session, so the
tokens and the PKCE verifier never travel in a cookie. `make run` starts it on 127.0.0.1:9000
with the client secret `load_demo` wrote into var/demo-credentials.json.
"""

import secrets
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.devkeys import read_or_create

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.FileAwareEnv()  # as Latch's settings: X_FILE (a mounted secret) wins over X

DEBUG = env.bool("DEMO_WEB_DEBUG", default=False)

# Latch's issuer: discovery is at LATCH_URL/.well-known/openid-configuration, the API below it.
LATCH_URL = env.str("LATCH_URL", default="http://localhost:8000").rstrip("/")
# This app's own base URL: where Latch sends the member back to (both registered in fixtures/demo.json).
DEMO_WEB_URL = env.str("DEMO_WEB_URL", default="http://127.0.0.1:9000").rstrip("/")
LATCH_REDIRECT_URI = f"{DEMO_WEB_URL}/callback"
LATCH_POST_LOGOUT_REDIRECT_URI = f"{DEMO_WEB_URL}/"
LATCH_CLIENT_ID = env.str("DEMO_WEB_CLIENT_ID", default="demo-web")
LATCH_CLIENT_SECRET = env.str("DEMO_WEB_CLIENT_SECRET", default="")
if not LATCH_CLIENT_SECRET:
    raise ImproperlyConfigured(
        "DEMO_WEB_CLIENT_SECRET (or DEMO_WEB_CLIENT_SECRET_FILE) must be set: the demo-web client's "
        "secret, which `make run` generates into var/demo-credentials.json (client_secrets.demo-web) "
        "and passes to this app. Start both with `make run`, or see examples/webapp/README.md."
    )
# Seconds for each call to Latch: (connecting, reading). A hung Latch must not hang this app.
LATCH_TIMEOUT = (
    env.float("DEMO_WEB_CONNECT_TIMEOUT", default=3.05),
    env.float("DEMO_WEB_TIMEOUT", default=10),
)

SECRET_KEY = env.str("DEMO_WEB_SECRET_KEY", default="") or read_or_create(
    VAR_DIR / "demo-web-secret-key", lambda: secrets.token_urlsafe(50)
)
_own = urlsplit(DEMO_WEB_URL)
if _own.scheme not in ("http", "https") or not _own.hostname:
    raise ImproperlyConfigured(
        f"DEMO_WEB_URL {DEMO_WEB_URL!r} must be an http(s) URL, e.g. http://127.0.0.1:9000"
    )
ALLOWED_HOSTS = [_own.hostname]

INSTALLED_APPS = ["django.contrib.messages", "examples.webapp"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "examples.webapp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
DATABASES: dict = {}  # none: the session is the only state, and it is kept in files

# Server-side sessions: the cookie holds only the session key.
SESSION_ENGINE = "django.contrib.sessions.backends.file"
SESSION_FILE_PATH = str(Path(env.str("DEMO_WEB_SESSION_DIR", default=str(VAR_DIR / "demo-web-sessions"))))
Path(SESSION_FILE_PATH).mkdir(mode=0o700, parents=True, exist_ok=True)
SESSION_COOKIE_NAME = "demo_web_session"  # not Latch's `sessionid`: both run on the same machine
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"  # Lax, not Strict: Latch's redirect to /callback is a cross-site navigation
SESSION_COOKIE_SECURE = _own.scheme == "https"
SESSION_COOKIE_AGE = 8 * 3600  # a working day; Latch's refresh token outlives it
# The CSRF secret in the session too: no second cookie, and none to mix up with Latch's `csrftoken`
# (cookies ignore the port: on one machine localhost:8000 and localhost:9000 share them).
CSRF_USE_SESSIONS = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "examples.webapp.views.csrf_failure"  # a stale page's form: a message, not a 403
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# No JavaScript at all; the one inline <style> carries the request's nonce. form-action names
# Latch: Chrome applies it to the redirects after a form is sent, and "Sign in" and "Sign out"
# are forms here that end on Latch's authorization and sign-out pages.
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "style-src": [CSP.NONCE],
    "img-src": [CSP.SELF],
    "form-action": [CSP.SELF, "{0.scheme}://{0.netloc}".format(urlsplit(LATCH_URL))],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # never the query of /callback to anyone
X_FRAME_OPTIONS = "DENY"

USE_TZ = True
TIME_ZONE = env.str("DEMO_WEB_TIME_ZONE", default="Europe/Amsterdam")
LANGUAGE_CODE = "en"
USE_I18N = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DEMO_WEB_LOG_LEVEL", default="INFO")},
}
