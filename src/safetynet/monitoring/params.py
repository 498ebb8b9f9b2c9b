"""The monitoring procedure's parameters (POLICY §1), resolved by area and date.

Every number of the procedure (identification_days, notice_days, elimination_min_months,
income_line) comes from the policy parameter tables; this module is the only place that asks
for them, so the case work never carries a number of its own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from safetynet.core.errors import SafetyNetError


def parameter(name: str, area_code: str, as_of: dt.date):
    """The value of policy parameter `name` for `area_code` as of `as_of`."""
    try:
        from safetynet.policy.parameters import resolve
    except ImportError as exc:  # the policy context is not installed
        raise SafetyNetError(
            f"无法读取政策参数 {name}：参数模块不可用",
            f"cannot read policy parameter {name}: the parameter module is unavailable",
        ) from exc
    value = resolve(name, area_code, as_of)
    return getattr(value, "value", value)


def int_parameter(name: str, area_code: str, as_of: dt.date) -> int:
    return int(parameter(name, area_code, as_of))


def money_parameter(name: str, area_code: str, as_of: dt.date) -> Decimal:
    return Decimal(str(parameter(name, area_code, as_of)))
