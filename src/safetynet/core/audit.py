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


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict, dict]:
    """Only the keys whose values changed, for compact audit rows."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}
