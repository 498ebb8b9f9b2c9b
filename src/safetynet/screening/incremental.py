"""Which households an incremental run must re-evaluate, relative to its base run.

An incremental run is allowed only when its result can be the same as a full run's: same scope,
same as-of date (ages and 12/6-month windows move with the date), same compiled catalogue and the
same parameter values. Then a household needs re-evaluating when any of its inputs changed since
the base run started:

- registry: the household, one of its members or incomes has `updated_at` after the base run; or an
  audit row after it names the household (a member deleted or moved out leaves only that trace);
- department feeds: a batch loaded, withdrawn or re-linked since the base run (the batch
  catalogue), or a reviewer's link decision since then — every household those records link to;
  school-enrolment batches change the current term of the whole county (POLICY §1), so they
  re-evaluate every household of the counties they touch;
- case work: a household that became, or stopped being, a monitoring object.

Households that no longer exist simply drop out of the merged results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db.models import Q

from safetynet.registry.models import Household, Income, Person

# Feed kinds whose records change what other households of the same county get.
COUNTY_WIDE_KINDS = {"school_enrolment"}


@dataclass
class Changes:
    households: set[str] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, ids: Iterable[str]) -> None:
        ids = {i for i in ids if i}
        self.reasons[reason] = self.reasons.get(reason, 0) + len(ids)
        self.households |= ids


def _has_table(model) -> bool:
    """False while the feeds app is installed but not migrated (nothing loaded yet)."""
    from django.db import connection

    return model._meta.db_table in connection.introspection.table_names()


def _scope_q(area_codes: Sequence[str], path: str) -> Q:
    q = Q()
    for code in area_codes:
        q |= Q(**{f"{path}__startswith": code})
    return q


def registry_changes(since, area_codes: Sequence[str]) -> dict[str, set[str]]:
    scope_h = _scope_q(area_codes, "village__code")
    scope_o = _scope_q(area_codes, "household__village__code")
    # unordered: the models' default order would have the database walk every row in that
    # order instead of reading the few changed ones from the updated_at index
    out = {
        "households": set(
            Household.objects.filter(scope_h, updated_at__gte=since)
            .order_by()
            .values_list("household_id", flat=True)
        ),
        "persons": set(
            Person.objects.filter(scope_o, updated_at__gte=since)
            .order_by()
            .values_list("household__household_id", flat=True)
        ),
        "incomes": set(
            Income.objects.filter(scope_o, updated_at__gte=since)
            .order_by()
            .values_list("household__household_id", flat=True)
        ),
    }
    out["audit"] = audit_changes(since)
    return out


def _refs(value) -> tuple[set[int], set[str]]:
    """Household references in an audit before/after dict: primary keys and natural ids."""
    pks: set[int] = set()
    natural: set[str] = set()
    if not isinstance(value, dict):
        return pks, natural
    for key in ("household", "household_id"):
        ref = value.get(key)
        if isinstance(ref, int):
            pks.add(ref)
        elif isinstance(ref, str) and ref:
            natural.add(ref)
    return pks, natural


def audit_changes(since) -> set[str]:
    """Households named by registry audit rows since `since` (deletions and moves included)."""
    from safetynet.core.models import AuditEvent

    pks: set[int] = set()
    natural: set[str] = set()
    person_refs: set[str] = set()
    rows = AuditEvent.objects.filter(
        at__gte=since,
        object_type__in=["registry.household", "registry.person", "registry.income"],
    ).values_list("object_type", "object_id", "before", "after")
    for object_type, object_id, before, after in rows.iterator(chunk_size=5000):
        for snap in (before, after):
            p, n = _refs(snap)
            if object_type == "registry.household":
                # a household's own snapshot holds its natural id under household_id
                natural |= n | {str(x) for x in p}
            else:
                pks |= p
                natural |= n
        if object_type == "registry.household" and object_id:
            natural.add(object_id)
            if object_id.isdigit():
                pks.add(int(object_id))
        elif object_type == "registry.person" and object_id:
            person_refs.add(object_id)
    ids: set[str] = set()
    for part in _chunks(pks):
        ids |= set(Household.objects.filter(pk__in=part).values_list("household_id", flat=True))
    for part in _chunks(natural):
        ids |= set(
            Household.objects.filter(household_id__in=part).values_list("household_id", flat=True)
        )
    for part in _chunks(person_refs):
        numeric = {int(r) for r in part if r.isdigit()}
        ids |= set(
            Person.objects.filter(Q(pk__in=numeric) | Q(id_number__in=part)).values_list(
                "household__household_id", flat=True
            )
        )
    return ids


def _chunks(values: Iterable, size: int = 900) -> Iterable[list]:
    items = sorted(values, key=str)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def active_batches() -> list[dict]:
    """The feed batch catalogue: active batches with their kind and last linkage time."""
    try:
        from safetynet.feeds.models import FeedBatch
    except ImportError:
        return []
    if not _has_table(FeedBatch):
        return []
    return [
        {"batch_id": b, "kind": k, "linked_at": la.isoformat() if la else ""}
        for b, k, la in FeedBatch.objects.filter(status="active")
        .order_by("batch_id")
        .values_list("batch_id", "kind", "linked_at")
    ]


def changed_batches(base: list, now: list[dict], since) -> dict[str, str]:
    """batch_id → kind of every batch loaded, withdrawn or re-linked since the base run."""
    base_ids = {b["batch_id"] if isinstance(b, dict) else b for b in base}
    now_ids = {b["batch_id"] for b in now}
    changed = {b["batch_id"]: b["kind"] for b in now if b["batch_id"] not in base_ids}
    since_iso = since.isoformat()
    for b in now:
        if b["linked_at"] and b["linked_at"] >= since_iso:
            changed[b["batch_id"]] = b["kind"]
    gone = base_ids - now_ids
    if gone:
        from safetynet.feeds.models import FeedBatch

        changed.update(
            dict(FeedBatch.objects.filter(batch_id__in=gone).values_list("batch_id", "kind"))
        )
    return changed


def feed_households(batches: dict[str, str], since) -> dict[str, set[str]]:
    """kind → registry households whose linked records may differ because of these batches
    or of link decisions since `since`.

    A record of a changed batch may supersede an older version of the same record (same record
    id) linked to another household, so every household that any version of those records
    links to is included.
    """
    from safetynet.feeds import lake
    from safetynet.feeds.models import FeedBatch, LinkDecision

    record_ids: dict[str, set[str]] = {}
    households: dict[str, set[str]] = {}
    for batch_id, kind in batches.items():
        path = lake.part_file(lake.records_dir(kind, batch_id))
        record_ids.setdefault(kind, set())
        if not path.exists():
            continue
        names = pq.read_schema(path).names
        cols = [c for c in ("record_id", "household_id") if c in names]
        table = pq.read_table(path, columns=cols)
        for col, target in (("record_id", record_ids), ("household_id", households)):
            if col in cols:
                values = pc.unique(table.column(col)).to_pylist()
                target.setdefault(kind, set()).update(v for v in values if v)
    if _has_table(LinkDecision):
        decided = LinkDecision.objects.filter(decided_at__gte=since).values_list(
            "kind", "record_id", "household_id"
        )
        for kind, record_id, household_id in decided:
            record_ids.setdefault(kind, set()).add(record_id)
            if household_id:
                households.setdefault(kind, set()).add(household_id)
    con = duckdb.connect()
    try:
        for kind, ids in record_ids.items():
            if not ids:
                continue
            all_batches = FeedBatch.objects.filter(kind=kind).values_list("batch_id", flat=True)
            links = [lake.part_file(lake.links_dir(kind, b)) for b in all_batches]
            links = [str(p) for p in links if p.exists()]
            if not links:
                continue
            con.register("changed_ids", pa.table({"record_id": pa.array(sorted(ids), pa.string())}))
            found = con.execute(
                "SELECT DISTINCT household_id FROM read_parquet(?, union_by_name = true) "
                "WHERE household_id IS NOT NULL "
                "AND record_id IN (SELECT record_id FROM changed_ids)",
                [links],
            ).fetchall()
            con.unregister("changed_ids")
            households.setdefault(kind, set()).update(r[0] for r in found)
    finally:
        con.close()
    return households


def _decisions_exist() -> bool:
    try:
        from safetynet.feeds.models import LinkDecision
    except ImportError:
        return False
    return _has_table(LinkDecision) and LinkDecision.objects.exists()


def county_households(county_codes: set[str], area_codes: Sequence[str]) -> set[str]:
    if not county_codes:
        return set()
    q = _scope_q(sorted(county_codes), "village__code")
    scope = _scope_q(area_codes, "village__code")
    return set(Household.objects.filter(q).filter(scope).values_list("household_id", flat=True))


def monitored_changes(base_households: pa.Table, monitored: set[str]) -> set[str]:
    """Households whose `already_monitored` differs from the base run's."""
    ids = base_households.column("household_id")
    monitored_ids = pa.array(sorted(monitored), pa.string())
    before = pc.fill_null(base_households.column("already_monitored"), False)
    now = pc.is_in(ids, value_set=monitored_ids)
    differ = pc.not_equal(before, now)
    changed = set(ids.filter(differ).to_pylist())
    unseen = monitored_ids.filter(
        pc.invert(pc.is_in(monitored_ids, value_set=ids.combine_chunks()))
    )
    return changed | set(unseen.to_pylist())


def detect_changes(
    *,
    since,
    area_codes: Sequence[str],
    base_batches: list,
    batches_now: list[dict],
    base_households: pa.Table,
    monitored: set[str],
) -> Changes:
    changes = Changes()
    for reason, ids in registry_changes(since, area_codes).items():
        changes.add(f"registry.{reason}", ids)
    batches = changed_batches(base_batches, batches_now, since)
    by_kind = feed_households(batches, since) if (batches or _decisions_exist()) else {}
    for kind, ids in sorted(by_kind.items()):
        changes.add(f"feeds.{kind}", ids)
    county_wide = set().union(*(ids for k, ids in by_kind.items() if k in COUNTY_WIDE_KINDS))
    if county_wide:
        counties = set()
        for part in _chunks(county_wide):
            villages = Household.objects.filter(household_id__in=part).values_list(
                "village_id", flat=True
            )
            counties |= {v[:6] for v in villages}
        changes.add("feeds.county_wide", county_households(counties, area_codes))
    changes.add("monitoring", monitored_changes(base_households, monitored))
    return changes
