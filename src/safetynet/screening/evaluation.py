"""The screen's one contact with the rule engine (`safetynet.engine`, `safetynet.policy`).

The screen never evaluates a rule itself: it compiles the catalogue through the engine's public
API, hands it the snapshot tables and the linked department feeds, and brings the engine's output
relations into the neutral result schemas of `results.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from safetynet.core.errors import SafetyNetError

from . import hadoop
from .results import HOUSEHOLDS, ScreenResults, sql_text
from .snapshot import Snapshot

Evaluate = Callable[[Snapshot, Path], ScreenResults]
# what the snapshot's tables hold one row per (the registry's unique constraints)
UNIQUE_KEYS = {"persons": ("id_number",), "incomes": ("household_id", "year")}


class EngineUnavailable(SafetyNetError):
    code = "engine_unavailable"


@dataclass
class Prepared:
    """A compiled catalogue, ready to evaluate the snapshot of one run."""

    engine: str
    as_of: date
    catalogue_hash: str
    parameters: dict
    run: Evaluate = field(repr=False)

    def evaluate(self, snap: Snapshot, *, work_dir: Path) -> ScreenResults:
        work_dir.mkdir(parents=True, exist_ok=True)
        return self.run(snap, work_dir)


# Tests and benchmarks may substitute how a catalogue is prepared (e.g. to inject a failure);
# production code always goes through `_prepare_engine`.
_override: Callable[..., Prepared] | None = None


def prepare(*, engine: str, as_of: date, area_codes: list[str]) -> Prepared:
    if _override is not None:
        return _override(engine=engine, as_of=as_of, area_codes=area_codes)
    return _prepare_engine(engine=engine, as_of=as_of, area_codes=area_codes)


def duckdb_settings() -> dict[str, str]:
    """Memory and threads of the screen's DuckDB connection (other work shares the machine)."""
    return {
        "memory_limit": os.environ.get("SAFETYNET_SCREEN_MEMORY", "4GB"),
        "threads": os.environ.get("SAFETYNET_SCREEN_THREADS", "2"),
    }


def feed_sources() -> dict[str, str]:
    """`feed_<kind>` → a Parquet file of the linked records of active batches (kinds without
    any are left out: the engine treats them as empty)."""
    try:
        from safetynet.feeds import selectors
        from safetynet.feeds.models import FeedBatch
    except ImportError:
        return {}
    from .incremental import _has_table

    if not _has_table(FeedBatch):
        return {}
    kinds = sorted(set(FeedBatch.objects.filter(status="active").values_list("kind", flat=True)))
    out = {}
    for kind in kinds:
        paths = selectors.linked_feed_paths(kind)
        if paths:
            out[f"feed_{kind}"] = paths[0] if len(paths) == 1 else paths
    return out


def known_area_codes() -> pa.Table:
    """County codes valid in ID numbers (current and former, GB/T 2260), for Q-ID."""
    try:
        from safetynet.core import gbt2260
    except ImportError:
        return pa.table({"code": pa.array([], pa.string())})
    return pa.table({"code": pa.array(sorted(gbt2260.known_codes()), pa.string())})


def _plain(value):
    """JSON-ready, so the parameters stored on a run compare equal after a round trip."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _split_messages(q: pa.Table) -> pa.Table:
    """The engine's quality message is "中文 / English": two columns, set-based."""
    con = duckdb.connect()
    try:
        con.register("q", q)
        return con.sql(
            """SELECT "check", household_id, id_number,
                      split_part(coalesce(message, ''), ' / ', 1) AS message_zh,
                      CASE WHEN contains(coalesce(message, ''), ' / ')
                           THEN substr(message, strpos(message, ' / ') + 3)
                           ELSE coalesce(message, '') END AS message_en,
                      'engine' AS source
               FROM q"""
        ).to_arrow_table()
    finally:
        con.close()


