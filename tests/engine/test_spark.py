"""The same compiled SQL on Spark: every scenario in one run, identical to DuckDB."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from safetynet.engine.assess import assess_many
from safetynet.engine.compare import compare
from safetynet.engine.scenario import scenario_tables
from safetynet.engine.screen import prepare_screen
from tests.policy.test_compiler import CASES, expected_round, round_div_sql

from .test_screen import AS_OF, _region_subset, _sorted, every_other_household

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def all_scenarios(policy_cases, boundary_scenarios):
    return list(policy_cases) + list(boundary_scenarios)


@pytest.fixture(scope="module")
def spark_outcomes(all_scenarios, catalogue, spark_engine):
    return assess_many(all_scenarios, engine=spark_engine, catalogue=catalogue, overrides=[])


def test_every_scenario_passes_on_spark_and_matches_duckdb(
    spark_outcomes, all_scenarios, catalogue
):
    failures = []
    for outcome in spark_outcomes:
        if outcome.error is not None:
            failures.append(f"{outcome.scenario.name}: {outcome.error}")
            continue
        diffs = compare(outcome.scenario.spec.expected, outcome.result)
        failures += [d.line(outcome.scenario.name) for d in diffs]
    assert not failures, "\n".join(failures)
    duck = assess_many(all_scenarios, engine="duckdb", catalogue=catalogue, overrides=[])
    for s, d in zip(spark_outcomes, duck, strict=True):
        assert s.result == d.result, s.scenario.name


def test_region_plan_gives_identical_relations_on_spark_and_duckdb(
    boundary_scenarios, catalogue, spark_engine
):
    chosen = _region_subset(boundary_scenarios)
    tables = scenario_tables(
        [(f"H{i:04d}", "-", sc) for i, sc in enumerate(chosen)], catalogue.inputs
    )
    duck = prepare_screen(as_of=AS_OF, engine="duckdb", overrides=[], catalogue=catalogue).run(
        tables
    )
    spark = prepare_screen(as_of=AS_OF, engine=spark_engine, overrides=[], catalogue=catalogue).run(
        tables
    )
    for rel in ("households", "persons", "quality"):
        a, b = getattr(duck, rel), getattr(spark, rel)
        assert a.schema == b.schema, rel
        assert a.to_pylist() == b.to_pylist(), rel


def test_a_run_over_some_households_on_spark(boundary_scenarios, catalogue, spark_engine):
    """Spark cuts the keyed inputs down to the evaluated households' records with the same
    portable SQL: the results and evidence equal DuckDB's over every record."""
    from safetynet.engine.adapters import get_engine
    from safetynet.policy.compiler import compile_plan
    from safetynet.policy.params import bind_areas

    chosen = _region_subset(boundary_scenarios)
    tables = scenario_tables(
        [(f"H{i:04d}", "-", sc) for i, sc in enumerate(chosen)], catalogue.inputs
    )
    some, tables = every_other_household(tables, 1)
    binding = bind_areas(catalogue.params, AS_OF)
    plans = {
        d: compile_plan(catalogue, binding, dialect=d, evidence=True, ordered=False)
        for d in ("duckdb", "spark")
    }
    assert plans["spark"].keyed_inputs == plans["duckdb"].keyed_inputs
    duck = get_engine("duckdb").run(plans["duckdb"], tables)
    spark = spark_engine.run(plans["spark"], tables, some_households=True)
    assert duck.households.num_rows == len(some)
    for rel in ("households", "persons", "quality", "evidence"):
        a, b = getattr(duck, rel), getattr(spark, rel)
        assert a.schema == b.schema, rel
        assert _sorted(a).to_pylist() == _sorted(b).to_pylist(), rel


def test_round_div_on_spark_is_exact(spark_engine):
    spark = spark_engine.backend.session()
    rows = spark.sql(round_div_sql(CASES, "spark")).collect()
    for (a, b, k), row in zip(CASES, rows, strict=True):
        assert Decimal(row[0]) == expected_round(a, b, k), (a, b, k, row[0])
    assert dt.date(2024, 6, 30) == AS_OF
