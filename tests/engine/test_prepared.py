"""DuckDB's prepared path (plan once, execute per call) gives exactly the step-by-step results.

The prepared statement must not carry anything of one call into the next: households are
assessed in sequence on one prepared plan (A, B, A ...) and every result is compared with a
step-by-step run of the same scenario.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from safetynet.engine import adapters
from safetynet.engine.adapters import (
    DuckDBBackend,
    EngineError,
    NotPreparable,
    PreparedPlan,
    RuleEngine,
)
from safetynet.engine.assess import assess_many
from safetynet.engine.scenario import parse_scenario


class RecordingEngine(RuleEngine):
    """A DuckDB engine of its own that remembers which path each run took."""

    def __init__(self):
        super().__init__(DuckDBBackend())
        self.paths: list[bool] = []
        self.last: tuple = ()

    def run(self, plan, inputs, *, prepared=False):
        res = super().run(plan, inputs, prepared=prepared)
        self.paths.append(res.prepared)
        self.last = (plan, inputs)
        return res


def _assess(scenario, engine, catalogue, *, prepared):
    outcome = assess_many(
        [scenario], engine=engine, catalogue=catalogue, overrides=[], prepared=prepared
    )[0]
    assert outcome.error is None, outcome.error
    return outcome.result


def _case01(catalogue, **changes):
    from tests.conftest import SHARED

    data = yaml.safe_load((Path(SHARED) / "policy-cases" / "01.yaml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data.pop("expected", None)
    household = data["household"]
    if "wage" in changes:
        household["incomes"][0]["wage"] = changes["wage"]
    if "members" in changes:
        household["members"] = household["members"][: changes["members"]]
    if "extra_members" in changes:
        for i in range(changes["extra_members"]):
            household["members"].append(
                {
                    "id_number": f"36082719500101{i:03d}1",
                    "name": f"成员{i}",
                    "relation": "parent",
                    "labour": "none",
                    "health": "serious",
                }
            )
    if "incomes" in changes:
        household["incomes"] = changes["incomes"]
    data["name"] = changes.get("name", data["name"])
    return parse_scenario(data, catalogue.inputs)


def test_policy_cases_in_sequence_match_step_by_step(policy_cases, catalogue):
    engine = RecordingEngine()
    expected = {sc.name: _assess(sc, engine, catalogue, prepared=False) for sc in policy_cases}
    assert not any(engine.paths)
    engine.paths.clear()
    order = list(policy_cases) + list(reversed(policy_cases)) + list(policy_cases[:2])
    for sc in order:
        assert _assess(sc, engine, catalogue, prepared=True) == expected[sc.name], sc.name
    assert all(engine.paths) and len(engine.paths) == len(order)


def test_one_prepared_plan_serves_different_households(catalogue):
    """A, B, A ... on one prepared statement: data of one call never shapes the next."""
    engine = RecordingEngine()
    a = _case01(catalogue)
    b = _case01(catalogue, name="B", wage=90000, members=1)  # one member, far above the line
    c = _case01(catalogue, name="C", extra_members=3)  # more rows than the first call
    d = _case01(catalogue, name="D", incomes=[])  # no income rows at all
    fresh = {}
    for sc in (a, b, c, d):
        fresh[sc.name] = _assess(sc, RecordingEngine(), catalogue, prepared=False)
    assert fresh["B"]["dibao"] != fresh[a.name]["dibao"]
    assert fresh["C"]["measures"]["n"] == 6 and fresh["B"]["measures"]["n"] == 1
    assert any(q["check"] == "Q-NOINCOME" for q in fresh["D"]["quality"])
    sequence = [b, a, c, a, d, b, a, d, c]
    for sc in sequence:
        assert _assess(sc, engine, catalogue, prepared=True) == fresh[sc.name], sc.name
    assert all(engine.paths)
    assert engine.backend.prepared_plans == 1  # every call above ran on the same prepared plan


def test_output_tables_are_identical_row_for_row(catalogue):
    """Same Arrow tables, same row order, for a run of several households."""
    engine = RecordingEngine()
    batch = [
        _case01(catalogue, name="C", extra_members=3),
        _case01(catalogue),
        _case01(catalogue, name="D", incomes=[]),
        _case01(catalogue, name="B", wage=90000, members=1),
    ]
    outcomes = assess_many(batch, engine=engine, catalogue=catalogue, overrides=[])
    assert all(o.error is None for o in outcomes) and engine.paths == [True]
    plan, inputs = engine.last
    steps = engine.run(plan, inputs, prepared=False)
    for _ in range(2):
        prepared = engine.run(plan, inputs, prepared=True)
        assert prepared.prepared and not steps.prepared
        assert prepared.persons.num_rows == 6 + 3 + 3 + 1 and prepared.quality.num_rows > 1
        for rel in ("households", "persons", "quality"):
            assert getattr(prepared, rel).equals(getattr(steps, rel)), rel


def test_concurrent_callers_get_their_own_results(catalogue):
    engine = RecordingEngine()
    a = _case01(catalogue)
    b = _case01(catalogue, name="B", wage=90000, members=1)
    fresh = {sc.name: _assess(sc, RecordingEngine(), catalogue, prepared=False) for sc in (a, b)}
    work = [a, b] * 4
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda sc: _assess(sc, engine, catalogue, prepared=True), work))
    for sc, result in zip(work, got, strict=True):
        assert result == fresh[sc.name], sc.name
    assert all(engine.paths) and engine.backend.prepared_plans == 1


def test_large_inputs_run_step_by_step(catalogue, monkeypatch):
    engine = RecordingEngine()
    a = _case01(catalogue)
    expected = _assess(a, RecordingEngine(), catalogue, prepared=False)
    monkeypatch.setattr(adapters, "PREPARED_MAX_ROWS", 2)
    assert _assess(a, engine, catalogue, prepared=True) == expected
    assert engine.paths == [False]


def test_default_prepares_small_runs_only(policy_cases, catalogue):
    engine = RecordingEngine()
    assess_many(policy_cases[:1], engine=engine, catalogue=catalogue, overrides=[])
    assess_many(policy_cases, engine=engine, catalogue=catalogue, overrides=[])
    assert engine.paths == [True, False]


def test_failing_prepared_plan_reports_the_step(catalogue):
    engine = RecordingEngine()
    _assess(_case01(catalogue), engine, catalogue, prepared=True)
    plan, inputs = engine.last
    steps = list(plan.steps)
    steps[1] = dataclasses.replace(steps[1], sql="SELECT * FROM no_such_table")
    broken = dataclasses.replace(plan, steps=steps)
    with pytest.raises(EngineError) as info:
        engine.run(broken, inputs, prepared=True)
    assert info.value.step == steps[1].name and info.value.sql == "SELECT * FROM no_such_table"
    # the working plan is still prepared and still answers
    assert engine.run(plan, inputs, prepared=True).prepared


def _round_trip(table: pa.Table) -> pa.Table:
    (arg,) = PreparedPlan.arguments({"t": table})
    with duckdb.connect() as conn:
        return conn.sql(f"SELECT unnest({arg}, recursive := true)").to_arrow_table()


def test_input_literals_read_back_exactly():
    table = pa.table(
        {
            "text": pa.array(
                ["it's", "", "back\\slash", "line\nbreak", '双引号"', None], pa.string()
            ),
            "int": pa.array([0, -(2**31), 2**31 - 1, None, 7, -1], pa.int32()),
            "money": pa.array(
                [
                    Decimal("0.00"),
                    Decimal("-0.50"),
                    Decimal("9999999999999999.99"),
                    Decimal("-9999999999999999.99"),
                    None,
                    Decimal("14000.00"),
                ],
                pa.decimal128(18, 2),
            ),
            "day": pa.array(
                [dt.date(1, 1, 1), dt.date(9999, 12, 31), None, dt.date(2024, 2, 29)] + [None] * 2,
                pa.date32(),
            ),
            "flag": pa.array([True, False, None, True, False, None], pa.bool_()),
        }
    )
    assert _round_trip(table).equals(table)
    assert _round_trip(table.slice(0, 0)).equals(table.slice(0, 0))
    single = table.select(["text"])
    assert _round_trip(single).equals(single)


def test_unsupported_inputs_are_refused():
    with pytest.raises(NotPreparable):
        PreparedPlan.arguments({"t": pa.table({"x": pa.array(["a\x00b"])})})
    with pytest.raises(NotPreparable):
        PreparedPlan.arguments({"t": pa.table({"x": pa.array([1.5])})})
