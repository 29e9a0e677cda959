"""OIDC's `prompt` and `max_age` in an authorization request's query (OIDC Core §3.1.2.1)."""

from django.http import QueryDict


def prompt_values(query: QueryDict) -> set[str]:
    """`prompt`: a space-delimited, case-sensitive list."""
    return set(query.get("prompt", "").split())


def without_fresh_sign_in(query: QueryDict) -> QueryDict:
    """`query` without `prompt=login` and `max_age` (other prompt values stay): what is left of
    the request once the member has signed in anew, which meets both."""
    query = query.copy()
    query.pop("max_age", None)
    prompt = [value for value in query.pop("prompt", [""])[0].split() if value != "login"]
    if prompt:
        query["prompt"] = " ".join(prompt)
    return query
