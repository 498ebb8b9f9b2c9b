"""The whole case path in a real browser, three personas on phone-sized screens:
a warning is verified by the village cadre, reviewed by the township, decided by the county,
assisted, and — months later (data set-up moves the dates, no clock tricks) — its risk is
eliminated through the same procedure. Also: the printable notice and dispatching warnings."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from safetynet.monitoring import elimination, services
from safetynet.monitoring.models import Case, FollowUp, Measure, Notice, Verification
from safetynet.screening.models import Finding, ScreenRun


def _warning(household, *, as_of, risk_types=("因病",), rules=("M-INCOME", "M-RIGID")):
    run = ScreenRun.objects.create(as_of=as_of, status="succeeded")
    return Finding.objects.create(
        key=f"warning::{household.household_id}:",
        kind="warning",
        household=household,
        village_code=household.village_id,
        level="red",
        category="edge",
        rules=list(rules),
        risk_types=list(risk_types),
        first_run=run,
    )


def _assessment(household_id, as_of):
    """The engine's view of the household at elimination time: income above the line, no rule."""
    return {
        "measures": {"n": 2, "pc_net_income": Decimal("9000.25")},
        "monitoring": {"flagged": False, "level": None, "rules": [], "risk_types": []},
        "explanations": [],
    }


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _shift_case_back(case: Case, days: int) -> None:
    """Data set-up for 'months later': every date of the case moves back by `days`."""
    delta = dt.timedelta(days=days)
    for field in ("clue_date", "deadline", "decided_on", "next_follow_up_on"):
        if getattr(case, field):
            setattr(case, field, getattr(case, field) - delta)
    case.save()
    for model, fields in (
        (Verification, ("visit_date",)),
        (Notice, ("start", "end")),
        (Measure, ("planned_on", "delivered_on")),
        (FollowUp, ("visit_date", "next_visit_on")),
    ):
        for obj in model.objects.filter(case=case):
            for field in fields:
                if getattr(obj, field):
                    setattr(obj, field, getattr(obj, field) - delta)
            obj.save()


@pytest.fixture
def persona_page(world, browser, browser_context_args, sign_in):
    """Each persona on their own phone (own browser context, so sessions do not mix)."""
    from tests.browser.conftest import PHONE

    contexts = []

    def open_as(username: str):
        context = browser.new_context(
            **{**browser_context_args, "viewport": PHONE, "screen": PHONE, "is_mobile": True,
               "has_touch": True, "device_scale_factor": 2}
        )  # fmt: skip
        context.set_default_timeout(10_000)
        contexts.append(context)
        return sign_in(context.new_page(), username)

    yield open_as
    for context in contexts:
        context.close()


def _state(page):
    return page.get_by_test_id("case-header")


