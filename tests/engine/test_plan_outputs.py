"""Plan options used by region screens: unordered outputs, released stages, evidence records."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from safetynet.engine.adapters import get_engine
from safetynet.engine.scenario import scenario_tables
from safetynet.policy.compiler import CompileError, compile_plan
from safetynet.policy.params import bind_areas

AS_OF = dt.date(2024, 6, 30)


@pytest.fixture(scope="module")
def region(boundary_scenarios, catalogue):
    chosen = [
        sc
        for sc in boundary_scenarios
        if sc.spec.as_of == AS_OF and not sc.spec.parameters and not sc.spec.overrides
    ]
    batch = [(f"H{i:04d}", "-", sc) for i, sc in enumerate(chosen)]
    return scenario_tables(batch, catalogue.inputs)


def _plan(catalogue, **kw):
    return compile_plan(catalogue, bind_areas(catalogue.params, AS_OF), cache=False, **kw)


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


def test_unordered_outputs_hold_the_same_rows(region, catalogue):
    engine = get_engine("duckdb")
    ordered = engine.run(_plan(catalogue), region)
    unordered = engine.run(_plan(catalogue, ordered=False), region)
    assert "ORDER BY" not in _plan(catalogue, ordered=False).outputs["persons"]
    assert ordered.households.num_rows > 50
    assert _sorted(unordered.households, ["household_id"]).equals(ordered.households)
    assert _sorted(unordered.persons, ["household_id", "id_number"]).equals(ordered.persons)
    keys = ["check", "household_id", "id_number", "rule"]
    assert _sorted(unordered.quality, keys).equals(_sorted(ordered.quality, keys))


def test_released_stages_are_never_read_again(catalogue):
    plan = _plan(catalogue)
    released = [(i, name) for i, step in enumerate(plan.steps) for name in step.release]
    assert released, "a multi-stage plan releases its earlier stages"
    finals = set(plan.final_frames.values())
    for i, name in released:
        assert name not in finals
        later = [s.sql for s in plan.steps[i + 1 :]] + list(plan.outputs.values())
        assert not any(re.search(rf"\b{name}\b", sql) for sql in later), name
        assert re.search(rf"\b{name}\b", plan.steps[i].sql), f"{name} released by a non-reader"


def test_evidence_names_the_records_behind_fired_rules(region, catalogue):
    res = get_engine("duckdb").run(_plan(catalogue, evidence=True), region)
    evidence = res.evidence
    assert evidence is not None and evidence.num_rows > 0
    fired = {
        (h["household_id"], rule)
        for h in res.households.to_pylist()
        for rule in (h["rules"] or "").split(";")
        if rule
    }
    rows = evidence.to_pylist()
    assert {(r["household_id"], r["rule"]) for r in rows} <= fired
    # every record id is a record of that household (or of one of its members)
    members = {}
    for p in res.persons.to_pylist():
        members.setdefault(p["household_id"], set()).add(p["id_number"])
    owners = {}
    for name, table in region.items():
        if not name.startswith("feed_") or "record_id" not in table.column_names:
            continue
        cols = table.to_pydict()
        for i, record in enumerate(cols["record_id"]):
            owners.setdefault(record, set()).update(
                {("p", cols["id_number"][i]) if "id_number" in cols else None}
                | {("h", cols["household_id"][i]) if "household_id" in cols else None}
            )
    for r in rows:
        mine = {("p", i) for i in members.get(r["household_id"], set())} | {
            ("h", r["household_id"])
        }
        assert owners.get(r["record_id"], set()) & mine, r


def test_medical_evidence_is_the_claims_inside_the_window(region, catalogue):
    res = get_engine("duckdb").run(_plan(catalogue, evidence=True), region)
    rigid = pc.equal(res.evidence.column("rule"), "M-RIGID")
    evidence = res.evidence.filter(rigid).to_pylist()
    assert evidence, "the boundary scenarios include a medical-expense warning"
    claims = region["feed_medical_claims"].to_pylist()
    window = (dt.date(2023, 6, 30), AS_OF)
    by_id = {c["record_id"]: c for c in claims}
    for row in evidence:
        claim = by_id[row["record_id"]]
        assert window[0] < claim["event_date"] <= window[1]


def test_evidence_is_for_region_screens_only(catalogue):
    with pytest.raises(CompileError):
        _plan(catalogue, evidence=True, isolate=True)
