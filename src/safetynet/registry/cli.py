"""Commands: `safetynet id validate`, `safetynet import registry`, `safetynet export registry`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer


def _progress():
    """A rich progress bar fed by the importer's (stage, done, total) callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    )
    tasks: dict[str, int] = {}
    labels = {
        "check": "检查 / checking",
        "households": "户 / households",
        "persons": "人员 / persons",
        "incomes": "收入 / incomes",
    }

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(labels.get(stage, stage), total=max(total, 1))
        bar.update(tasks[stage], completed=done, total=max(total, 1))

    return bar, update


def print_result(result, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    names = {"areas": "区划", "households": "户", "persons": "人员", "incomes": "收入"}
    for kind, c in result.counts.items():
        typer.echo(
            f"{names.get(kind, kind)} / {kind}: 新增 created {c.created}, 更新 updated {c.updated}, "
            f"未变 unchanged {c.unchanged}, 跳过 skipped {c.skipped}"
        )
    if result.errors:
        typer.echo(
            f"错误 {result.errors} 处（{result.error_rows} 行）/ {result.errors} errors in {result.error_rows} rows"
        )
        for line in result.first_errors:
            typer.echo(f"  {line}")
    for path in result.report_paths:
        typer.echo(f"错误报告 / error report: {path}")


def register(app: typer.Typer) -> None:
    id_app = typer.Typer(help="身份证号 / identity numbers (GB 11643)", no_args_is_help=True)
    import_app = typer.Typer(help="导入数据 / import data", no_args_is_help=True)
    export_app = typer.Typer(help="导出数据 / export data", no_args_is_help=True)
    app.add_typer(id_app, name="id")
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")

    @id_app.command("validate")
    def id_validate(
        numbers: Annotated[
            list[str],
            typer.Argument(help="身份证号，“-”表示从标准输入读取 / ID numbers; '-' reads stdin"),
        ],
    ) -> None:
        """校验身份证号，每个号码输出一行JSON / Check ID numbers, one JSON object per line."""
        from safetynet.core.idnumber import validate

        def each():
            for number in numbers:
                if number == "-":
                    for line in sys.stdin:
                        if line.strip():
                            yield line.strip()
                else:
                    yield number

        for number in each():
            typer.echo(json.dumps(validate(number).as_json(), ensure_ascii=False))

    @import_app.command("registry")
    def import_registry_cmd(
        files: Annotated[
            list[Path],
            typer.Argument(
                help="households.csv、persons.csv、incomes.csv 或一个 .xlsx / CSV files or one .xlsx"
            ),
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
        """导入户、人员、收入（全部成功或全部不导入）/ Import households, persons, incomes (all or nothing)."""
        from safetynet.cli import setup_django

        setup_django()
        from safetynet.registry.importer import import_registry
        from safetynet.registry.tabular import ImportRejected

        bar, update = _progress()
        try:
            with bar:
                result = import_registry(
                    files, actor=None, valid_only=valid_only, report_dir=report_dir, progress=update
                )
        except ImportRejected as exc:
            print_result(exc.result, as_json)
            raise
        print_result(result, as_json)

    @export_app.command("registry")
    def export_registry_cmd(
        out_dir: Annotated[Path, typer.Argument(help="输出目录 / output folder")],
        area: Annotated[
            str | None, typer.Option("--area", help="只导出此区划 / only this area code")
        ] = None,
        xlsx: Annotated[
            bool, typer.Option("--xlsx", help="导出为一个xlsx工作簿 / one xlsx workbook")
        ] = False,
        chinese: Annotated[
            bool, typer.Option("--chinese", help="中文表头和取值 / Chinese headers and labels")
        ] = False,
    ) -> None:
        """导出户、人员、收入（导入格式，含个人信息，记审计）/ Export the registry in the import format (audited)."""
        from safetynet.cli import setup_django

        setup_django()
        from safetynet.registry.exporter import export_registry

        for path in export_registry(out_dir, actor=None, area=area, xlsx=xlsx, chinese=chinese):
            typer.echo(f"已导出 / written: {path}")
