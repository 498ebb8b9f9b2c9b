"""Region screen benchmark: SafetyNet (DuckDB, Spark) against a plain pandas baseline.

    .venv/bin/python bench/screen.py --persons 1000000 10000000

For each size it generates a synthetic region straight to Parquet (bench/screen_data.py, ≥ 3
department records per person), loads the registry into the operational database (SQLite in the
work directory, or --database-url), then runs, each in its own child process whose whole process
tree (the Spark JVM included) is sampled for peak memory:

- SafetyNet on DuckDB, end to end: snapshot of the registry from the database, evaluation of
  the rule catalogue, results and findings stored (`safetynet.screening.services.screen_run`);
- the pandas baseline (bench/screen_pandas.py: the monitoring rules as an analyst would write
  them; Parquet in, warnings out — nothing stored);
- SafetyNet on local Spark, end to end (only up to --spark-max persons);
- with --next-night, SafetyNet on DuckDB once more over the findings the first run stored, the
  data unchanged: a nightly run's usual case, every finding still open;
- with --incremental PCT, an incremental DuckDB run (`screen --incremental`) after PCT % of the
  households were edited in the registry (their rows and their members' and incomes' rows get a
  new `updated_at`, values unchanged, in the setup, not timed): only those households are
  re-evaluated and merged with the previous run's results. With --check-incremental, a full run
  follows and the two runs' result files are compared byte for byte.

Setup (generation and loading) is not timed. The table is printed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AS_OF = dt.date(2024, 6, 30)


# ---------------------------------------------------------------- memory of a process tree


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parts = fh.read().rsplit(")", 1)[1].split()
            ppid = int(parts[1])
            rss[int(entry)] = int(parts[21]) * os.sysconf("SC_PAGE_SIZE")
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def run_child(args: list[str], env: dict) -> tuple[dict, float]:
    """Run `bench/screen.py _child ...`; return its JSON result and peak tree memory (GB)."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "_child", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        noise = ("WARN", "FutureWarning", "require_minimum_pandas_version", "log4j", "setLogLevel")
        lines = [line for line in err.splitlines() if not any(n in line for n in noise)]
        raise SystemExit(f"child {args} failed:\n" + "\n".join(lines)[-4000:])
    result = json.loads(out.strip().splitlines()[-1])
    return result, peak / 1e9


# ---------------------------------------------------------------- children


def _django(work: Path, database_url: str | None) -> None:
    os.environ["SAFETYNET_DATA_DIR"] = str(work / "db")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    sys.path.insert(0, str(HERE))
    import django

    django.setup()


def child_load(work: Path, data: Path, database_url: str | None) -> dict:
    _django(work, database_url)
    import screen_load
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return screen_load.load_registry(data)


def touch_households(percent: float) -> int:
    """Give `percent` % of the households (every k-th by primary key), their members and their
    incomes a new `updated_at`, values unchanged: what an incremental run sees after a day's
    registry edits. Setup, not timed. Returns the number of households touched."""
    from django.db import connection, transaction
    from django.utils import timezone

    step = max(1, round(100 / percent))
    now = timezone.now()
    picked = f"SELECT id FROM registry_household WHERE id %% {step} = 0"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE registry_household SET updated_at = %s WHERE id IN ({picked})", [now]
        )
        touched = cursor.rowcount
        for table in ("registry_person", "registry_income"):
            cursor.execute(
                f"UPDATE {table} SET updated_at = %s WHERE household_id IN ({picked})", [now]
            )
    return touched


