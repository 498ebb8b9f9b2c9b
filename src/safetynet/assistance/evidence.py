"""Department evidence (deaths, vehicles, businesses, payroll) for the programmes' checks.

Linked feed records come from `safetynet.feeds.selectors.register_linked_feeds(con, kinds=...)`,
which creates one DuckDB view `feed_<kind>` per kind (columns of formats/feeds.md, with the
LINKED registry `id_number` and `household_id`). Callers may pass the records themselves
(`feeds={"deaths": [{...}, ...]}`), which is how a caller that already holds them (and the tests
of this app) avoid reading the lake twice. Kinds nobody provides are empty tables with the same
columns, so every query runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import duckdb
import pyarrow as pa

COMMON = [
    ("record_id", pa.string()),
    ("event_date", pa.date32()),
    ("id_number", pa.string()),
    ("household_id", pa.string()),
]

FEED_SCHEMAS: dict[str, pa.Schema] = {
    "deaths": pa.schema(COMMON),
    "vehicles": pa.schema([*COMMON, ("vehicle_type", pa.string()), ("status", pa.string())]),
    "businesses": pa.schema(
        [
            *COMMON,
            ("enterprise_name", pa.string()),
            ("role", pa.string()),
            ("registered_capital", pa.float64()),
            ("status", pa.string()),
        ]
    ),
    "payroll": pa.schema([*COMMON, ("employer", pa.string())]),
}


def _as_table(kind: str, rows: Iterable[Mapping]) -> pa.Table:
    schema = FEED_SCHEMAS[kind]
    columns: dict[str, list] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row.get(name)
            if name == "event_date" and isinstance(value, str):
                value = dt.date.fromisoformat(value)
            columns[name].append(value)
    return pa.table(columns, schema=schema)


def _existing_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def connect(kinds: Iterable[str], *, feeds: Mapping[str, Iterable[Mapping]] | None = None):
    """A DuckDB connection with a `feed_<kind>` relation for each kind asked for."""
    kinds = list(kinds)
    con = duckdb.connect()
    if feeds is not None:
        for kind in kinds:
            table = _as_table(kind, feeds.get(kind, []))
            con.register(f"feed_{kind}", table)
        return con
    try:
        from safetynet.feeds.selectors import register_linked_feeds
    except ImportError:
        register_linked_feeds = None
    if register_linked_feeds is not None:
        register_linked_feeds(con, kinds=kinds)
    present = _existing_views(con)
    for kind in kinds:
        if f"feed_{kind}" not in present:
            con.register(f"feed_{kind}", _as_table(kind, []))
    return con


def death_records(*, feeds: Mapping[str, Iterable[Mapping]] | None = None) -> dict[str, tuple]:
    """id_number → (date of death, record_id): the earliest linked death record per person."""
    con = connect(["deaths"], feeds=feeds)
    try:
        rows = con.execute(
            """
            select id_number, min(event_date) as died, min(record_id) as record_id
            from feed_deaths where id_number is not null group by id_number
            """
        ).fetchall()
    finally:
        con.close()
    return {r[0]: (r[1], r[2]) for r in rows}
