"""`safetynet users ...`: staff accounts and the demo personas."""

from __future__ import annotations

import typer

users_app = typer.Typer(
    help="用户与演示账号 / Users and demo personas.", no_args_is_help=True, add_completion=False
)

DEFAULT_DEMO_PASSWORD = "safetynet-demo"


def _print_logins(rows: list[dict], password: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"演示账号 / Demo logins — 密码 password: {password}")
    for col in ("用户名 username", "角色 role", "区划 area"):
        table.add_column(col)
    for row in rows:
        role = row["role_label"] + (" · 财务 finance" if row["finance"] else "")
        area = f"{row['area_name']} {row['area_code']}".strip() or "全部 / all"
        table.add_row(row["username"], role, area)
    Console().print(table)


@users_app.command("create")
def create(
    username: str = typer.Argument(..., help="用户名 / user name"),
    role: str = typer.Option(
        ..., "--role", help="角色 village/township/county/region/feed/admin / role"
    ),
    area: str = typer.Option("", "--area", help="区划代码 / area code (empty for admin/feed)"),
    password: str = typer.Option(
        ...,
        "--password",
        prompt="密码 / password",
        hide_input=True,
        confirmation_prompt=True,
        help="密码（至少 8 位）/ password (8 characters or more)",
    ),
    finance: bool = typer.Option(
        False, "--finance", help="可查看银行账号并导出发放文件（县级）/ finance right (county)"
    ),
    display_name: str = typer.Option("", "--name", help="显示名称 / display name"),
) -> None:
    """创建用户 / Create a user."""
    from safetynet.cli import setup_django

    setup_django()
    from safetynet.accounts.services import user_create

    user = user_create(
        actor=None,
        username=username,
        password=password,
        role=role,
        area_code=area,
        finance=finance,
        display_name=display_name,
    )
    typer.echo(
        f"已创建用户 {user.username}（{user.role} {user.area_id or '-'}）/ "
        f"Created user {user.username} ({user.role} {user.area_id or '-'})"
    )


@users_app.command("personas")
def personas(
    password: str = typer.Option(
        DEFAULT_DEMO_PASSWORD, "--password", help="演示账号的密码 / password for the demo logins"
    ),
) -> None:
    """创建或更新每个角色的演示账号并打印登录信息 / Create or refresh one demo login per role and print them."""
    from safetynet.cli import setup_django

    setup_django()
    from safetynet.accounts.services import create_demo_personas

    rows = create_demo_personas(password=password)
    _print_logins(rows, password)


@users_app.command("list")
def list_users() -> None:
    """列出用户 / List users."""
    from safetynet.cli import setup_django

    setup_django()
    from rich.console import Console
    from rich.table import Table

    from safetynet.accounts.models import User

    table = Table()
    for col in ("用户名 username", "角色 role", "区划 area", "财务 finance", "启用 active"):
        table.add_column(col)
    for user in User.objects.select_related("area").order_by("username"):
        area = f"{user.area.name} {user.area_id}" if user.area else "-"
        table.add_row(
            user.username,
            user.role,
            area,
            "Y" if user.finance else "",
            "Y" if user.is_active else "N",
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
