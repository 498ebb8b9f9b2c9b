"""Reads behind the web pages. Every query starts from ``areas.scope.scoped()``."""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import get_language

from safetynet.areas.models import Area
from safetynet.areas.scope import get_scoped_or_404, scoped
from safetynet.core.models import AuditEvent
from safetynet.registry.models import Household, Income, Person
from safetynet.screening.models import Finding, ScreenRun

from . import hooks
from .labels import LEVEL_ORDER

TIMELINE_LIMIT = 200


def _optional(module: str, name: str):
    """A function of another context that may not be installed yet (None if absent)."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    except AttributeError:
        return None


# ---------------------------------------------------------------- search


def classify_query(q: str) -> str:
    """'id_number', 'household_id', 'name' or '' (empty query): the registry's own reading."""
    from safetynet.registry.selectors import classify_query as classify

    return classify(q)


def household_search(*, user, q: str) -> QuerySet[Household]:
    """Households in the user's scope matching the search text; an empty query lists every
    household in scope (`safetynet.registry.selectors.household_search`)."""
    from safetynet.registry.selectors import household_search as search

    return search(user=user, q=q)


@dataclass
class ResultRow:
    household: Household
    head: Person | None
    members: int
    open_warnings: int


def search_rows(households: list[Household]) -> list[ResultRow]:
    """Heads, active member counts and open warnings for one page of results (2 queries)."""
    ids = [h.pk for h in households]
    heads: dict[int, Person] = {}
    counts: dict[int, int] = defaultdict(int)
    for person in Person.objects.filter(household_id__in=ids).only(
        "id", "household_id", "name", "relation", "status", "id_number"
    ):
        if person.relation == "head":
            heads[person.household_id] = person
        if person.status == "active":
            counts[person.household_id] += 1
    warnings = dict(
        Finding.objects.filter(household_id__in=ids, kind="warning", state="open")
        .values_list("household_id")
        .annotate(n=Count("id"))
        .values_list("household_id", "n")
    )
    return [
        ResultRow(h, heads.get(h.pk), counts.get(h.pk, 0), warnings.get(h.pk, 0))
        for h in households
    ]


# ---------------------------------------------------------------- profile


@dataclass
class Profile:
    household: Household
    areas: list[Area]
    members: list[Person]
    incomes: list[Income]
    findings: list[Finding]
    feed_records: list[dict] | None  # None: the feeds context is not installed
    timeline: list[AuditEvent]
    extra: dict[str, Any] = field(default_factory=dict)


def area_chain(village_code: str) -> list[Area]:
    """County, township and village of a village code (those present), top down."""

    def compute():
        codes = [village_code[:n] for n in (6, 9, 12) if len(village_code) >= n]
        found = {a.code: a for a in Area.objects.filter(code__in=codes)}
        return [found[c] for c in codes if c in found]

    return _cached(f"web:chain:{village_code}", compute)


def area_name(code: str | None) -> str:
    """The name of an area (cached: the navigation bar shows it on every page)."""
    if not code:
        return ""
    return _cached(
        f"web:area:{code}",
        lambda: Area.objects.filter(code=code).values_list("name", flat=True).first() or code,
    )


def household_for_user(*, user, household_id: str) -> Household:
    """The household, if in the user's scope; Http404 otherwise (also when it does not exist)."""
    return get_scoped_or_404(
        user, Household.objects.select_related("village"), household_id=household_id
    )


def household_timeline(household: Household, members: list[Person], incomes: list[Income],
                       findings: list[Finding]) -> list[AuditEvent]:  # fmt: skip
    refs: dict[str, set[str]] = defaultdict(set)
    refs["registry.household"].update({str(household.pk), household.household_id})
    refs["registry.person"].update(str(p.pk) for p in members)
    refs["registry.income"].update(str(i.pk) for i in incomes)
    refs["screening.finding"].update(str(f.pk) for f in findings)
    for source in hooks.timeline_sources():
        for object_type, ids in source(household):
            refs[object_type].update(str(i) for i in ids)
    cond = Q()
    for object_type, ids in refs.items():
        if ids:
            cond |= Q(object_type=object_type, object_id__in=sorted(ids))
    return list(AuditEvent.objects.filter(cond).order_by("-at", "-id")[:TIMELINE_LIMIT])


def department_evidence(household: Household, members: list[Person]) -> list[dict] | None:
    """Linked department records of the household, grouped by kind, for display.

    ID numbers are never shown: a record names the member it was linked to. None when the
    feeds context is not installed.
    """
    records_for_household = _optional("safetynet.feeds.selectors", "records_for_household")
    if records_for_household is None:
        return None
    kinds = _optional("safetynet.feeds.schemas", "KINDS") or {}
    names = {p.id_number: p.name for p in members}
    lang = "en" if (get_language() or "").startswith("en") else "zh"
    groups = []
    for kind, records in sorted(records_for_household(household.household_id).items()):
        spec = kinds.get(kind)
        label = spec.label(lang) if spec else kind
        own = spec.own_column_names if spec else []
        col_labels = {c.name: c.zh for c in spec.columns} if spec and lang == "zh" else {}
        rows = []
        for rec in records:
            rows.append(
                {
                    "event_date": rec.get("event_date"),
                    "member": names.get(rec.get("id_number") or "", ""),
                    "details": [
                        (col_labels.get(c, c), rec.get(c)) for c in own if rec.get(c) is not None
                    ],
                    "department": rec.get("department") or "",
                    "link_method": rec.get("link_method") or "",
                }
            )
        groups.append({"kind": kind, "label": label, "records": rows})
    return groups


