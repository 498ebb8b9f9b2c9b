"""Writes of policy parameters: officers' overrides (audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from safetynet.core import audit
from safetynet.core.errors import ValidationFailed

from .models import ParameterOverride
from .params import AREA_RE, default_parameters, json_ready
from .yamlsrc import CatalogueError


def parameter_override_create(
    *,
    actor,
    area_code: str,
    parameter: str,
    value: Any,
    effective_from: dt.date,
    published_on: dt.date | None = None,
    reason: str,
) -> ParameterOverride:
    """Record a new dated, area-scoped value for a parameter. Validated like the files."""
    area_code = (area_code or "").strip()
    reason = (reason or "").strip()
    if not AREA_RE.match(area_code):
        raise ValidationFailed(
            f"区划代码 {area_code!r} 无效（CN 或 2/4/6/9/12 位数字）",
            f"invalid area code {area_code!r} (CN or 2/4/6/9/12 digits)",
        )
    if area_code != "CN":
        from safetynet.areas.models import Area

        if not Area.objects.filter(code=area_code).exists():
            raise ValidationFailed(f"区划 {area_code} 不存在", f"area {area_code} does not exist")
    if not reason:
        raise ValidationFailed("必须填写调整理由", "a reason is required")
    params = default_parameters()
    if parameter not in params.defs:
        raise ValidationFailed(f"未知参数 {parameter}", f"unknown parameter {parameter}")
    published_on = published_on or effective_from
    try:
        entry = params.entry(
            parameter=parameter,
            area=area_code,
            start=effective_from,
            value=value,
            published=published_on,
            origin="override",
            reason=reason,
        )
    except CatalogueError as exc:
        raise ValidationFailed(exc.zh, exc.en) from exc
    stored = json_ready(entry.value)
    with transaction.atomic():
        override = ParameterOverride.objects.create(
            area_code=area_code,
            parameter=parameter,
            value=stored,
            effective_from=effective_from,
            published_on=published_on,
            reason=reason,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit.record(
            actor=actor,
            action="policy.override",
            obj=override,
            area_code=area_code,
            after=audit.snapshot(override),
            note=reason,
        )
    return override
