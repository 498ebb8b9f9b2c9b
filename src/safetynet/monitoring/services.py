"""Writes of monitoring case work. Every transition of a case is one call here:

- keyword-only arguments, `actor=` (the signed-in user), `expected_version=` (the version the
  user saw; a mismatch raises `Conflict`), and `today=` (defaults to the local date; tests and
  back-dated records pass it);
- one `transaction.atomic`, the case row locked, the version bumped, a timeline `CaseEvent`
  holding the form data, and an audit row (before/after);
- illegal transitions raise `TransitionNotAllowed`, bad input `ValidationFailed`, a user acting
  outside their role or area `PermissionDenied` — each with a Chinese and an English message.

The procedure (POLICY §1): clue → home verification → village appraisal and notice → township
review → county decision → measures and follow-ups → elimination (verification, notice,
township, county again), or closure as a false alarm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from safetynet.areas.scope import in_scope
from safetynet.core import audit
from safetynet.core.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from safetynet.core.models import AuditEvent

from . import elimination, params, vocab
from .models import Case, CaseEvent, CaseFinding, FollowUp, Measure, Notice, Verification

VILLAGE, TOWNSHIP, COUNTY = "village", "township", "county"

# action → (Chinese, English, roles allowed, states it may start from)
ACTIONS: dict[str, tuple[str, str, frozenset[str], tuple[str, ...]]] = {
    "open": ("登记线索", "Record a clue", frozenset({VILLAGE, TOWNSHIP, COUNTY}), ()),
    "dispatch": ("派发预警", "Dispatch a warning", frozenset({TOWNSHIP, COUNTY}), ()),
    "verify": ("入户核实", "Home verification", frozenset({VILLAGE}), (vocab.CLUE,)),
    "publish_notice": (
        "民主评议和公示",
        "Village appraisal and notice",
        frozenset({VILLAGE}),
        (vocab.VERIFIED, vocab.ELIM_VERIFIED),
    ),
    "review": (
        "乡镇审核",
        "Township review",
        frozenset({TOWNSHIP}),
        (vocab.IN_NOTICE, vocab.ELIM_IN_NOTICE),
    ),
    "decide": ("县级认定", "County decision", frozenset({COUNTY}), (vocab.REVIEWED,)),
    "close": (
        "关闭（误报）",
        "Close as a false alarm",
        frozenset({TOWNSHIP, COUNTY}),
        vocab.IDENTIFICATION_STATES,
    ),
    "plan_measures": (
        "制定帮扶措施",
        "Plan assistance measures",
        frozenset({VILLAGE, TOWNSHIP, COUNTY}),
        vocab.MONITORING_STATES,
    ),
    "deliver_measure": (
        "落实帮扶措施",
        "Record a delivered measure",
        frozenset({VILLAGE, TOWNSHIP, COUNTY}),
        vocab.MONITORING_STATES,
    ),
    "follow_up": (
        "跟踪回访",
        "Follow-up visit",
        frozenset({VILLAGE, TOWNSHIP}),
        vocab.MONITORING_STATES,
    ),
    "propose_elimination": (
        "风险消除入户核实",
        "Elimination home verification",
        frozenset({VILLAGE}),
        (vocab.MONITORED,),
    ),
    "eliminate": (
        "县级确认风险消除",
        "County elimination decision",
        frozenset({COUNTY}),
        (vocab.ELIM_REVIEWED,),
    ),
}


def action_words(action: str) -> tuple[str, str]:
    zh, en, _roles, _states = ACTIONS[action]
    return zh, en


def role_may(user, action: str) -> bool:
    return getattr(user, "role", None) in ACTIONS[action][2]


def state_allows(state: str, action: str) -> bool:
    return state in ACTIONS[action][3]


# ---- helpers ---------------------------------------------------------------------------------


def _today(today: dt.date | None) -> dt.date:
    return today or timezone.localdate()


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json(v) for v in value]
    return value


def _require_role(actor, action: str) -> None:
    zh, en = action_words(action)
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(f"「{zh}」需要登录用户", f"'{en}' needs a signed-in user")
    if not role_may(actor, action):
        role = getattr(actor, "role", "")
        raise PermissionDenied(
            f"您的角色（{role}）不能执行「{zh}」", f"your role ({role}) may not perform '{en}'"
        )


def _require_scope(actor, village_code: str) -> None:
    if not in_scope(actor, village_code):
        raise PermissionDenied("该户不在您的管辖范围内", "this household is outside your area")


def _locked(*, actor, case: Case, expected_version: int, action: str) -> Case:
    """The case row, locked, after the role, scope, version and state checks."""
    _require_role(actor, action)
    try:
        locked = (
            Case.objects.select_for_update(of=("self",)).select_related("household").get(pk=case.pk)
        )
    except Case.DoesNotExist as exc:
        raise ValidationFailed("案件不存在", "no such case") from exc
    _require_scope(actor, locked.household.village_id)
    if expected_version is None or int(expected_version) != locked.version:
        raise Conflict(
            f"案件 #{locked.pk} 已被他人修改（当前第 {locked.version} 版），请刷新后重试",
            f"case #{locked.pk} was changed by someone else (now version {locked.version}); "
            "reload and try again",
            current_version=locked.version,
        )
    if not state_allows(locked.state, action):
        zh, en = action_words(action)
        szh, sen = vocab.words(vocab.STATES, locked.state)
        raise TransitionNotAllowed(
            f"案件当前为「{szh}」，不能执行「{zh}」",
            f"'{en}' is not allowed while the case is '{sen}'",
            state=locked.state,
            action=action,
        )
    return locked


def _commit(
    *,
    actor,
    case: Case,
    action: str,
    from_state: str,
    before: dict,
    on_date: dt.date,
    data: Mapping[str, Any],
) -> Case:
    case.version += 1
    case.save()
    data = _json(dict(data))
    CaseEvent.objects.create(
        case=case,
        action=action,
        from_state=from_state,
        to_state=case.state,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=audit.actor_label(actor),
        on_date=on_date,
        data=data,
    )
    changed_before, changed_after = audit.diff(before, audit.snapshot(case))
    audit.record(
        actor=actor,
        action=f"monitoring.{action}",
        obj=case,
        area_code=case.household.village_id,
        before=changed_before,
        after={**changed_after, "data": data},
    )
    return case


def _text(value: str | None, *, zh: str, en: str, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"请填写{zh}", f"{en} is required")
    return value


def _people(names: Iterable[str] | str, *, zh: str, en: str, minimum: int) -> list[str]:
    if isinstance(names, str):
        names = names.replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
    people = []
    for name in names:
        name = (name or "").strip()
        if name and name not in people:
            people.append(name)
    if len(people) < minimum:
        raise ValidationFailed(
            f"{zh}至少 {minimum} 人（现有 {len(people)} 人）",
            f"at least {minimum} {en} are needed (got {len(people)})",
        )
    return people


def _date(value, *, zh: str, en: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"{zh}不是有效日期：{value}", f"{en} is not a valid date: {value}"
        ) from exc


def _not_future(day: dt.date, today: dt.date, *, zh: str, en: str) -> None:
    if day > today:
        raise ValidationFailed(
            f"{zh}（{day:%Y-%m-%d}）不能晚于今天",
            f"{en} ({day.isoformat()}) cannot be in the future",
        )


def _money(value, *, zh: str, en: str) -> Decimal:
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(
            f"{zh}不是有效金额：{value}", f"{en} is not an amount: {value}"
        ) from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(f"{zh}不能为负数", f"{en} cannot be negative")
    return amount.quantize(Decimal("0.01"))


def household_labour_capable(household) -> bool:
    """At least one active member with normal or weak labour capacity."""
    return household.members.filter(status="active", labour__in=vocab.LABOUR_CAPABLE).exists()


# ---- opening cases ---------------------------------------------------------------------------


def _open_case_of(household) -> Case | None:
    return Case.objects.filter(household=household, state__in=vocab.OPEN_STATES).first()


def _new_case(*, actor, household, source: str, clue_date: dt.date, note: str, data: dict) -> Case:
    days = params.int_parameter("monitoring.identification_days", household.village_id, clue_date)
    case = Case.objects.create(
        household=household,
        source=source,
        state=vocab.CLUE,
        clue_date=clue_date,
        clue_note=note,
        identification_days=days,
        deadline=clue_date + dt.timedelta(days=days),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    CaseEvent.objects.create(
        case=case,
        action="open",
        from_state="",
        to_state=vocab.CLUE,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=audit.actor_label(actor),
        on_date=clue_date,
        data=_json({"source": source, "deadline": case.deadline, "note": note, **data}),
    )
    audit.record(
        actor=actor,
        action="monitoring.open",
        obj=case,
        area_code=household.village_id,
        after=audit.snapshot(case),
    )
    return case


def case_open(
    *,
    actor,
    household,
    source: str,
    clue_date: dt.date | str | None = None,
    note: str = "",
    today: dt.date | None = None,
) -> Case:
    """Record a clue: a self-report taken on the household's behalf, or a cadre's survey."""
    _require_role(actor, "open")
    today = _today(today)
    if source not in ("self_report", "cadre_survey"):
        raise ValidationFailed(
            "线索来源须为农户自主申报或基层干部排查（部门预警请从预警列表派发）",
            "the source must be a self-report or a cadre survey "
            "(department warnings are dispatched from the warning list)",
        )
    clue_date = _date(clue_date or today, zh="线索日期", en="clue date")
    _not_future(clue_date, today, zh="线索日期", en="the clue date")
    note = _text(note, zh="线索情况", en="a description of the clue")
    with transaction.atomic():
        household = type(household).objects.select_for_update().get(pk=household.pk)
        _require_scope(actor, household.village_id)
        existing = _open_case_of(household)
        if existing is not None:
            raise ValidationFailed(
                f"该户已有在办案件 #{existing.pk}",
                f"the household already has an open case #{existing.pk}",
                case_id=existing.pk,
            )
        return _new_case(
            actor=actor, household=household, source=source, clue_date=clue_date, note=note, data={}
        )


def warning_dispatch(
    *, actor, finding, note: str = "", today: dt.date | None = None
) -> tuple[Case, bool]:
    """Dispatch a screening warning to its village: opens a case (a department-warning clue).

    When the household already has an open case the warning is attached to it instead;
    returns (case, created).
    """
    _require_role(actor, "dispatch")
    today = _today(today)
    if finding.kind != "warning":
        raise ValidationFailed("只能派发监测预警", "only monitoring warnings can be dispatched")
    with transaction.atomic():
        household = type(finding.household).objects.select_for_update().get(pk=finding.household_id)
        _require_scope(actor, household.village_id)
        existing = _open_case_of(household)
        if existing is not None:
            link, made = CaseFinding.objects.get_or_create(
                case=existing, finding=finding, defaults={"run": finding.last_raised_run()}
            )
            if made:
                _event_attach(existing, [finding], actor=actor, on_date=today)
                audit.record(
                    actor=actor,
                    action="monitoring.attach_finding",
                    obj=existing,
                    area_code=household.village_id,
                    after={"finding": finding.pk, "rules": finding.rules},
                )
            return existing, False
        case = _new_case(
            actor=actor,
            household=household,
            source="department_warning",
            clue_date=today,
            note=note.strip() or "、".join(finding.rules),
            data={
                "note": note.strip(),
                "finding": finding.pk,
                "level": finding.level,
                "category": finding.category,
                "rules": finding.rules,
                "risk_types": finding.risk_types,
            },
        )
        CaseFinding.objects.create(case=case, finding=finding, run=finding.last_raised_run())
        return case, True


def _event_attach(case: Case, findings: Sequence, *, actor, on_date: dt.date) -> CaseEvent:
    return CaseEvent(
        case=case,
        action="attach_warning",
        from_state=case.state,
        to_state=case.state,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=audit.actor_label(actor) if actor is not None else "screen",
        on_date=on_date,
        data={
            "finding_ids": [f.pk for f in findings],
            "rules": sorted({r for f in findings for r in (f.rules or [])}),
            "levels": sorted({f.level for f in findings if f.level}),
        },
    )


def attach_screen_findings(*, run) -> int:
    """Attach the open warnings of `run` whose household has an open case to that case.

    Called by the screen at the end of a run: a household already being identified or
    monitored gets its new warnings on its case instead of a new clue. Set-based: a handful of
    queries whatever the number of warnings. Returns the number of new attachments.
    """
    from safetynet.screening.models import Finding

    with transaction.atomic():
        warnings = Finding.objects.raised_by(run).filter(kind="warning", state="open")
        open_cases = Case.objects.filter(state__in=vocab.OPEN_STATES)
        cases = {
            c.household_id: c
            for c in open_cases.filter(household_id__in=warnings.values("household_id")).only(
                "id", "household_id", "state"
            )
        }
        if not cases:
            return 0
        candidates = list(
            warnings.filter(household_id__in=open_cases.values("household_id")).only(
                "id", "household_id", "village_code", "rules", "level"
            )
        )
        linked = set(
            CaseFinding.objects.filter(
                finding__in=warnings.filter(household_id__in=open_cases.values("household_id"))
            ).values_list("case_id", "finding_id")
        )
        new_links: list[CaseFinding] = []
        by_case: dict[int, list] = {}
        for f in candidates:
            case = cases[f.household_id]
            if (case.pk, f.pk) in linked:
                continue
            new_links.append(CaseFinding(case_id=case.pk, finding_id=f.pk, run_id=run.pk))
            by_case.setdefault(case.pk, []).append(f)
        if not new_links:
            return 0
        CaseFinding.objects.bulk_create(new_links, batch_size=2000)
        case_by_pk = {c.pk: c for c in cases.values()}
        CaseEvent.objects.bulk_create(
            [
                _event_attach(case_by_pk[pk], found, actor=None, on_date=run.as_of)
                for pk, found in by_case.items()
            ],
            batch_size=2000,
        )
        label = audit.actor_label(None)
        audit.bulk_record(
            [
                AuditEvent(
                    actor=None,
                    actor_label=label,
                    action="monitoring.attach_finding",
                    object_type="monitoring.case",
                    object_id=str(pk),
                    area_code=found[0].village_code,
                    after={"run": run.pk, "findings": [f.pk for f in found]},
                )
                for pk, found in by_case.items()
            ]
        )
        return len(new_links)


# ---- identification --------------------------------------------------------------------------


def _verification(
    *,
    actor,
    case: Case,
    phase: str,
    today: dt.date,
    visit_date,
    investigators,
    findings: str,
    income_year: int,
    net_income,
    members_count: int,
    member_changes: str,
    household_confirmed: bool,
    not_before: dt.date,
) -> Verification:
    visit_date = _date(visit_date, zh="核实日期", en="visit date")
    _not_future(visit_date, today, zh="核实日期", en="the visit date")
    if visit_date < not_before:
        raise ValidationFailed(
            f"核实日期不能早于 {not_before:%Y-%m-%d}",
            f"the visit date cannot be before {not_before.isoformat()}",
        )
    people = _people(investigators, zh="核实人员", en="investigators", minimum=2)
    findings = _text(findings, zh="核实情况", en="the findings")
    try:
        income_year = int(income_year)
        members_count = int(members_count)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            "收入年度和人口数须为整数", "income year and members must be whole numbers"
        ) from exc
    if not 2000 <= income_year <= visit_date.year:
        raise ValidationFailed(
            f"收入年度 {income_year} 无效", f"income year {income_year} is not valid"
        )
    if members_count < 1:
        raise ValidationFailed(
            "共同生活人口至少 1 人", "at least one member must live in the household"
        )
    amount = _money(net_income, zh="家庭纯收入", en="household net income")
    if not household_confirmed:
        raise ValidationFailed(
            "核实结果须经农户签字确认", "the household must confirm the verification"
        )
    return Verification.objects.create(
        case=case,
        phase=phase,
        visit_date=visit_date,
        investigators=people,
        findings=findings,
        income_year=income_year,
        net_income=amount,
        members_count=members_count,
        member_changes=(member_changes or "").strip(),
        household_confirmed=True,
        recorded_by=actor,
    )


def _verification_data(v: Verification) -> dict:
    return {
        "verification": v.pk,
        "visit_date": v.visit_date,
        "investigators": v.investigators,
        "findings": v.findings,
        "income_year": v.income_year,
        "net_income": v.net_income,
        "members_count": v.members_count,
        "pc_net_income": v.pc_net_income,
        "member_changes": v.member_changes,
        "household_confirmed": v.household_confirmed,
    }


def case_verify(
    *,
    actor,
    case: Case,
    expected_version: int,
    visit_date,
    investigators,
    findings: str,
    income_year: int,
    net_income,
    members_count: int,
    member_changes: str = "",
    household_confirmed: bool,
    today: dt.date | None = None,
) -> Case:
    """Home verification (入户核实) by the village: ≥ 2 investigators, confirmed by the household."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(actor=actor, case=case, expected_version=expected_version, action="verify")
        before, from_state = audit.snapshot(case), case.state
        v = _verification(
            actor=actor,
            case=case,
            phase=vocab.IDENTIFICATION,
            today=today,
            visit_date=visit_date,
            investigators=investigators,
            findings=findings,
            income_year=income_year,
            net_income=net_income,
            members_count=members_count,
            member_changes=member_changes,
            household_confirmed=household_confirmed,
            not_before=case.clue_date,
        )
        case.state = vocab.VERIFIED
        return _commit(
            actor=actor,
            case=case,
            action="verify",
            from_state=from_state,
            before=before,
            on_date=v.visit_date,
            data=_verification_data(v),
        )


