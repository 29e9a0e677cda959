"""Latch settings: one module, every deploy-specific value from the environment.

`FileAwareEnv` lets any variable be given as `NAME_FILE` (a mounted secret), which wins over `NAME`.
No secret has a committed default: outside development `DJANGO_SECRET_KEY`, the signing keys
(`OIDC_RSA_PRIVATE_KEY` or `LATCH_SIGNING_KEYS_DIR`, see apps/oauth/keys.py) and the vault's keys
(`LATCH_VAULT_KEYS`, `LATCH_VAULT_CURRENT_KEY`, see apps/upstream/crypto.py) must be set. `make run`
and the test suite set `LATCH_DEV_KEYS=1`, which generates throw-away keys into `var/` (git-ignored)
when none are given.

`make run` writes those development settings into `.env` (git-ignored, scripts/dev-env), which this
module reads when it is there, so that every `manage.py` command in the checkout finds them; the
process's own environment wins over it. It is refused outside DEBUG: production has no `.env`.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from apps.accounts.ip import trusted_proxies_from_env
from apps.oauth.keys import signing_keys_from_env
from apps.upstream.crypto import vault_keys_from_env
from config.devkeys import dev_rsa_private_key, dev_secret_key, dev_vault_keys

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.FileAwareEnv()

# Another file, or "" for none: the test suite, `make lint`, `make check-deploy` and `make bench` set
# LATCH_DOTENV= so that what a developer's checkout holds never changes what they measure.
DOTENV = env.str("LATCH_DOTENV", default=str(BASE_DIR / ".env"))
DOTENV_READ = bool(DOTENV) and Path(DOTENV).is_file()
if DOTENV_READ:
    environ.Env.read_env(DOTENV)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
if DOTENV_READ and not DEBUG:
    raise ImproperlyConfigured(
        f"{DOTENV} holds development settings (`make run` writes it) but DJANGO_DEBUG is off. "
        "Outside development every setting comes from the environment: delete the file, or set "
        "LATCH_DOTENV= (empty) to ignore it."
    )
DEV_KEYS = env.bool("LATCH_DEV_KEYS", default=False)


def _required_secret(name: str, dev_default) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEV_KEYS:
        return dev_default(VAR_DIR)
    raise ImproperlyConfigured(
        f"{name} (or {name}_FILE) must be set. For a local try-out use `make run`, "
        "which sets LATCH_DEV_KEYS=1 to generate throw-away keys into var/."
    )


SECRET_KEY = _required_secret("DJANGO_SECRET_KEY", dev_secret_key)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.core",
    # Latch's apps come before oauth2_provider: the swapped token models must exist before DOT's
    # own migrations run (models.E022 otherwise).
    "apps.accounts",
    "apps.oauth",
    "apps.audit",
    "oauth2_provider",
    "apps.api",
    "apps.members",
    "apps.activities",
    "apps.groups",
    "apps.checkout",
    "apps.demo",
    "apps.upstream",
    "apps.registration",
    "apps.backchannel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.mfa.StaffSecondFactorMiddleware",  # after auth and messages: the admin needs 2FA
    # "Last seen" on the member's list of signed-in browsers (apps/accounts/services.py).
    "apps.accounts.middleware.SessionActivityMiddleware",
    # After ContentSecurityPolicyMiddleware, so it adjusts a page's policy before that one sends it.
    "config.csp.PagePolicyMiddleware",
    # RFC 9449 §8, §9: the current DPoP nonce on every answer to a request with a proof.
    "apps.dpop.nonces.nonce_middleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded SQLite database is only the zero-setup default for trying Latch out;
# production and CI set DATABASE_URL=postgres://...
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'latch.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Shared by every instance in production (CACHE_URL=redis://...): rate limits and throttling live here.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "apps.core.cache.RedisCache"  # one client per pool, not per call
# Applications' rows kept per process between changes (apps/oauth/client_cache.py): any change
# through Latch reaches every instance at once; this bounds one whose notice was lost. 0: off.
LATCH_CLIENT_CACHE_SECONDS = env.int("LATCH_CLIENT_CACHE_SECONDS", default=60)
# Failed client authentications at /oauth/token, /oauth/introspect and /oauth/revoke before 429
# (apps/oauth/throttling.py), counted per window in the cache.
LATCH_CLIENT_AUTH_FAILURES_PER_IP = env.int("LATCH_CLIENT_AUTH_FAILURES_PER_IP", default=20)
LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT = env.int("LATCH_CLIENT_AUTH_FAILURES_PER_CLIENT", default=10)
LATCH_CLIENT_AUTH_FAILURE_WINDOW = env.int("LATCH_CLIENT_AUTH_FAILURE_WINDOW", default=300)
# Device authorization (RFC 8628, apps/oauth/device.py): how long a device's codes live, and how
# many wrong user codes a browser session and an IP address may type per window before waiting.
LATCH_DEVICE_CODE_SECONDS = env.int("LATCH_DEVICE_CODE_SECONDS", default=600)
LATCH_USER_CODE_FAILURES_PER_SESSION = env.int("LATCH_USER_CODE_FAILURES_PER_SESSION", default=5)
LATCH_USER_CODE_FAILURES_PER_IP = env.int("LATCH_USER_CODE_FAILURES_PER_IP", default=20)
LATCH_USER_CODE_FAILURE_WINDOW = env.int("LATCH_USER_CODE_FAILURE_WINDOW", default=300)
# Dynamic client registration (RFC 7591/7592, apps/registration): off unless turned on; even then
# only with an initial access token an administrator issued. Wrong bearer tokens at /oauth/register
# per IP address and window before 429.
LATCH_CLIENT_REGISTRATION = env.bool("LATCH_CLIENT_REGISTRATION", default=False)
LATCH_REGISTRATION_TOKEN_FAILURES_PER_IP = env.int("LATCH_REGISTRATION_TOKEN_FAILURES_PER_IP", default=10)
LATCH_REGISTRATION_TOKEN_FAILURE_WINDOW = env.int("LATCH_REGISTRATION_TOKEN_FAILURE_WINDOW", default=300)

AUTH_USER_MODEL = "accounts.User"
# Sessions in the database under a digest of their key (apps/accounts/sessions.py).
SESSION_ENGINE = "apps.accounts.sessions"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    # Never used for passwords (Argon2 comes first); DOT's CLIENT_SECRET_HASHER names it below.
    "apps.oauth.hashers.ClientSecretHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/accounts/"

LANGUAGE_CODE = "en"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Mail: console in development, SMTP from EMAIL_URL otherwise ------------------------------
# EMAIL_URL is smtp://user:password@host:port (smtp+tls:// for STARTTLS, smtps:// for TLS).
MAILERS: dict[str, dict[str, Any]]
if DEBUG and not env.str("EMAIL_URL", default=""):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    _email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email["EMAIL_HOST"],
                "port": _email["EMAIL_PORT"],
                "username": _email.get("EMAIL_HOST_USER") or None,
                "password": _email.get("EMAIL_HOST_PASSWORD") or None,
                "use_tls": bool(_email.get("EMAIL_USE_TLS")),
                "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
                "timeout": 10,
            },
        }
    }
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="Latch <latch@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Transport security: on whenever Latch is not in DEBUG ------------------------------------
# Behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER=1 so request.is_secure() works.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The proxies in front of Latch (comma-separated CIDRs): X-Forwarded-For counts only when the socket's
# peer is one of them, and the client's IP (rate limits, throttling, sessions, the audit log) is the
# first address from the right that is not one. Empty: the socket's address (apps/accounts/ip.py).
LATCH_TRUSTED_PROXIES = trusted_proxies_from_env(
    env.str("LATCH_TRUSTED_PROXIES", default=""),
    legacy_proxy_count=env.str("LATCH_TRUSTED_PROXY_COUNT", default=None),
)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env.int("LATCH_SESSION_SECONDS", default=int(timedelta(days=14).total_seconds()))

# --- Content-Security-Policy and Cross-Origin-Opener-Policy: every HTML page -----------------
# Latch's pages, allauth's, the admin and /api/docs load only their own scripts and stylesheets
# and have no inline script, inline style or style= attribute (tests/config/test_headers.py checks
# templates/), so no page needs 'unsafe-inline' or a nonce. config/csp.py holds the per-page
# exceptions: form-action on pages whose form ends on an app's origin, https: logos on consent,
# and no policy on non-HTML responses.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],  # data: for swagger-ui.css's icons
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],  # with X_FRAME_OPTIONS for browsers that predate CSP 2
}
# Django's default, stated: another site's window keeps no handle on a Latch page. It also cuts
# window.opener for a sign-in popup once it passes through Latch, so apps sign in by redirect.
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- django-allauth: email sign-in, no public sign-up -----------------------------------------
ACCOUNT_ADAPTER = "apps.accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "apps.accounts.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
# The sign-in page shows its form to a signed-in member too: an app's prompt=login or max_age, and a
# second factor for a session without a password, send them there without ending their session (a
# GET must never sign anyone out); the new sign-in replaces it (AccountAdapter.pre_login).
ACCOUNT_AUTHENTICATED_LOGIN_REDIRECTS = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# Latch would otherwise mail any address typed into the reset form; the page answers the same either way.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Latch] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Failed sign-ins: 10 a minute per IP, 5 per 5 minutes per account; the block lifts by itself.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LATCH_LOGIN_FAILED_RATE_LIMIT", default="10/m/ip,5/5m/key"),
    "login": "30/m/ip",
    "reset_password": "20/m/ip,5/m/key",
}

# --- Two-factor sign-in (allauth.mfa): authenticator apps, passkeys, recovery codes ----------
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
# A passkey alone signs a member in (it is possession and a PIN or biometric in one).
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = env.str("LATCH_TOTP_ISSUER", default="Latch")
# Browsers allow WebAuthn on http://localhost only; `make run` is DEBUG.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# Staff reach the admin only after signing in with a second factor (apps/accounts/mfa.py). Turning
# this off leaves the admin to a password alone; its own login page stays closed either way.
LATCH_REQUIRE_MFA_FOR_STAFF = env.bool("LATCH_REQUIRE_MFA_FOR_STAFF", default=True)

# --- OAuth 2.1 / OpenID Connect (django-oauth-toolkit) ----------------------------------------
# Swappable model names live outside the OAUTH2_PROVIDER dict (DOT reads them at import time).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth.RefreshToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth.IDToken"
OAUTH2_PROVIDER_DEVICE_GRANT_MODEL = "oauth.DeviceGrant"

# id_token signing keys: LATCH_SIGNING_KEYS_DIR (rotated with `manage.py signing_keys`), or
# OIDC_RSA_PRIVATE_KEY plus OIDC_RSA_PRIVATE_KEYS_INACTIVE; checked and loaded by apps/oauth/keys.py.
OIDC_SIGNING_KEYS = signing_keys_from_env(
    env, dev_key=(lambda: dev_rsa_private_key(VAR_DIR)) if DEV_KEYS else None
)


def _issuer(value: str) -> str:
    """LATCH_ISSUER, checked: without it DOT takes the issuer from each request's Host header.

    The issuer is the `iss` of every id_token and the base of discovery (OIDC Core §2, RFC 8414 §2):
    an absolute https URL with no query or fragment, compared by relying parties character for
    character, so also no credentials and no trailing slash. Plain http only for localhost and
    127.0.0.1 (`make bench`, a test upstream). Development (DJANGO_DEBUG) may leave it unset.
    """
    if not value:
        if DEBUG:
            return ""
        raise ImproperlyConfigured(
            "LATCH_ISSUER must be set outside development: the URL apps know Latch by, e.g. "
            "https://latch.example.org. Without it the request's Host header would decide the issuer."
        )
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        problem = "has a port that is not a number"
    else:
        local = parts.hostname in ("localhost", "127.0.0.1")
        checks = (  # the first that fails is the one reported
            (
                parts.scheme == "https" or (parts.scheme == "http" and local),
                "must be https (plain http only for localhost or 127.0.0.1)",
            ),
            (bool(parts.hostname), "has no host"),
            (parts.username is None and parts.password is None, "must not hold a user name or password"),
            ("?" not in value and "#" not in value, "must have no query or fragment"),
            (not value.endswith("/"), "must not end with a slash"),
        )
        problem = next((message for holds, message in checks if not holds), "")
    if problem:
        raise ImproperlyConfigured(f"LATCH_ISSUER {value!r} {problem}, e.g. https://latch.example.org.")
    return value


LATCH_ISSUER = _issuer(env.str("LATCH_ISSUER", default=""))

# RFC 9126 §5: every app must push its authorization requests to /oauth/par (apps/oauth/par.py);
# off by default, when an app can be required to one by one (Application's flag).
LATCH_REQUIRE_PAR = env.bool("LATCH_REQUIRE_PAR", default=False)

# Plain http redirect URIs are for development and native apps' loopback callbacks only (RFC 8252).
ALLOW_HTTP_REDIRECT_URIS = env.bool("LATCH_ALLOW_HTTP_REDIRECT_URIS", default=DEBUG)

OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "apps.oauth.validators.LatchOAuth2Validator",
    "OIDC_SERVER_CLASS": "apps.oauth.server.shared_server",
    "SCOPES_BACKEND_CLASS": "apps.oauth.scopes.RegistryScopes",
    # DOT checks SCOPES is non-empty; the registry (apps/oauth/scopes.py) is the real source.
    "SCOPES": {"openid": "OpenID Connect"},
    "APPLICATION_ADMIN_CLASS": "apps.oauth.admin_classes.ApplicationAdmin",
    "ACCESS_TOKEN_ADMIN_CLASS": "apps.oauth.admin_classes.AccessTokenAdmin",
    "REFRESH_TOKEN_ADMIN_CLASS": "apps.oauth.admin_classes.RefreshTokenAdmin",
    "GRANT_ADMIN_CLASS": "apps.oauth.admin_classes.GrantAdmin",
    "ID_TOKEN_ADMIN_CLASS": "apps.oauth.admin_classes.IDTokenAdmin",
    # Client secrets are 384 random bits (apps/oauth/services.py): a fast salted digest is enough,
    # and a PBKDF2 check (~390 ms of CPU) on every token request is not (apps/oauth/hashers.py).
    "CLIENT_SECRET_HASHER": "latch_sha256",
    # Opaque random tokens, or RFC 9068 JWTs for an app whose access_token_format is "jwt".
    "ACCESS_TOKEN_GENERATOR": "apps.oauth.tokens.access_token",
    "REFRESH_TOKEN_GENERATOR": "apps.oauth.tokens.random_token",
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": env.int("LATCH_CODE_SECONDS", default=60),
    # The default; an application's access_token_lifetime overrides it (apps/oauth/tokens.py).
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("LATCH_ACCESS_TOKEN_SECONDS", default=3600),
    "ID_TOKEN_EXPIRE_SECONDS": env.int("LATCH_ID_TOKEN_SECONDS", default=3600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int(
        "LATCH_REFRESH_TOKEN_SECONDS", default=int(timedelta(days=30).total_seconds())
    ),
    "ROTATE_REFRESH_TOKEN": True,
    # RFC 6749 §10.4 / RFC 9700 §4.14.2: a replayed refresh token revokes its whole family.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # PKCE (S256) is required from every client, except a confidential one an administrator opted
    # out; the validator decides per client (is_pkce_required).
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if ALLOW_HTTP_REDIRECT_URIS else ["https"],
    "ALLOW_URI_WILDCARDS": False,
    # DOT's "auto" skips the page when a live token covers the scopes; Latch remembers consent
    # instead (apps/oauth/consent.py, AuthorizeView), so DOT's own check stays off.
    "REQUEST_APPROVAL_PROMPT": "force",
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": OIDC_SIGNING_KEYS.active.pem,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": OIDC_SIGNING_KEYS.inactive_pems,
    # Required outside development (_issuer above), so the issuer never depends on a Host header.
    "OIDC_ISS_ENDPOINT": LATCH_ISSUER,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
    # RFC 8628 §3.2: seconds a device waits between polls (a poll sooner raises it by 5, §3.5).
    "DEVICE_FLOW_INTERVAL": env.int("LATCH_DEVICE_POLL_INTERVAL_SECONDS", default=5),
    # DOT's default looks the device code up in plaintext; apps/oauth/device_token.py checks the
    # code at the token endpoint instead (registered by apps/oauth/server.py).
    "OAUTH_PRE_TOKEN_VALIDATION": [],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    # RFC 9700 (OAuth 2.0 Security BCP): enforce every recommendation DOT can gate.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": not ALLOW_HTTP_REDIRECT_URIS,
}

# --- DPoP (RFC 9449, apps/dpop) ----------------------------------------------------------------
# How far a proof's `iat` may be from now, either side; the jti replay cache keeps twice as long.
LATCH_DPOP_PROOF_SECONDS = env.int("LATCH_DPOP_PROOF_SECONDS", default=60)
# How long one server nonce is current; the previous window's is still accepted.
LATCH_DPOP_NONCE_SECONDS = env.int("LATCH_DPOP_NONCE_SECONDS", default=300)
# §8, §9: proofs must carry the server's nonce, so that none can be made in advance.
LATCH_DPOP_REQUIRE_NONCE = env.bool("LATCH_DPOP_REQUIRE_NONCE", default=True)

# --- private_key_jwt client authentication (RFC 7523, apps/oauth/client_assertion.py) ----------
# How far in the future a client assertion's `exp` may be: a short-lived assertion limits what a
# stolen one is worth, and bounds how long its `jti` must be remembered.
LATCH_CLIENT_ASSERTION_MAX_SECONDS = env.int("LATCH_CLIENT_ASSERTION_MAX_SECONDS", default=300)
# Fetching a client's jwks_uri (apps/oauth/client_keys.py): the timeout, the most bytes read, how
# long a fetched set is used, and how long after one fetch an unknown `kid` may cause another.
LATCH_CLIENT_JWKS_FETCH_TIMEOUT = env.float("LATCH_CLIENT_JWKS_FETCH_TIMEOUT", default=3.0)
LATCH_CLIENT_JWKS_MAX_BYTES = env.int("LATCH_CLIENT_JWKS_MAX_BYTES", default=65536)
LATCH_CLIENT_JWKS_CACHE_SECONDS = env.int("LATCH_CLIENT_JWKS_CACHE_SECONDS", default=600)
LATCH_CLIENT_JWKS_REFETCH_SECONDS = env.int("LATCH_CLIENT_JWKS_REFETCH_SECONDS", default=60)

# --- Upstream providers and the token vault (apps/upstream) -----------------------------------
# Upstream client secrets and members' upstream tokens are stored AES-256-GCM encrypted
# (apps/upstream/crypto.py). LATCH_VAULT_KEYS is `kid:base64-of-32-bytes,...` (or
# LATCH_VAULT_KEYS_FILE); LATCH_VAULT_CURRENT_KEY names the kid that encrypts. Other kids only
# decrypt, until `manage.py vault_rekey` has moved everything off them. Missing, malformed or
# inconsistent keys stop Latch at start-up.
LATCH_VAULT_KEYS = vault_keys_from_env(env, dev_keys=(lambda: dev_vault_keys(VAR_DIR)) if DEV_KEYS else None)
# Upstream endpoints must be https; plain http only in development (a test upstream on 127.0.0.1).
LATCH_UPSTREAM_ALLOW_HTTP = env.bool("LATCH_UPSTREAM_ALLOW_HTTP", default=DEBUG)
# Seconds Latch waits for an upstream provider (discovery, token, revocation) before giving up.
LATCH_UPSTREAM_TIMEOUT = env.float("LATCH_UPSTREAM_TIMEOUT_SECONDS", default=10.0)

# OIDC Back-Channel Logout (apps/backchannel): `manage.py deliver_logout_tokens` POSTs the logout
# tokens, waiting this long for an app; a failure is retried after RETRY_SECONDS, doubled each time,
# until ATTEMPTS attempts have failed. Delivered and failed rows are deleted after KEEP_DAYS.
LATCH_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS = env.float("LATCH_BACKCHANNEL_LOGOUT_TIMEOUT_SECONDS", default=5.0)
LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS = env.int("LATCH_BACKCHANNEL_LOGOUT_ATTEMPTS", default=5)
LATCH_BACKCHANNEL_LOGOUT_RETRY_SECONDS = env.int("LATCH_BACKCHANNEL_LOGOUT_RETRY_SECONDS", default=60)
LATCH_BACKCHANNEL_LOGOUT_KEEP_DAYS = env.int("LATCH_BACKCHANNEL_LOGOUT_KEEP_DAYS", default=14)

# --- Resource API (apps/api holds what every API app shares) ----------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api.authentication.AccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apps.api.permissions.ScopedTokenPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.api.negotiation.JsonFirstNegotiation",
    "DEFAULT_PAGINATION_CLASS": "apps.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# How far below zero a member's checkout balance may go, in cents (0: no credit).
CHECKOUT_OVERDRAFT_LIMIT_CENTS = env.int("LATCH_CHECKOUT_OVERDRAFT_CENTS", default=0)

SPECTACULAR_SETTINGS = {
    "TITLE": "Latch API",
    "DESCRIPTION": "The association's members, activities, groups and checkout. Every operation names "
    "the OAuth scope it needs; tokens come from Latch's /oauth/token.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: it would send the schema's URL there, and img-src blocks it.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "OAUTH2_FLOWS": ["authorizationCode", "clientCredentials"],
    "OAUTH2_AUTHORIZATION_URL": "/oauth/authorize",
    "OAUTH2_TOKEN_URL": "/oauth/token",
    "OAUTH2_REFRESH_URL": "/oauth/token",
    # Choice sets that share a field name get a name each, instead of a hashed one and a warning.
    "ENUM_NAME_OVERRIDES": {
        "MemberStatus": "apps.members.models.Member.Status",
        "ParticipantStatus": "apps.activities.models.Participant.Status",
        "GroupKind": "apps.groups.models.Group.Kind",
        "TransactionKind": "apps.checkout.models.Transaction.Kind",
    },
}

# --- Logging: named events on stderr; a token or secret is never logged -----------------------
# "text", or "json": one JSON object per line for a log collector (apps/audit/logging.py).
LOG_FORMAT = env.str("LATCH_LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Client-supplied values in a message are escaped, so none forges a line (apps/audit/logging.py).
        "plain": {
            "()": "apps.audit.logging.TextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "apps.audit.logging.JSONFormatter"},
    },
    # Django's request records carry the request, whose repr includes the query string.
    "filters": {"request_without_query_string": {"()": "apps.core.logging.RequestWithoutQueryString"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["request_without_query_string"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LATCH_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "oauth2_provider": {"level": "WARNING"},
    },
}
