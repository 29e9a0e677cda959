from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The member's own page: their record, their password, what happened on their account lately."""
    context = {
        "member": selectors.member_record(request.user),
        "security_events": selectors.recent_security_events(request.user),
    }
    return render(request, "accounts/home.html", context)
