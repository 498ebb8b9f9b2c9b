"""Reads of monitoring case work. Pages and other contexts read through these functions; every
function that takes a user applies `areas.scope.scoped()`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import (
    Case as When_,
)
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.http import Http404

from safetynet.areas.scope import get_scoped_or_404, scoped

from . import services, vocab
from .models import Case, CaseEvent, CaseFinding, Measure, Notice


def _head_name():
    from safetynet.registry.models import Person

    return Subquery(
        Person.objects.filter(household=OuterRef("household"), relation="head").values("name")[:1]
    )


# ---- for other contexts -----------------------------------------------------------------------


def monitored_household_ids() -> set[str]:
    """Registry household_id of every monitoring object (decided, not yet eliminated)."""
    return set(
        Case.objects.filter(state__in=vocab.MONITORING_STATES).values_list(
            "household__household_id", flat=True
        )
    )


def open_case_household_ids() -> set[str]:
    """Registry household_id of every household with an open case (identifying or monitored)."""
    return set(
        Case.objects.filter(state__in=vocab.OPEN_STATES).values_list(
            "household__household_id", flat=True
        )
    )


def case_records() -> QuerySet:
    """One row per case for the analytical snapshot (Q-ELIM, Q-OMIT-MON, reports): plain values."""
    delivered = Measure.objects.filter(case=OuterRef("pk"), state="delivered")
    return (
        Case.objects.annotate(
            delivered_measures=Subquery(
                delivered.values("case").annotate(n=Count("id")).values("n")[:1],
                output_field=IntegerField(),
            ),
            measures_total=Count("measures", distinct=True),
        )
        .values(
            "id",
            "household__household_id",
            "household__village_id",
            "source",
            "state",
            "clue_date",
            "deadline",
            "category",
            "risk_types",
            "decided_on",
            "elimination_method",
            "eliminated_on",
            "closed_on",
            "delivered_measures",
            "measures_total",
        )
        .order_by("id")
    )


# ---- access (Zulip-style: the only way views get single objects) -------------------------------


def cases_for(user) -> QuerySet:
    return scoped(user, Case.objects.all()).select_related("household", "household__village")


def access_case(user, case_id) -> Case:
    try:
        pk = int(case_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    return get_scoped_or_404(
        user, Case.objects.select_related("household", "household__village"), pk=pk
    )


def access_notice(user, case_id, notice_id) -> Notice:
    try:
        pk, case_pk = int(notice_id), int(case_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    return get_scoped_or_404(
        user,
        Notice.objects.select_related("case", "case__household", "case__household__village"),
        pk=pk,
        case_id=case_pk,
    )


def access_warning(user, finding_id):
    from safetynet.screening.models import Finding

    try:
        pk = int(finding_id)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    return get_scoped_or_404(user, Finding.objects.filter(kind="warning"), pk=pk)


def access_household(user, household_id: str):
    from safetynet.registry.models import Household

    return get_scoped_or_404(
        user, Household.objects.select_related("village"), household_id=household_id
    )


# ---- warnings ---------------------------------------------------------------------------------

LEVEL_ORDER = When_(
    When(level="red", then=Value(0)),
    When(level="orange", then=Value(1)),
    When(level="yellow", then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)

WARNING_STATUSES = [
    ("open", "待处理(全部未解除)", "Open"),
    ("new", "本次新增", "New in its latest run"),
    ("undispatched", "未派发", "Not dispatched"),
    ("dispatched", "已派发/已并案", "Dispatched or attached"),
    ("resolved", "已解除", "Resolved"),
]


@dataclass
class WarningFilters:
    level: str = ""
    category: str = ""
    rule: str = ""
    village: str = ""
    status: str = "open"


def warnings_for(user, filters: WarningFilters) -> QuerySet:
    from safetynet.registry.models import Person
    from safetynet.screening.models import Finding

    qs = scoped(user, Finding.objects.filter(kind="warning"))
    if filters.level:
        qs = qs.filter(level=filters.level)
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.rule:
        qs = qs.filter(rules__icontains=f'"{filters.rule}"')
    if filters.village:
        qs = qs.filter(village_code__startswith=filters.village)
    linked = CaseFinding.objects.filter(finding=OuterRef("pk"))
    qs = qs.annotate(
        has_case=Exists(linked),
        case_id=Subquery(linked.order_by("-id").values("case_id")[:1]),
        level_rank=LEVEL_ORDER,
        head_name=Subquery(
            Person.objects.filter(household=OuterRef("household"), relation="head").values("name")[
                :1
            ]
        ),
    )
    status = filters.status or "open"
    if status == "open":
        qs = qs.filter(state="open")
    elif status == "new":
        qs = qs.new()
    elif status == "undispatched":
        qs = qs.filter(state="open", has_case=False)
    elif status == "dispatched":
        qs = qs.filter(has_case=True)
    elif status == "resolved":
        qs = qs.filter(state="resolved")
    return qs.select_related("household").order_by(
        "level_rank", "village_code", "household_id", "id"
    )


def warning_rule_ids(user) -> list[str]:
    """The rule IDs appearing in the user's open warnings (filter choices)."""
    from safetynet.screening.models import Finding

    seen: set[str] = set()
    for rules in (
        scoped(user, Finding.objects.filter(kind="warning", state="open"))
        .values_list("rules", flat=True)
        .distinct()[:2000]
    ):
        seen.update(rules or [])
    return sorted(seen)


