"""Synthetic region data for bench/screen.py, written straight to Parquet in the engine's input
shape (households, persons, incomes, feed_<kind>) — vectorised with NumPy, deterministic by seed.

Going through the demo generator's CSV files and the registry importer would take longer than
the screen itself at 10M persons; this writes the same shapes directly. Feed records are already
linked (id_number/household_id are the registry person/household), as the linked views give them.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REFERENCE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "luoxiao_counties.csv"
)
FALLBACK_COUNTIES = ["360321", "360703", "360704", "360724", "360827", "430224", "431025"]
HOUSEHOLDS_PER_VILLAGE = 300
EPOCH = dt.date(1970, 1, 1)
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK = np.frombuffer(b"10X98765432", dtype="S1")
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高曾钟谢邱彭肖")
GIVEN = list("建国秀英明华平志军小红丽文强伟芳敏静海燕春梅兰玉凤")
MONEY = pa.decimal128(18, 2)
# Rows per Parquet row group of the feed files, as the lake's linked views have them: written by
# DuckDB's COPY (feeds.selectors.linked_feed_paths), whose default row group is 122,880 rows.
# The screen scans a file on as many threads as it has row groups.
LAKE_ROW_GROUP_ROWS = 122_880
INCOME_FIELDS = [
    "wage",
    "business_income",
    "business_cost",
    "property",
    "pension_basic",
    "pension_other",
    "assistance_received",
    "policy_subsidies",
    "exempt_transfers",
    "other_transfers",
    "education_expense",
    "financial_assets",
]


def money(values) -> pa.Array:
    """Whole yuan (integers) as DECIMAL(14,2)."""
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.decimal128(21, 2)).cast(MONEY)


def counties() -> list[str]:
    if REFERENCE.exists():
        with open(REFERENCE, encoding="utf-8") as fh:
            return [row["code"] for row in csv.DictReader(fh)]
    return FALLBACK_COUNTIES


def _days(d: dt.date) -> int:
    return (d - EPOCH).days


def _id_numbers(county: np.ndarray, birth_days: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Valid, unique 18-character ID numbers (GB 11643) for the given county/birth/sex."""
    n = len(county)
    dates = (np.datetime64("1970-01-01") + birth_days.astype("timedelta64[D]")).astype(str)
    ymd = np.char.replace(dates, "-", "")
    key = county.astype(np.int64) * 100_000 + birth_days.astype(np.int64)
    order = np.lexsort((np.arange(n), key))
    sorted_key = key[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    group_start = np.repeat(start, np.diff(np.r_[start, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    seq = rank * 2 + np.where(male, 1, 2)  # odd = male
    if seq.max() > 999:
        raise ValueError("too many persons per county and birth date for 3-digit sequences")
    first17 = np.char.add(np.char.add(county.astype("U6"), ymd), np.char.zfill(seq.astype("U3"), 3))
    digits = first17.view("U1").reshape(n, 17).astype(np.int64)
    check = CHECK[(digits @ WEIGHTS) % 11].astype("U1")
    return np.char.add(first17, check)


def generate(persons_target: int, seed: int, out_dir: Path, *, as_of: dt.date) -> dict:
    """Write households/persons/incomes and the feed tables; return row counts."""
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes_p = np.array([0.12, 0.22, 0.25, 0.22, 0.12, 0.05, 0.02])
    mean = float((np.arange(1, 8) * sizes_p).sum())
    n_h = int(persons_target / mean)
    size = rng.choice(np.arange(1, 8), size=n_h, p=sizes_p)
    county_list = np.array(counties())
    n_villages = max(1, n_h // HOUSEHOLDS_PER_VILLAGE)
    v_county = county_list[np.arange(n_villages) % len(county_list)]
    v_town = (np.arange(n_villages) // len(county_list)) // 15 + 101
    v_num = (np.arange(n_villages) // len(county_list)) % 15 + 1
    village_codes = np.char.add(
        np.char.add(v_county, np.char.zfill(v_town.astype("U3"), 3)),
        np.char.zfill(v_num.astype("U3"), 3),
    )
    hh_village = village_codes[rng.integers(0, n_villages, n_h)]
    hh_ids = np.char.add("B", np.char.zfill(np.arange(n_h).astype("U9"), 9))
    registered = rng.random(n_h) < 0.12
    exit_year = np.where(registered, rng.integers(2014, 2021, n_h), 0)
    grade = rng.choice(np.array(["A", "B", "C", "D"]), size=n_h, p=[0.55, 0.43, 0.015, 0.005])
    households = pa.table(
        {
            "household_id": hh_ids,
            "village_code": hh_village,
            "registered_poor": registered,
            "exit_year": pa.array(exit_year, pa.int32(), mask=~registered),
            "relocated": rng.random(n_h) < 0.03,
            "housing_grade": grade,
            "water_secure": rng.random(n_h) > 0.005,
            "already_monitored": rng.random(n_h) < 0.02,
        }
    )

    # persons
    n_p = int(size.sum())
    p_hh = np.repeat(np.arange(n_h), size)
    pos = np.arange(n_p) - np.repeat(np.cumsum(size) - size, size)
    head_age = rng.integers(25, 85, n_h)
    age = np.where(
        pos == 0,
        head_age[p_hh],
        np.where(
            pos == 1,
            np.clip(head_age[p_hh] + rng.integers(-5, 5, n_p), 18, 95),
            np.clip(head_age[p_hh] - rng.integers(20, 35, n_p), 0, 70),
        ),
    )
    relation = np.where(pos == 0, "head", np.where(pos == 1, "spouse", "child"))
    head_male = rng.random(n_h) < 0.8
    male = np.where(
        pos == 0, head_male[p_hh], np.where(pos == 1, ~head_male[p_hh], rng.random(n_p) < 0.5)
    )
    ref = _days(as_of)
    birth = ref - age * 365 - rng.integers(0, 365, n_p)
    p_county = np.char.ljust(hh_village[p_hh], 6).astype("U6")
    ids = _id_numbers(p_county, birth, male)
    health = rng.choice(
        np.array(["healthy", "chronic", "serious", "disabled"]), n_p, p=[0.85, 0.10, 0.015, 0.035]
    )
    disabled = health == "disabled"
    dis_type = np.where(
        disabled,
        rng.choice(np.array(["physical", "visual", "intellectual", "mental", "multiple"]), n_p),
        None,
    )
    dis_grade = np.where(disabled, rng.integers(1, 5, n_p), 0)
    school_age = (age >= 6) & (age <= 15)
    labour = np.where(
        (age < 16) | (age >= 70),
        "none",
        np.where(disabled | (health == "serious"), "lost", np.where(age >= 60, "weak", "normal")),
    )
    working = (age >= 16) & (age < 60) & (labour == "normal")
    employment = np.where(
        working, rng.choice(np.array(["none", "local", "migrant"]), n_p, p=[0.3, 0.3, 0.4]), "none"
    )
    status = rng.choice(np.array(["active", "deceased", "moved_out"]), n_p, p=[0.99, 0.005, 0.005])
    names = np.char.add(
        np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n_p)],
        np.char.add(
            np.array(GIVEN)[rng.integers(0, len(GIVEN), n_p)],
            np.array(GIVEN)[rng.integers(0, len(GIVEN), n_p)],
        ),
    )
    phone = np.char.add("13", np.char.zfill(rng.integers(0, 10**9, n_p).astype("U9"), 9))
    persons = pa.table(
        {
            "id_number": ids,
            "household_id": hh_ids[p_hh],
            "name": names,
            "relation": relation,
            "sex": np.where(male, "M", "F"),
            "birth_date": pa.array(birth.astype("datetime64[D]"), pa.date32()),
            "status": status,
            "in_school": school_age & (rng.random(n_p) < 0.97),
            "health": health,
            "disability_type": pa.array(dis_type, pa.string()),
            "disability_grade": pa.array(dis_grade, pa.int32(), mask=~disabled),
            "labour": labour,
            "employment": employment,
            "work_months": pa.array(
                np.where(employment != "none", rng.integers(3, 13, n_p), 0), pa.int32()
            ),
            "medical_insured": rng.random(n_p) < 0.99,
            "pension_insured": pa.array(
                np.where(age >= 16, rng.random(n_p) < 0.9, False), pa.bool_(), mask=age < 16
            ),
            "adl_failed": pa.array(np.where(age >= 80, rng.integers(0, 4, n_p), 0), pa.int32()),
            "supporter_capable": pa.nulls(n_p, pa.bool_()),
            "phone": pa.array(phone, pa.string(), mask=pos != 0),
        }
    )

    # incomes: two years per household, ~7 % of households under the monitoring line
    years = []
    pc_base = rng.lognormal(np.log(16000), 0.45, n_h)
    poor = rng.random(n_h) < 0.06
    pc_base = np.where(poor, rng.uniform(2500, 7200, n_h), pc_base)
    drift = rng.uniform(0.9, 1.08, n_h)
    for year, growth in ((as_of.year - 2, 1 / drift), (as_of.year - 1, np.ones(n_h))):
        base = pc_base * size * growth
        cols = {
            "wage": base * 0.7,
            "business_income": base * 0.25,
            "business_cost": base * 0.05,
            "property": rng.uniform(0, 500, n_h),
            "pension_basic": np.bincount(p_hh, weights=(age >= 60) * 1700.0, minlength=n_h),
            "pension_other": np.zeros(n_h),
            "assistance_received": np.zeros(n_h),
            "policy_subsidies": rng.uniform(0, 1200, n_h),
            "exempt_transfers": np.zeros(n_h),
            "other_transfers": rng.uniform(0, 2000, n_h),
            "education_expense": np.bincount(p_hh, weights=school_age * 800.0, minlength=n_h),
            "financial_assets": rng.exponential(20000, n_h),
        }
        missing = rng.random(n_h) < 0.002  # a few households without an income record
        keep = ~missing
        table = {
            "household_id": hh_ids[keep],
            "year": pa.array(np.full(keep.sum(), year), pa.int32()),
        }
        for name in INCOME_FIELDS:
            table[name] = money(np.round(cols[name][keep]))
        years.append(pa.table(table))
    incomes = pa.concat_tables(years)

    for name, table in (("households", households), ("persons", persons), ("incomes", incomes)):
        pq.write_table(table, out_dir / f"{name}.parquet", compression="zstd")
    counts = {"households": n_h, "persons": n_p, "incomes": incomes.num_rows}
    counts.update(_feeds(rng, persons, households, out_dir, as_of, age, school_age))
    return counts


def _records(
    kind: str, rows: int, rng, person_idx, persons, extra: dict, as_of, *, window_days=700
) -> pa.Table:
    start = _days(as_of) - window_days
    event = rng.integers(start, _days(as_of) + 1, rows)
    table = {
        "record_id": np.char.add(f"{kind[:3]}-", np.arange(rows).astype("U10")),
        "event_date": pa.array(event.astype("datetime64[D]"), pa.date32()),
        "id_number": persons.column("id_number").take(pa.array(person_idx)),
        "household_id": persons.column("household_id").take(pa.array(person_idx)),
    }
    table.update(extra)
    return pa.table(table)


def _feeds(rng, persons, households, out_dir: Path, as_of, age, school_age) -> dict:
    n_p = persons.num_rows
    n_h = households.num_rows
    counts = {}

    def write(kind, table):
        pq.write_table(
            table,
            out_dir / f"feed_{kind}.parquet",
            compression="zstd",
            row_group_size=LAKE_ROW_GROUP_ROWS,
        )
        counts[f"feed_{kind}"] = table.num_rows

    idx = np.arange(n_p)
    write(
        "medical_insurance",
        _records(
            "medical_insurance",
            n_p,
            rng,
            idx,
            persons,
            {
                "year": pa.array(np.full(n_p, as_of.year), pa.int32()),
                "insured": rng.random(n_p) < 0.995,
            },
            as_of,
            window_days=180,
        ),
    )
    m = int(n_p * 1.3)
    who = rng.integers(0, n_p, m)
    total = rng.exponential(3000, m).round()
    oop = (total * rng.uniform(0.1, 0.5, m)).round()
    write(
        "medical_claims",
        _records(
            "medical_claims",
            m,
            rng,
            who,
            persons,
            {
                "total_cost": money(total),
                "insurance_paid": money(total - oop),
                "out_of_pocket": money(oop),
                "inpatient": rng.random(m) < 0.2,
            },
            as_of,
        ),
    )
    pupils = np.flatnonzero(school_age)
    terms = []
    for term in (f"{as_of.year - 1}-2", f"{as_of.year}-1"):
        k = len(pupils)
        t = _records(
            "school_enrolment",
            k,
            rng,
            pupils,
            persons,
            {
                "term": np.full(k, term),
                "school": np.full(k, "中心小学"),
                "stage": np.where(age[pupils] <= 12, "primary", "junior"),
                "status": rng.choice(
                    np.array(["enrolled", "dropped_out", "suspended"]), k, p=[0.985, 0.01, 0.005]
                ),
            },
            as_of,
            window_days=300,
        )
        terms.append(
            t.set_column(
                0, "record_id", pa.array(np.char.add(f"sch{term}-", np.arange(k).astype("U10")))
            )
        )
    write("school_enrolment", pa.concat_tables(terms))
    k = int(n_p * 0.4)
    who = rng.integers(0, n_p, k)
    write(
        "employment",
        _records(
            "employment",
            k,
            rng,
            who,
            persons,
            {
                "event": rng.choice(
                    np.array(["registered_unemployed", "returned_migrant", "employed"]),
                    k,
                    p=[0.01, 0.02, 0.97],
                )
            },
            as_of,
        ),
    )
    k = int(n_p * 0.04)
    who = rng.integers(0, n_p, k)
    write(
        "disability",
        _records(
            "disability",
            k,
            rng,
            who,
            persons,
            {
                "disability_type": rng.choice(
                    np.array(["physical", "visual", "intellectual", "mental"]), k
                ),
                "disability_grade": pa.array(rng.integers(1, 5, k), pa.int32()),
            },
            as_of,
        ),
    )
    k = int(n_p * 0.12)
    who = rng.integers(0, n_p, k)
    write(
        "vehicles",
        _records(
            "vehicles",
            k,
            rng,
            who,
            persons,
            {
                "vehicle_type": rng.choice(
                    np.array(["car", "truck", "van", "motorcycle", "agricultural"]),
                    k,
                    p=[0.3, 0.05, 0.05, 0.5, 0.1],
                ),
                "status": rng.choice(np.array(["active", "scrapped"]), k, p=[0.9, 0.1]),
            },
            as_of,
        ),
    )
    k = int(n_p * 0.03)
    who = rng.integers(0, n_p, k)
    write(
        "businesses",
        _records(
            "businesses",
            k,
            rng,
            who,
            persons,
            {
                "enterprise_name": np.full(k, "某某农业合作社"),
                "role": rng.choice(np.array(["legal_rep", "shareholder"]), k),
                "registered_capital": money(rng.integers(1, 500, k) * 1000),
                "status": rng.choice(
                    np.array(["active", "revoked", "cancelled"]), k, p=[0.8, 0.1, 0.1]
                ),
            },
            as_of,
        ),
    )
    k = int(n_p * 0.01)
    who = rng.integers(0, n_p, k)
    write(
        "payroll",
        _records("payroll", k, rng, who, persons, {"employer": np.full(k, "县人民医院")}, as_of),
    )
    k = int(n_p * 0.004)
    who = rng.integers(0, n_p, k)
    write("deaths", _records("deaths", k, rng, who, persons, {}, as_of))
    # household-level kinds: the record names the household; id_number of its head
    heads = np.flatnonzero(
        np.asarray(persons.column("relation").to_numpy(zero_copy_only=False) == "head")
    )
    for kind, share, extra in (
        (
            "housing",
            0.15,
            lambda k: {
                "grade": rng.choice(np.array(["A", "B", "C", "D"]), k, p=[0.5, 0.45, 0.04, 0.01])
            },
        ),
        ("water", 0.08, lambda k: {"secure": rng.random(k) < 0.97}),
        (
            "disaster",
            0.05,
            lambda k: {
                "disaster_type": np.full(k, "flood"),
                "loss_amount": money(rng.integers(1, 40, k) * 1000),
            },
        ),
    ):
        k = int(n_h * share)
        who = heads[rng.integers(0, len(heads), k)]
        write(kind, _records(kind, k, rng, who, persons, extra(k), as_of))
    return counts
