"""generate_region: determinism, options, the shape of the area tree, bad input."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl
import pytest

from safetynet.core.errors import ValidationFailed
from safetynet.demo.areas import build_tree
from safetynet.demo.feeds import KINDS
from safetynet.demo.generator import generate_region, read_manifest


def digests(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate_region(households=150, seed=3, out_dir=tmp_path / "a")
    b = generate_region(households=150, seed=3, out_dir=tmp_path / "b")
    first, second = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert len(first) == 4 + 13 + 1  # registry files, 12 feeds + ground truth, manifest
    assert first == second
    assert a["households"] == b["households"] == 150
    c = generate_region(households=150, seed=4, out_dir=tmp_path / "c")
    other = digests(tmp_path / "c")
    assert other["persons.csv"] != first["persons.csv"]
    assert c["paths"]["persons"].name == "persons.csv"


def test_result_counts_match_the_files(tmp_path):
    result = generate_region(households=120, seed=8, out_dir=tmp_path)
    assert pl.read_csv(result["paths"]["households"]).height == result["households"] == 120
    assert pl.read_csv(result["paths"]["persons"]).height == result["persons"]
    for kind in KINDS:
        path = result["paths"]["feeds"][kind]
        assert path == tmp_path / "feeds" / f"{kind}.csv"
        assert pl.read_csv(path, infer_schema=False).height == result["feeds"][kind]
    manifest = read_manifest(tmp_path)
    assert (
        manifest["households"] == 120
        and manifest["seed"] == 8
        and manifest["as_of"] == "2024-06-30"
    )


def test_registry_only_and_other_as_of_date(tmp_path):
    result = generate_region(
        households=60, seed=1, out_dir=tmp_path, feeds=False, as_of=date(2025, 3, 31)
    )
    assert not (tmp_path / "feeds").exists() and "feeds" not in result
    years = set(pl.read_csv(tmp_path / "incomes.csv")["year"])
    assert years == {2023, 2024}
    births = pl.read_csv(tmp_path / "persons.csv", infer_schema=False)["birth_date"]
    assert (births <= "2025-03-31").all()


def test_parquet_has_the_same_rows_with_types(tmp_path):
    csv = generate_region(households=80, seed=5, out_dir=tmp_path / "csv")
    pq = generate_region(households=80, seed=5, out_dir=tmp_path / "pq", file_format="parquet")
    assert pq["paths"]["persons"].suffix == ".parquet"
    persons = pl.read_parquet(pq["paths"]["persons"])
    assert persons.height == csv["persons"]
    assert persons.schema["medical_insured"] == pl.Boolean
    claims = pl.read_parquet(pq["paths"]["feeds"]["medical_claims"])
    assert claims.schema["out_of_pocket"] == pl.Decimal(14, 2)
    assert claims.height == csv["feeds"]["medical_claims"]
    as_csv = pl.read_csv(csv["paths"]["persons"], infer_schema=False)
    assert persons["id_number"].to_list() == as_csv["id_number"].to_list()


def test_feeds_per_person_scales_the_record_count(tmp_path):
    result = generate_region(households=100, seed=2, out_dir=tmp_path, feeds_per_person=3.0)
    assert sum(result["feeds"].values()) >= 3 * result["persons"]
    truth = pl.read_csv(result["paths"]["feeds"]["ground_truth"], infer_schema=False)
    assert truth.height == sum(result["feeds"].values())


def test_area_tree_at_full_size_and_scaled_down():
    full = build_tree(seed=1, households=3_000_000)
    towns = full.frame.filter(pl.col("code").str.len_chars() == 9)
    per_county = towns.group_by(pl.col("code").str.slice(0, 6)).len()["len"]
    assert per_county.len() == 23 and per_county.min() >= 10 and per_county.max() <= 25
    villages = full.frame.filter(pl.col("code").str.len_chars() == 12)
    per_town = villages.group_by(pl.col("code").str.slice(0, 9)).len()["len"]
    assert per_town.min() >= 8 and per_town.max() <= 20
    # names are unique within their parent
    for level in (towns, villages):
        named = level.with_columns(parent=pl.col("parent_code"))
        assert named.select(["parent", "name"]).is_duplicated().sum() == 0

    small = build_tree(seed=1, households=20_000)
    assert 23 <= small.n_villages < full.n_villages / 10
    assert 20_000 / small.n_villages >= 100  # households per village stay realistic


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"households": 0, "seed": 1}, "households"),
        ({"households": "many", "seed": 1}, "households"),
        ({"households": 10, "seed": -1}, "seed"),
        ({"households": 10, "seed": 1, "feeds_per_person": 0}, "feeds per person"),
        ({"households": 10, "seed": 1, "file_format": "xlsx"}, "format"),
    ],
)
def test_bad_input_is_refused_in_both_languages(tmp_path, kwargs, word):
    with pytest.raises(ValidationFailed) as err:
        generate_region(out_dir=tmp_path / "x", **kwargs)
    assert word in err.value.en and err.value.zh
    assert not (tmp_path / "x").exists()
