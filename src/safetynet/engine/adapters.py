"""Engines: one runner, a small backend hook class per engine (DuckDB, Spark).

The runner owns everything that is the same on both engines: checking and typing the input
tables against the contract, running the compiled steps in order, fetching the outputs and
normalising them to one Arrow schema, and wrapping failures with the step name and its SQL.
A backend only knows how to register a table, create a (materialised) view, fetch a query as
Arrow and clean up. Engines are injected objects, never subclasses of rules.

Small runs (one household's assessment) can take the *prepared* path on DuckDB: the same
compiled steps and outputs, planned once per plan and executed many times (`PreparedPlan`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from safetynet.core.errors import SafetyNetError
from safetynet.policy.catalogue import InputTable
from safetynet.policy.compiler import Plan

log = logging.getLogger(__name__)

ARROW_TYPES = {
    "text": pa.string(),
    "int": pa.int32(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "money": pa.decimal128(18, 2),
}
OUTPUT_ARROW_TYPES = {
    "text": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "money": pa.decimal128(18, 2),
    "decimal": pa.decimal128(18, 4),
}
SPARK_TYPES = {
    "text": "STRING",
    "int": "INT",
    "bool": "BOOLEAN",
    "date": "DATE",
    "money": "DECIMAL(18,2)",
}

InputSource = pa.Table | str | Path


class EngineError(SafetyNetError):
    """A compiled step failed on an engine. Carries the step name and the failing SQL."""

    code = "engine"

    def __init__(self, zh: str, en: str, *, step: str, sql: str | None = None, engine: str = ""):
        super().__init__(zh, en, step=step, sql=sql, engine=engine)
        self.step = step
        self.sql = sql
        self.engine = engine

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n-- step {self.step}\n{self.sql or ''}"


def input_schema(table: InputTable, *, with_optional: bool = False) -> pa.Schema:
    cols = table.all_columns() if with_optional else table.columns
    return pa.schema([(name, ARROW_TYPES[typ]) for name, typ in cols.items()])


def conform(name: str, table: pa.Table, spec: InputTable) -> pa.Table:
    """Select and cast the contract columns of an input table (optional columns if present)."""
    missing = [c for c in spec.columns if c not in table.column_names]
    if missing:
        raise EngineError(
            f"输入表 {name} 缺少列：{', '.join(missing)}",
            f"input table {name} lacks columns: {', '.join(missing)}",
            step=f"input:{name}",
        )
    fields, arrays = [], []
    if name == "households":  # internal per-household as-of columns of batched assessment
        for col in table.column_names:
            if col.startswith("sn_as_of"):
                fields.append(table.schema.field(col))
                arrays.append(table.column(col))
    for col, typ in spec.all_columns().items():
        if col not in table.column_names:
            continue
        target = ARROW_TYPES[typ]
        arr = table.column(col)
        if arr.type != target:
            try:
                arr = arr.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise EngineError(
                    f"输入表 {name} 的列 {col} 无法转换为 {typ}：{exc}",
                    f"column {col} of input table {name} cannot be converted to {typ}: {exc}",
                    step=f"input:{name}",
                ) from exc
        fields.append(pa.field(col, target))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def output_schema(columns: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema([(name, OUTPUT_ARROW_TYPES[typ]) for name, typ in columns])


@dataclass
class Results:
    """Engine-neutral results: Arrow tables with fixed schemas."""

    households: pa.Table
    persons: pa.Table
    quality: pa.Table
    plan: Plan
    engine: str
    timings: dict[str, float] = field(default_factory=dict)
    prepared: bool = False  # evaluated on the prepared path (PreparedPlan), not step by step
    evidence: pa.Table | None = None  # the plan's `evidence` output, when it has one

    @classmethod
    def of(cls, out: dict[str, pa.Table], plan: Plan, engine: str, timings, **kw) -> Results:
        """Results from the normalised output relations of `plan`."""
        return cls(
            households=out["households"],
            persons=out["persons"],
            quality=out["quality"],
            evidence=out.get("evidence"),
            plan=plan,
            engine=engine,
            timings=timings,
            **kw,
        )


class Backend(Protocol):
    dialect: str

    def session(self) -> Any: ...

    def register(self, conn: Any, name: str, source: InputSource, spec: InputTable) -> None: ...

    def create(self, conn: Any, name: str, sql: str, *, materialize: bool) -> None: ...

    def fetch(self, conn: Any, sql: str) -> pa.Table: ...

    # optional: def drop(self, conn: Any, name: str) -> None — free a released stage early

    def close(self, conn: Any, names: list[str]) -> None: ...


class DuckDBBackend:
    """In-process DuckDB. Each run gets its own cursor, so runs do not share temp objects."""

    dialect = "duckdb"

    def __init__(
        self,
        *,
        database: str = ":memory:",
        threads: int | None = None,
        memory_limit: str | None = None,
    ):
        import duckdb

        self._db = duckdb.connect(database)
        if threads:
            self._db.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self._db.execute("SET memory_limit = ?", [memory_limit])
        self._lock = threading.Lock()
        # Prepared plans (run_prepared) live in a database of their own, one thread per query:
        # their inputs are a few rows and parallel operators would only add start-up costs.
        self._prepared_db = None
        self._prepared: OrderedDict[tuple, _PreparedEntry] = OrderedDict()
        self._prepared_lock = threading.Lock()

    def session(self):
        with self._lock:
            return self._db.cursor()

    def dispose(self) -> None:
        """Close the backend's databases: DuckDB returns their memory to the system only then
        (dropping tables keeps it for reuse). Arrow results already fetched stay valid."""
        with self._lock:
            self._db.close()
            if self._prepared_db is not None:
                self._prepared_db.close()
                self._prepared_db = None
                self._prepared.clear()

    def run_prepared(
        self, plan: Plan, tables: Mapping[str, pa.Table]
    ) -> dict[str, pa.Table] | None:
        """The plan's outputs for small Arrow inputs, on a connection where the plan is prepared.

        Returns None when the inputs are too large or not expressible, or the plan cannot be
        prepared: the caller then runs the steps one by one. The first call for a plan and its
        input schemas prepares it (about the cost of one step-by-step run); later calls only
        execute. Each prepared connection serves one caller at a time.
        """
        if sum(t.num_rows for t in tables.values()) > PREPARED_MAX_ROWS:
            return None
        try:
            args = PreparedPlan.arguments(tables)
        except NotPreparable:
            return None
        key = (id(plan), tuple((name, t.schema) for name, t in tables.items()))
        conn = None
        with self._prepared_lock:
            entry = self._prepared.get(key)
            if entry is not None and entry.plan is not plan:  # pragma: no cover - id reuse
                self._drop(key)
                entry = None
            if entry is None:
                entry = self._prepared[key] = _PreparedEntry(plan)
                while len(self._prepared) > PREPARED_PLANS:
                    self._drop(next(iter(self._prepared)))
            self._prepared.move_to_end(key)
            if entry.unsupported:
                return None
            prepared = entry.idle.pop() if entry.idle else None
            if prepared is None:
                if self._prepared_db is None:
                    import duckdb

                    self._prepared_db = duckdb.connect(":memory:")
                    self._prepared_db.execute("SET threads = 1")
                conn = self._prepared_db.cursor()
        if prepared is None:
            try:
                prepared = PreparedPlan(conn, plan, {n: t.schema for n, t in tables.items()})
            except Exception as exc:  # noqa: BLE001 - any refusal means: run step by step
                log.info("plan not prepared (%s); running its steps one by one", exc)
                entry.unsupported = True
                return None
        try:
            out = prepared.run(args)
        except Exception:
            prepared.close()
            raise
        self._release(key, prepared)
        return out

    @property
    def prepared_plans(self) -> int:
        """How many plans (with their input schemas) are kept prepared."""
        with self._prepared_lock:
            return sum(1 for e in self._prepared.values() if not e.unsupported)

    def _release(self, key: tuple, prepared: PreparedPlan) -> None:
        with self._prepared_lock:
            entry = self._prepared.get(key)
            if (
                entry is not None
                and entry.plan is prepared.plan
                and len(entry.idle) < PREPARED_POOL
            ):
                entry.idle.append(prepared)
                return
        prepared.close()

    def _drop(self, key: tuple) -> None:
        """Forget a prepared plan (under the lock); connections in use close when released."""
        entry = self._prepared.pop(key)
        for prepared in entry.idle:
            prepared.close()
        entry.idle.clear()

    def register(self, conn, name, source, spec):
        if isinstance(source, pa.Table):
            conn.register(name, source)
            return
        path = str(source)
        if os.path.isdir(path):
            path = os.path.join(path, "**", "*.parquet")
        cols = ", ".join(
            f'CAST("{c}" AS {_duck_type(t)}) AS "{c}"' for c, t in spec.columns.items()
        )
        literal = "'" + path.replace("'", "''") + "'"
        conn.execute(
            f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT {cols} FROM read_parquet({literal})'
        )

    def create(self, conn, name, sql, *, materialize):
        kind = "TABLE" if materialize else "VIEW"
        conn.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")

    def fetch(self, conn, sql):
        return conn.sql(sql).to_arrow_table()

    def drop(self, conn, name):
        conn.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self, conn, names):
        conn.close()


def _duck_type(typ: str) -> str:
    return {
        "text": "VARCHAR",
        "int": "INTEGER",
        "bool": "BOOLEAN",
        "date": "DATE",
        "money": "DECIMAL(18,2)",
    }[typ]


# The prepared path: limits and the SQL types of the Arrow input columns it accepts.
PREPARED_MAX_ROWS = 2_000  # input rows over all tables; larger runs go step by step
PREPARED_PLANS = 16  # plans (with their input schemas) kept prepared, least recently used out
PREPARED_POOL = 4  # idle prepared connections kept per plan (one per concurrent caller)
_PREPARED_TYPES = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.decimal128(18, 2): "DECIMAL(18,2)",
}
_SEQ = "sn_prepared_seq"


class NotPreparable(Exception):
    """A plan or an input the prepared path does not take; the steps run one by one instead."""


@dataclass
class _PreparedEntry:
    plan: Plan  # held so that id(plan) in the key cannot be reused while the entry lives
    idle: list[PreparedPlan] = field(default_factory=list)
    unsupported: bool = False


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_value(value: Any) -> str:
    """A SQL literal that DuckDB reads back as exactly `value` (after the cast to its type)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NotPreparable(f"decimal {value}")
        return format(value, "f")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        if "\x00" in value:
            raise NotPreparable("text with a NUL character")
        return "'" + value.replace("'", "''") + "'"
    raise NotPreparable(f"value of type {type(value).__name__}")


