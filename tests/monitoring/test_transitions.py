"""The monitoring procedure as a state machine (POLICY §1): each transition's rules."""

from __future__ import annotations

import datetime as dt

import pytest

from safetynet.core.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from safetynet.core.models import AuditEvent
from safetynet.monitoring import selectors, services, vocab
from safetynet.monitoring.models import Case, CaseEvent, Notice, Verification

from . import flow

pytestmark = pytest.mark.django_db


def test_identification_path_makes_a_monitoring_object(users, world):
    hh = world.households["A2"]
    case = flow.opened(users, hh)
    assert case.state == vocab.CLUE and case.version == 1
    assert case.deadline == flow.CLUE + dt.timedelta(days=15)
    assert hh.household_id not in selectors.monitored_household_ids()
    assert hh.household_id in selectors.open_case_household_ids()

    case = flow.verified(users, case)
    assert (case.state, case.version) == (vocab.VERIFIED, 2)
    case = flow.noticed(users, case)
    assert case.state == vocab.IN_NOTICE
    case = flow.reviewed(users, case)
    assert case.state == vocab.REVIEWED
    case = flow.decided(users, case)
    assert (case.state, case.category, case.risk_types) == (vocab.MONITORED, "edge", ["因病"])
    assert case.decided_on == flow.DECISION and not case.decided_late
    assert case.version == 5
    assert hh.household_id in selectors.monitored_household_ids()

    events = list(case.events.values_list("action", "from_state", "to_state"))
    assert events == [
        ("open", "", "clue"),
        ("verify", "clue", "verified"),
        ("publish_notice", "verified", "in_notice"),
        ("review", "in_notice", "reviewed"),
        ("decide", "reviewed", "monitored"),
    ]
    verify = case.events.get(action="verify")
    assert verify.data["investigators"] == ["刘干部", "周干部"]
    assert verify.data["net_income"] == "12000.00" and verify.data["pc_net_income"] == "6000.00"
    assert verify.actor == users["village"] and verify.on_date == flow.VISIT
    audited = AuditEvent.objects.filter(object_type="monitoring.case", object_id=str(case.pk))
    assert set(audited.values_list("action", flat=True)) == {
        "monitoring.open",
        "monitoring.verify",
        "monitoring.publish_notice",
        "monitoring.review",
        "monitoring.decide",
    }
    decide = audited.get(action="monitoring.decide")
    assert decide.before["state"] == "reviewed" and decide.after["state"] == "monitored"
    assert decide.actor == users["county"]


VERIFICATION_ERRORS = [
    ({"investigators": ["刘干部"]}, "at least 2 investigators"),
    ({"investigators": "刘干部、刘干部"}, "at least 2 investigators"),
    ({"household_confirmed": False}, "must confirm"),
    ({"visit_date": dt.date(2024, 1, 1)}, "before 2024-01-02"),
    ({"visit_date": dt.date(2024, 1, 5)}, "future"),
    ({"findings": "  "}, "findings"),
    ({"net_income": "-5"}, "negative"),
    ({"net_income": "abc"}, "not an amount"),
    ({"members_count": 0}, "at least one member"),
]


def test_verification_form_rules(users, world):
    case = flow.opened(users, world.households["A2"])
    for change, message in VERIFICATION_ERRORS:
        form = dict(
            visit_date=flow.VISIT,
            investigators=["刘干部", "周干部"],
            findings="核实",
            income_year=2023,
            net_income="12000",
            members_count=2,
            household_confirmed=True,
        )
        form.update(change)
        with pytest.raises(ValidationFailed) as err:
            services.case_verify(
                actor=users["village"], case=case, expected_version=1, today=flow.VISIT, **form
            )
        assert message in err.value.en and err.value.zh, change
    case.refresh_from_db()
    assert (case.state, case.version) == (vocab.CLUE, 1)
    assert not Verification.objects.exists()


def test_notice_too_short_is_refused_and_changes_nothing(users, world):
    case = flow.verified(users, flow.opened(users, world.households["A2"]))
    with pytest.raises(ValidationFailed) as err:
        flow.noticed(users, case, start=dt.date(2024, 1, 5), end=dt.date(2024, 1, 8))
    assert "4 days" in err.value.en and "少于规定的 5 天" in err.value.zh
    case.refresh_from_db()
    assert case.state == vocab.VERIFIED and case.version == 2
    assert not Notice.objects.exists()
    assert not CaseEvent.objects.filter(action="publish_notice").exists()


def test_notice_cannot_start_before_the_verification(users, world):
    case = flow.verified(users, flow.opened(users, world.households["A2"]))
    with pytest.raises(ValidationFailed):
        flow.noticed(users, case, start=dt.date(2024, 1, 3), end=dt.date(2024, 1, 9))


