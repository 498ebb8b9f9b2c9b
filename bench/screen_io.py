"""The registry snapshot and the findings store of a region screen, alone, at 1M and 10M persons.

    .venv/bin/python bench/screen_io.py [--persons 1000000 10000000]
        [--database-url postgres://postgres@127.0.0.1:5432/sn_bench] [--naive-max 1000000]

Uses the bench regions of bench/screen.py (`var/bench-screen/p<N>/data`, generated and loaded
there: run `bench/screen.py --prepare-only` first). Setup, not timed, kept under
`var/bench-screen-io/p<N>/`:

- SQLite: a copy of `var/bench-screen/p<N>/db/safetynet.sqlite3`, migrated (the shared one is
  only read); PostgreSQL (--database-url): the registry loaded once with bench/screen_load.py;
- the run's results: one real evaluation of the rule catalogue (DuckDB) on a snapshot.

Measured, each size and database in a process of its own (peak resident memory reported):

1. snapshot: `snapshot.write_snapshot`, outside a transaction as a run does;
2. store, first run: every finding new (an empty findings table, as bench/screen.py measures);
3. store, the same results again: every finding still open;
4. store, churn: 5% of the warned households no longer warned (resolved) and 5% with changed
   explanations (rewritten);
5. naive baseline, up to --naive-max persons: the snapshot through the ORM (`values_list` into
   Arrow, then Parquet) and the first run's findings through `Finding.objects.bulk_create`.

Each store runs in its own transaction; "commit" is the COMMIT after it (SQLite: the WAL
write). On PostgreSQL the findings table is vacuumed before each store, as autovacuum would do
between two nightly runs (not timed). Client CPU is this process's; on PostgreSQL the server CPU of the store's connection is
read from /proc (the snapshot's own ADBC connections are not). The machine is shared: wall times
include waiting for a core, the CPU columns show the work itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from registry import backend_cpu  # noqa: E402 - the registry bench's reading of the server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AS_OF = dt.date(2024, 6, 30)


def _django(db_dir: Path, database_url: str | None) -> None:
    os.environ["SAFETYNET_DATA_DIR"] = str(db_dir)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    sys.path.insert(0, str(HERE))
    import django

    django.setup()


class Clock:
    def __init__(self):
        self.wall, self.cpu, self.server = time.perf_counter(), time.process_time(), backend_cpu()

    def done(self) -> dict:
        server = backend_cpu()
        return {
            "wall": round(time.perf_counter() - self.wall, 2),
            "cpu": round(time.process_time() - self.cpu, 2),
            "server_cpu": None if server is None else round(server - self.server, 2),
            "load": round(os.getloadavg()[0], 1),
        }


# ---------------------------------------------------------------- setup


def setup(persons: int, database_url: str | None) -> Path:
    """The work directory of one size: database copy (or PostgreSQL load) and results."""
    src = ROOT / "var" / "bench-screen" / f"p{persons}"
    work = ROOT / "var" / "bench-screen-io" / f"p{persons}"
    if not (src / "db" / "loaded-sqlite.json").exists():
        raise SystemExit(f"{src}: run bench/screen.py --persons {persons} --prepare-only first")
    (work / "db").mkdir(parents=True, exist_ok=True)
    if database_url:
        name = database_url.rsplit("/", 1)[-1]
        marker = work / f"loaded-pg-{name}.json"
        if not marker.exists():
            print(f"loading {persons:,} persons into {name} ...", flush=True)
            marker.write_text(json.dumps(run_child(["load", str(work), database_url])))
    elif not (work / "db" / "safetynet.sqlite3").exists():
        print(f"copying the {persons:,}-person SQLite database ...", flush=True)
        import sqlite3

        tmp = work / "db" / "safetynet.sqlite3.part"
        tmp.unlink(missing_ok=True)
        source = sqlite3.connect(f"file:{src / 'db' / 'safetynet.sqlite3'}?mode=ro", uri=True)
        target = sqlite3.connect(tmp)
        source.backup(target)  # a consistent copy, even while others use the source
        target.execute("PRAGMA journal_mode = WAL")
        target.close()
        source.close()
        tmp.rename(work / "db" / "safetynet.sqlite3")
    if not (work / "results" / "households.parquet").exists():
        print(f"evaluating the catalogue once for {persons:,} persons ...", flush=True)
        run_child(["evaluate", str(work), database_url or ""])
    return work


def child_load(work: Path, database_url: str) -> dict:
    _django(work / "db", database_url)
    import screen_load
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from safetynet.registry.models import Household

    if Household.objects.exists():
        raise SystemExit("the database already holds a registry: use one database per size")
    data = ROOT / "var" / "bench-screen" / work.name / "data"
    counts = screen_load.load_registry(data)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return counts


def child_evaluate(work: Path, database_url: str | None) -> dict:
    _django(work / "db", database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from safetynet.screening import evaluation, runner, snapshot
    from safetynet.screening.results import ScreenResults

    data = ROOT / "var" / "bench-screen" / work.name / "data"
    feeds = {p.stem: str(p) for p in sorted(data.glob("feed_*.parquet"))}
    evaluation.feed_sources = lambda: dict(feeds)
    prepared = evaluation.prepare(engine="duckdb", as_of=AS_OF, area_codes=[])
    tmp = work / "evaluate"
    snap = snapshot.write_snapshot(tmp / "input", monitored=set())
    results = prepared.evaluate(snap, work_dir=tmp / "work")
    checks = runner.programme_checks(as_of=AS_OF, area_codes=[])
    results = ScreenResults.concat(results, ScreenResults.from_tables(quality=checks)).sorted()
    results.write(work / "results")
    shutil.rmtree(tmp, ignore_errors=True)
    return results.counts()


# ---------------------------------------------------------------- measurements


def child_snapshot(work: Path, database_url: str | None) -> dict:
    _django(work / "db", database_url)
    from safetynet.screening import snapshot

    out = work / "snapshot"
    shutil.rmtree(out, ignore_errors=True)
    clock = Clock()
    snap = snapshot.write_snapshot(out, monitored=set())
    result = clock.done()
    result["server_cpu"] = None  # read on connections of its own (ADBC): not measured here
    result["rows"] = snap.rows
    result["mb"] = round(sum(p.stat().st_size for p in snap.paths.values()) / 1e6)
    shutil.rmtree(out, ignore_errors=True)
    return result


def vacuum() -> None:
    """PostgreSQL: clear the dead row versions of earlier stores first, as autovacuum does
    between two nightly runs (not timed)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE screening_finding")


