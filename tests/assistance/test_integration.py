"""The programmes with the real rule engine and real department feeds (no stand-ins)."""

import datetime as dt
from decimal import Decimal

import pytest

from safetynet.assistance import services
from safetynet.assistance.checks import run_checks
from safetynet.assistance.models import ChangeProposal

from .conftest import VILLAGE, approve

D = dt.date
pytestmark = pytest.mark.django_db


@pytest.fixture
def case01(region):
    """POLICY case 01: a family of three, wage after the employment deduction under the standard."""
    from safetynet.registry.models import Household, Income, Person

    hh = Household.objects.create(
        household_id="C01",
        village_id=VILLAGE,
        housing_grade="B",
        bank_account="6217995010009999001",
    )
    people = [
        Person.objects.create(
            household=hh,
            id_number="360827198003150111",
            name="张建国",
            relation="head",
            labour="normal",
            employment="migrant",
            work_months=8,
        ),
        Person.objects.create(
            household=hh,
            id_number="360827198207020220",
            name="李秀英",
            relation="spouse",
            labour="normal",
        ),
        Person.objects.create(
            household=hh,
            id_number="360827201009090310",
            name="张小明",
            relation="child",
            labour="none",
            in_school=True,
        ),
    ]
    Income.objects.create(
        household=hh,
        year=2023,
        wage=Decimal("14000"),
        business_income=Decimal("6000"),
        business_cost=Decimal("2000"),
        policy_subsidies=Decimal("600"),
    )
    hh.people = people
    return hh


def test_the_engine_assessment_is_stored_and_drives_the_decision(users, case01):
    app = services.application_create(
        actor=users["village"], household_id="C01", programme="dibao", accepted_on=D(2024, 6, 3)
    )
    assert app.assessment_as_of == D(2024, 6, 3)
    assert app.assessment["dibao"] == {"eligible": True, "edge": False, "monthly_amount": 758}
    rules = {e["rule"] for e in app.assessment["explanations"]}
    assert "D-AMOUNT" in rules or "D-ELIGIBLE" in rules
    temp = services.application_create(
        actor=users["village"],
        household_id="C01",
        programme="temporary",
        temp_type="emergency",
        need=1500,
        accepted_on=D(2024, 6, 30),
    )
    assert temp.assessment["temporary"]["amount"] == 1500
    assert temp.assessment["temporary"]["approver"] == "township"
    temp = services.application_decide(
        actor=users["township"],
        application_id=temp.pk,
        version=temp.version,
        decided_on=D(2024, 7, 1),
        approve=True,
    )
    assert temp.approved_amount == Decimal("1500") and temp.approver_level == "township"


def _write(path, header, rows):
    path.write_text(
        "\n".join([",".join(header), *[",".join(str(c) for c in r) for r in rows]]) + "\n",
        encoding="utf-8",
    )
    return path


def test_deaths_and_vehicles_from_loaded_department_feeds(users, households, engine, tmp_path):
    from safetynet.feeds.services import feed_load

    elder_hh = households("F001", members=1)
    car_hh = households("F002", members=2)
    elder = elder_hh.people[0]
    e = approve(users, engine, elder_hh, programme="tekun", person=elder, amount=1000)
    approve(users, engine, car_hh, amount=400)
    common = ["record_id", "id_number", "name", "birth_date", "sex", "village_code", "event_date"]
    deaths = _write(
        tmp_path / "deaths.csv",
        common,
        [["DTH-1", elder.id_number, elder.name, "", "", VILLAGE, "2024-07-10"]],
    )
    owner = car_hh.people[1]
    vehicles = _write(
        tmp_path / "vehicles.csv",
        [*common, "vehicle_type", "status"],
        [
            [
                "VEH-1",
                owner.id_number.lower(),
                owner.name,
                "",
                "",
                VILLAGE,
                "2024-03-01",
                "car",
                "active",
            ]
        ],
    )
    feed_load(actor=None, kind="deaths", path=deaths, department="公安")
    feed_load(actor=None, kind="vehicles", path=vehicles, department="交警")

    assert services.deaths_detect(as_of=D(2024, 7, 20)) == 1
    proposal = ChangeProposal.objects.get()
    assert (proposal.enrolment_id, proposal.event_date, proposal.source, proposal.record_id) == (
        e.pk,
        D(2024, 7, 10),
        "feed",
        "DTH-1",
    )
    found = {
        (f["check"], f["household_id"]) for f in run_checks(as_of=D(2024, 11, 1), eligibility=[])
    }
    assert ("Q-VEHICLE", "F002") in found
    assert ("Q-DEAD-LATE", "F001") in found  # died in July, still not processed in November
    assert ("Q-DEAD-PAID", "F001") in found  # and still enrolled
