"""The screen's plan (region binding, literal dates) and the batched assess plan agree; quality
checks; engine errors carry the step and its SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from safetynet.engine.adapters import EngineError, get_engine
from safetynet.engine.assess import assess_many, assess_scenario
from safetynet.engine.scenario import scenario_tables
from safetynet.engine.screen import catalogue_hash, prepare_screen

AS_OF = dt.date(2024, 6, 30)


def _region_subset(scenarios):
    """Scenarios that can share one region: same date, no scenario parameters, no county-wide data."""
    out = []
    for sc in scenarios:
        spec = sc.spec
        if spec.as_of != AS_OF or spec.parameters or spec.overrides:
            continue
        if any(f["kind"] == "school_enrolment" for f in sc.feeds):
            continue
        out.append(sc)
    return out


@pytest.fixture(scope="module")
def region(boundary_scenarios, catalogue):
    chosen = _region_subset(boundary_scenarios)
    batch = [(f"H{i:04d}", "-", sc) for i, sc in enumerate(chosen)]
    tables = scenario_tables(batch, catalogue.inputs)
    return chosen, batch, tables


def test_region_plan_matches_batched_assessment(region, catalogue):
    chosen, batch, tables = region
    assert len(chosen) > 50
    plan = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue)
    screen = plan.run(tables)
    assert screen.households.num_rows == len(chosen)
    batched = assess_many(chosen, catalogue=catalogue, overrides=[])
    assert all(o.error is None for o in batched)
    by_hid = {r["household_id"]: r for r in screen.households.to_pylist()}
    persons: dict[str, list] = {}
    for r in screen.persons.to_pylist():
        persons.setdefault(r["household_id"], []).append(r)
    for (hid, _, sc), outcome in zip(batch, batched, strict=True):
        row = by_hid[hid]
        got = outcome.result
        assert row["n"] == got["measures"]["n"], sc.name
        assert (row["rules"] or "").split(";") == (";".join(got["monitoring"]["rules"])).split(
            ";"
        ), sc.name
        assert row["dibao_amount"] == got["dibao"]["monthly_amount"], sc.name
        assert (
            row["dibao_edge"] == got["dibao"]["edge"]
            and row["rigid_hardship"] == got["rigid_hardship"]
        ), sc.name
        assert (
            row["low_income"] == got["low_income"]
            and row["category"] == got["monitoring"]["category"]
        ), sc.name
        assert (float(row["pc_net_income"]) if row["pc_net_income"] is not None else None) == got[
            "measures"
        ]["pc_net_income"]
        tekun = {p["id_number"]: p["tekun_amount"] for p in persons.get(hid, []) if p["active"]}
        assert tekun == {k: v["monthly_amount"] for k, v in got["tekun"].items()}, sc.name


def test_screen_outputs_have_fixed_schemas_and_order(region, catalogue):
    _, _, tables = region
    res = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue).run(
        tables
    )
    hh = res.households
    assert hh.schema.field("dibao_amount").type == pa.int64()
    assert hh.schema.field("pc_net_income").type == pa.decimal128(18, 2)
    assert hh.schema.field("rules").type == pa.string()
    assert hh.column("household_id").to_pylist() == sorted(hh.column("household_id").to_pylist())
    assert res.quality.column_names[:4] == ["check", "household_id", "id_number", "message"]


def test_parameters_table_and_hash(catalogue):
    plan = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue)
    table = plan.parameters_table()
    rows = {(r["area_key"], r["parameter"]): r for r in table.to_pylist()}
    assert (
        rows[("36", "dibao.standard")]["value"] == "680"
        and rows[("36", "dibao.standard")]["tag"] == "D"
    )
    assert rows[("43", "dibao.standard")]["value"] == "590"
    assert plan.parameters()["CN"]["monitoring.income_line"]["value"] == "7300"
    assert len(catalogue_hash()) == 16


def test_inputs_from_parquet_files(region, catalogue, tmp_path):
    _, _, tables = region
    paths = {}
    for name, table in tables.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(table, path)
        paths[name] = path
    plan = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue)
    from_arrow = plan.run(tables)
    from_files = plan.run(paths)
    assert from_files.households.equals(from_arrow.households)
    assert from_files.persons.equals(from_arrow.persons)


BASE = {
    "name": "数据质量",
    "as_of": "2024-06-30",
    "village_code": "360827101001",
    "household": {
        "members": [
            {
                "id_number": "360827198003150112",
                "name": "甲",
                "relation": "spouse",
                "labour": "normal",
                "phone": "12345",
            },
            {
                "id_number": "360827198207020220",
                "name": "乙",
                "relation": "child",
                "labour": "normal",
                "birth_date": "1982-07-03",
            },
            {
                "id_number": "360827201401010031",
                "name": "丙",
                "relation": "child",
                "labour": "normal",
            },
        ],
        "incomes": [],
    },
}


def test_quality_checks_computable_from_registry_and_feeds(catalogue):
    result = assess_scenario(BASE, catalogue=catalogue)
    found = {(q["check"], q["id_number"]): q["message"] for q in result["quality"]}
    assert "check character" in found[("Q-ID", "360827198003150112")]
    assert "birth date disagrees" in found[("Q-ID", "360827198207020220")]
    assert "11-digit mobile" in found[("Q-PHONE", "360827198003150112")]
    assert "no head" in found[("Q-HEAD", None)]
    assert ("Q-NOINCOME", None) in found
    assert "Below working age" in found[("Q-LABOUR", "360827201401010031")]
    assert ("Q-SCHOOL", "360827201401010031") in found
    assert ("Q-OMIT-MON", None) in found  # M-EDU fired, not a monitoring object
    assert all(" / " in m for m in found.values())


def test_duplicate_ids_and_spouse_sex_in_a_region(catalogue):
    data = {
        **BASE,
        "household": {
            **BASE["household"],
            "members": [
                {"id_number": "360827198003150111", "relation": "head", "labour": "normal"},
                {"id_number": "360827198509090035", "relation": "spouse", "labour": "normal"},
            ],
            "incomes": [{"year": 2023, "wage": 40000}],
        },
    }
    from safetynet.engine.scenario import parse_scenario

    a = parse_scenario(data, catalogue.inputs)
    b = parse_scenario({**data, "name": "另一户"}, catalogue.inputs)
    tables = scenario_tables([("HA", "-", a), ("HB", "-", b)], catalogue.inputs)
    res = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue).run(
        tables
    )
    rows = [(r["check"], r["household_id"], r["id_number"]) for r in res.quality.to_pylist()]
    assert ("Q-DUP", "HA", "360827198003150111") in rows and (
        "Q-DUP",
        "HB",
        "360827198003150111",
    ) in rows
    assert ("Q-HEAD", "HA", "360827198509090035") in rows  # spouse of the same sex as the head


def test_engine_errors_carry_step_and_sql(region, catalogue):
    _, _, tables = region
    plan = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue).plan
    broken_steps = list(plan.steps)
    broken_steps[1] = dataclasses.replace(broken_steps[1], sql="SELECT * FROM no_such_table")
    broken = dataclasses.replace(plan, steps=broken_steps)
    with pytest.raises(EngineError) as info:
        get_engine("duckdb").run(broken, tables)
    err = info.value
    assert err.step == broken_steps[1].name and err.sql == "SELECT * FROM no_such_table"
    assert "no_such_table" in err.en and err.zh.startswith("duckdb 执行步骤")
    missing = {k: v for k, v in tables.items() if k != "persons"}
    with pytest.raises(EngineError, match="input table persons is missing"):
        get_engine("duckdb").run(plan, missing)
    wrong = dict(tables)
    wrong["incomes"] = tables["incomes"].drop_columns(["wage"])
    with pytest.raises(EngineError, match="lacks columns: wage"):
        get_engine("duckdb").run(plan, wrong)


def _first_of_each(table: pa.Table, columns: list[str]) -> pa.Table:
    """The first row of each distinct value of `columns`."""

    keys = pc.binary_join_element_wise(
        *[pc.cast(table.column(c), pa.string()) for c in columns], "|"
    )
    first = pc.equal(pc.index_in(keys, value_set=pc.unique(keys)), pa.array(range(len(keys))))
    return table.filter(pc.fill_null(first, True))


def test_unique_keys_give_the_same_results(region, catalogue):
    """The screen declares the registry's unique constraints (persons by ID number, incomes by
    household and year): the duplicate count becomes a row expression, and this year's and
    last year's income come from one window instead of an aggregate and a window — with the
    same results as without the declaration, on DuckDB and in Spark's SQL."""
    from safetynet.policy.compiler import CompileError, compile_plan
    from safetynet.policy.params import bind_areas

    _, _, tables = region
    unique = {
        **tables,
        "persons": _first_of_each(tables["persons"], ["id_number"]),
        "incomes": _first_of_each(tables["incomes"], ["household_id", "year"]),
    }
    assert unique["persons"].num_rows > 50
    # households with two or more years of income: the previous year's income is read
    years = unique["incomes"].group_by("household_id").aggregate([("year", "count")])
    assert max(years.column("year_count").to_pylist()) >= 2
    binding = bind_areas(catalogue.params, AS_OF)
    keys = {"persons": ("id_number",), "incomes": ("household_id", "year")}
    plain = compile_plan(catalogue, binding, dialect="duckdb")
    hinted = compile_plan(catalogue, binding, dialect="duckdb", unique_keys=keys)
    assert "FROM persons AS f" in plain.script() and "FROM persons AS f" not in hinted.script()
    assert "'income_year': f.year" in plain.script()  # rank 1 by an aggregate
    assert "'income_year': f.year" not in hinted.script()  # ranks 1 and 2 by one window
    assert (
        hinted.script().count("FROM incomes AS f") == plain.script().count("FROM incomes AS f") - 1
    )
    spark = compile_plan(catalogue, binding, dialect="spark", unique_keys=keys)
    assert "x.rn <= 2" in spark.script()
    engine = get_engine("duckdb")
    a, b = engine.run(plain, unique), engine.run(hinted, unique)
    for rel in ("households", "persons", "quality"):
        assert getattr(a, rel).equals(getattr(b, rel)), rel
    changed = a.households.column("prev_net_income").to_pylist()
    assert any(v is not None for v in changed)
    with pytest.raises(CompileError):
        compile_plan(catalogue, binding, dialect="duckdb", isolate=True, unique_keys=keys)
    with pytest.raises(CompileError, match="unknown columns: no_such"):
        compile_plan(catalogue, binding, dialect="duckdb", unique_keys={"incomes": ("no_such",)})


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in table.column_names])


