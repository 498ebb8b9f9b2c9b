"""The monitoring procedure's parameters (POLICY §1), resolved by area and date.

Every number of the procedure (identification_days, notice_days, elimination_min_months,
income_line) comes from the policy parameter catalogue; `parameter()` is the only place that
asks for them, so the case work never carries a number of its own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from safetynet.core.errors import SafetyNetError


def parameter(name: str, area_code: str, as_of: dt.date):
    """The value of policy parameter `name` for `area_code` as of `as_of`.

    The most specific area code wins, then the latest effective date (POLICY §0); officers'
    overrides stored in the database win over the parameter files.
    """
    from safetynet.policy.params import CatalogueError, resolve_in_force

    try:
        entry = resolve_in_force(name, area_code, as_of)
    except CatalogueError as exc:
        raise SafetyNetError(
            f"无法读取政策参数 {name}：{exc}", f"cannot read policy parameter {name}: {exc}"
        ) from exc
    if entry is None:
        raise SafetyNetError(
            f"政策参数 {name} 在 {area_code} 于 {as_of:%Y-%m-%d} 无有效值",
            f"policy parameter {name} has no value for {area_code} as of {as_of.isoformat()}",
        )
    return entry.value


def int_parameter(name: str, area_code: str, as_of: dt.date) -> int:
    return int(parameter(name, area_code, as_of))


def money_parameter(name: str, area_code: str, as_of: dt.date) -> Decimal:
    return Decimal(str(parameter(name, area_code, as_of)))
