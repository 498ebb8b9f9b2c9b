"""Set-up and server commands: init, serve, manage."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        quiet: bool = typer.Option(False, "--quiet", "-q", help="少输出 / less output"),
    ) -> None:
        """创建或迁移数据库并载入参考数据（可重复运行）/ Create or migrate the database and load reference data (idempotent)."""
        from safetynet.cli import setup_django

        setup_django()
        from django.conf import settings
        from django.core.management import call_command

        for d in (settings.DATA_DIR, settings.LAKE_DIR, settings.EXPORT_DIR):
            d.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0 if quiet else 1)
        from safetynet.areas.services import load_reference_counties

        n = load_reference_counties(actor=None)
        if not quiet:
            typer.echo(f"数据库已就绪；参考区划 {n} 个 / Database ready; {n} reference areas.")

    @app.command("serve")
    def serve(
        addr: str = typer.Option("127.0.0.1:8000", help="监听地址 / address:port"),
    ) -> None:
        """启动网页服务 / Serve the web application."""
        from safetynet.cli import setup_django

        setup_django()
        from django.core.management import call_command

        call_command("runserver", addr, use_reloader=False)

    @app.command(
        "manage",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def manage(ctx: typer.Context) -> None:
        """运行 Django 管理命令 / Run a Django management command (e.g. `safetynet manage migrate`)."""
        from safetynet.cli import setup_django

        setup_django()
        from django.core.management import execute_from_command_line

        execute_from_command_line(["safetynet manage", *ctx.args])
