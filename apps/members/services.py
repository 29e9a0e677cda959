"""Business rules for member records: importing the association's spreadsheet."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django import forms
from django.db import transaction
from django.urls import reverse

from apps.accounts.models import User
from apps.members.models import Member

logger = logging.getLogger(__name__)

IMPORT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "birth_date",
    "phone",
    "street",
    "postal_code",
    "city",
    "member_since",
    "status",
)
REQUIRED_COLUMNS = ("email", "first_name", "last_name")


class MemberImportForm(forms.ModelForm):
    """One CSV row, validated as the admin would validate it (dates are YYYY-MM-DD)."""

    class Meta:
        model = Member
        fields = IMPORT_COLUMNS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Left out of a row, they keep the model's default (today; active).
        self.fields["member_since"].required = False
        self.fields["status"].required = False

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    # (email, one-time link to set a password) for each login created
    password_links: list[tuple[str, str]] = field(default_factory=list)


class ImportFailed(Exception):
    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {reason}" for line, reason in problems))


def check_columns(columns: Iterable[str]) -> None:
    columns = list(columns)
    unknown = sorted(set(columns) - set(IMPORT_COLUMNS))
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    problems = []
    if missing:
        problems.append((1, f"missing column(s): {', '.join(missing)}"))
    if unknown:
        problems.append((1, f"unknown column(s): {', '.join(unknown)}; known: {', '.join(IMPORT_COLUMNS)}"))
    if problems:
        raise ImportFailed(problems)


def password_set_link(user: User, base_url: str) -> str:
    """allauth's password-reset link: lets a new login choose its password once, within days."""
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
    )
    return base_url.rstrip("/") + path


def _errors(form: forms.ModelForm) -> str:
    return "; ".join(f"{name}: {' '.join(map(str, messages))}" for name, messages in form.errors.items())


def import_members(
    rows: Iterable[tuple[int, dict[str, str]]], *, create_logins: bool, skip_bad: bool, base_url: str
) -> ImportResult:
    """Create or update members from (line number, row) pairs, keyed by email.

    All or nothing: one bad row fails the whole import unless `skip_bad`, when bad rows are skipped
    and reported. Two rows with the same email are a bad row too.
    """
    result = ImportResult()
    seen: dict[str, int] = {}
    with transaction.atomic():
        for line, row in rows:
            # An empty cell leaves the field as it is: the stored value, or the default for a new member.
            values = {key: value.strip() for key, value in row.items() if key in IMPORT_COLUMNS and value}
            values = {key: value for key, value in values.items() if value}
            email = values.get("email", "").lower()
            existing = Member.objects.filter(email__iexact=email).first() if email else None
            if existing is not None:
                values = {**MemberImportForm(instance=existing).initial, **values}
            form = MemberImportForm(data=values, instance=existing)
            reason = None
            if email in seen:
                reason = f"email {email} is also on line {seen[email]}"
            elif not form.is_valid():
                reason = _errors(form)
            if reason:
                result.skipped.append((line, reason))
                continue
            seen[email] = line
            member = form.save()
            if existing is None:
                result.created += 1
            else:
                result.updated += 1
            if create_logins and member.user is None:
                user = User.objects.filter(email__iexact=member.email).first()
                if user is None:
                    user = User.objects.create_user(
                        member.email, None, first_name=member.first_name, last_name=member.last_name
                    )
                    result.password_links.append((member.email, password_set_link(user, base_url)))
                member.user = user
                member.save(update_fields=["user", "updated_at"])
        if result.skipped and not skip_bad:
            raise ImportFailed(result.skipped)
    logger.info(
        "members.imported created=%d updated=%d skipped=%d logins=%d",
        result.created,
        result.updated,
        len(result.skipped),
        len(result.password_links),
    )
    return result