def screen_engine(name: str):
    """A DuckDB engine for one screen, bounded in memory and threads (duckdb_settings). Its
    database is the run's own: the run disposes of it as soon as the engine's relations are
    fetched, which gives the memory of the stages back before results are rendered and stored."""
    from safetynet.engine.adapters import DuckDBBackend, RuleEngine

    class ParquetViews(DuckDBBackend):
        """Input tables given as Parquet paths become views scanned by DuckDB itself (within
        its memory limit) instead of Arrow tables held in Python memory."""

        def register(self, conn, name, source, spec):
            if isinstance(source, pa.Table):
                return super().register(conn, name, source, spec)
            paths = source if isinstance(source, list | tuple) else [source]
            files = "[" + ", ".join(sql_text(str(p)) for p in paths) + "]"
            cols = ", ".join(
                f'CAST("{c}" AS {DUCKDB_TYPES[t]}) AS "{c}"' for c, t in spec.columns.items()
            )
            conn.execute(
                f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT {cols} FROM read_parquet({files})'
            )

    conf = duckdb_settings()
    backend = ParquetViews(threads=int(conf["threads"]), memory_limit=conf["memory_limit"])
    # Row order inside a stage means nothing to the screen (it sorts its results): letting
    # DuckDB drop it saves memory on region-sized stages.
    backend.session().execute("SET GLOBAL preserve_insertion_order = false")
    return RuleEngine(backend)


def spark_screen_engine(name: str):
    """Spark for a region: the process's Spark engine (its session, or one injected by tests),
    switched to whole-stage code generation and adaptive execution for the run — the settings
    for one household (interpreted expressions, no AQE) cost minutes on a region."""
    from safetynet.engine.adapters import RuleEngine, SparkBackend, get_engine

    base = get_engine(name)
    backend = base.backend
    if not isinstance(backend, SparkBackend):
        return base
    return RuleEngine(SparkBackend(session=backend.session(), small=False))


DUCKDB_TYPES = {
    "text": "VARCHAR",
    "int": "INTEGER",
    "bool": "BOOLEAN",
    "date": "DATE",
    "money": "DECIMAL(18,2)",
}


def _prepare_engine(*, engine: str, as_of: date, area_codes: list[str]) -> Prepared:
    try:
        from safetynet.engine import adapters as _adapters  # noqa: F401 - is the engine there
        from safetynet.engine.assess import override_entries
        from safetynet.policy.catalogue import default_catalogue
        from safetynet.policy.compiler import compile_plan
        from safetynet.policy.params import bind_areas

        from .explain_sql import SetExplainer
    except ImportError as exc:
        raise EngineUnavailable(
            f"规则引擎尚未安装（{exc.name}）", f"the rule engine is not installed ({exc.name})"
        ) from None

    catalogue = default_catalogue()
    overrides = override_entries(catalogue)
    binding = bind_areas(catalogue.params, as_of, extra=overrides)
    rule_engine = None if engine == "duckdb" else spark_screen_engine(engine)
    dialect = "duckdb" if rule_engine is None else rule_engine.dialect
    feeds = feed_sources()
    extra_inputs: dict[str, object] = dict(feeds)
    if "area_codes" in catalogue.inputs:
        extra_inputs["area_codes"] = known_area_codes()
    # Compiled without `empty_inputs`, so the plan (and its fingerprint) does not depend on
    # which department feeds happen to hold records: missing feeds are empty tables.
    # Unordered outputs: the screen sorts its results itself (`ScreenResults.sorted`).
    explainer = SetExplainer(catalogue, binding)
    plan = compile_plan(
        catalogue,
        binding,
        dialect=dialect,
        ordered=False,
        evidence=True,
        explained=frozenset(r.id for r in explainer.rules),
        # the registry's unique constraints: one person per ID number, one income row per
        # household and year
        unique_keys=UNIQUE_KEYS,
    )
    digest = hashlib.sha256(plan.script().encode()).hexdigest()
    parameters = _plain(
        {
            key: {name: e.describe() for name, e in sorted(entries.items()) if e is not None}
            for key, entries in sorted(binding.keys.items())
        }
    )

    def run(snap: Snapshot, work_dir: Path) -> ScreenResults:
        inputs: dict[str, object] = {
            "households": str(snap.paths["households"]),
            "persons": str(snap.paths["persons"]),
            "incomes": str(snap.paths["incomes"]),
            **extra_inputs,
        }
        some = "household_villages" in snap.paths
        if some:  # a part of the households: the whole scope for county-wide features
            inputs["household_villages"] = str(snap.paths["household_villages"])
        started = time.perf_counter()
        run_engine = screen_engine(engine) if rule_engine is None else rule_engine
        staging = None
        if rule_engine is not None and hadoop.staging_uri():
            # executors on other machines read the inputs from shared storage
            staging = hadoop.HadoopDir(
                rule_engine.backend.session(), f"{hadoop.staging_uri()}/{uuid.uuid4().hex}"
            )
        try:
            if staging is not None:
                inputs = {name: staging.put_input(name, source) for name, source in inputs.items()}
            # some households: the engine reads only their records of the feeds keyed by
            # person or household
            res = run_engine.run(plan, inputs, some_households=some)
        finally:
            if rule_engine is None:
                run_engine.backend.dispose()
            if staging is not None:
                staging.remove()
        engine_seconds = time.perf_counter() - started
        results = engine_results(res, explain=explainer)
        results.timings = {
            "engine": round(engine_seconds, 3),
            "explain": round(time.perf_counter() - started - engine_seconds, 3),
            # the engine's own steps (stages and output relations), for the operator
            **{
                f"step_{name}": round(seconds, 3)
                for name, seconds in (getattr(res, "timings", None) or {}).items()
                if name.startswith(("sn_", "output:"))
            },
        }
        return results

    return Prepared(
        engine=engine, as_of=as_of, catalogue_hash=digest, parameters=parameters, run=run
    )


