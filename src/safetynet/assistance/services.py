"""Writes of the assistance programmes: applications and their procedure, enrolments, amounts,
reviews, grace periods, deaths and care levels. Payment rolls are in `rolls.py`.

Every function: keyword-only arguments, `actor=`, one transaction, an audit row, and an
optimistic `version` check where a person edits something another person may edit too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from safetynet.core import audit
from safetynet.core.errors import Conflict, NotFound, TransitionNotAllowed, ValidationFailed
from safetynet.core.models import AuditEvent
from safetynet.registry.models import Household, Person

from . import access, assessment, clocks, evidence
from .assessment import programme_result
from .models import (
    AmountPeriod,
    Application,
    CareAssessment,
    ChangeProposal,
    Enrolment,
    EnrolmentMember,
    Programme,
    Review,
    RollLine,
)
from .parameters import param, param_int, param_with_source
from .procedure import notice_days, steps_for

PROGRAMME_WORDS = {
    "dibao": ("低保", "dibao"),
    "single": ("单人户施保", "single-person dibao"),
    "tekun": ("特困供养", "tekun"),
    "temporary": ("临时救助", "temporary assistance"),
}
INACTIVE_STATUSES = ("deceased", "imprisoned", "missing", "moved_out")

APPLICATION_AUDIT_FIELDS = [
    "status",
    "track",
    "special_reason",
    "related_to_staff",
    "survey_started_on",
    "survey_completed_on",
    "investigators",
    "family_signed",
    "county_visit_on",
    "check_started_on",
    "check_passed",
    "notice_start",
    "notice_end",
    "notice_objection",
    "decided_on",
    "decided_by_id",
    "approver_level",
    "approved_amount",
    "case_by_case",
    "refusal_reason",
    "refusal_notified_on",
    "rechecked",
    "advance_paid_on",
    "documented_on",
    "version",
]
ENROLMENT_AUDIT_FIELDS = [
    "status",
    "end_month",
    "stop_reason",
    "household_type",
    "last_review_on",
    "next_review_on",
    "grace_from_month",
    "grace_reason",
    "care_level",
    "version",
]


# --------------------------------------------------------------------------- helpers


def _today() -> dt.date:
    return timezone.localdate()


def _bad(zh: str, en: str, **details) -> ValidationFailed:
    return ValidationFailed(zh, en, **details)


def _check_version(obj, version: int | None, what_zh: str, what_en: str) -> None:
    if version is not None and obj.version != version:
        raise Conflict(
            f"{what_zh}已被他人修改（版本 {obj.version}，您的版本 {version}），请刷新后重试",
            f"the {what_en} was changed by someone else (version {obj.version}, yours {version}); "
            "reload and try again",
            current_version=obj.version,
        )


def _lock_application(actor, application_id: int, version: int | None) -> Application:
    qs = Application.objects.select_for_update()
    app = access.get_scoped(actor, qs, what_zh="申请", what_en="application", pk=application_id)
    _check_version(app, version, "申请", "application")
    return app


def _lock_enrolment(actor, enrolment_id: int, version: int | None) -> Enrolment:
    qs = Enrolment.objects.select_for_update()
    enrolment = access.get_scoped(
        actor, qs, what_zh="救助对象", what_en="enrolment", pk=enrolment_id
    )
    _check_version(enrolment, version, "救助对象", "enrolment")
    return enrolment


def _save(obj, fields: list[str], before: dict, *, actor, action: str, note: str = "") -> None:
    obj.version += 1
    obj.save()
    after = audit.snapshot(obj, fields)
    b, a = audit.diff(before, after)
    audit.record(
        actor=actor,
        action=action,
        obj=obj,
        area_code=obj.village_code,
        before=b,
        after=a,
        note=note,
    )


def _require_open(app: Application) -> None:
    if app.status != Application.Status.IN_PROGRESS:
        raise TransitionNotAllowed(
            f"申请状态为“{app.get_status_display()}”，不能再办理此步骤",
            f"the application is {app.status}; this step is no longer possible",
        )


def _require_order(later: dt.date, earlier: dt.date | None, zh: str, en: str) -> None:
    if earlier is not None and later < earlier:
        raise _bad(
            f"{zh}不能早于{earlier.isoformat()}", f"{en} cannot be before {earlier.isoformat()}"
        )


def active_members(household: Household) -> list[Person]:
    """Registry members active today (deaths from the feed are handled as proposals)."""
    return list(household.members.exclude(status__in=INACTIVE_STATUSES).order_by("id"))


def _person_in_household(household: Household, id_number: str | None) -> Person:
    if not id_number:
        raise _bad(
            "单人户施保和特困须指定申请人身份证号",
            "single-person dibao and tekun need the applicant's ID number",
        )
    person = household.members.filter(id_number=id_number.strip().upper()).first()
    if person is None:
        raise NotFound(
            f"户 {household.household_id} 中没有身份证号为 {id_number} 的成员",
            f"household {household.household_id} has no member with ID number {id_number}",
        )
    if person.status in INACTIVE_STATUSES:
        raise _bad(
            f"{person.name} 的人员状态为“{person.get_status_display()}”，不能申请",
            f"{person.name} is {person.status} and cannot apply",
        )
    return person


def _enrolled_conflicts(persons: list[Person]) -> list[EnrolmentMember]:
    return list(
        EnrolmentMember.objects.filter(person__in=persons, active=True).select_related(
            "person", "enrolment"
        )
    )


def _conflict_error(conflicts: list[EnrolmentMember]) -> Conflict:
    first = conflicts[0]
    zh_prog, en_prog = PROGRAMME_WORDS[first.programme]
    return Conflict(
        f"{first.person.name}（{first.person.id_number[:6]}…）已在{zh_prog}中（救助对象 #{first.enrolment_id}），"
        "同一人不能同时享受低保和特困，也不能重复纳入",
        f"{first.person.id_number[:6]}… is already enrolled in {en_prog} (enrolment "
        f"#{first.enrolment_id}); nobody is in dibao and tekun at once or enrolled twice",
        enrolment_id=first.enrolment_id,
    )


def _request_for(app: Application) -> dict | None:
    if app.programme != Programme.TEMPORARY:
        return None
    return {"type": app.temp_type, "need": int(app.need) if app.need is not None else 0}


def _assess_for(app: Application, as_of: dt.date) -> dict:
    return assessment.assess(app.household.household_id, as_of=as_of, request=_request_for(app))


def _result_for(app: Application, result: dict) -> dict[str, Any]:
    return programme_result(result, app.programme, app.person.id_number if app.person else None)


# --------------------------------------------------------------------------- applications


@transaction.atomic
def application_create(
    *,
    actor,
    household_id: str,
    programme: str,
    accepted_on: dt.date,
    person_id_number: str | None = None,
    temp_type: str = "",
    need: Decimal | int | str | None = None,
    event: str = "",
    source_case_id: str = "",
    track: str = Application.Track.STANDARD,
    special_reason: str = "",
    related_to_staff: bool = False,
    related_note: str = "",
) -> Application:
    """Accept an application (受理) and store the engine's assessment with it."""
    access.require_role(actor, access.STAFF_ROLES, "受理救助申请", "accepting an application")
    if programme not in Programme.values:
        raise _bad(f"未知的救助项目：{programme}", f"unknown programme: {programme}")
    household = Household.objects.filter(household_id=household_id).first()
    if household is None:
        raise NotFound(f"未找到户 {household_id}", f"household {household_id} not found")
    access.require_scope(actor, household.village_id)
    if track not in Application.Track.values:
        raise _bad(f"未知的办理类型：{track}", f"unknown track: {track}")
    if track == Application.Track.SPECIAL and not special_reason.strip():
        raise _bad("特殊情况须写明原因", "a special case needs its reason")
    if related_to_staff and not related_note.strip():
        raise _bad(
            "单独登记备案须写明亲属关系",
            "a separately registered application needs the relation noted",
        )
    clocks.is_working_day(accepted_on)  # fails loudly beyond the holiday data

    person = None
    members = active_members(household)
    if programme in ("single", "tekun"):
        person = _person_in_household(household, person_id_number)
        enrol_persons = [person]
    elif programme == "dibao":
        if not members:
            raise _bad(
                f"户 {household_id} 没有在册成员", f"household {household_id} has no active member"
            )
        enrol_persons = members
    else:
        enrol_persons = []
    if programme == "temporary":
        if temp_type not in Application.TempType.values:
            raise _bad(
                "临时救助须选择急难型或支出型",
                "temporary assistance needs the type: emergency or expenditure",
            )
        try:
            need = Decimal(str(need))
        except Exception as exc:  # noqa: BLE001 - any unparsable amount
            raise _bad(f"救助需求金额无效：{need!r}", f"invalid amount needed: {need!r}") from exc
        if need <= 0:
            raise _bad("救助需求金额须大于 0", "the amount needed must be more than 0")
    else:
        temp_type, need = "", None

    conflicts = _enrolled_conflicts(enrol_persons)
    if conflicts:
        raise _conflict_error(conflicts)
    open_q = Application.objects.filter(
        household=household, programme=programme, status__in=["in_progress", "advance_paid"]
    )
    if person is not None:
        open_q = open_q.filter(person=person)
    if programme != "temporary" and open_q.exists():
        raise Conflict(
            "该户已有同一项目的在办申请",
            "this household already has an open application for the programme",
        )

    app = Application(
        programme=programme,
        household=household,
        person=person,
        village_code=household.village_id,
        county_code=household.village_id[:6],
        temp_type=temp_type,
        need=need,
        event=event.strip(),
        source_case_id=(source_case_id or "").strip(),
        track=track,
        special_reason=special_reason.strip(),
        related_to_staff=related_to_staff,
        related_note=related_note.strip(),
        accepted_on=accepted_on,
        created_by=actor if access.is_user(actor) else None,
    )
    app.assessment = _assess_for(app, accepted_on)
    app.assessment_as_of = accepted_on
    app.save()
    audit.record(
        actor=actor,
        action="create",
        obj=app,
        area_code=app.village_code,
        after=audit.snapshot(
            app,
            [
                "programme",
                "household_id",
                "person_id",
                "temp_type",
                "need",
                "accepted_on",
                "track",
                "related_to_staff",
                "source_case_id",
            ],
        ),
    )
    return app


