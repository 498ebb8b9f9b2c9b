"""Every monitoring page: who may open it, what it shows, and that nobody crosses their area."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from safetynet.monitoring import services, vocab
from safetynet.monitoring.models import Case

from . import flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(client, users):
    def login(username):
        client.force_login(users[username])
        return client

    return login


@pytest.fixture
def cases(users, world):
    """A case in 南屏村 (A2, in notice) and one in 茅坪村 of another county (D)."""
    today = timezone.localdate()
    mine = flow.opened(users, world.households["A2"], clue_date=today - dt.timedelta(days=10))
    mine = flow.verified(users, mine, visit=today - dt.timedelta(days=9))
    mine = flow.noticed(
        users, mine, start=today - dt.timedelta(days=8), end=today - dt.timedelta(days=4)
    )
    other = services.case_open(
        actor=users["county_other"], household=world.households["D"], source="self_report",
        note="申报", today=today,
    )  # fmt: skip
    return {"mine": mine, "other": other}


PAGES = [
    ("monitoring:my_work", ()),
    ("monitoring:warnings", ()),
    ("monitoring:cases", ()),
]


@pytest.mark.parametrize("name, args", PAGES)
def test_pages_need_a_sign_in(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_list_pages_open_for_every_role(client_for, cases):
    for username in ("village", "township", "county", "analyst", "admin"):
        client = client_for(username)
        for name, args in PAGES:
            assert client.get(reverse(name, args=args)).status_code == 200, (username, name)


def test_case_pages_are_scoped(client_for, cases):
    mine, other = cases["mine"], cases["other"]
    notice = mine.notices.get()
    urls_mine = [
        reverse("monitoring:case", args=[mine.pk]),
        reverse("monitoring:case_readiness", args=[mine.pk]),
        reverse("monitoring:notice_print", args=[mine.pk, notice.pk]),
        reverse("monitoring:case_action", args=[mine.pk, "review"]),
    ]
    for username in ("village_b", "county_other"):
        client = client_for(username)
        for url in urls_mine:
            assert client.get(url).status_code == 404, (username, url)
    client = client_for("village")
    assert client.get(reverse("monitoring:case", args=[other.pk])).status_code == 404
    for url in urls_mine[:3]:
        assert client.get(url).status_code == 200, url
    # a notice id of another case is not reachable through this case
    assert (
        client.get(reverse("monitoring:notice_print", args=[other.pk, notice.pk])).status_code
        == 404
    )


def test_case_lists_show_only_the_area(client_for, cases):
    body = client_for("village").get(reverse("monitoring:cases")).content.decode()
    assert f'data-case="{cases["mine"].pk}"' in body
    assert f'data-case="{cases["other"].pk}"' not in body
    body = client_for("analyst").get(reverse("monitoring:cases")).content.decode()
    assert f'data-case="{cases["mine"].pk}"' in body and f'data-case="{cases["other"].pk}"' in body


def test_actions_shown_by_role_and_state(client_for, cases):
    url = reverse("monitoring:case", args=[cases["mine"].pk])
    assert 'data-action="review"' in client_for("township").get(url).content.decode()
    body = client_for("village").get(url).content.decode()
    assert 'data-action="review"' not in body and 'data-action="verify"' not in body
    body = client_for("county").get(url).content.decode()
    assert 'data-action="close"' in body and 'data-action="decide"' not in body


def test_action_page_refuses_the_wrong_role(client_for, cases):
    url = reverse("monitoring:case_action", args=[cases["mine"].pk, "decide"])
    assert client_for("township").get(url).status_code == 403
    assert client_for("analyst").get(url).status_code == 403
    assert client_for("county").get(url).status_code == 409  # right role, wrong state
    assert (
        client_for("county")
        .get(reverse("monitoring:case_action", args=[cases["mine"].pk, "nope"]))
        .status_code
        == 404
    )


def test_review_through_the_page(client_for, cases):
    case = cases["mine"]
    client = client_for("township")
    url = reverse("monitoring:case_action", args=[case.pk, "review"])
    response = client.post(
        url, {"version": case.version, "approve": "yes", "opinion": "同意纳入", "objections": ""}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "monitoring:case", args=[case.pk]
    )
    case.refresh_from_db()
    assert case.state == vocab.REVIEWED
    page = client.get(reverse("monitoring:case", args=[case.pk])).content.decode()
    assert 'data-event="review"' in page and "同意纳入" in page


def test_stale_form_gets_a_conflict(client_for, cases):
    case = cases["mine"]
    client = client_for("township")
    url = reverse("monitoring:case_action", args=[case.pk, "review"])
    response = client.post(url, {"version": case.version - 1, "approve": "yes", "opinion": "同意"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "已被他人修改" in body and "changed by someone else" in body
    case.refresh_from_db()
    assert case.state == vocab.IN_NOTICE


def test_bad_input_gets_a_bilingual_message_and_changes_nothing(client_for, users, world):
    case = flow.opened(users, world.households["A2"], clue_date=timezone.localdate())
    client = client_for("village")
    url = reverse("monitoring:case_action", args=[case.pk, "verify"])
    response = client.post(url, {
        "version": 1, "visit_date": timezone.localdate().isoformat(), "investigators": "刘干部",
        "findings": "核实", "income_year": 2024, "net_income": "1000", "members_count": 2,
        "household_confirmed": "on",
    })  # fmt: skip
    assert response.status_code == 400
    body = response.content.decode()
    assert "至少 2 人" in body and "at least 2 investigators" in body
    case.refresh_from_db()
    assert case.state == vocab.CLUE
    # a form that does not parse is a 400 too
    assert client.post(url, {"version": 1, "visit_date": "yesterday"}).status_code == 400


def test_notice_page_shows_no_personal_data(client_for, cases, world):
    case = cases["mine"]
    hh = world.households["A2"]
    hh.members.filter(relation="head").update(health="serious")
    notice = case.notices.get()
    body = (
        client_for("village")
        .get(reverse("monitoring:notice_print", args=[case.pk, notice.pk]))
        .content.decode()
    )
    assert "李秀英" in body and "南屏村" in body
    for person in hh.members.all():
        assert person.id_number not in body and person.id_number[-6:] not in body
        assert person.phone == "" or person.phone not in body
    assert hh.phone not in body and hh.bank_account not in body and hh.bank_account[-4:] not in body
    for word in ("大病", "重病", "慢性病", "健康", "因病", "残疾", "Serious", "health"):
        assert word not in body, word
    assert hh.household_id not in body


def test_warning_list_filters_and_dispatch(client_for, users, world, warning, screen_run):
    run = screen_run()
    red = warning(world.households["A2"], run=run, level="red", rules=("M-INCOME",))
    orange = warning(world.households["A"], run=run, level="orange", rules=("M-HOUSING",),
                     category="unstable", risk_types=("因安全住房",))  # fmt: skip
    far = warning(world.households["D"], run=run)
    client = client_for("township")
    body = client.get(reverse("monitoring:warnings")).content.decode()
    assert f'data-warning="{red.pk}"' in body and f'data-warning="{orange.pk}"' in body
    assert f'data-warning="{far.pk}"' not in body
    assert body.index(f'data-warning="{red.pk}"') < body.index(f'data-warning="{orange.pk}"')
    for query, shown, hidden in [
        ({"level": "orange"}, orange, red),
        ({"rule": "M-INCOME"}, red, orange),
        ({"category": "unstable"}, orange, red),
        ({"village": "360827101001", "rule": "M-HOUSING"}, orange, red),
        ({"status": "new"}, red, far),
    ]:
        body = client.get(reverse("monitoring:warnings"), query).content.decode()
        assert f'data-warning="{shown.pk}"' in body, query
        assert f'data-warning="{hidden.pk}"' not in body, query
    # htmx asks for the list only
    part = client.get(reverse("monitoring:warnings"), {"level": "red"}, HTTP_HX_REQUEST="true",
                      HTTP_HX_TARGET="warning-list").content.decode()  # fmt: skip
    assert "<html" not in part and f'data-warning="{red.pk}"' in part
    # dispatch two at once
    response = client.post(
        reverse("monitoring:warnings_dispatch"), {"finding": [red.pk, orange.pk]}
    )
    assert response.status_code == 302
    assert Case.objects.filter(source="department_warning").count() == 2
    body = client.get(reverse("monitoring:warnings"), {"status": "undispatched"}).content.decode()
    assert f'data-warning="{red.pk}"' not in body
    # another township's or county's warning cannot be dispatched, nor seen
    assert (
        client.post(reverse("monitoring:warnings_dispatch"), {"finding": [far.pk]}).status_code
        == 404
    )
    assert client.get(reverse("monitoring:warning", args=[far.pk])).status_code == 404
    # village cadres see their village's warnings but do not dispatch
    village = client_for("village")
    assert village.get(reverse("monitoring:warning", args=[red.pk])).status_code == 200
    assert (
        village.post(reverse("monitoring:warnings_dispatch"), {"finding": [red.pk]}).status_code
        == 403
    )
    assert (
        client_for("village_b").get(reverse("monitoring:warning", args=[red.pk])).status_code == 404
    )


def test_record_a_clue_page(client_for, world):
    client = client_for("village")
    url = reverse("monitoring:case_new")
    assert client.get(url).status_code == 200
    response = client.post(url, {
        "household_id": world.households["B"].household_id,  # 大坑村: not this cadre's
        "source": "self_report", "clue_date": timezone.localdate().isoformat(), "note": "申报",
    })  # fmt: skip
    assert response.status_code == 400 and not Case.objects.exists()
    response = client.post(url, {
        "household_id": world.households["A2"].household_id, "source": "self_report",
        "clue_date": timezone.localdate().isoformat(), "note": "户主申报因病支出大",
    })  # fmt: skip
    case = Case.objects.get()
    assert response.status_code == 302 and case.source == "self_report"
    assert client_for("analyst").get(url).status_code == 403


def test_my_work_lists_overdue_first(client_for, users, world):
    today = timezone.localdate()
    fresh = flow.opened(users, world.households["A"], clue_date=today)
    late = flow.opened(users, world.households["A2"], clue_date=today - dt.timedelta(days=20))
    body = client_for("village").get(reverse("monitoring:my_work")).content.decode()
    assert body.index(f'data-case="{late.pk}"') < body.index(f'data-case="{fresh.pk}"')
    assert 'data-testid="overdue"' in body
    assert (
        f'data-case="{late.pk}"'
        not in client_for("village_b").get(reverse("monitoring:my_work")).content.decode()
    )


def test_profile_panel_and_dashboard_contribution(client_for, users, world, rf):
    from safetynet.monitoring import panels

    today = timezone.localdate()
    late = flow.opened(users, world.households["A2"], clue_date=today - dt.timedelta(days=20))
    request = rf.get("/")
    request.user = users["county"]
    ctx = panels.dashboard_context(request)
    assert ctx["overdue_total"] == 1 and ctx["overdue"][0].pk == late.pk
    assert {c["state"]: c["count"] for c in ctx["counts"]} == {"clue": 1}
    request.user = users["county_other"]
    assert panels.dashboard_context(request)["overdue_total"] == 0
    request.user = users["village"]
    ctx = panels.profile_context(request, world.households["A2"])
    assert [c.pk for c in ctx["cases"]] == [late.pk] and ctx["cases"][0].overdue_today
    body = (
        client_for("village")
        .get(reverse("household_profile", args=[world.households["A2"].household_id]))
        .content.decode()
    )
    assert 'data-panel="monitoring-cases"' in body and f'data-case="{late.pk}"' in body
    home = client_for("township").get(reverse("home")).content.decode()
    assert 'data-testid="dashboard-overdue"' in home and f"#{late.pk}" in home


def test_readiness_explains_what_is_missing(client_for, users, world, assessment):
    case = flow.monitored(users, world.households["A2"])  # decided in 2024, nothing delivered yet
    url = reverse("monitoring:case_readiness", args=[case.pk])
    body = client_for("village").get(url).content.decode()
    assert 'data-shortfall="measure"' in body and 'data-shortfall="months"' not in body
    case = flow.with_delivered_measures(users, case)
    assessment.level, assessment.rules = "orange", ["M-HOUSING"]
    body = client_for("county").get(url).content.decode()
    assert 'data-shortfall="rules"' in body and "M-HOUSING" in body
    assessment.level, assessment.rules = None, []
    assert 'data-testid="readiness-ok"' in client_for("county").get(url).content.decode()
    assert client_for("village_b").get(url).status_code == 404


def test_pages_speak_english_on_request(client_for, cases):
    client = client_for("township")
    url = reverse("monitoring:case", args=[cases["mine"].pk])
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Village notice" in body and "Township review" in body
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "村级公示中" in body and "乡镇审核" in body
    form = client.get(
        reverse("monitoring:case_action", args=[cases["mine"].pk, "review"]),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert "Township review" in form
