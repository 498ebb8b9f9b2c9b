"""Writing audit rows. One function, used by every service that changes something."""

from __future__ import annotations

import datetime as dt
import decimal
import getpass
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models

from .models import AuditEvent


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


def bulk_insert(
    *,
    actor,
    action: str,
    object_type: str,
    rows: Iterable[tuple[str, str, Mapping | str | None, Mapping | str | None]],
    note: str = "",
    chunk: int = 5000,
) -> int:
    """Insert many audit rows of one kind with `executemany`: (object_id, area_code, before, after).

    For imports of hundreds of thousands of rows, where building model instances for
    `bulk_record` would cost more than the import itself. Same columns and meaning as `record`.
    `before`/`after` are mappings (made JSON-ready here) or JSON text already encoded by the
    caller (e.g. with Polars, for speed).
    """
    import json

    from django.db import connection
    from django.utils import timezone

    meta = AuditEvent._meta
    field = meta.get_field
    columns = ["at", "actor", "actor_label", "action", "object_type", "object_id"]
    columns += ["area_code", "before", "after", "note"]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        connection.ops.quote_name(meta.db_table),
        ", ".join(connection.ops.quote_name(field(c).column) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )
    at = field("at").get_db_prep_save(timezone.now(), connection)
    actor_id = actor.pk if getattr(actor, "pk", None) else None
    label = actor_label(actor)

    def encode(value):
        if value is None or isinstance(value, str):
            return value
        return json.dumps(_plain(value), ensure_ascii=False)

    count = 0
    batch: list[tuple] = []
    if connection.vendor == "postgresql":  # COPY: the fast way into PostgreSQL
        connection.ensure_connection()
        raw = connection.connection.cursor()
        names = ", ".join(connection.ops.quote_name(field(c).column) for c in columns)
        table = connection.ops.quote_name(meta.db_table)
        try:
            with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for object_id, area_code, before, after in rows:
                    copy.write_row(
                        (
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
                    )
                    count += 1
        finally:
            raw.close()
        return count
    with connection.cursor() as cursor:
        for object_id, area_code, before, after in rows:
            batch.append(
                (
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
            )
            if len(batch) >= chunk:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict, dict]:
    """Only the keys whose values changed, for compact audit rows."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
