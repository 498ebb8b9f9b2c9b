"""Programme quality checks at region scale: the set-based step against its per-row baseline.

    .venv/bin/python bench/checks.py --persons 1000000 10000000

Runs on the synthetic region of bench/screen.py (`var/bench-screen/p<N>/`, generated and loaded
by `bench/screen.py --prepare-only`; only read here) in two cases:

- **bench region**: that database as the screen of bench/screen.py sees it at its
  `programme_checks` step — households, persons and incomes; no enrolment, no roll, no earlier
  screen run of the date (bench/screen.py deletes them), no linked department feed in the lake;
- **5 % in dibao**: a copy of that database (`var/bench-checks/p<N>/db/`) to which setup adds
  dibao enrolments for 5 % of the households (all their members; 5 % of the enrolments stopped,
  5 % in a grace period, 3 % with an overdue review, 2 % separately registered), approved rolls
  for May and June (3 % of June's amounts off by 20 yuan), change proposals for half of the
  members with a death record (some open, some processed late), a dibao application in
  progress for a third of the eligible households not enrolled, 0.2 % of the active
  enrolments also paid in June by a second county, and an earlier screen run of the date whose
  results give every household's dibao eligibility (2 % of the households not enrolled
  eligible, 4 % of the enrolled ones not). The bench's linked department files (deaths,
  vehicles, businesses, payroll) stand in for the lake's linked views, as in bench/screen.py.

Each version runs in its own process and calls the screen's step twice: the first call includes
the lazy imports of a fresh process (a screen has made most of them by then), the second is
warm. "current" is
`safetynet.screening.runner.programme_checks`; "baseline" is the step as it was at
BASELINE_COMMIT (that commit's `assistance/checks.py`, read with `git show`, whose `run_checks`
returned dicts turned into the quality table with `Table.from_pylist`). The table shows wall
and CPU seconds (CPU of all the process's threads), peak resident memory of the whole process,
the findings, and whether both versions found exactly the same findings (same rows, same
messages). Setup is not timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AS_OF = dt.date(2024, 6, 30)
BASELINE_COMMIT = "1cd9dbe"  # the per-row version of the checks
FEEDS = ("deaths", "vehicles", "businesses", "payroll")


# ---------------------------------------------------------------- setup of "5 % in dibao"

PLAN = """
create temp table hh as
select h.pk, h.household_id, h.village_code, substr(h.village_code, 1, 6) as county_code,
       hash(h.household_id || ':in') % 100 < 5 as enrolled,
       hash(h.household_id || ':status') % 20 as status_draw,
       hash(h.household_id || ':draw') % 10000 as draw,
       100 + (hash(h.household_id || ':amount') % 40) * 10 as amount
from households h;

create temp table enrol as
select row_number() over (order by pk) as id, pk as household_pk, household_id, village_code,
       county_code, amount, draw,
       case status_draw when 0 then 'stopped' when 1 then 'grace' else 'active' end as status
from hh where enrolled;

create temp table members as
select row_number() over (order by e.id, p.pk) as id, e.id as enrolment_id, p.pk as person_pk,
       p.id_number, e.status
from enrol e join persons p on p.household_pk = e.household_pk
where p.status <> 'moved_out';

-- a second county's enrolment (stopped, but paid in June) for 0.2 % of the active ones
create temp table counties as
select county_code, min(village_code) as village_code from hh group by county_code;
create temp table other_village as
select a.county_code,
       (select min(b.village_code) from counties b where b.county_code > a.county_code) as next_v,
       (select min(b.village_code) from counties b where b.county_code <> a.county_code) as any_v
from counties a;

create temp table doubles as
select (select max(id) from enrol) + row_number() over (order by e.id) as id, e.id as first_id,
       e.household_pk, e.household_id, coalesce(o.next_v, o.any_v) as village_code,
       substr(coalesce(o.next_v, o.any_v), 1, 6) as county_code, e.amount
from enrol e join other_village o using (county_code)
where e.status = 'active' and e.draw % 500 = 0 and o.any_v is not null;

create temp table eligibility as
select h.household_id, h.village_code,
       case when e.id is not null then hash(h.household_id || ':wrong') % 25 <> 0
            else hash(h.household_id || ':omit') % 50 = 0 end as dibao_eligible,
       cast(h.amount as bigint) as dibao_amount,
       e.id is not null as enrolled
from hh h left join enrol e on e.household_pk = h.pk and e.status <> 'stopped';

