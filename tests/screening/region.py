"""A generated region loaded the way production loads one: the demo generator's files, the
registry importer, department feeds loaded into the lake and linked. Built once per test module
(it takes tens of seconds) and removed again afterwards."""

from __future__ import annotations

import contextlib
from pathlib import Path

from django.core.management import call_command
from django.test import override_settings

AS_OF_TEXT = "2024-06-30"


@contextlib.contextmanager
def loaded_region(base: Path, *, households: int, seed: int, skip_kinds: frozenset = frozenset()):
    from safetynet.areas.importer import import_areas
    from safetynet.areas.services import load_reference_counties
    from safetynet.demo.generator import generate_region
    from safetynet.feeds.services import feed_link, feed_load
    from safetynet.registry.importer import import_registry

    data_dir = base / "data"
    lake_dir = data_dir / "lake"
    lake_dir.mkdir(parents=True, exist_ok=True)
    demo = base / "demo"
    info = generate_region(households=households, seed=seed, out_dir=demo, feeds=True)
    with override_settings(DATA_DIR=data_dir, LAKE_DIR=lake_dir):
        try:
            load_reference_counties(actor=None)
            import_areas(demo / "areas.csv", actor=None)
            import_registry(
                [demo / "households.csv", demo / "persons.csv", demo / "incomes.csv"], actor=None
            )
            for path in sorted((demo / "feeds").glob("*.csv")):
                if path.stem != "ground_truth" and path.stem not in skip_kinds:
                    feed_load(actor=None, kind=path.stem, path=path, link=False)
            feed_link(actor=None)
            yield {"demo": demo, "data_dir": data_dir, "lake_dir": lake_dir, "info": info}
        finally:
            call_command("flush", interactive=False, verbosity=0)


def scenario_with_feeds(household_id: str, as_of):
    """The registry household as an assess scenario, with its linked department records."""
    from safetynet.engine.assess import household_scenario
    from safetynet.feeds.schemas import KINDS
    from safetynet.feeds.selectors import records_for_household

    scenario = household_scenario(household_id, as_of=as_of)
    feeds = []
    for kind, records in sorted(records_for_household(household_id).items()):
        own = [c.name for c in KINDS[kind].columns]
        for r in records:
            if not r.get("id_number") and not r.get("household_id"):
                continue
            row = {"kind": kind, "record_id": r["record_id"], "event_date": r["event_date"]}
            if r.get("id_number"):
                row["id_number"] = r["id_number"]
            row.update({c: r.get(c) for c in own})
            feeds.append(row)
    scenario["household"]["feeds"] = feeds
    return scenario