def child_screen(
    work: Path,
    data: Path,
    database_url: str | None,
    engine: str,
    keep: bool = False,
    incremental: float = 0.0,
) -> dict:
    """One screen. `keep`: over the findings the previous run left (the next night with
    nothing changed: every finding still open, none rewritten); otherwise from none.
    `incremental`: touch that percentage of households first, then run incrementally."""
    _django(work, database_url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)  # a database loaded by an older checkout

    from safetynet.screening import evaluation, services

    # department feeds: the bench's linked feed files stand in for the lake's linked views
    feeds = {p.stem: str(p) for p in sorted(data.glob("feed_*.parquet"))}
    evaluation.feed_sources = lambda: dict(feeds)
    touched = None
    if incremental:
        touched = touch_households(incremental)
    elif not keep:
        with connection.cursor() as cursor:  # a first run: an empty findings table
            cursor.execute("DELETE FROM screening_finding")
            cursor.execute("DELETE FROM screening_screenrun")
    started = time.perf_counter()
    run = services.screen_run(actor=None, as_of=AS_OF, engine=engine, incremental=bool(incremental))
    total = time.perf_counter() - started
    extra = {}
    if incremental:
        extra = {
            "touched": touched,
            "incremental": run.incremental,
            "changed_households": run.counts.get("changed_households"),
            "fallback": run.counts.get("incremental_fallback"),
        }
    return {
        **extra,
        "results_path": run.results_path,
        "total": total,
        "timings": run.counts.get("timings", {}),
        "warnings": run.counts.get("warnings"),
        "households": run.counts.get("households"),
        "quality": run.counts.get("quality"),
        "findings": run.counts.get("findings", {}).get("staged"),
        "stored": run.counts.get("findings", {}),
    }


def child_pandas(data: Path) -> dict:
    sys.path.insert(0, str(HERE))
    import screen_pandas

    started = time.perf_counter()
    warnings = screen_pandas.screen(data, AS_OF)
    return {"total": time.perf_counter() - started, "warnings": len(warnings)}


# ---------------------------------------------------------------- driver


