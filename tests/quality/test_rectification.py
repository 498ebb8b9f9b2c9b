"""Quality findings: assignment, rectification, verification by the next screen, and pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from safetynet.core.errors import Conflict, PermissionDenied, TransitionNotAllowed, ValidationFailed
from safetynet.core.models import AuditEvent
from safetynet.quality import services
from safetynet.quality.models import Rectification

from .conftest import screen_again

pytestmark = pytest.mark.django_db


def test_assign_rectify_and_verify_on_the_next_screen(users, world, finding, run):
    f = finding(world.households["A2"])
    rect = services.finding_assign(actor=users["township"], finding=f, assignee=users["village"])
    assert (rect.state, rect.assignee, rect.version) == ("assigned", users["village"], 1)
    rect = services.finding_rectify(
        actor=users["village"], rectification=rect, expected_version=1,
        action_taken="核对后更正了联系电话", rectified_on=dt.date(2024, 3, 5), today=dt.date(2024, 3, 6),
    )  # fmt: skip
    assert rect.state == "rectified" and rect.rectified_by == users["village"]
    nxt = run(dt.date(2024, 4, 1))
    screen_again(f, nxt, still_raised=False)
    assert services.rectifications_verify(run=nxt) == {"verified": 1, "reopened": 0}
    rect.refresh_from_db()
    assert (rect.state, rect.verified_run, rect.version) == ("verified", nxt, 3)
    assert list(rect.events.values_list("action", flat=True)) == ["assign", "rectify", "verify"]
    assert set(
        AuditEvent.objects.filter(object_type="quality.rectification").values_list(
            "action", flat=True
        )
    ) == {"quality.assign", "quality.rectify", "quality.verify"}
    assert services.rectifications_verify(run=nxt) == {"verified": 0, "reopened": 0}


def test_a_finding_still_raised_reopens(users, world, finding, run):
    f = finding(world.households["A2"])
    rect = services.finding_assign(actor=users["county"], finding=f, assignee=users["township"])
    rect = services.finding_rectify(
        actor=users["township"], rectification=rect, expected_version=1, action_taken="已改"
    )
    nxt = run(dt.date(2024, 4, 1))
    screen_again(f, nxt, still_raised=True)
    assert services.rectifications_verify(run=nxt) == {"verified": 0, "reopened": 1}
    rect.refresh_from_db()
    assert rect.state == "reopened" and rect.reopened_count == 1
    # it can be worked again
    rect = services.finding_rectify(
        actor=users["township"], rectification=rect, expected_version=rect.version,
        action_taken="再次核实并更正",
    )  # fmt: skip
    assert rect.state == "rectified"


def test_a_run_started_before_the_fix_does_not_reopen(users, world, finding, run):
    f = finding(world.households["A2"])
    early = run(dt.date(2024, 4, 1))
    rect = services.finding_assign(actor=users["county"], finding=f, assignee=users["village"])
    rect = services.finding_rectify(
        actor=users["village"], rectification=rect, expected_version=1, action_taken="已改"
    )
    screen_again(f, early, still_raised=True)
    assert services.rectifications_verify(run=early) == {"verified": 0, "reopened": 0}


def test_findings_resolved_before_rectification_are_verified_too(users, world, finding, run):
    f = finding(world.households["A2"])
    rect = services.finding_assign(actor=users["county"], finding=f, assignee=users["village"])
    nxt = run(dt.date(2024, 4, 1))
    screen_again(f, nxt, still_raised=False)
    assert services.rectifications_verify(run=nxt)["verified"] == 1
    rect.refresh_from_db()
    assert rect.state == "verified"
    with pytest.raises(TransitionNotAllowed):
        services.finding_assign(
            actor=users["county"],
            finding=f,
            assignee=users["village"],
            expected_version=rect.version,
        )


def test_assignment_rules(users, world, finding):
    f = finding(world.households["A2"])  # 南屏村
    with pytest.raises(PermissionDenied):
        services.finding_assign(actor=users["village"], finding=f, assignee=users["village"])
    with pytest.raises(PermissionDenied):
        services.finding_assign(actor=users["county_other"], finding=f, assignee=users["village"])
    with pytest.raises(ValidationFailed):  # 大坑村's cadre cannot see this household
        services.finding_assign(actor=users["township"], finding=f, assignee=users["village_b"])
    with pytest.raises(ValidationFailed):  # analysts do not fix data
        services.finding_assign(actor=users["township"], finding=f, assignee=users["analyst"])
    assert not Rectification.objects.exists()


def test_rectify_rules_and_conflicts(users, world, finding):
    f = finding(world.households["A2"])
    rect = services.finding_assign(actor=users["township"], finding=f, assignee=users["village"])
    with pytest.raises(PermissionDenied):  # a cadre of another village
        services.finding_rectify(
            actor=users["village_b"], rectification=rect, expected_version=1, action_taken="x"
        )
    with pytest.raises(ValidationFailed):
        services.finding_rectify(
            actor=users["village"], rectification=rect, expected_version=1, action_taken=" "
        )
    rect2 = services.finding_assign(
        actor=users["county"], finding=f, assignee=users["township"], expected_version=1
    )
    assert rect2.version == 2 and rect2.assignee == users["township"]
    with pytest.raises(Conflict):
        services.finding_rectify(
            actor=users["township"], rectification=rect, expected_version=1, action_taken="已改"
        )
    with pytest.raises(PermissionDenied):  # no longer the assignee, and not an officer
        services.finding_rectify(
            actor=users["village"], rectification=rect2, expected_version=2, action_taken="已改"
        )


# ---- pages -------------------------------------------------------------------------------------


def test_quality_pages_are_scoped(client, users, world, finding):
    mine = finding(world.households["A2"], check="Q-PHONE")
    other_check = finding(world.households["A"], check="Q-HEAD")
    far = finding(world.households["D"], check="Q-PHONE")
    client.force_login(users["village"])
    body = client.get(reverse("quality:findings")).content.decode()
    assert f'data-finding="{mine.pk}"' in body and f'data-finding="{far.pk}"' not in body
    body = client.get(reverse("quality:findings"), {"check": "Q-HEAD"}).content.decode()
    assert f'data-finding="{other_check.pk}"' in body and f'data-finding="{mine.pk}"' not in body
    assert client.get(reverse("quality:finding", args=[far.pk])).status_code == 404
    assert client.get(reverse("quality:finding", args=[mine.pk])).status_code == 200
    assert (
        client.post(
            reverse("quality:assign", args=[mine.pk]), {"assignee": users["village"].pk}
        ).status_code
        == 403
    )
    client.force_login(users["village_b"])
    assert client.get(reverse("quality:finding", args=[mine.pk])).status_code == 404
    assert (
        client.post(reverse("quality:rectify", args=[mine.pk]), {"version": 1}).status_code == 404
    )
    client.logout()
    assert client.get(reverse("quality:findings")).status_code == 302


def test_assign_and_rectify_through_the_pages(client, users, world, finding):
    f = finding(world.households["A2"])
    client.force_login(users["township"])
    page = client.get(reverse("quality:finding", args=[f.pk])).content.decode()
    assert 'data-testid="assign-form"' in page
    response = client.post(reverse("quality:assign", args=[f.pk]),
                           {"assignee": users["village"].pk, "note": "请核实电话"})  # fmt: skip
    assert response.status_code == 302
    rect = Rectification.objects.get()
    client.force_login(users["village"])
    body = client.get(reverse("quality:findings"), {"mine": "1"}).content.decode()
    assert f'data-finding="{f.pk}"' in body
    page = client.get(reverse("quality:finding", args=[f.pk])).content.decode()
    assert 'data-testid="rectify-form"' in page and 'data-testid="assign-form"' not in page
    response = client.post(reverse("quality:rectify", args=[f.pk]), {
        "version": rect.version, "action_taken": "已更正为本人手机号",
        "rectified_on": dt.date.today().isoformat(),
    })  # fmt: skip
    assert response.status_code == 302
    rect.refresh_from_db()
    assert rect.state == "rectified"
    response = client.post(reverse("quality:rectify", args=[f.pk]), {
        "version": 1, "action_taken": "again", "rectified_on": dt.date.today().isoformat(),
    })  # fmt: skip
    assert response.status_code == 409
    body = client.get(reverse("quality:findings"), {"state": "rectified"}).content.decode()
    assert f'data-finding="{f.pk}"' in body
