from django.apps import apps
from django.core import checks
from django.db.models.fields import AutoFieldMixin

from apps.upstream.fields import encrypted_fields


@checks.register(checks.Tags.models)
def check_encrypted_models_have_their_key_before_saving(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A vault value is bound to its row's primary key (apps/upstream/fields.py), which must exist first."""
    return [
        checks.Error(
            f"{model._meta.label} has encrypted fields but an auto-incremented primary key: its values "
            "cannot be bound to their row before the row is saved.",
            hint="Use a slug or a UUIDField(primary_key=True, default=uuid.uuid4).",
            obj=model,
            id="latch.upstream.E001",
        )
        for model in apps.get_models()
        if encrypted_fields(model) and isinstance(model._meta.pk, AutoFieldMixin)
    ]