@transaction.atomic
def application_reassess(
    *, actor, application_id: int, version: int | None, as_of: dt.date
) -> Application:
    """Store a fresh assessment (after the survey corrected the registry, for example)."""
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    before = {"assessment_as_of": app.assessment_as_of, "version": app.version}
    app.assessment = _assess_for(app, as_of)
    app.assessment_as_of = as_of
    _save(app, ["assessment_as_of", "version"], before, actor=actor, action="reassess")
    return app


@transaction.atomic
def survey_record(
    *,
    actor,
    application_id: int,
    version: int | None,
    started_on: dt.date,
    completed_on: dt.date | None = None,
    investigators: list[str] | None = None,
    family_signed: bool = False,
    findings: str = "",
) -> Application:
    """The township's economic survey (入户调查): start date, then the signed visit form."""
    access.require_role(actor, access.TOWNSHIP_UP, "家庭经济状况调查", "the economic survey")
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    if "survey" not in steps_for(app) and app.programme != "temporary":
        raise TransitionNotAllowed("此申请不需要入户调查", "this application has no survey step")
    _require_order(started_on, app.accepted_on, "调查启动日期", "the survey start")
    clocks.is_working_day(started_on)
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.survey_started_on = started_on
    if completed_on is not None:
        _require_order(completed_on, started_on, "调查完成日期", "the survey completion")
        names = [n.strip() for n in (investigators or []) if n and n.strip()]
        minimum = param_int("dibao.min_investigators", app.village_code, started_on)
        if len(set(names)) < minimum:
            raise _bad(
                f"入户调查人员不少于 {minimum} 人（现 {len(set(names))} 人）",
                f"a household visit needs at least {minimum} investigators ({len(set(names))} given)",
            )
        if not family_signed:
            raise _bad(
                "入户调查表须由调查人员和在场家庭成员签字",
                "the visit form must be signed by the investigators and the family members present",
            )
        app.survey_completed_on = completed_on
        app.investigators = sorted(set(names))
        app.family_signed = True
        app.survey_findings = findings.strip()
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="survey")
    return app