def case_publish_notice(
    *,
    actor,
    case: Case,
    expected_version: int,
    start,
    end,
    appraisal: str,
    today: dt.date | None = None,
) -> Case:
    """Village appraisal and public notice: at least notice_days, once per phase, village only."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(
            actor=actor, case=case, expected_version=expected_version, action="publish_notice"
        )
        before, from_state, phase = audit.snapshot(case), case.state, case.phase
        start = _date(start, zh="公示开始日期", en="notice start")
        end = _date(end, zh="公示结束日期", en="notice end")
        verification = case.verifications.filter(phase=phase).order_by("-id").first()
        if verification is not None and start < verification.visit_date:
            raise ValidationFailed(
                "公示不能早于入户核实", "the notice cannot start before the home verification"
            )
        if end < start:
            raise ValidationFailed("公示结束日期早于开始日期", "the notice ends before it starts")
        minimum = params.int_parameter("monitoring.notice_days", case.household.village_id, start)
        days = (end - start).days + 1
        if days < minimum:
            raise ValidationFailed(
                f"公示期 {days} 天，少于规定的 {minimum} 天",
                f"the notice runs {days} days, less than the required {minimum}",
                days=days,
                minimum=minimum,
            )
        appraisal = _text(appraisal, zh="民主评议意见", en="the village appraisal")
        notice = Notice.objects.create(
            case=case, phase=phase, start=start, end=end, appraisal=appraisal, published_by=actor
        )
        case.state = vocab.IN_NOTICE if phase == vocab.IDENTIFICATION else vocab.ELIM_IN_NOTICE
        return _commit(
            actor=actor,
            case=case,
            action="publish_notice",
            from_state=from_state,
            before=before,
            on_date=start,
            data={
                "notice": notice.pk,
                "phase": phase,
                "start": start,
                "end": end,
                "days": days,
                "minimum_days": minimum,
                "appraisal": appraisal,
            },
        )


def case_review(
    *,
    actor,
    case: Case,
    expected_version: int,
    approve: bool,
    opinion: str,
    objections: str = "",
    today: dt.date | None = None,
) -> Case:
    """Township review after the notice has run. Not approving closes an identification (not a
    monitoring object) or returns an elimination to monitoring; a reason is required."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(actor=actor, case=case, expected_version=expected_version, action="review")
        before, from_state, phase = audit.snapshot(case), case.state, case.phase
        notice = case.notices.filter(phase=phase).order_by("-id").first()
        if notice is not None and today <= notice.end:
            raise TransitionNotAllowed(
                f"公示期至 {notice.end:%Y-%m-%d} 结束，公示期满后才能审核",
                f"the notice runs until {notice.end.isoformat()}; review after it ends",
            )
        opinion = _text(opinion, zh="审核意见", en="the review opinion")
        if notice is not None and objections.strip():
            notice.objections = objections.strip()
            notice.save(update_fields=["objections"])
        if approve:
            case.state = vocab.REVIEWED if phase == vocab.IDENTIFICATION else vocab.ELIM_REVIEWED
        elif phase == vocab.IDENTIFICATION:
            case.state = vocab.CLOSED
            case.closed_on = today
            case.close_reason = opinion
        else:
            case.state = vocab.MONITORED
            case.elimination_method = ""
        return _commit(
            actor=actor,
            case=case,
            action="review",
            from_state=from_state,
            before=before,
            on_date=today,
            data={
                "phase": phase,
                "approve": bool(approve),
                "opinion": opinion,
                "objections": objections.strip(),
            },
        )


