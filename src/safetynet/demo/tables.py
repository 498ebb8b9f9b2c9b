"""The registry tables in the column layout of formats/registry.md, and writing them out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from .areas import AreaTree
from .population import (
    DISABILITY_TYPES,
    EDUCATION,
    EMPLOYMENT,
    HEALTH,
    HOUSING,
    LABOUR,
    RELATIONS,
    STATUSES,
    Population,
)

HOUSEHOLD_COLUMNS = [
    "household_id",
    "village_code",
    "address",
    "registered_poor",
    "exit_year",
    "relocated",
    "housing_grade",
    "water_secure",
    "phone",
    "bank_account",
]
PERSON_COLUMNS = [
    "id_number",
    "household_id",
    "name",
    "relation",
    "sex",
    "birth_date",
    "status",
    "education",
    "in_school",
    "health",
    "disability_type",
    "disability_grade",
    "labour",
    "employment",
    "work_months",
    "medical_insured",
    "pension_insured",
    "adl_failed",
    "supporter_capable",
    "phone",
]
# Y/N columns: written as Y/N in CSV, as booleans in Parquet
BOOLEAN_COLUMNS = {
    "registered_poor",
    "relocated",
    "water_secure",
    "in_school",
    "medical_insured",
    "pension_insured",
    "supporter_capable",
    "inpatient",
    "insured",
    "secure",
}
MONEY_TEXT_COLUMNS = {"total_cost", "insurance_paid", "out_of_pocket"}


def _yn(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "Y", "N")


def _blank(values: np.ndarray, blank: np.ndarray) -> pl.Series:
    return pl.Series(values).set(pl.Series(blank), None)


def areas_frame(tree: AreaTree) -> pl.DataFrame:
    return tree.frame.with_columns(
        [pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in ("parent_code", "former_codes")]
    )


def households_frame(pop: Population, tree: AreaTree) -> pl.DataFrame:
    v = pop.hh_village
    county = np.array([c.name for c in tree.counties])[tree.village_county[v]]
    address = pl.concat_str(
        [
            pl.Series(county),
            pl.Series(tree.township_names[tree.village_township[v]]),
            pl.Series(tree.village_names[v]),
            pl.Series(pop.address_group),
            pl.lit("组"),
            pl.Series(pop.address_number),
            pl.lit("号"),
        ]
    )
    return pl.DataFrame(
        {
            "household_id": pop.household_id,
            "village_code": tree.village_codes[v],
            "address": pl.select(address).to_series(),
            "registered_poor": _yn(pop.registered_poor),
            "exit_year": _blank(pop.exit_year, pop.exit_year == 0),
            "relocated": _yn(pop.relocated),
            "housing_grade": HOUSING[pop.housing],
            "water_secure": _yn(pop.water_secure),
            "phone": _blank(pop.hh_phone.astype(str), pop.hh_phone == 0),
            "bank_account": pl.Series(pop.bank_account).cast(pl.String).replace("", None),
        }
    )


def persons_frame(pop: Population) -> pl.DataFrame:
    ids = np.ascontiguousarray(pop.id18).view("S18").ravel()
    grade = pop.disability_grade.astype(np.int64)
    return pl.DataFrame(
        {
            "id_number": pl.Series(ids).cast(pl.String),
            "household_id": pop.household_id[pop.hh],
            "name": pop.name,
            "relation": RELATIONS[pop.relation],
            "sex": np.where(pop.male, "M", "F"),
            "birth_date": pop.birth,
            "status": STATUSES[pop.status],
            "education": _blank(EDUCATION[pop.education], pop.education == 0),
            "in_school": _yn(pop.in_school),
            "health": HEALTH[pop.health],
            "disability_type": _blank(DISABILITY_TYPES[pop.disability_type], pop.disability_type == 0),
            "disability_grade": _blank(grade, grade == 0),
            "labour": LABOUR[pop.labour],
            "employment": EMPLOYMENT[pop.employment],
            "work_months": pop.work_months.astype(np.int64),
            "medical_insured": _yn(pop.medical_insured),
            "pension_insured": _blank(_yn(pop.pension_insured == 1), pop.pension_insured < 0),
            "adl_failed": pop.adl_failed.astype(np.int64),
            "supporter_capable": pl.Series(np.full(pop.n_persons, None), dtype=pl.String),
            "phone": _blank(pop.phone.astype(str), pop.phone == 0),
        }
    )


def write(frame: pl.DataFrame, base: Path, file_format: str) -> Path:
    """Write `frame` to `base` + .csv or .parquet; returns the path."""
    if file_format == "parquet":
        path = base.with_suffix(".parquet")
        typed = frame.with_columns(
            [pl.col(c) == "Y" for c in frame.columns if c in BOOLEAN_COLUMNS]
            + [pl.col(c).cast(pl.Decimal(14, 2)) for c in frame.columns if c in MONEY_TEXT_COLUMNS]
        )
        typed.write_parquet(path, compression="zstd", statistics=False)
    else:
        path = base.with_suffix(".csv")
        frame.write_csv(path)
    return path
