"""Snapshot of the registry in the engine's input shape, written to Parquet in bulk.

The operational database is read with plain SELECTs (no ORM objects), each input table in
primary-key ranges:

- outside a transaction (a screen run), through ADBC (SQLite, or PostgreSQL's binary COPY)
  straight into Arrow, the ranges read in parallel on their own connections
  (`SAFETYNET_SCREEN_THREADS`, default 2) and written in range order;
- inside a transaction (a caller's atomic block, tests), through the Django connection: on
  PostgreSQL `COPY (SELECT ...) TO STDOUT` parsed by Arrow's CSV reader, elsewhere a DB-API
  cursor streamed in chunks.

Persons and incomes are read without a join: their household's primary key is turned into the
household's natural id in Arrow, through the households just read. Both readers give the same
Arrow tables; blank text is NULL in the columns the contract declares nullable (as
`engine.assess.household_scenario` does for one household) and kept as it is elsewhere.

Tables (the engine's input contract): `households`, `persons`, `incomes`. Department feeds are
not copied: they already live in the Parquet lake and are passed to the engine as views/paths.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.db import connection

from safetynet.core.errors import SafetyNetError
from safetynet.registry.models import INCOME_FIELDS

from . import bulkread

CHUNK_ROWS = 100_000  # rows per batch of the cursor readers; rows per Parquet row group
RANGE_ROWS = 500_000  # primary-key span read by one task of the bulk reader
ID_BATCH = 900  # ids per IN (...) list when reading a subset of households

MONEY = pa.decimal128(18, 2)

# column name -> Arrow type, in the order of the input contract: its required columns only (a
# person's name or pension insurance, a household's exit year or relocation: no rule reads
# them, so they stay in the registry)
HOUSEHOLD_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("village_code", pa.string()),
        ("registered_poor", pa.bool_()),
        ("housing_grade", pa.string()),
        ("water_secure", pa.bool_()),
        ("already_monitored", pa.bool_()),
    ]
)
PERSON_SCHEMA = pa.schema(
    [
        ("id_number", pa.string()),
        ("household_id", pa.string()),
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
HOUSEHOLD_VILLAGES = pa.schema([("household_id", pa.string()), ("village_code", pa.string())])

# Parquet settings of the snapshot, read once by the engine (whole columns: no statistics
# needed) and kept for the latest run of a scope only. Dictionary pages for the coded columns
# alone (ids and free text are nearly unique: a dictionary costs time and saves nothing); no
# compression (at 10M persons: 1.4 GB instead of 0.5 GB, 4.9 s of CPU instead of 8.7 s).
CODED = {
    "village_code",
    "housing_grade",
    "relation",
    "sex",
    "status",
    "health",
    "disability_type",
    "labour",
    "employment",
}
PARQUET_OPTIONS = {"compression": "none", "write_statistics": False}


class Column(NamedTuple):
    name: str  # contract column; "_pk" is the household primary key (not written)
    expr: str
    kind: str  # text, int, bool, date, money, pk (an integer key: registry_household.id)
    nullable: bool


# What each input table is read from: (FROM clause, primary key, household key, columns). Kinds:
# text, int, bool, date, money, pk. `household_id` of persons and incomes is the household's
# primary key in SQL and becomes its natural id in Arrow.
SOURCES: dict[str, tuple[str, str, str, list[Column]]] = {
    "households": (
        "registry_household h",
        "h.id",
        "h.id",
        [
            Column("_pk", "h.id", "pk", False),
            Column("household_id", "h.household_id", "text", False),
            Column("village_code", "h.village_id", "text", False),
            Column("registered_poor", "h.registered_poor", "bool", False),
            Column("housing_grade", "h.housing_grade", "text", True),
            Column("water_secure", "h.water_secure", "bool", False),
        ],
    ),
    "persons": (
        "registry_person p",
        "p.id",
        "p.household_id",
        [
            Column("id_number", "p.id_number", "text", False),
            Column("household_id", "p.household_id", "pk", False),
            Column("relation", "p.relation", "text", False),
            Column("sex", "p.sex", "text", True),
            Column("birth_date", "p.birth_date", "date", True),
            Column("status", "p.status", "text", False),
            Column("in_school", "p.in_school", "bool", False),
            Column("health", "p.health", "text", False),
            Column("disability_type", "p.disability_type", "text", True),
            Column("disability_grade", "p.disability_grade", "int", True),
            Column("labour", "p.labour", "text", False),
            Column("employment", "p.employment", "text", False),
            Column("work_months", "p.work_months", "int", False),
            Column("medical_insured", "p.medical_insured", "bool", False),
            Column("adl_failed", "p.adl_failed", "int", False),
            Column("supporter_capable", "p.supporter_capable", "bool", True),
            Column("phone", "p.phone", "text", True),
        ],
    ),
    "incomes": (
        "registry_income i",
        "i.id",
        "i.household_id",
        [
            Column("household_id", "i.household_id", "pk", False),
            Column("year", "i.year", "int", False),
        ]
        + [Column(f, f"i.{f}", "money", False) for f in INCOME_FIELDS],
    ),
}
NULL_INT = -1  # stands for NULL in integer columns read by ADBC from SQLite (never a real value)

# How a source is read: ADBC on SQLite / PostgreSQL, or the Django connection's cursor / COPY.
ADBC_SQLITE, ADBC_POSTGRESQL, CURSOR, COPY = "adbc-sqlite", "adbc-postgresql", "cursor", "copy"


def _column_sql(col: Column, vendor: str, mode: str) -> str:
    expr, kind = col.expr, col.kind
    if kind in ("text", "pk"):
        return expr
    if kind == "money":  # integer fen: exact on both databases, turned into DECIMAL in Arrow
        if vendor == "postgresql":
            return f"CAST(round({expr} * 100) AS BIGINT)"
        return f"CAST(round({expr} * 100) AS INTEGER)"
    if kind == "bool":
        if mode == ADBC_POSTGRESQL:
            return expr
        if vendor == "postgresql":
            return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 1 ELSE 0 END"
        value = f"CAST({expr} AS INTEGER)"
        # ADBC's SQLite driver infers a column's type from its first rows: never all NULL
        return f"coalesce({value}, {NULL_INT})" if (mode == ADBC_SQLITE and col.nullable) else value
    if kind == "int":
        return f"coalesce({expr}, {NULL_INT})" if (mode == ADBC_SQLITE and col.nullable) else expr
    if kind == "date":
        if mode == ADBC_POSTGRESQL:
            return expr
        if vendor == "postgresql":
            return f"to_char({expr}, 'YYYY-MM-DD')"
        # CAST drops the declared type, so Django's date converter stays out of the way
        return f"coalesce({expr}, '')" if mode == ADBC_SQLITE else f"CAST({expr} AS TEXT)"
    raise ValueError(kind)


def _select(table: str, vendor: str, mode: str) -> str:
    source, _, _, columns = SOURCES[table]
    cols = ", ".join(f"{_column_sql(c, vendor, mode)} AS c{i}" for i, c in enumerate(columns))
    return f"SELECT {cols} FROM {source}"


def _household_filter(table: str, clause: str) -> str:
    """A condition on the household alias `h` as a condition on `table`'s rows."""
    if not clause:
        return ""
    if table == "households":
        return clause
    _, _, key, _ = SOURCES[table]
    return f"{key} IN (SELECT h.id FROM registry_household h WHERE {clause})"