def case_decide(
    *,
    actor,
    case: Case,
    expected_version: int,
    confirm: bool = True,
    category: str = "",
    risk_types: Sequence[str] = (),
    note: str = "",
    today: dt.date | None = None,
) -> Case:
    """County decision: the household becomes a monitoring object with its category and risk
    types; or, not confirmed, the case closes with the reason in `note`."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(actor=actor, case=case, expected_version=expected_version, action="decide")
        before, from_state = audit.snapshot(case), case.state
        if not confirm:
            reason = _text(note, zh="不予认定的理由", en="the reason for not confirming")
            case.state = vocab.CLOSED
            case.closed_on = today
            case.close_reason = reason
            case.decided_on = None
            return _commit(
                actor=actor,
                case=case,
                action="decide",
                from_state=from_state,
                before=before,
                on_date=today,
                data={"confirm": False, "note": reason},
            )
        if category not in vocab.codes(vocab.CATEGORIES):
            raise ValidationFailed(
                "请选择监测对象类别（脱贫不稳定户、边缘易致贫户或突发严重困难户）",
                "choose a category (unstable, edge or sudden)",
            )
        poor = case.household.registered_poor
        if category == "unstable" and not poor:
            raise ValidationFailed(
                "非脱贫户不能认定为脱贫不稳定户",
                "only an exited poor household can be 'unstable'",
            )
        if category == "edge" and poor:
            raise ValidationFailed(
                "脱贫户不能认定为边缘易致贫户", "an exited poor household cannot be 'edge'"
            )
        risks = [r for r in dict.fromkeys(risk_types or []) if r]
        unknown = [r for r in risks if r not in vocab.codes(vocab.RISK_TYPES)]
        if unknown:
            raise ValidationFailed(
                f"未知的风险类型：{'、'.join(unknown)}", f"unknown risk types: {', '.join(unknown)}"
            )
        if not risks:
            raise ValidationFailed("请至少选择一种风险类型", "choose at least one risk type")
        case.state = vocab.MONITORED
        case.category = category
        case.risk_types = risks
        case.decided_on = today
        return _commit(
            actor=actor,
            case=case,
            action="decide",
            from_state=from_state,
            before=before,
            on_date=today,
            data={
                "confirm": True,
                "category": category,
                "risk_types": risks,
                "note": note.strip(),
                "deadline": case.deadline,
                "on_time": today <= case.deadline,
            },
        )


def case_close(
    *, actor, case: Case, expected_version: int, reason: str, today: dt.date | None = None
) -> Case:
    """Close a case still being identified as a false alarm (误报), with the reason."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(actor=actor, case=case, expected_version=expected_version, action="close")
        before, from_state = audit.snapshot(case), case.state
        reason = _text(reason, zh="关闭理由", en="the reason")
        case.state = vocab.CLOSED
        case.closed_on = today
        case.close_reason = reason
        return _commit(
            actor=actor,
            case=case,
            action="close",
            from_state=from_state,
            before=before,
            on_date=today,
            data={"reason": reason},
        )


