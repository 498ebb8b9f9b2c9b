"""Writes of department feeds: load, withdraw, link, and reviewers' decisions.

Every service takes `actor=` (a User, or None for the command line), runs in one transaction
and writes an audit row. Lake files are written beside the transaction: records under a
temporary name renamed into place before the batch row commits; a failure removes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from safetynet.core import audit
from safetynet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from safetynet.core.models import AuditEvent

from . import lake, linkage, selectors, validation
from .model import TrainedModel
from .models import FeedBatch, LinkDecision
from .schemas import get_kind, resolve_kinds

log = logging.getLogger(__name__)

Progress = Callable[[str], None] | None

BATCH_FIELDS = [
    "kind",
    "department",
    "file_name",
    "file_hash",
    "rows_total",
    "rows_loaded",
    "rows_rejected",
    "status",
]


@dataclass
class LoadResult:
    batch: FeedBatch
    created: bool
    reject_path: Path | None = None
    link: linkage.LinkResult | None = None

    @property
    def message(self) -> tuple[str, str]:
        b = self.batch
        if not self.created:
            state = "已撤回" if not b.is_active else "已载入"
            when = timezone.localtime(b.loaded_at)
            return (
                f"批次 {b.batch_id[:12]} 此前{state}（{when:%Y-%m-%d %H:%M}），未做任何更改",
                f"batch {b.batch_id[:12]} was already loaded ({b.status}, "
                f"{when:%Y-%m-%d %H:%M}); nothing changed",
            )
        return (
            f"已载入 {b.kind} 批次 {b.batch_id[:12]}：{b.rows_loaded} 行有效，"
            f"{b.rows_rejected} 行退回",
            f"loaded {b.kind} batch {b.batch_id[:12]}: {b.rows_loaded} rows valid, "
            f"{b.rows_rejected} rejected",
        )


def _actor_user(actor):
    return actor if getattr(actor, "pk", None) else None


def feed_load(
    *,
    actor,
    kind: str,
    path: Path | str,
    department: str | None = None,
    batch_id: str | None = None,
    link: bool = True,
    backend: str = "duckdb",
    registry: linkage.RegistryTables | None = None,
    progress: Progress = None,
) -> LoadResult:
    """Validate a department file and store its valid rows as one batch in the lake.

    Loading the same batch again (same file, or same given batch id and file) changes nothing.
    A given batch id already used for a different file is a conflict. Invalid rows go to a
    reject file with the reason in Chinese and English; a malformed file stores nothing.
    """
    feed_kind = get_kind(kind)
    path = Path(path)
    if progress:
        progress("check")
    source = lake.inspect_file(path, feed_kind)
    file_hash = lake.file_sha256(path)
    batch_id = lake.check_batch_id(batch_id) if batch_id else file_hash
    department = (department or feed_kind.department).strip()
    if not department:
        raise ValidationFailed("部门名称不能为空", "department must not be empty")
    existing = FeedBatch.objects.filter(batch_id=batch_id).first()
    if existing is not None:
        return _already_loaded(existing, kind=kind, file_hash=file_hash)

    con = lake.connect()
    final = lake.records_dir(kind, batch_id)
    tmp = lake.temp_sibling(final)
    reject_file = lake.rejects_path(kind, batch_id)
    moved = False
    try:
        if progress:
            progress("read")
        lake.stage(con, source)
        if progress:
            progress("validate")
        result = validation.validate(con, feed_kind, set(source.columns))
        loaded_at = timezone.now()
        if progress:
            progress("write")
        tmp.mkdir(parents=True)
        cols = ", ".join(lake.ident(c.name) for c in feed_kind.all_columns)
        con.execute(
            f"""
            COPY (
                SELECT {cols}, _row AS source_row,
                       {lake.sql_str(batch_id)} AS batch_id,
                       {lake.sql_str(department)} AS department,
                       CAST({lake.sql_str(loaded_at.isoformat())} AS TIMESTAMPTZ) AS loaded_at
                FROM feed_valid ORDER BY _row
            ) TO {lake.sql_str(lake.part_file(tmp))} (FORMAT parquet, COMPRESSION zstd)
            """
        )
        if result.rows_rejected:
            reject_file.parent.mkdir(parents=True, exist_ok=True)
            header_names = dict(zip(source.columns, source.header, strict=True))
            rename = ", ".join(
                f"{lake.ident(c)} AS {lake.ident(header_names[c])}" for c in source.columns
            )
            con.execute(
                f"""
                COPY (SELECT "row", {rename}, reason_zh, reason_en FROM feed_rejected
                      ORDER BY "row")
                TO {lake.sql_str(reject_file)} (FORMAT csv, HEADER true)
                """
            )
        with transaction.atomic():
            batch = FeedBatch.objects.create(
                batch_id=batch_id,
                kind=kind,
                department=department,
                file_name=path.name[:255],
                file_hash=file_hash,
                file_format=source.format,
                rows_total=result.rows_total,
                rows_loaded=result.rows_valid,
                rows_rejected=result.rows_rejected,
                reject_path=str(reject_file) if result.rows_rejected else "",
                loaded_by=_actor_user(actor),
                loaded_by_label=audit.actor_label(actor),
                loaded_at=loaded_at,
            )
            audit.record(
                actor=actor,
                action="feed_load",
                obj=batch,
                after=audit.snapshot(batch, BATCH_FIELDS),
            )
            lake.replace_dir(tmp, final)
            moved = True
    except IntegrityError:
        lake.remove(tmp)
        existing = FeedBatch.objects.filter(batch_id=batch_id).first()
        if existing is None:
            raise
        return _already_loaded(existing, kind=kind, file_hash=file_hash)
    except BaseException:
        lake.remove(tmp)
        if moved:
            lake.remove(final)
        if not FeedBatch.objects.filter(batch_id=batch_id).exists():
            lake.remove(reject_file)
        raise
    finally:
        con.close()
    out = LoadResult(batch, True, reject_file if result.rows_rejected else None)
    if link and batch.rows_loaded:
        out.link = feed_link(
            actor=actor,
            batch_ids=[batch.batch_id],
            backend=backend,
            registry=registry,
            progress=progress,
        )
        batch.refresh_from_db()
    return out


def _already_loaded(existing: FeedBatch, *, kind: str, file_hash: str) -> LoadResult:
    if existing.file_hash != file_hash or existing.kind != kind:
        raise Conflict(
            f"批次编号 {existing.batch_id} 已用于另一个文件（{existing.kind}，{existing.file_name}）",
            f"batch id {existing.batch_id} is already used by another file "
            f"({existing.kind}, {existing.file_name})",
        )
    return LoadResult(existing, False)


def batch_withdraw(*, actor, batch_id: str, reason: str) -> FeedBatch:
    """Withdraw a batch: its records stay in the lake but stop counting everywhere."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("撤回批次必须说明原因", "a reason is required to withdraw a batch")
    with transaction.atomic():
        batch = _get_batch(batch_id, lock=True)
        if not batch.is_active:
            when = timezone.localtime(batch.withdrawn_at)
            raise Conflict(
                f"批次 {batch.batch_id[:12]} 已于 {when:%Y-%m-%d %H:%M} 撤回",
                f"batch {batch.batch_id[:12]} was already withdrawn on {when:%Y-%m-%d %H:%M}",
            )
        before = audit.snapshot(batch, ["status", "withdraw_reason"])
        batch.status = FeedBatch.Status.WITHDRAWN
        batch.withdrawn_at = timezone.now()
        batch.withdrawn_by_label = audit.actor_label(actor)
        batch.withdraw_reason = reason
        batch.version += 1
        batch.save()
        audit.record(
            actor=actor,
            action="feed_withdraw",
            obj=batch,
            before=before,
            after=audit.snapshot(batch, ["status", "withdraw_reason"]),
            note=reason,
        )
    return batch


