"""Per-kind validation, reject files, malformed files (formats/feeds.md)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from safetynet.core.errors import ValidationFailed
from safetynet.feeds import lake, services
from safetynet.feeds.models import FeedBatch
from safetynet.feeds.schemas import KINDS

from .conftest import COMMON, VILLAGE_A, write_csv

# For each kind: its own columns, one valid row of them, and (column, bad value, expected
# fragment of the English reason) for a row that must be rejected.
KIND_CASES = {
    "medical_claims": (
        ["total_cost", "insurance_paid", "out_of_pocket", "inpatient"],
        ["50000", "30000", "20000", "是"],
        ("inpatient", "maybe", "inpatient must be Y/N"),
    ),
    "medical_insurance": (
        ["year", "insured"],
        ["2024", "Y"],
        ("year", "1800", "year must be between"),
    ),
    "disability": (
        ["disability_type", "disability_grade"],
        ["肢体", "2"],
        ("disability_grade", "5", "disability_grade must be between 1 and 4"),
    ),
    "deaths": ([], [], ("event_date", "2024-02-30", "event_date is not a valid date")),
    "school_enrolment": (
        ["term", "school", "stage", "status"],
        ["2024-1", "营前中学", "初中", "enrolled"],
        ("term", "2024-3", "term must be YYYY-1"),
    ),
    "housing": (["household_id", "grade"], ["", "C"], ("grade", "E", "grade has an invalid value")),
    "water": (["household_id", "secure"], ["", "否"], ("secure", "unknown", "secure must be Y/N")),
    "vehicles": (
        ["vehicle_type", "status"],
        ["car", "active"],
        ("vehicle_type", "spaceship", "vehicle_type has an invalid value"),
    ),
    "businesses": (
        ["enterprise_name", "role", "registered_capital", "status"],
        ["上犹县某某农业合作社", "legal_rep", "100000", "存续"],
        ("registered_capital", "12.345", "registered_capital is not a valid amount"),
    ),
    "payroll": (["employer"], ["上犹县教育局"], ("employer", "", "employer is required")),
    "employment": (
        ["event"],
        ["returned_migrant"],
        ("event", "retired", "event has an invalid value"),
    ),
    "disaster": (
        ["household_id", "disaster_type", "loss_amount"],
        ["", "洪涝", "30000"],
        ("loss_amount", "-5", "loss_amount must not be negative"),
    ),
}


def test_every_kind_has_a_case():
    assert set(KIND_CASES) == set(KINDS)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(KIND_CASES))
def test_each_kind_validates_its_columns(kind, feed_file, settings):
    extra, good, (bad_col, bad_value, reason) = KIND_CASES[kind]
    base = ["r1", "360724198003150037", "张三", "1980-03-15", "M", VILLAGE_A, "2024-03-02"]
    bad_row = ["r2", *base[1:], *good]
    header = COMMON + extra
    bad_row[header.index(bad_col)] = bad_value
    path = feed_file(f"{kind}.csv", [base + good, bad_row], extra)

    result = services.feed_load(actor=None, kind=kind, path=path, link=False)

    batch = result.batch
    assert (batch.rows_total, batch.rows_loaded, batch.rows_rejected) == (2, 1, 1)
    with open(result.reject_path, encoding="utf-8") as fh:
        rejected = list(csv.DictReader(fh))
    assert [r["record_id"] for r in rejected] == ["r2"]
    assert reason in rejected[0]["reason_en"]
    assert bad_col in rejected[0]["reason_zh"]  # the Chinese reason names the column too
    assert rejected[0][bad_col] == bad_value  # original cells are kept as sent
    stored = duckdb.sql(
        f"SELECT * FROM read_parquet('{lake.part_file(lake.records_dir(kind, batch.batch_id))}')"
    )
    names = stored.columns
    row = stored.fetchall()
    assert len(row) == 1
    record = dict(zip(names, row[0], strict=True))
    assert record["record_id"] == "r1"
    assert record["event_date"] == dt.date(2024, 3, 2)
    assert record["batch_id"] == batch.batch_id and record["department"] == KINDS[kind].department
    assert record["loaded_at"] is not None


@pytest.mark.django_db
def test_typed_values_chinese_headers_and_labels(feed_file):
    header = [
        "记录编号",
        "身份证号",
        "姓名",
        "出生日期",
        "性别",
        "村(社区)代码",
        "业务日期",
        "医疗总费用",
        "医保报销",
        "合规自付",
        "住院",
    ]
    rows = [
        ["m1", "", "张三", "1980/03/15", "男", VILLAGE_A, "20240302", "1,200.50", "", "200", "否"]
    ]
    path = feed_file("zh.csv", rows, [], header=header)
    result = services.feed_load(actor=None, kind="medical_claims", path=path, link=False)
    assert result.batch.rows_loaded == 1
    part = lake.part_file(lake.records_dir("medical_claims", result.batch.batch_id))
    (rec,) = duckdb.sql(
        f"SELECT birth_date, sex, event_date, total_cost, insurance_paid, out_of_pocket, inpatient "
        f"FROM read_parquet('{part}')"
    ).fetchall()
    assert rec == (
        dt.date(1980, 3, 15),
        "M",
        dt.date(2024, 3, 2),
        Decimal("1200.50"),
        None,
        Decimal("200.00"),
        False,
    )


@pytest.mark.django_db
def test_row_checks_and_duplicates(feed_file):
    extra = ["total_cost", "insurance_paid", "out_of_pocket"]
    rows = [
        ["d1", "", "张三", "", "", "", "2024-01-01", "100", "", "150"],
        ["d2", "", "李四", "", "", "", "2024-01-01", "100", "", "10"],
        ["d2", "", "李四", "", "", "", "2024-01-02", "100", "", "10"],
        ["d3", "", "", "", "X", "123", "", "", "", ""],
    ]
    result = services.feed_load(
        actor=None, kind="medical_claims", path=feed_file("d.csv", rows, extra), link=False
    )
    assert result.batch.rows_loaded == 0 and result.batch.rows_rejected == 4
    with open(result.reject_path, encoding="utf-8") as fh:
        reasons = {(r["row"], r["record_id"]): r["reason_en"] for r in csv.DictReader(fh)}
    assert "out_of_pocket exceeds total_cost" in reasons[("1", "d1")]
    assert "record_id appears 2 times" in reasons[("2", "d2")]
    assert "record_id appears 2 times" in reasons[("3", "d2")]
    bad = reasons[("4", "d3")]
    for fragment in (
        "name is required",
        "sex has an invalid value",
        "village_code must be 12",
        "event_date is required",
        "total_cost is required",
    ):
        assert fragment in bad


@pytest.mark.django_db
def test_household_kinds_need_a_name_or_household(feed_file):
    extra = ["household_id", "grade"]
    rows = [
        ["h1", "", "", "", "", "", "2024-05-01", "HH-A1", "D"],
        ["h2", "", "", "", "", "", "2024-05-01", "", "D"],
    ]
    result = services.feed_load(
        actor=None, kind="housing", path=feed_file("h.csv", rows, extra), link=False
    )
    assert (result.batch.rows_loaded, result.batch.rows_rejected) == (1, 1)
    with open(result.reject_path, encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["record_id"] == "h2" and "name or household_id is required" in row["reason_en"]


@pytest.mark.django_db
def test_parquet_input(tmp_path):
    table = pa.table(
        {
            "record_id": ["p1", "p2"],
            "id_number": ["360724198003150037", None],
            "name": ["张三", "李四"],
            "event_date": pa.array([dt.date(2024, 1, 1), dt.date(2024, 2, 1)], pa.date32()),
            "year": pa.array([2024, 2024], pa.int64()),
            "insured": pa.array([True, False]),
        }
    )
    path = tmp_path / "ins.parquet"
    pq.write_table(table, path)
    result = services.feed_load(actor=None, kind="medical_insurance", path=path, link=False)
    assert result.batch.file_format == "parquet"
    assert (result.batch.rows_loaded, result.batch.rows_rejected) == (2, 0)
    part = lake.part_file(lake.records_dir("medical_insurance", result.batch.batch_id))
    rows = duckdb.sql(
        f"SELECT record_id, event_date, year, insured FROM read_parquet('{part}') ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("p1", dt.date(2024, 1, 1), 2024, True),
        ("p2", dt.date(2024, 2, 1), 2024, False),
    ]


def _nothing_stored(settings):
    assert not FeedBatch.objects.exists()
    feeds = settings.LAKE_DIR / "feeds"
    leftovers = [p for p in feeds.rglob("*") if p.is_file()] if feeds.exists() else []
    assert leftovers == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, fragment_en, fragment_zh",
    [
        ("record_id,name,event_date\nr1,张三,2024-01-01\n".encode("gbk"), "not UTF-8", "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 4, "binary", "二进制"),
        ("record_id,name\nr1,张三\n".encode(), "missing required columns: event_date", "缺少"),
        (
            "record_id,name,event_date,colour\nr1,张三,2024-01-01,red\n".encode(),
            "unknown columns: colour",
            "未知的列",
        ),
        (
            "record_id,name,event_date\nr1,张三,2024-01-01\nr2,李四,2024-01-01,extra\n".encode(),
            "line 3 has 4 fields",
            "第 3 行",
        ),
        (b"", "is empty", "空文件"),
        (b"record_id;name;event_date\nr1;a;2024-01-01\n", "comma-separated", "逗号"),
        (b"PAR1 this is not really parquet", "not a valid Parquet", "Parquet"),
    ],
)
def test_malformed_files_store_nothing(tmp_path, settings, content, fragment_en, fragment_zh):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationFailed) as err:
        services.feed_load(actor=None, kind="deaths", path=path)
    assert fragment_en in err.value.en
    assert fragment_zh in err.value.zh
    _nothing_stored(settings)


@pytest.mark.django_db
def test_missing_file_and_unknown_kind(tmp_path):
    with pytest.raises(ValidationFailed, match="file not found"):
        services.feed_load(actor=None, kind="deaths", path=tmp_path / "nope.csv")
    path = write_csv(tmp_path / "x.csv", ["record_id"], [["1"]])
    with pytest.raises(ValidationFailed) as err:
        services.feed_load(actor=None, kind="weather", path=path)
    assert "unknown feed kind" in err.value.en and "未知" in err.value.zh
