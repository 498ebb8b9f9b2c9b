"""The rule engine for the bulk screen: the same compiled SQL as `assess`, over a region.

    plan = prepare_screen(as_of=date(2024, 6, 30), engine="duckdb")
    results = plan.run({"households": ..., "persons": ..., "incomes": ..., "feed_deaths": ...})
    results.households / results.persons / results.quality   # Arrow tables, engine-neutral

Inputs are Arrow tables or Parquet paths (file or directory) named by the input contract
(`engine/inputs.yaml`); missing feed tables are empty. The output relations have fixed Arrow
schemas (`engine/outputs.yaml`), identical on DuckDB and Spark, so CSVs written from them
compare byte for byte. `plan.parameters_table()` lists the parameter values used per area key
and `plan.explain(household_row, person_rows)` renders the explanations of one household.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from safetynet.policy.catalogue import (
    FEATURES_DIR,
    INPUTS_FILE,
    OUTPUTS_FILE,
    RULES_DIR,
    Catalogue,
    default_catalogue,
)
from safetynet.policy.compiler import Plan, compile_plan
from safetynet.policy.params import PARAMETER_DIR, Entry, ParameterBinding, bind_areas, json_ready

from .adapters import DuckDBBackend, InputSource, Results, RuleEngine, SparkBackend, get_engine
from .assess import override_entries
from .explain import explain_household


def catalogue_hash() -> str:
    """SHA-256 (first 16 hex) of every catalogue and parameter file: what a run evaluated."""
    digest = hashlib.sha256()
    files: list[Path] = [INPUTS_FILE, OUTPUTS_FILE]
    for directory in (FEATURES_DIR, RULES_DIR, PARAMETER_DIR):
        files.extend(sorted(directory.glob("*.yaml")))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class ScreenPlan:
    engine: RuleEngine
    plan: Plan
    catalogue: Catalogue
    binding: ParameterBinding
    overrides: list[Entry] = field(default_factory=list)

    @property
    def as_of(self) -> dt.date:
        return self.binding.as_of

    @property
    def dialect(self) -> str:
        return self.plan.dialect

    @property
    def catalogue_hash(self) -> str:
        return catalogue_hash()

    def run(self, inputs: Mapping[str, InputSource]) -> Results:
        """Evaluate every household of `inputs`. Raises EngineError (with step and SQL)."""
        return self.engine.run(self.plan, inputs)

    def parameters(self) -> dict[str, dict[str, Any]]:
        """Per area key, every parameter's value with tag, source, area and dates (JSON-ready)."""
        out: dict[str, dict[str, Any]] = {}
        for key, entries in self.binding.keys.items():
            out[key] = {
                name: ({**e.describe(), "value": json_ready(e.value)} if e else None)
                for name, e in entries.items()
            }
        return out

    def parameters_table(self) -> pa.Table:
        rows = []
        for key, entries in self.binding.keys.items():
            for name, e in entries.items():
                if e is None:
                    continue
                rows.append(
                    {
                        "area_key": key,
                        "parameter": name,
                        "value": str(json_ready(e.value)),
                        "tag": e.tag,
                        "source": e.source,
                        "area": e.area,
                        "from": e.start,
                        "published": e.published,
                        "origin": e.origin,
                    }
                )
        schema = pa.schema(
            [
                ("area_key", pa.string()),
                ("parameter", pa.string()),
                ("value", pa.string()),
                ("tag", pa.string()),
                ("source", pa.string()),
                ("area", pa.string()),
                ("from", pa.date32()),
                ("published", pa.date32()),
                ("origin", pa.string()),
            ]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    def explain(
        self, household: Mapping[str, Any], persons: Iterable[Mapping[str, Any]] = ()
    ) -> list[dict]:
        """Explanations (zh, en, values, parameters, source) of one household's result rows."""
        entries = self.binding.keys.get(household.get("area_key"), {})
        return explain_household(
            self.catalogue, entries, dict(household), [dict(p) for p in persons]
        )

    def sql(self) -> str:
        return self.plan.script()


def prepare_screen(
    *,
    as_of: dt.date,
    engine: str | RuleEngine = "duckdb",
    area_codes: list[str] | None = None,
    overrides: list[Entry] | None = None,
    catalogue: Catalogue | None = None,
    duckdb_settings: Mapping[str, str] | None = None,
    spark_session=None,
) -> ScreenPlan:
    """Compile the catalogue for a whole screen as of `as_of`.

    Parameters are bound per area key (every area code that carries a value, plus CN): the SQL
    picks each household's key by the longest prefix of its village code. `area_codes` is
    informational (the caller filters its inputs); officers' overrides are read from the
    database unless given.
    """
    cat = catalogue or default_catalogue()
    if isinstance(engine, str):
        if engine == "duckdb" and duckdb_settings:
            eng = RuleEngine(
                DuckDBBackend(
                    threads=int(duckdb_settings.get("threads", 0)) or None,
                    memory_limit=duckdb_settings.get("memory_limit"),
                )
            )
        elif engine == "spark" and spark_session is not None:
            eng = RuleEngine(SparkBackend(session=spark_session))
        else:
            eng = get_engine(engine)
    else:
        eng = engine
    if overrides is None:
        overrides = override_entries(cat)
    binding = bind_areas(cat.params, as_of, extra=overrides)
    plan = compile_plan(cat, binding, dialect=eng.dialect)
    del area_codes
    return ScreenPlan(
        engine=eng, plan=plan, catalogue=cat, binding=binding, overrides=list(overrides)
    )
