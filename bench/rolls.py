"""Monthly payment roll of one large county: set-based generation and check vs a naive
per-enrolment ORM loop measured in the same run on a slice (and extrapolated).

    .venv/bin/python bench/rolls.py                      # 50,000 households, SQLite in a temp dir
    .venv/bin/python bench/rolls.py --households 5000 --slice 500
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_rolls .venv/bin/python bench/rolls.py

The county is synthetic (遂川县 360827 with 20 townships × 25 villages); households are enrolled
directly in bulk (the procedure is not what is measured): 90 % dibao households of 1–5
members, 10 % tekun persons, a tenth of the enrolments with a recomputed amount, a few deaths.
Target: generate + check ≤ 10 s for 50,000 households.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

COUNTY = "360827"
MONTH = dt.date(2024, 7, 1)
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def id_number(seq: int) -> str:
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=seq // 1000)
    body = f"{COUNTY}{birth:%Y%m%d}{seq % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True))
    return body + CHECK[total % 11]


def setup_django(database: str | None) -> Path:
    data = Path(tempfile.mkdtemp(prefix="bench-rolls-"))
    os.environ["SAFETYNET_DATA_DIR"] = str(data)
    if database:
        os.environ["DATABASE_URL"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        # A fresh database each run: drop what a previous run left.
        with connection.cursor() as cur:
            cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    for d in (settings.DATA_DIR, settings.LAKE_DIR, settings.EXPORT_DIR):
        d.mkdir(parents=True, exist_ok=True)
    call_command("migrate", interactive=False, verbosity=0)
    return data


def fast_insert(model, objs: list) -> None:
    """INSERT model rows with executemany: the bench's set-up is not what is measured, and
    bulk_create on SQLite is held to 999 parameters a statement."""
    from django.db import connection, models

    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    cols = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    slow = [
        isinstance(f, models.DateTimeField | models.DecimalField | models.JSONField) for f in fields
    ]
    rows = []
    for obj in objs:
        row = []
        for f, convert in zip(fields, slow, strict=True):
            value = f.pre_save(obj, True)
            row.append(f.get_db_prep_save(value, connection) if convert else value)
        rows.append(row)
    with connection.cursor() as cur:
        cur.executemany(f"INSERT INTO {model._meta.db_table} ({cols}) VALUES ({marks})", rows)


def build_county(households: int) -> dict:
    from django.db import transaction

    from safetynet.accounts.models import User
    from safetynet.areas.models import Area
    from safetynet.areas.services import load_reference_counties
    from safetynet.assistance.models import (
        AmountPeriod,
        ChangeProposal,
        Enrolment,
        EnrolmentMember,
    )
    from safetynet.registry.models import Household, Person

    load_reference_counties(actor=None)
    villages = []
    with transaction.atomic():
        areas = []
        for t in range(1, 21):
            township = f"{COUNTY}{t:03d}"
            areas.append(Area(code=township, name=f"乡镇{t}", level=4, parent_id=COUNTY))
            for v in range(1, 26):
                code = f"{township}{v:03d}"
                areas.append(Area(code=code, name=f"村{t}-{v}", level=5, parent_id=township))
                villages.append(code)
        Area.objects.bulk_create([a for a in areas if a.level == 4])
        Area.objects.bulk_create([a for a in areas if a.level == 5])

    start = dt.date(2024, 1, 1)
    seq = 0
    with transaction.atomic():
        hh_rows = [
            Household(
                household_id=f"B{i:08d}",
                village_id=villages[i % len(villages)],
                bank_account=f"6217995{i:012d}",
            )
            for i in range(households)
        ]
        fast_insert(Household, hh_rows)
        hh_pk = dict(Household.objects.values_list("household_id", "pk"))
        persons = []
        sizes = []
        for i in range(households):
            size = 1 + (i * 7919) % 5
            sizes.append(size)
            for m in range(size):
                seq += 1
                persons.append(
                    Person(
                        household_id=hh_pk[f"B{i:08d}"],
                        id_number=id_number(seq),
                        name=f"人员{seq}",
                        relation="head" if m == 0 else "child",
                        labour="normal" if m == 0 else "none",
                    )
                )
        fast_insert(Person, persons)
        by_household: dict[int, list[int]] = {}
        for pk, hh in Person.objects.values_list("pk", "household_id").order_by("pk"):
            by_household.setdefault(hh, []).append(pk)

        enrolments = []
        for i in range(households):
            hh = hh_pk[f"B{i:08d}"]
            tekun = i % 10 == 9
            enrolments.append(
                Enrolment(
                    programme="tekun" if tekun else "dibao",
                    household_id=hh,
                    person_id=by_household[hh][0] if tekun else None,
                    village_code=villages[i % len(villages)],
                    county_code=COUNTY,
                    approved_on=start,
                    start_month=dt.date(2024, 2, 1),
                    next_review_on=dt.date(2025, 1, 1),
                    care_level="partial" if tekun else "",
                )
            )
        fast_insert(Enrolment, enrolments)
        rows = list(
            Enrolment.objects.order_by("pk").values_list(
                "pk", "programme", "household_id", "person_id"
            )
        )
        members, periods = [], []
        for pk, programme, hh, person in rows:
            people = [person] if programme == "tekun" else by_household[hh]
            members += [
                EnrolmentMember(
                    enrolment_id=pk,
                    person_id=p,
                    programme=programme,
                    from_month=dt.date(2024, 2, 1),
                )
                for p in people
            ]
            amount = Decimal(1154 if programme == "tekun" else 120 + 97 * len(people))
            periods.append(
                AmountPeriod(
                    enrolment_id=pk,
                    from_month=dt.date(2024, 2, 1),
                    monthly_amount=amount,
                    reason="approval",
                )
            )
            if pk % 10 == 0:
                periods.append(
                    AmountPeriod(
                        enrolment_id=pk,
                        from_month=dt.date(2024, 6, 1),
                        monthly_amount=amount + 40,
                        reason="parameters",
                    )
                )
        fast_insert(EnrolmentMember, members)
        fast_insert(AmountPeriod, periods)
        deaths = [
            ChangeProposal(
                kind="death",
                enrolment_id=pk,
                person_id=person,
                event_date=dt.date(2024, 5, 10),
                source="registry",
                detected_on=dt.date(2024, 5, 20),
                due_on=dt.date(2024, 8, 10),
            )
            for pk, programme, hh, person in rows[9::500]
            if programme == "tekun"
        ]
        ChangeProposal.objects.bulk_create(deaths)
    from django.db import connection

    with connection.cursor() as cur:  # fresh statistics, as after any bulk import
        cur.execute("ANALYZE")
    maker = User.objects.create(username="maker", role="county", area_id=COUNTY)
    checker = User.objects.create(username="checker", role="county", area_id=COUNTY)
    finance = User.objects.create(username="finance", role="county", area_id=COUNTY, finance=True)
    return {
        "households": households,
        "persons": len(persons),
        "enrolments": len(rows),
        "members": len(members),
        "periods": len(periods),
        "maker": maker,
        "checker": checker,
        "finance": finance,
    }


def naive_roll(roll, enrolment_ids: list[int]) -> None:
    """The per-enrolment way: one query per fact, one INSERT per line (openIMIS-style)."""
    from safetynet.assistance.models import AmountPeriod, ChangeProposal, Enrolment, RollLine
    from safetynet.registry.models import Person

    for pk in enrolment_ids:
        e = Enrolment.objects.get(pk=pk)
        if e.start_month > roll.month or (e.end_month and e.end_month < roll.month):
            continue
        period = (
            AmountPeriod.objects.filter(enrolment=e, from_month__lte=roll.month)
            .order_by("-from_month", "-id")
            .first()
        )
        if ChangeProposal.objects.filter(enrolment=e, event_date__lt=roll.month).exists():
            continue
        household = e.household
        head = Person.objects.filter(household=household, relation="head").first()
        payee = e.person.name if e.person_id else (head.name if head else "")
        RollLine(
            roll=roll,
            kind=e.programme,
            enrolment=e,
            household=household,
            person_id=e.person_id,
            village_code=e.village_code,
            payee_name=payee,
            account=household.bank_account,
            amount=period.monthly_amount,
        ).save()


def naive_check(roll) -> None:
    from safetynet.assistance.models import RollLine

    totals: dict[str, Decimal] = {}
    for line in RollLine.objects.filter(roll=roll):
        totals[line.kind] = totals.get(line.kind, Decimal("0")) + line.amount
        _ = line.household.bank_account  # account present?
        RollLine.objects.filter(
            roll__month=dt.date(2024, 6, 1), enrolment_id=line.enrolment_id
        ).first()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument(
        "--slice", type=int, default=1_000, help="enrolments for the naive baseline"
    )
    parser.add_argument(
        "--database", default=None, help="DATABASE_URL (default: SQLite in a temp dir)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    setup_django(args.database)
    from django.db import connection

    from safetynet.assistance import rolls
    from safetynet.assistance.models import Enrolment, Roll

    t0 = time.perf_counter()
    info = build_county(args.households)
    build_s = time.perf_counter() - t0

    times = {}
    t = time.perf_counter()
    june = rolls.roll_generate(
        actor=info["maker"],
        county_code=COUNTY,
        month=dt.date(2024, 6, 1),
        today=dt.date(2024, 6, 1),
        feeds={"deaths": []},
    )
    june = rolls.roll_check(actor=info["maker"], roll_id=june.pk, version=june.version)
    june = rolls.roll_approve(actor=info["checker"], roll_id=june.pk, version=june.version)
    times["previous month (setup)"] = time.perf_counter() - t

    t = time.perf_counter()
    roll = rolls.roll_generate(
        actor=info["maker"], county_code=COUNTY, month=MONTH, today=MONTH, feeds={"deaths": []}
    )
    times["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    roll = rolls.roll_check(actor=info["maker"], roll_id=roll.pk, version=roll.version)
    times["check (+ reconcile)"] = time.perf_counter() - t
    t = time.perf_counter()
    roll = rolls.roll_approve(actor=info["checker"], roll_id=roll.pk, version=roll.version)
    times["approve"] = time.perf_counter() - t
    t = time.perf_counter()
    export = rolls.roll_export(actor=info["finance"], roll_id=roll.pk, fmt="csv")
    times["export bank file (csv)"] = time.perf_counter() - t
    balanced = roll.check_report["check"]["balanced"]

    ids = list(Enrolment.objects.order_by("?").values_list("pk", flat=True)[: args.slice])
    naive = Roll.objects.create(county_code=COUNTY, month=dt.date(2024, 8, 1))
    t = time.perf_counter()
    naive_roll(naive, ids)
    naive_gen = (time.perf_counter() - t) * info["enrolments"] / len(ids)
    t = time.perf_counter()
    naive_check(naive)
    naive_chk = (time.perf_counter() - t) * info["enrolments"] / len(ids)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    fast = times["generate"] + times["check (+ reconcile)"]
    print(
        f"\nPayment roll of one county, {connection.vendor}: {info['households']:,} households, "
        f"{info['enrolments']:,} enrolments, {info['members']:,} memberships, "
        f"{info['periods']:,} amount periods (set-up {build_s:.1f} s)"
    )
    print(
        f"Roll {roll.month:%Y-%m}: {roll.line_count:,} lines, {roll.total_amount:,} yuan, "
        f"{len(roll.check_report['generation']['withheld'])} withheld (deaths), balanced={balanced}, "
        f"bank file {export['rows']:,} rows\n"
    )
    print(f"{'step':<26}{'set-based (s)':>15}{'naive ORM (s)':>16}{'speed-up':>10}")
    print(
        f"{'generate':<26}{times['generate']:>15.2f}{naive_gen:>16.1f}{naive_gen / times['generate']:>9.0f}×"
    )
    print(
        f"{'check (+ reconcile)':<26}{times['check (+ reconcile)']:>15.2f}{naive_chk:>16.1f}"
        f"{naive_chk / times['check (+ reconcile)']:>9.0f}×"
    )
    print(
        f"{'generate + check':<26}{fast:>15.2f}{naive_gen + naive_chk:>16.1f}"
        f"{(naive_gen + naive_chk) / fast:>9.0f}×"
    )
    for step in ("approve", "export bank file (csv)"):
        print(f"{step:<26}{times[step]:>15.2f}{'—':>16}{'':>10}")
    print(
        f"\nnaive baseline measured on {len(ids):,} random enrolments and extrapolated; "
        f"peak RSS {peak_mb:.0f} MB; target generate + check ≤ 10 s: "
        f"{'met' if fast <= 10 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