def villages_for(user) -> QuerySet:
    from safetynet.areas.models import Area

    return scoped(user, Area.objects.filter(level=5)).order_by("code")


# ---- cases --------------------------------------------------------------------------------------


def case_list(user, *, state: str = "", overdue: bool = False, today: dt.date) -> QuerySet:
    qs = cases_for(user).annotate(head_name=_head_name())
    if state == "open":
        qs = qs.filter(state__in=vocab.OPEN_STATES)
    elif state == "monitoring":
        qs = qs.filter(state__in=vocab.MONITORING_STATES)
    elif state:
        qs = qs.filter(state=state)
    if overdue:
        qs = qs.filter(_overdue_q(today))
    return qs.annotate(overdue=_overdue_case(today)).order_by("-overdue", "deadline", "id")


def _overdue_q(today: dt.date) -> Q:
    return Q(state__in=vocab.IDENTIFICATION_STATES, deadline__lt=today)


def _overdue_case(today: dt.date):
    return When_(
        When(_overdue_q(today), then=Value(1)), default=Value(0), output_field=IntegerField()
    )


def state_counts(user) -> list[dict]:
    counts = dict(cases_for(user).values("state").annotate(n=Count("id")).values_list("state", "n"))
    return [
        {"state": code, "label": vocab.label(vocab.STATES, code), "count": counts.get(code, 0)}
        for code, _zh, _en in vocab.STATES
    ]


def overdue_cases(user, today: dt.date) -> QuerySet:
    return (
        cases_for(user)
        .filter(_overdue_q(today))
        .annotate(head_name=_head_name())
        .order_by("deadline", "id")
    )


def household_cases(household) -> QuerySet:
    return Case.objects.filter(household=household).order_by("-id")


@dataclass
class WorkItem:
    case: Case
    action: str
    due: dt.date | None
    overdue: bool
    detail: str = ""

    @property
    def action_label(self) -> str:
        zh, en = services.action_words(self.action)
        from safetynet.core.i18n import bilingual

        return bilingual(zh, en)


def my_work(user, today: dt.date) -> list[WorkItem]:
    """What waits for this user, overdue first (village: verifications, notices, measures and
    follow-ups; township: reviews; county: decisions and eliminations)."""
    role = getattr(user, "role", "")
    base = cases_for(user).annotate(head_name=_head_name())
    items: list[WorkItem] = []

    def add(qs, action, due_of, detail=lambda c: ""):
        for case in qs:
            due = due_of(case)
            overdue = case.is_overdue(today) or (
                due is not None and case.state in vocab.MONITORING_STATES and due < today
            )
            items.append(WorkItem(case, action, due, overdue, detail(case)))

    if role == "village":
        add(base.filter(state=vocab.CLUE), "verify", lambda c: c.deadline)
        add(
            base.filter(state__in=(vocab.VERIFIED, vocab.ELIM_VERIFIED)),
            "publish_notice",
            lambda c: c.deadline if c.state == vocab.VERIFIED else None,
        )
        add(
            base.filter(state=vocab.MONITORED).annotate(n=Count("measures")).filter(n=0),
            "plan_measures",
            lambda c: c.decided_on,
        )
        due_measures = Measure.objects.filter(
            case=OuterRef("pk"), state="planned", planned_on__lte=today
        )
        add(
            base.filter(state__in=vocab.MONITORING_STATES).filter(Exists(due_measures)),
            "deliver_measure",
            lambda c: None,
        )
        add(
            base.filter(state__in=vocab.MONITORING_STATES, next_follow_up_on__lte=today),
            "follow_up",
            lambda c: c.next_follow_up_on,
        )
    elif role == "township":
        ended = Notice.objects.filter(case=OuterRef("pk"), end__lt=today)
        add(
            base.filter(state__in=(vocab.IN_NOTICE, vocab.ELIM_IN_NOTICE)).filter(Exists(ended)),
            "review",
            lambda c: c.deadline if c.state == vocab.IN_NOTICE else None,
        )
    elif role == "county":
        add(base.filter(state=vocab.REVIEWED), "decide", lambda c: c.deadline)
        add(base.filter(state=vocab.ELIM_REVIEWED), "eliminate", lambda c: None)
    items.sort(key=lambda i: (not i.overdue, i.due or dt.date.max, i.case.pk))
    return items


def allowed_actions(user, case: Case) -> list[str]:
    """The actions the user's role may take on the case in its current state."""
    if not case.is_open:
        return []
    return [
        action
        for action in services.ACTIONS
        if action not in ("open", "dispatch")
        and services.role_may(user, action)
        and services.state_allows(case.state, action)
    ]


def timeline(case: Case) -> list[CaseEvent]:
    return list(case.events.select_related("actor").order_by("at", "id"))


def current_notice(case: Case) -> Notice | None:
    return case.notices.order_by("-id").first()


def case_findings(case: Case):
    return [link.finding for link in case.case_findings.select_related("finding").order_by("id")]
