"""Snapshot of the registry in the engine's input shape, written to Parquet in bulk.

The operational database is read with plain SELECTs (no ORM objects): on PostgreSQL through
`COPY (SELECT ...) TO STDOUT` parsed by PyArrow's CSV reader, elsewhere through a DB-API cursor
streamed in chunks into Arrow record batches. The SQL casts every value to a plain type (text,
integer, ISO date text, 2-decimal money text) so both paths give the same Arrow tables.

Tables (the engine's input contract): `households`, `persons`, `incomes`. Department feeds are
not copied: they already live in the Parquet lake and are passed to the engine as views/paths.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db import connection

from safetynet.registry.models import INCOME_FIELDS

CHUNK_ROWS = 100_000
ID_BATCH = 900  # ids per IN (...) list when reading a subset of households

MONEY = pa.decimal128(18, 2)

# column name -> Arrow type, in the order of the input contract
HOUSEHOLD_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("village_code", pa.string()),
        ("registered_poor", pa.bool_()),
        ("exit_year", pa.int32()),
        ("relocated", pa.bool_()),
        ("housing_grade", pa.string()),
        ("water_secure", pa.bool_()),
        ("already_monitored", pa.bool_()),
    ]
)
PERSON_SCHEMA = pa.schema(
    [
        ("id_number", pa.string()),
        ("household_id", pa.string()),
        ("name", pa.string()),
        ("relation", pa.string()),
        ("sex", pa.string()),
        ("birth_date", pa.date32()),
        ("status", pa.string()),
        ("in_school", pa.bool_()),
        ("health", pa.string()),
        ("disability_type", pa.string()),
        ("disability_grade", pa.int32()),
        ("labour", pa.string()),
        ("employment", pa.string()),
        ("work_months", pa.int32()),
        ("medical_insured", pa.bool_()),
        ("pension_insured", pa.bool_()),
        ("adl_failed", pa.int32()),
        ("supporter_capable", pa.bool_()),
        ("phone", pa.string()),
    ]
)
INCOME_SCHEMA = pa.schema(
    [("household_id", pa.string()), ("year", pa.int32())]
    + [(name, MONEY) for name in INCOME_FIELDS]
)
SCHEMAS = {"households": HOUSEHOLD_SCHEMA, "persons": PERSON_SCHEMA, "incomes": INCOME_SCHEMA}


# What each input column is read from: (SQL expression, kind, nullable). Kinds: text, int,
# bool, date, money. Blank text is unknown: the engine sees NULL, as for a key missing from a
# scenario.
SOURCES: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {
    "households": (
        "registry_household h",
        [
            ("h.household_id", "text", False),
            ("h.village_id", "text", False),
            ("h.registered_poor", "bool", False),
            ("h.exit_year", "int", True),
            ("h.relocated", "bool", False),
            ("h.housing_grade", "text", True),
            ("h.water_secure", "bool", False),
        ],
    ),
    "persons": (
        "registry_person p JOIN registry_household h ON h.id = p.household_id",
        [
            ("p.id_number", "text", False),
            ("h.household_id", "text", False),
            ("p.name", "text", False),
            ("p.relation", "text", False),
            ("p.sex", "text", True),
            ("p.birth_date", "date", True),
            ("p.status", "text", False),
            ("p.in_school", "bool", False),
            ("p.health", "text", False),
            ("p.disability_type", "text", True),
            ("p.disability_grade", "int", True),
            ("p.labour", "text", False),
            ("p.employment", "text", False),
            ("p.work_months", "int", False),
            ("p.medical_insured", "bool", False),
            ("p.pension_insured", "bool", True),
            ("p.adl_failed", "int", False),
            ("p.supporter_capable", "bool", True),
            ("p.phone", "text", True),
        ],
    ),
    "incomes": (
        "registry_income i JOIN registry_household h ON h.id = i.household_id",
        [("h.household_id", "text", False), ("i.year", "int", False)]
        + [(f"i.{f}", "money", False) for f in INCOME_FIELDS],
    ),
}
NULL_INT = -1  # stands for NULL in integer columns read by ADBC (never a real value here)


def _column_sql(expr: str, kind: str, nullable: bool, vendor: str, *, adbc: bool) -> str:
    if kind == "text":
        if not nullable:
            return expr
        # ADBC's SQLite driver infers types from the first rows: keep text columns text
        return f"coalesce({expr}, '')" if adbc else f"NULLIF({expr}, '')"
    if kind == "money":  # integer fen: exact on both databases, turned into DECIMAL in Arrow
        if vendor == "postgresql":
            return f"CAST(round({expr} * 100) AS BIGINT)"
        return f"CAST(round({expr} * 100) AS INTEGER)"
    if kind == "bool":
        if vendor == "postgresql" and adbc:
            return expr
        value = (
            f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 1 ELSE 0 END"
            if vendor == "postgresql"
            else f"CAST({expr} AS INTEGER)"
        )
        return f"coalesce({value}, {NULL_INT})" if (adbc and nullable) else value
    if kind == "int":
        if adbc and nullable and vendor != "postgresql":
            return f"coalesce({expr}, {NULL_INT})"
        return expr
    if kind == "date":
        if vendor == "postgresql":
            return expr if adbc else f"to_char({expr}, 'YYYY-MM-DD')"
        # CAST drops the declared type, so Django's date converter stays out of the way
        return f"coalesce({expr}, '')" if adbc else f"CAST({expr} AS TEXT)"
    raise ValueError(kind)


def _select(table: str, vendor: str, *, adbc: bool = False) -> tuple[str, str]:
    """(SELECT statement of one input table, the alias of the household table for filters)."""
    source, columns = SOURCES[table]
    cols = ", ".join(
        f"{_column_sql(e, k, n, vendor, adbc=adbc)} AS c{i}" for i, (e, k, n) in enumerate(columns)
    )
    return f"SELECT {cols} FROM {source}", "h"


def _fen_to_money(col: pa.Array) -> pa.Array:
    """Integer fen → DECIMAL(18,2) with the same digits (no float on the way)."""
    col = col.cast(pa.int64())
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    values = col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = np.where(values < 0, -1, 0)
    return pa.Array.from_buffers(
        MONEY, len(values), [col.buffers()[0], pa.py_buffer(words.tobytes())], col.null_count
    )


def _scope_where(area_codes: Sequence[str], alias: str) -> tuple[str, list]:
    if not area_codes:
        return "", []
    clause = " OR ".join(f"{alias}.village_id LIKE %s" for _ in area_codes)
    return f"({clause})", [f"{code}%" for code in area_codes]


def _arrow_column(values: Sequence, typ: pa.DataType) -> pa.Array:
    if pa.types.is_boolean(typ):
        return pa.array(values, pa.int8()).cast(typ)
    if pa.types.is_decimal(typ):
        return _fen_to_money(pa.array(values, pa.int64()))
    if pa.types.is_date(typ):
        return pa.array(values, pa.string()).cast(typ)
    return pa.array(values, typ)


def _rows_to_batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = [_arrow_column(col, f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _read_cursor(sql: str, params: list, schema: pa.Schema) -> Iterable[pa.RecordBatch]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield _rows_to_batch(rows, schema)


def _to_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast a batch read by ADBC to the snapshot schema: '' and NULL_INT stand for NULL."""
    arrays = []
    for col, f in zip(batch.columns, schema, strict=True):
        if pa.types.is_decimal(f.type):
            arrays.append(_fen_to_money(col))
            continue
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        elif pa.types.is_integer(col.type):
            col = pc.if_else(pc.equal(col, NULL_INT), pa.scalar(None, col.type), col)
            if pa.types.is_boolean(f.type):
                col = pc.not_equal(col, 0)
        arrays.append(col.cast(f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def adbc_uri() -> tuple[str, str] | None:
    """(driver module, URI) of the default database for a bulk ADBC read, or None.

    Used only outside a transaction: ADBC opens its own connection, which sees committed rows
    only, so a read inside an open transaction (tests, a caller's atomic block) must use the
    Django connection instead."""
    if connection.in_atomic_block:
        return None
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:") or not Path(name).exists():
            return None
        module = "adbc_driver_sqlite.dbapi"
        uri = name
    elif connection.vendor == "postgresql":
        from urllib.parse import quote

        user = quote(db.get("USER") or "")
        password = db.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
        host = db.get("HOST") or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        module = "adbc_driver_postgresql.dbapi"
        uri = f"postgresql://{auth}{host}{port}/{quote(db['NAME'])}"
    else:
        return None
    try:
        importlib.import_module(module)
    except ImportError:
        return None
    return module, uri


def _read_adbc(driver: tuple[str, str], sql: str, schema: pa.Schema) -> Iterable[pa.RecordBatch]:
    module, uri = driver
    dbapi = importlib.import_module(module)
    with dbapi.connect(uri) as con, con.cursor() as cursor:
        if "sqlite" in module:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(CHUNK_ROWS)})
        cursor.execute(sql)
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in cursor.fetch_record_batch():
            pending.append(batch)
            rows += batch.num_rows
            if rows >= CHUNK_ROWS:
                yield _to_schema(_combine(pending), schema)
                pending, rows = [], 0
        if pending:
            yield _to_schema(_combine(pending), schema)


