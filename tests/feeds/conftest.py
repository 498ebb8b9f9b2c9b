"""A small registry in two villages of 上犹县 and helpers to write department files."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from safetynet.core.idnumber import check_char

COUNTY = "360724"
TOWNSHIP = COUNTY + "101"
VILLAGE_A = TOWNSHIP + "001"
VILLAGE_B = TOWNSHIP + "002"


def make_id(born: dt.date, seq: int, area: str = COUNTY) -> str:
    first17 = f"{area}{born:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


@dataclass
class People:
    """ID numbers of the registry persons, by a short handle."""

    ids: dict[str, str]
    households: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.ids[key]


# handle, name, sex, birth date, village, household
PERSONS = [
    ("zhang_san", "张三", "M", dt.date(1980, 3, 15), VILLAGE_A, "HH-A1"),
    ("li_si", "李四", "F", dt.date(1982, 7, 1), VILLAGE_A, "HH-A1"),
    ("wang_wu", "王五", "M", dt.date(1975, 1, 9), VILLAGE_A, "HH-A2"),
    ("zhao_x", "赵小明", "M", dt.date(1990, 12, 30), VILLAGE_A, "HH-A2"),
    ("liu_old", "刘大山", "M", dt.date(1950, 5, 5), VILLAGE_A, "HH-A3"),
    ("chen_a", "陈晓红", "F", dt.date(1988, 8, 8), VILLAGE_A, "HH-A3"),
    ("chen_b", "陈晓红", "F", dt.date(1988, 8, 8), VILLAGE_B, "HH-B1"),
    ("zhou_b", "周建国", "M", dt.date(1966, 2, 2), VILLAGE_B, "HH-B1"),
    ("wu_b", "吴桂英", "F", dt.date(1970, 4, 4), VILLAGE_B, "HH-B2"),
    ("sun_b", "孙强", "M", dt.date(2010, 9, 1), VILLAGE_B, "HH-B2"),
]


@pytest.fixture
def registry(db, reference_areas) -> People:
    from safetynet.areas.models import Area
    from safetynet.registry.models import Household, Person

    Area.objects.create(code=TOWNSHIP, name="营前镇", level=4, parent_id=COUNTY)
    Area.objects.create(code=VILLAGE_A, name="南屏村", level=5, parent_id=TOWNSHIP)
    Area.objects.create(code=VILLAGE_B, name="北岭村", level=5, parent_id=TOWNSHIP)
    households = {}
    ids = {}
    for seq, (handle, name, sex, born, village, hh) in enumerate(PERSONS, start=1):
        if hh not in households:
            households[hh] = Household.objects.create(household_id=hh, village_id=village)
        sequence = seq * 2 + (1 if sex == "M" else 0)
        number = make_id(born, sequence)
        relation = (
            "head" if not Person.objects.filter(household=households[hh]).exists() else "spouse"
        )
        Person.objects.create(
            household=households[hh],
            id_number=number,
            name=name,
            relation=relation,
            sex=sex,
            birth_date=born,
            labour="normal",
        )
        ids[handle] = number
    return People(ids, {h: h for h in households})


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


COMMON = ["record_id", "id_number", "name", "birth_date", "sex", "village_code", "event_date"]


@pytest.fixture
def feed_file(tmp_path):
    """feed_file(kind, rows, extra_header) → a CSV with the common columns + extra ones."""

    def make(name: str, rows: list[list], extra: list[str], header: list[str] | None = None):
        return write_csv(tmp_path / "in" / name, header or COMMON + extra, rows)

    return make
