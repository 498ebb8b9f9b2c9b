"""Snapshot of the registry in the engine's input shape, written to Parquet in bulk.

The operational database is read with plain SELECTs (no ORM objects): on PostgreSQL through
`COPY (SELECT ...) TO STDOUT` parsed by PyArrow's CSV reader, elsewhere through a DB-API cursor
streamed in chunks into Arrow record batches. The SQL casts every value to a plain type (text,
integer, ISO date text, 2-decimal money text) so both paths give the same Arrow tables.

Tables (the engine's input contract): `households`, `persons`, `incomes`. Department feeds are
not copied: they already live in the Parquet lake and are passed to the engine as views/paths.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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


def _text(expr: str) -> str:
    """Blank text is unknown: the engine sees NULL, as for a key missing from a scenario."""
    return f"NULLIF({expr}, '')"


def _money(expr: str, vendor: str) -> str:
    if vendor == "postgresql":
        return f"{expr}::numeric(18,2)::text"
    return f"printf('%.2f', {expr})"


def _bool(expr: str, vendor: str) -> str:
    if vendor == "postgresql":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 1 ELSE 0 END"
    return f"CAST({expr} AS INTEGER)"


def _date(expr: str, vendor: str) -> str:
    if vendor == "postgresql":
        return f"to_char({expr}, 'YYYY-MM-DD')"
    return f"CAST({expr} AS TEXT)"


def _select(table: str, vendor: str) -> tuple[str, str]:
    """(SELECT list and FROM clause, the household-id column used for filtering)."""
    if table == "households":
        cols = [
            "h.household_id",
            "h.village_id",
            _bool("h.registered_poor", vendor),
            "h.exit_year",
            _bool("h.relocated", vendor),
            _text("h.housing_grade"),
            _bool("h.water_secure", vendor),
        ]
        return f"SELECT {', '.join(cols)} FROM registry_household h", "h"
    if table == "persons":
        cols = [
            "p.id_number",
            "h.household_id",
            "p.name",
            "p.relation",
            _text("p.sex"),
            _date("p.birth_date", vendor),
            "p.status",
            _bool("p.in_school", vendor),
            "p.health",
            _text("p.disability_type"),
            "p.disability_grade",
            "p.labour",
            "p.employment",
            "p.work_months",
            _bool("p.medical_insured", vendor),
            _bool("p.pension_insured", vendor),
            "p.adl_failed",
            _bool("p.supporter_capable", vendor),
            _text("p.phone"),
        ]
        return (
            f"SELECT {', '.join(cols)} FROM registry_person p "
            "JOIN registry_household h ON h.id = p.household_id",
            "h",
        )
    if table == "incomes":
        cols = ["h.household_id", "i.year"] + [_money(f"i.{f}", vendor) for f in INCOME_FIELDS]
        return (
            f"SELECT {', '.join(cols)} FROM registry_income i "
            "JOIN registry_household h ON h.id = i.household_id",
            "h",
        )
    raise ValueError(table)


def _scope_where(area_codes: Sequence[str], alias: str) -> tuple[str, list]:
    if not area_codes:
        return "", []
    clause = " OR ".join(f"{alias}.village_id LIKE %s" for _ in area_codes)
    return f"({clause})", [f"{code}%" for code in area_codes]


def _arrow_column(values: Sequence, typ: pa.DataType) -> pa.Array:
    if pa.types.is_boolean(typ):
        return pa.array(values, pa.int8()).cast(typ)
    if pa.types.is_date(typ) or pa.types.is_decimal(typ):
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


def _read_copy(sql: str, params: list, schema: pa.Schema) -> Iterable[pa.RecordBatch]:
    """PostgreSQL: COPY the query out as CSV and let Arrow's C++ reader parse it."""
    import pyarrow.csv as pacsv

    raw_types = {
        f.name: (pa.int8() if pa.types.is_boolean(f.type) else f.type)
        for f in schema
        if not pa.types.is_decimal(f.type)
    }
    raw_types.update({f.name: pa.string() for f in schema if pa.types.is_decimal(f.type)})
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
                arrays = [batch.column(f.name).cast(f.type) for f in schema]
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
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(bytes(chunk))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


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
