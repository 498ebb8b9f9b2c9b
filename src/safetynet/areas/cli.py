"""Commands: `safetynet areas import FILE`, `safetynet areas former CODE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    areas_app = typer.Typer(help="行政区划 / administrative divisions", no_args_is_help=True)
    app.add_typer(areas_app, name="areas")

    @areas_app.command("import")
    def import_cmd(
        file: Annotated[
            Path, typer.Argument(help="区划文件（CSV或xlsx）/ area file (CSV or xlsx)")
        ],
        valid_only: Annotated[
            bool, typer.Option("--valid-only", help="只导入无错误的行 / import the valid rows only")
        ] = False,
        report_dir: Annotated[
            Path | None,
            typer.Option(
                "--report-dir", help="错误报告目录（默认在输入文件旁）/ where error reports go"
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="以JSON输出结果 / print the result as JSON")
        ] = False,
    ) -> None:
        """导入区划树（全部成功或全部不导入，可重复）/ Import the area tree (all or nothing, idempotent)."""
        from safetynet.cli import setup_django

        setup_django()
        from safetynet.areas.importer import import_areas
        from safetynet.registry.cli import print_result
        from safetynet.registry.tabular import ImportRejected

        try:
            result = import_areas(file, actor=None, valid_only=valid_only, report_dir=report_dir)
        except ImportRejected as exc:
            print_result(exc.result, as_json)
            raise
        print_result(result, as_json)

    @areas_app.command("former")
    def former_cmd(
        codes: Annotated[list[str], typer.Argument(help="6位县级代码 / 6-digit county codes")],
    ) -> None:
        """列出县级代码在GB/T 2260中的曾用代码 / List the earlier GB/T 2260 codes of counties."""
        from safetynet.core import gbt2260

        for code in codes:
            former = gbt2260.former_codes(code)
            names = ", ".join(f"{c} {gbt2260.area_name(c) or '?'}" for c in former)
            typer.echo(f"{code} {gbt2260.area_name(code) or '?'}: {names or '-'}")
