"""Writes of rectification work: assign a quality finding, record what was done, and let the
next screening run verify it. Each call: keyword-only, `actor=`, one transaction, an audit row,
optimistic `version` on the rectification."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from safetynet.areas.scope import in_scope
from safetynet.core import audit
from safetynet.core.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from safetynet.core.models import AuditEvent

from .models import Rectification, RectificationEvent

ASSIGNERS = frozenset({"township", "county"})
WORKERS = frozenset({"village", "township", "county"})


def _check_finding(actor, finding) -> None:
    if finding.kind != "quality":
        raise ValidationFailed("只能整改数据质量问题", "only data-quality findings are rectified")
    if actor is None or not in_scope(actor, finding.village_code):
        raise PermissionDenied("该问题不在您的管辖范围内", "this finding is outside your area")


def _event(rect: Rectification, *, action: str, from_state: str, actor, data: dict):
    RectificationEvent.objects.create(
        rectification=rect,
        action=action,
        from_state=from_state,
        to_state=rect.state,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=audit.actor_label(actor),
        data=data,
    )


def _locked(rect_pk: int, expected_version) -> Rectification:
    rect = Rectification.objects.select_for_update().get(pk=rect_pk)
    if expected_version is None or int(expected_version) != rect.version:
        raise Conflict(
            f"该整改记录已被他人修改（当前第 {rect.version} 版），请刷新后重试",
            f"the rectification was changed by someone else (now version {rect.version}); "
            "reload and try again",
            current_version=rect.version,
        )
    return rect


def finding_assign(
    *,
    actor,
    finding,
    assignee,
    expected_version: int | None = None,
    due_on: dt.date | None = None,
    note: str = "",
) -> Rectification:
    """Assign a quality finding to a user who can see it. `expected_version` is the
    rectification's version when re-assigning (None for the first assignment)."""
    if getattr(actor, "role", None) not in ASSIGNERS:
        raise PermissionDenied(
            "只有乡镇或县级干部可以分派整改", "only township or county officers assign"
        )
    _check_finding(actor, finding)
    if (
        assignee is None
        or not assignee.is_active
        or assignee.role not in WORKERS
        or not in_scope(assignee, finding.village_code)
        or not in_scope(actor, assignee.area_id or "")
    ):
        raise ValidationFailed(
            "整改责任人须是您辖区内、能看到该户的村、乡镇或县级干部",
            "the assignee must be an active village, township or county user of your area "
            "who can see this household",
        )
    with transaction.atomic():
        existing = Rectification.objects.filter(finding=finding).first()
        if existing is None:
            if expected_version not in (None, 0):
                raise Conflict("整改记录不存在或已变化", "the rectification changed; reload")
            rect = Rectification.objects.create(
                finding=finding,
                state="assigned",
                assignee=assignee,
                assigned_by=actor,
                assigned_at=timezone.now(),
                due_on=due_on,
            )
            before, from_state = {}, ""
        else:
            rect = _locked(existing.pk, expected_version)
            if rect.state == "verified":
                raise TransitionNotAllowed("该问题已销号", "the finding is already verified")
            before, from_state = audit.snapshot(rect), rect.state
            rect.state = "assigned" if rect.state != "reopened" else "reopened"
            rect.assignee = assignee
            rect.assigned_by = actor
            rect.assigned_at = timezone.now()
            rect.due_on = due_on
            rect.version += 1
            rect.save()
        data = {"assignee": assignee.username, "due_on": due_on.isoformat() if due_on else None,
                "note": note.strip()}  # fmt: skip
        _event(rect, action="assign", from_state=from_state, actor=actor, data=data)
        audit.record(
            actor=actor,
            action="quality.assign",
            obj=rect,
            area_code=finding.village_code,
            before=before or None,
            after={**audit.diff(before, audit.snapshot(rect))[1], **data},
        )
        return rect