@transaction.atomic
def county_visit_record(
    *, actor, application_id: int, version: int | None, visited_on: dt.date, note: str = ""
) -> Application:
    """The county's own home visit, required for separately registered applicants (S2 Art. 20)."""
    access.require_role(actor, access.COUNTY_UP, "县级入户核查", "the county home visit")
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    if not app.related_to_staff:
        raise TransitionNotAllowed(
            "只有单独登记备案的申请需要县级入户核查",
            "only separately registered applications need a county visit",
        )
    _require_order(visited_on, app.accepted_on, "县级核查日期", "the county visit")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.county_visit_on = visited_on
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="county_visit", note=note)
    return app


@transaction.atomic
def check_record(
    *,
    actor,
    application_id: int,
    version: int | None,
    started_on: dt.date,
    passed: bool,
    note: str = "",
) -> Application:
    """The county information check (信息核对) against the departments' data."""
    access.require_role(actor, access.COUNTY_UP, "信息核对", "the information check")
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    if app.survey_completed_on is None:
        raise TransitionNotAllowed("须先完成入户调查", "the survey must be completed first")
    _require_order(started_on, app.survey_completed_on, "核对日期", "the check")
    clocks.is_working_day(started_on)
    if not passed and not note.strip():
        raise _bad("核对未通过须写明原因", "a failed check needs its reason")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.check_started_on = started_on
    app.check_passed = passed
    app.check_note = note.strip()
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="check")
    return app


@transaction.atomic
def notice_start(*, actor, application_id: int, version: int | None, start: dt.date) -> Application:
    """Post the village notice (公示); it ends after the statutory days (see clocks.period_end)."""
    access.require_role(actor, access.STAFF_ROLES, "村级公示", "the village notice")
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    if "notice" not in steps_for(app):
        raise TransitionNotAllowed("此申请不需要公示", "this application has no notice step")
    if not app.check_passed:
        raise TransitionNotAllowed(
            "信息核对通过后才能公示", "the notice follows a passed information check"
        )
    _require_order(start, app.check_started_on, "公示开始日期", "the notice start")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.notice_start = start
    app.notice_end = clocks.period_end(start, notice_days(app, start))
    app.notice_objection = False
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="notice")
    return app


@transaction.atomic
def notice_objection(*, actor, application_id: int, version: int | None, note: str) -> Application:
    """An objection during the notice: re-investigate, then a new opinion and a new notice."""
    access.require_role(actor, access.STAFF_ROLES, "登记公示异议", "recording an objection")
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    if app.notice_start is None:
        raise TransitionNotAllowed("尚未公示", "there is no notice yet")
    if not note.strip():
        raise _bad("请写明异议内容", "describe the objection")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.notice_objection = True
    app.notice_note = note.strip()
    app.notice_start = app.notice_end = None
    app.survey_completed_on = None
    app.check_started_on = None
    app.check_passed = None
    if app.programme in ("dibao", "single"):
        app.track = Application.Track.SPECIAL
        app.special_reason = (
            app.special_reason + "\n" if app.special_reason else ""
        ) + "公示有异议 / objection"
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="objection", note=note)
    return app


def approver_for(app: Application, amount: Decimal, on: dt.date) -> str:
    """Who decides: the county, the township where delegated, and by amount for temporary help."""
    if app.programme == Programme.TEMPORARY:
        limit = Decimal(str(param("temporary.township_limit", app.village_code, on)))
        return "township" if amount <= limit else "county"
    return "township" if app.track == Application.Track.DELEGATED else "county"


def _require_approver(actor, level: str) -> None:
    access.require_user(actor, "审批", "a decision")
    roles = access.TOWNSHIP_UP if level == "township" else access.COUNTY_UP
    access.require_role(
        actor,
        roles,
        "乡镇审批" if level == "township" else "超过乡镇审批权限的金额须县级审批",
        "a township decision" if level == "township" else "an amount above the township limit",
    )


@transaction.atomic
def application_decide(
    *,
    actor,
    application_id: int,
    version: int | None,
    decided_on: dt.date,
    approve: bool,
    refusal_reason: str = "",
    household_type: str = Enrolment.HouseholdType.STABLE,
    rechecked: bool = False,
) -> Application:
    """Approve (the amount is the engine's, as of the decision) or refuse with written reasons."""
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    _require_order(decided_on, app.accepted_on, "决定日期", "the decision")
    clocks.is_working_day(decided_on)
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    if not approve:
        if not refusal_reason.strip():
            raise _bad("不予批准须书面说明理由", "a refusal needs written reasons")
        level = approver_for(app, app.need or Decimal("0"), decided_on)
        _require_approver(actor, level)
        app.status = Application.Status.REFUSED
        app.refusal_reason = refusal_reason.strip()
        app.decided_on = decided_on
        app.decided_by = actor
        app.approver_level = level
        _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="refuse")
        return app

    missing = _missing_steps(app, decided_on)
    if missing:
        zh = "；".join(m[0] for m in missing)
        en = "; ".join(m[1] for m in missing)
        raise TransitionNotAllowed(f"尚不能批准：{zh}", f"cannot approve yet: {en}")
    if household_type not in Enrolment.HouseholdType.values:
        raise _bad(f"未知的家庭类型：{household_type}", f"unknown household type: {household_type}")
    result = _assess_for(app, decided_on)
    outcome = _result_for(app, result)
    if not outcome["eligible"]:
        zh_prog, en_prog = PROGRAMME_WORDS[app.programme]
        raise TransitionNotAllowed(
            f"按 {decided_on} 的规则评估不符合{zh_prog}条件，不能批准（可不予批准并说明理由）",
            f"as of {decided_on} the rules find the applicant not eligible for {en_prog}; "
            "refuse with reasons instead",
        )
    amount = outcome["amount"]
    level = approver_for(app, amount, decided_on)
    _require_approver(actor, level)
    if app.programme == Programme.TEMPORARY:
        app.case_by_case = bool((result.get("temporary") or {}).get("case_by_case"))
    app.assessment = result
    app.assessment_as_of = decided_on
    app.status = Application.Status.APPROVED
    app.decided_on = decided_on
    app.decided_by = actor
    app.approver_level = level
    app.approved_amount = amount
    app.rechecked = bool(rechecked)
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="approve")
    if app.programme in (Programme.DIBAO, Programme.SINGLE, Programme.TEKUN):
        _enrol(actor=actor, app=app, result=result, outcome=outcome, household_type=household_type)
    return app