def _combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """Few large batches: per-batch overhead (casts, Parquet row groups) stays small."""
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _literal_scope(area_codes: Sequence[str], alias: str) -> str:
    """The scope as literal SQL (ADBC path, no parameters): area codes are digits only."""
    if not area_codes:
        return ""
    for code in area_codes:
        if not code.isdigit():
            raise ValueError(f"area code must be digits: {code!r}")
    return "(" + " OR ".join(f"{alias}.village_id LIKE '{c}%'" for c in area_codes) + ")"


def _read_copy(sql: str, params: list, schema: pa.Schema) -> Iterable[pa.RecordBatch]:
    """PostgreSQL: COPY the query out as CSV and let Arrow's C++ reader parse it."""
    import pyarrow.csv as pacsv

    raw_types = {
        f.name: (
            pa.int8()
            if pa.types.is_boolean(f.type)
            else pa.int64()
            if pa.types.is_decimal(f.type)
            else f.type
        )
        for f in schema
    }
    with connection.cursor() as cursor:
        pg = cursor.cursor  # the psycopg cursor under Django's wrapper
        query = pg.mogrify(sql, params) if params else sql
        with pg.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            stream = _CopyStream(iter(copy))
            if not stream.peek():
                return
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=schema.names, block_size=8 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=raw_types,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                ),
            )
            for batch in reader:
                arrays = [
                    _fen_to_money(batch.column(f.name))
                    if pa.types.is_decimal(f.type)
                    else batch.column(f.name).cast(f.type)
                    for f in schema
                ]
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)


