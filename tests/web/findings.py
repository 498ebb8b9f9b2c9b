"""Screening runs and findings for web tests (the screening context writes them in production)."""

from __future__ import annotations

import datetime as dt

from safetynet.screening.models import Finding, ScreenRun


def run(as_of: dt.date = dt.date(2024, 6, 30)) -> ScreenRun:
    return ScreenRun.objects.create(as_of=as_of, status="succeeded")


def warning(household, first_run, *, category="edge", level="red", rules=("M-INCOME",),
            state="open", resolved_run=None, kind="warning", check_id="") -> Finding:  # fmt: skip
    return Finding.objects.create(
        key=f"{kind}:{check_id or 'M'}:{household.household_id}:{first_run.pk}:{level}",
        kind=kind,
        check_id=check_id,
        household=household,
        village_code=household.village_id,
        category=category if kind == "warning" else "",
        level=level if kind == "warning" else "",
        rules=list(rules),
        risk_types=["其他"],
        message="人均纯收入低于监测标准",
        explanations=[
            {
                "rule": "M-INCOME",
                "zh": "人均纯收入 6500 元低于监测标准 7300 元",
                "en": "Net income per person 6500 is below the line 7300",
                "values": {"pc_net_income": 6500, "income_line": 7300},
            }
        ],  # fmt: skip
        state=state,
        first_run=first_run,
        resolved_run=resolved_run,
    )
