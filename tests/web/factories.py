"""A small, named world for web tests: two villages of one township, a village of another
township, a village of another county, a household in each and one persona per role.

Used by tests/web, tests/accounts and the browser tests (tests/browser/conftest.py), so that
every page's scoping is tried with the same people: the cadre of 南屏村 must never reach
大坑村's household, whatever the route.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

PASSWORD = "persona-pass-2026"

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


def id_number(area6: str, birth: str, seq: int) -> str:
    """A valid 18-character ID number (GB 11643) for test people."""
    body = f"{area6}{birth}{seq:03d}"
    total = sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True))
    return body + _CHECK[total % 11]


@dataclass
class World:
    password: str = PASSWORD
    households: dict[str, object] = field(default_factory=dict)
    users: dict[str, object] = field(default_factory=dict)
    persons: dict[str, object] = field(default_factory=dict)


AREAS = [
    ("360827101", "泉江镇", "360827"),
    ("360827101001", "南屏村", "360827101"),
    ("360827101002", "大坑村", "360827101"),
    ("360827102", "雩田镇", "360827"),
    ("360827102001", "桥头村", "360827102"),
    ("360881101", "茨坪镇", "360881"),
    ("360881101001", "茅坪村", "360881101"),
]

# key: (household_id, village, head name, registered_poor)
HOUSEHOLDS = {
    "A": ("H360827101001001", "360827101001", "张三", True),
    "A2": ("H360827101001002", "360827101001", "李秀英", False),
    "B": ("H360827101002001", "360827101002", "王五", False),
    "C": ("H360827102001001", "360827102001", "赵六", True),
    "D": ("H360881101001001", "360881101001", "陈七", False),
}


def build_world(*, with_personas: bool = True) -> World:
    from safetynet.accounts.services import create_demo_personas, user_create
    from safetynet.areas.services import area_upsert, load_reference_counties
    from safetynet.registry.models import Household, Income, Person

    load_reference_counties(actor=None)
    for code, name, parent in AREAS:
        area_upsert(actor=None, code=code, name=name, parent_code=parent)
    world = World()
    seq = 11
    for key, (hid, village, head, poor) in HOUSEHOLDS.items():
        hh = Household.objects.create(
            household_id=hid,
            village_id=village,
            address=f"{village} 组 {key}",
            registered_poor=poor,
            exit_year=2019 if poor else None,
            housing_grade="B",
            phone="13907960" + f"{seq:03d}",
            bank_account="6217995010001234" + f"{seq:03d}",
        )
        world.households[key] = hh
        head_person = Person.objects.create(
            household=hh,
            id_number=id_number(village[:6], "19800315", seq),
            name=head,
            relation="head",
            sex="M" if seq % 2 else "F",
            birth_date=dt.date(1980, 3, 15),
            labour="normal",
            employment="migrant",
            work_months=8,
            health="chronic",
            phone="13812345" + f"{seq:03d}",
        )
        child = Person.objects.create(
            household=hh,
            id_number=id_number(village[:6], "20120601", seq + 1),
            name=head[0] + "小明",
            relation="child",
            birth_date=dt.date(2012, 6, 1),
            labour="none",
            in_school=True,
        )
        world.persons[key] = head_person
        world.persons[key + "-child"] = child
        for year, wage in ((2023, "20000"), (2024, "16000.50")):
            Income.objects.create(
                household=hh,
                year=year,
                wage=Decimal(wage),
                business_income=Decimal("3000"),
                business_cost=Decimal("1000"),
            )
        seq += 2
    if with_personas:
        create_demo_personas(password=PASSWORD)
        from safetynet.accounts.models import User

        for user in User.objects.all():
            world.users[user.username] = user
        world.users["village_b"] = user_create(
            actor=None,
            username="village_b",
            password=PASSWORD,
            role="village",
            area_code="360827101002",
            display_name="大坑村村干部",
        )
        world.users["county_other"] = user_create(
            actor=None,
            username="county_other",
            password=PASSWORD,
            role="county",
            area_code="360881",
        )
    return world
