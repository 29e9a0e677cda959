"""The API's content negotiation: DRF's, answered at once for what nearly every client sends.

The API renders JSON only, and nearly every request says so or says nothing: no Accept header,
`*/*`, or `application/json`. DRF parses and orders the Accept header for each request all the
same (5% of a `GET /members/me` in docs/performance.md's profile). For exactly those headers,
with one renderer and no format override, this returns what DRF's own negotiation returns for
them; anything else (other media types, parameters, quality values, `?format=`, several
renderers, a 406) is DRF's DefaultContentNegotiation, unchanged. Set as DRF's documented
DEFAULT_CONTENT_NEGOTIATION_CLASS; tests/api/test_negotiation.py compares the two.
"""

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        if (
            len(renderers) == 1
            and not format_suffix
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            (renderer,) = renderers
            accept = request.META.get("HTTP_ACCEPT")
            if accept is None or accept in ("*/*", renderer.media_type):
                return renderer, renderer.media_type
        selected: tuple[Any, str] = super().select_renderer(request, renderers, format_suffix)
        return selected
