"""Social assistance in a real browser, phone-sized: a dibao application from entry to
approval (village cadre, township, county), and a monthly roll from generation to the bank file
(maker, a second county officer as checker, the county's finance officer)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from safetynet.assistance.models import Application, Enrolment, Roll, RollLine
from safetynet.core.models import AuditEvent
from tests.assistance.conftest import FakeEngine
from tests.web.factories import HOUSEHOLDS, PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def engine(monkeypatch):
    """The rules' answer for the world's households (the pages, not the rules, are under test)."""
    fake = FakeEngine()
    monkeypatch.setattr("safetynet.assistance.assessment.assess", fake)
    for key in ("A", "A2"):
        fake.set(HOUSEHOLDS[key][0], dibao=(True, 680 if key == "A2" else 520))
    return fake


@pytest.fixture
def persona_page(world, browser, browser_context_args, sign_in):
    """Each persona on their own phone (own browser context, so sessions do not mix)."""
    from tests.browser.conftest import PHONE

    contexts = []

    def open_as(username: str):
        context = browser.new_context(
            **{
                **browser_context_args,
                "viewport": PHONE,
                "screen": PHONE,
                "is_mobile": True,
                "has_touch": True,
            }
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return sign_in(context.new_page(), username)

    yield open_as
    for context in contexts:
        context.close()


def _save_step(page, step: str, fields: dict[str, str], checks=()):
    form = page.locator(f"#form-{step}")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    for name in checks:
        form.locator(f"[name={name}]").check()
    form.locator(f"#submit-{step}").click()
    expect(page.locator(".sn-messages .alert-success")).to_be_visible()


def test_dibao_application_from_entry_to_approval(world, persona_page, engine, base_url):
    hid = HOUSEHOLDS["A2"][0]
    page = persona_page("village")
    page.goto(f"{base_url}/households/{hid}/")
    page.click("#apply-for-household")
    expect(page.locator("#apply-form [name=household_id]")).to_have_value(hid)
    page.select_option("#apply-form [name=programme]", "dibao")
    page.fill("#apply-form [name=accepted_on]", "2024-09-20")
    page.click("#apply-submit")
    expect(page.get_by_test_id("application-title")).to_contain_text("低保")
    expect(page.locator("#application-status")).to_have_attribute("data-status", "in_progress")
    app = Application.objects.get(household__household_id=hid)
    url = page.url

    page = persona_page("township")
    page.goto(url)
    _save_step(
        page,
        "survey",
        {
            "started_on": "2024-09-23",
            "completed_on": "2024-09-24",
            "investigators": "刘干事\n陈干事",
        },
        checks=["family_signed"],
    )
    page = persona_page("county")
    page.goto(url)
    _save_step(page, "check", {"started_on": "2024-09-27"})
    _save_step(page, "notice", {"start": "2024-09-29"})
    # The notice over National Day runs to 10-08: an earlier decision is refused.
    expect(page.get_by_test_id("clocks").locator("[data-step=notice]")).to_contain_text(
        "2024-10-08"
    )
    form = page.locator("#form-decision")
    form.locator("[name=decided_on]").fill("2024-10-08")
    form.locator("[name=approve]").select_option("1")
    form.locator("#submit-decision").click()
    expect(page.locator(".sn-messages .alert-danger")).to_contain_text("公示期未满")
    form = page.locator("#form-decision")
    form.locator("[name=decided_on]").fill("2024-10-09")
    form.locator("[name=approve]").select_option("1")
    form.locator("#submit-decision").click()
    expect(page.locator("#application-status")).to_have_attribute("data-status", "approved")
    expect(page.locator("#approved-amount")).to_contain_text("680")
    page.click("#enrolment-link")
    expect(page.locator("#enrolment-status")).to_have_attribute("data-status", "active")
    enrolment = Enrolment.objects.get(application=app)
    assert enrolment.start_month.isoformat() == "2024-11-01"


def test_roll_generated_checked_approved_and_exported(
    world, persona_page, engine, tmp_path, base_url
):
    from safetynet.accounts.services import user_create
    from tests.assistance.conftest import approve

    users = {"county": world.users["county"], "township": world.users["township"]}
    household = world.households["A"]
    household.people = [world.persons["A"]]
    approve(users, engine, household, amount=520)
    user_create(
        actor=None, username="county_b", password=PASSWORD, role="county", area_code="360827"
    )

    page = persona_page("county")
    page.goto(f"{base_url}/assistance/rolls/")
    page.fill("#roll-generate-form [name=county_code]", "360827")
    page.fill("#roll-generate-form [name=month]", "2024-06")
    page.click("#roll-generate")
    expect(page.locator("#roll-status")).to_have_attribute("data-status", "draft")
    expect(page.locator("#roll-total")).to_contain_text("520")
    page.click("#roll-check")
    expect(page.locator("#roll-status")).to_have_attribute("data-status", "checked")
    # The maker cannot approve their own roll.
    page.click("#roll-approve")
    expect(page.locator(".sn-messages .alert-danger")).to_contain_text("不能与核对人相同")
    roll_url = page.url

    page = persona_page("county_b")
    page.goto(roll_url)
    page.click("#roll-approve")
    expect(page.locator("#roll-status")).to_have_attribute("data-status", "approved")
    expect(page.locator("#roll-regenerate")).to_have_count(0)
    expect(page.locator("#reconcile-balanced")).to_have_attribute("data-balanced", "true")
    expect(page.locator("#roll-export-csv")).to_have_count(0)  # not a finance officer

    page = persona_page("finance")
    page.goto(roll_url)
    with page.expect_download() as info:
        page.click("#roll-export-csv")
    download = info.value
    assert re.match(r"roll_360827_202406_v\d+\.csv", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    text = target.read_text(encoding="utf-8-sig")
    assert household.bank_account in text and "520.00" in text
    assert (
        AuditEvent.objects.filter(action="export_bank_file", actor__username="finance").count() == 1
    )
    roll = Roll.objects.get()
    assert roll.locked and RollLine.objects.filter(roll=roll).count() == 1
