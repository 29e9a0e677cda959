from django.core.paginator import Paginator
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from apps.core.numbers import parse_non_negative_int


class Pagination(PageNumberPagination):
    """DRF's page numbers, read strictly (apps/core/numbers.py): a bad `page` or `page_size` is
    invalid_request. DRF would read "٣" as 3, and fall back to the default size on a bad page_size."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def _number(self, request: Request, name: str) -> int | None:
        text = request.query_params.get(name)
        if text is None:
            return None
        try:
            return parse_non_negative_int(text)
        except ValueError:
            raise ValidationError({name: ["Give a whole number in plain digits."]}) from None

    def get_page_size(self, request: Request) -> int:
        size = self._number(request, self.page_size_query_param)
        if size is None:
            return self.page_size
        if size == 0:
            raise ValidationError({self.page_size_query_param: ["The page size is at least 1."]})
        return min(size, self.max_page_size)

    def get_page_number(self, request: Request, paginator: Paginator) -> int | str:
        if request.query_params.get(self.page_query_param) in self.last_page_strings:
            return paginator.num_pages
        number = self._number(request, self.page_query_param)
        return 1 if number is None else number  # 0 and pages past the end: DRF's 404
