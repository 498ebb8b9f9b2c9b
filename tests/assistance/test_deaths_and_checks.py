"""Deaths (from the feed or the registry), payments after death, and the programme checks."""

import datetime as dt
from decimal import Decimal

import pytest

from safetynet.assistance import rolls, services
from safetynet.assistance.checks import run_checks
from safetynet.assistance.models import Adjustment, ChangeProposal, RollLine
from safetynet.core.errors import PermissionDenied, ValidationFailed
from safetynet.core.models import AuditEvent

from .conftest import COUNTY, OTHER_COUNTY, OTHER_VILLAGE, approve, approved_roll

D = dt.date
pytestmark = pytest.mark.django_db
JUNE, JULY, AUG, SEP = D(2024, 6, 1), D(2024, 7, 1), D(2024, 8, 1), D(2024, 9, 1)


def death(person, on, record="D-1"):
    return {
        "record_id": record,
        "event_date": on,
        "id_number": person.id_number,
        "household_id": person.household.household_id,
    }


def by_check(findings):
    out = {}
    for f in findings:
        out.setdefault(f["check"], []).append(f)
    return out


def test_no_payment_after_the_death_month_without_an_audited_override(users, households, engine):
    hh = households("X001", members=1)
    elder = hh.people[0]
    e = approve(users, engine, hh, programme="tekun", person=elder, amount=1154)
    feeds = {"deaths": [death(elder, D(2024, 7, 10))]}
    july = rolls.roll_generate(
        actor=users["county"], county_code=COUNTY, month=JULY, feeds=feeds, today=D(2024, 7, 20)
    )
    assert RollLine.objects.filter(roll=july, enrolment=e).exists()  # the death month is paid
    proposal = ChangeProposal.objects.get(person=elder)
    assert (proposal.event_date, proposal.due_on, proposal.source) == (
        D(2024, 7, 10),
        D(2024, 10, 10),
        "feed",
    )
    aug = rolls.roll_generate(
        actor=users["county"], county_code=COUNTY, month=AUG, feeds=feeds, today=AUG
    )
    assert not RollLine.objects.filter(roll=aug, enrolment=e).exists()
    assert aug.check_report["generation"]["withheld"] == [e.pk]
    assert rolls.roll_reconcile(aug)["balanced"]

    with pytest.raises(ValidationFailed):
        rolls.payment_override_create(
            actor=users["county"], enrolment_id=e.pk, month=AUG, reason=""
        )
    with pytest.raises(PermissionDenied):
        rolls.payment_override_create(
            actor=users["village"], enrolment_id=e.pk, month=AUG, reason="死亡记录有误，待公安核实"
        )
    override = rolls.payment_override_create(
        actor=users["county"], enrolment_id=e.pk, month=AUG, reason="死亡记录有误，待公安核实"
    )
    assert AuditEvent.objects.filter(action="override", object_id=str(override.pk)).exists()
    aug = rolls.roll_generate(
        actor=users["county"],
        county_code=COUNTY,
        month=AUG,
        feeds=feeds,
        version=aug.version,
        today=AUG,
    )
    line = RollLine.objects.get(roll=aug, enrolment=e)
    assert line.override_id == override.pk
    rolls.roll_check(actor=users["county"], roll_id=aug.pk, version=aug.version)
    rolls.roll_approve(actor=users["county_2"], roll_id=aug.pk, version=aug.version + 1)
    found = by_check(run_checks(as_of=D(2024, 8, 15), feeds=feeds, eligibility=[]))
    paid = found["Q-DEAD-PAID"]
    assert len(paid) == 1 and paid[0]["id_number"] == elder.id_number
    assert "2024-08" in paid[0]["message_zh"] and "override" in paid[0]["message_en"]