create temp table deaths as
select m.enrolment_id, m.person_pk, min(d.event_date) as died, min(d.record_id) as record_id
from members m join feed_deaths d using (id_number)
where d.event_date <= DATE '2024-06-30'
group by all;
"""


def _adbc_table(db: Path, sql: str):
    import adbc_driver_sqlite.dbapi as adbc

    with adbc.connect(str(db)) as con, con.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()


def prepare_enrolled(source: Path, work: Path, data: Path) -> dict:
    """Copy the bench database and add the programmes' data of the "5 % in dibao" case."""
    import duckdb
    import pyarrow.parquet as pq

    sys.path.insert(0, str(ROOT / "src"))
    from safetynet.screening.results import HOUSEHOLDS, conform

    db = work / "db" / "safetynet.sqlite3"
    marker = work / "db" / "enrolled.json"
    if marker.exists():
        return json.loads(marker.read_text())
    print(f"copying {source} ...", flush=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    for table in ("assistance_enrolment", "assistance_rollline", "screening_screenrun"):
        with sqlite3.connect(db) as con:
            if con.execute(f"select count(*) from {table}").fetchone()[0]:
                raise SystemExit(f"{source} already has rows in {table}")

    print("planning enrolments ...", flush=True)
    con = duckdb.connect()
    con.register(
        "households",
        _adbc_table(
            db, "SELECT id AS pk, household_id, village_id AS village_code FROM registry_household"
        ),
    )
    con.register(
        "persons",
        _adbc_table(
            db,
            "SELECT id AS pk, household_id AS household_pk, id_number, status FROM registry_person",
        ),
    )
    con.execute(
        f"create view feed_deaths as select * from read_parquet('{data / 'feed_deaths.parquet'}')"
    )
    con.execute(PLAN)

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def rows(sql: str) -> list[tuple]:
        return [
            tuple(v.isoformat() if isinstance(v, dt.date) else v for v in r)
            for r in con.execute(sql).fetchall()
        ]

    def insert(out, table: str, columns: str, values: list[tuple]) -> None:
        names = [c.strip() for c in columns.split(",")]
        marks = ", ".join("?" * len(names))
        out.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", values)

    enrolment_columns = (
        "id, programme, village_code, county_code, approved_on, start_month, end_month, status, "
        "stop_reason, household_type, next_review_on, grace_from_month, grace_reason, "
        "separately_registered, care_level, version, created_at, updated_at, household_id"
    )
    enrolments = rows(
        f"""
        select id, 'dibao', village_code, county_code, '2023-12-15', '2024-01-01',
               case when status = 'stopped' then '2024-03-01' end, status, '', 'stable',
               case when draw % 33 = 0 then '2024-05-31' else '2024-12-31' end,
               case when status = 'grace' then '2024-05-01' end, '', draw % 50 = 0, '', 1,
               '{now}', '{now}', household_pk
        from enrol
        union all
        select id, 'dibao', village_code, county_code, '2023-12-15', '2024-01-01', '2024-03-01',
               'stopped', '', 'stable', '2024-12-31', null, '', false, '', 1,
               '{now}', '{now}', household_pk
        from doubles order by 1
        """
    )
    member_columns = (
        "id, programme, active, from_month, to_month, end_reason, enrolment_id, person_id"
    )
    members = rows(
        """
        select id, 'dibao', status <> 'stopped', '2024-01-01',
               case when status = 'stopped' then '2024-03-01' end, '', enrolment_id, person_pk
        from members
        union all
        select (select max(id) from members) + row_number() over (order by d.id, m.person_pk),
               'dibao', false, '2024-01-01', null, '', d.id, m.person_pk
        from doubles d join members m on m.enrolment_id = d.first_id
        order by 1
        """
    )
    roll_columns = "id, county_code, month, status, version, line_count, total_amount, check_report"
    rolls = rows(
        """
        select row_number() over (order by county_code, month), county_code, month, 'draft', 1,
               0, 0, '{}'
        from (select distinct county_code from hh)
        cross join (values ('2024-05-01'), ('2024-06-01')) m(month)
        """
    )
    roll_ids = {(r[1], r[2]): r[0] for r in rolls}
    line_columns = (
        "id, kind, village_code, payee_name, account, amount, note, enrolment_id, household_id, "
        "roll_id"
    )
    lines = [
        (i + 1, "dibao", v, "", "", str(amount), "", e, h, roll_ids[(c, m)])
        for i, (c, m, v, amount, e, h) in enumerate(
            rows(
                """
                select county_code, month, village_code, amount + case when month = '2024-06-01'
                       and draw % 33 = 1 then 20 else 0 end, id, household_pk
                from enrol cross join (values ('2024-05-01'), ('2024-06-01')) m(month)
                where status <> 'stopped'
                union all
                select county_code, '2024-06-01', village_code, amount, id, household_pk
                from doubles
                """
            )
        )
    ]
    proposal_columns = (
        "id, kind, event_date, event_date_known, source, record_id, detected_on, due_on, state, "
        "processed_on, outcome, version, person_id, enrolment_id"
    )
    proposals = rows(
        """
        select row_number() over (order by enrolment_id, person_pk), 'death', died, true, 'feed',
               record_id, died + 7, cast(died + interval 3 month as date),
               case when hash(record_id) % 3 = 0 then 'open' else 'processed' end,
               case hash(record_id) % 3 when 0 then null
                    when 1 then cast(died + interval 3 month as date) + 5 else died + 20 end,
               '', 1, person_pk, enrolment_id
        from deaths where hash(record_id || ':proposal') % 2 = 0
        """
    )
    application_columns = (
        "id, programme, village_code, county_code, temp_type, event, source_case_id, track, "
        "special_reason, related_to_staff, related_note, accepted_on, assessment, investigators, "
        "family_signed, survey_findings, check_note, notice_objection, notice_note, "
        "approver_level, case_by_case, refusal_reason, rechecked, status, version, created_at, "
        "updated_at, household_id"
    )
    applications = rows(
        f"""
        select row_number() over (order by h.pk), 'dibao', h.village_code, h.county_code, '', '',
               '', 'standard', '', false, '', '2024-06-10', '{{}}', '[]', false, '', '', false,
               '', '', false, '', false, 'in_progress', 1, '{now}', '{now}', h.pk
        from eligibility e join hh h using (household_id)
        where e.dibao_eligible and not e.enrolled and hash(h.household_id || ':applying') % 3 = 0
        """
    )
    print("writing enrolments, rolls, proposals, applications ...", flush=True)
    with sqlite3.connect(db) as out:
        insert(out, "assistance_enrolment", enrolment_columns, enrolments)
        insert(out, "assistance_enrolmentmember", member_columns, members)
        insert(out, "assistance_roll", roll_columns, rolls)
        insert(out, "assistance_rollline", line_columns, lines)
        out.execute("UPDATE assistance_roll SET status = 'approved'")
        insert(out, "assistance_changeproposal", proposal_columns, proposals)
        insert(out, "assistance_application", application_columns, applications)
        results = work / "db" / "runs" / "earlier" / "results"
        results.mkdir(parents=True, exist_ok=True)
        eligibility = con.sql(
            "select household_id, village_code, dibao_eligible, dibao_amount from eligibility"
        ).to_arrow_table()
        pq.write_table(conform(eligibility, HOUSEHOLDS), results / "households.parquet")
        out.execute(
            "INSERT INTO screening_screenrun (as_of, engine, area_codes, incremental, status, "
            "progress, progress_note, created_at, parameters, feed_batches, counts, results_path, "
            "error, catalogue_hash, scope_key, task_id) VALUES (?, 'duckdb', '[]', 0, "
            "'succeeded', 100, '', ?, '{}', '[]', '{}', ?, '', '', '', '')",
            (AS_OF.isoformat(), now, str(results)),
        )
    counts = {
        "enrolments": len(enrolments),
        "members": len(members),
        "roll_lines": len(lines),
        "proposals": len(proposals),
        "applications": len(applications),
        "eligible_households": con.execute(
            "select count(*) from eligibility where dibao_eligible"
        ).fetchone()[0],
    }
    marker.write_text(json.dumps(counts))
    return counts


# ---------------------------------------------------------------- children


def _baseline_module(work_root: Path):
    """The checks module of BASELINE_COMMIT, loaded beside the current one."""
    path = work_root / f"checks_{BASELINE_COMMIT}.py"
    if not path.exists():
        text = subprocess.run(
            ["git", "show", f"{BASELINE_COMMIT}:src/safetynet/assistance/checks.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    name = "safetynet.assistance.checks_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _baseline_step(module):
    """The screen's step as it was: run_checks' dicts into the quality table."""
    import pyarrow as pa

    from safetynet.screening.results import QUALITY

    rows = module.run_checks(as_of=AS_OF, area_code="")
    if not rows:
        return QUALITY.empty_table()
    return pa.Table.from_pylist(
        [
            {
                "check": r["check"],
                "household_id": r.get("household_id") or "",
                "id_number": r.get("id_number") or "",
                "message_zh": r.get("message_zh") or r.get("message") or "",
                "message_en": r.get("message_en") or r.get("message") or "",
                "source": "programmes",
            }
            for r in rows
        ],
        schema=QUALITY,
    )


def _feed_views(data: Path):
    """Stand-in for the lake's linked views: the bench's linked feed files."""
    from safetynet.assistance import evidence

    def register(con, *, kinds=None):
        names = []
        for kind in kinds or FEEDS:
            schema = evidence.FEED_SCHEMAS[kind]
            cols = ", ".join(f"cast({f.name} as {_duck_type(f.type)}) as {f.name}" for f in schema)
            path = data / f"feed_{kind}.parquet"
            con.execute(
                f"create or replace temp view feed_{kind} as "
                f"select {cols} from read_parquet('{path}')"
            )
            names.append(f"feed_{kind}")
        return names

    return register


def _duck_type(typ) -> str:
    import pyarrow as pa

    if pa.types.is_date(typ):
        return "date"
    if pa.types.is_floating(typ):
        return "double"
    return "varchar"


def child_run(db_dir: Path, data: Path, case: str, version: str, work_root: Path) -> dict:
    os.environ["SAFETYNET_DATA_DIR"] = str(db_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    import django

    django.setup()
    from safetynet.assistance import checks
    from safetynet.screening import runner

    if version == "baseline":
        module = _baseline_module(work_root)

        def step():
            return _baseline_step(module)
    else:
        module = checks

        def step():
            return runner.programme_checks(as_of=AS_OF, area_codes=[])

    if case == "region":
        # as in bench/screen.py, which deletes the earlier runs before its screen
        module.latest_screen_eligibility = lambda *args, **kwargs: None
    else:
        from safetynet.feeds import selectors

        selectors.register_linked_feeds = _feed_views(data)

    calls = []
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        table = step()
        calls.append((time.perf_counter() - wall, time.process_time() - cpu))
    table = table.sort_by([(c, "ascending") for c in table.column_names])
    digest = hashlib.sha256()
    for batch in table.to_batches(100_000):
        digest.update(json.dumps(batch.to_pylist(), ensure_ascii=False).encode())
    by_check: dict[str, int] = {}
    for check in table.column("check").to_pylist():
        by_check[check] = by_check.get(check, 0) + 1
    return {
        "first": calls[0],
        "warm": calls[1],
        "findings": table.num_rows,
        "by_check": by_check,
        "digest": digest.hexdigest()[:16],
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), "_child", *args],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--screen-work", type=Path, default=ROOT / "var" / "bench-screen")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-checks")
    parser.add_argument("--cases", nargs="+", default=["region", "enrolled"])
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    results = []
    for persons in args.persons:
        source = args.screen_work / f"p{persons}"
        data = source / "data"
        if not (source / "db" / "loaded-sqlite.json").exists():
            raise SystemExit(f"{source} is not loaded: run bench/screen.py --prepare-only first")
        for case in args.cases:
            if case == "region":
                db_dir = source / "db"
                setup = {}
            else:
                work = args.work / f"p{persons}"
                setup = prepare_enrolled(source / "db" / "safetynet.sqlite3", work, data)
                db_dir = work / "db"
            versions = ["current"] if args.skip_baseline else ["baseline", "current"]
            for version in versions:
                print(f"{case} {version}, {persons:,} persons ...", flush=True)
                load = os.getloadavg()[0]
                res = run_child([str(db_dir), str(data), case, version, str(args.work)])
                res["load"] = round(load, 1)
                print(f"  {json.dumps(res, ensure_ascii=False)}", flush=True)
                results.append((persons, case, version, res, setup))

    header = (
        f"{'case':14} {'persons':>11} {'version':9} {'first s':>8} {'cpu s':>7} {'warm s':>7} "
        f"{'cpu s':>7} {'peak GB':>8} {'findings':>9} {'same':>5} {'load':>5}"
    )
    print()
    print(header)
    print("-" * len(header))
    digests = {(p, c, v): r["digest"] for p, c, v, r, _ in results}
    for persons, case, version, res, _ in results:
        other = digests.get((persons, case, "baseline" if version == "current" else "current"))
        same = "—" if other is None else ("yes" if other == res["digest"] else "NO")
        (first, first_cpu), (warm, warm_cpu) = res["first"], res["warm"]
        print(
            f"{case:14} {persons:>11,} {version:9} {first:>8.2f} {first_cpu:>7.2f} {warm:>7.2f} "
            f"{warm_cpu:>7.2f} {res['peak_gb']:>8.2f} {res['findings']:>9,} {same:>5} "
            f"{res['load']:>5}"
        )
    print()
    for persons, case, version, res, setup in results:
        if version == "current":
            print(
                f"{case} {persons:,}: findings {res['by_check']}"
                + (f"; setup {setup}" if setup else "")
            )
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        rest = sys.argv[2:]
        out = child_run(Path(rest[0]), Path(rest[1]), rest[2], rest[3], Path(rest[4]))
        print(json.dumps(out, default=str))
    else:
        main()
