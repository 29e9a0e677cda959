"""The API's content negotiation answers as DRF's own does (apps/api/negotiation.py)."""

from unittest import mock

import pytest
from django.http import Http404
from django.test import Client
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.api.negotiation import JsonFirstNegotiation

ACCEPT_HEADERS = [
    None,
    "*/*",
    "application/json",
    "application/*",
    "application/json; indent=4",
    "application/json;q=0.5, */*;q=0.1",
    "text/html",
    "text/html, application/json",
    "*/*; q=0",
    "application/JSON",
    " application/json",
    "",
    "garbage",
]
QUERIES = [{}, {"format": "json"}, {"format": "api"}, {"format": ""}]


def request_with(accept: str | None, query: dict[str, str]) -> Request:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get("/api/v1/members/me", query, **headers))


def answer(negotiation, request: Request, renderers, suffix=None):
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except (NotAcceptable, Http404) as refused:  # a refusal is an answer too (404: an unknown ?format=)
        return type(refused), str(refused)
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("renderer_classes", [[JSONRenderer], [JSONRenderer, BrowsableAPIRenderer]])
@pytest.mark.parametrize("suffix", [None, "json"])
def test_the_api_negotiates_as_drf_does(accept, query, renderer_classes, suffix):
    renderers = [renderer() for renderer in renderer_classes]

    ours = answer(JsonFirstNegotiation(), request_with(accept, query), renderers, suffix)
    drfs = answer(DefaultContentNegotiation(), request_with(accept, query), renderers, suffix)

    assert ours == drfs


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_what_nearly_every_client_sends_skips_drfs_parsing(accept):
    with mock.patch.object(DefaultContentNegotiation, "select_renderer") as drfs:
        renderer, media_type = JsonFirstNegotiation().select_renderer(
            request_with(accept, {}), [JSONRenderer()]
        )

    drfs.assert_not_called()
    assert (type(renderer), media_type) == (JSONRenderer, "application/json")


@pytest.mark.django_db
def test_an_api_call_asking_for_html_is_406():
    response = Client().get("/api/v1/members/me", HTTP_ACCEPT="text/html")

    assert response.status_code == 406
