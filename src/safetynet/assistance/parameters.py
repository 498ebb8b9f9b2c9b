"""Every number the assistance procedures use comes through `param()`.

The policy catalogue (`safetynet.policy`) is the authority for parameters; names it does not
define (procedure time limits such as "the survey starts within 3 working days") come from
`data/procedure_parameters.yaml`, which has the same shape, sources and resolution rule
(POLICY.md §0: the longest area-code prefix wins, then the latest `from` not after the date).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from safetynet.core.errors import ValidationFailed


@lru_cache(maxsize=1)
def _local_table() -> dict[str, dict]:
    text = (
        resources.files("safetynet.assistance")
        .joinpath("data/procedure_parameters.yaml")
        .read_text("utf-8")
    )
    return yaml.safe_load(text)


def _resolve_local(name: str, area_code: str, as_of: dt.date) -> tuple[Any, dict] | None:
    entry = _local_table().get(name)
    if entry is None:
        return None
    best_len, best = -1, None
    for code, values in entry["values"].items():
        code = str(code)
        if code != "CN" and not (area_code or "").startswith(code):
            continue
        length = 0 if code == "CN" else len(code)
        dated = [v for v in values if v["from"] <= as_of]
        if not dated or length < best_len:
            continue
        best_len = length
        best = max(dated, key=lambda v: v["from"])
    if best is None:
        return None
    meta = {"tag": entry.get("tag", ""), "source": entry.get("source", ""), "from": best["from"]}
    return best["value"], meta


def _policy_catalogue():
    try:
        from safetynet.policy import params as policy_params
    except ImportError:
        return None
    return policy_params


def _overrides(catalogue) -> list:
    """Officers' overrides (policy.selectors), when the policy app offers them."""
    try:
        from safetynet.policy.selectors import override_entries
    except ImportError:
        return []
    return override_entries(params=catalogue)


def _meta(entry) -> dict:
    return {
        "tag": entry.tag,
        "source": entry.source,
        "from": entry.start,
        "area": entry.area,
        "origin": entry.origin,
    }


def _resolve_policy(
    name: str, area_code: str, as_of: dt.date, *, extra=None
) -> tuple[Any, dict] | None:
    """Ask the policy catalogue, officers' overrides included.

    None when the catalogue does not define the name; a broken catalogue raises its own
    bilingual error rather than being papered over by defaults.
    """
    policy_params = _policy_catalogue()
    if policy_params is None:
        return None
    catalogue = policy_params.default_parameters()
    if name not in catalogue.defs:
        return None
    if extra is None:
        extra = _overrides(catalogue)
    entry = catalogue.resolve(name, area_code, as_of, extra=extra)
    if entry is None:
        return None
    return entry.value, _meta(entry)


def params_for_areas(
    names: list[str], area_codes: list[str], as_of: dt.date
) -> dict[str, dict[str, Any]]:
    """Many lookups at once (checks over a region): area code → name → value.

    Officers' overrides are read once instead of once per lookup.
    """
    policy_params = _policy_catalogue()
    extra = _overrides(policy_params.default_parameters()) if policy_params else []
    out: dict[str, dict[str, Any]] = {}
    for code in area_codes:
        row = {}
        for name in names:
            found = _resolve_policy(name, code, as_of, extra=extra) or _resolve_local(
                name, code, as_of
            )
            if found is None:
                raise ValidationFailed(
                    f"参数 {name} 在 {code or 'CN'} 于 {as_of} 无有效值",
                    f"parameter {name} has no value for area {code or 'CN'} as of {as_of}",
                    parameter=name,
                )
            row[name] = found[0]
        out[code] = row
    return out


def param_with_source(name: str, area_code: str, as_of: dt.date) -> tuple[Any, dict]:
    for resolver in (_resolve_policy, _resolve_local):
        found = resolver(name, area_code, as_of)
        if found is not None:
            return found
    raise ValidationFailed(
        f"参数 {name} 在 {area_code or 'CN'} 于 {as_of} 无有效值",
        f"parameter {name} has no value for area {area_code or 'CN'} as of {as_of}",
        parameter=name,
    )


def param(name: str, area_code: str, as_of: dt.date) -> Any:
    return param_with_source(name, area_code, as_of)[0]


def param_int(name: str, area_code: str, as_of: dt.date, key: str | None = None) -> int:
    value = param(name, area_code, as_of)
    if key is not None:
        value = value[key]
    return int(value)


def param_decimal(name: str, area_code: str, as_of: dt.date) -> Decimal:
    return Decimal(str(param(name, area_code, as_of)))
