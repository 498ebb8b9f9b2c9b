"""Commands: `safetynet demo generate`, `safetynet demo setup`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

STEP_LABELS = {
    "areas": "区划树 / area tree",
    "population": "户和人员 / households and persons",
    "incomes": "收入 / incomes",
    "registry files": "登记文件 / registry files",
    "feeds/ground_truth": "比对答案 / ground truth",
    "import:areas": "导入区划 / importing areas",
    "import:check": "检查登记数据 / checking the registry files",
    "import:households": "导入户 / importing households",
    "import:persons": "导入人员 / importing persons",
    "import:incomes": "导入收入 / importing incomes",
}


def _progress():
    """A rich progress display fed by (step, done, total) callbacks: one bar for the whole
    generation, one per importer stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from safetynet.demo.generator import STEPS

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    tasks: dict[str, int] = {}
    generating = set(STEPS)

    def update(step: str, done: int, total: int) -> None:
        if step in generating:
            key = "generate"
            what = STEP_LABELS.get(step) or "部门数据 / feeds: " + step.removeprefix("feeds/")
            label = f"生成 / generating — {what}"
        else:
            key = step
            label = STEP_LABELS.get(step, step)
        if key not in tasks:
            tasks[key] = bar.add_task(label, total=max(total, 1))
        bar.update(tasks[key], completed=done, total=max(total, 1), description=label)

    return bar, update


def _default_out() -> Path:
    return Path(os.environ.get("SAFETYNET_DATA_DIR", "var")).resolve() / "demo"


def register(app: typer.Typer) -> None:
    demo_app = typer.Typer(help="演示数据 / demo data", no_args_is_help=True)
    app.add_typer(demo_app, name="demo")

    @demo_app.command("generate")
    def generate_cmd(
        households: int = typer.Option(..., "--households", help="户数 / number of households"),
        seed: int = typer.Option(
            ..., "--seed", help="随机种子（相同种子生成相同文件）/ seed (same seed, same files)"
        ),
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                help="输出目录（默认 $SAFETYNET_DATA_DIR/demo）/ output folder (default $SAFETYNET_DATA_DIR/demo)",
            ),
        ] = None,
        no_feeds: bool = typer.Option(
            False, "--no-feeds", help="不生成部门数据 / registry files only"
        ),
        file_format: str = typer.Option(
            "csv", "--format", help="文件格式 csv 或 parquet / file format: csv or parquet"
        ),
        feeds_per_person: float = typer.Option(
            None,
            "--feeds-per-person",
            help="每人至少多少条部门记录（基准测试用）/ at least this many feed records per person (benchmarks)",
        ),
    ) -> None:
        """生成合成演示地区：区划、户、人员、收入和部门数据 / Generate a synthetic demo region: areas, registry and department feeds."""
        from safetynet.demo.generator import generate_region

        out_dir = out or _default_out()
        bar, update = _progress()
        with bar:
            result = generate_region(
                households=households,
                seed=seed,
                out_dir=out_dir,
                feeds=not no_feeds,
                feeds_per_person=feeds_per_person,
                progress=update,
                file_format=file_format.lower(),
            )
        feeds = result.get("feeds", {})
        typer.echo(
            f"已生成 {result['households']:,} 户、{result['persons']:,} 人、{result['villages']:,} 个村"
            + (f"、部门记录 {sum(feeds.values()):,} 条" if feeds else "")
            + f"，用时 {result['seconds']} 秒 → {out_dir}\n"
            f"Generated {result['households']:,} households, {result['persons']:,} persons, "
            f"{result['villages']:,} villages"
            + (f", {sum(feeds.values()):,} feed records" if feeds else "")
            + f" in {result['seconds']} s → {out_dir}"
        )

    @demo_app.command("setup")
    def setup_cmd(
        households: int = typer.Option(..., "--households", help="户数 / number of households"),
        seed: int = typer.Option(..., "--seed", help="随机种子 / seed"),
    ) -> None:
        """生成演示数据到数据目录并导入区划和登记（可重复运行）/ Generate the demo into the data folder and import areas and registry (idempotent)."""
        from safetynet.cli import setup_django

        setup_django()
        from safetynet.demo.services import demo_setup

        bar, update = _progress()
        with bar:
            result = demo_setup(households=households, seed=seed, progress=update)
        zh = {
            "generate": "已生成文件",
            "generate (already there)": "文件已存在，未重新生成",
            "import areas": "已导入区划",
            "import registry": "已导入户、人员、收入",
            "import (already done)": "数据库中已有此演示数据，未重新导入",
            "load feeds": "已载入并比对部门数据",
            "load feeds (already done)": "部门数据此前已载入，未做更改",
            "personas": "演示账号已就绪",
            "screen": "已完成全域筛查",
            "screen (already done)": "此前已筛查，未重新筛查",
        }
        for step in result.steps:
            typer.echo(f"{zh.get(step, step)} / {step}")
        typer.echo(f"演示数据目录 / demo folder: {result.out_dir}")
        if "screen" in result.counts:
            typer.echo(f"筛查结果 / screen: {result.counts['screen']}")
        if result.personas:
            from safetynet.demo.services import DEMO_PASSWORD

            typer.echo(
                f"\n演示账号（密码均为 {DEMO_PASSWORD}）/ Demo logins (password {DEMO_PASSWORD}):"
            )
            for p in result.personas:
                typer.echo(
                    f"  {p['username']:<20} {p['role_label']} · {p['area_name']} ({p['area_code']})"
                )
            typer.echo("网址 / URL: http://127.0.0.1:8000/")
