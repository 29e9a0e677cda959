"""Encrypted columns: `EncryptedTextField` holds a vault blob; `seal()` / `unseal()` go to and from text.

Why the field does not encrypt by itself: the associated data binds each value to its row (model,
primary key, and the fields named in `bound_to`), and Django gives a field the row only in
`pre_save()`, not in `from_db_value()` or `get_prep_value()`. A transparent field would have to
decrypt without knowing its row, which is exactly what the binding is there to prevent. So the
attribute always holds the ciphertext, and code says when it wants the secret:

    seal(provider, "client_secret", secret)     # before save()
    secret = unseal(provider, "client_secret")  # VaultError if the value was moved or changed

The row must know its primary key before it is saved (a slug, or a UUID made in Python; the
system check latch.upstream.E001 refuses an auto-incremented one), so the binding is final from
the first write, and the fields in `bound_to` must never change afterwards.

The field refuses to write anything that is not a blob (or ""): a plaintext assigned by mistake
raises instead of reaching the database.
"""

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import models

from apps.upstream import crypto


class EncryptedTextField(models.TextField):
    """A vault blob (`v1:<kid>:<nonce>:<ciphertext>`), or "" for no value; never editable in a form."""

    def __init__(self, *args: Any, bound_to: Sequence[str] = (), **kwargs: Any) -> None:
        self.bound_to = tuple(bound_to)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("editable", None)
        if self.bound_to:
            kwargs["bound_to"] = list(self.bound_to)
        return name, path, args, kwargs

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value not in (None, "") and not crypto.is_blob(value):
            raise ValueError(
                f"{self.model.__name__}.{self.name} holds something that is not encrypted; "
                "assign it with apps.upstream.fields.seal()."
            )
        return value


def _field(instance: models.Model, name: str) -> EncryptedTextField:
    field = instance._meta.get_field(name)
    if not isinstance(field, EncryptedTextField):
        raise TypeError(f"{instance._meta.label}.{name} is not an EncryptedTextField.")
    return field


def context(instance: models.Model, name: str) -> list[str]:
    """Where a value lives: model, primary key, field, and the values of the field's `bound_to`."""
    field = _field(instance, name)
    if instance.pk in (None, ""):
        raise ValueError(f"{instance._meta.label} needs its primary key before a secret is sealed into it.")
    return [
        instance._meta.label_lower,
        str(instance.pk),
        field.attname,
        *(f"{attname}={getattr(instance, attname)}" for attname in field.bound_to),
    ]


def vault_keys() -> crypto.VaultKeys:
    return settings.LATCH_VAULT_KEYS


def seal(instance: models.Model, name: str, plaintext: str) -> None:
    """Encrypt `plaintext` under the current key into `instance.<name>` (not saved)."""
    setattr(instance, name, crypto.encrypt(plaintext, context=context(instance, name), keys=vault_keys()))


def unseal(instance: models.Model, name: str) -> str:
    """The plaintext of `instance.<name>`; crypto.VaultError if it does not belong here or its key is gone."""
    return crypto.decrypt(getattr(instance, name), context=context(instance, name), keys=vault_keys())


def resealed(instance: models.Model, name: str) -> str:
    """`instance.<name>` decrypted and encrypted again under the current key (the attribute is unchanged)."""
    return crypto.encrypt(unseal(instance, name), context=context(instance, name), keys=vault_keys())


def needs_reseal(instance: models.Model, name: str) -> bool:
    """Whether the value is encrypted under a key other than the current one (or is no vault value at all)."""
    value = getattr(instance, name)
    return value != "" and not value.startswith(crypto.kid_prefix(vault_keys().current))


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [field for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)]