# ---- assistance and follow-up ---------------------------------------------------------------


def measure_plan_problems(
    *, kinds: Iterable[str], risk_types: Iterable[str], labour_capable: bool
) -> list[tuple[str, str]]:
    """What a set of measures lacks for these risk types (POLICY §1), as (zh, en) pairs."""
    kinds = set(kinds)
    problems = []
    for risk in risk_types:
        needed = vocab.MEASURES_FOR_RISK.get(risk)
        if needed and not kinds & needed:
            zh_names = "、".join(vocab.words(vocab.MEASURE_KINDS, k)[0] for k in sorted(needed))
            en_names = ", ".join(vocab.words(vocab.MEASURE_KINDS, k)[1] for k in sorted(needed))
            problems.append(
                (
                    f"风险类型「{risk}」须有以下措施之一：{zh_names}",
                    f"risk type {risk} ({vocab.words(vocab.RISK_TYPES, risk)[1]}) needs one of: {en_names}",
                )
            )
    if labour_capable and not kinds & vocab.DEVELOPMENT_MEASURES:
        problems.append(
            (
                "有劳动能力的家庭须至少有一项开发式帮扶措施（产业、就业、公益性岗位或金融）",
                "a household with labour capacity needs at least one development measure "
                "(industry, employment, public-welfare job or finance)",
            )
        )
    return problems