def _get_batch(batch_id: str, *, lock: bool = False) -> FeedBatch:
    qs = FeedBatch.objects.select_for_update() if lock else FeedBatch.objects.all()
    batch = qs.filter(batch_id=batch_id).first()
    if batch is None and batch_id and len(batch_id) >= 6:
        matches = list(qs.filter(batch_id__startswith=batch_id)[:2])
        if len(matches) == 1:
            batch = matches[0]
    if batch is None:
        raise NotFound(f"找不到批次 {batch_id}", f"no batch {batch_id}")
    return batch


def feed_link(
    *,
    actor,
    kinds: list[str] | None = None,
    batch_ids: list[str] | None = None,
    backend: str = "duckdb",
    registry: linkage.RegistryTables | None = None,
    progress: Progress = None,
) -> linkage.LinkResult:
    """(Re-)link active batches to the registry as it is now; re-runnable at any time."""
    chosen = [k.name for k in resolve_kinds(kinds)]
    batches = selectors.active_batches(chosen)
    if batch_ids is not None:
        batches = [b for b in batches if b.batch_id in set(batch_ids)]
    batches = [b for b in batches if b.rows_loaded]
    if not batches:
        return linkage.LinkResult()
    refs = [
        linkage.BatchRef(
            b.kind, b.batch_id, b.department, lake.part_file(lake.records_dir(b.kind, b.batch_id))
        )
        for b in batches
    ]
    missing = [r for r in refs if not r.path.exists()]
    if missing:
        raise NotFound(
            f"湖中缺少批次文件：{', '.join(str(r.path) for r in missing)}",
            f"batch files missing from the lake: {', '.join(str(r.path) for r in missing)}",
        )
    if progress:
        progress("registry")
    registry = registry or linkage.read_registry()
    model_file = lake.feeds_root() / "model" / "latest.json"
    previous = None
    if model_file.exists():
        try:
            previous = TrainedModel.from_json(model_file.read_text(encoding="utf-8"))
        except (ValueError, KeyError):
            log.warning("ignoring unreadable linkage model %s", model_file)
    # One kind at a time: bounded memory however many batches are active, and each kind's
    # exact matches train the model its own records are scored with.
    result = linkage.LinkResult()
    for kind in sorted({r.kind for r in refs}):
        part = linkage.link(
            [r for r in refs if r.kind == kind],
            registry=registry,
            decisions=selectors.decisions_table([kind]),
            backend=backend,
            accept=settings.LINKAGE_ACCEPT_THRESHOLD,
            review=settings.LINKAGE_REVIEW_THRESHOLD,
            progress=progress,
            previous_model=previous,
        )
        result.counts.update(part.counts)
        result.records += part.records
        for step, seconds in part.timings.items():
            result.timings[step] = result.timings.get(step, 0.0) + seconds
        if part.model is not None:
            result.model = part.model
            if part.model.source == "trained":
                previous = part.model
                # Kept for batches that bring too few exact ID matches to train on, and for
                # people who want to see the m/u parameters behind the scores.
                model_file.parent.mkdir(parents=True, exist_ok=True)
                model_file.write_text(part.model.to_json(), encoding="utf-8")
    now = timezone.now()
    with transaction.atomic():
        events = []
        for batch in FeedBatch.objects.select_for_update().filter(
            batch_id__in=[b.batch_id for b in batches]
        ):
            counts = result.counts.get(batch.batch_id, {})
            before = audit.snapshot(batch, LINK_FIELDS)
            batch.linked_at = now
            batch.links_exact = counts.get("exact", 0) + counts.get("manual", 0)
            batch.links_typo = counts.get("typo", 0)
            batch.links_probabilistic = counts.get("probabilistic", 0)
            batch.links_household = counts.get("household", 0)
            batch.links_review = counts.get("review", 0)
            batch.links_unlinked = counts.get("unlinked", 0)
            batch.save(update_fields=[*LINK_FIELDS, "linked_at"])
            before, after = audit.diff(before, audit.snapshot(batch, LINK_FIELDS))
            events.append(
                AuditEvent(
                    actor=_actor_user(actor),
                    actor_label=audit.actor_label(actor),
                    action="feed_link",
                    object_type=batch._meta.label_lower,
                    object_id=batch.batch_id,
                    before=before,
                    after={
                        **after,
                        "backend": backend,
                        "model": result.model.source if result.model else None,
                    },
                )
            )
        audit.bulk_record(events)
    return result


