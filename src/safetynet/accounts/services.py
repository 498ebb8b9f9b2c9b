"""Writes to user accounts: creation, changes, passwords and the demo personas.

Every function is keyword-only, takes the acting user (``None`` for the command line), runs in
one transaction and writes an audit row. Passwords never reach the audit log.
"""

from __future__ import annotations

import re

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from safetynet.areas.models import Area
from safetynet.core import audit
from safetynet.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .models import User

# The area level each role must sit at (None: no area, or any area for the regional analyst).
ROLE_AREA_LEVEL: dict[str, int | None] = {
    User.Role.VILLAGE: Area.Level.VILLAGE,
    User.Role.TOWNSHIP: Area.Level.TOWNSHIP,
    User.Role.COUNTY: Area.Level.COUNTY,
}
ROLE_ZH = {
    "village": "村干部",
    "township": "乡镇干部",
    "county": "县级干部",
    "region": "片区分析员",
    "feed": "部门数据账号",
    "admin": "系统管理员",
}
LEVEL_ZH = {1: "省", 2: "市", 3: "县", 4: "乡镇", 5: "村"}
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@+-]{2,150}$")
AUDITED_FIELDS = ["username", "role", "area_id", "finance", "display_name", "is_active"]


def _check_actor(actor) -> None:
    """Only administrators (or the command line, actor=None) manage accounts."""
    if actor is None:
        return
    if getattr(actor, "is_superuser", False) or getattr(actor, "role", None) == User.Role.ADMIN:
        return
    raise PermissionDenied("只有系统管理员可以管理用户", "Only administrators may manage users")


def _resolve_area(role: str, area_code: str | None) -> Area | None:
    if role not in User.Role.values:
        raise ValidationFailed(
            f"未知角色：{role}（可选：{'、'.join(User.Role.values)}）",
            f"Unknown role: {role} (choose from {', '.join(User.Role.values)})",
        )
    code = (area_code or "").strip()
    if role in (User.Role.ADMIN, User.Role.FEED):
        if code:
            raise ValidationFailed(
                f"{ROLE_ZH[role]}不绑定区划，请不要填写区划代码",
                f"The {role} role has no area; leave the area code empty",
            )
        return None
    if not code:
        if role == User.Role.REGION:
            return None  # the whole deployment
        raise ValidationFailed(
            f"{ROLE_ZH[role]}必须填写所在区划代码", f"The {role} role needs an area code"
        )
    area = Area.objects.filter(code=code).first()
    if area is None:
        raise NotFound(f"区划代码不存在：{code}", f"No such area code: {code}")
    level = ROLE_AREA_LEVEL.get(role)
    if level is not None and area.level != level:
        raise ValidationFailed(
            f"{ROLE_ZH[role]}的区划必须是{LEVEL_ZH[level]}级：{code}",
            f"A {role} user must sit at a {Area.Level(level).name.lower()} code: {code}",
        )
    return area


def _check_finance(role: str, finance: bool) -> None:
    if finance and role != User.Role.COUNTY:
        raise ValidationFailed(
            "只有县级干部可以拥有财务（银行账号）权限",
            "Only county officers may hold the finance (bank account) right",
        )


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationFailed(
            "密码不符合要求：" + "；".join(exc.messages),
            "The password is not acceptable: " + "; ".join(exc.messages),
        ) from exc


@transaction.atomic
def user_create(
    *,
    actor,
    username: str,
    password: str,
    role: str,
    area_code: str | None,
    finance: bool = False,
    display_name: str = "",
) -> User:
    """Create a staff account bound to a role and an area (its scope)."""
    _check_actor(actor)
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed(
            f"用户名只能包含字母、数字和 _.@+-，长度 2–150：{username!r}",
            f"A user name has 2-150 letters, digits or _.@+-: {username!r}",
        )
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"用户名已存在：{username}", f"User name already taken: {username}")
    area = _resolve_area(role, area_code)
    _check_finance(role, finance)
    _check_password(password)
    user = User(
        username=username,
        role=role,
        area=area,
        finance=finance,
        display_name=(display_name or "").strip()[:60],
    )
    user.set_password(password)
    user.save()
    audit.record(
        actor=actor,
        action="create",
        obj=user,
        area_code=user.area_id or "",
        after=audit.snapshot(user, AUDITED_FIELDS),
    )
    return user


