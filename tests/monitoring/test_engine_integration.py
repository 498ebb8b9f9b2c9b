"""Risk elimination asks the real rule engine (formats/assess.md) about the household."""

from __future__ import annotations

import datetime as dt

import pytest

from safetynet.core.errors import TransitionNotAllowed
from safetynet.monitoring import services, vocab

from . import flow

pytestmark = pytest.mark.django_db


def test_elimination_criteria_come_from_the_engine(users, world):
    hh = world.households["A2"]  # 2024 income: (16000.50 + 3000 − 1000) / 2 = 9000.25 per person
    case = flow.with_delivered_measures(users, flow.monitored(users, hh))
    result = services.elimination_check(case, as_of=dt.date(2024, 7, 12))
    assert result.ok, result.en()
    assert result.facts["pc_net_income"] in ("9000.25", "9000.250")
    assert result.facts["income_line"].startswith("7300")

    # the household's water becomes unsafe: M-WATER (orange) fires and blocks the elimination
    hh.water_secure = False
    hh.save()
    result = services.elimination_check(case, as_of=dt.date(2024, 7, 12))
    assert result.codes() == ["rules"] and "M-WATER" in result.zh()
    with pytest.raises(TransitionNotAllowed):
        services.case_propose_elimination(
            actor=users["village"], case=case, expected_version=case.version, method="assistance",
            visit_date=dt.date(2024, 7, 12), investigators="刘干部、周干部", findings="复核",
            income_year=2024, net_income="18000", members_count=2, household_confirmed=True,
            today=dt.date(2024, 7, 12),
        )  # fmt: skip
    case.refresh_from_db()
    assert case.state == vocab.MONITORED
