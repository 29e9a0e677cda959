"""`{% sign_in_providers as providers %}`: the login page's buttons (allauth's view renders that page)."""

from django import template

from apps.upstream.models import UpstreamProvider
from apps.upstream.selectors import sign_in_providers as enabled_sign_in_providers

register = template.Library()


@register.simple_tag
def sign_in_providers() -> list[UpstreamProvider]:
    return enabled_sign_in_providers()
