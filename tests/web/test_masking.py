"""Masked by default; revealing one field is a role-checked, scoped, audited action."""

from __future__ import annotations

import pytest

from safetynet.core.models import AuditEvent
from tests.web.factories import HOUSEHOLDS

HID_A = HOUSEHOLDS["A"][0]

# (username, field, on person?) -> allowed
MATRIX = {
    "village": {"phone"},
    "township": {"phone", "health"},
    "county": {"phone", "health", "id_number"},
    "finance": {"phone", "health", "id_number", "bank_account"},
    "analyst": set(),
    "admin": set(),
}
CASES = [("id_number", True), ("phone", True), ("health", True), ("phone", False),
         ("bank_account", False)]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("username", sorted(MATRIX))
def test_who_may_reveal_what(world, client_for, username):
    client = client_for(username)
    head = world.persons["A"]
    hh = world.households["A"]
    for field, on_person in CASES:
        data = {"field": field}
        if on_person:
            data["person"] = str(head.pk)
        before = AuditEvent.objects.filter(action="reveal").count()
        response = client.post(f"/households/{HID_A}/reveal/", data)
        allowed = field in MATRIX[username]
        assert response.status_code == (200 if allowed else 403), (username, field)
        after = AuditEvent.objects.filter(action="reveal").count()
        assert after == before + (1 if allowed else 0), (username, field)
        if allowed:
            body = response.content.decode()
            expected = {
                "id_number": head.id_number,
                "phone": head.phone if on_person else hh.phone,
                "health": "长期慢性病",
                "bank_account": hh.bank_account,
            }[field]
            assert expected in body
            event = AuditEvent.objects.filter(action="reveal").first()
            assert event.actor_label == username
            assert event.object_type == ("registry.person" if on_person else "registry.household")
            assert event.area_code == hh.village_id
            assert event.after == {"field": field, "household_id": HID_A}
            assert expected not in (event.note + str(event.after) + str(event.before))


@pytest.mark.django_db
def test_reveal_buttons_only_for_allowed_fields(world, client_for):
    village = client_for("village").get(f"/households/{HID_A}/").content.decode()
    assert 'data-testid="reveal-phone"' in village
    assert 'data-testid="reveal-id_number"' not in village
    assert 'data-testid="reveal-bank_account"' not in village
    finance = client_for("finance").get(f"/households/{HID_A}/").content.decode()
    assert 'data-testid="reveal-bank_account"' in finance
    assert 'data-testid="reveal-id_number"' in finance


@pytest.mark.django_db
def test_bad_reveal_requests_change_nothing(world, client_for):
    client = client_for("county")
    head = world.persons["A"]
    cases = [
        {"field": "name", "person": str(head.pk)},  # not a revealable field
        {"field": "id_number"},  # a person field asked of the household
        {"field": "bank_account", "person": str(head.pk)},  # a household field of a person
    ]
    for data in cases:
        response = client.post(f"/households/{HID_A}/reveal/", data)
        assert response.status_code == 400, data
        assert "不能查看该字段" in response.content.decode()
    assert (
        client.post(f"/households/{HID_A}/reveal/", {"field": "phone", "person": "x"}).status_code
        == 404
    )
    assert (
        client.post(
            f"/households/{HID_A}/reveal/", {"field": "phone", "person": "999999"}
        ).status_code
        == 404
    )
    assert client.get(f"/households/{HID_A}/reveal/").status_code == 405
    assert not AuditEvent.objects.filter(action="reveal").exists()


@pytest.mark.django_db
def test_inactive_user_is_signed_out_and_reveals_nothing(world, client_for):
    client = client_for("county")
    user = world.users["county"]
    user.is_active = False
    user.save()
    response = client.post(f"/households/{HID_A}/reveal/", {"field": "phone"})
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="reveal").exists()