def every_other_household(tables: dict, parity: int) -> tuple[pa.Array, dict]:
    """Every other household (first, third, … for parity 0): their ids, and the input tables
    with only their households, persons and incomes (the feeds whole)."""

    ids = tables["households"].column("household_id")
    some = ids.filter(pc.equal(pc.bit_wise_and(pa.array(range(len(ids))), 1), parity))
    part = dict(tables)
    for name in ("households", "persons", "incomes"):
        t = tables[name]
        part[name] = t.filter(pc.is_in(t.column("household_id"), value_set=some))
    return some, part


def test_a_run_over_some_households_reads_only_their_records(region, catalogue):
    """`Plan.keyed_inputs` names the tables whose every read joins on a person's ID number or a
    household's id. A run over some households (an incremental screen) with
    `some_households=True` cuts those tables down to the records of its persons and
    households before the stages read them: the same results, evidence included, as with
    every record. A table also read by county keeps all its rows."""
    from safetynet.engine.adapters import DuckDBBackend, RuleEngine
    from safetynet.policy.compiler import compile_plan
    from safetynet.policy.params import bind_areas

    _, _, tables = region
    binding = bind_areas(catalogue.params, AS_OF)
    plan = compile_plan(catalogue, binding, dialect="duckdb", evidence=True)
    keyed = plan.keyed_inputs
    assert keyed["feed_medical_claims"] == {"id_number"}
    assert keyed["feed_housing"] == {"household_id"}
    assert "feed_school_enrolment" not in keyed  # the county's current term: every household
    assert "area_codes" not in keyed  # matched on the ID's first six digits
    isolated = compile_plan(catalogue, binding, dialect="duckdb", isolate=True)
    assert isolated.keyed_inputs == {}

    some, part = every_other_household(tables, 0)

    class Counting(DuckDBBackend):
        """Counts the rows of each input table the run made of kept records."""

        kept: dict[str, int] = {}

        def create(self, conn, name, sql, *, materialize):
            super().create(conn, name, sql, materialize=materialize)
            if name in plan.inputs:
                self.kept[name] = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]

    backend = Counting()
    engine = RuleEngine(backend)
    whole, less = engine.run(plan, part), engine.run(plan, part, some_households=True)
    assert whole.households.num_rows == len(some)
    assert whole.evidence.num_rows > 0
    for rel in ("households", "persons", "quality", "evidence"):
        assert _sorted(getattr(whole, rel)).equals(_sorted(getattr(less, rel))), rel
    feeds = {n for n in keyed if n.startswith("feed_") and n in part}
    assert feeds <= set(backend.kept)
    dropped = sum(part[n].num_rows - backend.kept[n] for n in feeds)
    assert dropped >= 10  # of 33 records, those of the other households