def case_plan_measures(
    *,
    actor,
    case: Case,
    expected_version: int,
    measures: Sequence[Mapping[str, Any]],
    today: dt.date | None = None,
) -> Case:
    """Add assistance measures to a monitoring case. The case's measures together must answer
    every risk type, and include a development measure when the household can work."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(
            actor=actor, case=case, expected_version=expected_version, action="plan_measures"
        )
        before, from_state = audit.snapshot(case), case.state
        if not measures:
            raise ValidationFailed("请至少填写一项帮扶措施", "add at least one measure")
        rows = []
        for item in measures:
            kind = item.get("kind", "")
            if kind not in vocab.codes(vocab.MEASURE_KINDS):
                raise ValidationFailed(f"未知的帮扶措施：{kind}", f"unknown measure: {kind}")
            planned_on = _date(item.get("planned_on") or today, zh="计划日期", en="planned date")
            rows.append(
                Measure(
                    case=case,
                    kind=kind,
                    description=(item.get("description") or "").strip(),
                    responsible=(item.get("responsible") or "").strip()[:100],
                    planned_on=planned_on,
                    created_by=actor,
                )
            )
        kinds = set(case.measures.values_list("kind", flat=True)) | {m.kind for m in rows}
        problems = measure_plan_problems(
            kinds=kinds,
            risk_types=case.risk_types,
            labour_capable=household_labour_capable(case.household),
        )
        if problems:
            raise ValidationFailed(
                "；".join(p[0] for p in problems), "; ".join(p[1] for p in problems)
            )
        Measure.objects.bulk_create(rows)
        first = min(m.planned_on for m in rows)
        if case.next_follow_up_on is None or first < case.next_follow_up_on:
            case.next_follow_up_on = first
        return _commit(
            actor=actor,
            case=case,
            action="plan_measures",
            from_state=from_state,
            before=before,
            on_date=today,
            data={
                "measures": [
                    {
                        "kind": m.kind,
                        "description": m.description,
                        "responsible": m.responsible,
                        "planned_on": m.planned_on,
                    }
                    for m in rows
                ]
            },
        )


def case_deliver_measure(
    *,
    actor,
    case: Case,
    expected_version: int,
    measure_id: int,
    delivered_on,
    note: str = "",
    today: dt.date | None = None,
) -> Case:
    """Record that a planned measure was delivered (落实)."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(
            actor=actor, case=case, expected_version=expected_version, action="deliver_measure"
        )
        before, from_state = audit.snapshot(case), case.state
        measure = case.measures.filter(pk=measure_id).first()
        if measure is None:
            raise ValidationFailed("该案件没有这项措施", "the case has no such measure")
        if measure.state == "delivered":
            raise TransitionNotAllowed("该措施已落实", "the measure was already delivered")
        delivered_on = _date(delivered_on, zh="落实日期", en="delivery date")
        _not_future(delivered_on, today, zh="落实日期", en="the delivery date")
        if case.decided_on and delivered_on < case.decided_on:
            raise ValidationFailed(
                "落实日期不能早于县级认定日期", "a measure cannot be delivered before the decision"
            )
        measure.state = "delivered"
        measure.delivered_on = delivered_on
        measure.delivery_note = (note or "").strip()
        measure.save(update_fields=["state", "delivered_on", "delivery_note"])
        return _commit(
            actor=actor,
            case=case,
            action="deliver_measure",
            from_state=from_state,
            before=before,
            on_date=delivered_on,
            data={"measure": measure.pk, "kind": measure.kind, "note": measure.delivery_note},
        )