LINK_FIELDS = [
    "links_exact",
    "links_typo",
    "links_probabilistic",
    "links_household",
    "links_review",
    "links_unlinked",
]


def _decide(
    *,
    actor,
    decision: str,
    kind: str,
    record_id: str,
    department: str | None,
    id_number: str | None,
    note: str,
) -> LinkDecision:
    from safetynet.areas.scope import in_scope
    from safetynet.registry.models import Person

    get_kind(kind)
    current = selectors.record_link(kind, record_id, department)
    if current is None:
        raise NotFound(
            f"找不到 {kind} 记录 {record_id}（或其批次已撤回、尚未比对）",
            f"no {kind} record {record_id} (or its batch is withdrawn or not linked yet)",
        )
    department = current["department"]
    if not id_number:
        id_number = current["id_number"] or next(
            (c["id_number"] for c in (current["candidates"] or [])), None
        )
    if not id_number:
        raise ValidationFailed(
            f"记录 {record_id} 没有候选人员，请指定身份证号",
            f"record {record_id} has no candidate person; give an ID number",
        )
    from safetynet.core import idnumber

    id_number = idnumber.normalize(id_number) or id_number
    person = Person.objects.select_related("household").filter(id_number=id_number).first()
    if person is None:
        raise NotFound(
            f"户籍库中没有身份证号为 {id_number} 的人员", f"no registry person {id_number}"
        )
    village = person.household.village_id
    if actor is not None and getattr(actor, "pk", None) and not in_scope(actor, village):
        raise PermissionDenied("该人员不在您的管辖范围内", "this person is outside your area")
    now = timezone.now()
    with transaction.atomic():
        row = (
            LinkDecision.objects.select_for_update()
            .filter(kind=kind, department=department, record_id=record_id, id_number=id_number)
            .first()
        )
        before = audit.snapshot(row, DECISION_FIELDS) if row else None
        values = {
            "household_id": person.household.household_id,
            "village_code": village,
            "decision": decision,
            "method": current.get("method") or "",
            "score": current.get("score"),
            "note": note,
            "decided_by": _actor_user(actor),
            "decided_by_label": audit.actor_label(actor),
            "decided_at": now,
        }
        if row is None:
            row = LinkDecision.objects.create(
                kind=kind,
                department=department,
                record_id=record_id,
                id_number=id_number,
                **values,
            )
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.version += 1
            row.save()
        audit.record(
            actor=actor,
            action=f"feed_link_{decision}",
            obj=row,
            area_code=village,
            before=before,
            after=audit.snapshot(row, DECISION_FIELDS),
            note=note,
        )
        if decision == LinkDecision.Decision.CONFIRM:
            # Confirming one person is rejecting any other confirmed before for this record.
            for other in (
                LinkDecision.objects.select_for_update()
                .filter(
                    kind=kind,
                    department=department,
                    record_id=record_id,
                    decision=LinkDecision.Decision.CONFIRM,
                )
                .exclude(pk=row.pk)
            ):
                prior = audit.snapshot(other, DECISION_FIELDS)
                other.decision = LinkDecision.Decision.REJECT
                other.decided_at = now
                other.version += 1
                other.save()
                audit.record(
                    actor=actor,
                    action="feed_link_reject",
                    obj=other,
                    area_code=other.village_code,
                    before=prior,
                    after=audit.snapshot(other, DECISION_FIELDS),
                    note="superseded by a later confirmation",
                )
    return row


