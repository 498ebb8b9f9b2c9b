"""Starting screens: on the command line, from the web page, or through the task queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from safetynet.core import audit
from safetynet.core.errors import Conflict, PermissionDenied, ValidationFailed

from . import hadoop, runner
from .models import ScreenRun

ENGINES = ("duckdb", "spark")
STARTER_ROLES = {"county", "admin"}


def normalise_area_codes(area_codes: Sequence[str]) -> list[str]:
    """Validated, de-duplicated area codes; a code inside another listed code is dropped."""
    from safetynet.areas.models import Area

    codes = sorted({(c or "").strip() for c in area_codes if (c or "").strip()})
    bad = [c for c in codes if not c.isdigit() or len(c) not in (2, 4, 6, 9, 12)]
    if bad:
        raise ValidationFailed(
            f"区划代码无效：{', '.join(bad)}（应为 2、4、6、9 或 12 位数字）",
            f"invalid area codes: {', '.join(bad)} (2, 4, 6, 9 or 12 digits)",
        )
    known = set(Area.objects.filter(code__in=codes).values_list("code", flat=True))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValidationFailed(
            f"区划不存在：{', '.join(unknown)}", f"unknown areas: {', '.join(unknown)}"
        )
    return [c for c in codes if not any(c != o and c.startswith(o) for o in codes)]


def _check_actor(actor, codes: list[str]) -> list[str]:
    """Only county officers and administrators start screens, within their own area."""
    if actor is None:  # the command line: an operator with shell access
        return codes
    if getattr(actor, "role", None) not in STARTER_ROLES and not actor.is_superuser:
        raise PermissionDenied(
            "只有县级工作人员和管理员可以发起筛查",
            "only county officers and administrators may start a screen",
        )
    prefix = actor.scope_code
    if prefix == "":
        return codes
    if not codes:
        return [prefix]
    outside = [c for c in codes if not c.startswith(prefix)]
    if outside:
        raise PermissionDenied(
            f"不能筛查本辖区以外的区划：{', '.join(outside)}",
            f"cannot screen areas outside your own: {', '.join(outside)}",
        )
    return codes


def _overlaps(a: list[str], b: list[str]) -> bool:
    if not a or not b:
        return True
    return any(x.startswith(y) or y.startswith(x) for x in a for y in b)


def mark_stale_runs() -> int:
    """Runs that stopped reporting progress (a killed process) are marked failed."""
    cutoff = timezone.now() - runner.stale_after()
    return ScreenRun.objects.filter(
        status=ScreenRun.Status.RUNNING, heartbeat_at__lt=cutoff
    ).update(
        status=ScreenRun.Status.FAILED,
        error="运行中断（长时间没有进度）/ interrupted (no progress reported)",
        finished_at=timezone.now(),
        results_path="",
    )


def screen_request(
    *,
    actor,
    as_of: date,
    engine: str = "duckdb",
    area_codes: Sequence[str] = (),
    incremental: bool = False,
) -> ScreenRun:
    """Record a screen to run (status queued)."""
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise ValidationFailed("筛查日期无效", "invalid as-of date")
    if engine not in ENGINES:
        raise ValidationFailed(
            f"计算引擎「{engine}」无效（可选 duckdb、spark）",
            f"unknown engine '{engine}' (duckdb or spark)",
        )
    codes = _check_actor(actor, normalise_area_codes(area_codes))
    with transaction.atomic():
        run = ScreenRun.objects.create(
            as_of=as_of,
            engine=engine,
            area_codes=codes,
            scope_key=";".join(codes),
            incremental=incremental,
            started_by=actor if getattr(actor, "pk", None) else None,
        )
        audit.record(
            actor=actor,
            action="screen.request",
            obj=run,
            area_code=";".join(codes),
            after={"as_of": as_of, "engine": engine, "areas": codes, "incremental": incremental},
        )
    return run


def screen_execute(
    *, run: ScreenRun, progress: runner.Progress | None = None, out_dir: Path | str | None = None
) -> ScreenRun:
    """Run a queued screen now, in this process."""
    mark_stale_runs()
    with transaction.atomic():
        locked = ScreenRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != ScreenRun.Status.QUEUED:
            raise Conflict(
                f"筛查 #{run.pk} 已经开始或已结束", f"screen #{run.pk} has already started or ended"
            )
        busy = [
            r
            for r in ScreenRun.objects.filter(status=ScreenRun.Status.RUNNING).exclude(pk=run.pk)
            if _overlaps(r.area_codes, locked.area_codes)
        ]
        if busy:
            raise Conflict(
                f"筛查 #{busy[0].pk} 正在运行，范围重叠；请等它结束",
                f"screen #{busy[0].pk} is running over an overlapping scope; wait for it to end",
            )
        locked.status = ScreenRun.Status.RUNNING
        locked.heartbeat_at = timezone.now()
        locked.save(update_fields=["status", "heartbeat_at"])
    run.refresh_from_db()
    return runner.execute(run, progress=progress, out_dir=out_dir)


def screen_run(
    *,
    actor,
    as_of: date,
    engine: str = "duckdb",
    area_codes: Sequence[str] = (),
    incremental: bool = False,
    out_dir: Path | str | None = None,
    progress: runner.Progress | None = None,
) -> ScreenRun:
    """Request and run a screen in this process (the command line). `out_dir`: a directory, or
    a URI (hdfs://…, s3a://…) written through Spark's Hadoop file system — checked first, so a
    location that cannot be reached fails before anything runs."""
    if hadoop.is_uri(out_dir):
        hadoop.HadoopDir(hadoop.spark_session(), str(out_dir))
    run = screen_request(
        actor=actor, as_of=as_of, engine=engine, area_codes=area_codes, incremental=incremental
    )
    return screen_execute(run=run, progress=progress, out_dir=out_dir)


def screen_schedule(
    *,
    actor,
    as_of: date | None,
    engine: str = "duckdb",
    area_codes: Sequence[str] = (),
    incremental: bool = False,
    run_after: datetime | None = None,
) -> ScreenRun:
    """Queue a screen for the task worker (`safetynet manage db_worker`).

    Without `as_of` the worker screens as of the day it runs the task.
    """
    from .tasks import run_screen

    run = screen_request(
        actor=actor,
        as_of=as_of or timezone.localdate(),
        engine=engine,
        area_codes=area_codes,
        incremental=incremental,
    )
    task = run_screen.using(run_after=run_after) if run_after else run_screen

    def enqueue() -> None:
        result = task.enqueue(run_id=run.pk, as_of_today=as_of is None)
        ScreenRun.objects.filter(pk=run.pk).update(task_id=str(result.id))

    transaction.on_commit(enqueue)
    return run