def case_follow_up(
    *,
    actor,
    case: Case,
    expected_version: int,
    visit_date,
    visitors,
    findings: str,
    next_visit_on=None,
    today: dt.date | None = None,
) -> Case:
    """A follow-up visit of a monitoring object; `next_visit_on` schedules the next one."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(
            actor=actor, case=case, expected_version=expected_version, action="follow_up"
        )
        before, from_state = audit.snapshot(case), case.state
        visit_date = _date(visit_date, zh="回访日期", en="visit date")
        _not_future(visit_date, today, zh="回访日期", en="the visit date")
        if case.decided_on and visit_date < case.decided_on:
            raise ValidationFailed(
                "回访日期不能早于县级认定日期", "a follow-up cannot be before the decision"
            )
        people = _people(visitors, zh="回访人员", en="visitors", minimum=1)
        findings = _text(findings, zh="回访情况", en="the findings")
        nxt = _date(next_visit_on, zh="下次回访", en="next visit") if next_visit_on else None
        if nxt is not None and nxt <= visit_date:
            raise ValidationFailed("下次回访须晚于本次", "the next visit must be after this one")
        follow = FollowUp.objects.create(
            case=case,
            visit_date=visit_date,
            visitors=people,
            findings=findings,
            next_visit_on=nxt,
            recorded_by=actor,
        )
        case.next_follow_up_on = nxt
        return _commit(
            actor=actor,
            case=case,
            action="follow_up",
            from_state=from_state,
            before=before,
            on_date=visit_date,
            data={
                "follow_up": follow.pk,
                "visit_date": visit_date,
                "visitors": people,
                "findings": findings,
                "next_visit_on": nxt,
            },
        )


# ---- elimination ----------------------------------------------------------------------------


def elimination_check(case: Case, *, as_of: dt.date) -> elimination.EliminationCheck:
    """The engine's verdict on the elimination criteria for this case as of a date."""
    village = case.household.village_id
    assessment = elimination.assess(case.household.household_id, as_of)
    return elimination.check(
        assessment=assessment,
        decided_on=case.decided_on,
        as_of=as_of,
        min_months=params.int_parameter("monitoring.elimination_min_months", village, as_of),
        delivered_measures=case.measures.filter(state="delivered").count(),
        labour_capable=household_labour_capable(case.household),
        income_line=params.money_parameter("monitoring.income_line", village, as_of),
    )


