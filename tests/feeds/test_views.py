"""What the rule engine reads: `feed_<kind>` views, Parquet paths, one household's records."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from safetynet.cli import app
from safetynet.feeds import selectors, services
from safetynet.feeds.schemas import KINDS

from .conftest import VILLAGE_A, VILLAGE_B, write_csv
from .test_linkage import load_claims, substitute


@pytest.mark.django_db
def test_every_kind_has_a_view_with_the_contract_columns(registry):
    con = duckdb.connect()
    names = selectors.register_linked_feeds(con)
    assert names == [f"feed_{k}" for k in KINDS]
    for kind in KINDS.values():
        cols = [r[0] for r in con.execute(f"DESCRIBE feed_{kind.name}").fetchall()]
        assert cols == [
            "record_id",
            "event_date",
            "id_number",
            "household_id",
            *kind.own_column_names,
        ]
        assert con.execute(f"SELECT count(*) FROM feed_{kind.name}").fetchall() == [(0,)]
    types = dict(con.execute("DESCRIBE feed_medical_claims").fetchall()[i][:2] for i in range(8))
    assert types["event_date"] == "DATE" and types["out_of_pocket"] == "DECIMAL(14,2)"


@pytest.mark.django_db
def test_views_keep_the_latest_version_of_a_record(registry, feed_file):
    zs = registry["zhang_san"]
    load_claims(feed_file, [["c1", zs, "张三", "", "", "", "2024-03-01"]], name="march.csv")
    path = feed_file(
        "march-fixed.csv",
        [
            ["c1", zs, "张三", "", "", "", "2024-03-01", "1000", "600", "300"],
            ["c2", zs, "张三", "", "", "", "2024-03-09", "50", "0", "50"],
        ],
        ["total_cost", "insurance_paid", "out_of_pocket"],
    )
    services.feed_load(actor=None, kind="medical_claims", path=path)
    con = duckdb.connect()
    selectors.register_linked_feeds(con, kinds=["medical_claims"])
    rows = con.execute(
        "SELECT record_id, event_date, id_number, household_id, out_of_pocket "
        "FROM feed_medical_claims ORDER BY record_id"
    ).fetchall()
    assert rows == [
        ("c1", dt.date(2024, 3, 1), zs, "HH-A1", Decimal("300.00")),
        ("c2", dt.date(2024, 3, 9), zs, "HH-A1", Decimal("50.00")),
    ]


@pytest.mark.django_db
def test_parquet_paths_hold_the_same_rows(registry, feed_file):
    load_claims(
        feed_file,
        [
            ["c1", registry["li_si"], "李四", "", "", "", "2024-03-01"],
            ["c2", "", "无名", "", "", "", "2024-03-02"],
        ],
    )
    (path,) = selectors.linked_feed_paths("medical_claims")
    assert Path(path).exists()
    assert selectors.linked_feed_paths("medical_claims") == [path]  # reused while unchanged
    con = duckdb.connect()
    selectors.register_linked_feeds(con, kinds=["medical_claims"])
    expected = con.execute("SELECT * FROM feed_medical_claims ORDER BY record_id").fetchall()
    assert duckdb.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY record_id").fetchall() == (
        expected
    )
    services.link_confirm(
        actor=None, kind="medical_claims", record_id="c2", id_number=registry["wang_wu"]
    )
    (changed,) = selectors.linked_feed_paths("medical_claims")
    assert changed != path and not Path(path).exists()
    assert duckdb.sql(
        f"SELECT id_number FROM read_parquet('{changed}') WHERE record_id = 'c2'"
    ).fetchall() == [(registry["wang_wu"],)]
    empty = selectors.linked_feed_paths("payroll")
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{empty[0]}')").fetchall() == [(0,)]


@pytest.mark.django_db
def test_records_for_household(registry, feed_file, tmp_path):
    zs, ls = registry["zhang_san"], registry["li_si"]
    load_claims(
        feed_file,
        [
            ["c1", zs, "张三", "", "", "", "2024-03-01"],
            ["c2", ls, "李四", "", "", "", "2024-05-01"],
            ["c3", registry["wang_wu"], "王五", "", "", "", "2024-05-01"],
        ],
    )
    water = write_csv(
        tmp_path / "water.csv",
        ["record_id", "name", "event_date", "household_id", "secure"],
        [["w1", "", "2024-02-01", "HH-A1", "N"]],
    )
    services.feed_load(actor=None, kind="water", path=water)
    got = selectors.records_for_household("HH-A1")
    assert set(got) == {"medical_claims", "water"}
    assert [r["record_id"] for r in got["medical_claims"]] == ["c2", "c1"]  # newest first
    c1 = got["medical_claims"][1]
    assert c1["id_number"] == zs and c1["link_method"] == "exact" and c1["link_score"] == 1.0
    assert c1["out_of_pocket"] == Decimal("400.00") and c1["department"] == "医疗保障局"
    (w,) = got["water"]
    assert w["secure"] is False and w["link_method"] == "household" and w["id_number"] is None
    assert selectors.records_for_household("HH-B2") == {}


@pytest.mark.django_db
def test_quality_against_ground_truth(registry, feed_file, tmp_path):
    zs = registry["zhang_san"]
    load_claims(
        feed_file,
        [
            ["q1", zs, "张三", "", "", "", "2024-03-01"],
            ["q2", substitute(registry["wang_wu"], 12), "王五", "", "", "", "2024-03-01"],
            ["q3", "", "周建国", "1966-02-02", "M", VILLAGE_B, "2024-03-01"],
            ["q4", "", "陈晓红", "1988-08-08", "F", "", "2024-03-01"],
            ["q5", "", "刘大山", "1950-05-05", "M", VILLAGE_A, "2024-03-01"],
        ],
    )
    truth = write_csv(
        tmp_path / "ground_truth.csv",
        ["kind", "record_id", "person_id_number", "household_id", "noise"],
        [
            ["medical_claims", "q1", zs, "HH-A1", ""],
            ["medical_claims", "q2", registry["wang_wu"], "HH-A2", "typo_digit"],
            ["medical_claims", "q3", registry["zhou_b"], "HH-B1", "missing_id"],
            ["medical_claims", "q4", registry["chen_a"], "HH-A3", "missing_id"],
            # deliberately wrong truth: the linker's answer counts as a false link
            ["medical_claims", "q5", registry["zhao_x"], "HH-A2", "missing_id"],
        ],
    )
    report = selectors.link_quality(truth)
    overall = report["overall"]
    assert (overall["records"], overall["linked"], overall["correct"], overall["review"]) == (
        5,
        4,
        3,
        1,
    )
    assert overall["precision"] == pytest.approx(3 / 4)
    assert overall["recall"] == pytest.approx(3 / 5)
    by_method = {r["key"]: r for r in report["by_method"]}
    assert by_method["exact"]["precision"] == 1.0 and by_method["typo"]["precision"] == 1.0
    assert by_method["probabilistic"]["linked"] == 2
    by_noise = {r["key"]: r for r in report["by_noise"]}
    assert by_noise["none"]["recall"] == 1.0
    assert by_noise["missing_id"]["recall"] == pytest.approx(1 / 3)

    out = CliRunner().invoke(app, ["feed", "quality", "--ground-truth", str(truth), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["overall"]["correct"] == 3
    table = CliRunner().invoke(app, ["feed", "quality", "--ground-truth", str(truth)])
    assert "查准 precision" in table.output and "0.7500" in table.output