def churned(results):
    """5% of the warned households unwarned, another 5% with changed explanations."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from safetynet.screening.results import ScreenResults

    h = results.households
    warned = pc.fill_null(pc.greater(pc.list_value_length(h.column("rules")), 0), False)
    ids = h.filter(warned).column("household_id").to_pylist()
    quiet, edited = set(ids[::20]), set(ids[10::20])
    drop = pc.is_in(h.column("household_id"), value_set=pa.array(sorted(quiet)))
    empty = pa.array([[]] * h.num_rows, h.schema.field("rules").type)
    rules = pc.if_else(drop, empty, h.column("rules"))
    households = h.set_column(h.schema.get_field_index("rules"), "rules", rules)
    e = results.explanations
    hit = pc.is_in(e.column("household_id"), value_set=pa.array(sorted(edited)))
    zh = pc.if_else(
        hit, pc.binary_join_element_wise(e.column("zh"), "（复核）", ""), e.column("zh")
    )
    explanations = e.set_column(e.schema.get_field_index("zh"), "zh", zh)
    tables = results.tables()
    tables.update(households=households, explanations=explanations)
    return ScreenResults(**tables)


def child_store(work: Path, database_url: str | None) -> dict:
    _django(work / "db", database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection, transaction
    from django.utils import timezone

    from safetynet.screening import store
    from safetynet.screening.models import ScreenRun
    from safetynet.screening.results import ScreenResults

    results = ScreenResults.read(work / "results")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM screening_finding")
        cursor.execute("DELETE FROM screening_screenrun")
    out = {}
    for name, res in (("first", results), ("again", results), ("churn", churned(results))):
        vacuum()
        run = ScreenRun.objects.create(as_of=AS_OF, status=ScreenRun.Status.RUNNING)
        with transaction.atomic():
            clock = Clock()
            counts = store.store_findings(
                run_id=run.pk, results=res, area_codes=[], now=timezone.now()
            )
            result = clock.done()
            committed = time.perf_counter()
        result["commit"] = round(time.perf_counter() - committed, 2)
        result["counts"] = counts
        out[name] = result
    return out


def child_naive(work: Path, database_url: str | None) -> dict:
    """The baseline: the ORM for both, as a straightforward implementation would do."""
    _django(work / "db", database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import pyarrow as pa
    import pyarrow.parquet as pq
    from django.db import connection, transaction
    from django.utils import timezone

    from safetynet.registry.models import Household, Income, Person
    from safetynet.screening import store
    from safetynet.screening.models import Finding, ScreenRun
    from safetynet.screening.results import ScreenResults
    from safetynet.screening.snapshot import SCHEMAS

    out_dir = work / "naive"
    out_dir.mkdir(exist_ok=True)
    clock = Clock()
    sources = {
        "households": Household.objects.values_list(
            "household_id", "village_id", "registered_poor", "exit_year", "relocated",
            "housing_grade", "water_secure",
        ),
        "persons": Person.objects.values_list(
            "id_number", "household__household_id", *SCHEMAS["persons"].names[2:]
        ),
        "incomes": Income.objects.values_list(
            "household__household_id", *SCHEMAS["incomes"].names[1:]
        ),
    }  # fmt: skip
    for table, query in sources.items():
        schema = SCHEMAS[table]
        if table == "households":
            schema = pa.schema([f for f in schema if f.name != "already_monitored"])
        columns = list(zip(*query.iterator(chunk_size=20_000), strict=True))
        data = [
            pa.array([v or None for v in col] if f.type == pa.string() else col, f.type)
            for col, f in zip(columns, schema, strict=True)
        ]
        pq.write_table(pa.Table.from_arrays(data, schema=schema), out_dir / f"{table}.parquet")
    snap = clock.done()
    shutil.rmtree(out_dir, ignore_errors=True)

    results = ScreenResults.read(work / "results")
    staged = store.staging_table(results).to_pylist()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM screening_finding")
        cursor.execute("DELETE FROM screening_screenrun")
    vacuum()
    run = ScreenRun.objects.create(as_of=AS_OF, status=ScreenRun.Status.RUNNING)
    with transaction.atomic():
        clock = Clock()
        households = dict(Household.objects.values_list("household_id", "id"))
        now = timezone.now()
        Finding.objects.bulk_create(
            [
                Finding(
                    key=r["key"],
                    kind=r["kind"],
                    check_id=r["check_id"],
                    household_id=households[r["household_ref"]],
                    village_code=r["village_code"],
                    id_number=r["id_number"],
                    category=r["category"],
                    level=r["level"],
                    rules=json.loads(r["rules"]),
                    risk_types=json.loads(r["risk_types"]),
                    already_monitored=r["already_monitored"],
                    message=r["message"],
                    explanations=json.loads(r["explanations"]),
                    evidence=json.loads(r["evidence"]),
                    first_run=run,
                    last_run=run,
                    updated_at=now,
                )
                for r in staged
                if r["household_ref"] in households
            ],
            batch_size=2000,
        )
        stored = clock.done()
        committed = time.perf_counter()
    stored["commit"] = round(time.perf_counter() - committed, 2)
    return {"snapshot": snap, "store": stored}


def run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), "_child", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--database-url", default=None, help="default: SQLite")
    parser.add_argument("--naive-max", type=int, default=1_000_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["snapshot", "store", "naive"])
    args = parser.parse_args()
    db = "postgresql" if args.database_url else "sqlite"
    rows = []
    for persons in args.persons:
        work = setup(persons, args.database_url)
        url = args.database_url or ""
        plan = [k for k in ("snapshot", "store") if k not in args.skip]
        if persons <= args.naive_max and "naive" not in args.skip:
            plan.append("naive")
        for kind in plan:
            print(f"{kind}, {persons:,} persons, {db} ...", flush=True)
            res = run_child([kind, str(work), url])
            print(f"  {json.dumps(res, default=str)}", flush=True)
            if kind == "snapshot":
                rows.append((persons, "snapshot", "SafetyNet", res))
            elif kind == "store":
                for name in ("first", "again", "churn"):
                    rows.append((persons, f"store: {name}", "SafetyNet", res[name]))
            else:
                rows.append((persons, "snapshot", "naive ORM", res["snapshot"]))
                rows.append((persons, "store: first", "naive ORM", res["store"]))

    def f(x):
        return "—" if x is None else f"{x:.1f}"

    print()
    print(f"database: {db}")
    print(
        "| persons | step | code | wall s | client CPU s | server CPU s | commit s "
        "| rows | peak GB | load |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for persons, step, code, r in rows:
        if "counts" in r:
            c = r["counts"]
            count = f"{c['staged']:,} ({c['new']:,} new, {c['resolved']:,} resolved)"
        elif "rows" in r:
            count = f"{sum(r['rows'].values()):,}"
        else:
            count = ""
        print(
            f"| {persons:,} | {step} | {code} | {f(r['wall'])} | {f(r['cpu'])} "
            f"| {f(r.get('server_cpu'))} | {f(r.get('commit'))} | {count} "
            f"| {f(r.get('peak_gb'))} | {r['load']} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        kind, work, url = sys.argv[2], Path(sys.argv[3]), (sys.argv[4] or None)
        out = {
            "load": child_load,
            "evaluate": child_evaluate,
            "snapshot": child_snapshot,
            "store": child_store,
            "naive": child_naive,
        }[kind](work, url)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB → GB
        if isinstance(out, dict) and kind in ("snapshot",):
            out["peak_gb"] = round(peak, 2)
        elif isinstance(out, dict) and kind in ("store", "naive"):
            for value in out.values():
                value["peak_gb"] = round(peak, 2)
        print(json.dumps(out, default=str))
    else:
        main()