def engine_results(res, *, explain) -> ScreenResults:
    """The engine's relations in the screen's neutral schemas (plus explanations of warnings).

    The reshaping (evaluated households, their rule lists, the active members' programme
    columns) runs in DuckDB on both cores: for a region these relations have millions of rows.
    """
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.register("hh", res.households)
        con.register("pp", res.persons)
        where = (
            "WHERE coalesce(evaluated, false)" if "evaluated" in res.households.column_names else ""
        )
        lists = f"{_LIST.format(c='rules')} AS rules, {_LIST.format(c='risk_types')} AS risk_types"
        kept = ", ".join(
            f'"{c}"'
            for c in HOUSEHOLDS.names
            if c in res.households.column_names and c not in ("rules", "risk_types")
        )
        households = con.sql(f"SELECT {kept}, {lists} FROM hh {where}").to_arrow_table()
        # the value columns the explanations read (every one for a row-by-row explainer):
        # warned households only
        wanted = getattr(explain, "needed", None)
        names = [
            c for c in res.households.column_names if wanted is None or c in wanted or c == "rules"
        ]
        replaced = ", ".join(
            _LIST.format(c=c) + f" AS {c}" if c in ("rules", "risk_types") else f'"{c}"'
            for c in names
        )
        warned = (where + " AND" if where else "WHERE") + " coalesce(rules, '') <> ''"
        hh = con.sql(f"SELECT {replaced} FROM hh {warned}").to_arrow_table()
        active = "FROM pp WHERE coalesce(active, false)"
        tekun = con.sql(
            "SELECT id_number, household_id, tekun_eligible AS eligible, care_level,"
            f" tekun_amount AS monthly_amount {active}"
        ).to_arrow_table()
        single_person = con.sql(
            "SELECT id_number, household_id, single_amount AS monthly_amount"
            f" {active} AND coalesce(single_eligible, false)"
        ).to_arrow_table()
    finally:
        con.close()
    rules = hh.column("rules").combine_chunks().cast(pa.list_(pa.string()))
    persons = res.persons
    quality = _split_messages(res.quality)
    evidence = getattr(res, "evidence", None)
    if getattr(explain, "set_based", False):
        explanations = explain(hh, rules, persons, evidence)
    else:
        explanations = with_evidence(_explanations(hh, rules, persons, explain), evidence)
    return ScreenResults.from_tables(
        households=households,
        tekun=tekun,
        single_person=single_person,
        quality=quality,
        explanations=explanations,
    )


def with_evidence(explanations: pa.Table, evidence: pa.Table | None) -> pa.Table:
    """Each explanation of a fired rule gets the department record ids behind that rule
    (rows in no particular order: the screen sorts its results)."""
    if evidence is None or explanations.num_rows == 0:
        return explanations
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.register(
            "x",
            explanations.drop_columns([c for c in ("evidence",) if c in explanations.column_names]),
        )
        con.register("ev", evidence)
        from .explain_sql import with_evidence_sql

        return con.sql(with_evidence_sql("x", "ev")).to_arrow_table()
    finally:
        con.close()


