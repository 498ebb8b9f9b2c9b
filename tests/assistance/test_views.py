"""The assistance pages with Django's test client: every page, its scope, and its actions."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from safetynet.assistance import rolls
from safetynet.assistance.models import Application, Enrolment, Roll
from safetynet.core.models import AuditEvent

from .conftest import COUNTY, approve

D = dt.date
pytestmark = pytest.mark.django_db


@pytest.fixture
def open_as(client):
    def go(user, url, data=None, **kw):
        client.force_login(user)
        if data is None:
            return client.get(url, **kw)
        return client.post(url, data, **kw)

    return go


def test_every_page_renders_for_staff(open_as, users, households, engine):
    hh = households("V001")
    e = approve(users, engine, hh, amount=500)
    roll = rolls.roll_generate(
        actor=users["county"], county_code=COUNTY, month=D(2024, 6, 1), today=D(2024, 6, 1)
    )
    urls = [
        reverse("assistance:index"),
        reverse("assistance:applications"),
        reverse("assistance:application_new") + "?household=V001",
        reverse("assistance:application", args=[e.application_id]),
        reverse("assistance:register"),
        reverse("assistance:enrolments"),
        reverse("assistance:enrolment", args=[e.pk]),
        reverse("assistance:reviews"),
        reverse("assistance:proposals"),
        reverse("assistance:rolls"),
        reverse("assistance:roll", args=[roll.pk]),
        reverse("assistance:adjustment_new"),
    ]
    for url in urls:
        response = open_as(users["county"], url)
        assert response.status_code == 200, url
    body = open_as(users["county"], reverse("assistance:enrolment", args=[e.pk])).content.decode()
    assert 'id="current-amount"' in body and "500" in body


def test_pages_need_sign_in(client):
    response = client.get(reverse("assistance:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_cadre_of_another_village_cannot_open_the_application(open_as, users, households, engine):
    households("V002")
    engine.set("V002", dibao=(True, 300))
    from safetynet.assistance import services

    app = services.application_create(
        actor=users["village"], household_id="V002", programme="dibao", accepted_on=D(2024, 9, 20)
    )
    url = reverse("assistance:application", args=[app.pk])
    assert open_as(users["village"], url).status_code == 200
    assert open_as(users["village_2"], url).status_code == 404
    assert open_as(users["other_county"], url).status_code == 404
    listing = open_as(users["village_2"], reverse("assistance:applications")).content.decode()
    assert f'data-application="{app.pk}"' not in listing
    # Posting a step through someone else's scope is refused the same way.
    response = open_as(
        users["village_2"],
        reverse("assistance:application_step", args=[app.pk, "notice"]),
        {"version": app.version, "start": "2024-09-29"},
    )
    assert response.status_code == 404
    assert Application.objects.get(pk=app.pk).notice_start is None


def test_application_from_entry_to_approval_through_the_pages(open_as, users, households, engine):
    households("V003")
    engine.set("V003", dibao=(True, 620))
    response = open_as(
        users["village"],
        reverse("assistance:application_new"),
        {
            "household_id": "V003",
            "programme": "dibao",
            "accepted_on": "2024-09-20",
            "track": "standard",
            "source_case_id": "CASE-9",
        },
    )
    app = Application.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "assistance:application", args=[app.pk]
    )
    step = reverse("assistance:application_step", args=[app.pk, "survey"])
    open_as(
        users["township"],
        step,
        {
            "version": app.version,
            "started_on": "2024-09-23",
            "completed_on": "2024-09-24",
            "investigators": "刘干事\n陈干事",
            "family_signed": "on",
        },
    )
    app.refresh_from_db()
    open_as(
        users["county"],
        reverse("assistance:application_step", args=[app.pk, "check"]),
        {"version": app.version, "started_on": "2024-09-27", "passed": "1"},
    )
    app.refresh_from_db()
    open_as(
        users["village"],
        reverse("assistance:application_step", args=[app.pk, "notice"]),
        {"version": app.version, "start": "2024-09-29"},
    )
    app.refresh_from_db()
    assert app.notice_end == D(2024, 10, 8)
    # A stale form (old version) is refused with a message and changes nothing.
    response = open_as(
        users["county"],
        reverse("assistance:application_step", args=[app.pk, "decision"]),
        {"version": app.version - 1, "decided_on": "2024-10-09", "approve": "1"},
        follow=True,
    )
    assert "已被他人修改" in response.content.decode()
    response = open_as(
        users["county"],
        reverse("assistance:application_step", args=[app.pk, "decision"]),
        {
            "version": app.version,
            "decided_on": "2024-10-09",
            "approve": "1",
            "household_type": "stable",
        },
        follow=True,
    )
    body = response.content.decode()
    assert 'data-status="approved"' in body and 'id="enrolment-link"' in body
    assert Enrolment.objects.get(application=app).amounts.get().monthly_amount == Decimal("620")


def test_bad_input_shows_a_message_and_changes_nothing(open_as, users, households, engine):
    households("V004")
    response = open_as(
        users["village"],
        reverse("assistance:application_new"),
        {
            "household_id": "NOPE",
            "programme": "dibao",
            "accepted_on": "2024-09-20",
            "track": "standard",
        },
    )
    assert response.status_code == 200 and "未找到户 NOPE" in response.content.decode()
    response = open_as(
        users["village"],
        reverse("assistance:application_new"),
        {
            "household_id": "V004",
            "programme": "dibao",
            "accepted_on": "2030-01-02",
            "track": "standard",
        },
    )
    assert "chinese-calendar" in response.content.decode()
    assert not Application.objects.exists()


def test_roll_check_approve_and_export_through_the_pages(open_as, users, households, engine):
    e = approve(users, engine, households("V005"), amount=500)
    response = open_as(
        users["county"], reverse("assistance:rolls"), {"county_code": COUNTY, "month": "2024-06"}
    )
    roll = Roll.objects.get()
    assert response["Location"] == reverse("assistance:roll", args=[roll.pk])
    open_as(
        users["county"],
        reverse("assistance:roll_action", args=[roll.pk, "check"]),
        {"version": roll.version},
    )
    roll.refresh_from_db()
    response = open_as(
        users["county"],
        reverse("assistance:roll_action", args=[roll.pk, "approve"]),
        {"version": roll.version},
        follow=True,
    )
    assert "不能与核对人相同" in response.content.decode()
    open_as(
        users["county_2"],
        reverse("assistance:roll_action", args=[roll.pk, "approve"]),
        {"version": roll.version},
    )
    roll.refresh_from_db()
    assert roll.locked
    detail = open_as(users["finance"], reverse("assistance:roll", args=[roll.pk])).content.decode()
    assert 'id="roll-export-csv"' in detail
    account = e.household.bank_account
    assert account not in detail  # masked on the page
    assert (
        'id="roll-export-csv"'
        not in open_as(users["county"], reverse("assistance:roll", args=[roll.pk])).content.decode()
    )
    response = open_as(
        users["county"], reverse("assistance:roll_export", args=[roll.pk]), {"format": "csv"}
    )
    assert (
        response.status_code == 302
        and not AuditEvent.objects.filter(action="export_bank_file").exists()
    )
    response = open_as(
        users["finance"], reverse("assistance:roll_export", args=[roll.pk]), {"format": "csv"}
    )
    assert response.status_code == 200
    content = b"".join(response.streaming_content).decode("utf-8-sig")
    assert account in content
    assert AuditEvent.objects.filter(action="export_bank_file", actor=users["finance"]).count() == 1
    # A village cadre sees no rolls at all.
    assert open_as(users["village"], reverse("assistance:roll", args=[roll.pk])).status_code == 404


def test_household_profile_shows_the_assistance_panel(open_as, users, households, engine):
    hh = households("V006")
    approve(users, engine, hh, amount=500)
    response = open_as(users["village"], reverse("household_profile", args=["V006"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="assistance-panel"' in body and 'id="apply-for-household"' in body
