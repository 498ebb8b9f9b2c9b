"""Fixtures of the screening tests: a small registry built through the ORM, and a scripted
stand-in for the engine used by the tests of the screen's own machinery (storage, comparison,
interruption, incremental selection). The real engine is used by test_engine_integration.py.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from safetynet.areas.models import Area
from safetynet.registry.models import Household, Income, Person
from safetynet.screening import evaluation
from safetynet.screening.results import ScreenResults

VILLAGES = ["360827101001", "360827101002", "430224101001"]


@pytest.fixture
def villages(reference_areas):
    for code in VILLAGES:
        Area.objects.get_or_create(
            code=code[:9], defaults={"name": f"乡{code[6:9]}", "level": 4, "parent_id": code[:6]}
        )
        Area.objects.get_or_create(
            code=code, defaults={"name": f"村{code[9:]}", "level": 5, "parent_id": code[:9]}
        )
    return VILLAGES


def make_household(
    n: int, village: str, *, grade: str = "B", members: int = 2, income: int = 20000
):
    hh = Household.objects.create(
        household_id=f"H{n:05d}",
        village_id=village,
        housing_grade=grade,
        registered_poor=n % 3 == 0,
        exit_year=2018 if n % 3 == 0 else None,
    )
    for m in range(members):
        Person.objects.create(
            household=hh,
            id_number=f"{village[:6]}19800101{n:03d}{m}",
            name=f"人{n}-{m}",
            relation="head" if m == 0 else "child",
            sex="M" if m % 2 == 0 else "F",
            birth_date=dt.date(1980, 1, 1) if m == 0 else dt.date(2012, 5, 6),
            labour="normal" if m == 0 else "none",
            in_school=m > 0,
            phone="13800000000" if m == 0 else "",
        )
    Income.objects.create(
        household=hh, year=2023, wage=Decimal(income), business_income=Decimal("10.50")
    )
    return hh


@pytest.fixture
def small_registry(db, villages):
    """Twelve households over three villages; every fourth is in an unsafe (grade D) house."""
    return [
        make_household(i, VILLAGES[i % 3], grade="D" if i % 4 == 0 else "B", members=1 + i % 3)
        for i in range(12)
    ]


def scripted_results(snap) -> ScreenResults:
    """Scripted outcomes: X-TEST fires for grade-D houses; a quality row for members without a
    phone. These are test markers, not policy rules."""
    hh = pq.read_table(snap.paths["households"])
    persons = pq.read_table(snap.paths["persons"])
    fired = pc.equal(pc.fill_null(hh.column("housing_grade"), ""), "D")
    n_by = {}
    for hid in persons.column("household_id").to_pylist():
        n_by[hid] = n_by.get(hid, 0) + 1
    ids = hh.column("household_id").to_pylist()
    households = pa.table(
        {
            "household_id": hh.column("household_id"),
            "village_code": hh.column("village_code"),
            "n": pa.array([n_by.get(i, 0) for i in ids], pa.int32()),
            "pc_net_income": pa.array([Decimal("100.125")] * len(ids)),
            "flagged": fired,
            "category": pa.array(["edge" if f else None for f in fired.to_pylist()]),
            "level": pa.array(["orange" if f else None for f in fired.to_pylist()]),
            "rules": pa.array([["X-TEST"] if f else [] for f in fired.to_pylist()]),
            "risk_types": pa.array([["测试"] if f else [] for f in fired.to_pylist()]),
            "already_monitored": hh.column("already_monitored"),
            "dibao_eligible": pa.array([False] * len(ids)),
        }
    )
    no_phone = persons.filter(pc.is_null(persons.column("phone")))
    quality = pa.table(
        {
            "check": pa.array(["X-PHONE"] * no_phone.num_rows, pa.string()),
            "household_id": no_phone.column("household_id"),
            "id_number": no_phone.column("id_number"),
            "message_zh": pa.array(["无电话"] * no_phone.num_rows, pa.string()),
            "message_en": pa.array(["no phone"] * no_phone.num_rows, pa.string()),
            "source": pa.array(["engine"] * no_phone.num_rows, pa.string()),
        }
    )
    tekun = pa.table(
        {
            "id_number": persons.column("id_number"),
            "household_id": persons.column("household_id"),
            "eligible": pa.array([False] * persons.num_rows),
            "care_level": pa.array(["self_care"] * persons.num_rows),
            "monthly_amount": pa.array([0] * persons.num_rows, pa.int64()),
        }
    )
    return ScreenResults.from_tables(households=households, quality=quality, tekun=tekun)


class ScriptedEngine:
    """Counts how many households each evaluation saw, and can fail on demand."""

    def __init__(self):
        self.evaluated: list[int] = []
        self.fail_on_evaluate = False
        self.parameters = {"x.threshold": 1}

    def prepare(self, *, engine, as_of, area_codes):
        def run(snap, work_dir):
            if self.fail_on_evaluate:
                raise RuntimeError("engine crashed")
            self.evaluated.append(snap.rows["households"])
            return scripted_results(snap)

        return evaluation.Prepared(
            engine=engine,
            as_of=as_of,
            catalogue_hash="scripted-1",
            parameters=dict(self.parameters),
            run=run,
        )


def scripted_programme_checks(*, as_of, area_codes, **_):
    """Stand-in for the programmes' checks: one finding on household H00001."""
    from safetynet.screening.results import QUALITY

    return pa.table(
        {
            "check": ["X-PROG"],
            "household_id": ["H00001"],
            "id_number": [""],
            "message_zh": ["测试"],
            "message_en": ["test"],
            "source": ["programmes"],
        },
        schema=QUALITY,
    )


@pytest.fixture
def scripted_engine(monkeypatch):
    from safetynet.screening import runner

    engine = ScriptedEngine()
    monkeypatch.setattr(evaluation, "_override", engine.prepare)
    monkeypatch.setattr(runner, "programme_checks", scripted_programme_checks)
    return engine