def test_notice_is_published_once(users, world):
    case = flow.noticed(users, flow.verified(users, flow.opened(users, world.households["A2"])))
    with pytest.raises(TransitionNotAllowed) as err:
        flow.noticed(users, case, start=dt.date(2024, 1, 6), end=dt.date(2024, 1, 12))
    assert "not allowed" in err.value.en
    assert Notice.objects.filter(case=case).count() == 1


def test_review_waits_for_the_notice_to_end(users, world):
    case = flow.noticed(users, flow.verified(users, flow.opened(users, world.households["A2"])))
    with pytest.raises(TransitionNotAllowed) as err:
        flow.reviewed(users, case, today=flow.NOTICE_END)
    assert "2024-01-09" in err.value.en
    assert flow.reviewed(users, case, today=flow.NOTICE_END + dt.timedelta(days=1)).state == (
        vocab.REVIEWED
    )


def test_decision_without_verification_is_not_allowed(users, world):
    case = flow.opened(users, world.households["A2"])
    with pytest.raises(TransitionNotAllowed) as err:
        flow.decided(users, case)
    assert "县级认定" in err.value.zh and "Awaiting home verification" in err.value.en
    case = flow.verified(users, case)
    with pytest.raises(TransitionNotAllowed):
        flow.decided(users, case)
    case.refresh_from_db()
    assert case.state == vocab.VERIFIED and case.decided_on is None


@pytest.mark.parametrize(
    "key, category, risks, message",
    [
        ("A2", "unstable", ["因病"], "only an exited poor household"),
        ("A", "edge", ["因病"], "cannot be 'edge'"),
        ("A2", "", ["因病"], "choose a category"),
        ("A2", "edge", [], "at least one risk type"),
        ("A2", "edge", ["因为穷"], "unknown risk types"),
    ],
)
def test_decision_checks_category_and_risk_types(users, world, key, category, risks, message):
    case = flow.reviewed(
        users, flow.noticed(users, flow.verified(users, flow.opened(users, world.households[key])))
    )
    with pytest.raises(ValidationFailed) as err:
        flow.decided(users, case, category=category, risk_types=risks)
    assert message in err.value.en


def test_county_may_refuse_with_a_reason(users, world):
    case = flow.reviewed(
        users, flow.noticed(users, flow.verified(users, flow.opened(users, world.households["A2"])))
    )
    with pytest.raises(ValidationFailed):
        services.case_decide(
            actor=users["county"], case=case, expected_version=case.version, confirm=False
        )
    case = services.case_decide(
        actor=users["county"],
        case=case,
        expected_version=case.version,
        confirm=False,
        note="收入稳定，不符合条件",
        today=flow.DECISION,
    )
    assert case.state == vocab.CLOSED and case.close_reason == "收入稳定，不符合条件"
    assert case.household.household_id not in selectors.monitored_household_ids()


def test_township_not_approving_closes_the_identification(users, world):
    case = flow.noticed(users, flow.verified(users, flow.opened(users, world.households["A2"])))
    case = flow.reviewed(users, case, approve=False)
    assert case.state == vocab.CLOSED and "不纳入" in case.close_reason


def test_close_as_false_alarm_needs_a_reason_and_frees_the_household(users, world):
    hh = world.households["A2"]
    case = flow.opened(users, hh)
    with pytest.raises(ValidationFailed):
        services.case_close(actor=users["township"], case=case, expected_version=1, reason=" ")
    case = services.case_close(
        actor=users["township"],
        case=case,
        expected_version=1,
        reason="数据比对错误",
        today=flow.VISIT,
    )
    assert case.state == vocab.CLOSED and case.closed_on == flow.VISIT
    with pytest.raises(TransitionNotAllowed):
        flow.verified(users, case)
    again = flow.opened(users, hh, clue_date=dt.date(2024, 2, 1))
    assert again.pk != case.pk and again.state == vocab.CLUE


def test_one_open_case_per_household(users, world):
    case = flow.opened(users, world.households["A2"])
    with pytest.raises(ValidationFailed) as err:
        flow.opened(users, world.households["A2"])
    assert f"#{case.pk}" in err.value.en
    assert Case.objects.count() == 1


def test_concurrent_edits_conflict(users, world):
    case = flow.opened(users, world.households["A2"])
    first_view = Case.objects.get(pk=case.pk)
    second_view = Case.objects.get(pk=case.pk)
    flow.verified(users, first_view)
    with pytest.raises(Conflict) as err:
        services.case_close(
            actor=users["township"], case=second_view, expected_version=second_view.version,
            reason="误报",
        )  # fmt: skip
    assert "version 2" in err.value.en and "已被他人修改" in err.value.zh
    case.refresh_from_db()
    assert case.state == vocab.VERIFIED and case.version == 2
    assert not CaseEvent.objects.filter(action="close").exists()


