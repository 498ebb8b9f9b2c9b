"""Demo generator throughput against a naive per-row baseline, measured in the same run.

    .venv/bin/python bench/demo.py [--households 1000000] [--baseline-households 20000]
        [--seed 20261129] [--feeds-per-person 3] [--no-write-doc]

Measured, each in its own process (so peak memory is per measurement):
- the generator with its default feeds (`generate_region`, CSV out), the figure the
  "1M households in 60 s" target refers to;
- the generator with registry files only (`feeds=False`);
- optionally the generator with `--feeds-per-person` (benchmark-sized feeds);
- the baseline: the same registry files (households, persons with valid ID numbers, names,
  ages) built one row at a time with `random` and `csv.writer`, the way a Faker-style script
  would, on `--baseline-households`, extrapolated linearly to `--households`.

Prints a table and writes docs/performance/demo.md with the command that produced it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance" / "demo.md"


def run_generator(
    households: int, seed: int, out_dir: str | Path, feeds: bool, fpp: float | None
) -> dict:
    from safetynet.demo.generator import generate_region

    out_dir = Path(out_dir)
    started = time.perf_counter()
    result = generate_region(
        households=households, seed=seed, out_dir=out_dir, feeds=feeds, feeds_per_person=fpp
    )
    seconds = time.perf_counter() - started
    records = sum(result.get("feeds", {}).values())
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return {
        "seconds": seconds,
        "persons": result["persons"],
        "feed_records": records,
        "bytes": size,
    }


def run_baseline(households: int, seed: int, out_dir: str | Path) -> dict:
    """Per-row generation: one Python loop iteration per household and per person."""
    import csv
    import datetime as dt
    import random

    out_dir = Path(out_dir)
    rnd = random.Random(seed)
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    counties = [
        "360321",
        "360703",
        "360704",
        "360724",
        "360730",
        "360731",
        "360827",
        "430224",
        "431022",
    ]
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐曾钟邱彭肖"
    chars = "建国秀英明华平志军小红丽文强伟芳敏静海燕春梅兰玉凤浩宇轩涵怡欣"
    used: set[str] = set()
    as_of = dt.date(2024, 6, 30)
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    persons = 0
    with (
        (out_dir / "households.csv").open("w", newline="", encoding="utf-8") as hf,
        (out_dir / "persons.csv").open("w", newline="", encoding="utf-8") as pf,
    ):
        hw, pw = csv.writer(hf), csv.writer(pf)
        hw.writerow(["household_id", "village_code", "registered_poor"])
        pw.writerow(["id_number", "household_id", "name", "relation", "sex", "birth_date"])
        for h in range(households):
            county = rnd.choice(counties)
            village = f"{county}101{rnd.randint(1, 20):03d}"
            hid = f"{village}{h:05d}"
            hw.writerow([hid, village, "Y" if rnd.random() < 0.12 else "N"])
            head_age = rnd.randint(25, 85)
            size = rnd.choices([1, 2, 3, 4, 5, 6, 7], [10, 25, 20, 22, 13, 7, 3])[0]
            surname = rnd.choice(surnames)
            for m in range(size):
                age = (
                    head_age
                    if m == 0
                    else max(
                        0,
                        head_age - rnd.randint(-3, 3) if m == 1 else head_age - rnd.randint(20, 35),
                    )
                )
                birth = as_of - dt.timedelta(days=int(age * 365.25) + rnd.randint(0, 364))
                male = rnd.random() < 0.5
                while True:
                    seq = rnd.randint(0, 499) * 2 + (1 if male else 0)
                    body = f"{county}{birth:%Y%m%d}{seq:03d}"
                    number = (
                        body
                        + "10X98765432"[
                            sum(int(c) * w for c, w in zip(body, weights, strict=False)) % 11
                        ]
                    )
                    if number not in used:
                        used.add(number)
                        break
                given = "".join(rnd.choice(chars) for _ in range(rnd.choice([1, 2])))
                relation = "head" if m == 0 else ("spouse" if m == 1 else "child")
                pw.writerow(
                    [
                        number,
                        hid,
                        surname + given,
                        relation,
                        "M" if male else "F",
                        birth.isoformat(),
                    ]
                )
                persons += 1
    return {
        "seconds": time.perf_counter() - started,
        "persons": persons,
        "feed_records": 0,
        "bytes": 0,
    }


def _child(args: list[str]) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON result plus peak memory."""
    code = (
        f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import demo as b; "
        "r = getattr(b, sys.argv[1])(*json.loads(sys.argv[2])); "
        "u = resource.getrusage(resource.RUSAGE_SELF); r['peak_mb'] = u.ru_maxrss / 1024; "
        "r['cpu'] = u.ru_utime + u.ru_stime; print(json.dumps(r))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--baseline-households", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--feeds-per-person", type=float, default=None)
    parser.add_argument("--no-write-doc", action="store_true")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="sn-bench-demo-") as tmp:
        tmp = Path(tmp)
        plans = [
            (
                "generator, registry + feeds (default)",
                "run_generator",
                [args.households, args.seed, str(tmp / "a"), True, None],
            ),
            (
                "generator, registry only",
                "run_generator",
                [args.households, args.seed, str(tmp / "b"), False, None],
            ),
        ]
        if args.feeds_per_person:
            plans.append(
                (
                    f"generator, feeds_per_person={args.feeds_per_person:g}",
                    "run_generator",
                    [args.households, args.seed, str(tmp / "c"), True, args.feeds_per_person],
                )
            )
        plans.append(
            (
                "baseline: per-row Python loop, registry only",
                "run_baseline",
                [args.baseline_households, args.seed, str(tmp / "d")],
            )
        )
        for label, fn, fargs in plans:
            print(f"… {label}", file=sys.stderr, flush=True)
            r = _child([fn, json.dumps(fargs)])
            households = fargs[0]
            r["label"], r["households"] = label, households
            r["extrapolated"] = (
                r["seconds"] * args.households / households
                if households != args.households
                else None
            )
            rows.append(r)
            for p in sorted(Path(fargs[2]).rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()

    header = f"| run | households | persons | feed records | seconds | CPU seconds | households/s | peak MB | at {args.households:,} households |"
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        at = r["extrapolated"] if r["extrapolated"] is not None else r["seconds"]
        lines.append(
            f"| {r['label']} | {r['households']:,} | {r['persons']:,} | {r['feed_records']:,} | "
            f"{r['seconds']:.1f} | {r['cpu']:.1f} | {r['households'] / r['seconds']:,.0f} | {r['peak_mb']:,.0f} | "
            f"{at:,.1f} s{' (extrapolated)' if r['extrapolated'] is not None else ''} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.no_write_doc:
        return
    command = "SAFETYNET_DATA_DIR=/tmp/sn-bench .venv/bin/python bench/demo.py " + " ".join(
        sys.argv[1:]
    )
    load = os.getloadavg()
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(
        "# Demo generator performance\n\n"
        f"Command: `{command.strip()}`\n\n"
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end of the run.\n\n"
        f"{table}\n\n"
        "The generator is vectorised (NumPy arrays, Polars for text columns and CSV); the "
        "baseline builds the same kind of registry rows one at a time in Python and is "
        "extrapolated linearly. Each run is a fresh process; output goes to a temporary "
        "folder on local disk. CPU seconds are user + system time of the process, all threads "
        "(Polars writes with two); on a busy machine the wall-clock seconds grow with the load "
        "average, the CPU seconds much less.\n",
        encoding="utf-8",
    )
    print(f"written {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
