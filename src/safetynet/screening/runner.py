"""Running one screen: snapshot → evaluate → merge → results → findings, all or nothing.

The steps, and what a failure at any of them leaves behind:

1. compile the catalogue for the as-of date (nothing written yet);
2. for an incremental run, find the households whose inputs changed since the base run;
3. snapshot the registry (all households in scope, or only the changed ones) to Parquet in a
   temporary directory of the run;
4. evaluate the catalogue on the chosen engine; merge with the base run's results for the
   households that did not change; add the programme quality checks;
5. sort the results and write them as Parquet (and the CSV files of `--out`) inside the
   temporary directory — in a thread of their own, while step 6 stores the findings: the
   database writes on one core, the sort and the files use the other;
6. in ONE transaction: store the findings (new, still open, resolved), attach warnings of
   households under an open case to that case; wait for the files of step 5 and rename the
   temporary directory to `DATA_DIR/runs/<run id>/`; mark the run succeeded, audit it.

Any exception (in either thread) marks the run failed with its error and removes the run's
directory: the findings of the previous run stay exactly as they were.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from safetynet.core import audit
from safetynet.core.errors import SafetyNetError

from . import evaluation, hadoop, incremental, snapshot, store
from .models import ScreenRun
from .results import QUALITY, ScreenResults, write_csvs

log = logging.getLogger(__name__)

Progress = Callable[[int, str], None]

CSV_FILES = ("warnings.csv", "eligibility.csv", "tekun.csv", "single_person.csv", "quality.csv")


def runs_root() -> Path:
    return Path(settings.DATA_DIR) / "runs"


def stale_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "SCREEN_STALE_MINUTES", 30))


class _Reporter:
    """Records progress on the run row (for the web page) and passes it to the CLI, and times
    the steps of the run (kept in `counts["timings"]`, seconds)."""

    def __init__(self, run: ScreenRun, extra: Progress | None):
        self.run = run
        self.extra = extra
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str):
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.monotonic() - start, 3)

    def __call__(self, percent: int, note: str) -> None:
        now = timezone.now()
        ScreenRun.objects.filter(pk=self.run.pk).update(
            progress=percent, progress_note=note[:200], heartbeat_at=now
        )
        self.run.progress, self.run.progress_note, self.run.heartbeat_at = percent, note, now
        if self.extra:
            self.extra(percent, note)


def programme_checks(*, as_of, area_codes, eligibility: pa.Table | None = None) -> pa.Table:
    """Quality findings of the safety-net programmes (enrolments, payments), when installed.

    `eligibility` (a households table of results: household_id, dibao_eligible, dibao_amount)
    replaces the latest earlier run's results as the checks' per-household eligibility."""
    try:
        from safetynet.assistance.checks import findings_table
    except ImportError:
        return QUALITY.empty_table()
    table = pa.concat_tables(
        [
            findings_table(as_of=as_of, area_code=code, eligibility=eligibility)
            for code in area_codes or [""]
        ]
    )
    source = pa.repeat(pa.scalar("programmes", pa.string()), table.num_rows)
    return table.append_column("source", source).cast(QUALITY)


def previous_run(run: ScreenRun) -> ScreenRun | None:
    return (
        ScreenRun.objects.filter(scope_key=run.scope_key, status=ScreenRun.Status.SUCCEEDED)
        .exclude(pk=run.pk)
        .order_by("-id")
        .first()
    )


def incremental_base(run: ScreenRun, prepared: evaluation.Prepared) -> tuple[ScreenRun | None, str]:
    """The run an incremental run may build on, or (None, why not)."""
    base = previous_run(run)
    if base is None:
        return None, "no earlier successful run of this scope"
    if base.as_of != run.as_of:
        return None, f"as-of date differs from run #{base.pk} ({base.as_of})"
    if base.catalogue_hash != prepared.catalogue_hash:
        return None, f"rule catalogue changed since run #{base.pk}"
    if base.parameters != prepared.parameters:
        return None, f"parameter values changed since run #{base.pk}"
    if not base.results_path or not (Path(base.results_path) / "households.parquet").exists():
        return None, f"results of run #{base.pk} are missing"
    return base, ""


def execute(run: ScreenRun, *, progress: Progress | None = None, out_dir: Path | str | None = None):
    """Run a queued screen to the end. Raises after marking the run failed."""
    report = _Reporter(run, progress)
    started = time.monotonic()
    run.status = ScreenRun.Status.RUNNING
    run.started_at = timezone.now()
    run.heartbeat_at = run.started_at
    run.error = ""
    run.save(update_fields=["status", "started_at", "heartbeat_at", "error"])
    tmp = runs_root() / f".{run.pk}.tmp-{uuid.uuid4().hex[:8]}"
    final = runs_root() / str(run.pk)
    files: _ResultFiles | None = None
    try:
        results, info = _evaluate(run, tmp, report)
        report(85, "写入结果、保存预警和问题 / writing results, storing findings")
        files = _ResultFiles(results, tmp, csv=out_dir is not None)
        counts = dict(info["counts"])
        counts.update(results.counts())
        with transaction.atomic():
            with report.step("store_findings"):
                counts["findings"] = store.store_findings(
                    run_id=run.pk,
                    results=results,
                    area_codes=run.area_codes,
                    now=timezone.now(),
                )
                _attach_to_cases(run)
            with report.step("results_wait"):
                files.join()
            report.timings.update(files.timings)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            counts["timings"] = report.timings
            run.status = ScreenRun.Status.SUCCEEDED
            run.finished_at = timezone.now()
            run.duration_seconds = round(time.monotonic() - started, 3)
            run.progress = 100
            run.progress_note = "完成 / done"
            run.results_path = str(final / "results")
            run.counts = counts
            run.save()
            audit.record(
                actor=run.started_by,
                action="screen.run",
                obj=run,
                area_code=";".join(run.area_codes),
                after={
                    "as_of": run.as_of,
                    "engine": run.engine,
                    "incremental": run.incremental,
                    "counts": counts,
                },
            )
    except BaseException as exc:
        if files is not None:
            files.wait()  # the thread writes into tmp: it must have stopped first
        shutil.rmtree(tmp, ignore_errors=True)
        if run.status != ScreenRun.Status.SUCCEEDED:
            shutil.rmtree(final, ignore_errors=True)
        _mark_failed(run, exc, started)
        raise
    if out_dir is not None and hadoop.is_uri(out_dir):  # storage the Spark cluster shares
        target = hadoop.HadoopDir(hadoop.spark_session(), str(out_dir))
        for name in CSV_FILES:
            target.put(final / "csv" / name, name)
    elif out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in CSV_FILES:
            shutil.copyfile(final / "csv" / name, out_dir / name)
    _prune_inputs(run)
    return run


def _evaluate(run: ScreenRun, tmp: Path, report: _Reporter) -> tuple[ScreenResults, dict]:
    report(2, "编译规则 / compiling the rule catalogue")
    with report.step("compile"):
        prepared = evaluation.prepare(engine=run.engine, as_of=run.as_of, area_codes=run.area_codes)
    run.catalogue_hash = prepared.catalogue_hash
    run.parameters = prepared.parameters
    batches = incremental.active_batches()
    run.feed_batches = batches
    monitored = snapshot.monitored_ids()
    info: dict = {"counts": {}}

    base = None
    changed: set[str] | None = None
    if run.incremental:
        base, why_not = incremental_base(run, prepared)
        if base is None:
            run.incremental = False
            info["counts"]["incremental_fallback"] = why_not
            report(5, f"改为全量运行 / full run instead: {why_not}")
        else:
            report(5, "查找变化的户 / finding changed households")
            with report.step("changes"):
                base_households = pq.read_table(
                    Path(base.results_path) / "households.parquet",
                    columns=["household_id", "already_monitored"],
                )
                changes = incremental.detect_changes(
                    since=base.started_at,
                    area_codes=run.area_codes,
                    base_batches=base.feed_batches,
                    batches_now=batches,
                    base_households=base_households,
                    monitored=monitored,
                )
            changed = changes.households
            run.base_run = base
            info["counts"]["changed_households"] = len(changed)
            info["counts"]["change_reasons"] = changes.reasons
    run.save(
        update_fields=[
            "catalogue_hash",
            "parameters",
            "feed_batches",
            "incremental",
            "base_run",
        ]
    )

    report(10, "导出户籍快照 / snapshot of the registry")
    with report.step("snapshot"):
        snap = snapshot.write_snapshot(
            tmp / "input",
            area_codes=run.area_codes,
            household_ids=sorted(changed) if changed is not None else None,
            monitored=monitored,
            progress=lambda table: report(
                {"households": 12, "persons": 20, "incomes": 35}[table],
                f"导出 {table} / snapshot {table}",
            ),
        )
    info["counts"]["snapshot"] = snap.rows

    report(40, f"规则计算（{run.engine}）/ evaluating on {run.engine}")
    with report.step("evaluate"):
        if changed is not None and not changed:
            evaluated = ScreenResults.from_tables()
        else:
            evaluated = prepared.evaluate(snap, work_dir=tmp / "work")
            for name, seconds in evaluated.timings.items():
                report.timings[f"evaluate_{name}"] = seconds
    report(80, "合并结果 / merging results")
    with report.step("merge"):
        merged = _merge(evaluated, base, changed, snap)
    # The programmes' checks compare enrolments with this run's own eligibility (every household
    # of the scope, carried-over ones included), not with the previous run's.
    with report.step("programme_checks"):
        checks = programme_checks(
            as_of=run.as_of, area_codes=run.area_codes, eligibility=merged.households
        )
    results = ScreenResults.concat(merged, ScreenResults.from_tables(quality=checks))
    shutil.rmtree(tmp / "work", ignore_errors=True)
    return results, info  # unsorted: _ResultFiles sorts them for the files


class _ResultFiles:
    """The run's result files, sorted and written in a thread of their own (DuckDB and Arrow
    only, no database), while the caller stores the findings from the same, unsorted, results:
    nothing the findings hold depends on row order. `join` raises the thread's error.

    Measured at 10M persons: the sort and the files (11 s one after the other) hide behind the
    findings store, which writes the database on one core."""

    def __init__(self, results: ScreenResults, tmp: Path, *, csv: bool):
        self.timings: dict[str, float] = {}
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(results, tmp, csv), name="screen-result-files", daemon=True
        )
        self._thread.start()

    def _run(self, results: ScreenResults, tmp: Path, csv: bool) -> None:
        try:
            start = time.monotonic()
            # one sorted table at a time: this thread's memory comes on top of the store's
            results.write_sorted(tmp / "results")
            if csv:  # the CSV queries sort by every column themselves
                write_csvs(results, tmp / "csv")
            self.timings["write_results"] = round(time.monotonic() - start, 3)
        except BaseException as exc:  # handed to the run's thread by join()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def join(self) -> None:
        self.wait()
        if self._error is not None:
            raise self._error


def _merge(
    evaluated: ScreenResults,
    base: ScreenRun | None,
    changed: set[str] | None,
    snap: snapshot.Snapshot,
) -> ScreenResults:
    """The base run's results of unchanged households + the new evaluation (unsorted)."""
    if base is None or changed is None:
        return evaluated
    # households deleted since the base run drop out too: the snapshot lists every current one
    current = pq.read_table(snap.paths["household_villages"], columns=["household_id"])
    carried = ScreenResults.read_carried(
        Path(base.results_path),
        pa.array(sorted(changed), pa.string()),
        current.column("household_id").combine_chunks(),
    )
    return ScreenResults.concat(carried, evaluated)