DECISION_FIELDS = [
    "kind",
    "department",
    "record_id",
    "id_number",
    "household_id",
    "decision",
    "method",
    "score",
    "note",
]


def link_confirm(
    *,
    actor,
    kind: str,
    record_id: str,
    department: str | None = None,
    id_number: str | None = None,
    note: str = "",
) -> LinkDecision:
    """Confirm that a record belongs to a person (the proposed candidate unless given)."""
    return _decide(
        actor=actor,
        decision=LinkDecision.Decision.CONFIRM,
        kind=kind,
        record_id=record_id,
        department=department,
        id_number=id_number,
        note=note,
    )


def link_reject(
    *,
    actor,
    kind: str,
    record_id: str,
    department: str | None = None,
    id_number: str | None = None,
    note: str = "",
) -> LinkDecision:
    """Reject a proposed link: that person is never linked to this record again."""
    return _decide(
        actor=actor,
        decision=LinkDecision.Decision.REJECT,
        kind=kind,
        record_id=record_id,
        department=department,
        id_number=id_number,
        note=note,
    )


def review_unmask_audit(*, actor, items: list[dict], kind: str | None) -> None:
    """An unmasked review listing is a view of personal data: audit it."""
    audit.record(
        actor=actor,
        action="view_unmasked",
        object_type="feeds.review",
        object_id=kind or "all",
        after={"records": [f"{i['kind']}/{i['record_id']}" for i in items][:500]},
        note="feed review --unmask",
    )
