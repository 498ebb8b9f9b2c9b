"""Small synthetic registry files for the tests (vectorised, deterministic by seed).

Villages under 南康区 (360703); ID numbers with current and historical area codes; one head per
household; every value valid. Tests corrupt copies of these files to exercise the checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from safetynet.core.idnumber import check_chars

COUNTY = "360703"
ID_AREAS = np.array(["360703", "360782", "360704", "360721"])
RELATIONS = np.array(["spouse", "child", "child", "parent", "grandchild"])


def write_region(out_dir: Path, households: int = 20, seed: int = 1, villages: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    township = f"{COUNTY}101"
    village_codes = [f"{township}{i + 1:03d}" for i in range(villages)]
    areas = pl.DataFrame(
        {
            "code": [township, *village_codes],
            "name": ["唐江镇", *[f"第{i + 1}村" for i in range(villages)]],
            "parent_code": [COUNTY, *[township] * villages],
            "former_codes": [""] * (villages + 1),
        }
    )
    areas.write_csv(out_dir / "areas.csv")

    hids = [f"H{i:07d}" for i in range(households)]
    registered = rng.random(households) < 0.4
    h = pl.DataFrame(
        {
            "household_id": hids,
            "village_code": [village_codes[i % villages] for i in range(households)],
            "address": [f"{i % 9 + 1}组{i}号" for i in range(households)],
            "registered_poor": np.where(registered, "Y", "N"),
            "exit_year": [
                str(y) if r else ""
                for y, r in zip(rng.integers(2014, 2021, households), registered, strict=True)
            ],
            "relocated": np.where(rng.random(households) < 0.1, "Y", "N"),
            "housing_grade": rng.choice(["A", "B", "C", ""], households),
            "water_secure": np.where(rng.random(households) < 0.95, "Y", "N"),
            "phone": [f"139{n:08d}" for n in rng.integers(0, 10**8, households)],
            "bank_account": [f"6222{n:012d}" for n in rng.integers(0, 10**12, households)],
        }
    )
    h.write_csv(out_dir / "households.csv")

    sizes = rng.integers(1, 6, households)
    n = int(sizes.sum())
    owner = np.repeat(np.arange(households), sizes)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    is_head = np.zeros(n, dtype=bool)
    is_head[first] = True
    relation = np.where(is_head, "head", rng.choice(RELATIONS, n))
    # Unique 17-digit prefixes: area + birth date + sequence; clashes get a new birth date.
    area = rng.choice(ID_AREAS, n)
    seq = rng.integers(0, 1000, n)
    days = rng.integers(0, 80 * 365, n)
    while True:
        births = np.datetime64("1940-01-01") + days.astype("timedelta64[D]")
        date_text = np.datetime_as_string(births, unit="D")
        prefixes = np.char.add(
            np.char.add(area, np.char.replace(date_text, "-", "")),
            np.char.zfill(seq.astype(str), 3),
        )
        _, first_seen = np.unique(prefixes, return_index=True)
        clash = np.ones(n, dtype=bool)
        clash[first_seen] = False
        if not clash.any():
            break
        days[clash] = rng.integers(0, 80 * 365, int(clash.sum()))
    prefixes = prefixes.tolist()
    date_text = date_text.tolist()
    ids = [p + c for p, c in zip(prefixes, check_chars(prefixes), strict=True)]
    p = pl.DataFrame(
        {
            "id_number": ids,
            "household_id": [hids[i] for i in owner],
            "name": [f"村民{i}" for i in range(n)],
            "relation": relation,
            "sex": ["M" if s % 2 else "F" for s in seq],
            "birth_date": list(date_text),
            "status": rng.choice(["active"] * 18 + ["deceased", "moved_out"], n),
            "education": rng.choice(["primary", "junior", "senior", ""], n),
            "in_school": np.where(rng.random(n) < 0.1, "Y", "N"),
            "health": rng.choice(["healthy", "healthy", "chronic", "serious"], n),
            "disability_type": [""] * n,
            "disability_grade": [""] * n,
            "labour": rng.choice(["normal", "weak", "lost", "none"], n),
            "employment": rng.choice(["none", "local", "migrant"], n),
            "work_months": rng.integers(0, 13, n).astype(str),
            "medical_insured": np.where(rng.random(n) < 0.97, "Y", "N"),
            "pension_insured": rng.choice(["Y", "N", ""], n),
            "adl_failed": rng.integers(0, 7, n).astype(str),
            "supporter_capable": rng.choice(["Y", "N", ""], n),
            "phone": [f"138{k:08d}" if k % 3 == 0 else "" for k in rng.integers(0, 10**8, n)],
        }
    )
    # Heads are living members.
    p = p.with_columns(
        status=pl.when(pl.col("relation") == "head")
        .then(pl.lit("active"))
        .otherwise(pl.col("status"))
    )
    p.write_csv(out_dir / "persons.csv")

    years = [2024, 2025]
    inc = pl.DataFrame(
        {
            "household_id": [hid for hid in hids for _ in years],
            "year": [str(y) for _ in hids for y in years],
            **{
                name: [
                    f"{v / 100:.2f}" for v in rng.integers(0, 5_000_000, households * len(years))
                ]
                for name in (
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
                )
            },
        }
    )
    inc.write_csv(out_dir / "incomes.csv")
    return {"households": households, "persons": n, "incomes": inc.height}