def _attach_to_cases(run: ScreenRun) -> None:
    try:
        from safetynet.monitoring.services import attach_screen_findings
    except ImportError:
        return
    attach_screen_findings(run=run)
    try:
        from safetynet.quality.services import rectifications_verify
    except ImportError:
        return
    rectifications_verify(run=run)  # rectified quality findings: verified or reopened


def _mark_failed(run: ScreenRun, exc: BaseException, started: float) -> None:
    if isinstance(exc, SafetyNetError):
        error = f"{exc.zh}\n{exc.en}"
    elif isinstance(exc, KeyboardInterrupt):
        error = "运行被中断 / the run was interrupted"
    else:
        error = f"{type(exc).__name__}: {exc}"
    ScreenRun.objects.filter(pk=run.pk).update(
        status=ScreenRun.Status.FAILED,
        error=error[:5000],
        finished_at=timezone.now(),
        duration_seconds=round(time.monotonic() - started, 3),
        results_path="",
        progress_note="失败 / failed",
    )
    run.status = ScreenRun.Status.FAILED
    run.error = error
    log.warning("screen run %s failed: %s", run.pk, error)


def _prune_inputs(run: ScreenRun) -> None:
    """Keep the input snapshot of the latest run of a scope only (results are kept)."""
    older = ScreenRun.objects.filter(scope_key=run.scope_key, pk__lt=run.pk).exclude(
        results_path=""
    )
    for path in older.values_list("results_path", flat=True):
        shutil.rmtree(Path(path).parent / "input", ignore_errors=True)