class _CopyStream(io.RawIOBase):
    """A readable file over the chunks of a COPY ... TO STDOUT, so nothing is buffered whole."""

    def __init__(self, chunks):
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def peek(self) -> bytes:
        if not self._pending:
            self._pending = memoryview(bytes(next(self._chunks, b"")))
        return bytes(self._pending[:1])

    def readinto(self, buffer) -> int:
        """Fill the whole buffer (COPY yields one row per chunk; short reads would make the CSV
        reader parse row-sized blocks)."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending = memoryview(bytes(chunk))
            n = min(len(view) - filled, len(self._pending))
            view[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled


def read_table(
    table: str,
    *,
    area_codes: Sequence[str] = (),
    household_ids: Sequence[str] | None = None,
    schema: pa.Schema | None = None,
) -> Iterable[pa.RecordBatch]:
    """Record batches of one input table (households without `already_monitored`)."""
    vendor = connection.vendor
    base, alias = _select(table, vendor)
    schema = schema or SCHEMAS[table]
    if table == "households":
        schema = pa.schema([f for f in schema if f.name != "already_monitored"])
    driver = adbc_uri() if household_ids is None else None
    if driver is not None:
        text_sql, _ = _select(table, vendor, adbc=True)
        where = _literal_scope(area_codes, alias)
        yield from _read_adbc(driver, text_sql + (f" WHERE {where}" if where else ""), schema)
        return
    reader = _read_copy if vendor == "postgresql" else _read_cursor
    where, params = _scope_where(area_codes, alias)
    if household_ids is None:
        sql = base + (f" WHERE {where}" if where else "")
        yield from reader(sql, params, schema)
        return
    ids = sorted(household_ids)
    for start in range(0, len(ids), ID_BATCH):
        part = ids[start : start + ID_BATCH]
        marks = ", ".join(["%s"] * len(part))
        clause = f"{alias}.household_id IN ({marks})" + (f" AND {where}" if where else "")
        yield from reader(f"{base} WHERE {clause}", [*part, *params], schema)


def current_household_ids(area_codes: Sequence[str] = ()) -> pa.Array:
    """Every household id now in the registry within the scope."""
    where, params = _scope_where(area_codes, "h")
    sql = "SELECT h.household_id FROM registry_household h" + (f" WHERE {where}" if where else "")
    ids: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            ids.extend(r[0] for r in rows)
    return pa.array(ids, pa.string())


def monitored_ids() -> set[str]:
    """Households that are open monitoring objects (empty until case work is installed)."""
    try:
        from safetynet.monitoring.selectors import monitored_household_ids
    except ImportError:
        return set()
    return set(monitored_household_ids())


@dataclass
class Snapshot:
    """Where the input tables were written and how many rows each has."""

    directory: Path
    paths: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    household_ids: pa.Array | None = None


def write_snapshot(
    out_dir: Path,
    *,
    area_codes: Sequence[str] = (),
    household_ids: Sequence[str] | None = None,
    monitored: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Snapshot:
    """Write households/persons/incomes Parquet files in the input contract's shape.

    `household_ids` restricts the snapshot (incremental runs); `monitored` is the set of
    household ids already under monitoring (read from case work when not given).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    monitored = monitored_ids() if monitored is None else monitored
    monitored_arr = pa.array(sorted(monitored), pa.string())
    snap = Snapshot(directory=out_dir)
    for table in ("households", "persons", "incomes"):
        if progress:
            progress(table)
        path = out_dir / f"{table}.parquet"
        schema = SCHEMAS[table]
        rows = 0
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in read_table(table, area_codes=area_codes, household_ids=household_ids):
                if table == "households":
                    flag = pc.is_in(batch.column("household_id"), value_set=monitored_arr)
                    batch = pa.RecordBatch.from_arrays([*batch.columns, flag], schema=schema)
                writer.write_batch(batch)
                rows += batch.num_rows
        snap.paths[table] = path
        snap.rows[table] = rows
    return snap
