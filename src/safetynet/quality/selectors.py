"""Reads of rectification work, always through `areas.scope.scoped()`."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from safetynet.areas.scope import get_scoped_or_404, scoped

from .models import STATES
from .services import ASSIGNERS, WORKERS

FILTER_STATES = (
    [("unassigned", "待分派", "Unassigned")]
    + STATES
    + [("resolved", "已解除(未分派)", "Resolved without assignment")]
)


@dataclass
class QualityFilters:
    check: str = ""
    state: str = ""
    village: str = ""
    mine: bool = False


def quality_findings(user, filters: QualityFilters) -> QuerySet:
    from safetynet.registry.models import Person
    from safetynet.screening.models import Finding

    qs = scoped(user, Finding.objects.filter(kind="quality")).select_related(
        "household", "rectification", "rectification__assignee"
    )
    if filters.check:
        qs = qs.filter(check_id=filters.check)
    if filters.village:
        qs = qs.filter(village_code__startswith=filters.village)
    if filters.mine:
        qs = qs.filter(rectification__assignee=user)
    state = filters.state
    if state == "unassigned":
        qs = qs.filter(rectification__isnull=True, state="open")
    elif state == "resolved":
        qs = qs.filter(rectification__isnull=True, state="resolved")
    elif state:
        qs = qs.filter(rectification__state=state)
    head = Person.objects.filter(household=OuterRef("household"), relation="head")
    return qs.annotate(head_name=Subquery(head.values("name")[:1])).order_by(
        "check_id", "village_code", "household_id", "id"
    )


def check_ids(user) -> list[str]:
    from safetynet.screening.models import Finding

    return sorted(
        set(
            scoped(user, Finding.objects.filter(kind="quality"))
            .values_list("check_id", flat=True)
            .distinct()
        )
        - {""}
    )


def access_quality_finding(user, finding_id):
    from safetynet.screening.models import Finding

    try:
        pk = int(finding_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    return get_scoped_or_404(
        user, Finding.objects.filter(kind="quality").select_related("household"), pk=pk
    )


def assignable_users(user, finding) -> QuerySet:
    """Active users of the actor's area who can see the finding's household."""
    from safetynet.accounts.models import User

    village = finding.village_code
    prefixes = [village[:n] for n in (6, 9, 12)]
    qs = User.objects.filter(is_active=True, role__in=WORKERS, area_id__in=prefixes)
    prefix = user.scope_code
    if prefix:
        qs = qs.filter(area__code__startswith=prefix)
    return qs.order_by("role", "username")


def rectification_of(finding):
    from .models import Rectification

    return Rectification.objects.filter(finding=finding).select_related("assignee").first()


def may_assign(user) -> bool:
    return getattr(user, "role", None) in ASSIGNERS


def may_rectify(user, rect) -> bool:
    if rect is None or rect.state not in ("assigned", "reopened"):
        return False
    return rect.assignee_id == user.pk or getattr(user, "role", None) in ASSIGNERS
