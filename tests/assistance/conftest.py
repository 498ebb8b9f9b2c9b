"""Fixtures for the assistance programmes: a small named region, staff of each role, and a
table-driven stand-in for the rule engine for tests about procedure and payment mechanics.

Tests about eligibility and amounts use the real engine (`real_engine` marker-free tests in
test_engine_integration.py and test_year_of_rolls.py).
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"

COUNTY = "360827"
OTHER_COUNTY = "430224"
TOWNSHIP = "360827101"
VILLAGE = "360827101001"
VILLAGE_2 = "360827101002"
OTHER_VILLAGE = "430224101001"


def id_number(area6: str, birth: str, seq: int) -> str:
    body = f"{area6}{birth}{seq:03d}"
    total = sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + CHECK[total % 11]


class FakeEngine:
    """Answers `assess()` from a table: household_id → result, optionally by date.

    `set(hid, dibao=..., tekun=..., single=..., temporary=...)` stores a result valid from a
    date (default: always). Lookups take the latest entry not after as_of.
    """

    def __init__(self):
        self.table: dict[str, list[tuple[dt.date, dict]]] = {}
        self.calls: list[tuple[str, dt.date, dict | None]] = []

    def set(
        self,
        household_id: str,
        *,
        dibao=None,
        single=None,
        tekun=None,
        temporary=None,
        since: dt.date = dt.date(2000, 1, 1),
    ):
        eligible, amount = dibao if dibao is not None else (False, 0)
        result = {
            "name": household_id,
            "dibao": {"eligible": eligible, "edge": False, "monthly_amount": amount},
            "single_person": {k: {"monthly_amount": v} for k, v in (single or {}).items()},
            "tekun": {
                k: {"eligible": e, "care_level": lvl, "monthly_amount": a}
                for k, (e, lvl, a) in (tekun or {}).items()
            },
            "temporary": temporary,
            "explanations": [{"rule": "D-AMOUNT", "zh": "测试", "en": "test", "values": {}}],
        }
        self.table.setdefault(household_id, []).append((since, result))
        self.table[household_id].sort(key=lambda x: x[0])

    def __call__(self, household_id, *, as_of, request=None):
        self.calls.append((household_id, as_of, request))
        entries = [r for since, r in self.table.get(household_id, []) if since <= as_of]
        result = (
            copy.deepcopy(entries[-1])
            if entries
            else {
                "dibao": {"eligible": False, "edge": False, "monthly_amount": 0},
                "single_person": {},
                "tekun": {},
                "temporary": None,
                "explanations": [],
            }
        )
        result["as_of"] = as_of.isoformat()
        if request is not None:
            need = Decimal(str(request["need"]))
            cap = Decimal("4080")
            result["temporary"] = {
                "eligible": True,
                "type": request["type"],
                "amount": int(min(need, cap)),
                "approver": "township" if min(need, cap) <= 2000 else "county",
                "case_by_case": need > cap,
            }
        return result


@pytest.fixture
def engine(monkeypatch):
    fake = FakeEngine()
    monkeypatch.setattr("safetynet.assistance.assessment.assess", fake)
    monkeypatch.setattr(
        "safetynet.assistance.assessment.assess_many",
        lambda hids, *, as_of: {h: fake(h, as_of=as_of) for h in hids},
    )
    return fake


@pytest.fixture
def region(db):
    """Two villages of one township of 遂川县, one village of 茶陵县."""
    from safetynet.areas.services import area_upsert, load_reference_counties

    load_reference_counties(actor=None)
    for code, name, parent in [
        (TOWNSHIP, "泉江镇", COUNTY),
        (VILLAGE, "南屏村", TOWNSHIP),
        (VILLAGE_2, "大坑村", TOWNSHIP),
        ("430224101", "城关镇", OTHER_COUNTY),
        (OTHER_VILLAGE, "东门村", "430224101"),
    ]:
        area_upsert(actor=None, code=code, name=name, parent_code=parent)


@pytest.fixture
def users(region):
    from safetynet.accounts.models import User

    def make(username, role, area, finance=False):
        # No password: pages are opened with client.force_login (hashing is slow by design).
        return User.objects.create(username=username, role=role, area_id=area, finance=finance)

    return {
        "village": make("cadre", "village", VILLAGE),
        "village_2": make("cadre2", "village", VILLAGE_2),
        "township": make("township", "township", TOWNSHIP),
        "county": make("county", "county", COUNTY),
        "county_2": make("county2", "county", COUNTY),
        "finance": make("finance", "county", COUNTY, finance=True),
        "other_county": make("other", "county", OTHER_COUNTY),
        "other_finance": make("other_fin", "county", OTHER_COUNTY, finance=True),
        "admin": make("admin", "admin", None),
    }


class HouseholdFactory:
    def __init__(self):
        self.seq = 100

    def __call__(
        self,
        household_id: str,
        *,
        village: str = VILLAGE,
        members: int = 3,
        bank_account: str | None = None,
        employment: str = "none",
    ):
        from safetynet.registry.models import Household, Income, Person

        self.seq += 1
        hh = Household.objects.create(
            household_id=household_id,
            village_id=village,
            bank_account=bank_account if bank_account is not None else f"62179950{self.seq:011d}",
        )
        people = []
        births = [
            "19500101",
            "19800315",
            "20100601",
            "20150101",
            "19750505",
            "19990909",
            "20200202",
        ]
        relations = ["head", "spouse", "child", "child", "sibling", "child", "grandchild"]
        for i in range(members):
            self.seq += 1
            people.append(
                Person.objects.create(
                    household=hh,
                    id_number=id_number(village[:6], births[i], self.seq),
                    name=f"{household_id[-3:]}成员{i}",
                    relation=relations[i],
                    birth_date=dt.date.fromisoformat(
                        f"{births[i][:4]}-{births[i][4:6]}-{births[i][6:]}"
                    ),
                    labour="normal" if i < 2 else "none",
                    employment=employment if i == 0 else "none",
                )
            )
        Income.objects.create(household=hh, year=2023, wage=Decimal("3000"))
        hh.people = people
        return hh


@pytest.fixture
def households(region):
    return HouseholdFactory()


def approve(
    users,
    engine,
    hh,
    *,
    programme="dibao",
    amount=500,
    person=None,
    accepted_on=dt.date(2024, 5, 6),
    household_type="stable",
    engine_setup=True,
):
    """Run an application through the whole procedure (survey, check, notice, decision)."""
    from safetynet.assistance import clocks, services

    if engine_setup:
        if programme == "dibao":
            engine.set(hh.household_id, dibao=(True, amount))
        elif programme == "tekun":
            engine.set(hh.household_id, tekun={person.id_number: (True, "self_care", amount)})
        elif programme == "single":
            engine.set(hh.household_id, single={person.id_number: amount})
    app = services.application_create(
        actor=users["county"],
        household_id=hh.household_id,
        programme=programme,
        accepted_on=accepted_on,
        person_id_number=person.id_number if person else None,
    )
    app = services.survey_record(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        started_on=accepted_on,
        completed_on=accepted_on + dt.timedelta(days=1),
        investigators=["甲", "乙"],
        family_signed=True,
    )
    app = services.check_record(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        started_on=accepted_on + dt.timedelta(days=2),
        passed=True,
    )
    app = services.notice_start(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        start=accepted_on + dt.timedelta(days=3),
    )
    app = services.application_decide(
        actor=users["county"],
        application_id=app.pk,
        version=app.version,
        decided_on=clocks.add_working_days(app.notice_end, 1),
        approve=True,
        household_type=household_type,
    )
    return app.enrolment


def approved_roll(users, month, county=COUNTY, feeds=None, today=None):
    from safetynet.assistance import rolls

    roll = rolls.roll_generate(
        actor=users["county"], county_code=county, month=month, feeds=feeds, today=today or month
    )
    roll = rolls.roll_check(actor=users["county"], roll_id=roll.pk, version=roll.version)
    return rolls.roll_approve(actor=users["county_2"], roll_id=roll.pk, version=roll.version)
