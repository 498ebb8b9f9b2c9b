"""Contributions of case work to the web layer's household profile and dashboard."""

from __future__ import annotations

from django.utils import timezone

from . import selectors
from .models import Case


def profile_context(request, household) -> dict:
    """The household has passed the user's scope check in the profile view."""
    today = timezone.localdate()
    cases = list(selectors.household_cases(household))
    for case in cases:
        case.overdue_today = case.is_overdue(today)
    return {
        "cases": cases,
        "today": today,
        "open_case": next((c for c in cases if c.is_open), None),
        "can_open": request.user.role in ("village", "township", "county"),
    }


def dashboard_context(request) -> dict:
    today = timezone.localdate()
    overdue = selectors.overdue_cases(request.user, today)
    return {
        "counts": [c for c in selectors.state_counts(request.user) if c["count"]],
        "overdue": list(overdue[:10]),
        "overdue_total": overdue.count(),
        "today": today,
    }


def timeline_source(household):
    ids = list(Case.objects.filter(household=household).values_list("pk", flat=True))
    yield "monitoring.case", ids