def finding_rectify(
    *,
    actor,
    rectification: Rectification,
    expected_version: int,
    action_taken: str,
    rectified_on: dt.date | None = None,
    today: dt.date | None = None,
) -> Rectification:
    """Record what was done to fix the finding; the next screening run verifies it."""
    today = today or timezone.localdate()
    finding = rectification.finding
    _check_finding(actor, finding)
    is_assignee = actor.pk == rectification.assignee_id
    if not is_assignee and actor.role not in ASSIGNERS:
        raise PermissionDenied(
            "只有整改责任人或乡镇、县级干部可以登记整改",
            "only the assignee or an officer records it",
        )
    action_taken = (action_taken or "").strip()
    if not action_taken:
        raise ValidationFailed("请填写整改情况", "describe what was done")
    rectified_on = rectified_on or today
    if rectified_on > today:
        raise ValidationFailed(
            "整改日期不能晚于今天", "the rectification date cannot be in the future"
        )
    with transaction.atomic():
        rect = _locked(rectification.pk, expected_version)
        if rect.state not in ("assigned", "reopened"):
            raise TransitionNotAllowed(
                "该问题已整改或已销号", "the finding is already rectified or verified"
            )
        before, from_state = audit.snapshot(rect), rect.state
        rect.state = "rectified"
        rect.action_taken = action_taken
        rect.rectified_by = actor
        rect.rectified_on = rectified_on
        rect.rectified_at = timezone.now()
        rect.version += 1
        rect.save()
        data = {"action_taken": action_taken, "rectified_on": rectified_on.isoformat()}
        _event(rect, action="rectify", from_state=from_state, actor=actor, data=data)
        changed_before, changed_after = audit.diff(before, audit.snapshot(rect))
        audit.record(
            actor=actor,
            action="quality.rectify",
            obj=rect,
            area_code=finding.village_code,
            before=changed_before,
            after=changed_after,
        )
        return rect


def rectifications_verify(*, run) -> dict[str, int]:
    """Let a finished screening run judge the rectifications (call it at the end of a run).

    A rectification whose finding this run resolved is verified (销号). One recorded as rectified
    before the run started whose finding the run still raises is reopened. Set-based: two
    UPDATEs and bulk inserts of history and audit rows.
    """
    started = run.started_at or run.created_at
    with transaction.atomic():
        resolved = Rectification.objects.filter(
            finding__resolved_run=run, finding__state="resolved"
        ).exclude(state="verified")
        from safetynet.screening.models import raised_by_q

        still = Rectification.objects.filter(
            raised_by_q(run, "finding__"), state="rectified", finding__state="open"
        )
        if started is not None:
            still = still.filter(rectified_at__lte=started)
        to_verify = list(resolved.select_related("finding"))
        to_reopen = list(still.select_related("finding"))
        if to_verify:
            Rectification.objects.filter(pk__in=[r.pk for r in to_verify]).update(
                state="verified", verified_run=run, version=F("version") + 1,
                updated_at=timezone.now(),
            )  # fmt: skip
        if to_reopen:
            Rectification.objects.filter(pk__in=[r.pk for r in to_reopen]).update(
                state="reopened", reopened_count=F("reopened_count") + 1,
                version=F("version") + 1, updated_at=timezone.now(),
            )  # fmt: skip
        label = audit.actor_label(None)
        events, audits = [], []
        for rects, to_state, action in (
            (to_verify, "verified", "verify"),
            (to_reopen, "reopened", "reopen"),
        ):
            for r in rects:
                data = {"run": run.pk, "as_of": run.as_of.isoformat()}
                events.append(
                    RectificationEvent(rectification=r, action=action, from_state=r.state,
                                       to_state=to_state, actor_label="screen", data=data)
                )  # fmt: skip
                audits.append(
                    AuditEvent(actor=None, actor_label=label, action=f"quality.{action}",
                               object_type="quality.rectification", object_id=str(r.pk),
                               area_code=r.finding.village_code,
                               before={"state": r.state}, after={"state": to_state, **data})
                )  # fmt: skip
        RectificationEvent.objects.bulk_create(events, batch_size=2000)
        audit.bulk_record(audits)
        return {"verified": len(to_verify), "reopened": len(to_reopen)}
