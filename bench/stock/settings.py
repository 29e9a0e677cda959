"""Settings of the stock DOT project (bench/stock/__init__.py says what it is for).

Only what a project must say (secret key, hosts, database) comes from the environment python -m
bench sets. Everything else is `startproject`'s or DOT's default, with two exceptions, both so that
the comparison is of the code and not of connection handling: the database connections persist and
are health-checked exactly as Latch's do in the run (DATABASE_CONN_MAX_AGE=600, CONN_HEALTH_CHECKS;
Django's default of a new connection per request would cost a PostgreSQL backend start each time).
The `introspection` scope is added to DOT's default scopes as DOT's docs set up a resource server
(docs/resource_server.rst); the benchmark's resource server authenticates with HTTP Basic instead,
which DOT's IntrospectTokenView accepts first.

Deliberately absent: PASSWORD_HASHERS (Django's default, PBKDF2 first, is what DOT's
CLIENT_SECRET_HASHER "default" uses), OAUTH2_PROVIDER_*_MODEL (DOT's own models), OIDC.
"""

import environ

env = environ.Env()

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
    "rest_framework",
]

# startproject's middleware, unchanged.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench.stock.urls"
WSGI_APPLICATION = "bench.stock.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True

# DOT's default scopes, and the one its docs add for introspection (docs/resource_server.rst).
OAUTH2_PROVIDER = {
    "SCOPES": {"read": "Reading scope", "write": "Writing scope", "introspection": "Introspect token scope"},
}

# DOT's DRF tutorial (docs/rest-framework/getting_started.rst).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth2_provider.contrib.rest_framework.OAuth2Authentication"],
}
