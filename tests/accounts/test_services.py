"""Accounts: creation rules, audit, demo personas, scopes and the `safetynet users` commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from safetynet.accounts.models import User
from safetynet.accounts.services import create_demo_personas, user_create, user_update
from safetynet.areas.services import area_upsert
from safetynet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from safetynet.core.models import AuditEvent
from tests.web.factories import build_world

PW = "long-enough-1"


@pytest.fixture
def areas(db):
    build_world(with_personas=False)


@pytest.mark.django_db
def test_user_create_binds_role_and_area_and_audits_without_the_password(areas):
    user = user_create(actor=None, username="cadre", password=PW, role="village",
                       area_code="360827101001", display_name="南屏村村干部")  # fmt: skip
    assert user.check_password(PW) and user.scope_code == "360827101001"
    event = AuditEvent.objects.get(object_type="accounts.user", object_id=str(user.pk))
    assert event.action == "create" and event.actor_label.startswith("cli")
    assert event.after["area_id"] == "360827101001" and event.after["role"] == "village"
    assert "password" not in event.after and PW not in str(event.after)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "error", "zh"),
    [
        ({"role": "village", "area_code": "360827"}, ValidationFailed, "必须是村级"),
        ({"role": "county", "area_code": "360827101"}, ValidationFailed, "必须是县级"),
        ({"role": "village", "area_code": "360827999999"}, NotFound, "区划代码不存在"),
        ({"role": "village", "area_code": ""}, ValidationFailed, "必须填写所在区划代码"),
        ({"role": "chief", "area_code": ""}, ValidationFailed, "未知角色"),
        ({"role": "admin", "area_code": "360827"}, ValidationFailed, "不绑定区划"),
        ({"role": "township", "area_code": "360827101", "finance": True}, ValidationFailed, "财务"),
        ({"role": "county", "area_code": "360827", "password": "short"}, ValidationFailed, "密码"),
        (
            {"role": "county", "area_code": "360827", "username": "有 空格"},
            ValidationFailed,
            "用户名",
        ),
    ],
)
def test_bad_accounts_are_refused_with_bilingual_messages(areas, kwargs, error, zh):
    args = {"username": "someone", "password": PW, **kwargs}
    with pytest.raises(error) as exc:
        user_create(actor=None, **args)
    assert zh in exc.value.zh and exc.value.en
    assert not User.objects.exists()
    assert not AuditEvent.objects.filter(object_type="accounts.user").exists()


@pytest.mark.django_db
def test_only_administrators_manage_users_and_names_are_unique(areas):
    county = user_create(actor=None, username="county", password=PW, role="county",
                         area_code="360827")  # fmt: skip
    with pytest.raises(PermissionDenied):
        user_create(actor=county, username="x2", password=PW, role="village",
                    area_code="360827101001")  # fmt: skip
    admin = user_create(actor=None, username="root", password=PW, role="admin", area_code="")
    user_create(actor=admin, username="x2", password=PW, role="village", area_code="360827101001")
    with pytest.raises(Conflict):
        user_create(actor=admin, username="X2", password=PW, role="village",
                    area_code="360827101001")  # fmt: skip


@pytest.mark.django_db
def test_user_update_audits_only_what_changed(areas):
    user = user_create(actor=None, username="u1", password=PW, role="village",
                       area_code="360827101001")  # fmt: skip
    n = AuditEvent.objects.count()
    user_update(actor=None, user=user, role="village", area_code="360827101001")
    assert AuditEvent.objects.count() == n, "an identical update changes nothing"
    user_update(actor=None, user=user, role="township", area_code="360827101")
    event = AuditEvent.objects.filter(action="update", object_type="accounts.user").get()
    assert event.before == {"role": "village", "area_id": "360827101001"}
    assert event.after == {"role": "township", "area_id": "360827101"}


@pytest.mark.django_db
def test_scope_codes_by_role(areas):
    make = lambda name, role, code: user_create(  # noqa: E731
        actor=None, username=name, password=PW, role=role, area_code=code
    )
    assert make("a1", "admin", "").scope_code == ""
    assert make("r1", "region", "").scope_code == ""
    assert make("r2", "region", "36").scope_code == "36"
    assert make("f1", "feed", "").scope_code == "-"
    assert make("t1", "township", "360827101").scope_code == "360827101"
    nobody = User.objects.create(username="n", role="village")
    assert nobody.scope_code == "-"


@pytest.mark.django_db
def test_demo_personas_prefer_suichuan_and_are_idempotent(areas):
    rows = create_demo_personas(password=PW)
    by_name = {r["username"]: r for r in rows}
    assert [r["role"] for r in rows] == [
        "village",
        "township",
        "county",
        "county",
        "region",
        "admin",
    ]
    assert by_name["village"]["area_code"] == "360827101001"
    assert by_name["township"]["area_code"] == "360827101"
    assert by_name["county"]["area_code"] == "360827" and by_name["county"]["area_name"] == "遂川县"
    assert by_name["finance"]["finance"] is True
    assert by_name["analyst"]["area_code"] == "" and by_name["admin"]["area_code"] == ""
    assert all(r["created"] for r in rows)
    events = AuditEvent.objects.count()
    again = create_demo_personas(password=PW)
    assert not any(r["created"] for r in again)
    assert AuditEvent.objects.count() == events, "a second run changes nothing"
    assert User.objects.count() == 6
    create_demo_personas(password="another-password")
    assert User.objects.get(username="village").check_password("another-password")
    assert AuditEvent.objects.filter(action="password_set").count() == 6


@pytest.mark.django_db
def test_demo_personas_use_another_county_when_suichuan_has_no_village(db):
    from safetynet.areas.services import load_reference_counties

    load_reference_counties(actor=None)
    with pytest.raises(NotFound) as exc:
        create_demo_personas(password=PW)
    assert "safetynet demo setup" in exc.value.en
    area_upsert(actor=None, code="360881101", name="茨坪镇", parent_code="360881")
    area_upsert(actor=None, code="360881101001", name="茅坪村", parent_code="360881101")
    rows = create_demo_personas(password=PW)
    assert rows[0]["area_code"] == "360881101001" and rows[2]["area_code"] == "360881"


@pytest.mark.django_db
def test_users_commands(areas):
    from safetynet.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["users", "personas", "--password", PW])
    assert result.exit_code == 0, result.output
    for name in ("village", "township", "county", "finance", "analyst", "admin"):
        assert name in result.output
    assert PW in result.output and "南屏村" in result.output
    result = runner.invoke(
        app, ["users", "create", "cadre9", "--role", "village", "--area", "360827101002",
              "--password", PW, "--name", "大坑村干部"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert User.objects.get(username="cadre9").area_id == "360827101002"
    result = runner.invoke(
        app, ["users", "create", "cadre10", "--role", "village", "--area", "3608", "--password", PW]
    )
    assert isinstance(result.exception, ValidationFailed)  # 3608 is a prefecture
    assert not User.objects.filter(username="cadre10").exists()
    listing = runner.invoke(app, ["users", "list"])
    assert "cadre9" in listing.output
