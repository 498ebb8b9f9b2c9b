"""The probabilistic step on Splink's Spark backend gives the DuckDB backend's links."""

from __future__ import annotations

import pytest

from safetynet.feeds import services
from safetynet.feeds.models import FeedBatch

from .conftest import VILLAGE_A, VILLAGE_B
from .test_linkage import links, load_claims, substitute

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def spark_session():
    """The suite's one local Spark session (same settings as the engine's tests, so whichever
    fixture starts it, the other finds it unchanged)."""
    import os

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("safetynet-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@pytest.mark.django_db
def test_spark_backend_links_like_duckdb(registry, feed_file, spark_session, settings):
    settings.SPARK_MASTER = "local[1]"
    rows = [
        ["s1", registry["zhang_san"], "张三", "", "", "", "2024-03-01"],
        ["s2", substitute(registry["wang_wu"], 12), "王五", "", "", "", "2024-03-01"],
        ["s3", "", "陈晓红", "1988-08-08", "F", VILLAGE_B, "2024-03-01"],
        ["s4", "", "陈晓红", "1988-08-08", "F", "", "2024-03-01"],
        ["s5", "", "周建囯", "1966-02-02", "M", VILLAGE_B, "2024-03-01"],
        ["s6", "", "不在册", "2001-01-01", "F", VILLAGE_A, "2024-03-01"],
    ]
    load_claims(feed_file, rows)
    on_duckdb = links()
    result = services.feed_link(actor=None, backend="spark")
    on_spark = links()
    assert on_spark.keys() == on_duckdb.keys()
    for key, got in on_spark.items():
        want = on_duckdb[key]
        assert (got["id"], got["method"], got["status"]) == (
            want["id"],
            want["method"],
            want["status"],
        ), key
        if got["score"] is not None:
            assert got["score"] == pytest.approx(want["score"], rel=1e-6)
    assert on_spark["s3"]["id"] == registry["chen_b"] and on_spark["s4"]["status"] == "review"
    assert result.counts[FeedBatch.objects.get().batch_id]["probabilistic"] == 2
