"""Reads of the assistance programmes, always through the user's area scope."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum

from safetynet.areas.scope import scoped

from . import access, clocks
from .models import (
    AmountPeriod,
    Application,
    ChangeProposal,
    Enrolment,
    Roll,
    RollLine,
)


def _scope(user, qs: QuerySet) -> QuerySet:
    return qs if user is None else scoped(user, qs)


def applications(user, *, status: str = "", programme: str = "", area_code: str = "") -> QuerySet:
    qs = _scope(user, Application.objects.select_related("household", "person"))
    if status:
        qs = qs.filter(status=status)
    if programme:
        qs = qs.filter(programme=programme)
    if area_code:
        qs = qs.filter(village_code__startswith=area_code)
    return qs


def application(user, pk: int) -> Application:
    return access.get_scoped(
        user,
        Application.objects.select_related("household", "person"),
        what_zh="申请",
        what_en="application",
        pk=pk,
    )


def separate_register(user, *, area_code: str = "") -> QuerySet:
    """单独登记备案: applications of relatives of assistance staff or village committee members."""
    return (
        applications(user, area_code=area_code)
        .filter(related_to_staff=True)
        .order_by("-accepted_on", "-id")
    )


def _amount_subquery(month: dt.date):
    return Subquery(
        AmountPeriod.objects.filter(enrolment=OuterRef("pk"), from_month__lte=month)
        .order_by("-from_month", "-id")
        .values("monthly_amount")[:1]
    )


def enrolments(
    user,
    *,
    programme: str = "",
    status: str = "",
    area_code: str = "",
    month: dt.date | None = None,
) -> QuerySet:
    month = clocks.month_start(month or dt.date.today())
    qs = _scope(user, Enrolment.objects.select_related("household", "person")).annotate(
        amount=_amount_subquery(month)
    )
    if programme:
        qs = qs.filter(programme=programme)
    if status:
        qs = qs.filter(status=status)
    if area_code:
        qs = qs.filter(village_code__startswith=area_code)
    return qs


def enrolment(user, pk: int) -> Enrolment:
    return access.get_scoped(
        user,
        Enrolment.objects.select_related("household", "person"),
        what_zh="救助对象",
        what_en="enrolment",
        pk=pk,
    )


def enrolment_for_household(user, household_id: str) -> list[Enrolment]:
    return list(
        _scope(user, Enrolment.objects.filter(household__household_id=household_id)).exclude(
            status="stopped"
        )
    )


def changed_since_last_amount(user, *, area_code: str = "") -> QuerySet:
    """Enrolments whose household, members or incomes changed in the registry after the rules
    last assessed them: candidates for a recompute (members, income)."""
    from django.db.models import Exists, F
    from django.db.models.functions import Coalesce

    from safetynet.registry.models import Income, Person

    qs = (
        _scope(user, Enrolment.objects.select_related("household", "person"))
        .exclude(status="stopped")
        .annotate(last_amount_at=Coalesce("last_assessed_at", "created_at"))
        .filter(
            Q(household__updated_at__gt=F("last_amount_at"))
            | Exists(
                Person.objects.filter(
                    household=OuterRef("household"), updated_at__gt=OuterRef("last_amount_at")
                )
            )
            | Exists(
                Income.objects.filter(
                    household=OuterRef("household"), updated_at__gt=OuterRef("last_amount_at")
                )
            )
        )
    )
    if area_code:
        qs = qs.filter(village_code__startswith=area_code)
    return qs.order_by("village_code", "id")


def reviews_due(user, *, as_of: dt.date, within_days: int = 0, area_code: str = "") -> QuerySet:
    """Enrolments whose review date is past (or within `within_days` of `as_of`)."""
    limit = as_of + dt.timedelta(days=within_days)
    qs = (
        _scope(user, Enrolment.objects.select_related("household", "person"))
        .filter(next_review_on__lte=limit)
        .exclude(status="stopped")
    )
    if area_code:
        qs = qs.filter(village_code__startswith=area_code)
    return qs.order_by("next_review_on", "id")


def open_proposals(user, *, area_code: str = "") -> QuerySet:
    qs = _scope(
        user, ChangeProposal.objects.select_related("enrolment", "person", "enrolment__household")
    )
    qs = qs.filter(state="open")
    if area_code:
        qs = qs.filter(enrolment__village_code__startswith=area_code)
    return qs.order_by("due_on", "id")


def rolls(user, *, county_code: str = "") -> QuerySet:
    qs = _scope(user, Roll.objects.all())
    if county_code:
        qs = qs.filter(county_code=county_code)
    return qs.order_by("-month", "county_code")


def roll(user, pk: int) -> Roll:
    return access.get_scoped(
        user, Roll.objects.all(), what_zh="发放花名册", what_en="payment roll", pk=pk
    )


def roll_lines(user, roll_obj: Roll, *, kind: str = "", village: str = "") -> QuerySet:
    qs = _scope(user, RollLine.objects.filter(roll=roll_obj).select_related("household", "person"))
    if kind:
        qs = qs.filter(kind=kind)
    if village:
        qs = qs.filter(village_code__startswith=village)
    return qs.order_by("village_code", "id")


def roll_totals(roll_obj: Roll) -> list[dict]:
    rows = (
        RollLine.objects.filter(roll=roll_obj)
        .values("kind")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by("kind")
    )
    return [{"kind": r["kind"], "count": r["n"], "total": r["total"] or Decimal("0")} for r in rows]


def tekun_recheck_ratio(user, *, county_code: str, year: int) -> dict:
    """Share of approved tekun decisions the county re-checked in a year (S3 Art. 16: ≥ 30 %)."""
    from .parameters import param

    qs = _scope(
        user,
        Application.objects.filter(
            programme="tekun", status="approved", county_code=county_code, decided_on__year=year
        ),
    )
    counts = qs.aggregate(total=Count("id"), rechecked=Count("id", filter=Q(rechecked=True)))
    total = counts["total"] or 0
    ratio = (Decimal(counts["rechecked"]) / total) if total else Decimal("0")
    minimum = Decimal(str(param("tekun.recheck_ratio", county_code, dt.date(year, 12, 31))))
    return {
        "total": total,
        "rechecked": counts["rechecked"],
        "ratio": ratio,
        "minimum": minimum,
        "enough": total == 0 or ratio >= minimum,
    }


def household_assistance(user, household_id: str) -> dict:
    """What a household gets: for the household profile page of the web app."""
    return {
        "enrolments": list(enrolments(user).filter(household__household_id=household_id)),
        "applications": list(applications(user).filter(household__household_id=household_id)[:20]),
    }
