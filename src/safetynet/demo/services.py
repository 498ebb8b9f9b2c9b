"""`demo setup`: generate a demo region into DATA_DIR/demo and load it, step by step.

Each step is its own function and records what it did, so a second run with the same
households and seed skips what is already done: the files are regenerated only when the
manifest differs, the import only when the database does not hold this region yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.conf import settings

from safetynet.core.errors import Conflict

from .generator import GENERATOR_VERSION, generate_region, read_manifest

SETUP_MARKER = "setup.json"
Progress = Callable[[str, int, int], None]


@dataclass
class SetupResult:
    out_dir: Path
    generated: bool = False  # False: the files of the same region were already there
    imported: bool = False  # False: the database already held this region
    steps: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    personas: list[dict] = field(default_factory=list)


def demo_dir() -> Path:
    return Path(settings.DATA_DIR) / "demo"


def _wanted(households: int, seed: int, as_of: date) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "households": households,
        "seed": seed,
        "as_of": as_of.isoformat(),
        "feeds": True,
        "format": "csv",
    }


def _database_label() -> str:
    db = settings.DATABASES["default"]
    return f"{db['ENGINE']}:{db.get('HOST') or ''}:{db.get('PORT') or ''}:{db['NAME']}"


def _files_ready(out_dir: Path, wanted: dict) -> bool:
    manifest = read_manifest(out_dir)
    if not manifest or any(manifest.get(k) != v for k, v in wanted.items()):
        return False
    names = ["areas.csv", "households.csv", "persons.csv", "incomes.csv"]
    return all((out_dir / n).is_file() for n in names)


def _registry_loaded(out_dir: Path, wanted: dict) -> bool:
    """True when the marker says this region went into this database and the database agrees.

    Refuses (Conflict) when this database holds another demo region: household numbers of two
    regions overlap, so loading one over the other would mix their families."""
    from safetynet.registry.models import Household

    try:
        marker = json.loads((out_dir / SETUP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    first = marker.get("first_household")
    if marker.get("database") != _database_label() or not first:
        return False
    if not Household.objects.filter(household_id=first).exists():
        return False
    if marker.get("region") != wanted:
        old = marker.get("region") or {}
        raise Conflict(
            f"数据库中已有另一套演示数据（{old.get('households')} 户，种子 {old.get('seed')}）；"
            "请先重建数据库再载入新的演示数据",
            f"the database already holds another demo region ({old.get('households')} households, "
            f"seed {old.get('seed')}); reset the database before loading a different one",
        )
    return True


def step_generate(
    out_dir: Path, wanted: dict, as_of: date, progress: Progress | None
) -> dict | None:
    """Write the region's files (skipped when the same region is already there)."""
    if _files_ready(out_dir, wanted):
        return None
    return generate_region(
        households=wanted["households"],
        seed=wanted["seed"],
        out_dir=out_dir,
        as_of=as_of,
        progress=progress,
    )


def step_import_areas(out_dir: Path, actor, progress: Progress | None):
    from safetynet.areas.importer import import_areas

    if progress:
        progress("import:areas", 0, 1)
    result = import_areas(out_dir / "areas.csv", actor=actor)
    if progress:
        progress("import:areas", 1, 1)
    return result


def step_import_registry(out_dir: Path, actor, progress: Progress | None):
    from safetynet.registry.importer import import_registry

    files = [out_dir / "households.csv", out_dir / "persons.csv", out_dir / "incomes.csv"]
    stages = (
        (lambda stage, done, total: progress(f"import:{stage}", done, total)) if progress else None
    )
    return import_registry(files, actor=actor, progress=stages)


def _first_household(out_dir: Path) -> str:
    with (out_dir / "households.csv").open(encoding="utf-8") as fh:
        fh.readline()
        return fh.readline().split(",", 1)[0]