def _struct_type(schema: pa.Schema) -> str:
    fields = []
    for f in schema:
        sql_type = _PREPARED_TYPES.get(f.type)
        if sql_type is None:
            raise NotPreparable(f"column {f.name} of type {f.type}")
        fields.append(f"{_quote(f.name)} {sql_type}")
    return f"STRUCT({', '.join(fields)})[]"


def _numbered(sql: str, dialect: str) -> str:
    """An output query without its ORDER BY, numbering its rows in that order instead.

    A list of rows carries no order, so the rows come back with their number and are sorted
    by it. The query is otherwise the compiler's own text: the rewrite is refused unless
    sqlglot reproduces that text exactly.
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, dialect=dialect)
    pretty = next(
        (p for p in (True, False) if tree.sql(dialect=dialect, pretty=p) == sql.strip()), None
    )
    if not isinstance(tree, exp.Select) or pretty is None:
        raise NotPreparable("output query not reproduced by the SQL parser")
    order = tree.args.get("order")
    tree.set("order", None)
    window = (
        exp.Window(this=exp.RowNumber(), order=order) if order else exp.Window(this=exp.RowNumber())
    )
    tree.select(exp.alias_(window, _SEQ), copy=False)
    return tree.sql(dialect=dialect, pretty=pretty)


class PreparedPlan:
    """One compiled plan, planned once by DuckDB and executed many times.

    DuckDB (2.0) re-binds and re-optimises a prepared statement on every execution when it
    reads catalog tables, and planning the full catalogue costs far more than running it on
    one household (docs/performance/assess.md). So the input
    tables are *parameters* instead: lists of rows typed as the contract's columns, unnested
    into CTEs of the input names. The compiled steps follow as CTEs of their step names
    (materialised like the step-by-step path's tables) and the output queries as the last
    CTEs; one row returns every output as a list of rows. The SQL of steps and outputs is the
    plan's, unchanged, so results are the step-by-step path's.

    A statement prepared this way holds no data and no statistics of any call: every call
    passes its own rows. One instance serves one thread at a time.
    """

    def __init__(self, conn: Any, plan: Plan, schemas: Mapping[str, pa.Schema]):
        """Prepare `plan` on `conn` (a DuckDB connection this instance then owns)."""
        self.conn = conn
        self.plan = plan
        self.outputs = list(plan.outputs)
        try:
            self.sql = self.statement(plan, schemas)
            self.conn.execute(f"PREPARE sn_plan AS {self.sql}")
        except Exception:
            self.close()
            raise

    @staticmethod
    def statement(plan: Plan, schemas: Mapping[str, pa.Schema]) -> str:
        """The one SELECT evaluating `plan`; parameter $i is the i-th input of `schemas`."""
        if plan.dialect != "duckdb":
            raise NotPreparable(f"dialect {plan.dialect}")
        ctes = [
            f"{_quote(name)} AS (SELECT unnest(${i}::{_struct_type(schema)}, recursive := true))"
            for i, (name, schema) in enumerate(schemas.items(), 1)
        ]
        for step in plan.steps:
            kind = "MATERIALIZED" if step.materialize else "NOT MATERIALIZED"
            ctes.append(f"{_quote(step.name)} AS {kind} (\n{step.sql}\n)")
        selects = []
        for i, (rel, sql) in enumerate(plan.outputs.items()):
            ctes.append(f"sn_prepared_out{i} AS (\n{_numbered(sql, plan.dialect)}\n)")
            selects.append(f"(SELECT list(o) FROM sn_prepared_out{i} AS o) AS {_quote(rel)}")
        return "WITH " + ",\n".join(ctes) + "\nSELECT " + ", ".join(selects)

    @staticmethod
    def arguments(tables: Mapping[str, pa.Table]) -> list[str]:
        """The EXECUTE arguments: each input table as a typed list-of-rows literal."""
        args = []
        for table in tables.values():
            sql_type = _struct_type(table.schema)
            columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
            rows = ", ".join(
                "ROW(" + ", ".join(_sql_value(col[r]) for col in columns) + ")"
                for r in range(table.num_rows)
            )
            args.append(f"[{rows}]::{sql_type}")
        return args

    def run(self, args: list[str]) -> dict[str, pa.Table]:
        row = self.conn.sql(f"EXECUTE sn_plan({', '.join(args)})").to_arrow_table()
        out = {}
        for i, rel in enumerate(self.outputs):
            rows = pa.Table.from_struct_array(row.column(i).combine_chunks().flatten())
            out[rel] = rows.sort_by(_SEQ).drop_columns([_SEQ])
        return out

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


class SparkBackend:
    """Apache Spark through pyspark, imported only when this backend is used."""

    dialect = "spark"

    # Small inputs (assess, tests): interpreted expressions beat Java code generation, which
    # costs seconds per query for wide rule projections. Large screens keep Spark's defaults.
    SMALL = {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.sql.adaptive.enabled": "false",
    }
    LARGE = {
        "spark.sql.codegen.wholeStage": "true",
        "spark.sql.codegen.factoryMode": "FALLBACK",
        "spark.sql.adaptive.enabled": "true",
    }

    def __init__(self, *, session=None, master: str | None = None, small: bool = True):
        self._spark = session
        self._master = master
        self._lock = threading.Lock()
        self.small = small

    def session(self):
        with self._lock:
            if self._spark is None:
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
                try:
                    from pyspark.sql import SparkSession
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise EngineError(
                        "未安装 pyspark", "pyspark is not installed", step="spark:session"
                    ) from exc
                master = self._master
                if master is None:
                    try:
                        from django.conf import settings

                        master = getattr(settings, "SPARK_MASTER", None)
                    except Exception:  # noqa: BLE001 - settings not configured outside Django
                        master = None
                self._spark = (
                    SparkSession.builder.master(master or "local[1]")
                    .appName("safetynet-engine")
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.sql.shuffle.partitions", "2")
                    .config("spark.sql.session.timeZone", "UTC")
                    .config("spark.sql.ansi.enabled", "true")
                    # in local mode the driver does the work: its heap bounds a region screen
                    .config(
                        "spark.driver.memory",
                        os.environ.get("SAFETYNET_SPARK_DRIVER_MEMORY", "4g"),
                    )
                    .getOrCreate()
                )
                self._spark.sparkContext.setLogLevel("ERROR")
            for key, value in (self.SMALL if self.small else self.LARGE).items():
                try:
                    self._spark.conf.set(key, value)
                except Exception:  # noqa: BLE001 - an internal setting this Spark lacks
                    pass
            return self._spark

    def register(self, conn, name, source, spec):
        if isinstance(source, pa.Table):
            ddl = ", ".join(f"`{c}` {SPARK_TYPES[t]}" for c, t in _present(spec, source).items())
            if source.num_rows == 0:
                df = conn.createDataFrame([], ddl)
            else:
                df = conn.createDataFrame(source, schema=ddl)
        else:
            paths = source if isinstance(source, list | tuple) else [source]
            df = conn.read.parquet(*[str(p) for p in paths])
            df = df.selectExpr(
                *[f"CAST(`{c}` AS {SPARK_TYPES[t]}) AS `{c}`" for c, t in spec.columns.items()]
            )
        df.createOrReplaceTempView(name)

    def create(self, conn, name, sql, *, materialize):
        df = conn.sql(sql)
        if materialize:
            # Cut the lineage: later stages read this result twice (join and aggregation), and
            # re-analysing the whole chain each time grows with every stage.
            df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)

    def fetch(self, conn, sql):
        return conn.sql(sql).toArrow()

    def drop(self, conn, name):
        if conn.catalog.tableExists(name):
            conn.table(name).unpersist()
            conn.catalog.dropTempView(name)

    def close(self, conn, names):
        for name in reversed(names):
            conn.catalog.dropTempView(name)


def _present(spec: InputTable, table: pa.Table) -> dict[str, str]:
    cols = {
        c: ("date" if pa.types.is_date(table.schema.field(c).type) else "int")
        for c in table.column_names
        if c.startswith("sn_as_of")
    }
    cols.update({c: t for c, t in spec.all_columns().items() if c in table.column_names})
    return cols


class RuleEngine:
    """Runs compiled plans on one backend."""

    def __init__(self, backend: Backend):
        self.backend = backend

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    def run(
        self,
        plan: Plan,
        inputs: Mapping[str, InputSource],
        *,
        prepared: bool = False,
        some_households: bool = False,
    ) -> Results:
        """Run `plan` on `inputs` (Arrow tables or Parquet paths by input name).

        `prepared=True` asks for the prepared path when the backend has one (DuckDB) and the
        inputs are small Arrow tables: the same SQL, planned once per plan instead of on every
        run. Any refusal or failure there falls back to running the steps one by one, which
        also reports a failing step by name.

        `some_households=True`: `households` and `persons` hold only the households to evaluate
        (an incremental screen), while other inputs (department feeds) hold everyone's records.
        Each input the plan reads only by a person's ID number or a household's id
        (`Plan.keyed_inputs`) is then first cut down to the records of those persons and
        households, in a table of its own: the stages and the evidence read it instead of
        the whole input. The results are the same.
        """
        if plan.dialect != self.dialect:
            raise EngineError(
                f"计划是为 {plan.dialect} 编译的",
                f"the plan was compiled for {plan.dialect}",
                step="run",
                engine=self.dialect,
            )
        timings: dict[str, float] = {}
        start = time.perf_counter()
        sources = self._sources(plan, inputs)
        run_prepared = getattr(self.backend, "run_prepared", None)
        if (
            prepared
            and run_prepared is not None
            and all(isinstance(s, pa.Table) for s in sources.values())
        ):
            try:
                tables = run_prepared(plan, sources)
            except Exception as exc:  # noqa: BLE001 - the step-by-step run below tells what failed
                log.debug("prepared run failed (%s); running the steps one by one", exc)
                tables = None
            if tables is not None:
                out = {
                    rel: _normalise(
                        tables[rel], output_schema(plan.schemas[rel]), rel, self.dialect
                    )
                    for rel in plan.outputs
                }
                timings["total"] = time.perf_counter() - start
                return Results.of(out, plan, self.dialect, timings, prepared=True)
        conn = self.backend.session()
        created: list[str] = []
        kept = _kept_by_key(plan, sources) if some_households else {}
        try:
            for name, source in sources.items():
                as_name = f"{name}{WHOLE_SUFFIX}" if name in kept else name
                self._guard(
                    f"input:{name}",
                    None,
                    self.backend.register,
                    conn,
                    as_name,
                    source,
                    plan.inputs[name],
                )
                created.append(as_name)
            for name, sql in kept.items():
                self._guard(
                    f"input:{name}", sql, self.backend.create, conn, name, sql, materialize=True
                )
                created.append(name)
            timings["register"] = time.perf_counter() - start
            for step in plan.steps:
                t = time.perf_counter()
                self._guard(
                    step.name,
                    step.sql,
                    self.backend.create,
                    conn,
                    step.name,
                    step.sql,
                    materialize=step.materialize,
                )
                timings[step.name] = time.perf_counter() - t
                created.append(step.name)
                # stages no later step or output reads: free their memory now, not at the end
                drop = getattr(self.backend, "drop", None)
                for name in step.release if drop is not None else ():
                    self._guard(f"release:{name}", None, drop, conn, name)
            timings["steps"] = sum(v for k, v in timings.items() if k.startswith("sn_"))
            out = {}
            for rel, sql in plan.outputs.items():
                t = time.perf_counter()
                table = self._guard(f"output:{rel}", sql, self.backend.fetch, conn, sql)
                timings[f"output:{rel}"] = time.perf_counter() - t
                out[rel] = _normalise(table, output_schema(plan.schemas[rel]), rel, self.dialect)
            timings["total"] = time.perf_counter() - start
            return Results.of(out, plan, self.dialect, timings)
        finally:
            try:
                self.backend.close(conn, created)
            except Exception:  # noqa: BLE001 - cleanup must not hide the real error
                pass

    def _sources(self, plan: Plan, inputs: Mapping[str, InputSource]) -> dict[str, InputSource]:
        """The input tables the plan reads, checked and typed against the contract."""
        sources: dict[str, InputSource] = {}
        for name, spec in plan.inputs.items():
            if name in plan.empty_inputs:
                continue  # compiled away: the plan never reads it
            source = inputs.get(name)
            if source is None and spec.defaults_to is not None:
                source = inputs.get(spec.defaults_to)  # the columns it needs, read from there
            if source is None:
                if not spec.optional:
                    raise EngineError(
                        f"缺少输入表 {name}",
                        f"input table {name} is missing",
                        step=f"input:{name}",
                        engine=self.dialect,
                    )
                source = input_schema(spec).empty_table()
            if isinstance(source, pa.Table):
                source = conform(name, source, spec)
            if (
                plan.binding.mode == "column"
                and name == "households"
                and (not isinstance(source, pa.Table) or "param_key" not in source.column_names)
            ):
                raise EngineError(
                    "按情景绑定参数时 households 需要 param_key 列",
                    "households needs a param_key column for per-scenario parameters",
                    step="input:households",
                    engine=self.dialect,
                )
            sources[name] = source
        return sources

    def _guard(self, step: str, sql: str | None, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SafetyNetError:
            raise
        except Exception as exc:  # noqa: BLE001 - engines raise many exception types
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EngineError(
                f"{self.dialect} 执行步骤 {step} 失败：{message}",
                f"{self.dialect} failed at step {step}: {message}",
                step=step,
                sql=sql,
                engine=self.dialect,
            ) from exc


# An input registered under this suffix when a table of its kept records takes its name.
WHOLE_SUFFIX = "__whole"
# The inputs that hold the evaluated rows, by the key column they define.
KEY_SOURCES = {"id_number": "persons", "household_id": "households"}


def _kept_by_key(plan: Plan, sources: Mapping[str, InputSource]) -> dict[str, str]:
    """Input name → a SELECT (portable SQL) of its records whose key is one of the evaluated
    persons' or households' (see `RuleEngine.run`, `some_households`)."""
    out = {}
    for name, columns in plan.keyed_inputs.items():
        if name not in sources or name in KEY_SOURCES.values():
            continue
        if any(KEY_SOURCES[c] not in sources for c in columns):
            continue
        keep = " OR ".join(
            f"w.{c} IN (SELECT k.{c} FROM {KEY_SOURCES[c]} AS k)" for c in sorted(columns)
        )
        out[name] = f"SELECT w.* FROM {name}{WHOLE_SUFFIX} AS w WHERE {keep}"
    return out


def _normalise(table: pa.Table, schema: pa.Schema, rel: str, engine: str) -> pa.Table:
    """Same column names, order and Arrow types whatever the engine returned."""
    renamed = (
        table.rename_columns([f.name for f in schema])
        if table.num_columns == len(schema)
        else table
    )
    arrays = []
    for f in schema:
        arr = renamed.column(f.name)
        if arr.type != f.type:
            if (
                pa.types.is_large_string(arr.type)
                or pa.types.is_string(arr.type)
                or pa.types.is_string_view(arr.type)
            ):
                arr = arr.cast(pa.string())
            else:
                arr = arr.cast(f.type)
        arrays.append(arr)  # chunks kept: combining them copies every column of a region
    return pa.Table.from_arrays(arrays, schema=schema)


_ENGINES: dict[str, RuleEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(name: str = "duckdb") -> RuleEngine:
    """The process-wide engine for `name` ("duckdb" or "spark"), created on first use."""
    with _ENGINES_LOCK:
        if name not in _ENGINES:
            if name == "duckdb":
                _ENGINES[name] = RuleEngine(DuckDBBackend())
            elif name == "spark":
                _ENGINES[name] = RuleEngine(SparkBackend())
            else:
                raise EngineError(
                    f"未知引擎 {name}（duckdb 或 spark）",
                    f"unknown engine {name} (duckdb or spark)",
                    step="engine",
                )
        return _ENGINES[name]


def set_engine(name: str, engine: RuleEngine) -> None:
    """Inject an engine (tests, a shared SparkSession)."""
    with _ENGINES_LOCK:
        _ENGINES[name] = engine