# ---------------------------------------------------------------- raw batches → contract shape


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


class HouseholdKeys:
    """Household primary key → natural id, from the households table of the snapshot."""

    def __init__(self, pks: np.ndarray, ids: pa.Array):
        self.ids = ids
        top = int(pks.max()) + 1 if len(pks) else 1
        if top <= 4 * len(pks) + 1_000_000:  # dense keys: a direct lookup table
            self.position = np.full(top, -1, dtype=np.int64)
            self.position[pks] = np.arange(len(pks), dtype=np.int64)
            self.sorted = None
        else:  # sparse keys: binary search
            self.order = np.argsort(pks, kind="stable")
            self.sorted = pks[self.order]

    def positions(self, pks: pa.Array) -> np.ndarray:
        """Row of each key's household in `ids`, -1 for a key not among them."""
        values = pks.cast(pa.int64()).to_numpy(zero_copy_only=False)
        if self.sorted is None:
            inside = (values >= 0) & (values < len(self.position))
            return np.where(inside, self.position[np.where(inside, values, 0)], -1)
        at = np.searchsorted(self.sorted, values)
        at = np.minimum(at, len(self.sorted) - 1)
        found = self.sorted[at] == values if len(self.sorted) else np.zeros(len(values), bool)
        return np.where(found, self.order[at] if len(self.sorted) else -1, -1)


