import django_filters

from apps.checkout.models import Transaction


class TransactionFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label="Only transactions made at or after this moment (ISO 8601).",
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        label="Only transactions made before this moment (ISO 8601).",
    )

    class Meta:
        model = Transaction
        fields: list[str] = []