def _missing_steps(app: Application, on: dt.date) -> list[tuple[str, str]]:
    missing: list[tuple[str, str]] = []
    for step in steps_for(app):
        if step == "survey" and app.survey_completed_on is None:
            missing.append(("入户调查未完成", "the survey is not completed"))
        elif step == "check" and not app.check_passed:
            missing.append(("信息核对未通过", "the information check has not passed"))
        elif step == "notice" and (app.notice_end is None or on <= app.notice_end):
            end = app.notice_end.isoformat() if app.notice_end else "—"
            missing.append(
                (f"公示期未满（至 {end}）", f"the notice has not run its course (until {end})")
            )
        elif step == "county_visit" and app.county_visit_on is None:
            missing.append(
                (
                    "单独登记备案的申请须县级入户核查",
                    "a separately registered application needs the county visit",
                )
            )
    return missing


def _review_months(programme: str, household_type: str, village_code: str, on: dt.date) -> int:
    if programme == Programme.TEKUN:
        return param_int("tekun.review_months", village_code, on)
    value = param("dibao.review_months", village_code, on)
    return int(value[household_type]) if isinstance(value, dict) else int(value)


def _enrol(
    *, actor, app: Application, result: dict, outcome: dict, household_type: str
) -> Enrolment:
    start = clocks.next_month(app.decided_on)
    if app.programme == Programme.DIBAO:
        persons = active_members(app.household)
    else:
        persons = [app.person]
    conflicts = _enrolled_conflicts(persons)
    if conflicts:
        raise _conflict_error(conflicts)
    enrolment = Enrolment.objects.create(
        programme=app.programme,
        household=app.household,
        person=app.person if app.programme != Programme.DIBAO else None,
        application=app,
        village_code=app.village_code,
        county_code=app.county_code,
        approved_on=app.decided_on,
        start_month=start,
        household_type=household_type,
        next_review_on=clocks.add_months(
            app.decided_on,
            _review_months(app.programme, household_type, app.village_code, app.decided_on),
        ),
        separately_registered=app.related_to_staff,
        care_level=outcome["care_level"],
        last_assessed_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            EnrolmentMember.objects.bulk_create(
                [
                    EnrolmentMember(
                        enrolment=enrolment, person=p, programme=app.programme, from_month=start
                    )
                    for p in persons
                ]
            )
    except IntegrityError as exc:  # the database's own guard, for a race the check above missed
        raise Conflict(
            "该人员已在其他救助项目中", "a member is already enrolled in a programme"
        ) from exc
    AmountPeriod.objects.create(
        enrolment=enrolment,
        from_month=start,
        monthly_amount=outcome["amount"],
        reason=AmountPeriod.Reason.APPROVAL,
        assessment=result,
        assessment_as_of=app.decided_on,
        created_by=actor if access.is_user(actor) else None,
    )
    audit.record(
        actor=actor,
        action="enrol",
        obj=enrolment,
        area_code=enrolment.village_code,
        after={
            "programme": enrolment.programme,
            "start_month": start,
            "amount": outcome["amount"],
            "members": [p.id_number for p in persons],
        },
    )
    return enrolment


@transaction.atomic
def refusal_notify(
    *, actor, application_id: int, version: int | None, notified_on: dt.date
) -> Application:
    app = _lock_application(actor, application_id, version)
    if app.status != Application.Status.REFUSED:
        raise TransitionNotAllowed(
            "只有不予批准的申请需要书面告知", "only refused applications are notified"
        )
    _require_order(notified_on, app.decided_on, "告知日期", "the notification")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.refusal_notified_on = notified_on
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="refusal_notice")
    return app


@transaction.atomic
def application_withdraw(
    *, actor, application_id: int, version: int | None, reason: str
) -> Application:
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.status = Application.Status.WITHDRAWN
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="withdraw", note=reason)
    return app


@transaction.atomic
def temporary_pay_first(
    *,
    actor,
    application_id: int,
    version: int | None,
    paid_on: dt.date,
    amount: Decimal | int | str,
) -> Application:
    """先行救助: an emergency paid at once by the township, within its limit; documented after."""
    app = _lock_application(actor, application_id, version)
    _require_open(app)
    if app.programme != Programme.TEMPORARY or app.temp_type != Application.TempType.EMERGENCY:
        raise TransitionNotAllowed(
            "只有急难型临时救助可以先行救助",
            "only emergency temporary assistance can be paid first",
        )
    amount = Decimal(str(amount))
    limit = Decimal(str(param("temporary.township_limit", app.village_code, paid_on)))
    if amount <= 0:
        raise _bad("金额须大于 0", "the amount must be more than 0")
    if amount > limit:
        raise _bad(
            f"先行救助金额 {amount} 元超过乡镇审批限额 {limit} 元，须按程序报县级审批",
            f"{amount} yuan is above the township limit of {limit} yuan: apply to the county",
        )
    _require_approver(actor, "township")
    _require_order(paid_on, app.accepted_on, "发放日期", "the payment")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.status = Application.Status.ADVANCE_PAID
    app.advance_paid_on = paid_on
    app.approved_amount = amount
    app.approver_level = Application.Approver.TOWNSHIP
    app.decided_by = actor
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="pay_first")
    return app


