"""The real screen (DuckDB engine) raises a quality finding; its rectification is verified by the
next run when the data was fixed, and reopened when it was not. Warnings of a household with an
open case are attached to that case by the same run."""

from __future__ import annotations

import datetime as dt

import pytest

from safetynet.quality import services
from safetynet.screening import services as screening
from safetynet.screening.models import Finding

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 6, 30)


def test_next_screen_verifies_or_reopens_rectifications(users, world):
    fixed, ignored = world.persons["A2"], world.persons["A"]
    for person in (fixed, ignored):
        person.phone = "12345"
        person.save()
    first = screening.screen_run(actor=None, as_of=AS_OF)
    assert first.status == "succeeded", first.error
    findings = {
        f.household_id: f for f in Finding.objects.filter(kind="quality", check_id="Q-PHONE")
    }
    rects = {}
    for person in (fixed, ignored):
        finding = findings[person.household_id]
        rect = services.finding_assign(actor=users["township"], finding=finding,
                                       assignee=users["village"])  # fmt: skip
        rects[person.household_id] = services.finding_rectify(
            actor=users["village"], rectification=rect, expected_version=rect.version,
            action_taken="已核对并更正联系电话",
        )  # fmt: skip
    fixed.phone = "13912345678"
    fixed.save()

    second = screening.screen_run(actor=None, as_of=AS_OF)
    assert second.status == "succeeded", second.error
    for rect in rects.values():
        rect.refresh_from_db()
    assert rects[fixed.household_id].state == "verified"
    assert rects[fixed.household_id].verified_run == second
    assert rects[ignored.household_id].state == "reopened"
    assert rects[ignored.household_id].reopened_count == 1
