"""The generated registry: identity numbers, families, areas, attributes and incomes."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date

import polars as pl

from .conftest import AS_OF

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def check_character(body: str) -> str:
    """GB 11643 check character, computed here independently of the generator."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def age_on(birth: str, when: date) -> int:
    b = date.fromisoformat(birth)
    return when.year - b.year - ((when.month, when.day) < (b.month, b.day))


def reference_counties(shared_dir) -> dict[str, dict]:
    with (shared_dir / "reference" / "luoxiao_counties.csv").open(encoding="utf-8") as fh:
        return {row["code"]: row for row in csv.DictReader(fh)}


def test_every_id_number_is_valid_unique_and_agrees_with_birth_date_and_sex(region, shared_dir):
    counties = set(reference_counties(shared_dir))
    historical = {"360782", "360721"}
    seen = set()
    for row in region.persons.iter_rows(named=True):
        number = row["id_number"]
        assert len(number) == 18 and number[:17].isdigit(), number
        assert number[17] == check_character(number[:17]), number
        assert number[:6] in counties | historical, number
        assert number[6:14] == row["birth_date"].replace("-", "")
        assert int(number[16]) % 2 == (1 if row["sex"] == "M" else 0)
        seen.add(number)
    assert len(seen) == region.persons.height


def test_historical_area_codes_only_for_people_born_before_the_change(region):
    prefix = region.persons.with_columns(
        code=pl.col("id_number").str.slice(0, 6),
        year=pl.col("birth_date").str.slice(0, 4).cast(int),
    )
    old = prefix.filter(pl.col("code").is_in(["360782", "360721"]))
    assert old.height > 0, "some older people of 南康/赣县 keep their historical code"
    assert old.filter((pl.col("code") == "360782") & (pl.col("year") > 2013)).height == 0
    assert old.filter((pl.col("code") == "360721") & (pl.col("year") > 2016)).height == 0


def test_exactly_one_head_and_spouses_of_the_other_sex(region):
    persons = region.persons
    heads = persons.filter(pl.col("relation") == "head")
    assert heads.height == region.households.height
    assert heads["household_id"].n_unique() == region.households.height
    spouses = persons.filter(pl.col("relation") == "spouse").join(
        heads.select("household_id", head_sex="sex"), on="household_id"
    )
    assert spouses.height > 0
    assert (spouses["sex"] != spouses["head_sex"]).all()


def test_ages_are_consistent_with_relations(region):
    members: dict[str, list[dict]] = {}
    for row in region.persons.iter_rows(named=True):
        members.setdefault(row["household_id"], []).append(row)
    checked = 0
    for rows in members.values():
        by = Counter(r["relation"] for r in rows)
        assert by["head"] == 1 and by["spouse"] <= 1 and len(rows) <= 7
        head = next(r for r in rows if r["relation"] == "head")
        couple = [r for r in rows if r["relation"] in ("head", "spouse")]
        older_gen = [r for r in rows if r["relation"] == "parent"]
        kids = [r for r in rows if r["relation"] == "child"]
        in_laws = [r for r in rows if r["relation"] == "child_in_law"]
        grandkids = [r for r in rows if r["relation"] == "grandchild"]
        for p in older_gen:
            assert p["birth_date"] < head["birth_date"]
        for kid in kids + grandkids:
            for parent in couple:
                assert kid["birth_date"] > parent["birth_date"], (kid, parent)
                assert age_on(parent["birth_date"], AS_OF) - age_on(kid["birth_date"], AS_OF) >= 15
                checked += 1
        for g in grandkids:
            for parent in in_laws + [k for k in kids if k["birth_date"] < g["birth_date"]][:1]:
                assert g["birth_date"] > parent["birth_date"]
        for p in rows:
            assert p["birth_date"] <= AS_OF.isoformat()
    assert checked > 100


def test_household_sizes_and_structures_are_realistic(region):
    sizes = region.persons.group_by("household_id").len()["len"]
    assert 2.9 <= sizes.mean() <= 3.5
    assert sizes.min() == 1 and sizes.max() <= 7
    relations = set(region.persons["relation"])
    assert {"head", "spouse", "child", "child_in_law", "grandchild", "parent"} <= relations
    singles = region.persons.group_by("household_id").agg(
        n=pl.len(), age=pl.col("birth_date").min()
    )
    single_elderly = singles.filter((pl.col("n") == 1) & (pl.col("age") < "1964-07-01"))
    assert single_elderly.height > 0


def test_villages_exist_in_the_area_tree_under_real_counties(region, shared_dir):
    counties = reference_counties(shared_dir)
    areas = {r["code"]: r for r in region.areas.iter_rows(named=True)}
    assert set(counties) <= set(areas)
    for code, row in areas.items():
        assert len(code) in (2, 4, 6, 9, 12)
        if len(code) > 2:
            assert code.startswith(row["parent_code"]) and row["parent_code"] in areas
        if len(code) == 9:
            assert row["name"][-1] in "镇乡"
        if len(code) == 12:
            assert row["name"].endswith("村")
    assert areas["360703"]["former_codes"] == "360782"
    assert areas["360704"]["former_codes"] == "360721"
    villages = set(region.households["village_code"])
    assert villages <= {c for c in areas if len(c) == 12}
    assert {v[:6] for v in villages} <= set(counties)
    assert {h[:12] for h in region.households["household_id"]} == villages


