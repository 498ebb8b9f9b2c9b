"""End to end on a phone-sized screen: sign in, search, open a household, reveal (audited)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from safetynet.core.models import AuditEvent
from tests.web.factories import HOUSEHOLDS


def test_sign_in_page_is_chinese_and_rejects_a_wrong_password(world, phone_page, base_url):
    phone_page.goto(f"{base_url}/households/")
    expect(phone_page).to_have_url(re.compile(r"/login/\?next=/households/"))
    expect(phone_page.locator("h1")).to_have_text("登录")
    phone_page.fill("input[name=username]", "village")
    phone_page.fill("input[name=password]", "wrong-password")
    phone_page.click("[data-testid=login-submit]")
    expect(phone_page.get_by_test_id("login-error")).to_be_visible()


def test_village_cadre_searches_opens_a_household_and_reveals_a_phone(world, persona_page):
    page = persona_page("village")
    # Phone-first layout: the menu is collapsed behind the toggler.
    nav = page.get_by_test_id("main-nav")
    expect(nav).to_be_hidden()
    page.click("button.navbar-toggler")
    expect(nav).to_be_visible()
    page.click("[data-nav=households]")
    expect(page).to_have_url(re.compile(r"/households/$"))

    hid_a, hid_b = HOUSEHOLDS["A"][0], HOUSEHOLDS["B"][0]
    page.fill("[data-testid=search-input]", "张三")
    page.click("[data-testid=search-button]")
    results = page.get_by_test_id("search-results")
    expect(results.locator(f"[data-household={hid_a}]")).to_be_visible()
    expect(page.get_by_test_id("result-count")).to_contain_text("1")

    # Another village's household is not found, however it is asked for.
    page.fill("[data-testid=search-input]", hid_b)
    page.click("[data-testid=search-button]")
    expect(page.get_by_test_id("no-results")).to_be_visible()

    page.fill("[data-testid=search-input]", "张三")
    page.click("[data-testid=search-button]")
    page.click(f"[data-household={hid_a}]")
    expect(page).to_have_url(re.compile(rf"/households/{hid_a}/$"))
    expect(page.get_by_test_id("household-header")).to_contain_text("张三")

    head = world.persons["A"]
    row = page.locator(f"tr[data-person='{head.pk}']")
    expect(row).to_contain_text(head.id_number[:6])
    expect(row).not_to_contain_text(head.id_number)
    # A village cadre may reveal phone numbers of their village, not ID numbers.
    expect(row.get_by_test_id("reveal-id_number")).to_have_count(0)
    before = AuditEvent.objects.filter(action="reveal").count()
    row.get_by_test_id("reveal-phone").click()
    expect(row.get_by_test_id("revealed-phone")).to_contain_text(head.phone)
    assert AuditEvent.objects.filter(action="reveal").count() == before + 1
    event = AuditEvent.objects.filter(action="reveal").first()
    assert event.actor_label == "village"
    assert event.after["field"] == "phone"
    assert head.phone not in str(event.after)


def test_county_officer_switches_to_english(world, persona_page):
    page = persona_page("county")
    expect(page.locator("[data-nav=households]")).to_have_count(1)
    page.get_by_test_id("language-switch").locator("button[value=en]").click()
    expect(page.locator("[data-nav=households]")).to_have_text("Households")
    page.get_by_test_id("language-switch").locator("button[value=zh-hans]").click()
    expect(page.locator("[data-nav=households]")).to_have_text("农户")


def test_dashboard_draws_the_trend_with_the_bundled_echarts(world, persona_page):
    import datetime as dt

    from tests.web import findings

    r1 = findings.run(dt.date(2024, 5, 31))
    r2 = findings.run(dt.date(2024, 6, 30))
    findings.warning(world.households["A"], r1)
    findings.warning(world.households["B"], r2, level="orange")
    page = persona_page("county")
    expect(page.get_by_test_id("dashboard-counts")).to_contain_text("4")
    # ECharts comes from the app's own static files (no internet) and draws into a canvas.
    expect(page.locator("#trend-chart canvas")).to_have_count(1)
    assert page.evaluate("typeof window.echarts") == "object"


def test_assess_button_answers_in_place(world, persona_page, base_url):
    page = persona_page("village")
    hid = HOUSEHOLDS["A"][0]
    page.goto(f"{base_url}/households/{hid}/")
    page.get_by_test_id("assess-button").click()
    card = page.get_by_test_id("assess-card")
    expect(card).to_be_visible(timeout=60_000)  # the first assessment compiles the rules
    expect(card).to_contain_text("截至今日的评估")
    expect(page).to_have_url(re.compile(rf"/households/{hid}/$"))  # no navigation: htmx swap
