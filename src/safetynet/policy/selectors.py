"""Reads of policy parameters: values in force (files plus officers' overrides)."""

from __future__ import annotations

import datetime as dt

from .models import ParameterOverride
from .params import Entry, ParameterCatalogue, default_parameters


def override_entries(*, params: ParameterCatalogue | None = None) -> list[Entry]:
    """Every officer override as a parameter entry (validated against the catalogue)."""
    params = params or default_parameters()
    out = []
    for o in ParameterOverride.objects.order_by("id"):
        if o.parameter not in params.defs:
            continue  # a parameter removed from the files: kept in the audit trail only
        out.append(
            params.entry(
                parameter=o.parameter,
                area=o.area_code,
                start=o.effective_from,
                value=o.value,
                published=o.published_on,
                origin="override",
                reason=o.reason,
                override_id=o.pk,
            )
        )
    return out


def parameters_in_force(
    *, area_code: str, as_of: dt.date, params: ParameterCatalogue | None = None
) -> dict[str, Entry | None]:
    """Every parameter's entry in force for an area code (or village) on a date."""
    params = params or default_parameters()
    return params.in_force(area_code, as_of, extra=override_entries(params=params))


def parameter_in_force(name: str, *, area_code: str, as_of: dt.date) -> Entry | None:
    params = default_parameters()
    return params.resolve(name, area_code, as_of, extra=override_entries(params=params))


def overrides_for(user=None):
    """Overrides visible to `user` (all when user is None), newest first."""
    qs = ParameterOverride.objects.select_related("created_by").order_by("-created_at", "-id")
    if user is None:
        return qs
    from safetynet.areas.scope import scoped

    return scoped(user, qs)