@transaction.atomic
def user_update(
    *,
    actor,
    user: User,
    role: str,
    area_code: str | None,
    finance: bool = False,
    display_name: str = "",
    is_active: bool = True,
) -> User:
    """Change a user's role, area, finance right, name or active flag."""
    _check_actor(actor)
    if actor is not None and actor.pk == user.pk and not is_active:
        raise ValidationFailed("不能停用自己的账号", "You cannot deactivate your own account")
    area = _resolve_area(role, area_code)
    _check_finance(role, finance)
    before = audit.snapshot(user, AUDITED_FIELDS)
    user.role = role
    user.area = area
    user.finance = finance
    user.display_name = (display_name or "").strip()[:60]
    user.is_active = is_active
    after = audit.snapshot(user, AUDITED_FIELDS)
    if before == after:
        return user
    user.save()
    changed_before, changed_after = audit.diff(before, after)
    audit.record(
        actor=actor,
        action="update",
        obj=user,
        area_code=user.area_id or "",
        before=changed_before,
        after=changed_after,
    )
    return user


@transaction.atomic
def user_set_password(*, actor, user: User, password: str) -> None:
    """Set a new password (audited without the password itself)."""
    if actor is None or actor.pk != user.pk:
        _check_actor(actor)
    _check_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(actor=actor, action="password_set", obj=user, area_code=user.area_id or "")


def _demo_areas() -> tuple[Area, Area, Area]:
    """The demo county (遂川县 360827 when it has villages), and its first township and village."""
    villages = Area.objects.filter(level=Area.Level.VILLAGE)
    preferred = villages.filter(code__startswith="360827")
    pool = preferred if preferred.exists() else villages
    with_households = pool.filter(households__isnull=False).order_by("code").first()
    village = with_households or pool.order_by("code").first()
    if village is None:
        raise NotFound(
            "数据库中没有村级区划；请先运行 safetynet demo setup 或导入区划",
            "No village areas in the database; run `safetynet demo setup` or import areas first",
        )
    township = Area.objects.filter(code=village.code[:9]).first()
    county = Area.objects.filter(code=village.code[:6]).first()
    if township is None or county is None:
        raise NotFound(
            f"村 {village.code} 缺少上级乡镇或县级区划",
            f"Village {village.code} has no township or county above it",
        )
    return county, township, village


def demo_persona_specs(county: Area, township: Area, village: Area) -> list[dict]:
    return [
        {"username": "village", "role": "village", "area": village, "finance": False,
         "display_name": f"{village.name}村干部"},
        {"username": "township", "role": "township", "area": township, "finance": False,
         "display_name": f"{township.name}干部"},
        {"username": "county", "role": "county", "area": county, "finance": False,
         "display_name": f"{county.name}民政干部"},
        {"username": "finance", "role": "county", "area": county, "finance": True,
         "display_name": f"{county.name}财务"},
        {"username": "analyst", "role": "region", "area": None, "finance": False,
         "display_name": "片区分析员"},
        {"username": "admin", "role": "admin", "area": None, "finance": False,
         "display_name": "系统管理员"},
    ]  # fmt: skip


@transaction.atomic
def create_demo_personas(*, password: str, actor=None) -> list[dict]:
    """Create (or bring back in line) one demo account per role, idempotently.

    Returns one dict per persona: username, role, role_label, area_code, area_name, finance,
    created (False when the account already existed).
    """
    _check_actor(actor)
    _check_password(password)
    county, township, village = _demo_areas()
    result = []
    for spec in demo_persona_specs(county, township, village):
        area = spec["area"]
        area_code = area.code if area else ""
        user = User.objects.filter(username=spec["username"]).first()
        created = user is None
        if created:
            user = user_create(
                actor=actor,
                username=spec["username"],
                password=password,
                role=spec["role"],
                area_code=area_code,
                finance=spec["finance"],
                display_name=spec["display_name"],
            )
        else:
            user_update(
                actor=actor,
                user=user,
                role=spec["role"],
                area_code=area_code,
                finance=spec["finance"],
                display_name=spec["display_name"],
                is_active=True,
            )
            if not user.check_password(password):
                user_set_password(actor=actor, user=user, password=password)
        result.append(
            {
                "username": user.username,
                "role": user.role,
                "role_label": str(user.get_role_display()),
                "area_code": area_code,
                "area_name": area.name if area else "",
                "finance": user.finance,
                "created": created,
            }
        )
    return result
