"""The OpenAPI description is valid, complete, and says which scope each operation needs."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from apps.api.permissions import required_scope
from apps.oauth.scopes import SCOPES

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def spec(django_db_blocker):
    with django_db_blocker.unblock():
        response = Client().get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def api_views():
    """(path as OpenAPI writes it, view class) for every route under /api/v1."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                view = getattr(pattern.callback, "cls", None)
                path = "/" + route
                for converter in ("int:", "uuid:", "str:", "slug:"):
                    path = path.replace("<" + converter, "{")
                found.append((path.replace(">", "}").replace("<", "{"), view))

    walk(get_resolver().url_patterns)
    return found


def test_schema_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_api_route_is_documented(spec):
    routes = api_views()

    assert routes
    assert {path for path, _ in routes} == set(spec["paths"])


def test_every_operation_names_the_scope_its_view_requires(spec):
    for path, view in api_views():
        for method, operation in spec["paths"][path].items():
            scope = required_scope(view, method.upper())
            assert scope in SCOPES, (path, method)
            assert operation["security"] == [{"oauth2": [scope]}], (path, method)


def test_security_scheme_is_latchs_oauth2(spec):
    scheme = spec["components"]["securitySchemes"]["oauth2"]

    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["authorizationCode"]["authorizationUrl"] == "/oauth/authorize"
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert set(scheme["flows"]["authorizationCode"]["scopes"]) == set(SCOPES)


def test_docs_page_is_served_from_installed_packages_without_a_cdn():
    response = Client().get("/api/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html


def test_a_method_an_endpoint_does_not_have_is_405_not_a_scope_error(api_as_app):
    response = api_as_app("member-read").post("/members", {})

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