def _to_contract(
    raw: pa.Table, table: str, keys: HouseholdKeys | None
) -> tuple[pa.Table, pa.ChunkedArray | None]:
    """A raw table of any reader → the table's contract schema (and the households' keys).

    Rows of persons and incomes whose household is not in `keys` (created after the
    households were read) are left out."""
    columns = SOURCES[table][3]
    schema = SCHEMAS[table]
    positions = None
    for i, col in enumerate(columns):
        if col.kind == "pk" and col.name != "_pk":
            assert keys is not None
            positions = keys.positions(raw.column(i))
            if (positions < 0).any():
                known = positions >= 0
                raw = raw.filter(pa.array(known))
                positions = positions[known]
    arrays: list = []
    fields: list[pa.Field] = []
    pks = None
    for i, col in enumerate(columns):
        a = raw.column(i)
        if col.name == "_pk":
            pks = a.cast(pa.int64())
            continue
        typ = schema.field(col.name).type
        if col.kind == "pk":
            assert keys is not None and positions is not None
            a = keys.ids.take(pa.array(positions))
        elif col.kind == "money":
            a = _fen_to_money(a)
        elif col.kind == "bool" and pa.types.is_integer(a.type):
            if col.nullable:
                a = _null_where(a, NULL_INT)
            a = pc.not_equal(a, 0)
        elif col.kind == "int" and col.nullable:
            a = _null_where(a, NULL_INT)
        elif col.kind == "date" and not pa.types.is_date(a.type):
            a = _null_where(a, "")
        elif col.kind == "text" and col.nullable:
            a = _null_where(a, "")
        arrays.append(a if a.type == typ else a.cast(typ))
        fields.append(schema.field(col.name))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), pks


def _null_where(a, value):
    """NULL where the column holds `value` (a stand-in for NULL), unchanged when it never does."""
    hit = pc.equal(a, value)
    if not pc.any(hit).as_py():
        return a
    return pc.if_else(hit, pa.scalar(None, a.type), a)


# ---------------------------------------------------------------- readers


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


def snapshot_threads() -> int:
    return max(1, int(os.environ.get("SAFETYNET_SCREEN_THREADS", "2")))


class SnapshotReadError(SafetyNetError):
    code = "snapshot_read_failed"


class _Bulk:
    """The bulk reader of one snapshot: ADBC range reads of the three tables, in this process
    (PostgreSQL) or in a child process (SQLite, see `bulkread`)."""

    TABLES = ("households", "persons", "incomes")

    def __init__(self, driver: tuple[str, str], workers: int, scope: str):
        module, uri = driver
        sqlite = "sqlite" in module
        mode, vendor = (ADBC_SQLITE, "sqlite") if sqlite else (ADBC_POSTGRESQL, "postgresql")
        self.specs = {
            t: {
                "name": t,
                "select": _select(t, vendor, mode),
                "source": SOURCES[t][0],
                "pk": SOURCES[t][1],
                "where": _household_filter(t, scope),
            }
            for t in self.TABLES
        }
        self.child: bulkread.ChildReader | None = None
        self.local: bulkread.RangeReader | None = None
        if sqlite:
            spec = {
                "module": module,
                "uri": uri,
                "workers": workers,
                "batch_rows": CHUNK_ROWS,
                "range_rows": RANGE_ROWS,
                "ahead": workers + 2,
                "tables": [self.specs[t] for t in self.TABLES],
            }
            self.child = bulkread.ChildReader(spec, Path(tempfile.mkdtemp(prefix="sn-snapshot-")))
        else:
            self.local = bulkread.RangeReader(
                module, uri, workers, batch_rows=CHUNK_ROWS, range_rows=RANGE_ROWS
            )

    def read(self, table: str) -> Iterator[pa.Table]:
        if self.child is not None:
            yield from self.child.read(table, _read_failed)
            return
        assert self.local is not None
        t = self.specs[table]
        yield from self.local.read(t["select"], t["source"], t["pk"], t["where"])

    def close(self) -> None:
        if self.child is not None:
            self.child.close()
        if self.local is not None:
            self.local.close()