def test_a_stale_version_conflicts_even_for_the_same_user(users, world):
    case = flow.verified(users, flow.opened(users, world.households["A2"]))
    with pytest.raises(Conflict):
        services.case_publish_notice(
            actor=users["village"], case=case, expected_version=1, start=flow.NOTICE_START,
            end=flow.NOTICE_END, appraisal="同意", today=flow.NOTICE_START,
        )  # fmt: skip


# ---- who may do what ---------------------------------------------------------------------------

ROLE_MATRIX = {
    "verify": {"village"},
    "publish_notice": {"village"},
    "review": {"township"},
    "decide": {"county"},
    "close": {"township", "county"},
    "plan_measures": {"village", "township", "county"},
    "deliver_measure": {"village", "township", "county"},
    "follow_up": {"village", "township"},
    "propose_elimination": {"village"},
    "eliminate": {"county"},
    "open": {"village", "township", "county"},
    "dispatch": {"township", "county"},
}


def test_role_matrix_is_the_documented_one():
    assert {a: set(v[2]) for a, v in services.ACTIONS.items()} == ROLE_MATRIX


@pytest.mark.parametrize("username", ["village", "township", "county", "analyst", "admin"])
def test_roles_per_action(users, world, username):
    """Each persona tries the next step of a case in every state; only its role's steps pass
    the role check (PermissionDenied otherwise, before anything else is looked at)."""
    user = users[username]
    hh = world.households["A2"]
    steps = {
        "verify": lambda c: flow.verified({"village": user}, c),
        "publish_notice": lambda c: flow.noticed({"village": user}, c),
        "review": lambda c: flow.reviewed({"township": user}, c),
        "decide": lambda c: flow.decided({"county": user}, c),
    }
    case = flow.opened(users, hh)
    for action, step in steps.items():
        allowed = user.role in ROLE_MATRIX[action]
        if allowed:
            case = step(case)
        else:
            with pytest.raises(PermissionDenied):
                step(case)
            case = {
                "verify": lambda c: flow.verified(users, c),
                "publish_notice": lambda c: flow.noticed(users, c),
                "review": lambda c: flow.reviewed(users, c),
                "decide": lambda c: flow.decided(users, c),
            }[action](case)
    assert case.state == vocab.MONITORED
    with pytest.raises(PermissionDenied) if user.role not in ROLE_MATRIX["close"] else _none():
        other = flow.opened(users, world.households["A"])
        services.case_close(actor=user, case=other, expected_version=1, reason="误报")


class _none:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_users_outside_the_area_cannot_act(users, world):
    case = flow.opened(users, world.households["A2"])  # 南屏村
    with pytest.raises(PermissionDenied):
        flow.verified({"village": users["village_b"]}, case)  # the cadre of 大坑村
    with pytest.raises(PermissionDenied):
        services.case_close(
            actor=users["county_other"], case=case, expected_version=1, reason="误报"
        )
    case.refresh_from_db()
    assert case.state == vocab.CLUE and case.version == 1


def test_open_rejects_department_source_and_future_dates(users, world):
    hh = world.households["A2"]
    with pytest.raises(ValidationFailed):
        services.case_open(
            actor=users["village"], household=hh, source="department_warning", note="x"
        )
    with pytest.raises(ValidationFailed):
        services.case_open(
            actor=users["village"], household=hh, source="self_report", note="x",
            clue_date=dt.date(2024, 2, 2), today=dt.date(2024, 2, 1),
        )  # fmt: skip
    with pytest.raises(ValidationFailed):
        services.case_open(actor=users["village"], household=hh, source="self_report", note="")
    assert not Case.objects.exists()


# ---- the identification limit ---------------------------------------------------------------------


def test_identification_limit_overdue_and_late_decisions(users, world):
    late = flow.opened(users, world.households["A2"], clue_date=dt.date(2024, 1, 2))
    fresh = flow.opened(users, world.households["A"], clue_date=dt.date(2024, 1, 15))
    today = dt.date(2024, 1, 18)
    assert late.is_overdue(today) and not fresh.is_overdue(today)
    assert [c.pk for c in selectors.overdue_cases(users["county"], today)] == [late.pk]
    work = selectors.my_work(users["village"], today)
    assert [(w.case.pk, w.action, w.overdue) for w in work] == [
        (late.pk, "verify", True),
        (fresh.pk, "verify", False),
    ]
    # decided after the deadline: no longer overdue, but marked late
    late = flow.verified(users, late, visit=dt.date(2024, 1, 10))
    late = flow.noticed(users, late, start=dt.date(2024, 1, 10), end=dt.date(2024, 1, 14))
    late = flow.reviewed(users, late, today=dt.date(2024, 1, 16))
    late = flow.decided(users, late, today=dt.date(2024, 1, 19))
    assert late.decided_late and not late.is_overdue(dt.date(2024, 1, 20))
    assert late.events.get(action="decide").data["on_time"] is False