def test_processing_a_death_stops_a_personal_enrolment(users, households, engine):
    hh = households("X002", members=1)
    elder = hh.people[0]
    e = approve(users, engine, hh, programme="tekun", person=elder, amount=1000)
    feeds = {"deaths": [death(elder, D(2024, 7, 10))]}
    assert services.deaths_detect(as_of=D(2024, 7, 15), feeds=feeds) == 1
    assert services.deaths_detect(as_of=D(2024, 7, 16), feeds=feeds) == 0  # never twice
    proposal = ChangeProposal.objects.get()
    services.death_process(
        actor=users["township"],
        proposal_id=proposal.pk,
        version=proposal.version,
        processed_on=D(2024, 7, 20),
    )
    e.refresh_from_db()
    assert (e.status, e.end_month) == ("stopped", JULY)
    assert not e.members.filter(active=True).exists()
    found = by_check(run_checks(as_of=D(2024, 11, 1), feeds=feeds, eligibility=[]))
    assert "Q-DEAD-LATE" not in found and "Q-DEAD-PAID" not in found


def test_a_death_in_a_dibao_household_recomputes_and_recovers_what_was_overpaid(
    users, households, engine
):
    hh = households("X003", members=3)
    e = approve(users, engine, hh, amount=900)
    grandpa = hh.people[0]
    feeds = {"deaths": [death(grandpa, D(2024, 6, 15))]}
    approved_roll(users, JUNE)  # the death was not yet known
    approved_roll(users, JULY)  # paid 900 for three members although one died in June
    engine.set("X003", dibao=(True, 600), since=D(2024, 6, 16))
    services.deaths_detect(as_of=D(2024, 8, 5), feeds=feeds)
    found = by_check(run_checks(as_of=D(2024, 8, 5), feeds=feeds, eligibility=[]))
    assert [f["id_number"] for f in found["Q-DEAD-PAID"]] == [grandpa.id_number]
    proposal = ChangeProposal.objects.get()
    services.death_process(
        actor=users["township"],
        proposal_id=proposal.pk,
        version=proposal.version,
        processed_on=D(2024, 8, 6),
    )
    e.refresh_from_db()
    assert e.status == "active"
    assert e.members.filter(active=True).count() == 2
    assert list(e.amounts.order_by("from_month").values_list("from_month", "monthly_amount")) == [
        (JUNE, Decimal("900")),
        (JULY, Decimal("600")),
    ]
    recovery = Adjustment.objects.get()
    assert recovery.amount == Decimal("-300") and recovery.original_line.roll.month == JULY
    aug = rolls.roll_generate(
        actor=users["county"], county_code=COUNTY, month=AUG, feeds=feeds, today=AUG
    )
    amounts = sorted(RollLine.objects.filter(roll=aug, household=hh).values_list("kind", "amount"))
    assert amounts == [("adjustment", Decimal("-300")), ("dibao", Decimal("600"))]


def test_a_registry_death_counts_and_late_processing_is_found(users, households, engine):
    hh = households("X004", members=2)
    e = approve(users, engine, hh, amount=500)
    spouse = hh.people[1]
    spouse.status = "deceased"
    spouse.save()
    assert services.deaths_detect(as_of=D(2024, 6, 20)) == 1
    proposal = ChangeProposal.objects.get()
    assert proposal.source == "registry" and not proposal.event_date_known
    assert proposal.due_on == D(2024, 9, 20)
    assert "Q-DEAD-LATE" not in by_check(run_checks(as_of=D(2024, 9, 20), eligibility=[]))
    late = by_check(run_checks(as_of=D(2024, 9, 21), eligibility=[]))["Q-DEAD-LATE"]
    assert [f["id_number"] for f in late] == [spouse.id_number]
    assert "未处理" in late[0]["message_zh"] and "not processed" in late[0]["message_en"]
    services.death_process(
        actor=users["county"], proposal_id=proposal.pk, version=None, processed_on=D(2024, 9, 30)
    )
    late = by_check(run_checks(as_of=D(2024, 10, 1), eligibility=[]))["Q-DEAD-LATE"]
    assert "2024-09-30" in late[0]["message_zh"]
    assert e.members.filter(active=True).count() == 1