def test_warning_to_monitoring_object_to_risk_elimination(
    world, persona_page, base_url, monkeypatch
):
    monkeypatch.setattr(elimination, "assess", _assessment)
    today = timezone.localdate()
    hh = world.households["A2"]  # 李秀英, 南屏村
    finding = _warning(hh, as_of=today - dt.timedelta(days=12))
    case, _ = services.warning_dispatch(
        actor=world.users["township"], finding=finding, today=today - dt.timedelta(days=12)
    )

    # ---- the village cadre verifies on a phone -------------------------------------------------
    cadre = persona_page("village")
    cadre.goto(f"{base_url}/monitoring/")
    item = cadre.get_by_test_id("my-work").locator(f"[data-case='{case.pk}'][data-action=verify]")
    expect(item).to_contain_text("李秀英")
    item.get_by_test_id("do-verify").click()
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_visit_date").fill(_iso(today - dt.timedelta(days=10)))
    form.locator("#id_investigators").fill("刘建国，周小红")
    form.locator("#id_findings").fill("户主住院两次，务工收入中断")
    form.locator("#id_income_year").fill(str(today.year - 1))
    form.locator("#id_net_income").fill("11000")
    form.locator("#id_members_count").fill("2")
    form.locator("#id_household_confirmed").check()
    form.get_by_test_id("submit").click()
    expect(_state(cadre)).to_have_attribute("data-state", "verified")
    expect(cadre.get_by_test_id("timeline")).to_contain_text("刘建国")

    cadre.locator("[data-action=publish_notice]").click()
    form = cadre.get_by_test_id("action-form")
    # a four-day notice is refused with a bilingual message
    form.locator("#id_start").fill(_iso(today - dt.timedelta(days=9)))
    form.locator("#id_end").fill(_iso(today - dt.timedelta(days=6)))
    form.locator("#id_appraisal").fill("村民代表会议评议，同意纳入")
    form.get_by_test_id("submit").click()
    expect(cadre.get_by_test_id("error")).to_contain_text("less than the required 5")
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_end").fill(_iso(today - dt.timedelta(days=5)))
    form.get_by_test_id("submit").click()
    expect(_state(cadre)).to_have_attribute("data-state", "in_notice")

    # the printable notice: names and period, never ID, phone, bank account or health
    href = cadre.get_by_test_id("notice-link").first.get_attribute("href")
    cadre.goto(f"{base_url}{href}")
    notice = cadre.get_by_test_id("notice")
    expect(notice.get_by_test_id("notice-row")).to_contain_text("李秀英")
    expect(notice.get_by_test_id("notice-row")).to_contain_text("南屏村")
    text = notice.inner_text()
    for person in hh.members.all():
        assert person.id_number not in text and person.id_number[-4:] not in text
        assert not person.phone or person.phone not in text
    assert hh.phone not in text and hh.bank_account[-4:] not in text
    for word in ("慢性病", "健康", "因病", "住院", "残疾"):
        assert word not in text

    # ---- the township reviews ---------------------------------------------------------------
    township = persona_page("township")
    township.goto(f"{base_url}/monitoring/")
    township.locator(f"[data-case='{case.pk}'][data-action=review]").get_by_test_id(
        "do-review"
    ).click()
    form = township.get_by_test_id("action-form")
    expect(form.locator("input[name=approve][value=yes]")).to_be_checked()
    form.locator("#id_opinion").fill("公示无异议，同意上报")
    form.get_by_test_id("submit").click()
    expect(_state(township)).to_have_attribute("data-state", "reviewed")

    # ---- the county decides ------------------------------------------------------------------
    county = persona_page("county")
    county.goto(f"{base_url}/monitoring/")
    county.locator(f"[data-case='{case.pk}'][data-action=decide]").get_by_test_id(
        "do-decide"
    ).click()
    form = county.get_by_test_id("action-form")
    expect(county.get_by_test_id("verification-summary")).to_contain_text("5,500.00")
    form.locator("#id_category").select_option("edge")
    expect(form.locator("input[name=risk_types][value='因病']")).to_be_checked()  # from the warning
    form.get_by_test_id("submit").click()
    expect(_state(county)).to_have_attribute("data-state", "monitored")
    case.refresh_from_db()
    assert case.decided_on == today and not case.decided_late
    assert hh.household_id in services_monitored()

    # ---- the cadre plans and delivers assistance ----------------------------------------------
    cadre.goto(f"{base_url}/monitoring/cases/{case.pk}/")
    cadre.locator("[data-action=plan_measures]").click()
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_m-0-kind").select_option("health")
    form.locator("#id_m-0-description").fill("城乡居民医保个人缴费补贴")
    form.get_by_test_id("submit").click()
    expect(cadre.get_by_test_id("error")).to_contain_text("development measure")  # has labour
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_m-1-kind").select_option("employment")
    form.locator("#id_m-1-description").fill("就业帮扶车间岗位")
    form.get_by_test_id("submit").click()
    expect(cadre.locator("[data-measure=health]")).to_have_attribute(
        "data-measure-state", "planned"
    )
    cadre.locator("[data-action=deliver_measure]").click()
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_measure").select_option(index=0)
    form.locator("#id_note").fill("补贴已到账")
    form.get_by_test_id("submit").click()
    expect(cadre.locator("[data-measure=health]")).to_have_attribute(
        "data-measure-state", "delivered"
    )

    # ---- seven months later ------------------------------------------------------------------------
    _shift_case_back(Case.objects.get(pk=case.pk), days=215)
    cadre.goto(f"{base_url}/monitoring/cases/{case.pk}/")
    expect(cadre.get_by_test_id("readiness-ok")).to_be_visible()
    cadre.locator("[data-action=propose_elimination]").click()
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_method").select_option("assistance")
    form.locator("#id_visit_date").fill(_iso(today - dt.timedelta(days=8)))
    form.locator("#id_investigators").fill("刘建国，周小红")
    form.locator("#id_findings").fill("户主已康复返岗，收入稳定")
    form.locator("#id_income_year").fill(str(today.year - 1))
    form.locator("#id_net_income").fill("18000")
    form.locator("#id_members_count").fill("2")
    form.locator("#id_household_confirmed").check()
    form.get_by_test_id("submit").click()
    expect(_state(cadre)).to_have_attribute("data-state", "elim_verified")
    cadre.locator("[data-action=publish_notice]").click()
    form = cadre.get_by_test_id("action-form")
    form.locator("#id_start").fill(_iso(today - dt.timedelta(days=7)))
    form.locator("#id_end").fill(_iso(today - dt.timedelta(days=3)))
    form.locator("#id_appraisal").fill("评议同意风险消除")
    form.get_by_test_id("submit").click()
    expect(_state(cadre)).to_have_attribute("data-state", "elim_in_notice")

    township.goto(f"{base_url}/monitoring/")
    township.locator(f"[data-case='{case.pk}'][data-action=review]").get_by_test_id(
        "do-review"
    ).click()
    form = township.get_by_test_id("action-form")
    form.locator("#id_opinion").fill("同意风险消除")
    form.get_by_test_id("submit").click()
    expect(_state(township)).to_have_attribute("data-state", "elim_reviewed")

    county.goto(f"{base_url}/monitoring/")
    county.locator(f"[data-case='{case.pk}'][data-action=eliminate]").get_by_test_id(
        "do-eliminate"
    ).click()
    form = county.get_by_test_id("action-form")
    expect(form.locator("#id_method")).to_have_value("assistance")
    form.get_by_test_id("submit").click()
    expect(_state(county)).to_have_attribute("data-state", "eliminated")
    timeline = county.get_by_test_id("timeline")
    for action in ("open", "verify", "publish_notice", "review", "decide", "plan_measures",
                   "deliver_measure", "propose_elimination", "eliminate"):  # fmt: skip
        expect(timeline.locator(f"[data-event={action}]").first).to_be_visible()
    assert hh.household_id not in services_monitored()


