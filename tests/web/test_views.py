"""Every page of the web foundation through Django's test client."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from safetynet.core.models import AuditEvent
from safetynet.web import hooks
from tests.web import findings
from tests.web.factories import HOUSEHOLDS, PASSWORD

HID_A = HOUSEHOLDS["A"][0]

ROUTES = [
    ("get", "/"),
    ("get", "/households/"),
    ("get", "/households/export.csv"),
    ("get", f"/households/{HID_A}/"),
    ("post", f"/households/{HID_A}/reveal/"),
    ("post", f"/households/{HID_A}/assess/"),
    ("get", "/users/"),
    ("get", "/users/new/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_every_page_needs_a_signed_in_user(world, method, url):
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response.url.startswith("/login/?next=")


@pytest.mark.django_db
def test_sign_in_page_speaks_chinese_by_default_and_signs_in(world):
    client = Client()
    page = client.get("/login/").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "登录" in page and "用户名" in page
    bad = client.post("/login/", {"username": "village", "password": "nope-nope"})
    assert bad.status_code == 200
    assert "用户名或密码错误" in bad.content.decode()
    good = client.post("/login/", {"username": "village", "password": PASSWORD})
    assert good.status_code == 302 and good.url == "/"
    home = client.get("/").content.decode()
    assert "南屏村村干部" in home and "村干部" in home  # who is signed in, with role
    out = client.post("/logout/")
    assert out.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_language_switch_turns_the_interface_english_and_back(client_for):
    client = client_for("county")
    assert "农户" in client.get("/households/").content.decode()
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/households/"})
    assert switched.status_code == 302 and switched.url == "/households/"
    page = client.get("/households/").content.decode()
    assert '<html lang="en">' in page
    assert "Households" in page and "农户" not in page
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "农户" in client.get("/households/").content.decode()


@pytest.mark.django_db
def test_navigation_comes_from_the_registry_and_respects_roles(client_for):
    page = client_for("village").get("/").content.decode()
    assert 'data-nav="households"' in page and 'data-nav="users"' not in page
    assert 'data-nav="users"' in client_for("admin").get("/").content.decode()
    hooks.register_nav("extra", "额外页面", "household_search", order=5, roles=["county"])
    assert 'data-nav="extra"' in client_for("county").get("/").content.decode()
    assert 'data-nav="extra"' not in client_for("village").get("/").content.decode()


@pytest.mark.django_db
def test_search_by_household_id_id_number_and_name(world, client_for):
    from safetynet.registry.models import Household

    client = client_for("county")
    head = world.persons["A"]
    for q in (HID_A, HID_A[:10], head.id_number, head.id_number.lower(), "张三", "小明"):
        page = client.get("/households/", {"q": q}).content.decode()
        assert f'data-household="{HID_A}"' in page, q
    by_given_name = client.get("/households/", {"q": "小明"}).content.decode()
    assert by_given_name.count("data-household=") == 4  # every child in the county is 某小明
    numeric = Household.objects.create(household_id="36082710100100001", village_id="360827101001")
    page = client.get("/households/", {"q": "360827101001000"}).content.decode()  # 15 digits
    assert f'data-household="{numeric.household_id}"' in page
    legacy = head.id_number[:6] + head.id_number[8:17]  # the 15-digit form of a 19xx birth
    page = client.get("/households/", {"q": legacy}).content.decode()
    assert f'data-household="{HID_A}"' in page
    none = client.get("/households/", {"q": "不存在的人"}).content.decode()
    assert 'data-testid="no-results"' in none


@pytest.mark.django_db
def test_search_results_are_paginated_and_htmx_gets_a_fragment(world, client_for):
    from safetynet.registry.models import Household

    for i in range(25):
        Household.objects.create(household_id=f"HX{i:03d}", village_id="360827101001")
    client = client_for("village")
    first = client.get("/households/", {"q": "HX"}).content.decode()
    assert first.count("data-household=") == 20
    assert 'data-testid="next-page"' in first
    second = client.get("/households/", {"q": "HX", "page": 2}, HTTP_HX_REQUEST="true")
    body = second.content.decode()
    assert "<html" not in body and body.count("data-household=") == 5
    assert "HX024" in body


@pytest.mark.django_db
def test_export_is_masked_and_audited(world, client_for):
    response = client_for("county").get("/households/export.csv", {"q": HID_A})
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    head = world.persons["A"]
    hh = world.households["A"]
    assert HID_A in body and head.name in body
    assert head.id_number not in body and head.id_number[:6] in body
    assert hh.phone not in body
    event = AuditEvent.objects.get(action="export")
    assert event.actor_label == "county" and event.after == {"q": HID_A, "rows": 1}


@pytest.mark.django_db
def test_profile_shows_members_masked_incomes_findings_and_timeline(world, client_for):
    hh = world.households["A"]
    run = findings.run()
    findings.warning(hh, run, level="red", category="unstable")
    client = client_for("village")
    head, child = world.persons["A"], world.persons["A-child"]
    from safetynet.core import audit

    audit.record(actor=None, action="update", obj=hh, area_code=hh.village_id,
                 before={"phone": "13000000000"}, after={"phone": hh.phone})  # fmt: skip
    client.post(f"/households/{HID_A}/reveal/", {"field": "phone", "person": head.pk})
    page = client.get(f"/households/{HID_A}/").content.decode()
    assert head.name in page and child.name in page
    for secret in (head.id_number, child.id_number, head.phone, hh.phone, hh.bank_account):
        assert secret not in page
    assert head.id_number[:6] in page and head.id_number[-4:] in page  # the masked form
    assert "长期慢性病" not in page  # health masked too
    assert "2024" in page and "16,000.50元" in page  # income history, Chinese money format
    assert "脱贫不稳定户" in page and "红色预警" in page and "M-INCOME" in page
    assert "人均纯收入 6500 元低于监测标准 7300 元" in page
    timeline = page.split('data-section="timeline"')[1]
    assert "查看个人信息" in timeline and "(phone)" in timeline  # the reveal, by the cadre
    assert "修改" in timeline and ": phone" in timeline  # changed field names, never values
    assert "13000000000" not in page
    assert "尚未接入部门数据" in page or 'data-section="evidence"' in page


@pytest.mark.django_db
def test_profile_renders_the_panels_other_apps_register(world, client_for, tmp_path, settings):
    template_dir = tmp_path / "templates"
    (template_dir / "demo").mkdir(parents=True)
    (template_dir / "demo" / "_panel.html").write_text(
        "<p data-demo>{{ household.household_id }} {{ message }}</p>", encoding="utf-8"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [template_dir]}]
    seen = []

    def context(request, household):
        seen.append((request.user.username, household.household_id))
        return {"message": "帮扶措施 3 项"}

    hooks.register_profile_panel("demo", "演示面板", "demo/_panel.html", context=context, order=1)
    hooks.register_dashboard_panel(
        "demo", "演示卡片", "demo/_panel.html", context=lambda request: {"message": "逾期 0"}
    )
    hooks.register_timeline_source("demo", lambda household: [("demo.thing", [household.pk])])
    AuditEvent.objects.create(
        actor_label="someone", action="create", object_type="demo.thing",
        object_id=str(world.households["A"].pk),
    )  # fmt: skip
    client = client_for("village")
    page = client.get(f"/households/{HID_A}/").content.decode()
    assert "演示面板" in page and f"{HID_A} 帮扶措施 3 项" in page
    assert seen == [("village", HID_A)]
    assert "someone" in page  # the timeline source's audit row
    assert client.get(f"/households/{HOUSEHOLDS['B'][0]}/").status_code == 404
    assert seen == [("village", HID_A)], "no panel runs for a household out of scope"
    home = client.get("/").content.decode()
    assert "演示卡片" in home and "逾期 0" in home


@pytest.mark.django_db
def test_dashboard_counts_warnings_by_category_and_level_and_trend(world, client_for):
    r1 = findings.run(dt.date(2024, 5, 31))
    r2 = findings.run(dt.date(2024, 6, 30))
    findings.warning(world.households["A"], r1, level="red", category="unstable")
    findings.warning(world.households["A2"], r1, level="orange", category="edge",
                     state="resolved", resolved_run=r2)  # fmt: skip
    findings.warning(world.households["B"], r2, level="yellow", category="edge")
    findings.warning(world.households["D"], r2, level="red", category="edge")
    findings.warning(world.households["C"], r2, kind="quality", check_id="Q-NOINCOME")
    client = client_for("county")
    page = client.get("/").content.decode()
    assert 'data-stat="warnings">2<' in page  # A red + B yellow; D is another county
    assert 'data-stat="quality">1<' in page
    assert "脱贫不稳定户" in page and "边缘易致贫户" in page
    assert 'id="trend-data"' in page and "echarts.min.js" in page
    from safetynet.web.selectors import warning_trend

    trend = warning_trend(user=world.users["county"])
    assert trend == {"labels": ["2024-05-31", "2024-06-30"], "open": [2, 2], "new": [2, 1]}
    breakdown = page.split('data-testid="breakdown-table"')[1]
    assert "泉江镇" in breakdown and "雩田镇" in breakdown
    village_page = client_for("village").get("/").content.decode()
    assert 'data-stat="warnings">1<' in village_page
    assert "breakdown-table" not in village_page  # a village has no level below it


@pytest.mark.django_db
def test_assess_explains_the_result_in_the_active_language(world, client_for, monkeypatch):
    from safetynet.web import views

    calls = []

    def fake_assess(household_id, *, as_of, request=None):
        calls.append((household_id, as_of, request))
        head = world.persons["A"]
        return {
            "name": household_id, "as_of": as_of.isoformat(),
            "measures": {"n": 2, "net_income": 13000, "pc_net_income": 6500,
                         "counted_income": 12000, "pc_month_income": 500, "rigid_12m": 0,
                         "disaster_12m": 0},
            "monitoring": {"flagged": True, "category": "unstable", "level": "red",
                           "rules": ["M-INCOME"], "risk_types": ["其他"]},
            "dibao": {"eligible": True, "edge": False, "monthly_amount": 360},
            "single_person": {},
            "tekun": {head.id_number: {"eligible": False, "care_level": None, "monthly_amount": 0}},
            "temporary": None, "rigid_hardship": False, "low_income": True,
            "explanations": [{"rule": "M-INCOME", "zh": "人均纯收入低于监测标准",
                              "en": "Income per person below the line",
                              "values": {"pc_net_income": 6500, "income_line": 7300},
                              "source": "POLICY §1"},
                             {"rule": "T-NOLABOUR", "zh": f"成员 {head.id_number} 无劳动能力",
                              "en": f"Member {head.id_number} has no labour capacity",
                              "values": {"id_number": head.id_number}}],
        }  # fmt: skip

    monkeypatch.setattr(views, "_assess_function", lambda: fake_assess)
    client = client_for("village")
    zh = client.post(f"/households/{HID_A}/assess/").content.decode()
    assert calls and calls[0][0] == HID_A and calls[0][2] is None
    assert "<html" not in zh
    assert "人均纯收入低于监测标准" in zh and "脱贫不稳定户" in zh and "360元" in zh
    assert world.persons["A"].id_number not in zh
    assert world.persons["A"].id_number[:6] + "********" in zh  # masked inside the explanation
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    en = client.post(f"/households/{HID_A}/assess/").content.decode()
    assert "Income per person below the line" in en and "¥360" in en


@pytest.mark.django_db
def test_assess_is_guarded_when_the_engine_is_missing_or_refuses(world, client_for, monkeypatch):
    from safetynet.core.errors import ValidationFailed
    from safetynet.web import views

    monkeypatch.setattr(views, "_assess_function", lambda: None)
    client = client_for("village")
    page = client.post(f"/households/{HID_A}/assess/").content.decode()
    assert "评估引擎尚未安装" in page

    def refusing(household_id, *, as_of, request=None):
        raise ValidationFailed("该户没有收入记录", "The household has no income record")

    monkeypatch.setattr(views, "_assess_function", lambda: refusing)
    page = client.post(f"/households/{HID_A}/assess/").content.decode()
    assert "该户没有收入记录" in page
    assert client.get(f"/households/{HID_A}/assess/").status_code == 405


@pytest.mark.django_db
def test_user_pages_are_for_administrators_only(world, client_for):
    assert client_for("county").get("/users/").status_code == 403
    assert client_for("county").post("/users/new/", {}).status_code == 403
    admin = client_for("admin")
    listing = admin.get("/users/").content.decode()
    assert "village_b" in listing and "大坑村" in listing
    bad = admin.post("/users/new/", {"username": "x1", "role": "village", "area_code": "360827",
                                     "password": "long-enough-1"})  # fmt: skip
    assert bad.status_code == 200 and "村干部的区划必须是村级" in bad.content.decode()
    ok = admin.post(
        "/users/new/",
        {"username": "cadre2", "role": "village", "area_code": "360827101002",
         "password": "long-enough-1", "display_name": "新干部", "is_active": "on"},
    )  # fmt: skip
    assert ok.status_code == 302
    from safetynet.accounts.models import User

    cadre2 = User.objects.get(username="cadre2")
    assert cadre2.area_id == "360827101002"
    edit = admin.post(
        f"/users/{cadre2.pk}/",
        {"role": "township", "area_code": "360827101", "display_name": "新干部", "is_active": "on"},
    )
    assert edit.status_code == 302
    cadre2.refresh_from_db()
    assert (cadre2.role, cadre2.area_id) == ("township", "360827101")
    assert cadre2.check_password("long-enough-1")
    assert (
        AuditEvent.objects.filter(object_type="accounts.user", object_id=str(cadre2.pk)).count()
        == 2
    )


@pytest.mark.django_db
def test_assess_runs_the_real_rule_engine(world, client_for):
    page = client_for("village").post(f"/households/{HID_A}/assess/").content.decode()
    assert 'data-testid="assess-card"' in page and 'data-testid="assess-error"' not in page
    assert "家庭纯收入" in page and "依据" in page  # measures and explained rules, in Chinese
    for member in ("A", "A-child"):
        assert world.persons[member].id_number not in page