def test_latest_record_id_rebuilt_from_the_ordering(region, catalogue):
    """`latest` keeps a wanted value that is also an ordering column (the record id) only as a
    flag in the aggregated struct, and rebuilds it from the ordering field. A latest record
    without an id still counts as no record (the registry's grade stays); of two records of
    one date whose ids are NULL and '', the one with an id is taken, as the evidence's window
    takes it (DESC NULLS LAST); otherwise the latest record's grade."""
    _, _, tables = region
    hh = tables["households"]
    ids = hh.column("household_id").to_pylist()
    registry = dict(zip(ids, hh.column("housing_grade").to_pylist(), strict=True))
    a, b, c = [h for h in ids if registry[h] not in ("C", "D")][:3]
    old, new = dt.date(2023, 1, 10), dt.date(2024, 1, 10)
    records = [
        (a, "A1", old, "D"),
        (a, None, new, "C"),  # latest, without an id: no record
        (b, None, new, "C"),
        (b, "", new, "D"),  # same date: the one with an id
        (c, "C1", old, "C"),
        (c, "C2", new, "D"),
    ]
    feed = tables["feed_housing"]
    others = feed.filter(
        pc.invert(pc.is_in(feed.column("household_id"), value_set=pa.array([a, b, c])))
    )
    added = pa.table(
        {
            "record_id": [r[1] for r in records],
            "event_date": [r[2] for r in records],
            "id_number": [None] * len(records),
            "household_id": [r[0] for r in records],
            "grade": [r[3] for r in records],
        },
        schema=feed.schema,
    )
    inputs = {**tables, "feed_housing": pa.concat_tables([others, added])}
    plan = prepare_screen(as_of=AS_OF, overrides=[], catalogue=catalogue)
    assert "'sn_o1': COALESCE(f.record_id, '')" in plan.sql()
    assert "NOT f.record_id IS NULL" in plan.sql()  # the id itself is not in the struct
    out = get_engine("duckdb").run(plan.plan, inputs).households
    effective = dict(
        zip(
            out.column("household_id").to_pylist(),
            out.column("housing_grade_effective").to_pylist(),
            strict=True,
        )
    )
    assert effective[a] == registry[a]
    assert effective[b] == "D"
    assert effective[c] == "D"


def test_last_person_stage_is_a_view_whose_sources_stay(region, catalogue):
    """In a region plan the last person stage only joins its household's values and computes
    row by row: it is a view, and the stages it reads are kept until the end (each reader of
    the view reads them). A plan for single households keeps every stage materialised."""
    import re

    from safetynet.policy.compiler import compile_plan
    from safetynet.policy.params import bind_areas

    plan = prepare_screen(as_of=AS_OF, overrides=[], catalogue=catalogue).plan
    views = [s for s in plan.steps if not s.materialize]
    assert [s.name for s in views] == [
        [s.name for s in plan.steps if s.name.startswith("sn_p")][-1]
    ]
    read = {s.name for s in plan.steps if re.search(rf"\b{s.name}\b", views[0].sql)}
    assert read and not read & {r for s in plan.steps for r in s.release}
    out = get_engine("duckdb").run(plan, region[2])
    assert out.persons.num_rows == region[2]["persons"].num_rows
    single = compile_plan(catalogue, bind_areas(catalogue.params, AS_OF), isolate=True)
    assert all(s.materialize for s in single.steps)
