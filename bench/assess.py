"""Latency of `assess` (one household) and of compiling the rule catalogue.

    .venv/bin/python bench/assess.py [--repeat 30] [--no-write-doc]

Measured in one run, on policy case 01 (a three-person household, shared/policy-cases):

- warm assess: the catalogue loaded, the plan compiled and prepared on DuckDB (the prepared
  path of engine/adapters.py); each call builds the input tables, executes the prepared plan
  with them and builds the result with explanations;
- baseline "step by step": the same call without the prepared path: DuckDB plans every
  compiled step and output query on every call (how one assess ran before);
- baseline "new plan each time": the plan cache cleared before each call, so every call
  compiles the catalogue and prepares the plan again (the first assess of a new binding);
- baseline "cold first assess": a fresh interpreter doing imports, catalogue load, compile and
  one assess (measured in a child process, a few times);
- compiling the catalogue for a region (both dialects) and loading/vetting the catalogue;
- a batch: every policy case and boundary scenario in one engine run (per-scenario cost).

Prints a side-by-side table and writes docs/performance/assess.md with the command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance" / "assess.md"
CASES = ROOT.parent / "shared" / "policy-cases"
SCENARIOS = ROOT / "tests" / "scenarios"

COLD = """
import time, yaml, sys
t = time.perf_counter()
from safetynet.engine.assess import assess_scenario
assess_scenario(yaml.safe_load(open(sys.argv[1], encoding="utf-8")))
print(time.perf_counter() - t)
"""


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p95 * 1000


CPU: dict[int, list[float]] = {}


def timed(fn, repeat: int, warm: int = 3, before=None) -> list[float]:
    """Wall-clock samples; CPU-time samples of the same calls are kept in CPU[id(result)]."""
    for _ in range(warm):
        if before:
            before()
        fn()
    out, cpu = [], []
    for _ in range(repeat):
        if before:
            before()
        c = time.process_time()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU[id(out)] = cpu
    return out


def cpu_median(samples: list[float]) -> float:
    return statistics.median(CPU[id(samples)]) * 1000 if id(samples) in CPU else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--cold", type=int, default=3, help="cold-start samples (child processes)")
    parser.add_argument("--no-write-doc", action="store_true")
    parser.add_argument(
        "--region-persons",
        type=int,
        default=0,
        help="also run the screen plan over a synthetic region of this many persons "
        "(bench/screen_data.py), DuckDB, 2 threads",
    )
    args = parser.parse_args()

    from safetynet.engine import assess as assess_mod
    from safetynet.engine.scenario import load_scenarios
    from safetynet.policy import compiler
    from safetynet.policy.catalogue import default_catalogue, load_catalogue
    from safetynet.policy.params import bind_areas

    cat = default_catalogue()
    items = load_scenarios(CASES / "01.yaml", cat.inputs)
    scenario = items[0].scenario

    def one():
        outcome = assess_mod.assess_many([scenario], catalogue=cat, overrides=[])[0]
        assert outcome.error is None and outcome.result["dibao"]["monthly_amount"] == 758

    def step_by_step():
        outcome = assess_mod.assess_many([scenario], catalogue=cat, overrides=[], prepared=False)[0]
        assert outcome.error is None and outcome.result["dibao"]["monthly_amount"] == 758

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    warm = timed(one, args.repeat)
    steps = timed(step_by_step, max(5, args.repeat // 2))
    recompile = timed(one, max(5, args.repeat // 3), before=compiler._PLAN_CACHE.clear)

    cold = []
    env = {
        **os.environ,
        "SAFETYNET_DATA_DIR": os.environ.get("SAFETYNET_DATA_DIR", "/tmp/sn-bench-assess"),
    }
    for _ in range(args.cold):
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(CASES / "01.yaml")],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        cold.append(float(out.stdout.strip().splitlines()[-1]))

    binding = bind_areas(cat.params, dt.date(2024, 6, 30))
    compile_duck = timed(
        lambda: compiler.compile_plan(cat, binding, dialect="duckdb", cache=False),
        max(5, args.repeat // 3),
        warm=1,
    )
    compile_spark = timed(
        lambda: compiler.compile_plan(cat, binding, dialect="spark", cache=False),
        max(5, args.repeat // 3),
        warm=1,
    )
    load = timed(load_catalogue, 5, warm=1)

    everything = [
        i.scenario
        for i in load_scenarios(CASES, cat.inputs) + load_scenarios(SCENARIOS, cat.inputs)
    ]
    batch = timed(
        lambda: assess_mod.assess_many(everything, catalogue=cat, overrides=[]), 3, warm=1
    )

    n = len(everything)
    region_rows = []
    if args.region_persons:
        import tempfile

        sys.path.insert(0, str(ROOT / "bench"))
        import screen_data

        from safetynet.engine.screen import prepare_screen

        with tempfile.TemporaryDirectory(prefix="sn-bench-assess-") as tmp:
            counts = screen_data.generate(
                args.region_persons, 7, Path(tmp), as_of=dt.date(2024, 6, 30)
            )
            inputs = {p.stem: p for p in Path(tmp).glob("*.parquet")}
            inputs.update({p.name: p for p in Path(tmp).iterdir() if p.is_dir()})
            plan = prepare_screen(
                as_of=dt.date(2024, 6, 30),
                engine="duckdb",
                overrides=[],
                duckdb_settings={"threads": "2", "memory_limit": "4GB"},
            )
            c = time.process_time()
            t = time.perf_counter()
            plan.run(inputs)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        label = (
            f"screen plan: {counts['households']:,} households, {counts['persons']:,} persons, "
            f"{sum(v for k, v in counts.items() if k.startswith('feed_')):,} feed records (s)"
        )
        region_rows.append((label, wall, cpu))
    rows = [
        ("assess, warm (one household, DuckDB, prepared)", *stats(warm), cpu_median(warm)),
        ("  baseline: step by step, planned every call", *stats(steps), cpu_median(steps)),
        (
            "  baseline: new plan each time (compile+prepare)",
            *stats(recompile),
            cpu_median(recompile),
        ),
        ("  baseline: cold first assess (new process)", *stats(cold), float("nan")),
        ("compile catalogue → DuckDB SQL (region)", *stats(compile_duck), cpu_median(compile_duck)),
        (
            "compile catalogue → Spark SQL (region)",
            *stats(compile_spark),
            cpu_median(compile_spark),
        ),
        ("load and vet the catalogue (YAML + sqlglot)", *stats(load), cpu_median(load)),
        (
            f"batch: {n} scenarios in one run, per scenario",
            *(v / n for v in stats(batch)),
            cpu_median(batch) / n,
        ),
    ]
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = f"{'measure':<52} {'median ms':>10} {'p95 ms':>10} {'CPU ms':>8}"
    lines = [header, "-" * len(header)]
    for label, med, p95, cpu in rows:
        cpu_text = "" if cpu != cpu else f"{cpu:>8.1f}"
        lines.append(f"{label:<52} {med:>10.1f} {p95:>10.1f} {cpu_text:>8}")
    for label, wall, cpu in region_rows:
        lines.append(f"{label}: {wall:.1f} s wall, {cpu:.1f} s CPU")
    step_ratio = stats(steps)[0] / stats(warm)[0]
    speedup = stats(recompile)[0] / stats(warm)[0]
    cold_ratio = stats(cold)[0] / stats(warm)[0]
    lines.append("")
    lines.append(
        f"warm vs step by step: {step_ratio:.1f}x faster; vs new plan: {speedup:.1f}x; "
        f"vs cold start: {cold_ratio:.0f}x"
    )
    lines.append(
        f"target: warm assess ≤ 50 ms — {'met' if stats(warm)[0] <= 50 else 'NOT met'} in this run"
    )
    lines.append(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load_start:.1f} "
        f"at the start, {load_avg:.1f} at the end, "
        f"Python {platform.python_version()}"
    )
    table = "\n".join(lines)
    print(table)
    if not args.no_write_doc:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(
            "# Performance: `assess` and the rule compiler\n\n"
            "Command (from the repository root):\n\n"
            f"```\n.venv/bin/python bench/assess.py{' --region-persons ' + str(args.region_persons) if args.region_persons else ''}\n```\n\n"
            "Measured on policy case 01 (three members, one income record, no department records), "
            "DuckDB in-process; each figure is the median and 95th percentile of repeated calls in "
            "the same process unless stated. Baselines are measured in the same run. `CPU ms` is the "
            "median process CPU time of the same calls (all threads): on a machine shared with other "
            "work it is closer to what an idle machine's wall clock would show.\n\n"
            f"```\n{table}\n```\n\n"
            "What the figures include: building the input tables from the scenario, evaluating "
            "the compiled plan on DuckDB, normalising the Arrow results and rendering the "
            "explanations. Compiled plans are cached per parameter binding and as-of mode, so only "
            "the first assess of a new binding pays the compile (and the prepare). The machine "
            "runs other work at the same time; the load average is printed with the table.\n\n"
            "How one assess is evaluated. Step by step (the screen's way, and one assess's way "
            "before), each stage is a `CREATE TEMP TABLE … AS WITH …` statement (six of them, "
            "≈ 40 CTEs and several hundred expressions in all) followed by three output queries, "
            "and DuckDB parses, binds and optimises all of them on every call: that planning, not "
            "the work on one household, is what the step-by-step baseline measures. Small runs "
            "(at most `assess.PREPARED_BATCH` scenarios) now take the prepared path "
            "(`adapters.PreparedPlan`): per compiled plan and input schemas a dedicated DuckDB "
            "connection (one thread) prepares one statement once — the input tables as typed "
            "list-of-rows parameters unnested into CTEs of the input names, the compiled steps "
            "as CTEs of their step names (materialised, like the step tables), the output "
            "queries last, every output returned as a list of rows — and each call only "
            "executes it with the household's rows. The steps' and outputs' SQL is the plan's "
            "own text (only each output's ORDER BY becomes a row number the rows are sorted by), "
            "so the bulk screen and one assess still run one compiled SQL; "
            "tests/engine/test_prepared.py compares both paths on every policy case and on "
            "households of different shapes in sequence on one prepared plan. Inputs are "
            "parameters rather than tables because DuckDB 2.0 re-binds and re-optimises a "
            "prepared statement that reads catalog tables on every execution (its profiler "
            "shows the full binding and optimiser time again), while a statement over "
            "parameters keeps its plan, and it cannot carry one call's data or statistics into "
            "the next. What remains per call is executing about 170 operators on a few rows and "
            "the Python around it.\n\n"
            "Other rows: evaluating many households in one run amortises the planning without a "
            "prepared plan (the batch row, step by step). With `--region-persons`, the screen "
            "plan's row shows the same SQL over a synthetic region; it scales linearly with "
            "persons and feed records, the person stage (department-record aggregates joined to "
            "every member) being the largest part.\n",
            encoding="utf-8",
        )
        print(f"\nwrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    main()
