"""`safetynet rectification ...`: data-quality rectification from the command line."""

from __future__ import annotations

import typer

rect_app = typer.Typer(
    help="数据质量问题整改 / Data-quality rectification.",
    no_args_is_help=True,
    add_completion=False,
)


@rect_app.command("verify")
def verify(
    run: int = typer.Option(..., "--run", help="筛查批次编号 / screening run id"),
) -> None:
    """用一次筛查结果复核整改：已解除的销号，仍存在的重新打开 / Verify rectifications against a run."""
    from safetynet.cli import setup_django

    setup_django()
    from safetynet.core.errors import NotFound
    from safetynet.quality.services import rectifications_verify
    from safetynet.screening.models import ScreenRun

    screen = ScreenRun.objects.filter(pk=run).first()
    if screen is None:
        raise NotFound(f"筛查批次 {run} 不存在", f"no screening run {run}")
    result = rectifications_verify(run=screen)
    typer.echo(
        f"销号 {result['verified']} 条，重新打开 {result['reopened']} 条 / "
        f"{result['verified']} verified, {result['reopened']} reopened."
    )


@rect_app.command("summary")
def summary(
    area: str = typer.Option("", "--area", help="区划代码前缀 / area code prefix"),
) -> None:
    """按检查项和整改状态统计 / Count quality findings by check and rectification state."""
    from safetynet.cli import setup_django

    setup_django()
    from django.db.models import Count
    from rich.console import Console
    from rich.table import Table

    from safetynet.screening.models import Finding

    qs = Finding.objects.filter(kind="quality")
    if area:
        qs = qs.filter(village_code__startswith=area)
    rows = (
        qs.values("check_id", "state", "rectification__state")
        .annotate(n=Count("id"))
        .order_by("check_id", "state", "rectification__state")
    )
    table = Table(title=f"数据质量问题 / Quality findings {area or '全部 all'}")
    for col in ("检查 check", "问题 finding", "整改 rectification", "数量 count"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            row["check_id"],
            row["state"],
            row["rectification__state"] or "unassigned",
            str(row["n"]),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(rect_app, name="rectification")