def test_attribute_shares_are_realistic(region):
    p = region.persons
    n = p.height
    share = lambda expr: p.filter(expr).height / n  # noqa: E731
    assert 0.035 <= share(pl.col("health") == "disabled") <= 0.09
    assert 0.06 <= share(pl.col("health") == "chronic") <= 0.14
    assert 0.003 <= share(pl.col("health") == "serious") <= 0.035
    assert 0.94 <= share(pl.col("medical_insured") == "Y") <= 0.995
    disabled = p.filter(pl.col("health") == "disabled")
    assert disabled["disability_type"].null_count() == 0
    assert set(disabled["disability_grade"]) <= {"1", "2", "3", "4"}
    assert (
        p.filter(pl.col("health") != "disabled")["disability_grade"].null_count()
        == n - disabled.height
    )
    assert share(pl.col("employment") == "migrant") > 0.1
    assert share(pl.col("status") != "active") > 0


def test_school_and_labour_follow_age_and_health(region):
    p = region.persons.with_columns(
        age=pl.col("birth_date").map_elements(lambda b: age_on(b, AS_OF), return_dtype=pl.Int64)
    )
    pupils = p.filter(pl.col("age").is_between(6, 15))
    enrolled = pupils.filter(pl.col("in_school") == "Y").height / pupils.height
    assert 0.95 <= enrolled < 1.0 or pupils.height < 100
    assert p.filter((pl.col("age") < 16) & (pl.col("labour") != "none")).height == 0
    adults = p.filter(
        pl.col("age").is_between(16, 59)
        & (pl.col("health") == "healthy")
        & (pl.col("in_school") == "N")
    )
    assert (adults["labour"] == "normal").all()
    workers = p.filter(pl.col("employment") != "none")
    assert (workers["work_months"].cast(int) > 0).all() and (workers["age"] >= 16).all()
    assert (p.filter(pl.col("employment") == "none")["work_months"] == "0").all()
    very_old = p.filter(pl.col("age") >= 80)
    assert very_old.filter(pl.col("adl_failed") != "0").height > 0


def test_exited_poor_households(region):
    h = region.households
    poor = h.filter(pl.col("registered_poor") == "Y")
    assert 0.08 <= poor.height / h.height <= 0.16
    assert poor["exit_year"].cast(int).is_between(2014, 2020).all()
    assert (
        h.filter(pl.col("registered_poor") == "N")["exit_year"].null_count()
        == h.height - poor.height
    )
    assert set(h["housing_grade"]) <= {"A", "B", "C", "D"}
    assert h.filter(pl.col("housing_grade").is_in(["C", "D"])).height / h.height < 0.05
    assert h.filter(pl.col("relocated") == "Y").height <= poor.height


def test_income_shares_near_the_monitoring_line(region):
    money = [c for c in region.incomes.columns if c not in ("household_id", "year")]
    inc = region.incomes.with_columns(
        [pl.col(c).cast(int) for c in money] + [pl.col("year").cast(int)]
    )
    assert set(inc["year"]) == {2022, 2023}
    assert (inc.select(money).min_horizontal() >= 0).all()
    n_active = region.persons.filter(pl.col("status") == "active").group_by("household_id").len()
    y = inc.filter(pl.col("year") == 2023).join(n_active, on="household_id")
    net = (
        pl.col("wage")
        + pl.col("business_income")
        - pl.col("business_cost")
        + pl.col("property")
        + pl.col("pension_basic")
        + pl.col("pension_other")
        + pl.col("assistance_received")
        + pl.col("policy_subsidies")
        + pl.col("exempt_transfers")
        + pl.col("other_transfers")
    )
    pc = y.select(pc=net / pl.col("len"))["pc"]
    under = (pc < 6900).mean()
    near = ((pc >= 6900) & (pc < 6900 * 1.1)).mean()
    assert 0.01 <= under <= 0.09, under
    assert 0.04 <= under + near <= 0.12, under + near
    assert 10_000 <= pc.median() <= 30_000
    # some households receive dibao; everybody aged 60+ gets the basic pension
    assert (y["assistance_received"] > 0).mean() > 0.02
    # a few households have no income record at all (a data-quality finding to catch)
    assert inc["household_id"].n_unique() <= region.households.height


def test_full_names_repeat_at_realistic_rates(region):
    counts = Counter(region.persons["name"])
    shared = sum(c for c in counts.values() if c > 1) / region.persons.height
    assert 0.02 <= shared <= 0.5
    surnames = Counter(name[0] for name in region.persons["name"])
    top = [s for s, _ in surnames.most_common(8)]
    assert {"刘", "李", "陈"} & set(top)
    assert len(surnames) > 60  # a long tail