@transaction.atomic
def temporary_document(
    *,
    actor,
    application_id: int,
    version: int | None,
    documented_on: dt.date,
    investigators: list[str],
    note: str,
) -> Application:
    """Complete the file of an advance payment: who, why, how much, and the signatures."""
    app = _lock_application(actor, application_id, version)
    if app.status != Application.Status.ADVANCE_PAID:
        raise TransitionNotAllowed(
            "该申请没有先行救助待补办", "the application has no advance payment to document"
        )
    _require_order(documented_on, app.advance_paid_on, "补办日期", "the documentation")
    names = sorted({n.strip() for n in investigators if n and n.strip()})
    minimum = param_int("dibao.min_investigators", app.village_code, documented_on)
    if len(names) < minimum:
        raise _bad(
            f"补办手续须不少于 {minimum} 名经办人签字",
            f"the file needs at least {minimum} signatures",
        )
    if not note.strip():
        raise _bad("请写明救助原因和经过", "describe the reason and what was done")
    before = audit.snapshot(app, APPLICATION_AUDIT_FIELDS)
    app.status = Application.Status.APPROVED
    app.documented_on = documented_on
    app.decided_on = app.advance_paid_on
    app.investigators = names
    app.survey_findings = note.strip()
    app.assessment = _assess_for(app, app.advance_paid_on)
    app.assessment_as_of = app.advance_paid_on
    _save(app, APPLICATION_AUDIT_FIELDS, before, actor=actor, action="document")
    return app


# --------------------------------------------------------------------------- enrolments


def current_amount(enrolment: Enrolment, month: dt.date) -> Decimal | None:
    period = enrolment.amounts.filter(from_month__lte=month).order_by("-from_month", "-id").first()
    return period.monthly_amount if period else None


def _sync_members(enrolment: Enrolment, *, month: dt.date, reason: str) -> tuple[list, list]:
    """Bring a dibao enrolment's members in line with the registry from `month` on."""
    if enrolment.programme != Programme.DIBAO:
        return [], []
    current = {m.person_id: m for m in enrolment.members.filter(active=True)}
    wanted = {p.pk: p for p in active_members(enrolment.household)}
    added, removed = [], []
    for pk, member in current.items():
        if pk not in wanted:
            member.active = False
            member.to_month = clocks.add_months(month, -1)
            member.end_reason = reason
            member.save(update_fields=["active", "to_month", "end_reason"])
            removed.append(member.person_id)
    new = [p for pk, p in wanted.items() if pk not in current]
    if new:
        conflicts = _enrolled_conflicts(new)
        if conflicts:
            raise _conflict_error(conflicts)
        EnrolmentMember.objects.bulk_create(
            [
                EnrolmentMember(
                    enrolment=enrolment, person=p, programme=enrolment.programme, from_month=month
                )
                for p in new
            ]
        )
        added = [p.pk for p in new]
    return added, removed


def _new_period(
    *,
    actor,
    enrolment: Enrolment,
    month: dt.date,
    amount: Decimal,
    reason: str,
    result: dict | None,
    as_of: dt.date | None,
    note: str = "",
) -> AmountPeriod | None:
    if current_amount(enrolment, month) == amount:
        return None
    return AmountPeriod.objects.create(
        enrolment=enrolment,
        from_month=month,
        monthly_amount=amount,
        reason=reason,
        note=note,
        assessment=result or {},
        assessment_as_of=as_of,
        created_by=actor if access.is_user(actor) else None,
    )


@transaction.atomic
def enrolment_recompute(
    *,
    actor,
    enrolment_id: int,
    version: int | None,
    as_of: dt.date,
    reason: str,
    effective_month: dt.date | None = None,
    note: str = "",
) -> dict:
    """Re-assess an enrolment after a change of members, income, parameters or care level.

    A different amount becomes a new period from `effective_month` (default: the month after
    `as_of`); history is never edited. An enrolment the rules no longer find eligible is not
    stopped here: the result says so, and a person decides (grace period or stop).
    """
    if reason not in AmountPeriod.Reason.values:
        raise _bad(f"未知的调整原因：{reason}", f"unknown reason: {reason}")
    enrolment = _lock_enrolment(actor, enrolment_id, version)
    if enrolment.status == Enrolment.Status.STOPPED:
        raise TransitionNotAllowed(
            "已停保的对象不能重算金额", "a stopped enrolment cannot be recomputed"
        )
    month = effective_month or clocks.next_month(as_of)
    month = clocks.month_start(month)
    added, removed = _sync_members(enrolment, month=month, reason=reason)
    result = assessment.assess(enrolment.household.household_id, as_of=as_of)
    outcome = programme_result(
        result, enrolment.programme, enrolment.person.id_number if enrolment.person else None
    )
    period = None
    before = audit.snapshot(enrolment, ENROLMENT_AUDIT_FIELDS)
    old_amount = current_amount(enrolment, month)
    if outcome["eligible"] and enrolment.status == Enrolment.Status.ACTIVE:
        period = _new_period(
            actor=actor,
            enrolment=enrolment,
            month=month,
            amount=outcome["amount"],
            reason=reason,
            result=result,
            as_of=as_of,
            note=note,
        )
        if outcome["care_level"]:
            enrolment.care_level = outcome["care_level"]
    enrolment.last_assessed_at = timezone.now()
    enrolment.version += 1
    enrolment.save()
    audit.record(
        actor=actor,
        action="recompute",
        obj=enrolment,
        area_code=enrolment.village_code,
        before={
            **audit.diff(before, audit.snapshot(enrolment, ENROLMENT_AUDIT_FIELDS))[0],
            "amount": old_amount,
        },
        after={
            "amount": period.monthly_amount if period else old_amount,
            "from_month": month,
            "reason": reason,
            "eligible": outcome["eligible"],
            "members_added": added,
            "members_removed": removed,
        },
        note=note,
    )
    return {
        "enrolment": enrolment,
        "eligible": outcome["eligible"],
        "amount": outcome["amount"],
        "previous_amount": old_amount,
        "changed": period is not None,
        "period": period,
        "assessment": result,
    }