def test_feed_checks_on_enrolled_households(users, households, engine):
    car = households("X010")
    moto = households("X011")
    boss = households("X012")
    clerk = households("X013")
    related = households("X014")
    outsider = households("X015")  # not enrolled: nothing to find
    for hh in (car, moto, boss, clerk):
        approve(users, engine, hh, amount=400)
    engine.set("X014", dibao=(True, 400))
    app = services.application_create(
        actor=users["county"],
        household_id="X014",
        programme="dibao",
        accepted_on=D(2024, 5, 6),
        related_to_staff=True,
        related_note="户主之子为乡镇民政员",
    )
    app = services.survey_record(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        started_on=D(2024, 5, 6),
        completed_on=D(2024, 5, 7),
        investigators=["甲", "乙"],
        family_signed=True,
    )
    app = services.check_record(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        started_on=D(2024, 5, 8),
        passed=True,
    )
    app = services.notice_start(
        actor=users["county"], application_id=app.pk, version=app.version, start=D(2024, 5, 9)
    )
    app = services.county_visit_record(
        actor=users["county"], application_id=app.pk, version=app.version, visited_on=D(2024, 5, 10)
    )
    services.application_decide(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 5, 17),
        approve=True,
    )

    def rec(hh, i=0, **kw):
        p = hh.people[i]
        return {
            "record_id": f"{hh.household_id}-{i}",
            "event_date": D(2024, 3, 1),
            "id_number": p.id_number,
            "household_id": hh.household_id,
            **kw,
        }

    feeds = {
        "vehicles": [
            rec(car, vehicle_type="car", status="active"),
            rec(car, 1, vehicle_type="truck", status="scrapped"),
            rec(moto, vehicle_type="motorcycle", status="active"),
            rec(outsider, vehicle_type="car", status="active"),
        ],
        "businesses": [
            rec(
                boss,
                enterprise_name="遂川某商贸有限公司",
                role="legal_rep",
                status="active",
                registered_capital=100000,
            ),
            rec(
                car,
                1,
                enterprise_name="已注销公司",
                role="shareholder",
                status="cancelled",
                registered_capital=1,
            ),
        ],
        "payroll": [rec(clerk, 1, employer="某镇人民政府"), rec(related, 2, employer="某镇民政所")],
    }
    found = by_check(run_checks(as_of=D(2024, 6, 30), feeds=feeds, eligibility=[]))
    assert [f["household_id"] for f in found["Q-VEHICLE"]] == ["X010"]
    assert "car" in found["Q-VEHICLE"][0]["message_en"]
    assert [f["household_id"] for f in found["Q-BUSINESS"]] == ["X012"]
    assert [f["household_id"] for f in found["Q-PAYROLL"]] == [
        "X013"
    ]  # X014 is registered separately
    assert found["Q-PAYROLL"][0]["id_number"] == clerk.people[1].id_number
    # A vehicle registered after the as-of date does not count yet.
    assert "Q-VEHICLE" not in by_check(run_checks(as_of=D(2024, 2, 1), feeds=feeds, eligibility=[]))


def test_eligibility_checks_omitted_wrong_and_amount(users, households, engine):
    right = households("X020")
    wrong = households("X021")
    grace = households("X022", employment="migrant")
    omitted = households("X023")
    applying = households("X024")
    for hh, amount in ((right, 500), (wrong, 500), (grace, 500)):
        approve(users, engine, hh, amount=amount)
    engine.set("X022", dibao=(False, 0), since=D(2024, 6, 1))
    services.enrolment_grace_start(
        actor=users["county"],
        enrolment_id=grace.assistance_enrolments.get().pk,
        version=None,
        as_of=D(2024, 6, 3),
        months=3,
        worker_id_number=grace.people[0].id_number,
    )
    engine.set("X024", dibao=(True, 700))
    services.application_create(
        actor=users["county"], household_id="X024", programme="dibao", accepted_on=D(2024, 6, 3)
    )
    approved_roll(users, JUNE)
    eligibility = [
        {"household_id": "X020", "dibao_eligible": True, "dibao_amount": 503},
        {"household_id": "X021", "dibao_eligible": False, "dibao_amount": 0},
        {"household_id": "X022", "dibao_eligible": False, "dibao_amount": 0},
        {"household_id": "X023", "dibao_eligible": True, "dibao_amount": 650},
        {"household_id": "X024", "dibao_eligible": True, "dibao_amount": 700},
    ]
    found = by_check(run_checks(as_of=D(2024, 6, 20), eligibility=eligibility))
    assert [f["household_id"] for f in found["Q-OMIT-DIBAO"]] == ["X023"]
    assert [f["household_id"] for f in found["Q-WRONG-DIBAO"]] == ["X021"]  # X022 is in grace
    assert [f["household_id"] for f in found["Q-AMOUNT"]] == ["X020"]
    assert (
        "500" in found["Q-AMOUNT"][0]["message_zh"] and "503" in found["Q-AMOUNT"][0]["message_zh"]
    )
    eligibility[0]["dibao_amount"] = 501  # within one yuan
    found = by_check(run_checks(as_of=D(2024, 6, 20), eligibility=eligibility))
    assert "Q-AMOUNT" not in found
    # The other county's area sees none of this.
    assert run_checks(as_of=D(2024, 6, 20), area_code=OTHER_COUNTY, eligibility=eligibility) == []
    assert omitted.household_id == "X023" and applying.household_id == "X024"


