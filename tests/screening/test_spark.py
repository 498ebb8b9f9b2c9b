"""DuckDB and Spark give byte-identical screen output files on a generated region."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from safetynet.core.errors import ValidationFailed
from safetynet.screening import services
from safetynet.screening.models import ScreenRun

from .region import loaded_region

AS_OF = dt.date(2024, 6, 30)
CSV_FILES = ("warnings.csv", "eligibility.csv", "tekun.csv", "single_person.csv", "quality.csv")
pytestmark = [pytest.mark.spark, pytest.mark.django_db]


@pytest.fixture(scope="module")
def region(django_db_setup, django_db_blocker, tmp_path_factory):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    with django_db_blocker.unblock():
        with loaded_region(tmp_path_factory.mktemp("region"), households=5000, seed=3) as r:
            yield r


def test_duckdb_and_spark_write_identical_files(region, settings, tmp_path, monkeypatch):
    from safetynet.screening import runner
    from safetynet.screening.results import QUALITY

    # the programmes' own checks read enrolments, not the engine: not what this test compares
    monkeypatch.setattr(runner, "programme_checks", lambda **_: QUALITY.empty_table())
    settings.LAKE_DIR = region["lake_dir"]
    settings.SPARK_MASTER = "local[2]"
    duck = services.screen_run(
        actor=None, as_of=AS_OF, engine="duckdb", out_dir=tmp_path / "duckdb"
    )
    spark = services.screen_run(actor=None, as_of=AS_OF, engine="spark", out_dir=tmp_path / "spark")
    assert duck.status == spark.status == ScreenRun.Status.SUCCEEDED, (duck.error, spark.error)
    assert (
        4900 <= duck.counts["households"] <= 5000
    )  # households with no active member are not evaluated
    assert duck.counts["warnings"] > 100 and duck.counts["quality"] > 0
    for name in CSV_FILES:
        a = (tmp_path / "duckdb" / name).read_bytes()
        b = (tmp_path / "spark" / name).read_bytes()
        assert a == b, name
    # the Spark run compares with the DuckDB run like any later run: nothing new, nothing resolved
    assert spark.counts["findings"]["new"] == 0 and spark.counts["findings"]["resolved"] == 0


def test_spark_reads_its_inputs_from_a_staging_uri(region, settings, tmp_path, monkeypatch):
    """With SPARK_STAGING set, the run copies its input files to that URI through Hadoop's file
    system (here file://, on a cluster hdfs:// or s3a://) and Spark reads them there; the staged
    copies are removed after the run, and the output, written to a URI, is the same as
    DuckDB's. A URI no file system serves fails before anything runs."""
    from safetynet.screening import hadoop, runner
    from safetynet.screening.results import QUALITY

    monkeypatch.setattr(runner, "programme_checks", lambda **_: QUALITY.empty_table())
    settings.LAKE_DIR = region["lake_dir"]
    settings.SPARK_MASTER = "local[2]"
    staging = tmp_path / "staging"
    settings.SPARK_STAGING = staging.as_uri()
    staged: list[str] = []
    put = hadoop.HadoopDir.put

    def recording(self, local, name):
        target = put(self, local, name)
        if target.startswith(staging.as_uri().replace("file:///", "file:/")):
            staged.append(target)
            assert (staging / target.split("/staging/", 1)[1]).exists()  # copied there
        return target

    monkeypatch.setattr(hadoop.HadoopDir, "put", recording)
    duck = services.screen_run(
        actor=None, as_of=AS_OF, engine="duckdb", out_dir=tmp_path / "duckdb"
    )
    # the CSV files go to a URI as well (here file://, on a cluster hdfs:// or s3a://)
    spark = services.screen_run(
        actor=None, as_of=AS_OF, engine="spark", out_dir=(tmp_path / "spark").as_uri()
    )
    assert duck.status == spark.status == ScreenRun.Status.SUCCEEDED, (duck.error, spark.error)
    names = {s.rsplit("/", 1)[1] for s in staged}
    assert {"households.parquet", "persons.parquet", "incomes.parquet"} <= names
    assert any(n.startswith("feed_medical_claims") for n in names)
    assert all(s.startswith("file:") for s in staged)
    assert list(staging.iterdir()) == []  # the run's staged copies are gone
    for name in CSV_FILES:
        assert (tmp_path / "duckdb" / name).read_bytes() == (tmp_path / "spark" / name).read_bytes()
    runs = ScreenRun.objects.count()
    with pytest.raises(ValidationFailed, match="cannot reach nosuch://"):
        services.screen_run(actor=None, as_of=AS_OF, engine="spark", out_dir="nosuch://x/out")
    assert ScreenRun.objects.count() == runs
