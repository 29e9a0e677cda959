"""OpenAPI: the OAuth 2 security scheme, and the scope each operation requires (from the view)."""

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme

from apps.api.permissions import required_scope


class LatchOAuthScheme(DjangoOAuthToolkitScheme):
    target_class = "apps.api.authentication.AccessTokenAuthentication"
    priority = 1

    def get_security_requirement(self, auto_schema):
        scope = required_scope(auto_schema.view, auto_schema.method)
        return {self.name: [scope] if scope else []}
