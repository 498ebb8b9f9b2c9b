"""The one door to the rule engine for the assistance programmes.

Services never evaluate eligibility or amounts themselves: they call `assess()` and store the
result (the shape of formats/assess.md) with its as-of date beside the decision it supports.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from safetynet.core.errors import SafetyNetError


class EngineUnavailable(SafetyNetError):
    code = "engine_unavailable"


def assess(household_id: str, *, as_of: dt.date, request: dict | None = None) -> dict:
    """The engine's assessment of one household as of a date (formats/assess.md)."""
    try:
        from safetynet.engine.assess import assess_household
    except ImportError as exc:
        raise EngineUnavailable(
            "规则引擎不可用，无法评估资格和金额",
            "the rule engine is not available to assess eligibility",
        ) from exc
    return assess_household(household_id, as_of=as_of, request=request)


def assess_many(household_ids: list[str], *, as_of: dt.date) -> dict[str, dict]:
    """Assessments of many households as of one date, in one engine run when the engine can.

    Used by bulk recomputes (a new dibao standard for a county) and by checks without a screen.
    """
    household_ids = list(dict.fromkeys(household_ids))
    if not household_ids:
        return {}
    try:
        from safetynet.engine.assess import assess_many as engine_many
        from safetynet.engine.assess import household_scenario
        from safetynet.engine.scenario import parse_scenario
        from safetynet.policy.catalogue import default_catalogue
    except ImportError:
        return {h: assess(h, as_of=as_of) for h in household_ids}
    catalogue = default_catalogue()
    scenarios = [
        parse_scenario(household_scenario(h, as_of=as_of), catalogue.inputs) for h in household_ids
    ]
    out: dict[str, dict] = {}
    for hid, outcome in zip(
        household_ids, engine_many(scenarios, catalogue=catalogue), strict=True
    ):
        if outcome.error is not None:
            raise outcome.error
        out[hid] = outcome.result
    return out


def programme_result(result: dict, programme: str, id_number: str | None = None) -> dict[str, Any]:
    """Eligibility and monthly amount for one programme out of an assessment.

    Returns {"eligible": bool, "amount": Decimal, "care_level": str}.
    """
    amount = Decimal("0")
    eligible = False
    care_level = ""
    if programme == "dibao":
        block = result.get("dibao") or {}
        eligible = bool(block.get("eligible"))
        amount = Decimal(str(block.get("monthly_amount") or 0))
    elif programme == "single":
        block = (result.get("single_person") or {}).get(id_number or "")
        eligible = block is not None
        amount = Decimal(str((block or {}).get("monthly_amount") or 0))
    elif programme == "tekun":
        block = (result.get("tekun") or {}).get(id_number or "") or {}
        eligible = bool(block.get("eligible"))
        amount = Decimal(str(block.get("monthly_amount") or 0))
        care_level = block.get("care_level") or ""
    elif programme == "temporary":
        block = result.get("temporary") or {}
        eligible = bool(block.get("eligible"))
        amount = Decimal(str(block.get("amount") or 0))
    return {"eligible": eligible, "amount": amount, "care_level": care_level}


def explanations_for(result: dict, prefixes: tuple[str, ...]) -> list[dict]:
    """The explanation entries of the rules of one programme (D-*, T-*, A-*)."""
    return [
        e for e in result.get("explanations") or [] if str(e.get("rule", "")).startswith(prefixes)
    ]


PROGRAMME_RULE_PREFIXES = {
    "dibao": ("D-",),
    "single": ("D-",),
    "tekun": ("T-", "D-ASSETS"),
    "temporary": ("A-",),
}
