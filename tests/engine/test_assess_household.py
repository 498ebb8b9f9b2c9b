"""`assess_household`: the registry household becomes a scenario and gets the same answer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from safetynet.core.errors import NotFound
from safetynet.engine.assess import assess_household, assess_scenario, household_scenario
from safetynet.registry.models import Household, Income, Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(reference_areas):
    from safetynet.areas.services import area_upsert

    area_upsert(actor=None, code="360827101", name="测试镇", parent_code="360827")
    area_upsert(actor=None, code="360827101001", name="测试村", parent_code="360827101")
    h = Household.objects.create(
        household_id="HH-0001",
        village_id="360827101001",
        registered_poor=False,
        housing_grade="B",
        water_secure=True,
    )
    Person.objects.create(
        household=h,
        id_number="360827198003150111",
        name="张建国",
        relation="head",
        labour="normal",
        employment="migrant",
        work_months=8,
    )
    Person.objects.create(
        household=h,
        id_number="360827198207020220",
        name="李秀英",
        relation="spouse",
        labour="normal",
    )
    Person.objects.create(
        household=h,
        id_number="360827201009090310",
        name="张小明",
        relation="child",
        labour="none",
        in_school=True,
    )
    Person.objects.create(
        household=h,
        id_number="360827195001010013",
        name="张老汉",
        relation="parent",
        labour="none",
        status="deceased",
    )
    Income.objects.create(
        household=h,
        year=2023,
        wage=Decimal("14000"),
        business_income=Decimal("6000"),
        business_cost=Decimal("2000"),
        policy_subsidies=Decimal("600"),
    )
    return h


def test_registry_household_gets_the_policy_case_answer(household):
    result = assess_household("HH-0001", as_of=dt.date(2024, 6, 30))
    assert result["household_id"] == "HH-0001" and result["village_code"] == "360827101001"
    assert result["measures"]["n"] == 3  # the deceased member is not active
    assert (
        result["monitoring"]["rules"] == ["M-INCOME"] and result["monitoring"]["category"] == "edge"
    )
    assert result["dibao"] == {"eligible": True, "edge": False, "monthly_amount": 758}
    assert set(result["tekun"]) == {
        "360827198003150111",
        "360827198207020220",
        "360827201009090310",
    }
    assert result["temporary"] is None


def test_request_and_scenario_round_trip(household):
    scenario = household_scenario(
        "HH-0001", as_of=dt.date(2024, 6, 30), request={"type": "emergency", "need": 2500}
    )
    assert scenario["household"]["feeds"] == [] and len(scenario["household"]["members"]) == 4
    direct = assess_scenario(scenario)
    via = assess_household(
        "HH-0001", as_of=dt.date(2024, 6, 30), request={"type": "emergency", "need": 2500}
    )
    assert direct == via
    assert via["temporary"]["amount"] == 2500 and via["temporary"]["approver"] == "county"


def test_unknown_household(household):
    with pytest.raises(NotFound):
        assess_household("NOPE", as_of=dt.date(2024, 6, 30))