@transaction.atomic
def enrolments_recompute_many(
    *,
    actor,
    as_of: dt.date,
    reason: str,
    county_code: str = "",
    enrolment_ids: list[int] | None = None,
    effective_month: dt.date | None = None,
    note: str = "",
) -> dict:
    """Recompute many enrolments at once (a new standard for a county): one engine run.

    Each changed amount is a new period from `effective_month` (default: the month after
    `as_of`); enrolments the rules no longer find eligible are listed, not stopped.
    """
    access.require_role(actor, access.COUNTY_UP, "批量重算金额", "recomputing amounts")
    if reason not in AmountPeriod.Reason.values:
        raise _bad(f"未知的调整原因：{reason}", f"unknown reason: {reason}")
    if county_code:
        access.require_scope(actor, county_code)
    qs = Enrolment.objects.select_for_update(of=("self",)).exclude(status=Enrolment.Status.STOPPED)
    if actor is not None:
        from safetynet.areas.scope import scoped

        qs = scoped(actor, qs)
    if county_code:
        qs = qs.filter(county_code=county_code)
    if enrolment_ids is not None:
        qs = qs.filter(pk__in=enrolment_ids)
    enrolments = list(qs.select_related("household", "person").order_by("id"))
    month = clocks.month_start(effective_month or clocks.next_month(as_of))
    results = assessment.assess_many([e.household.household_id for e in enrolments], as_of=as_of)
    changed, not_eligible, events = [], [], []
    for enrolment in enrolments:
        if reason in (AmountPeriod.Reason.MEMBERS, AmountPeriod.Reason.DEATH):
            _sync_members(enrolment, month=month, reason=reason)
        result = results[enrolment.household.household_id]
        outcome = programme_result(
            result, enrolment.programme, enrolment.person.id_number if enrolment.person else None
        )
        if not outcome["eligible"]:
            not_eligible.append(enrolment.pk)
            continue
        if enrolment.status != Enrolment.Status.ACTIVE:
            continue
        old = current_amount(enrolment, month)
        period = _new_period(
            actor=actor,
            enrolment=enrolment,
            month=month,
            amount=outcome["amount"],
            reason=reason,
            result=result,
            as_of=as_of,
            note=note,
        )
        if period is not None:
            changed.append(enrolment.pk)
            events.append(
                AuditEvent(
                    actor=actor if access.is_user(actor) else None,
                    actor_label=audit.actor_label(actor),
                    action="recompute",
                    object_type="assistance.enrolment",
                    object_id=str(enrolment.pk),
                    area_code=enrolment.village_code,
                    before={"amount": str(old) if old is not None else None},
                    after={
                        "amount": str(period.monthly_amount),
                        "from_month": month.isoformat(),
                        "reason": reason,
                    },
                    note=note,
                )
            )
    now = timezone.now()
    Enrolment.objects.filter(pk__in=[e.pk for e in enrolments]).update(last_assessed_at=now)
    if changed:
        Enrolment.objects.filter(pk__in=changed).update(version=F("version") + 1, updated_at=now)
        audit.bulk_record(events)
    return {
        "assessed": len(enrolments),
        "changed": changed,
        "not_eligible": not_eligible,
        "from_month": month,
    }


@transaction.atomic
def enrolment_review(
    *,
    actor,
    enrolment_id: int,
    version: int | None,
    reviewed_on: dt.date,
    household_type: str,
    note: str = "",
) -> Review:
    """The periodic review (复核): re-assess, adjust only if something changed, set the next date."""
    access.require_role(actor, access.TOWNSHIP_UP, "复核", "a review")
    if household_type not in Enrolment.HouseholdType.values:
        raise _bad(f"未知的家庭类型：{household_type}", f"unknown household type: {household_type}")
    enrolment = _lock_enrolment(actor, enrolment_id, version)
    result = enrolment_recompute(
        actor=actor,
        enrolment_id=enrolment.pk,
        version=enrolment.version,
        as_of=reviewed_on,
        reason=AmountPeriod.Reason.REVIEW,
        note=note,
    )
    enrolment = result["enrolment"]
    before = audit.snapshot(enrolment, ENROLMENT_AUDIT_FIELDS)
    enrolment.household_type = household_type
    enrolment.last_review_on = reviewed_on
    enrolment.next_review_on = clocks.add_months(
        reviewed_on,
        _review_months(enrolment.programme, household_type, enrolment.village_code, reviewed_on),
    )
    _save(enrolment, ENROLMENT_AUDIT_FIELDS, before, actor=actor, action="review", note=note)
    if not result["eligible"]:
        outcome = Review.Outcome.UNCHANGED  # a person now decides grace or stop
        note = (
            note + "\n" if note else ""
        ) + "规则评估已不符合条件，待决定渐退或停保 / no longer eligible: decide grace or stop"
    else:
        outcome = Review.Outcome.CHANGED if result["changed"] else Review.Outcome.UNCHANGED
    return Review.objects.create(
        enrolment=enrolment,
        reviewed_on=reviewed_on,
        outcome=outcome,
        household_type=household_type,
        note=note,
        created_by=actor if access.is_user(actor) else None,
    )


@transaction.atomic
def enrolment_grace_start(
    *,
    actor,
    enrolment_id: int,
    version: int | None,
    as_of: dt.date,
    months: int,
    worker_id_number: str,
    note: str = "",
) -> Enrolment:
    """渐退期: income rose above the standard because a member found work; pay on, then stop."""
    access.require_role(actor, access.COUNTY_UP, "渐退期", "a grace period")
    enrolment = _lock_enrolment(actor, enrolment_id, version)
    if enrolment.programme != Programme.DIBAO or enrolment.status != Enrolment.Status.ACTIVE:
        raise TransitionNotAllowed(
            "只有在保的低保家庭可以进入渐退期",
            "only an active dibao household can get a grace period",
        )
    limit = param_int("dibao.grace_months", enrolment.village_code, as_of)
    if not 1 <= int(months) <= limit:
        raise _bad(f"渐退期为 1–{limit} 个月", f"a grace period is 1 to {limit} months")
    worker = enrolment.household.members.filter(
        id_number=(worker_id_number or "").strip().upper()
    ).first()
    if worker is None or worker.employment == "none":
        raise _bad(
            "渐退期须因家庭成员就业而收入增加：请指定已就业的成员",
            "a grace period follows a member finding work: name the member now employed",
        )
    result = assessment.assess(enrolment.household.household_id, as_of=as_of)
    if programme_result(result, "dibao")["eligible"]:
        raise TransitionNotAllowed(
            "按规则评估该户仍符合低保条件，不需要渐退期",
            "the household is still eligible; no grace period is needed",
        )
    before = audit.snapshot(enrolment, ENROLMENT_AUDIT_FIELDS)
    enrolment.status = Enrolment.Status.GRACE
    enrolment.grace_from_month = clocks.next_month(as_of)
    enrolment.end_month = clocks.add_months(enrolment.grace_from_month, int(months) - 1)
    enrolment.grace_reason = f"{worker.name} 就业 / member employed. {note}".strip()
    _save(enrolment, ENROLMENT_AUDIT_FIELDS, before, actor=actor, action="grace", note=note)
    return enrolment


