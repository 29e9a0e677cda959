"""Query parameters of the activity list: a date range, upcoming activities by default."""

import datetime

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field

from apps.activities.models import Activity

DATE_OR_DATETIME_SCHEMA = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
}


class DateOrDateTimeField(forms.Field):
    """An ISO 8601 date (midnight in the association's time zone) or date-time (naive: local time)."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date (2026-05-01) or date-time."}

    def to_python(self, value: str | None) -> datetime.datetime | None:
        if value in self.empty_values:
            return None
        text = str(value).strip()
        try:
            moment = parse_datetime(text)
            if moment is None:
                day = parse_date(text)
                if day is None:
                    raise ValueError(text)
                moment = datetime.datetime.combine(day, datetime.time.min)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            # The database compares in UTC: a moment that cannot be expressed there is not a date.
            return moment.astimezone(datetime.UTC)
        except (ValueError, OverflowError) as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error


@extend_schema_field(DATE_OR_DATETIME_SCHEMA)
class DateOrDateTimeFilter(django_filters.Filter):
    field_class = DateOrDateTimeField


class ActivityFilter(django_filters.FilterSet):
    starts_after = DateOrDateTimeFilter(
        field_name="starts_at",
        lookup_expr="gte",
        label="Activities starting at or after this date or moment (default: now, so upcoming only).",
    )
    starts_before = DateOrDateTimeFilter(
        field_name="starts_at",
        lookup_expr="lt",
        label="Activities starting before this date or moment (a date means its midnight: exclusive).",
    )

    class Meta:
        model = Activity
        fields = ("starts_after", "starts_before")

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        if self.form.cleaned_data.get("starts_after") is None:
            queryset = queryset.filter(starts_at__gte=timezone.now())
        return super().filter_queryset(queryset)
