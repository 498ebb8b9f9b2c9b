"""Scope: every route that touches a household answers only inside the user's area.

The named personas of tests/web/factories.py try every household by every route; a household
outside the area must look exactly like one that does not exist (404, or absent from results).
"""

from __future__ import annotations

import pytest

from safetynet.accounts.services import user_create
from tests.web.factories import HOUSEHOLDS, PASSWORD

ALL = set(HOUSEHOLDS)
VISIBLE = {
    "village": {"A", "A2"},
    "village_b": {"B"},
    "township": {"A", "A2", "B"},
    "county": {"A", "A2", "B", "C"},
    "finance": {"A", "A2", "B", "C"},
    "county_other": {"D"},
    "analyst": ALL,
    "admin": ALL,
}


def _hid(key: str) -> str:
    return HOUSEHOLDS[key][0]


@pytest.mark.django_db
@pytest.mark.parametrize("username", sorted(VISIBLE))
def test_profile_assess_and_reveal_answer_404_outside_the_area(
    world, client_for, username, monkeypatch
):
    from safetynet.web import views

    # The scope check comes before the engine; a stand-in keeps this test about scope.
    monkeypatch.setattr(views, "_assess_function", lambda: lambda hid, *, as_of, request: {})
    client = client_for(username)
    for key in sorted(ALL):
        hid = _hid(key)
        inside = key in VISIBLE[username]
        profile = client.get(f"/households/{hid}/")
        assert profile.status_code == (200 if inside else 404), (username, key)
        assess = client.post(f"/households/{hid}/assess/")
        assert assess.status_code == (200 if inside else 404), (username, key)
        reveal = client.post(f"/households/{hid}/reveal/", {"field": "phone"})
        if inside:
            assert reveal.status_code in (200, 403), (username, key)
        else:
            assert reveal.status_code == 404, (username, key)


@pytest.mark.django_db
@pytest.mark.parametrize("username", sorted(VISIBLE))
def test_search_and_export_never_list_households_outside_the_area(world, client_for, username):
    client = client_for(username)
    for key in sorted(ALL):
        hid = _hid(key)
        head = world.persons[key]
        inside = key in VISIBLE[username]
        for q in (hid, head.id_number, head.name):
            page = client.get("/households/", {"q": q})
            assert page.status_code == 200
            marker = f'data-household="{hid}"'
            assert (marker in page.content.decode()) == inside, (username, key, q)
            partial = client.get("/households/", {"q": q}, HTTP_HX_REQUEST="true")
            assert (marker in partial.content.decode()) == inside, (username, key, q)
        export = client.get("/households/export.csv", {"q": hid})
        assert export.status_code == 200
        body = b"".join(export.streaming_content).decode("utf-8")
        assert (hid in body) == inside, (username, key)
    listing = client.get("/households/").content.decode()
    assert {k for k in ALL if f'data-household="{_hid(k)}"' in listing} == VISIBLE[username]


@pytest.mark.django_db
def test_a_cadre_cannot_reach_another_villages_member_through_their_own_household(
    world, client_for
):
    client = client_for("village")
    other = world.persons["B"]
    response = client.post(
        f"/households/{_hid('A')}/reveal/", {"field": "phone", "person": str(other.pk)}
    )
    assert response.status_code == 404
    from safetynet.core.models import AuditEvent

    assert not AuditEvent.objects.filter(action="reveal").exists()


@pytest.mark.django_db
def test_a_department_feed_account_sees_no_household(world):
    from django.test import Client

    user_create(actor=None, username="medical", password=PASSWORD, role="feed", area_code="")
    client = Client()
    client.login(username="medical", password=PASSWORD)
    for key in sorted(ALL):
        assert client.get(f"/households/{_hid(key)}/").status_code == 404
    page = client.get("/").content.decode()
    assert 'data-stat="households">0<' in page


@pytest.mark.django_db
def test_dashboard_counts_only_the_users_area(world, client_for):
    village = client_for("village").get("/").content.decode()
    assert 'data-stat="households">2<' in village
    assert 'data-stat="persons">4<' in village
    county = client_for("county").get("/").content.decode()
    assert 'data-stat="households">4<' in county
    analyst = client_for("analyst").get("/").content.decode()
    assert 'data-stat="households">5<' in analyst
