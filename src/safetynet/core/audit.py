"""Writing audit rows: `record` for one change, used by every service that changes something;
`bulk_insert` and `insert_frames` for the hundreds of thousands of rows of an import."""

from __future__ import annotations

import datetime as dt
import decimal
import getpass
import io
import json
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import polars as pl
from django.db import models

from .models import AuditEvent

COPY_CHUNK = 20_000


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of a model instance, JSON-ready."""
    names = fields or [f.attname for f in obj._meta.concrete_fields]
    return {name: _plain(getattr(obj, name)) for name in names}


def actor_label(actor) -> str:
    if actor is None:
        try:
            return f"cli:{getpass.getuser()}"
        except Exception:  # noqa: BLE001 - no login name in some containers
            return "cli"
    return getattr(actor, "username", str(actor))


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    area_code: str = "",
    before: Mapping | None = None,
    after: Mapping | None = None,
    note: str = "",
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label(actor),
        action=action,
        object_type=object_type or "",
        object_id=object_id or "",
        area_code=area_code,
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        note=note,
    )


def bulk_record(events: list[AuditEvent]) -> None:
    """Insert many prepared audit rows at once (imports, screens)."""
    AuditEvent.objects.bulk_create(events, batch_size=2000)


_COLUMNS = ["at", "actor", "actor_label", "action", "object_type", "object_id"]
_COLUMNS += ["area_code", "before", "after", "note"]


def bulk_insert(
    *,
    actor,
    action: str,
    object_type: str,
    rows: Iterable[tuple[str, str, Mapping | str | None, Mapping | str | None]]
    | pl.DataFrame
    | pl.LazyFrame,
    note: str = "",
    chunk: int = 5000,
) -> int:
    """Insert many audit rows of one kind at once: (object_id, area_code, before, after).

    For imports of hundreds of thousands of rows, where building model instances for
    `bulk_record` would cost more than the import itself. Same columns and meaning as `record`.
    `rows` are tuples, whose `before`/`after` are mappings (made JSON-ready here) or JSON text
    already encoded by the caller; or a Polars frame of those four columns in that order, with
    `before`/`after` as JSON text (or null), which goes in through `insert_frames` with no
    Python work per row. PostgreSQL gets the rows with COPY, SQLite with `executemany`.
    """
    from django.db import connection

    if isinstance(rows, pl.DataFrame | pl.LazyFrame):
        table, frame = bulk_frame(
            actor=actor, action=action, object_type=object_type, rows=rows, note=note
        )
        return insert_frames([(table, frame)])

    meta = AuditEvent._meta
    names = [connection.ops.quote_name(meta.get_field(c).column) for c in _COLUMNS]
    table = connection.ops.quote_name(meta.db_table)
    at, actor_id, label = _stamp(actor)

    def encode(value):
        if value is None or isinstance(value, str):
            return value
        return json.dumps(_plain(value), ensure_ascii=False)

    def row(object_id, area_code, before, after) -> tuple:
        return (
            at,
            actor_id,
            label,
            action,
            object_type,
            str(object_id),
            area_code or "",
            encode(before),
            encode(after),
            note,
        )

    count = 0
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection.cursor()
        try:
            with raw.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for values in rows:
                    copy.write_row(row(*values))
                    count += 1
        finally:
            raw.close()
        return count
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        table, ", ".join(names), ", ".join(["%s"] * len(names))
    )
    batch: list[tuple] = []
    with connection.cursor() as cursor:
        for values in rows:
            batch.append(row(*values))
            if len(batch) >= chunk:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def _stamp(actor) -> tuple[Any, int | None, str]:
    """(time as the database takes it, actor's primary key or None, actor label)."""
    from django.db import connection
    from django.utils import timezone

    at = AuditEvent._meta.get_field("at").get_db_prep_save(timezone.now(), connection)
    return at, (actor.pk if getattr(actor, "pk", None) else None), actor_label(actor)


def bulk_frame(
    *, actor, action: str, object_type: str, rows: pl.DataFrame | pl.LazyFrame, note: str = ""
) -> tuple[str, pl.LazyFrame]:
    """The audit table (quoted) and a lazy frame of its rows, for `insert_frames`.

    `rows` has four columns in this order: object_id, area_code, before, after (JSON text or
    null). Lazy, so work such as building the JSON is done chunk by chunk while writing.
    """
    from django.db import connection

    at, actor_id, label = _stamp(actor)
    object_id, area_code, before, after = rows.collect_schema().names()
    frame = rows.lazy().select(
        pl.lit(str(at)).alias("at"),
        pl.lit(actor_id, pl.Int64).alias("actor"),
        pl.lit(label).alias("actor_label"),
        pl.lit(action).alias("action"),
        pl.lit(object_type).alias("object_type"),
        pl.col(object_id).cast(pl.String).alias("object_id"),
        pl.col(area_code).cast(pl.String).fill_null("").alias("area_code"),
        pl.col(before).cast(pl.String).alias("before"),
        pl.col(after).cast(pl.String).alias("after"),
        pl.lit(note).alias("note"),
    )
    meta = AuditEvent._meta
    frame = frame.rename({c: meta.get_field(c).column for c in _COLUMNS})
    return connection.ops.quote_name(meta.db_table), frame


def insert_frames(
    jobs: Iterable[tuple[str, pl.DataFrame | pl.LazyFrame]],
    *,
    chunk: int = COPY_CHUNK,
    done: Callable[[int], None] | None = None,
) -> int:
    """Insert the rows of frames into tables, one table after the other; the number of rows.

    A job is (quoted table name, frame whose columns are table columns, with values as the
    database takes them). Used for audit rows and, by imports, for their own rows in the same
    run. `done(i)` is called when job `i` is written.

    PostgreSQL: one COPY per job, in COPY's text format written by Polars — no Python object
    per row or cell. A second thread prepares the chunks (a lazy frame's columns, e.g. JSON
    built by Polars, are computed chunk by chunk) while this one sends them, so the client's
    work runs alongside the server's; the queue between them holds a few chunks. Text values
    get the format's escapes (backslash, tab, newline, carriage return): an empty string stays
    empty, only NULL is `\\N`. Dates are ISO, booleans true/false; timestamps and decimals come
    as text the server parses. SQLite: `executemany` per chunk.
    """
    from django.db import connection

    jobs = [(table, frame.lazy()) for table, frame in jobs]
    quote = connection.ops.quote_name
    count = 0
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            for i, (table, frame) in enumerate(jobs):
                names = frame.collect_schema().names()
                sql = "INSERT INTO {} ({}) VALUES ({})".format(
                    table, ", ".join(quote(n) for n in names), ", ".join(["%s"] * len(names))
                )
                for part in _chunks(frame, chunk):
                    cursor.executemany(sql, part.rows())
                    count += part.height
                if done:
                    done(i)
        return count

    chunks: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for _, frame in jobs:
                for part in _chunks(frame, chunk):
                    if not put((part.height, _copy_text(part))):
                        return
                if not put(None):  # end of this job
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the writing thread
            put(exc)

    producer = threading.Thread(target=produce, name="copy-chunks", daemon=True)
    connection.ensure_connection()
    raw = connection.connection.cursor()
    producer.start()
    try:
        for i, (table, frame) in enumerate(jobs):
            columns = ", ".join(quote(n) for n in frame.collect_schema().names())
            with (
                connection.wrap_database_errors,
                raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                while (item := chunks.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    rows, data = item
                    copy.write(data)
                    count += rows
            if done:
                done(i)
    finally:
        stop.set()
        producer.join()
        raw.close()
    return count


def _chunks(frame: pl.LazyFrame, size: int) -> Iterator[pl.DataFrame]:
    start = 0
    while True:
        part = frame.slice(start, size).collect()
        if part.height:
            yield part
        if part.height < size:
            return
        start += size


def _copy_text(part: pl.DataFrame) -> bytes:
    """Rows in PostgreSQL COPY text format (tab-separated, `\\N` for NULL, escapes)."""
    text = [name for name, dtype in part.schema.items() if dtype == pl.String]
    special = part.select(pl.col(text).str.contains(r"[\\\t\n\r]").any()).row(0) if text else ()
    part = part.with_columns(
        pl.col(name)
        .str.replace_all("\\", "\\\\", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
        for name, needed in zip(text, special, strict=True)
        if needed
    )
    buffer = io.BytesIO()
    part.write_csv(
        buffer, include_header=False, separator="\t", quote_style="never", null_value="\\N"
    )
    return buffer.getvalue()


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict, dict]:
    """Only the keys whose values changed, for compact audit rows."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
