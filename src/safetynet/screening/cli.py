"""`safetynet screen` (formats/screen-output.md) and `safetynet screens` (recent runs)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from safetynet.core.errors import SafetyNetError, ValidationFailed
from safetynet.screening.hadoop import is_uri


class ScreenFailed(SafetyNetError):
    code = "screen_failed"


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"日期「{value}」无效，应为 YYYY-MM-DD", f"invalid date '{value}': use YYYY-MM-DD"
        ) from None


def _parse_datetime(value: str) -> datetime:
    from django.utils import timezone

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"时间「{value}」无效，应为 YYYY-MM-DDTHH:MM",
            f"invalid time '{value}': use YYYY-MM-DDTHH:MM",
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _summary(run) -> None:
    from rich.console import Console
    from rich.table import Table

    counts = run.counts or {}
    findings = counts.get("findings", {})
    table = Table(title=f"筛查 / Screen #{run.pk} — {run.as_of} — {run.engine}")
    table.add_column("项目 / item")
    table.add_column("数量 / count", justify="right")
    rows = [
        ("户数 / households", counts.get("households")),
        ("预警户 / households with warnings", counts.get("warnings")),
        ("纳入监测 / flagged (red, orange)", counts.get("flagged")),
        ("低保符合 / dibao eligible", counts.get("dibao_eligible")),
        ("特困符合 / tekun eligible", counts.get("tekun_eligible")),
        ("单人户施保 / single-person", counts.get("single_person")),
        ("质量问题 / quality findings", counts.get("quality")),
        ("新增 / new findings", findings.get("new")),
        ("仍未解决 / still open", findings.get("still_open")),
        ("已解决 / resolved", findings.get("resolved")),
    ]
    if run.incremental:
        rows.insert(0, ("重新计算的户 / households re-evaluated", counts.get("changed_households")))
    for label, value in rows:
        table.add_row(label, "" if value is None else f"{value:,}")
    console = Console()
    console.print(table)
    if counts.get("incremental_fallback"):
        console.print(
            f"[yellow]增量不可用，已全量运行 / full run: {counts['incremental_fallback']}"
        )
    console.print(
        f"用时 / duration: {run.duration_seconds:.1f} s — 结果 / results: {run.results_path}"
    )


def register(app: typer.Typer) -> None:
    @app.command("screen")
    def screen(
        as_of: str = typer.Option(
            None, "--as-of", help="筛查日期 YYYY-MM-DD / as-of date (required unless --schedule)"
        ),
        engine: str = typer.Option("duckdb", "--engine", help="计算引擎 duckdb|spark / engine"),
        area: Annotated[
            list[str] | None,
            typer.Option(
                "--area", help="区划代码，可重复；默认全部 / area code, repeatable; default all"
            ),
        ] = None,
        out: Annotated[
            str | None,
            typer.Option(
                "--out",
                help="输出五个 CSV 文件的目录，或 Spark 可写的 URI（hdfs://、s3a://）/ directory for "
                "the five CSV files, or a URI Spark's file system writes (hdfs://, s3a://)",
            ),
        ] = None,
        incremental: bool = typer.Option(
            False,
            "--incremental",
            help="只重算上次以来有变化的户 / re-evaluate only households changed since the last run",
        ),
        schedule: bool = typer.Option(
            False,
            "--schedule",
            help="交给后台任务队列运行 / queue it for the task worker instead of running now",
        ),
        at: str = typer.Option(
            None, "--at", help="与 --schedule 合用：开始时间 / with --schedule: run after this time"
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="少输出 / less output"),
    ) -> None:
        """区域筛查：按规则目录评估全部户并保存预警 / Screen the region against the rule catalogue."""
        from safetynet.cli import setup_django

        setup_django()
        from safetynet.screening import services

        if schedule:
            run = services.screen_schedule(
                actor=None,
                as_of=_parse_date(as_of) if as_of else None,
                engine=engine,
                area_codes=area or [],
                incremental=incremental,
                run_after=_parse_datetime(at) if at else None,
            )
            typer.echo(
                f"已排队：筛查 #{run.pk}；由 `safetynet manage db_worker` 运行 / "
                f"queued: screen #{run.pk}; run by `safetynet manage db_worker`"
            )
            return
        if not as_of:
            raise ValidationFailed("请给出 --as-of 日期", "--as-of DATE is required")
        as_of_date = _parse_date(as_of)
        out_dir: Path | str | None = out
        if out is not None and not is_uri(out):
            out_dir = Path(out)
            if out_dir.exists() and not out_dir.is_dir():
                raise ValidationFailed(f"{out} 不是目录", f"{out} is not a directory")

        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            disable=quiet,
            transient=False,
        ) as bar:
            task_id = bar.add_task("筛查 / screening", total=100)

            def progress(percent: int, note: str) -> None:
                bar.update(task_id, completed=percent, description=note)

            try:
                run = services.screen_run(
                    actor=None,
                    as_of=as_of_date,
                    engine=engine,
                    area_codes=area or [],
                    incremental=incremental,
                    out_dir=out_dir,
                    progress=progress,
                )
            except SafetyNetError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the run; shown, not a traceback
                from safetynet.screening.models import ScreenRun

                failed = ScreenRun.objects.order_by("-id").first()
                number = f" #{failed.pk}" if failed else ""
                raise ScreenFailed(
                    f"筛查{number}失败，之前的结果保持不变：{type(exc).__name__}: {exc}",
                    f"screen{number} failed; earlier results are unchanged: "
                    f"{type(exc).__name__}: {exc}",
                ) from exc
        if not quiet:
            _summary(run)
            if out is not None:
                typer.echo(f"CSV 文件 / CSV files: {out}")

    @app.command("screens")
    def screens(
        limit: int = typer.Option(20, "--limit", help="显示条数 / how many runs"),
    ) -> None:
        """最近的筛查运行 / Recent screen runs."""
        from safetynet.cli import setup_django

        setup_django()
        from rich.console import Console
        from rich.table import Table

        from safetynet.screening.selectors import recent_runs

        table = Table(title="筛查运行 / Screen runs")
        for col in (
            "#",
            "日期 as-of",
            "引擎 engine",
            "范围 scope",
            "状态 status",
            "进度 %",
            "预警户 warnings",
            "用时 s",
        ):
            table.add_column(col)
        for run in recent_runs(user=None, limit=limit):
            table.add_row(
                str(run.pk),
                str(run.as_of),
                run.engine + (" +incr" if run.incremental else ""),
                ";".join(run.area_codes) or "全部 all",
                run.status,
                str(run.progress),
                str((run.counts or {}).get("warnings", "")),
                f"{run.duration_seconds:.1f}" if run.duration_seconds else "",
            )
        Console().print(table)
