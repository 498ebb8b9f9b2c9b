"""The `safetynet` command. Each bounded context adds its own sub-commands through `register`."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from safetynet.core.errors import SafetyNetError

app = typer.Typer(
    help="SafetyNet 防返贫监测与社会救助系统 / poverty-prevention monitoring and social assistance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that add commands: each defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES = [
    "safetynet.core.cli",
    "safetynet.areas.cli",
    "safetynet.registry.cli",
    "safetynet.demo.cli",
    "safetynet.policy.cli",
    "safetynet.engine.cli",
    "safetynet.screening.cli",
    "safetynet.feeds.cli",
    "safetynet.monitoring.cli",
    "safetynet.assistance.cli",
    "safetynet.quality.cli",
    "safetynet.reports.cli",
    "safetynet.web.cli",
]


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    import django

    django.setup()


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    try:
        app()
    except SafetyNetError as exc:
        typer.secho(f"错误：{exc.zh}\nError: {exc.en}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