def prepare(persons: int, seed: int, root: Path, database_url: str | None) -> tuple[Path, Path]:
    sys.path.insert(0, str(HERE))
    import screen_data

    work = root / f"p{persons}"
    data = work / "data"
    if not (data / "done.json").exists():
        print(f"generating {persons:,} persons ...", flush=True)
        counts = screen_data.generate(persons, seed, data, as_of=AS_OF)
        (data / "done.json").write_text(json.dumps(counts))
    marker = work / "db" / ("loaded-" + ("pg" if database_url else "sqlite") + ".json")
    if not marker.exists():
        print(f"loading {persons:,} persons into the database ...", flush=True)
        (work / "db").mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        counts, _ = run_child(["load", str(work), str(data), database_url or ""], env)
        marker.write_text(json.dumps(counts))
    return work, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-screen")
    parser.add_argument("--database-url", default=None, help="default: SQLite in the work dir")
    parser.add_argument("--spark-max", type=int, default=1_000_000)
    parser.add_argument("--pandas-max", type=int, default=1_000_000)
    parser.add_argument("--memory", default="6GB", help="DuckDB memory limit of the screen")
    parser.add_argument("--prepare-only", action="store_true", help="generate and load, no runs")
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument(
        "--next-night",
        action="store_true",
        help="also time a second DuckDB run over the first one's findings (nothing changed)",
    )
    parser.add_argument(
        "--incremental",
        type=float,
        default=0.0,
        metavar="PCT",
        help="also time an incremental DuckDB run after PCT %% of the households were edited",
    )
    parser.add_argument(
        "--check-incremental",
        action="store_true",
        help="after the incremental run, a full run; compare the two runs' result files",
    )
    args = parser.parse_args()

    env = dict(os.environ)
    env["SAFETYNET_SCREEN_MEMORY"] = args.memory
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env.setdefault("SAFETYNET_SPARK_MASTER", "local[2]")
    rows = []
    for persons in args.persons:
        work, data = prepare(persons, args.seed, args.work, args.database_url)
        if args.prepare_only:
            continue
        db = args.database_url or ""
        plan = []
        if not args.skip_duckdb:
            plan.append(("SafetyNet · DuckDB", ["screen", str(work), str(data), db, "duckdb"]))
            if args.next_night:
                plan.append(
                    (
                        "SafetyNet · DuckDB, next run",
                        ["screen", str(work), str(data), db, "duckdb", "keep"],
                    )
                )
            if args.incremental:
                pct = f"{args.incremental:g}"
                plan.append(
                    (
                        f"SafetyNet · DuckDB, incremental ({pct} % edited)",
                        ["screen", str(work), str(data), db, "duckdb", f"incremental={pct}"],
                    )
                )
                if args.check_incremental:
                    plan.append(
                        (
                            "SafetyNet · DuckDB, full run after",
                            ["screen", str(work), str(data), db, "duckdb", "keep"],
                        )
                    )
        if persons <= args.pandas_max:
            plan.append(("pandas baseline", ["pandas", str(data)]))
        if persons <= args.spark_max:
            plan.append(
                ("SafetyNet · Spark local[2]", ["screen", str(work), str(data), db, "spark"])
            )
        for name, child in plan:
            print(f"{name}, {persons:,} persons ...", flush=True)
            started = os.getloadavg()[0]
            try:
                res, mem = run_child(child, env)
            except SystemExit as exc:  # one failed run does not lose the others
                print(f"  {exc}", flush=True)
                rows.append((name, persons, {"total": None, "failed": True}, 0.0))
                continue
            res["loadavg_at_start"] = round(started, 1)
            rows.append((name, persons, res, mem))
            print(f"  {json.dumps(res, default=str)} peak {mem:.2f} GB", flush=True)

    header = (
        f"{'run':44} {'persons':>11} {'end to end s':>12} {'snapshot s':>10} "
        f"{'evaluate s':>10} {'store s':>8} {'peak GB':>8} {'warnings':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, persons, res, mem in rows:
        t = res.get("timings", {})
        evaluate = t.get("evaluate", res["total"] if name.startswith("pandas") else None)
        store = t.get("store_findings")
        snap = t.get("snapshot")

        def f(x):
            return "—" if x is None else f"{x:.1f}"

        end_to_end = "—" if name.startswith("pandas") else f(res["total"])
        if res.get("failed"):
            end_to_end = "failed"
        print(
            f"{name:44} {persons:>11,} {end_to_end:>12} {f(snap):>10} {f(evaluate):>10} "
            f"{f(store):>8} {mem:>8.2f} {res.get('warnings') or 0:>9,}"
        )
    by = {(n, p): r for n, p, r, _ in rows}
    for name, persons, res, _ in rows:
        if "incremental" in name and res.get("total") is not None:
            print(
                f"\nincremental run at {persons:,} persons: {res.get('touched'):,} households"
                f" edited, {res.get('changed_households') or 0:,} re-evaluated"
                + (f" (fell back to a full run: {res['fallback']})" if res.get("fallback") else "")
            )
            full = by.get(("SafetyNet · DuckDB, full run after", persons))
            if full and full.get("results_path"):
                same = same_results(Path(res["results_path"]), Path(full["results_path"]))
                print(f"incremental = full run (result files compared table by table): {same}")
    for persons in args.persons:
        duck = by.get(("SafetyNet · DuckDB", persons))
        pandas = by.get(("pandas baseline", persons))
        if duck and pandas and not duck.get("failed") and not pandas.get("failed"):
            ratio = pandas["total"] / duck["timings"]["evaluate"]
            print(f"\nevaluation speed-up over pandas at {persons:,} persons: {ratio:.1f}×")


def same_results(a: Path, b: Path) -> bool:
    """Do two runs' result directories hold the same tables (names, schemas and rows)?"""
    import pyarrow.parquet as pq

    names = sorted(p.name for p in a.glob("*.parquet"))
    if names != sorted(p.name for p in b.glob("*.parquet")):
        return False
    return all(pq.read_table(a / n).equals(pq.read_table(b / n)) for n in names)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "load":
            out = child_load(Path(rest[0]), Path(rest[1]), rest[2] or None)
        elif kind == "screen":
            mode = rest[4] if len(rest) > 4 else ""
            out = child_screen(
                Path(rest[0]),
                Path(rest[1]),
                rest[2] or None,
                rest[3],
                keep=mode == "keep",
                incremental=float(mode.partition("=")[2]) if mode.startswith("incremental=") else 0,
            )
        else:
            out = child_pandas(Path(rest[0]))
        print(json.dumps(out, default=str))
    else:
        main()
