"""Web latency under load: dashboard, household search and household profile.

Builds (once) a PostgreSQL database with a county of N households (default 100,000: 500
villages, ~3.5 members each, two income years, screening findings over 12 runs, one audit row
per household and person), starts the app under gunicorn on 127.0.0.1, and measures each page
with 1 user (the baseline), with 20 concurrent users who each wait about a second between their
requests (`--think`), and with 20 users firing back to back (saturation). A bounded thread
pool; each thread keeps its own keep-alive connection; the users' sessions are written
directly. Prints a side-by-side table; the target is a p95 of at most 300 ms with 20 users.

    .venv/bin/python bench/web.py                       # 100k households, 20 users
    .venv/bin/python bench/web.py --households 20000 --requests 100

The database is reused when it already holds the requested number of households
(``--rebuild`` starts over). Loopback only; request counts and durations are bounded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红梅鑫波斌宇浩凯秀珍建国志强春花冬梅"
)
COUNTY = "360827"
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def id_number(area6: str, birth: dt.date, seq: int) -> str:
    body = f"{area6}{birth:%Y%m%d}{seq:03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- data


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            con.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(households: int, seed: int) -> None:
    from django.db import transaction

    from safetynet.areas.models import Area
    from safetynet.areas.services import load_reference_counties
    from safetynet.core.models import AuditEvent
    from safetynet.registry.models import Household, Income, Person
    from safetynet.screening.models import Finding, ScreenRun

    rng = random.Random(seed)
    load_reference_counties(actor=None)
    villages_per_township, townships = 25, max(1, households // 5000)
    areas = []
    for t in range(1, townships + 1):
        tcode = f"{COUNTY}{t:03d}"
        areas.append(Area(code=tcode, name=f"第{t}镇", level=4, parent_id=COUNTY))
        for v in range(1, villages_per_township + 1):
            areas.append(
                Area(code=f"{tcode}{v:03d}", name=f"第{t}镇{v}村", level=5, parent_id=tcode)
            )
    Area.objects.bulk_create(areas, ignore_conflicts=True)
    villages = [a.code for a in areas if len(a.code) == 12]
    log(f"areas: {len(villages)} villages")

    person_i = 0
    batch = 5000
    start = dt.date(1940, 1, 1)
    with transaction.atomic():
        for lo in range(0, households, batch):
            hh_rows = []
            for i in range(lo, min(households, lo + batch)):
                village = villages[i % len(villages)]
                hh_rows.append(
                    Household(
                        household_id=f"H{village}{i // len(villages):04d}",
                        village_id=village,
                        address=f"{village} {i}",
                        registered_poor=rng.random() < 0.3,
                        exit_year=2019 if rng.random() < 0.3 else None,
                        housing_grade=rng.choice("AABBC"),
                        phone=f"139{rng.randrange(10**8):08d}",
                        bank_account=f"62179950{rng.randrange(10**11):011d}",
                    )
                )
            Household.objects.bulk_create(hh_rows, batch_size=batch)
            created = list(
                Household.objects.filter(
                    household_id__in=[h.household_id for h in hh_rows]
                ).values_list("pk", "household_id", "village_id")
            )
            persons, incomes, events = [], [], []
            for pk, _hid, village in created:
                events.append(AuditEvent(actor_label="cli:bench", action="create",
                                         object_type="registry.household", object_id=str(pk),
                                         area_code=village))  # fmt: skip
                n = rng.choice([1, 2, 3, 3, 4, 4, 5, 6])
                surname = rng.choice(SURNAMES)
                for m in range(n):
                    birth = start + dt.timedelta(days=person_i % 25000)
                    persons.append(
                        Person(
                            household_id=pk,
                            id_number=id_number(COUNTY, birth, person_i // 25000),
                            name=surname
                            + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2]))),
                            relation="head"
                            if m == 0
                            else rng.choice(["spouse", "child", "parent"]),
                            birth_date=birth,
                            labour=rng.choice(["normal", "normal", "weak", "none"]),
                            health=rng.choice(["healthy"] * 6 + ["chronic", "serious", "disabled"]),
                            phone=f"138{rng.randrange(10**8):08d}" if m == 0 else "",
                        )
                    )
                    person_i += 1
                for year in (2023, 2024):
                    incomes.append(
                        Income(
                            household_id=pk,
                            year=year,
                            wage=Decimal(rng.randrange(0, 60000)),
                            business_income=Decimal(rng.randrange(0, 20000)),
                        )  # fmt: skip
                    )
            Person.objects.bulk_create(persons, batch_size=batch)
            Income.objects.bulk_create(incomes, batch_size=batch)
            AuditEvent.objects.bulk_create(events, batch_size=batch)
            log(f"households {lo + len(hh_rows):,} / {households:,}")

        runs = [ScreenRun.objects.create(as_of=dt.date(2024, m, 28), status="succeeded")
                for m in range(1, 13)]  # fmt: skip
        findings = []
        hh = list(Household.objects.values_list("pk", "household_id", "village_id"))
        for pk, hid, village in rng.sample(hh, len(hh) // 12):
            first = rng.randrange(len(runs))
            resolved = (
                runs[rng.randrange(first + 1, len(runs))]
                if first < 11 and rng.random() < 0.3
                else None
            )
            kind = "quality" if rng.random() < 0.25 else "warning"
            findings.append(
                Finding(
                    key=f"{kind}:{hid}",
                    kind=kind,
                    household_id=pk,
                    village_code=village,
                    check_id="Q-NOINCOME" if kind == "quality" else "",
                    category=rng.choice(["unstable", "edge", "sudden"])
                    if kind == "warning"
                    else "",
                    level=rng.choice(["red", "orange", "yellow"]) if kind == "warning" else "",
                    rules=["M-INCOME"],
                    state="resolved" if resolved else "open",
                    first_run=runs[first],
                    last_run=resolved or runs[-1],
                    resolved_run=resolved,
                )  # fmt: skip
            )
        Finding.objects.bulk_create(findings, batch_size=batch)
    log(f"persons {person_i:,}; findings {len(findings):,}")


def session_cookie(username: str) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from safetynet.accounts.models import User

    user = User.objects.get(username=username)
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


# ---------------------------------------------------------------- load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, port: int, workers: int, threads: int) -> subprocess.Popen:
    gunicorn = shutil.which("gunicorn", path=str(ROOT / ".venv" / "bin")) or "gunicorn"
    proc = subprocess.Popen(
        [gunicorn, "safetynet.config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
         "--log-level", "warning", "--timeout", "60"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited: " + proc.stderr.read().decode()[-2000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login/")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("gunicorn did not answer within 60 s")


class Worker(threading.local):
    conn: http.client.HTTPConnection | None = None


def run_scenario(
    port: int, cookie: str, paths: list[str], concurrency: int, think: float = 0.0
) -> dict:
    """Latency of GET requests from `concurrency` users, each waiting `think` seconds on
    average (0.5–1.5 ×) between its requests; think time is not part of the latency."""
    local = Worker()
    errors = []
    rng = random.Random(len(paths))

    def one(path: str) -> float:
        elapsed = request(path)
        if think:
            time.sleep(think * (0.5 + rng.random()))
        return elapsed

    def request(path: str) -> float:
        if local.conn is None:
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t0 = time.perf_counter()
        try:
            local.conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}"})
            resp = local.conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            local.conn = None
            errors.append(f"{path}: {exc}")
            return time.perf_counter() - t0
        if resp.status != 200:
            errors.append(f"{path}: HTTP {resp.status}")
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, paths))
    wall = time.perf_counter() - t0
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "n": len(latencies), "errors": len(errors), "first_error": errors[0] if errors else "",
        "p50": p(0.50), "p95": p(0.95), "max": latencies[-1] * 1000,
        "mean": statistics.fmean(latencies) * 1000, "rps": len(latencies) / wall,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--db", default="postgres://postgres@127.0.0.1:5432/safetynet_bench_web")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--requests", type=int, default=200, help="requests per scenario at full load")
    ap.add_argument("--baseline-requests", type=int, default=30)
    ap.add_argument(
        "--think", type=float, default=1.0, help="mean seconds between a user's requests"
    )
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "web.json"))
    args = ap.parse_args()

    data_dir = Path("/tmp/safetynet-bench-web")
    data_dir.mkdir(parents=True, exist_ok=True)
    # The same settings in this process (which writes the sessions) and in the server.
    os.environ.update({"DATABASE_URL": args.db, "SAFETYNET_DATA_DIR": str(data_dir),
                       "DJANGO_SETTINGS_MODULE": "safetynet.config.settings",
                       "SAFETYNET_DEBUG": "0", "SAFETYNET_SECRET_KEY": "bench-only-secret",
                       "SAFETYNET_ALLOWED_HOSTS": "127.0.0.1"})  # fmt: skip
    if args.rebuild:
        drop_database(args.db)
    ensure_database(args.db)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from safetynet.registry.models import Household, Person

    if Household.objects.count() != args.households:
        if Household.objects.exists():
            sys.exit("database holds another size; use --rebuild")
        t0 = time.perf_counter()
        populate(args.households, args.seed)
        log(f"populated in {time.perf_counter() - t0:.0f} s")
    from django.db import connection

    with connection.cursor() as cur:  # what autovacuum does in a running deployment
        cur.execute("VACUUM ANALYZE")
    from safetynet.accounts.services import create_demo_personas

    create_demo_personas(password="bench-password-1")
    cookies = {u: session_cookie(u) for u in ("county", "village")}

    rng = random.Random(args.seed)
    county_hids = list(Household.objects.values_list("household_id", flat=True))
    from safetynet.accounts.models import User

    village_code = User.objects.get(username="village").area_id
    village_hids = list(
        Household.objects.filter(village_id=village_code).values_list("household_id", flat=True)
    )
    names = list(Person.objects.filter(relation="head").values_list("name", flat=True)[:5000])
    ids = list(Person.objects.values_list("id_number", flat=True)[:5000])

    def paths(kind: str, who: str, n: int) -> list[str]:
        hids = county_hids if who == "county" else village_hids
        if kind == "dashboard":
            return ["/"] * n
        if kind == "search (name)":
            return [f"/households/?q={quote(rng.choice(names))}" for _ in range(n)]
        if kind == "search (ID number)":
            return [f"/households/?q={rng.choice(ids)}" for _ in range(n)]
        if kind == "search (list page)":
            return [f"/households/?page={rng.randrange(1, 50)}" for _ in range(n)]
        return [f"/households/{rng.choice(hids)}/" for _ in range(n)]

    scenarios = [
        ("county", "dashboard"), ("county", "search (name)"), ("county", "search (ID number)"),
        ("county", "search (list page)"), ("county", "profile"),
        ("village", "dashboard"), ("village", "search (name)"), ("village", "profile"),
    ]  # fmt: skip
    env = dict(os.environ)
    port = free_port()
    log(f"gunicorn on 127.0.0.1:{port}, {args.workers} workers × {args.threads} threads")
    server = start_server(env, port, args.workers, args.threads)
    results = []
    try:
        for who, kind in scenarios:  # warm up every worker and page
            run_scenario(port, cookies[who], paths(kind, who, 8), 4)
        for who, kind in scenarios:
            base = run_scenario(port, cookies[who], paths(kind, who, args.baseline_requests), 1)
            users = run_scenario(port, cookies[who], paths(kind, who, args.requests),
                                 args.concurrency, think=args.think)  # fmt: skip
            burst = run_scenario(
                port, cookies[who], paths(kind, who, args.requests), args.concurrency
            )
            results.append({"user": who, "page": kind, "baseline": base, "users": users,
                            "burst": burst})  # fmt: skip
            log(f"{who:8} {kind:20} p95: 1 user {base['p95']:5.0f} ms | {args.concurrency} users "
                f"{users['p95']:5.0f} ms | {args.concurrency} back-to-back {burst['p95']:5.0f} ms "
                f"({burst['rps']:.0f} req/s)")  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    c = args.concurrency
    print()
    print(f"Web latency, {args.households:,} households, PostgreSQL, gunicorn "
          f"{args.workers}×{args.threads}; ms; target p95 ≤ 300 with {c} users")  # fmt: skip
    cols = ["user", "page", "1 user p50", "1 user p95", f"{c} users p50", f"{c} users p95",
            f"{c} back-to-back p95", "max req/s", "errors"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" for _ in cols) + "|")
    for r in results:
        b, u, x = r["baseline"], r["users"], r["burst"]
        errors = b["errors"] + u["errors"] + x["errors"]
        print(f"| {r['user']} | {r['page']} | {b['p50']:.0f} | {b['p95']:.0f} | {u['p50']:.0f} | "
              f"{u['p95']:.0f} | {x['p95']:.0f} | {x['rps']:.0f} | {errors} |")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    for r in results:
        for key in ("baseline", "users", "burst"):
            if r[key]["errors"]:
                sys.exit(f"errors in {r['user']} {r['page']}: {r[key]['first_error']}")


if __name__ == "__main__":
    main()
