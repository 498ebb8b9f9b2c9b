"""Risk elimination criteria (POLICY §1, 风险消除).

`check()` is a pure function of the engine's assessment of the household (formats/assess.md)
and the case's own facts; it returns every criterion that is not met, with a bilingual
explanation, so the case page can say exactly what is missing. `assess()` is the single door
to the engine, so tests and pages call the same thing.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

RED_ORANGE = ("red", "orange")


@dataclass(frozen=True)
class Shortfall:
    code: str
    zh: str
    en: str


@dataclass
class EliminationCheck:
    shortfalls: list[Shortfall]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.shortfalls

    def codes(self) -> list[str]:
        return [s.code for s in self.shortfalls]

    def zh(self) -> str:
        return "；".join(s.zh for s in self.shortfalls)

    def en(self) -> str:
        return "; ".join(s.en for s in self.shortfalls)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (clamped to the month's last day)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def assess(household_id: str, as_of: dt.date) -> dict:
    """The engine's assessment of one household (formats/assess.md)."""
    from safetynet.engine.assess import assess_household

    return assess_household(household_id, as_of=as_of)


def _income_line(assessment: Mapping, fallback: Decimal | None) -> Decimal | None:
    for item in assessment.get("explanations") or []:
        value = (item.get("values") or {}).get("income_line")
        if value is not None:
            return Decimal(str(value))
    return fallback


def check(
    *,
    assessment: Mapping,
    decided_on: dt.date | None,
    as_of: dt.date,
    min_months: int,
    delivered_measures: int,
    labour_capable: bool,
    income_line: Decimal | None,
) -> EliminationCheck:
    """Every unmet criterion of risk elimination, as of `as_of`.

    `assessment` is the engine's result for the household as of the same date: its
    `measures.pc_net_income`, `monitoring.level`/`flagged` and `monitoring.rules` are read.
    `income_line` is the monitoring line for the household's area at `as_of`; a line stated in
    the assessment's explanations takes precedence, as it is the one the engine applied.
    """
    monitoring = assessment.get("monitoring") or {}
    measures = assessment.get("measures") or {}
    shortfalls: list[Shortfall] = []

    earliest = add_months(decided_on, min_months) if decided_on else None
    if earliest is None or as_of < earliest:
        shortfalls.append(
            Shortfall(
                "months",
                f"纳入监测不满 {min_months} 个月"
                + (f"（最早可于 {earliest:%Y年%m月%d日} 消除）" if earliest else ""),
                f"monitored for less than {min_months} months"
                + (f" (earliest {earliest.isoformat()})" if earliest else ""),
            )
        )
    if delivered_measures < 1:
        shortfalls.append(
            Shortfall("measure", "尚无已落实的帮扶措施", "no assistance measure delivered yet")
        )

    line = _income_line(assessment, income_line)
    pc = measures.get("pc_net_income")
    if pc is None:
        shortfalls.append(
            Shortfall(
                "income", "没有当年收入记录，无法判断收入", "no income record to judge income by"
            )
        )
    elif line is not None and Decimal(str(pc)) < line:
        shortfalls.append(
            Shortfall(
                "income",
                f"人均纯收入 {Decimal(str(pc)):.2f} 元低于监测标准 {line:.0f} 元",
                f"per-capita net income {Decimal(str(pc)):.2f} is below the line {line:.0f}",
            )
        )

    level = monitoring.get("level")
    flagged = monitoring.get("flagged")
    if flagged is None:
        flagged = level in RED_ORANGE
    fired = [r for r in monitoring.get("rules") or [] if not str(r).startswith("Y-")]
    if flagged:
        rules = "、".join(fired) if fired else str(level)
        shortfalls.append(
            Shortfall(
                "rules",
                f"仍有红色或橙色预警规则触发：{rules}",
                f"red or orange rules still fire: {', '.join(fired) if fired else level}",
            )
        )
    if not labour_capable:
        shortfalls.append(
            Shortfall(
                "labour",
                "整户无劳动能力，不标注风险消除，继续跟踪",
                "the household has no labour capacity at all: it stays tracked, never eliminated",
            )
        )
    facts = {
        "as_of": as_of.isoformat(),
        "decided_on": decided_on.isoformat() if decided_on else None,
        "earliest": earliest.isoformat() if earliest else None,
        "min_months": min_months,
        "delivered_measures": delivered_measures,
        "pc_net_income": None if pc is None else str(pc),
        "income_line": None if line is None else str(line),
        "level": level,
        "rules": list(monitoring.get("rules") or []),
        "labour_capable": labour_capable,
    }
    return EliminationCheck(shortfalls, facts)
