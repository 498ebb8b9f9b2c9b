"""Synthetic demo region: area tree, registry and department feeds, deterministic by seed.

`generate_region` is the one entry point (the CLI, `demo setup` and the benchmarks call it).
The same households, seed, as-of date and options always give byte-identical files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from safetynet.core.errors import ValidationFailed

from .areas import build_tree, spread_households
from .feeds import GROUND_TRUTH_COLUMNS, KINDS, generate_feeds
from .incomes import generate_incomes
from .population import generate_population
from .tables import areas_frame, households_frame, persons_frame, write

GENERATOR_VERSION = 1
MANIFEST = "manifest.json"
FORMATS = ("csv", "parquet")
MAX_HOUSEHOLDS = 5_000_000

# Steps reported to `progress(step, done, total)`.
REGISTRY_STEPS = ["areas", "population", "incomes", "registry files"]
STEPS = REGISTRY_STEPS + [f"feeds/{k}" for k in KINDS] + ["feeds/ground_truth"]


def _check(households, seed, feeds_per_person, file_format) -> None:
    if (
        not isinstance(households, int)
        or isinstance(households, bool)
        or not 1 <= households <= MAX_HOUSEHOLDS
    ):
        raise ValidationFailed(
            f"户数必须是 1 到 {MAX_HOUSEHOLDS:,} 之间的整数（收到 {households!r}）",
            f"households must be a whole number from 1 to {MAX_HOUSEHOLDS:,} (got {households!r})",
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValidationFailed(
            f"随机种子必须是非负整数（收到 {seed!r}）",
            f"the seed must be a non-negative whole number (got {seed!r})",
        )
    if feeds_per_person is not None and not (0 < float(feeds_per_person) <= 50):
        raise ValidationFailed(
            f"每人部门记录数必须在 0 到 50 之间（收到 {feeds_per_person!r}）",
            f"feeds per person must be above 0 and at most 50 (got {feeds_per_person!r})",
        )
    if file_format not in FORMATS:
        raise ValidationFailed(
            f"输出格式只能是 csv 或 parquet（收到 {file_format!r}）",
            f"the output format must be csv or parquet (got {file_format!r})",
        )


def generate_region(
    *,
    households: int,
    seed: int,
    out_dir: Path,
    feeds: bool = True,
    feeds_per_person: float | None = None,
    as_of: date = date(2024, 6, 30),
    progress: Callable[[str, int, int], None] | None = None,
    file_format: str = "csv",
) -> dict:
    """Generate a demo region into `out_dir`.

    Writes `areas`, `households`, `persons`, `incomes` and (with `feeds`) `feeds/<kind>` for
    the twelve kinds plus `feeds/ground_truth`, as CSV (or Parquet), and `manifest.json`.
    Returns the counts, the paths and the seconds taken.
    """
    _check(households, seed, feeds_per_person, file_format)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    total = len(STEPS) if feeds else len(REGISTRY_STEPS)
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(name, done, total)

    tree = build_tree(seed=seed, households=households)
    hh_village = spread_households(seed=seed, tree=tree, households=households)
    step("areas")
    pop = generate_population(
        seed=seed, households=households, tree=tree, hh_village=hh_village, as_of=as_of
    )
    step("population")
    province = np.array([int(c.province_code) for c in tree.counties])[
        tree.village_county[hh_village]
    ]
    incomes = generate_incomes(seed=seed, pop=pop, province=province, as_of=as_of)
    step("incomes")

    paths: dict[str, Path | dict[str, Path]] = {}
    counts: dict[str, int | dict[str, int]] = {}
    for name, frame in (
        ("areas", areas_frame(tree)),
        ("households", households_frame(pop, tree)),
        ("persons", persons_frame(pop)),
        ("incomes", incomes),
    ):
        paths[name] = write(frame, out_dir / name, file_format)
        counts[name] = frame.height
    step("registry files")

    if feeds:
        feed_dir = out_dir / "feeds"
        feed_dir.mkdir(exist_ok=True)
        feed_paths: dict[str, Path] = {}
        feed_counts: dict[str, int] = {}

        def written(kind: str, frame: pl.DataFrame) -> None:
            feed_paths[kind] = write(frame, feed_dir / kind, file_format)
            feed_counts[kind] = frame.height
            step(f"feeds/{kind}")

        truth = generate_feeds(
            seed=seed,
            pop=pop,
            tree=tree,
            as_of=as_of,
            feeds_per_person=feeds_per_person,
            on_kind=written,
        )
        feed_paths["ground_truth"] = write(
            truth.select(GROUND_TRUTH_COLUMNS), feed_dir / "ground_truth", file_format
        )
        step("feeds/ground_truth")
        paths["feeds"] = feed_paths
        counts["feeds"] = feed_counts
        counts["ground_truth"] = truth.height

    manifest = {
        "generator_version": GENERATOR_VERSION,
        "households": households,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "feeds": feeds,
        "feeds_per_person": feeds_per_person,
        "format": file_format,
        "counts": counts,
    }
    (out_dir / MANIFEST).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return {
        **counts,
        "persons": counts["persons"],
        "outsiders": len(pop.out_name),
        "villages": tree.n_villages,
        "paths": paths | {"manifest": out_dir / MANIFEST},
        "seconds": round(time.perf_counter() - started, 2),
        "seed": seed,
        "as_of": as_of,
        "format": file_format,
    }


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of a generated region, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