def _read_failed(message: str) -> SnapshotReadError:
    return SnapshotReadError(
        f"读取户籍数据失败：{message}", f"reading the registry failed: {message}"
    )


def _raw_types(table: str) -> list[pa.DataType]:
    """Arrow types of the raw columns of the cursor / COPY readers."""
    out = []
    for col in SOURCES[table][3]:
        out.append(
            {
                "text": pa.string(),
                "pk": pa.int64(),
                "int": pa.int64(),
                "bool": pa.int8(),
                "date": pa.string(),
                "money": pa.int64(),
            }[col.kind]
        )
    return out


def _read_cursor(sql: str, params: list, types: list[pa.DataType]) -> Iterable[pa.Table]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_ROWS):
            columns = list(zip(*rows, strict=True))
            yield pa.table(
                {
                    f"c{i}": pa.array(col, typ)
                    for i, (col, typ) in enumerate(zip(columns, types, strict=True))
                }
            )


def _read_copy(sql: str, params: list, types: list[pa.DataType]) -> Iterable[pa.Table]:
    """PostgreSQL: COPY the query out as CSV and let Arrow's C++ reader parse it."""
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(len(types))]
    with connection.cursor() as cursor:
        pg = cursor.cursor  # the psycopg cursor under Django's wrapper
        query = pg.mogrify(sql, params) if params else sql
        with pg.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            stream = _CopyStream(iter(copy))
            if not stream.peek():
                return
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=names, block_size=8 << 20),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict(zip(names, types, strict=True)),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                ),
            )
            for batch in reader:
                yield pa.Table.from_batches([batch])


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


def _scope_where(area_codes: Sequence[str], alias: str) -> tuple[str, list]:
    if not area_codes:
        return "", []
    clause = " OR ".join(f"{alias}.village_id LIKE %s" for _ in area_codes)
    return f"({clause})", [f"{code}%" for code in area_codes]


def _literal_scope(area_codes: Sequence[str], alias: str) -> str:
    """The scope as literal SQL (ADBC path, no parameters): area codes are digits only."""
    if not area_codes:
        return ""
    for code in area_codes:
        if not code.isdigit():
            raise ValueError(f"area code must be digits: {code!r}")
    return "(" + " OR ".join(f"{alias}.village_id LIKE '{c}%'" for c in area_codes) + ")"


def _read_connection(
    table: str, area_codes: Sequence[str], household_ids: Sequence[str] | None
) -> Iterable[pa.Table]:
    """Raw tables through the Django connection (inside a transaction, or without ADBC)."""
    vendor = connection.vendor
    mode = COPY if vendor == "postgresql" else CURSOR
    reader = _read_copy if vendor == "postgresql" else _read_cursor
    base = _select(table, vendor, mode)
    types = _raw_types(table)
    scope, params = _scope_where(area_codes, "h")
    if household_ids is None:
        where = _household_filter(table, scope)
        yield from reader(base + (f" WHERE {where}" if where else ""), params, types)
        return
    ids = sorted(household_ids)
    for start in range(0, len(ids), ID_BATCH):
        part = ids[start : start + ID_BATCH]
        clause = f"h.household_id IN ({', '.join(['%s'] * len(part))})"
        if scope:
            clause += f" AND {scope}"
        where = _household_filter(table, clause)
        yield from reader(f"{base} WHERE {where}", [*part, *params], types)