def services_monitored():
    from safetynet.monitoring.selectors import monitored_household_ids

    return monitored_household_ids()


def test_township_dispatches_warnings_on_a_phone(world, persona_page, base_url):
    today = timezone.localdate()
    mine = _warning(
        world.households["A"], as_of=today, risk_types=("因安全住房",), rules=("M-HOUSING",)
    )
    far = _warning(world.households["D"], as_of=today)
    page = persona_page("township")
    page.click("button.navbar-toggler")
    page.click("[data-nav=monitoring-warnings]")
    expect(page).to_have_url(re.compile(r"/monitoring/warnings/"))
    listing = page.get_by_test_id("warning-list")
    expect(listing.locator(f"[data-warning='{mine.pk}']")).to_be_visible()
    expect(listing.locator(f"[data-warning='{far.pk}']")).to_have_count(0)
    # filter by rule (htmx swaps the list in place)
    page.locator("#id_rule").select_option("M-HOUSING")
    expect(page).to_have_url(re.compile(r"rule=M-HOUSING"))
    listing = page.get_by_test_id("warning-list")
    listing.locator(f"[data-warning='{mine.pk}'] input[name=finding]").check()
    listing.get_by_test_id("dispatch").click()
    case = Case.objects.get(household=world.households["A"])
    expect(
        page.get_by_test_id("warning-list").locator(f"[data-warning='{mine.pk}']")
    ).to_contain_text(f"#{case.pk}")
    assert case.source == "department_warning" and case.clue_date == today
    cadre = persona_page("village")
    cadre.goto(f"{base_url}/monitoring/")
    expect(cadre.get_by_test_id("my-work").locator(f"[data-case='{case.pk}']")).to_be_visible()


@pytest.mark.parametrize("username", ["village_b"])
def test_other_village_cadre_gets_404(world, persona_page, base_url, username):
    case = services.case_open(
        actor=world.users["village"], household=world.households["A2"], source="self_report",
        note="申报",
    )  # fmt: skip
    page = persona_page(username)
    response = page.goto(f"{base_url}/monitoring/cases/{case.pk}/")
    assert response.status == 404
