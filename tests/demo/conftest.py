"""A demo region generated once for the whole module set (fast: a few hundred households)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from safetynet.demo.feeds import KINDS
from safetynet.demo.generator import generate_region

AS_OF = date(2024, 6, 30)


@dataclass
class Region:
    path: Path
    result: dict
    areas: pl.DataFrame
    households: pl.DataFrame
    persons: pl.DataFrame
    incomes: pl.DataFrame
    feeds: dict[str, pl.DataFrame]
    truth: pl.DataFrame


def read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


@pytest.fixture(scope="session")
def region(tmp_path_factory) -> Region:
    out = tmp_path_factory.mktemp("demo_region")
    result = generate_region(
        households=800, seed=11, out_dir=out, feeds_per_person=4.0, as_of=AS_OF
    )
    return Region(
        path=out,
        result=result,
        areas=read(out / "areas.csv"),
        households=read(out / "households.csv"),
        persons=read(out / "persons.csv"),
        incomes=read(out / "incomes.csv"),
        feeds={kind: read(out / "feeds" / f"{kind}.csv") for kind in KINDS},
        truth=read(out / "feeds" / "ground_truth.csv"),
    )