def demo_setup(
    *,
    households: int,
    seed: int,
    actor=None,
    as_of: date = date(2024, 6, 30),
    progress: Progress | None = None,
) -> SetupResult:
    """Generate the demo region into DATA_DIR/demo, then import its areas and registry.

    The database check comes first: a database holding another demo region is refused before
    any file is touched."""
    out_dir = demo_dir()
    wanted = _wanted(households, seed, as_of)
    result = SetupResult(out_dir=out_dir)

    loaded = _registry_loaded(out_dir, wanted)

    # 1. files
    generated = step_generate(out_dir, wanted, as_of, progress)
    result.generated = generated is not None
    result.steps.append("generate" if generated else "generate (already there)")
    manifest = read_manifest(out_dir) or {}
    result.counts["files"] = manifest.get("counts", {})

    # 2-3. areas and registry into the database
    if loaded:
        result.steps.append("import (already done)")
        _later_steps(result, out_dir, actor, as_of, progress)
        return result
    areas = step_import_areas(out_dir, actor, progress)
    result.steps.append("import areas")
    registry = step_import_registry(out_dir, actor, progress)
    result.steps.append("import registry")
    result.imported = True
    result.counts["areas"] = areas.as_dict()["counts"]
    result.counts["registry"] = registry.as_dict()["counts"]
    marker = {
        "region": wanted,
        "database": _database_label(),
        "first_household": _first_household(out_dir),
    }
    (out_dir / SETUP_MARKER).write_text(
        json.dumps(marker, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )

    _later_steps(result, out_dir, actor, as_of, progress)
    return result


DEMO_DEPARTMENT = "demo"
DEMO_PASSWORD = "safetynet-demo"


def _later_steps(result: SetupResult, out_dir: Path, actor, as_of: date, progress) -> None:
    step_load_feeds(result, out_dir, actor, progress)
    result.personas = step_personas()
    result.steps.append("personas")
    step_screen(result, actor, as_of)


def step_load_feeds(result: SetupResult, out_dir: Path, actor, progress: Progress | None) -> None:
    """Load every generated department file as a batch and link it (a re-sent file changes nothing)."""
    from safetynet.feeds.services import feed_load

    from .feeds import KINDS

    manifest = read_manifest(out_dir) or {}
    if not manifest.get("feeds", True):
        result.steps.append("load feeds (none generated)")
        return
    ext = "parquet" if manifest.get("format") == "parquet" else "csv"
    feed_files = {kind: out_dir / "feeds" / f"{kind}.{ext}" for kind in KINDS}
    feed_files = {kind: path for kind, path in feed_files.items() if path.is_file()}
    loaded = 0
    for i, (kind, path) in enumerate(sorted(feed_files.items())):
        if progress:
            progress("feeds", i, len(feed_files))
        outcome = feed_load(actor=actor, kind=kind, path=path, department=DEMO_DEPARTMENT)
        loaded += int(outcome.created)
    if progress:
        progress("feeds", len(feed_files), len(feed_files))
    result.counts["feed_batches_loaded"] = loaded
    result.steps.append("load feeds" if loaded else "load feeds (already done)")


def step_personas() -> list[dict]:
    from safetynet.accounts.services import create_demo_personas

    return create_demo_personas(password=DEMO_PASSWORD)


def step_screen(result: SetupResult, actor, as_of: date) -> None:
    """Screen the region as of the demo date unless a finished run of it already exists."""
    from safetynet.feeds.models import FeedBatch
    from safetynet.screening.models import ScreenRun
    from safetynet.screening.services import screen_run

    active = {b.batch_id for b in FeedBatch.objects.all() if b.is_active}
    done = ScreenRun.objects.filter(as_of=as_of, status=ScreenRun.Status.SUCCEEDED, area_codes=[])
    latest = done.order_by("-id").first()
    used = {b["batch_id"] for b in (latest.feed_batches or [])} if latest else set()
    if latest is not None and not result.imported and active <= used:
        result.steps.append("screen (already done)")
        return
    run = screen_run(actor=actor, as_of=as_of)
    result.counts["screen"] = {"run": run.pk, **(run.counts or {})}
    result.steps.append("screen")
