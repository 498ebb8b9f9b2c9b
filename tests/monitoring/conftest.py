"""Fixtures of the case-work tests: the shared named world (tests/web/factories.py), screening
warnings, and a controllable engine assessment for the elimination criteria."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from safetynet.monitoring import elimination
from tests.web.factories import build_world


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def users(world):
    return world.users


class Assessment:
    """What the engine says about a household; tests set the fields they need."""

    def __init__(self):
        self.pc_net_income = Decimal("9000")
        self.level = None
        self.rules: list[str] = []
        self.calls: list[tuple[str, dt.date]] = []

    def __call__(self, household_id: str, as_of: dt.date) -> dict:
        self.calls.append((household_id, as_of))
        return {
            "name": household_id,
            "as_of": as_of.isoformat(),
            "measures": {"n": 2, "pc_net_income": self.pc_net_income},
            "monitoring": {
                "flagged": self.level in ("red", "orange"),
                "level": self.level,
                "rules": self.rules,
                "risk_types": [],
            },
            "explanations": [],
        }


@pytest.fixture
def assessment(monkeypatch):
    fake = Assessment()
    monkeypatch.setattr(elimination, "assess", fake)
    return fake


@pytest.fixture
def screen_run(db):
    from safetynet.screening.models import ScreenRun

    def make(as_of=dt.date(2024, 3, 1)):
        return ScreenRun.objects.create(as_of=as_of, status="succeeded")

    return make


@pytest.fixture
def warning(screen_run):
    from safetynet.screening.models import Finding

    def make(household, *, run=None, level="red", rules=("M-INCOME",), category="edge",
             risk_types=("其他",)):  # fmt: skip
        run = run or screen_run()
        finding, _ = Finding.objects.update_or_create(
            key=f"warning::{household.household_id}:",
            defaults=dict(
                kind="warning",
                household=household,
                village_code=household.village_id,
                level=level,
                category=category,
                rules=list(rules),
                risk_types=list(risk_types),
                first_run=run,
                state="open",
            ),
        )
        return finding

    return make


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Personas are created per test; a cheap hasher keeps that fast (passwords are not tested)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