def read_tables(
    *,
    area_codes: Sequence[str] = (),
    household_ids: Sequence[str] | None = None,
    workers: int | None = None,
    on_table: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, pa.Table]]:
    """(table name, part) of households, then persons, then incomes, in the contract's shape
    (households without `already_monitored`). `on_table(name)` is called before a table is
    read (never while the connection streams a table: it may use the connection)."""
    driver = adbc_uri() if household_ids is None else None
    bulk = None
    try:
        if driver is not None:
            bulk = _Bulk(driver, workers or snapshot_threads(), _literal_scope(area_codes, "h"))

            def raw(table: str) -> Iterable[pa.Table]:
                assert bulk is not None
                return bulk.read(table)
        else:

            def raw(table: str) -> Iterable[pa.Table]:
                return _read_connection(table, area_codes, household_ids)

        pks: list[pa.Array] = []
        ids: list[pa.Array] = []
        if on_table:
            on_table("households")
        for part in raw("households"):
            out, part_pks = _to_contract(part, "households", None)
            pks.append(part_pks)
            ids.append(out.column("household_id").combine_chunks())
            yield "households", out
        keys = HouseholdKeys(
            np.concatenate([p.to_numpy(zero_copy_only=False) for p in pks])
            if pks
            else np.empty(0, np.int64),
            pa.concat_arrays(ids) if ids else pa.array([], pa.string()),
        )
        for table in ("persons", "incomes"):
            if on_table:
                on_table(table)
            for part in raw(table):
                yield table, _to_contract(part, table, keys)[0]
    finally:
        if bulk is not None:
            bulk.close()


def household_villages(area_codes: Sequence[str] = ()) -> pa.Table:
    """Every household now in the registry within the scope, and its village: the engine's
    `household_villages` input when a run evaluates only some households (county-wide
    aggregates still read the whole county)."""
    where, params = _scope_where(area_codes, "h")
    scope = f" WHERE {where}" if where else ""
    if connection.vendor == "sqlite":
        # two JSON arrays built by SQLite: 1.3 s for 3.1M households, 7.4 s as row tuples
        sql = (
            "SELECT json_group_array(h.household_id), json_group_array(h.village_id)"
            f" FROM registry_household h{scope}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids, villages = (json.loads(v) for v in cursor.fetchone())
        return pa.table(
            [pa.array(ids, pa.string()), pa.array(villages, pa.string())],
            schema=HOUSEHOLD_VILLAGES,
        )
    sql = f"SELECT h.household_id, h.village_id FROM registry_household h{scope}"
    reader = _read_copy if connection.vendor == "postgresql" else _read_cursor
    parts = list(reader(sql, params, [pa.string(), pa.string()]))
    if not parts:
        return HOUSEHOLD_VILLAGES.empty_table()
    table = pa.concat_tables(parts)
    return pa.Table.from_arrays(table.columns, schema=HOUSEHOLD_VILLAGES)


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


class _Writer:
    """One Parquet file per input table, opened before the table is read."""

    def __init__(self, out_dir: Path, snap: Snapshot, progress: Callable[[str], None] | None):
        self.out_dir, self.snap, self.progress = out_dir, snap, progress
        self.table: str | None = None
        self.writer: pq.ParquetWriter | None = None

    def open(self, table: str) -> None:
        self.close()
        if self.progress:
            self.progress(table)
        path = self.out_dir / f"{table}.parquet"
        schema = SCHEMAS[table]
        self.writer = pq.ParquetWriter(
            path,
            schema,
            use_dictionary=[n for n in schema.names if n in CODED],
            **PARQUET_OPTIONS,
        )
        self.table = table
        self.snap.paths[table] = path
        self.snap.rows[table] = 0

    def write(self, table: str, part: pa.Table) -> None:
        assert self.writer is not None and table == self.table
        self.writer.write_table(part, row_group_size=CHUNK_ROWS)
        self.snap.rows[table] += part.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


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
    writer = _Writer(out_dir, snap, progress)
    try:
        for name, part in read_tables(
            area_codes=area_codes, household_ids=household_ids, on_table=writer.open
        ):
            if name == "households":
                flag = pc.is_in(part.column("household_id"), value_set=monitored_arr)
                part = part.append_column("already_monitored", flag)
            writer.write(name, part)
    finally:
        writer.close()
    if household_ids is not None:
        # a part of the households: the county-wide aggregates still read every household
        path = out_dir / "household_villages.parquet"
        table = household_villages(area_codes)
        pq.write_table(table, path, **PARQUET_OPTIONS)
        snap.paths["household_villages"] = path
        snap.rows["household_villages"] = table.num_rows
    return snap