def _close_members(enrolment: Enrolment, last_month: dt.date, reason: str) -> None:
    enrolment.members.filter(active=True).update(
        active=False, to_month=last_month, end_reason=reason
    )


@transaction.atomic
def enrolment_stop(
    *,
    actor,
    enrolment_id: int,
    version: int | None,
    decided_on: dt.date,
    reason: str,
    last_month: dt.date | None = None,
) -> Enrolment:
    """Stop an enrolment: paid up to the month of the decision, stopped from the next (S3 Art. 26)."""
    access.require_role(actor, access.COUNTY_UP, "停保", "stopping a programme")
    enrolment = _lock_enrolment(actor, enrolment_id, version)
    if enrolment.status == Enrolment.Status.STOPPED:
        raise TransitionNotAllowed("已停保", "already stopped")
    if not reason.strip():
        raise _bad("停保须写明原因", "a stop needs its reason")
    _stop(
        actor=actor,
        enrolment=enrolment,
        last_month=clocks.month_start(last_month or decided_on),
        reason=reason.strip(),
    )
    return enrolment


def _stop(*, actor, enrolment: Enrolment, last_month: dt.date, reason: str) -> None:
    before = audit.snapshot(enrolment, ENROLMENT_AUDIT_FIELDS)
    end = last_month
    if enrolment.end_month is not None and enrolment.end_month < end:
        end = enrolment.end_month
    if end < enrolment.start_month:
        end = clocks.add_months(enrolment.start_month, -1)  # stopped before the first payment
    enrolment.end_month = end
    enrolment.status = Enrolment.Status.STOPPED
    enrolment.stop_reason = reason
    _close_members(enrolment, end, "stopped")
    _save(enrolment, ENROLMENT_AUDIT_FIELDS, before, actor=actor, action="stop", note=reason)


@transaction.atomic
def enrolments_close_ended(*, actor, as_of: dt.date) -> int:
    """Grace periods that have run out become stopped (their last month is already set)."""
    month = clocks.month_start(as_of)
    ended = list(
        Enrolment.objects.select_for_update().filter(
            status=Enrolment.Status.GRACE, end_month__lt=month
        )
    )
    for enrolment in ended:
        _stop(
            actor=actor,
            enrolment=enrolment,
            last_month=enrolment.end_month,
            reason="渐退期满 / grace period ended",
        )
    return len(ended)


# --------------------------------------------------------------------------- deaths


@transaction.atomic
def deaths_detect(*, actor=None, as_of: dt.date, feeds=None, county_code: str = "") -> int:
    """Propose the change for every enrolled person with a death record (feed or registry).

    Set-based: the linked deaths feed and the registry's `deceased` status are matched against
    active memberships in two queries; one proposal per (enrolment, person), never duplicated.
    """
    deaths = {k: v for k, v in evidence.death_records(feeds=feeds).items() if v[0] <= as_of}
    members = EnrolmentMember.objects.filter(active=True).filter(
        Q(person__id_number__in=list(deaths)) | Q(person__status="deceased")
    )
    if county_code:
        members = members.filter(enrolment__county_code=county_code)
    members = members.exclude(
        Exists(
            ChangeProposal.objects.filter(
                kind="death", enrolment=OuterRef("enrolment"), person=OuterRef("person")
            )
        )
    ).values_list("enrolment_id", "person_id", "person__id_number", "enrolment__village_code")
    months = {}
    proposals = []
    for enrolment_id, person_id, id_number, village in members:
        if id_number in deaths:
            died, record_id = deaths[id_number]
            source, known = ChangeProposal.Source.FEED, True
        else:
            died, record_id, source, known = as_of, "", ChangeProposal.Source.REGISTRY, False
        key = (village, died)
        if key not in months:
            months[key] = param_int("dibao.death_processing_months", village, died)
        proposals.append(
            ChangeProposal(
                kind="death",
                enrolment_id=enrolment_id,
                person_id=person_id,
                event_date=died,
                event_date_known=known,
                source=source,
                record_id=record_id or "",
                detected_on=as_of,
                due_on=clocks.add_months(died, months[key]),
            )
        )
    ChangeProposal.objects.bulk_create(proposals, batch_size=2000, ignore_conflicts=True)
    if proposals:
        audit.record(
            actor=actor,
            action="deaths_detect",
            object_type="assistance.changeproposal",
            object_id="bulk",
            area_code=county_code,
            after={"count": len(proposals), "as_of": as_of},
        )
    return len(proposals)