def _require_eliminable(case: Case, as_of: dt.date) -> elimination.EliminationCheck:
    result = elimination_check(case, as_of=as_of)
    if not result.ok:
        raise TransitionNotAllowed(
            f"尚不满足风险消除条件：{result.zh()}",
            f"the risk elimination criteria are not met: {result.en()}",
            shortfalls=result.codes(),
        )
    return result


def case_propose_elimination(
    *,
    actor,
    case: Case,
    expected_version: int,
    method: str,
    visit_date,
    investigators,
    findings: str,
    income_year: int,
    net_income,
    members_count: int,
    member_changes: str = "",
    household_confirmed: bool,
    today: dt.date | None = None,
) -> Case:
    """Start risk elimination with a home verification; the engine's criteria must hold."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(
            actor=actor, case=case, expected_version=expected_version, action="propose_elimination"
        )
        before, from_state = audit.snapshot(case), case.state
        if method not in vocab.codes(vocab.ELIMINATION_METHODS):
            raise ValidationFailed(
                "请选择消除方式（帮扶消除或自然消除）", "choose the method (assistance or natural)"
            )
        result = _require_eliminable(case, today)
        v = _verification(
            actor=actor,
            case=case,
            phase=vocab.ELIMINATION,
            today=today,
            visit_date=visit_date,
            investigators=investigators,
            findings=findings,
            income_year=income_year,
            net_income=net_income,
            members_count=members_count,
            member_changes=member_changes,
            household_confirmed=household_confirmed,
            not_before=case.decided_on or case.clue_date,
        )
        case.state = vocab.ELIM_VERIFIED
        case.elimination_method = method
        return _commit(
            actor=actor,
            case=case,
            action="propose_elimination",
            from_state=from_state,
            before=before,
            on_date=v.visit_date,
            data={**_verification_data(v), "method": method, "check": result.facts},
        )


def case_eliminate(
    *,
    actor,
    case: Case,
    expected_version: int,
    approve: bool = True,
    method: str = "",
    note: str = "",
    today: dt.date | None = None,
) -> Case:
    """County decision on elimination: re-checks the criteria as of the decision date. Not
    approving (with a reason) returns the case to monitoring."""
    today = _today(today)
    with transaction.atomic():
        case = _locked(
            actor=actor, case=case, expected_version=expected_version, action="eliminate"
        )
        before, from_state = audit.snapshot(case), case.state
        if not approve:
            reason = _text(note, zh="不予消除的理由", en="the reason for not eliminating")
            case.state = vocab.MONITORED
            case.elimination_method = ""
            return _commit(
                actor=actor,
                case=case,
                action="eliminate",
                from_state=from_state,
                before=before,
                on_date=today,
                data={"approve": False, "note": reason},
            )
        method = method or case.elimination_method
        if method not in vocab.codes(vocab.ELIMINATION_METHODS):
            raise ValidationFailed(
                "请选择消除方式（帮扶消除或自然消除）", "choose the method (assistance or natural)"
            )
        result = _require_eliminable(case, today)
        case.state = vocab.ELIMINATED
        case.elimination_method = method
        case.eliminated_on = today
        case.next_follow_up_on = None
        return _commit(
            actor=actor,
            case=case,
            action="eliminate",
            from_state=from_state,
            before=before,
            on_date=today,
            data={"approve": True, "method": method, "note": note.strip(), "check": result.facts},
        )
