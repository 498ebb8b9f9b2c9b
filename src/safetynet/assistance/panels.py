"""What the assistance app adds to the web foundation's pages (household profile, timeline)."""

from __future__ import annotations

from . import selectors
from .access import STAFF_ROLES, role_of
from .models import Application, Enrolment


def profile_context(request, household) -> dict:
    data = selectors.household_assistance(request.user, household.household_id)
    return {**data, "can_apply": role_of(request.user) in STAFF_ROLES}


def timeline_source(household):
    """Audit rows of this household's applications and enrolments join its timeline."""
    apps = list(Application.objects.filter(household=household).values_list("pk", flat=True))
    enrolments = list(Enrolment.objects.filter(household=household).values_list("pk", flat=True))
    return [
        ("assistance.application", [str(pk) for pk in apps]),
        ("assistance.enrolment", [str(pk) for pk in enrolments]),
    ]
