"""`safetynet cases ...`: monitoring case work from the command line (reports and the screen's
hand-over); the case transitions themselves are made by people, in the browser."""

from __future__ import annotations

import datetime as dt

import typer

cases_app = typer.Typer(
    help="监测帮扶案件 / Monitoring cases.", no_args_is_help=True, add_completion=False
)


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        from safetynet.core.errors import ValidationFailed

        raise ValidationFailed(f"日期无效：{value}", f"not a date (YYYY-MM-DD): {value}") from exc


def _everyone():
    """An unrestricted reader for command-line reports (the operator runs the deployment)."""
    from types import SimpleNamespace

    return SimpleNamespace(scope_code="", role="admin", is_authenticated=True)


def _scoped(qs, area: str):
    return qs.filter(household__village__code__startswith=area) if area else qs


@cases_app.command("summary")
def summary(
    area: str = typer.Option("", "--area", help="区划代码前缀 / area code prefix"),
    as_of: str = typer.Option(
        "", "--as-of", help="日期 YYYY-MM-DD（默认今天）/ date (default today)"
    ),
) -> None:
    """按状态统计案件并列出超期案件 / Count cases by state and list overdue ones."""
    from safetynet.cli import setup_django

    setup_django()
    from django.db.models import Count
    from django.utils import timezone
    from rich.console import Console
    from rich.table import Table

    from safetynet.monitoring import selectors, vocab
    from safetynet.monitoring.models import Case

    today = _date(as_of) or timezone.localdate()
    qs = _scoped(Case.objects.all(), area)
    counts = dict(qs.values("state").annotate(n=Count("id")).values_list("state", "n"))
    table = Table(title=f"案件 / Cases {area or '全部 all'} · {today.isoformat()}")
    table.add_column("状态 state")
    table.add_column("中文")
    table.add_column("数量 count", justify="right")
    for code, zh, _en in vocab.STATES:
        table.add_row(code, zh, str(counts.get(code, 0)))
    console = Console()
    console.print(table)
    overdue = _scoped(selectors.overdue_cases(_everyone(), today), area)
    rows = list(
        overdue.values_list("pk", "household__household_id", "state", "clue_date", "deadline")
    )
    if rows:
        late = Table(title=f"超过识别时限 / Past the identification limit ({len(rows)})")
        for col in ("#", "户编号 household", "状态 state", "线索 clue", "时限 due"):
            late.add_column(col)
        for pk, hh, state, clue, due in rows:
            late.add_row(str(pk), hh, state, clue.isoformat(), due.isoformat())
        console.print(late)
    else:
        console.print("没有超期案件 / No overdue case.")


@cases_app.command("attach")
def attach(
    run: int = typer.Option(..., "--run", help="筛查批次编号 / screening run id"),
) -> None:
    """把某次筛查的预警并入在办案件 / Attach a run's warnings to the households' open cases."""
    from safetynet.cli import setup_django

    setup_django()
    from safetynet.core.errors import NotFound
    from safetynet.monitoring.services import attach_screen_findings
    from safetynet.screening.models import ScreenRun

    screen = ScreenRun.objects.filter(pk=run).first()
    if screen is None:
        raise NotFound(f"筛查批次 {run} 不存在", f"no screening run {run}")
    n = attach_screen_findings(run=screen)
    typer.echo(f"并入在办案件的预警 {n} 条 / {n} warning(s) attached to open cases.")


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