# ';'-joined IDs → a sorted list of distinct IDs (most households have none: no split for them)
_LIST = (
    "CASE WHEN coalesce({c}, '') = '' THEN []::VARCHAR[] ELSE"
    " list_sort(list_distinct(list_filter(string_split({c}, ';'), lambda x: x <> ''))) END"
)


def _lists(column: pa.ChunkedArray) -> pa.Array:
    """';'-joined IDs → sorted, distinct lists (as `engine_results` makes them)."""
    con = duckdb.connect()
    try:
        con.register("t", pa.table({"v": column}))
        out = con.sql(f"SELECT {_LIST.format(c='v')} AS l FROM t").to_arrow_table()
    finally:
        con.close()
    return out.column("l").combine_chunks().cast(pa.list_(pa.string()))


MONITORING_PREFIXES = ("M-", "Y-")


class Explainer:
    """Explanations rendered row by row by the engine's own `explain_rule` — the reference the
    set-based renderer (`explain_sql.SetExplainer`, used by screens) is tested against. Only
    fired rules (and the category) are rendered, each distinct (rule, area, values) once."""

    def __init__(self, catalogue, binding, explain_rule):
        self.binding = binding
        self.catalogue = catalogue
        self.explain_rule = explain_rule
        self.rules = [
            r
            for r in catalogue.rules.values()
            if r.active and r.kind != "quality" and r.id.startswith(MONITORING_PREFIXES)
        ]
        self.keys = {
            r.id: sorted(
                r.placeholders() | {q.partition("=")[0] for q in r.explain_requires} | {r.node}
            )
            for r in self.rules
        }
        self.cache: dict[tuple, dict | None] = {}
        self.columns = {"household_id", "area_key", "id_number", "active", "evaluated"}
        for names in self.keys.values():
            self.columns.update(names)

    def _one(self, rule, row: dict) -> dict | None:
        area = row.get("area_key")
        key = (rule.id, area, tuple(_hashable(row.get(k)) for k in self.keys[rule.id]))
        if key not in self.cache:
            entries = self.binding.keys.get(area) or {}
            self.cache[key] = self.explain_rule(rule, row, entries, self.catalogue)
        return self.cache[key]

    def __call__(self, household: dict, persons: list[dict]) -> list[dict]:
        fired = set(household.get("_rules") or [])
        out = []
        for rule in self.rules:
            if rule.id not in fired and rule.kind not in ("classification", "category"):
                continue
            if rule.grain == "household":
                item = self._one(rule, household)
                if item:
                    out.append(item)
                continue
            for person in persons:
                if not person.get("active"):
                    continue
                item = self._one(rule, {**household, **person})
                if item:
                    out.append({**item, "id_number": person.get("id_number")})
        return out


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _explanations(hh: pa.Table, rules: pa.Array, persons: pa.Table, explain) -> pa.Table:
    """Explanations of the monitoring rules of every household with a warning."""
    warned = pc.greater(pc.list_value_length(rules), 0)
    wanted = getattr(explain, "columns", None)
    if wanted is not None:  # only what the templates read: rows become small dicts
        hh = hh.select([c for c in hh.column_names if c in wanted])
        persons = persons.select([c for c in persons.column_names if c in wanted])
    table = hh.append_column("_rules", rules).filter(warned)
    rows = table.to_pylist()
    if not rows:
        return pa.table({})
    ids = table.column("household_id")
    members: dict[str, list[dict]] = {}
    person_rows = persons.filter(pc.is_in(persons.column("household_id"), value_set=ids))
    for p in person_rows.to_pylist():
        members.setdefault(p["household_id"], []).append(p)
    out = []
    for row in rows:
        for item in explain(row, members.get(row["household_id"], [])):
            out.append(
                {
                    "household_id": row["household_id"],
                    "id_number": item.get("id_number"),
                    "rule": item.get("rule") or "",
                    "zh": item.get("zh"),
                    "en": item.get("en"),
                    "values": json.dumps(
                        _plain(item.get("values") or {}), ensure_ascii=False, sort_keys=True
                    ),
                    "source": item.get("source")
                    if isinstance(item.get("source"), str)
                    else json.dumps(_plain(item.get("source")), ensure_ascii=False),
                    "evidence": sorted(item.get("evidence") or []),
                }
            )
    return pa.Table.from_pylist(out) if out else pa.table({})
