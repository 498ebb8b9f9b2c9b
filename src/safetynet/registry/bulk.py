"""Set-based reads and writes for imports: chunked `IN` selects, COPY and `executemany` writes.

The ORM's `bulk_create` builds a model instance and prepares every field of every row in
Python (and on SQLite sends 37 rows per statement); at 350,000 persons that alone takes longer
than the whole import may. These helpers take the table and column names from the models'
`_meta` and hand whole Polars frames to the database: on PostgreSQL as CSV for COPY, written by
Polars in native code (no Python work per row); on SQLite as plain tuples to `executemany`, one
statement per chunk.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from contextlib import contextmanager

import polars as pl
from django.db import connection

from safetynet.core import audit

CHUNK = 5000


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def column(model, field: str) -> str:
    return model._meta.get_field(field).column


def is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def select_in(sql: str, keys: Sequence, chunk: int = CHUNK) -> list[tuple]:
    """Run `sql` (ending in `IN ({})`) for every chunk of `keys`; all rows.

    On PostgreSQL a chunk of text keys goes as one parameter, a JSON array the server unpacks
    (`= ANY(ARRAY(SELECT json_array_elements_text(…)))`): a statement with thousands of
    placeholders costs more to build on the client than to run, and even an array parameter
    is converted element by element in Python, where `json.dumps` of the list is one C call.
    The driver's own cursor is used: Django's debug wrapper would format every parameter for
    its query log.
    """
    keys = list(dict.fromkeys(keys))
    rows: list[tuple] = []
    postgres = connection.vendor == "postgresql"
    as_json = postgres and set(map(type, keys)) <= {str}
    if postgres:
        unpack = "ARRAY(SELECT json_array_elements_text(%s::json))" if as_json else "%s"
        sql = sql.replace(" IN ({})", f" = ANY({unpack})")
        chunk = max(chunk, 50_000)
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    try:
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            if as_json:
                cursor.execute(sql, [json.dumps(part, ensure_ascii=False)])
            elif postgres:
                cursor.execute(sql, [part])
            else:
                cursor.execute(sql.format(", ".join(["?"] * len(part))), part)
            rows.extend(cursor.fetchall())
    finally:
        cursor.close()
    return rows


def copy_rows(table: str, columns: list[str], rows) -> None:
    """PostgreSQL COPY of tuples into `table` (quoted name)."""
    connection.ensure_connection()
    raw = connection.connection.cursor()
    try:
        cols = ", ".join(q(c) for c in columns)
        with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        raw.close()


@contextmanager
def large_cache(kib: int = 262_144):
    """SQLite: a 256 MiB page cache while a bulk write maintains its indexes (default 2 MiB)."""
    if not is_sqlite():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        previous = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def now_value() -> object:
    from django.utils import timezone

    return connection.ops.adapt_datetimefield_value(timezone.now())


def now_text() -> str:
    """The current time as text the database stores in a timestamp column."""
    return str(now_value())


def db_ready(df: pl.DataFrame) -> pl.DataFrame:
    """Values the driver takes as they are: on SQLite dates become ISO text."""
    if not is_sqlite():
        return df
    return df.with_columns(
        [
            pl.col(name).dt.strftime("%Y-%m-%d")
            for name, dtype in df.schema.items()
            if dtype == pl.Date
        ]
    )


def reserve_ids(model, n: int) -> int:
    """The first of `n` new consecutive primary keys for `model`, for rows with explicit ids.

    PostgreSQL: one block from the table's sequence, under a table lock. SQLite: after the
    current maximum; the import's transaction holds SQLite's write lock (IMMEDIATE mode), so
    nobody else can take them, and AUTOINCREMENT's counter follows explicit ids.
    """
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Writers take ROW EXCLUSIVE on the table before drawing from its sequence; holding
            # EXCLUSIVE until the import commits makes one contiguous block safe to take.
            cursor.execute(f"LOCK TABLE {q(table)} IN EXCLUSIVE MODE")
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s)", [sequence])
            low = cursor.fetchone()[0]
            if n > 1:
                cursor.execute("SELECT setval(%s, %s)", [sequence, low + n - 1])
            return low
        # AUTOINCREMENT never reuses a key, even of a deleted row: start past its counter too.
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT MAX({q(pk)}) FROM {q(table)}), 0), "
            "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [table],
        )
        return cursor.fetchone()[0] + 1


def rows_job(model, df: pl.DataFrame | pl.LazyFrame) -> tuple[str, pl.LazyFrame]:
    """(quoted table, frame) for `audit.insert_frames`, from a frame of model field names.

    Values as the database takes them (`db_ready`; timestamps as `now_text`, money as text).
    """
    df = df.lazy()
    names = df.collect_schema().names()
    return q(model._meta.db_table), df.rename({n: column(model, n) for n in names})


def insert(model, df: pl.DataFrame) -> None:
    """INSERT the rows of a frame whose columns are model field names: COPY or executemany."""
    audit.insert_frames([rows_job(model, df)])


def update(model, columns: list[str], rows: list[tuple], chunk: int = CHUNK) -> None:
    """UPDATE by primary key: rows are (*values in `columns` order, pk).

    PostgreSQL: COPY into a temporary table, then one UPDATE … FROM. SQLite: executemany.
    """
    table = q(model._meta.db_table)
    names = [column(model, c) for c in columns]
    pk = model._meta.pk.column
    if connection.vendor == "postgresql":
        temp = q(f"tmp_{model._meta.db_table}")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {temp}")
            select = ", ".join(q(n) for n in [*names, pk])
            cursor.execute(f"CREATE TEMP TABLE {temp} AS SELECT {select} FROM {table} WITH NO DATA")
            copy_rows(temp, [*names, pk], rows)
            sets = ", ".join(f"{q(n)} = s.{q(n)}" for n in names)
            cursor.execute(f"UPDATE {table} t SET {sets} FROM {temp} s WHERE t.{q(pk)} = s.{q(pk)}")
            cursor.execute(f"DROP TABLE {temp}")
        return
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        table, ", ".join(f"{q(n)} = %s" for n in names), q(pk)
    )
    with connection.cursor() as cursor:
        for i in range(0, len(rows), chunk):
            cursor.executemany(sql, rows[i : i + chunk])


def frame(rows: list[tuple], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows from the database as a typed frame, whatever the backend returned.

    SQLite returns dates as text, booleans as 0/1 and decimals as floats; PostgreSQL returns
    date, bool and Decimal. Money ("cents" in `schema`) becomes integer cents (Int64).
    """
    sqlite = is_sqlite()
    raw: dict[str, pl.DataType] = {}
    text_dates = set()
    for i, (name, kind) in enumerate(schema.items()):
        if kind == "cents":
            raw[name] = pl.Float64
        elif kind == pl.Date:
            # Depending on the driver's converters a date arrives as text or as a date.
            sample = next((r[i] for r in rows if r[i] is not None), None)
            raw[name] = pl.String if isinstance(sample, str) else pl.Date
            if isinstance(sample, str):
                text_dates.add(name)
        elif kind == pl.Boolean and sqlite:
            raw[name] = pl.Int64
        else:
            raw[name] = kind
    df = pl.DataFrame(rows, schema=raw, orient="row", strict=False)
    casts = []
    for name, kind in schema.items():
        if kind == "cents":
            casts.append((pl.col(name) * 100).round(0).cast(pl.Int64))
        elif name in text_dates:
            casts.append(pl.col(name).str.to_date("%Y-%m-%d"))
        elif kind == pl.Boolean and sqlite:
            casts.append(pl.col(name).cast(pl.Boolean))
    return df.with_columns(casts) if casts else df


def iso(value) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value
