"""Each linkage path of formats/feeds.md, on a ten-person registry."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from safetynet.core.idnumber import check_char
from safetynet.feeds import selectors, services
from safetynet.feeds.models import FeedBatch

from .conftest import VILLAGE_A, VILLAGE_B, make_id

CLAIM = ["total_cost", "insurance_paid", "out_of_pocket"]
MONEY = ["1000", "600", "400"]


def substitute(number: str, position: int) -> str:
    digit = number[position]
    other = "7" if digit != "7" else "3"
    return number[:position] + other + number[position + 1 :]


def transpose(number: str, position: int) -> str:
    assert number[position] != number[position + 1]
    return number[:position] + number[position + 1] + number[position] + number[position + 2 :]


def to_15(number18: str) -> str:
    return number18[:6] + number18[8:17]


def load_claims(feed_file, rows, name="claims.csv"):
    path = feed_file(name, [[*r, *MONEY] for r in rows], CLAIM)
    return services.feed_load(actor=None, kind="medical_claims", path=path)


def links(kind="medical_claims"):
    con = duckdb.connect()
    selectors.register_linked_feeds(con, kinds=[kind])
    rows = con.execute(
        f"SELECT record_id, id_number, household_id, link_method, link_score, link_status "
        f"FROM feed_{kind}_detail ORDER BY record_id"
    ).fetchall()
    return {
        r[0]: {"id": r[1], "hh": r[2], "method": r[3], "score": r[4], "status": r[5]} for r in rows
    }


@pytest.mark.django_db
def test_exact_links_normalise_legacy_and_lower_case(registry, feed_file):
    zs, zx = registry["zhang_san"], registry["zhao_x"]
    x_person = next((h for h, n in registry.ids.items() if n.endswith("X")), None)
    rows = [
        ["e1", zs, "张三", "", "", "", "2024-03-01"],
        ["e2", to_15(zs), "张三", "", "", "", "2024-03-01"],
        ["e3", f" {zx.lower()} ", "赵小明", "", "", "", "2024-03-01"],
        ["e4", to_15(zx), "赵小明", "", "", "", "2024-03-01"],
    ]
    if x_person:
        rows.append(["e5", registry[x_person].lower(), "某", "", "", "", "2024-03-01"])
    result = load_claims(feed_file, rows)
    got = links()
    assert {k: (v["id"], v["method"], v["score"]) for k, v in got.items() if k != "e5"} == {
        "e1": (zs, "exact", 1.0),
        "e2": (zs, "exact", 1.0),
        "e3": (zx, "exact", 1.0),
        "e4": (zx, "exact", 1.0),
    }
    if x_person:
        assert got["e5"]["id"] == registry[x_person]
    assert got["e1"]["hh"] == "HH-A1" and got["e3"]["hh"] == "HH-A2"
    assert result.batch.links_exact == len(rows)


@pytest.mark.django_db
def test_lower_case_x_check_character(registry, feed_file):
    """A registry number ending in X is found from a record written with x."""
    from safetynet.areas.models import Area  # noqa: F401  (areas exist through the fixture)
    from safetynet.registry.models import Household, Person

    born = dt.date(1985, 6, 6)
    number = None
    for seq in range(1, 999):
        first17 = f"360724{born:%Y%m%d}{seq:03d}"
        if check_char(first17) == "X":
            number = first17 + "X"
            break
    Person.objects.create(
        household=Household.objects.get(household_id="HH-B2"),
        id_number=number,
        name="钟秀英",
        relation="other",
        sex="F",
        birth_date=born,
        labour="normal",
    )
    load_claims(feed_file, [["x1", number.lower(), "钟秀英", "", "", "", "2024-03-01"]])
    assert links()["x1"]["id"] == number and links()["x1"]["method"] == "exact"


@pytest.mark.django_db
def test_typos_link_as_typo_and_wait_for_confirmation(registry, feed_file):
    zs, ww, wu = registry["zhang_san"], registry["wang_wu"], registry["wu_b"]
    rows = [
        ["t1", substitute(zs, 12), "张三", "", "", "", "2024-03-01"],  # one digit
        ["t2", transpose(ww, 6), "王五", "", "", "", "2024-03-01"],  # two swapped characters
        ["t3", substitute(wu, 3), "吴贵英", "", "", "", "2024-03-01"],  # + homophone name
        ["t4", substitute(zs, 12), "李四", "", "", "", "2024-03-01"],  # name does not match
        ["t5", to_15(substitute(zs, 12)), "张三", "", "", "", "2024-03-01"],  # legacy + typo
    ]
    result = load_claims(feed_file, rows)
    got = links()
    assert (got["t1"]["id"], got["t1"]["method"], got["t1"]["status"]) == (zs, "typo", "linked")
    assert got["t1"]["score"] == pytest.approx(0.99)
    assert (got["t2"]["id"], got["t2"]["method"]) == (ww, "typo")
    assert (got["t3"]["id"], got["t3"]["method"]) == (wu, "typo")
    assert got["t3"]["score"] == pytest.approx(0.95)
    assert got["t4"]["method"] != "typo" and got["t4"]["id"] != zs
    assert (got["t5"]["id"], got["t5"]["method"]) == (zs, "typo")
    assert result.batch.links_typo == 4
    queued = {i["record_id"]: i for i in selectors.review_queue(user=None)}
    assert {"t1", "t2", "t3", "t5"} <= set(queued)
    assert queued["t1"]["to_confirm"] and queued["t1"]["candidates"][0]["id_number"] == zs


@pytest.mark.django_db
def test_typo_matching_two_people_is_not_linked(registry, feed_file):
    from safetynet.registry.models import Household, Person

    born = dt.date(1995, 10, 10)
    first = f"360724{born:%Y%m%d}04"
    # Two twins named alike whose numbers differ in the sequence digit (and so the check).
    a = first + "1" + check_char(first + "1")
    b = first + "3" + check_char(first + "3")
    hh = Household.objects.get(household_id="HH-B2")
    for number in (a, b):
        Person.objects.create(
            household=hh,
            id_number=number,
            name="孙伟",
            relation="child",
            sex="M",
            birth_date=born,
            labour="normal",
        )
    typo = a[:17] + b[17]  # a's body with b's check character: one step from each
    load_claims(feed_file, [["w1", typo, "孙伟", "", "", "", "2024-03-01"]])
    got = links()["w1"]
    assert got["id"] is None and got["status"] == "review" and got["method"] == "typo"
    (item,) = selectors.review_queue(user=None)
    assert {c["id_number"] for c in item["candidates"]} == {a, b}


@pytest.mark.django_db
def test_probabilistic_without_id(registry, feed_file):
    rows = [
        # same name and birth date live in two villages: the village decides
        ["p1", "", "陈晓红", "1988-08-08", "F", VILLAGE_B, "2024-03-01"],
        ["p2", "", "陈晓红", "1988-08-08", "F", VILLAGE_A, "2024-03-01"],
        # ... and without a village nobody can tell: review, never a guess
        ["p3", "", "陈晓红", "1988-08-08", "F", "", "2024-03-01"],
        ["p4", "", "周建国", "1966-02-02", "M", VILLAGE_B, "2024-03-01"],
        ["p5", "", "周建囯", "1966-02-02", "M", VILLAGE_B, "2024-03-01"],  # variant character
        ["p6", "", "不在册", "2001-01-01", "F", VILLAGE_A, "2024-03-01"],  # nobody
    ]
    result = load_claims(feed_file, rows)
    got = links()
    assert (got["p1"]["id"], got["p1"]["hh"]) == (registry["chen_b"], "HH-B1")
    assert (got["p2"]["id"], got["p2"]["hh"]) == (registry["chen_a"], "HH-A3")
    assert got["p1"]["method"] == "probabilistic" and got["p1"]["score"] >= 0.95
    assert got["p3"]["id"] is None and got["p3"]["status"] == "review"
    assert got["p4"]["id"] == registry["zhou_b"] and got["p5"]["id"] == registry["zhou_b"]
    assert got["p6"]["id"] is None and got["p6"]["status"] == "unlinked"
    # unlinked records are kept and counted, not dropped
    assert result.batch.links_unlinked == 1 and result.batch.rows_loaded == 6
    queued = {i["record_id"] for i in selectors.review_queue(user=None)}
    assert "p3" in queued and "p6" not in queued


@pytest.mark.django_db
def test_valid_unknown_number_is_never_auto_linked(registry, feed_file):
    stranger = make_id(dt.date(1966, 2, 2), 901)  # valid, but not in the registry
    load_claims(feed_file, [["u1", stranger, "周建国", "1966-02-02", "M", VILLAGE_B, "2024-03-01"]])
    got = links()["u1"]
    assert got["id"] is None and got["status"] in ("review", "unlinked")


@pytest.mark.django_db
def test_household_kinds_link_to_households(registry, feed_file):
    extra = ["household_id", "grade"]
    rows = [
        ["h1", "", "", "", "", "", "2024-05-01", "HH-B2", "D"],  # household given
        ["h2", registry["wang_wu"], "王五", "", "", "", "2024-05-01", "", "C"],  # via the person
        ["h3", "", "", "", "", "", "2024-05-01", "HH-NOPE", "C"],  # unknown household
    ]
    services.feed_load(actor=None, kind="housing", path=feed_file("housing.csv", rows, extra))
    got = links("housing")
    assert (got["h1"]["id"], got["h1"]["hh"], got["h1"]["method"]) == (None, "HH-B2", "household")
    assert (got["h2"]["id"], got["h2"]["hh"], got["h2"]["method"]) == (
        registry["wang_wu"],
        "HH-A2",
        "exact",
    )
    assert got["h3"]["hh"] is None and got["h3"]["status"] == "unlinked"
    batch = FeedBatch.objects.get(kind="housing")
    assert (batch.links_household, batch.links_exact, batch.links_unlinked) == (1, 1, 1)


@pytest.mark.django_db
def test_relinking_after_registry_changes(registry, feed_file):
    from safetynet.registry.models import Household, Person

    newborn = make_id(dt.date(2023, 1, 1), 555)
    load_claims(feed_file, [["n1", newborn, "孙小宝", "2023-01-01", "M", VILLAGE_B, "2024-03-01"]])
    assert links()["n1"]["id"] is None
    Person.objects.create(
        household=Household.objects.get(household_id="HH-B2"),
        id_number=newborn,
        name="孙小宝",
        relation="grandchild",
        sex="M",
        birth_date=dt.date(2023, 1, 1),
        labour="none",
    )
    result = services.feed_link(actor=None, kinds=["medical_claims"])
    assert links()["n1"] == {
        "id": newborn,
        "hh": "HH-B2",
        "method": "exact",
        "score": 1.0,
        "status": "linked",
    }
    assert result.counts[FeedBatch.objects.get().batch_id]["exact"] == 1


@pytest.mark.django_db
def test_unknown_backend_is_refused(registry, feed_file):
    from safetynet.core.errors import ValidationFailed

    load_claims(feed_file, [["b1", "", "王五", "1975-01-09", "M", VILLAGE_A, "2024-03-01"]])
    with pytest.raises(ValidationFailed, match="unknown linkage backend"):
        services.feed_link(actor=None, backend="oracle")
