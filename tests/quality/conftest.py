from __future__ import annotations

import datetime as dt

import pytest

from tests.web.factories import build_world


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def users(world):
    return world.users


@pytest.fixture
def run(db):
    from django.utils import timezone

    from safetynet.screening.models import ScreenRun

    def make(as_of=dt.date(2024, 3, 1), **kw):
        return ScreenRun.objects.create(
            as_of=as_of, status="succeeded", started_at=timezone.now(), **kw
        )

    return make


@pytest.fixture
def finding(run):
    from safetynet.screening.models import Finding

    def make(household, check="Q-PHONE", first=None):
        first = first or run()
        return Finding.objects.create(
            key=f"quality:{check}:{household.household_id}:",
            kind="quality",
            check_id=check,
            household=household,
            village_code=household.village_id,
            message=f"{check} 问题",
            first_run=first,
        )

    return make


def screen_again(finding, run, *, still_raised: bool):
    """What the screen does to a finding in its next run (the screening context's job)."""
    if still_raised:  # nothing to write: the run covers it and did not resolve it
        finding.state = "open"
    else:
        finding.state = "resolved"
        finding.resolved_run = run
    finding.save()
    return finding
