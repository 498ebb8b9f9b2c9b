"""Engines: one runner, a small backend hook class per engine (DuckDB, Spark).

The runner owns everything that is the same on both engines: checking and typing the input
tables against the contract, running the compiled steps in order, fetching the outputs and
normalising them to one Arrow schema, and wrapping failures with the step name and its SQL.
A backend only knows how to register a table, create a (materialised) view, fetch a query as
Arrow and clean up. Engines are injected objects, never subclasses of rules.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from safetynet.core.errors import SafetyNetError
from safetynet.policy.catalogue import InputTable
from safetynet.policy.compiler import Plan

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


class Backend(Protocol):
    dialect: str

    def session(self) -> Any: ...

    def register(self, conn: Any, name: str, source: InputSource, spec: InputTable) -> None: ...

    def create(self, conn: Any, name: str, sql: str, *, materialize: bool) -> None: ...

    def fetch(self, conn: Any, sql: str) -> pa.Table: ...

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

    def session(self):
        with self._lock:
            return self._db.cursor()

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
            df = conn.read.parquet(str(source))
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

    def run(self, plan: Plan, inputs: Mapping[str, InputSource]) -> Results:
        if plan.dialect != self.dialect:
            raise EngineError(
                f"计划是为 {plan.dialect} 编译的",
                f"the plan was compiled for {plan.dialect}",
                step="run",
                engine=self.dialect,
            )
        timings: dict[str, float] = {}
        start = time.perf_counter()
        conn = self.backend.session()
        created: list[str] = []
        try:
            for name, spec in plan.inputs.items():
                if name in plan.empty_inputs:
                    continue  # compiled away: the plan never reads it
                source = inputs.get(name)
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
                self._guard(f"input:{name}", None, self.backend.register, conn, name, source, spec)
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
            timings["steps"] = sum(v for k, v in timings.items() if k.startswith("sn_"))
            out = {}
            for rel, sql in plan.outputs.items():
                t = time.perf_counter()
                table = self._guard(f"output:{rel}", sql, self.backend.fetch, conn, sql)
                timings[f"output:{rel}"] = time.perf_counter() - t
                out[rel] = _normalise(table, output_schema(plan.schemas[rel]), rel, self.dialect)
            timings["total"] = time.perf_counter() - start
            return Results(
                households=out["households"],
                persons=out["persons"],
                quality=out["quality"],
                plan=plan,
                engine=self.dialect,
                timings=timings,
            )
        finally:
            try:
                self.backend.close(conn, created)
            except Exception:  # noqa: BLE001 - cleanup must not hide the real error
                pass

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
        arrays.append(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
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
