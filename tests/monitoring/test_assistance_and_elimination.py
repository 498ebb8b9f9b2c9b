"""Assistance measures, follow-ups and risk elimination (POLICY §1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from safetynet.core.errors import TransitionNotAllowed, ValidationFailed
from safetynet.monitoring import elimination, selectors, services, vocab

from . import flow

pytestmark = pytest.mark.django_db

SIX_MONTHS_ON = dt.date(2024, 7, 12)  # the decision was on 2024-01-12


def plan(users, case, kinds, on=flow.DECISION):
    return services.case_plan_measures(
        actor=users["village"],
        case=case,
        expected_version=case.version,
        measures=[{"kind": k, "description": "", "planned_on": on} for k in kinds],
        today=on,
    )


# ---- measures --------------------------------------------------------------------------------


def test_measure_not_matching_the_risk_type_is_refused(users, world):
    case = flow.monitored(users, world.households["A2"], risk_types=["因病"])
    with pytest.raises(ValidationFailed) as err:
        plan(users, case, ["employment", "housing"])
    assert "因病" in err.value.zh and "Health" in err.value.en and "Social help" in err.value.en
    assert not case.measures.exists()


@pytest.mark.parametrize(
    "risk, good, bad",
    [
        ("因学", "compulsory_education", "health"),
        ("因残", "fallback", "education"),
        ("因安全住房", "relocation", "drinking_water"),
        ("因安全饮水", "drinking_water", "housing"),
        ("因病", "social_help", "fallback"),
    ],
)
def test_each_risk_type_needs_its_measures(users, world, risk, good, bad):
    case = flow.monitored(users, world.households["A2"], risk_types=[risk])
    with pytest.raises(ValidationFailed):
        plan(users, case, [bad, "industry"])
    case = plan(users, case, [good, "industry"])
    assert set(case.measures.values_list("kind", flat=True)) == {good, "industry"}


def test_development_measure_required_for_a_household_with_labour(users, world):
    case = flow.monitored(users, world.households["A2"], risk_types=["因病"])
    with pytest.raises(ValidationFailed) as err:
        plan(users, case, ["health"])
    assert "development measure" in err.value.en and "开发式帮扶" in err.value.zh
    case = plan(users, case, ["health", "public_welfare_job"])
    assert case.measures.count() == 2
    # once the plan holds, single additions are checked against the whole set
    case = plan(users, case, ["living_conditions"])
    assert case.measures.count() == 3


def test_household_without_labour_needs_no_development_measure(users, world):
    hh = world.households["A2"]
    hh.members.update(labour="lost")
    case = flow.monitored(users, hh, risk_types=["因病", "缺劳动力"])
    case = plan(users, case, ["health", "fallback"])
    assert not services.household_labour_capable(hh)
    assert case.measures.count() == 2


def test_measures_only_for_monitoring_objects(users, world):
    case = flow.opened(users, world.households["A2"])
    with pytest.raises(TransitionNotAllowed):
        plan(users, case, ["health", "industry"])


def test_delivery_and_follow_up(users, world):
    case = plan(users, flow.monitored(users, world.households["A2"]), ["health", "employment"])
    assert case.next_follow_up_on == flow.DECISION
    measure = case.measures.get(kind="health")
    with pytest.raises(ValidationFailed):
        services.case_deliver_measure(
            actor=users["village"], case=case, expected_version=case.version,
            measure_id=measure.pk, delivered_on=dt.date(2024, 1, 11), today=dt.date(2024, 2, 1),
        )  # fmt: skip
    case = services.case_deliver_measure(
        actor=users["township"], case=case, expected_version=case.version,
        measure_id=measure.pk, delivered_on=dt.date(2024, 2, 1), note="医保缴费补贴到位",
        today=dt.date(2024, 2, 1),
    )  # fmt: skip
    measure.refresh_from_db()
    assert (measure.state, measure.delivered_on) == ("delivered", dt.date(2024, 2, 1))
    with pytest.raises(TransitionNotAllowed):
        services.case_deliver_measure(
            actor=users["village"], case=case, expected_version=case.version,
            measure_id=measure.pk, delivered_on=dt.date(2024, 2, 1), today=dt.date(2024, 2, 1),
        )  # fmt: skip
    # a follow-up schedules the next one; the cadre's list shows it when due
    case = services.case_follow_up(
        actor=users["village"], case=case, expected_version=case.version,
        visit_date=dt.date(2024, 2, 3), visitors="刘干部", findings="户主已出院",
        next_visit_on=dt.date(2024, 3, 3), today=dt.date(2024, 2, 3),
    )  # fmt: skip
    assert case.next_follow_up_on == dt.date(2024, 3, 3)
    work = selectors.my_work(users["village"], dt.date(2024, 3, 4))
    assert ("follow_up", True) in [(w.action, w.overdue) for w in work]
    assert "deliver_measure" in [w.action for w in work]  # employment is still planned
    assert case.events.filter(action="follow_up").get().data["visitors"] == ["刘干部"]


# ---- the elimination criteria (pure) ----------------------------------------------------------------


def _check(**kw):
    base = dict(
        assessment={
            "measures": {"pc_net_income": 9000},
            "monitoring": {"flagged": False, "level": "yellow", "rules": ["Y-NEAR"]},
            "explanations": [],
        },
        decided_on=dt.date(2024, 1, 12),
        as_of=SIX_MONTHS_ON,
        min_months=6,
        delivered_measures=1,
        labour_capable=True,
        income_line=Decimal("7300"),
    )
    base.update(kw)
    return elimination.check(**base)


def test_elimination_criteria_all_met():
    result = _check()
    assert result.ok and result.facts["earliest"] == "2024-07-12"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"as_of": dt.date(2024, 7, 11)}, "months"),
        ({"delivered_measures": 0}, "measure"),
        ({"labour_capable": False}, "labour"),
        ({"income_line": Decimal("9000.01")}, "income"),
        (
            {"assessment": {"measures": {"pc_net_income": 7299.99}, "monitoring": {}}},
            "income",
        ),
        ({"assessment": {"measures": {}, "monitoring": {}}}, "income"),
        (
            {
                "assessment": {
                    "measures": {"pc_net_income": 9000},
                    "monitoring": {"level": "orange", "rules": ["M-HOUSING", "Y-NEAR"]},
                }
            },
            "rules",
        ),
    ],
)
def test_each_unmet_elimination_criterion_is_explained(change, code):
    result = _check(**change)
    assert result.codes() == [code]
    assert result.shortfalls[0].zh and result.shortfalls[0].en


def test_the_engine_income_line_wins_over_the_fallback():
    assessment = {
        "measures": {"pc_net_income": 7000},
        "monitoring": {"level": None, "rules": []},
        "explanations": [{"rule": "X", "values": {"income_line": 6900}}],
    }
    # 7000 is below the fallback 7300 but above the 6900 the engine applied
    assert _check(assessment=assessment, income_line=Decimal("7300")).ok
    assessment["measures"]["pc_net_income"] = 6850
    assert _check(assessment=assessment, income_line=Decimal("7300")).codes() == ["income"]


def test_add_months_clamps_to_month_end():
    assert elimination.add_months(dt.date(2024, 8, 31), 6) == dt.date(2025, 2, 28)
    assert elimination.add_months(dt.date(2023, 12, 15), 1) == dt.date(2024, 1, 15)


# ---- elimination through the procedure ----------------------------------------------------------------


def propose(users, case, today, method="assistance"):
    return services.case_propose_elimination(
        actor=users["village"], case=case, expected_version=case.version, method=method,
        visit_date=today, investigators=["刘干部", "周干部"], findings="收入稳定，已出院",
        income_year=2024, net_income="20000", members_count=2, household_confirmed=True,
        today=today,
    )  # fmt: skip


def test_elimination_before_six_months_is_refused(users, world, assessment):
    case = flow.with_delivered_measures(users, flow.monitored(users, world.households["A2"]))
    with pytest.raises(TransitionNotAllowed) as err:
        propose(users, case, dt.date(2024, 7, 11))
    assert err.value.details["shortfalls"] == ["months"]
    assert "6 months" in err.value.en and "2024年07月12日" in err.value.zh
    case.refresh_from_db()
    assert case.state == vocab.MONITORED
    assert assessment.calls == [(case.household.household_id, dt.date(2024, 7, 11))]


def test_elimination_without_a_delivered_measure_is_refused(users, world, assessment):
    case = plan(users, flow.monitored(users, world.households["A2"]), ["health", "industry"])
    with pytest.raises(TransitionNotAllowed) as err:
        propose(users, case, SIX_MONTHS_ON)
    assert err.value.details["shortfalls"] == ["measure"]


def test_elimination_refused_while_rules_fire_or_income_is_low(users, world, assessment):
    case = flow.with_delivered_measures(users, flow.monitored(users, world.households["A2"]))
    assessment.level, assessment.rules = "red", ["M-INCOME"]
    assessment.pc_net_income = Decimal("5000")
    with pytest.raises(TransitionNotAllowed) as err:
        propose(users, case, SIX_MONTHS_ON)
    assert err.value.details["shortfalls"] == ["income", "rules"]
    assert "M-INCOME" in err.value.zh


def test_household_wholly_without_labour_is_never_eliminated(users, world, assessment):
    hh = world.households["A2"]
    case = flow.monitored(users, hh, risk_types=["缺劳动力"])
    hh.members.update(labour="none")
    case = flow.with_delivered_measures(users, case, kinds=("fallback",))
    with pytest.raises(TransitionNotAllowed) as err:
        propose(users, case, dt.date(2025, 1, 12))
    assert err.value.details["shortfalls"] == ["labour"]


def test_elimination_goes_through_the_whole_procedure(users, world, assessment):
    hh = world.households["A2"]
    case = flow.with_delivered_measures(users, flow.monitored(users, hh))
    case = propose(users, case, SIX_MONTHS_ON)
    assert case.state == vocab.ELIM_VERIFIED and case.elimination_method == "assistance"
    assert hh.household_id in selectors.monitored_household_ids()  # still until the county decides
    case = flow.noticed(users, case, start=dt.date(2024, 7, 13), end=dt.date(2024, 7, 17))
    assert case.state == vocab.ELIM_IN_NOTICE
    assert case.notices.get(phase="elimination").days == 5
    case = flow.reviewed(users, case, today=dt.date(2024, 7, 18))
    assert case.state == vocab.ELIM_REVIEWED
    # the county decision re-checks the criteria as of its own date
    assessment.level, assessment.rules = "orange", ["M-WATER"]
    with pytest.raises(TransitionNotAllowed):
        services.case_eliminate(
            actor=users["county"], case=case, expected_version=case.version,
            today=dt.date(2024, 7, 20),
        )  # fmt: skip
    assessment.level, assessment.rules = None, []
    case = services.case_eliminate(
        actor=users["county"], case=case, expected_version=case.version, today=dt.date(2024, 7, 20)
    )
    assert case.state == vocab.ELIMINATED and case.eliminated_on == dt.date(2024, 7, 20)
    assert hh.household_id not in selectors.monitored_household_ids()
    assert hh.household_id not in selectors.open_case_household_ids()
    phases = list(case.verifications.values_list("phase", flat=True))
    assert phases == ["identification", "elimination"]
    record = selectors.case_records().get(id=case.pk)
    assert record["delivered_measures"] == 2 and record["eliminated_on"] == dt.date(2024, 7, 20)


def test_refused_elimination_returns_to_monitoring(users, world, assessment):
    case = flow.with_delivered_measures(users, flow.monitored(users, world.households["A2"]))
    case = propose(users, case, SIX_MONTHS_ON, method="natural")
    case = flow.noticed(users, case, start=dt.date(2024, 7, 13), end=dt.date(2024, 7, 17))
    case = flow.reviewed(users, case, today=dt.date(2024, 7, 18), approve=False)
    assert case.state == vocab.MONITORED and case.elimination_method == ""
    case = propose(users, case, dt.date(2024, 8, 1))
    case = flow.noticed(users, case, start=dt.date(2024, 8, 2), end=dt.date(2024, 8, 6))
    case = flow.reviewed(users, case, today=dt.date(2024, 8, 7))
    with pytest.raises(ValidationFailed):
        services.case_eliminate(
            actor=users["county"], case=case, expected_version=case.version, approve=False
        )
    case = services.case_eliminate(
        actor=users["county"], case=case, expected_version=case.version, approve=False,
        note="医疗支出仍未稳定", today=dt.date(2024, 8, 8),
    )  # fmt: skip
    assert case.state == vocab.MONITORED


# ---- warnings from the screen ----------------------------------------------------------------------


def test_dispatch_opens_a_department_warning_case(users, world, warning):
    finding = warning(world.households["A2"], rules=("M-INCOME", "Y-NEAR"))
    case, created = services.warning_dispatch(
        actor=users["township"], finding=finding, today=dt.date(2024, 3, 2)
    )
    assert created and case.source == "department_warning" and case.state == vocab.CLUE
    assert case.clue_date == dt.date(2024, 3, 2) and case.clue_note == "M-INCOME、Y-NEAR"
    assert selectors.case_findings(case) == [finding]
    # the cadre of the village now has it to verify
    assert [w.case.pk for w in selectors.my_work(users["village"], dt.date(2024, 3, 2))] == [
        case.pk
    ]
    # dispatching again attaches, never a second case
    again, created = services.warning_dispatch(
        actor=users["county"], finding=finding, today=dt.date(2024, 3, 3)
    )
    assert (again.pk, created) == (case.pk, False)


def test_village_cadres_do_not_dispatch(users, world, warning):
    from safetynet.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.warning_dispatch(actor=users["village"], finding=warning(world.households["A2"]))


def test_screen_warnings_attach_to_open_cases(users, world, warning, screen_run):
    monitored = flow.monitored(users, world.households["A2"])
    run = screen_run(dt.date(2024, 3, 1))
    attached = warning(world.households["A2"], run=run, rules=("M-MEDINS",), level="orange")
    loose = warning(world.households["B"], run=run)
    assert services.attach_screen_findings(run=run) == 1
    assert selectors.case_findings(monitored) == [attached]
    event = monitored.events.get(action="attach_warning")
    assert event.data["rules"] == ["M-MEDINS"] and event.actor_label == "screen"
    assert not loose.case_links.exists()
    # idempotent
    assert services.attach_screen_findings(run=run) == 0
    assert monitored.events.filter(action="attach_warning").count() == 1