def household_profile(*, user, household_id: str) -> Profile:
    household = household_for_user(user=user, household_id=household_id)
    members = list(household.members.all())
    members.sort(key=lambda p: (p.relation != "head", p.status != "active", p.pk))
    incomes = list(household.incomes.order_by("-year"))
    findings = list(
        scoped(user, Finding.objects.filter(household=household)).order_by("state", "kind", "key")
    )
    findings.sort(
        key=lambda f: (
            f.state != "open",
            f.kind != "warning",
            LEVEL_ORDER.index(f.level) if f.level in LEVEL_ORDER else 9,
        )
    )
    return Profile(
        household=household,
        areas=area_chain(household.village_id),
        members=members,
        incomes=incomes,
        findings=findings,
        feed_records=department_evidence(household, members),
        timeline=household_timeline(household, members, incomes, findings),
    )


# ---------------------------------------------------------------- dashboard


CHILD_LENGTH = {0: 6, 2: 6, 4: 6, 6: 9, 9: 12}


def _cache_seconds() -> int:
    return int(getattr(settings, "WEB_DASHBOARD_CACHE_SECONDS", 60))


def _cached(key: str, compute):
    """Area summaries are cached briefly per scope prefix: the same numbers for everybody with
    that scope, recomputed at most once a minute per process (WEB_DASHBOARD_CACHE_SECONDS)."""
    seconds = _cache_seconds()
    if seconds <= 0:
        return compute()
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, seconds)
    return value


def household_count(*, user) -> int:
    """Households in the user's scope (cached like the dashboard)."""
    prefix = user.scope_code
    return _cached(
        f"web:households:{prefix}", lambda: scoped(user, Household.objects.all()).count()
    )


def dashboard_summary(*, user) -> dict:
    """Counts for the user's area: households, people, warnings by category × level, the
    breakdown by the next level down, and the open-warning trend over screening runs."""
    summary = _cached(f"web:dashboard:{user.scope_code}", lambda: _dashboard_summary(user))
    scoped_to_area = user.scope_code not in ("", "-")
    return {**summary, "area_name": area_name(user.area_id) if scoped_to_area else ""}


def _dashboard_summary(user) -> dict:
    households = scoped(user, Household.objects.all())
    persons = scoped(user, Person.objects.filter(status="active"))
    findings = scoped(user, Finding.objects.filter(state="open"))
    prefix = user.scope_code
    child_len = CHILD_LENGTH.get(len(prefix)) if prefix != "-" else None

    # Households and exited poor households, per child area when there is a level below.
    poor = Count("id", filter=Q(registered_poor=True))
    if child_len:
        rows = list(
            households.annotate(child=Substr("village_id", 1, child_len))
            .values("child")
            .annotate(n=Count("id"), poor=poor)
            .order_by("child")
        )
    else:
        total = households.aggregate(n=Count("id"), poor=poor)
        rows = [{"child": None, **total}] if total["n"] else []

    # Open findings by kind, category, level and child area in one pass.
    group = ["kind", "category", "level"] + (["child"] if child_len else [])
    qs = findings.annotate(child=Substr("village_code", 1, child_len)) if child_len else findings
    by_cat_level: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(LEVEL_ORDER, 0))
    warn_by_child: dict[str, int] = defaultdict(int)
    quality_open = 0
    for row in qs.values(*group).annotate(n=Count("id")).order_by():
        if row["kind"] == "quality":
            quality_open += row["n"]
            continue
        by_cat_level[row["category"] or ""][row["level"] or "yellow"] += row["n"]
        if child_len:
            warn_by_child[row["child"]] += row["n"]

    breakdown = []
    if child_len:
        names = dict(
            Area.objects.filter(code__in=[r["child"] for r in rows]).values_list("code", "name")
        )
        breakdown = [
            {"code": r["child"], "name": names.get(r["child"], r["child"]),
             "households": r["n"], "warnings": warn_by_child.get(r["child"], 0)}
            for r in rows
        ]  # fmt: skip
    return {
        "households": sum(r["n"] for r in rows),
        "registered_poor": sum(r["poor"] for r in rows),
        "persons": persons.count(),
        "warnings_by_category": {k: dict(by_cat_level[k]) for k in sorted(by_cat_level)},
        "warning_total": sum(sum(v.values()) for v in by_cat_level.values()),
        "quality_open": quality_open,
        "breakdown": breakdown,
        "trend": warning_trend(user=user),
        "computed_at": timezone.now(),
    }


def warning_trend(*, user, runs: int = 24) -> dict:
    """Open warnings in scope after each of the last succeeded screening runs.

    Set-based: findings first raised per run and resolved per run, accumulated in run order.
    """
    recent = list(
        ScreenRun.objects.filter(status="succeeded").order_by("-id").values("id", "as_of")[:runs]
    )
    recent.reverse()
    if not recent:
        return {"labels": [], "open": [], "new": []}
    warnings = scoped(user, Finding.objects.filter(kind="warning"))
    raised = dict(
        warnings.values_list("first_run_id")
        .annotate(n=Count("id"))
        .values_list("first_run_id", "n")
    )
    resolved = dict(
        warnings.filter(resolved_run__isnull=False)
        .values_list("resolved_run_id")
        .annotate(n=Count("id"))
        .values_list("resolved_run_id", "n")
    )
    first_id = recent[0]["id"]
    open_before = sum(n for rid, n in raised.items() if rid < first_id) - sum(
        n for rid, n in resolved.items() if rid < first_id
    )
    labels, open_counts, new_counts = [], [], []
    current = open_before
    for run in recent:
        current += raised.get(run["id"], 0) - resolved.get(run["id"], 0)
        labels.append(run["as_of"].isoformat())
        open_counts.append(current)
        new_counts.append(raised.get(run["id"], 0))
    return {"labels": labels, "open": open_counts, "new": new_counts}