@transaction.atomic
def death_process(
    *, actor, proposal_id: int, version: int | None, processed_on: dt.date, note: str = ""
) -> ChangeProposal:
    """Complete the change a death requires (S5 §1(3)): stop, or recompute for the survivors.

    Months already paid in approved rolls after the death month are recovered by adjustment
    lines in the next roll (the locked rolls themselves are never edited).
    """
    access.require_role(actor, access.TOWNSHIP_UP, "处理死亡变更", "processing a death")
    qs = ChangeProposal.objects.select_for_update()
    proposal = access.get_scoped(actor, qs, what_zh="变更提示", what_en="proposal", pk=proposal_id)
    _check_version(proposal, version, "变更提示", "proposal")
    if proposal.state != ChangeProposal.State.OPEN:
        raise TransitionNotAllowed("该变更已处理", "this change was already processed")
    enrolment = Enrolment.objects.select_for_update().get(pk=proposal.enrolment_id)
    death_month = clocks.month_start(proposal.event_date)
    first_unpaid = clocks.add_months(death_month, 1)
    member = enrolment.members.filter(person_id=proposal.person_id, active=True).first()
    outcome = ""
    if enrolment.status != Enrolment.Status.STOPPED:
        if (
            enrolment.programme != Programme.DIBAO
            or not enrolment.members.filter(active=True)
            .exclude(person_id=proposal.person_id)
            .exists()
        ):
            _stop(actor=actor, enrolment=enrolment, last_month=death_month, reason="死亡 / death")
            outcome = "stopped"
            new_amount = Decimal("0")
        else:
            if member is not None:
                member.active = False
                member.to_month = death_month
                member.end_reason = "death"
                member.save(update_fields=["active", "to_month", "end_reason"])
            result = assessment.assess(enrolment.household.household_id, as_of=processed_on)
            got = programme_result(result, "dibao")
            new_amount = got["amount"] if got["eligible"] else Decimal("0")
            if got["eligible"]:
                _new_period(
                    actor=actor,
                    enrolment=enrolment,
                    month=max(first_unpaid, enrolment.start_month),
                    amount=new_amount,
                    reason=AmountPeriod.Reason.DEATH,
                    result=result,
                    as_of=processed_on,
                    note=note,
                )
                outcome = "recomputed"
                enrolment.last_assessed_at = timezone.now()
                enrolment.version += 1
                enrolment.save()
            else:
                # The survivors no longer qualify: the change to complete is a stop.
                _stop(
                    actor=actor,
                    enrolment=enrolment,
                    last_month=death_month,
                    reason="成员死亡后不再符合条件 / not eligible after a member's death",
                )
                outcome = "stopped"
        _recover_overpaid(
            actor=actor, enrolment=enrolment, after_month=death_month, new_amount=new_amount
        )
    before = {"state": proposal.state}
    proposal.state = ChangeProposal.State.PROCESSED
    proposal.processed_on = processed_on
    proposal.processed_by = actor if access.is_user(actor) else None
    proposal.outcome = (outcome + (f": {note}" if note else "")).strip()
    proposal.version += 1
    proposal.save()
    audit.record(
        actor=actor,
        action="death_process",
        obj=proposal,
        area_code=enrolment.village_code,
        before=before,
        after={"state": proposal.state, "outcome": outcome},
    )
    return proposal


def _recover_overpaid(
    *, actor, enrolment: Enrolment, after_month: dt.date, new_amount: Decimal
) -> None:
    from .models import Adjustment

    paid = (
        RollLine.objects.filter(
            enrolment=enrolment,
            roll__status="approved",
            roll__month__gt=after_month,
            kind__in=["dibao", "single", "tekun"],
        )
        .exclude(failure__isnull=False)
        .values_list("id", "amount", "roll__month")
    )
    for line_id, amount, month in paid:
        excess = amount - (new_amount if enrolment.programme == Programme.DIBAO else Decimal("0"))
        if excess > 0 and not Adjustment.objects.filter(original_line_id=line_id).exists():
            Adjustment.objects.create(
                county_code=enrolment.county_code,
                village_code=enrolment.village_code,
                household=enrolment.household,
                enrolment=enrolment,
                original_line_id=line_id,
                amount=-excess,
                reason=f"{month:%Y-%m} 死亡后多发，追回 / overpaid after a death, recovered",
                created_by=actor if access.is_user(actor) else None,
            )


# --------------------------------------------------------------------------- care level


@transaction.atomic
def care_assess(
    *,
    actor,
    person_id_number: str,
    assessed_on: dt.date,
    items: dict[str, bool],
    version: int | None = None,
) -> CareAssessment:
    """Record the six daily-living items; the engine turns the count into the care level."""
    access.require_role(actor, access.TOWNSHIP_UP, "生活自理能力评估", "a self-care assessment")
    person = (
        Person.objects.select_related("household")
        .filter(id_number=person_id_number.strip().upper())
        .first()
    )
    if person is None:
        raise NotFound(
            f"未找到身份证号 {person_id_number}", f"no person with ID number {person_id_number}"
        )
    access.require_scope(actor, person.household.village_id)
    unknown = set(items) - set(CareAssessment.ITEMS)
    if unknown:
        raise _bad(
            f"未知的评估项目：{sorted(unknown)}", f"unknown assessment items: {sorted(unknown)}"
        )
    missing = set(CareAssessment.ITEMS) - set(items)
    if missing:
        raise _bad(
            f"六项须全部评估，缺：{sorted(missing)}",
            f"all six items are needed; missing {sorted(missing)}",
        )
    failed = sum(1 for k in CareAssessment.ITEMS if items[k])
    if person.adl_failed != failed:
        before = {"adl_failed": person.adl_failed, "version": person.version}
        Person.objects.filter(pk=person.pk).update(
            adl_failed=failed, version=F("version") + 1, updated_at=timezone.now()
        )
        audit.record(
            actor=actor,
            action="update",
            obj=person,
            area_code=person.household.village_id,
            before=before,
            after={"adl_failed": failed, "version": person.version + 1},
            note="生活自理能力评估 / self-care assessment",
        )
    enrolment = (
        Enrolment.objects.filter(programme="tekun", person=person).exclude(status="stopped").first()
    )
    level = ""
    if enrolment is not None:
        result = enrolment_recompute(
            actor=actor,
            enrolment_id=enrolment.pk,
            version=version,
            as_of=assessed_on,
            reason=AmountPeriod.Reason.CARE,
        )
        level = programme_result(result["assessment"], "tekun", person.id_number)["care_level"]
    care = CareAssessment.objects.create(
        person=person,
        assessed_on=assessed_on,
        items={k: bool(items[k]) for k in CareAssessment.ITEMS},
        failed_count=failed,
        care_level=level,
        created_by=actor if access.is_user(actor) else None,
    )
    audit.record(
        actor=actor,
        action="care_assess",
        obj=care,
        area_code=person.household.village_id,
        after={"failed": failed, "care_level": level},
    )
    return care


def parameter_source(name: str, area_code: str, on: dt.date) -> dict:
    value, meta = param_with_source(name, area_code, on)
    return {"name": name, "value": value, **meta}
