"""The statutory procedure of each programme, step by step, with its clocks."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from safetynet.assistance import selectors, services
from safetynet.assistance.models import AmountPeriod, Application, Enrolment, EnrolmentMember
from safetynet.assistance.procedure import clocks_for, current_step
from safetynet.core.errors import (
    Conflict,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from safetynet.core.models import AuditEvent

D = dt.date
pytestmark = pytest.mark.django_db


def _apply(users, hh, programme="dibao", **kw):
    return services.application_create(
        actor=users["village"],
        household_id=hh.household_id,
        programme=programme,
        accepted_on=kw.pop("accepted_on", D(2024, 9, 20)),
        **kw,
    )


SURVEY, CHECK, NOTICE = D(2024, 9, 23), D(2024, 9, 27), D(2024, 9, 29)


def _through_notice(users, app, *, survey=SURVEY, check=CHECK, notice=NOTICE):
    app = services.survey_record(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        started_on=survey,
        completed_on=survey + dt.timedelta(days=1),
        investigators=["刘干事", "陈干事"],
        family_signed=True,
        findings="家中无劳动力收入",
    )
    app = services.check_record(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        started_on=check,
        passed=True,
    )
    return services.notice_start(
        actor=users["village"], application_id=app.pk, version=app.version, start=notice
    )


def test_dibao_application_from_acceptance_to_enrolment(users, households, engine):
    hh = households("H001", members=3)
    engine.set("H001", dibao=(True, 758))
    app = _apply(users, hh, source_case_id="CASE-17")
    assert app.assessment["dibao"]["monthly_amount"] == 758
    assert app.assessment_as_of == D(2024, 9, 20)
    assert app.source_case_id == "CASE-17"
    assert current_step(app) == "survey_start"

    # The survey needs two investigators and the family's signature.
    with pytest.raises(ValidationFailed) as info:
        services.survey_record(
            actor=users["township"],
            application_id=app.pk,
            version=app.version,
            started_on=D(2024, 9, 23),
            completed_on=D(2024, 9, 24),
            investigators=["刘干事", "刘干事"],
            family_signed=True,
        )
    assert "不少于 2 人" in info.value.zh and "at least 2" in info.value.en
    with pytest.raises(ValidationFailed):
        services.survey_record(
            actor=users["township"],
            application_id=app.pk,
            version=app.version,
            started_on=D(2024, 9, 23),
            completed_on=D(2024, 9, 24),
            investigators=["刘干事", "陈干事"],
            family_signed=False,
        )
    # A village cadre cannot run the township's survey.
    with pytest.raises(PermissionDenied):
        services.survey_record(
            actor=users["village"],
            application_id=app.pk,
            version=app.version,
            started_on=D(2024, 9, 23),
        )

    app = _through_notice(users, app)
    # The notice started on the make-up Sunday before National Day ends on 10-08.
    assert app.notice_end == D(2024, 10, 8)
    with pytest.raises(TransitionNotAllowed) as info:
        services.application_decide(
            actor=users["county"],
            application_id=app.pk,
            version=app.version,
            decided_on=D(2024, 10, 7) + dt.timedelta(days=1) - dt.timedelta(days=1),
            approve=True,
        )
    assert "公示期未满" in info.value.zh

    app = services.application_decide(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 10, 9),
        approve=True,
        household_type="unstable",
    )
    assert app.status == "approved" and app.approver_level == "county"
    assert app.approved_amount == Decimal("758")
    enrolment = Enrolment.objects.get(application=app)
    assert enrolment.start_month == D(2024, 11, 1)  # the month after approval
    assert enrolment.next_review_on == D(2025, 4, 9)  # unstable: every 6 months
    assert enrolment.members.filter(active=True).count() == 3
    period = enrolment.amounts.get()
    assert (period.from_month, period.monthly_amount, period.reason) == (
        D(2024, 11, 1),
        Decimal("758"),
        "approval",
    )
    assert period.assessment["dibao"]["monthly_amount"] == 758

    states = {c.step: c.state for c in clocks_for(app, today=D(2024, 10, 9))}
    assert states == {
        "acceptance": "done",
        "survey_start": "done",
        "survey": "done",
        "check": "done",
        "notice": "done",
        "decision": "done",
    }
    actions = list(
        AuditEvent.objects.filter(object_type="assistance.application", object_id=str(app.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "survey", "check", "notice", "approve"]


def test_clocks_show_late_and_overdue_steps(users, households, engine):
    hh = households("H002")
    engine.set("H002", dibao=(True, 300))
    app = _apply(users, hh, accepted_on=D(2024, 9, 27))
    clock = {c.step: c for c in clocks_for(app, today=D(2024, 10, 9))}
    # 3 working days after Friday 09-27: 09-29 (make-up Sunday), 09-30, 10-08.
    assert clock["survey_start"].due == D(2024, 10, 8)
    assert clock["survey_start"].state == "overdue"
    assert clock["decision"].due == D(2024, 11, 13)  # 30 working days
    app = services.survey_record(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        started_on=D(2024, 10, 9),
    )
    clock = {c.step: c for c in clocks_for(app, today=D(2024, 10, 9))}
    assert clock["survey_start"].state == "late"
    assert clock["survey"].state == "pending"


def test_delegated_and_special_tracks_change_the_overall_limit(users, households, engine):
    hh = households("H003")
    engine.set("H003", dibao=(True, 300))
    delegated = _apply(users, hh, track="delegated")
    due = {c.step: c.due for c in clocks_for(delegated, today=D(2024, 9, 20))}["decision"]
    assert due == D(2024, 10, 23)  # 20 working days
    services.application_withdraw(
        actor=users["village"],
        application_id=delegated.pk,
        version=delegated.version,
        reason="重新申请",
    )
    with pytest.raises(ValidationFailed):
        _apply(users, hh, track="special")
    special = _apply(users, hh, track="special", special_reason="户籍与居住地不一致")
    due = {c.step: c.due for c in clocks_for(special, today=D(2024, 9, 20))}["decision"]
    assert due == D(2024, 11, 27)  # 45 working days
    # The township decides a delegated application itself.
    engine.set("H003", dibao=(True, 300))


def test_delegated_application_is_decided_by_the_township(users, households, engine):
    hh = households("H004")
    engine.set("H004", dibao=(True, 410))
    app = _through_notice(users, _apply(users, hh, track="delegated"))
    with pytest.raises(PermissionDenied):
        services.application_decide(
            actor=users["village"],
            application_id=app.pk,
            version=app.version,
            decided_on=D(2024, 10, 9),
            approve=True,
        )
    app = services.application_decide(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 10, 9),
        approve=True,
    )
    assert app.approver_level == "township"


def test_refusal_needs_written_reasons_and_is_told_within_three_working_days(
    users, households, engine
):
    hh = households("H005")
    engine.set("H005", dibao=(False, 0))
    app = _apply(users, hh)
    with pytest.raises(ValidationFailed) as info:
        services.application_decide(
            actor=users["county"],
            application_id=app.pk,
            version=app.version,
            decided_on=D(2024, 9, 30),
            approve=False,
        )
    assert "书面说明理由" in info.value.zh
    app = _through_notice(users, app)
    with pytest.raises(TransitionNotAllowed) as info:  # the rules say not eligible
        services.application_decide(
            actor=users["county"],
            application_id=app.pk,
            version=app.version,
            decided_on=D(2024, 10, 9),
            approve=True,
        )
    assert "not eligible" in info.value.en
    app = services.application_decide(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 10, 9),
        approve=False,
        refusal_reason="家庭人均收入高于低保标准",
    )
    assert app.status == "refused" and not Enrolment.objects.exists()
    clock = {c.step: c for c in clocks_for(app, today=D(2024, 10, 16))}
    assert (
        clock["refusal_notice"].due == D(2024, 10, 12)
        and clock["refusal_notice"].state == "overdue"
    )
    app = services.refusal_notify(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        notified_on=D(2024, 10, 11),
    )
    clock = {c.step: c for c in clocks_for(app, today=D(2024, 10, 16))}
    assert clock["refusal_notice"].state == "done"


def test_relatives_of_staff_are_registered_separately_and_need_the_county_visit(
    users, households, engine
):
    hh = households("H006")
    engine.set("H006", dibao=(True, 500))
    with pytest.raises(ValidationFailed):
        _apply(users, hh, related_to_staff=True)
    app = _apply(users, hh, related_to_staff=True, related_note="户主之弟为村委会委员")
    assert [a.pk for a in selectors.separate_register(users["county"])] == [app.pk]
    assert list(selectors.separate_register(users["village_2"])) == []
    app = _through_notice(users, app)
    with pytest.raises(TransitionNotAllowed) as info:
        services.application_decide(
            actor=users["county"],
            application_id=app.pk,
            version=app.version,
            decided_on=D(2024, 10, 9),
            approve=True,
        )
    assert "县级入户核查" in info.value.zh
    app = services.county_visit_record(
        actor=users["county"], application_id=app.pk, version=app.version, visited_on=D(2024, 10, 8)
    )
    app = services.application_decide(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 10, 9),
        approve=True,
    )
    assert Enrolment.objects.get(application=app).separately_registered


def test_objection_during_the_notice_sends_the_file_back_as_a_special_case(
    users, households, engine
):
    hh = households("H007")
    engine.set("H007", dibao=(True, 500))
    app = _through_notice(users, _apply(users, hh))
    app = services.notice_objection(
        actor=users["village"],
        application_id=app.pk,
        version=app.version,
        note="村民反映家中有货车",
    )
    assert app.track == "special" and app.notice_end is None and app.survey_completed_on is None
    assert current_step(app) == "survey"


def test_tekun_is_per_person_and_nobody_is_in_dibao_and_tekun_at_once(users, households, engine):
    hh = households("H010", members=2)
    elder = hh.people[0]
    engine.set("H010", dibao=(True, 600), tekun={elder.id_number: (True, "partial", 1154)})
    tekun = _apply(users, hh, programme="tekun", person_id_number=elder.id_number)
    tekun = _through_notice(users, tekun)
    tekun_due = {c.step: c.due for c in clocks_for(tekun, today=D(2024, 10, 9))}
    assert tekun_due["survey"] == D(2024, 10, 16)  # township opinion within 15 working days
    assert tekun_due["decision"] == D(2024, 10, 28)  # county within 15 working days of the notice
    tekun = services.application_decide(
        actor=users["county"],
        application_id=tekun.pk,
        version=tekun.version,
        decided_on=D(2024, 10, 9),
        approve=True,
        rechecked=True,
    )
    enrolment = Enrolment.objects.get(application=tekun)
    assert enrolment.person_id == elder.pk and enrolment.care_level == "partial"
    assert enrolment.amounts.get().monthly_amount == Decimal("1154")

    # The household's dibao would cover the tekun person too: refused by the service ...
    with pytest.raises(Conflict) as info:
        _apply(users, hh, programme="dibao")
    assert "同时享受低保和特困" in info.value.zh
    # ... and by the database.
    other = Enrolment.objects.create(
        programme="dibao",
        household=hh,
        village_code=hh.village_id,
        county_code=hh.village_id[:6],
        approved_on=D(2024, 10, 9),
        start_month=D(2024, 11, 1),
        next_review_on=D(2025, 10, 9),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        EnrolmentMember.objects.create(
            enrolment=other, person=elder, programme="dibao", from_month=D(2024, 11, 1)
        )
    # A second tekun application for the same person is refused too.
    with pytest.raises(Conflict):
        _apply(users, hh, programme="tekun", person_id_number=elder.id_number)


def test_single_person_dibao_in_an_edge_household(users, households, engine):
    hh = households("H011", members=3)
    sick = hh.people[2]
    engine.set("H011", dibao=(False, 0), single={sick.id_number: 816})
    app = _through_notice(
        users, _apply(users, hh, programme="single", person_id_number=sick.id_number)
    )
    app = services.application_decide(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 10, 9),
        approve=True,
    )
    enrolment = Enrolment.objects.get(application=app)
    assert enrolment.programme == "single" and enrolment.members.get().person_id == sick.pk
    assert enrolment.amounts.get().monthly_amount == Decimal("816")
    with pytest.raises(ValidationFailed):
        _apply(users, hh, programme="single")


def test_emergency_assistance_paid_first_within_the_township_limit(users, households, engine):
    hh = households("H020")
    app = _apply(
        users, hh, programme="temporary", temp_type="emergency", need=1500, event="房屋失火"
    )
    assert app.assessment["temporary"]["amount"] == 1500
    with pytest.raises(ValidationFailed) as info:
        services.temporary_pay_first(
            actor=users["township"],
            application_id=app.pk,
            version=app.version,
            paid_on=D(2024, 9, 20),
            amount=2500,
        )
    assert "2000" in info.value.zh
    app = services.temporary_pay_first(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        paid_on=D(2024, 9, 20),
        amount=1500,
    )
    assert app.status == "advance_paid" and current_step(app) == "documented"
    app = services.temporary_document(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        documented_on=D(2024, 9, 26),
        investigators=["刘干事", "陈干事"],
        note="火灾烧毁住房，已发放 1500 元",
    )
    assert app.status == "approved" and app.decided_on == D(2024, 9, 20)
    assert app.approver_level == "township"


def test_temporary_approver_by_amount(users, households, engine):
    hh = households("H021")
    small = _apply(users, hh, programme="temporary", temp_type="emergency", need=1200)
    small = services.application_decide(
        actor=users["township"],
        application_id=small.pk,
        version=small.version,
        decided_on=D(2024, 9, 23),
        approve=True,
    )
    assert small.approver_level == "township" and small.approved_amount == Decimal("1200")
    big = _apply(users, hh, programme="temporary", temp_type="expenditure", need=9000)
    big = services.survey_record(
        actor=users["township"],
        application_id=big.pk,
        version=big.version,
        started_on=D(2024, 9, 23),
        completed_on=D(2024, 9, 24),
        investigators=["刘干事", "陈干事"],
        family_signed=True,
    )
    big = services.check_record(
        actor=users["county"],
        application_id=big.pk,
        version=big.version,
        started_on=D(2024, 9, 25),
        passed=True,
    )
    with pytest.raises(PermissionDenied) as info:
        services.application_decide(
            actor=users["township"],
            application_id=big.pk,
            version=big.version,
            decided_on=D(2024, 9, 26),
            approve=True,
        )
    assert "县级审批" in info.value.zh
    big = services.application_decide(
        actor=users["county"],
        application_id=big.pk,
        version=big.version,
        decided_on=D(2024, 9, 26),
        approve=True,
    )
    assert big.approver_level == "county" and big.approved_amount == Decimal("4080")
    assert big.case_by_case  # need above the cap: 一事一议
    with pytest.raises(TransitionNotAllowed):  # expenditure type cannot be paid first
        services.temporary_pay_first(
            actor=users["township"],
            application_id=big.pk,
            version=big.version,
            paid_on=D(2024, 9, 26),
            amount=100,
        )


def test_concurrent_edits_are_rejected_by_version(users, households, engine):
    hh = households("H030")
    engine.set("H030", dibao=(True, 500))
    app = _apply(users, hh)
    stale = app.version
    services.survey_record(
        actor=users["township"], application_id=app.pk, version=stale, started_on=D(2024, 9, 23)
    )
    with pytest.raises(Conflict) as info:
        services.survey_record(
            actor=users["township"], application_id=app.pk, version=stale, started_on=D(2024, 9, 24)
        )
    assert "已被他人修改" in info.value.zh and "changed by someone else" in info.value.en
    assert Application.objects.get(pk=app.pk).survey_started_on == D(2024, 9, 23)


def test_scope_and_bad_input_change_nothing(users, households, engine):
    hh = households("H040", village="360827101002")
    with pytest.raises(PermissionDenied):
        _apply(users, hh)  # the cadre of 南屏村 applying for a household of 大坑村
    with pytest.raises(ValidationFailed):
        services.application_create(
            actor=users["county"],
            household_id="H040",
            programme="lottery",
            accepted_on=D(2024, 9, 20),
        )
    with pytest.raises(ValidationFailed):
        services.application_create(
            actor=users["county"],
            household_id="H040",
            programme="temporary",
            temp_type="emergency",
            need="lots",
            accepted_on=D(2024, 9, 20),
        )
    from safetynet.core.errors import NotFound

    with pytest.raises(NotFound):
        services.application_create(
            actor=users["county"],
            household_id="NOPE",
            programme="dibao",
            accepted_on=D(2024, 9, 20),
        )
    assert not Application.objects.exists()
    assert not AmountPeriod.objects.exists()
