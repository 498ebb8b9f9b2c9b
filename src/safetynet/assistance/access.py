"""Who may do what, in one place (role and area scope), for services and views alike."""

from __future__ import annotations

from safetynet.areas.scope import in_scope, scoped
from safetynet.core.errors import NotFound, PermissionDenied

STAFF_ROLES = {"village", "township", "county", "admin"}
TOWNSHIP_UP = {"township", "county", "admin"}
COUNTY_UP = {"county", "admin"}

ROLE_WORDS = {
    "village": ("村干部", "village cadre"),
    "township": ("乡镇干部", "township officer"),
    "county": ("县级干部", "county officer"),
    "admin": ("管理员", "administrator"),
}


def is_user(actor) -> bool:
    return getattr(actor, "pk", None) is not None


def require_user(actor, what_zh: str, what_en: str) -> None:
    if not is_user(actor):
        raise PermissionDenied(
            f"{what_zh}需要以具名用户操作（命令行请加 --user）",
            f"{what_en} needs a named user (on the command line pass --user)",
        )


def role_of(actor) -> str:
    if getattr(actor, "is_superuser", False):
        return "admin"
    return getattr(actor, "role", "")


def require_role(actor, roles: set[str], what_zh: str, what_en: str) -> None:
    """Commands run without a user (actor None) are the operator's and pass."""
    if actor is None:
        return
    if role_of(actor) not in roles:
        zh = "、".join(ROLE_WORDS[r][0] for r in sorted(roles) if r in ROLE_WORDS)
        en = ", ".join(ROLE_WORDS[r][1] for r in sorted(roles) if r in ROLE_WORDS)
        raise PermissionDenied(f"{what_zh}须由{zh}办理", f"{what_en} needs a {en}")


def require_scope(actor, area_code: str) -> None:
    if actor is None:
        return
    if not in_scope(actor, area_code):
        raise PermissionDenied(
            f"无权操作辖区外的数据（{area_code}）", f"area {area_code} is outside your scope"
        )


def get_scoped(actor, qs, *, what_zh: str, what_en: str, **lookup):
    """One object through the user's scope; NotFound (bilingual) when missing or out of scope."""
    if actor is not None:
        qs = scoped(actor, qs)
    obj = qs.filter(**lookup).first()
    if obj is None:
        raise NotFound(f"未找到{what_zh}：{lookup}", f"{what_en} not found: {lookup}")
    return obj
