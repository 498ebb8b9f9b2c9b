"""The registry tables in the column layout of formats/registry.md, and writing them out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from . import idnumbers
from .areas import AreaTree
from .base import Cat, chars_series, yes_no
from .names import codepoints
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


def _blank(values: np.ndarray | pl.Series, blank: np.ndarray) -> pl.Series:
    series = values if isinstance(values, pl.Series) else pl.Series(values)
    return series.set(pl.Series(blank), None) if blank.any() else series


def _text(values: np.ndarray, blank: np.ndarray) -> pl.Series:
    """Whole numbers as text (phone numbers), empty where `blank`."""
    return _blank(pl.Series(values).cast(pl.String), blank)


def areas_frame(tree: AreaTree) -> pl.DataFrame:
    return tree.frame.with_columns(
        [pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in ("parent_code", "former_codes")]
    )


def households_frame(pop: Population, tree: AreaTree) -> pl.DataFrame:
    v = pop.hh_village
    county = np.array([c.name for c in tree.counties])[tree.village_county]
    # "<county><township><village>" per village, then the group and house number
    place = np.strings.add(
        np.strings.add(county, tree.township_names[tree.village_township]), tree.village_names
    )
    address = pl.concat_str(
        [
            pl.Series(place).gather(v),
            pl.Series(pop.address_group).cast(pl.String),
            pl.lit("组"),
            pl.Series(pop.address_number).cast(pl.String),
            pl.lit("号"),
        ]
    )
    return pl.DataFrame(
        {
            "household_id": pop.household_id,
            "village_code": pl.Series(tree.village_codes).gather(v),
            "address": pl.select(address).to_series(),
            "registered_poor": yes_no(pop.registered_poor).series(),
            "exit_year": _blank(pop.exit_year, pop.exit_year == 0),
            "relocated": yes_no(pop.relocated).series(),
            "housing_grade": Cat(HOUSING, pop.housing).series(),
            "water_secure": yes_no(pop.water_secure).series(),
            "phone": _text(pop.hh_phone, pop.hh_phone == 0),
            "bank_account": _blank(
                pl.Series(pop.bank_account).cast(pl.String), pop.bank_account == b""
            ),
        }
    ).select(HOUSEHOLD_COLUMNS)


def persons_frame(pop: Population) -> pl.DataFrame:
    grade = pop.disability_grade.astype(np.int64)
    return pl.DataFrame(
        {
            "id_number": pl.Series(idnumbers.as_strings(pop.id18)).cast(pl.String),
            "household_id": pop.household_id.gather(pop.hh),
            "name": chars_series(codepoints(pop.name)),
            "relation": Cat(RELATIONS, pop.relation).series(),
            "sex": Cat(["F", "M"], pop.male).series(),
            "birth_date": pop.birth,
            "status": Cat(STATUSES, pop.status).series(),
            "education": Cat(EDUCATION, pop.education).series(),
            "in_school": yes_no(pop.in_school).series(),
            "health": Cat(HEALTH, pop.health).series(),
            "disability_type": Cat(DISABILITY_TYPES, pop.disability_type).series(),
            "disability_grade": _blank(grade, grade == 0),
            "labour": Cat(LABOUR, pop.labour).series(),
            "employment": Cat(EMPLOYMENT, pop.employment).series(),
            "work_months": pop.work_months.astype(np.int64),
            "medical_insured": yes_no(pop.medical_insured).series(),
            "pension_insured": Cat(["", "N", "Y"], pop.pension_insured + 1).series(),
            "adl_failed": pop.adl_failed.astype(np.int64),
            "supporter_capable": pl.Series([None], dtype=pl.String).gather(
                np.zeros(pop.n_persons, dtype=np.int64)
            ),
            "phone": _text(pop.phone, pop.phone == 0),
        }
    ).select(PERSON_COLUMNS)


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