def test_without_a_screen_the_enrolled_households_are_assessed(users, households, engine):
    hh = households("X030")
    approve(users, engine, hh, amount=500)
    engine.set("X030", dibao=(False, 0), since=D(2024, 6, 1))
    found = run_checks(as_of=D(2024, 6, 20))
    assert [(f["check"], f["household_id"]) for f in found] == [("Q-WRONG-DIBAO", "X030")]


def test_review_overdue(users, households, engine):
    approve(users, engine, households("X040"), amount=300, household_type="unstable")
    assert run_checks(as_of=D(2024, 11, 17), eligibility=[]) == []
    found = run_checks(as_of=D(2024, 11, 18), eligibility=[])
    assert [(f["check"], f["household_id"]) for f in found] == [("Q-REVIEW", "X040")]
    assert "2024-11-17" in found[0]["message_zh"]


def test_a_person_paid_in_two_counties_in_one_month(users, households, engine):
    hh = households("X050", members=1)
    e = approve(users, engine, hh, amount=600)
    # The household moves to 茶陵县; the old county stops paying after July ...
    services.enrolment_stop(
        actor=users["county"],
        enrolment_id=e.pk,
        version=None,
        decided_on=D(2024, 7, 5),
        reason="迁出 / moved",
    )
    hh.village_id = OTHER_VILLAGE
    hh.save()
    # ... but the new county approved it from July as well.
    ousers = {
        **users,
        "county": users["other_county"],
        "township": users["other_county"],
        "county_2": users["admin"],
    }
    approve(ousers, engine, hh, amount=590, accepted_on=D(2024, 6, 3))
    approved_roll(users, JULY)
    approved_roll(ousers, JULY, county=OTHER_COUNTY)
    found = by_check(run_checks(as_of=D(2024, 7, 15), eligibility=[]))
    double = found["Q-DOUBLE"]
    assert [f["id_number"] for f in double] == [hh.people[0].id_number]
    assert "跨县" in double[0]["message_zh"] and "two counties" in double[0]["message_en"]


def test_eligibility_comes_from_the_screen_run_of_the_same_date(
    users, households, engine, tmp_path
):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from safetynet.screening.models import ScreenRun

    households("X060")
    approve(users, engine, households("X061"), amount=450)
    results = tmp_path / "run" / "results"
    results.mkdir(parents=True)
    table = pa.table(
        {
            "household_id": ["X060", "X061"],
            "dibao_eligible": [True, False],
            "dibao_amount": pa.array([Decimal("300"), Decimal("0")], pa.decimal128(12, 2)),
        }
    )
    pq.write_table(table, results / "households.parquet")
    ScreenRun.objects.create(as_of=D(2024, 6, 30), status="succeeded", results_path=str(results))
    found = {(f["check"], f["household_id"]) for f in run_checks(as_of=D(2024, 6, 30))}
    assert found == {("Q-OMIT-DIBAO", "X060"), ("Q-WRONG-DIBAO", "X061")}
    # Another date has no run: the enrolled households are assessed instead (no Q-OMIT-DIBAO).
    found = {(f["check"], f["household_id"]) for f in run_checks(as_of=D(2024, 6, 29))}
    assert found == set()
