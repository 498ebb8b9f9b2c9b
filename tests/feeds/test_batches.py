"""The batch catalogue: idempotent reloads, conflicts, withdrawal, the commands."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from safetynet.cli import app
from safetynet.core.errors import Conflict, ValidationFailed
from safetynet.core.models import AuditEvent
from safetynet.feeds import lake, selectors, services
from safetynet.feeds.models import FeedBatch

from .conftest import VILLAGE_A

DEATH_ROWS = [["d1", "", "刘大山", "1950-05-05", "M", VILLAGE_A, "2024-04-01"]]


def _lake_files(settings):
    return sorted(
        (str(p.relative_to(settings.LAKE_DIR)), p.stat().st_mtime_ns)
        for p in (settings.LAKE_DIR / "feeds").rglob("*")
        if p.is_file()
    )


@pytest.mark.django_db
def test_same_batch_twice_changes_nothing(registry, feed_file, settings):
    path = feed_file("deaths.csv", DEATH_ROWS, [])
    first = services.feed_load(actor=None, kind="deaths", path=path)
    assert first.created and first.batch.links_exact == 0
    files = _lake_files(settings)
    audits = AuditEvent.objects.count()

    again = services.feed_load(actor=None, kind="deaths", path=path)

    assert not again.created
    assert "nothing changed" in again.message[1] and "未做任何更改" in again.message[0]
    assert FeedBatch.objects.count() == 1
    assert AuditEvent.objects.count() == audits
    assert _lake_files(settings) == files
    assert first.batch.batch_id == lake.file_sha256(path)


@pytest.mark.django_db
def test_given_batch_id_and_conflicts(registry, feed_file):
    a = feed_file("a.csv", DEATH_ROWS, [])
    b = feed_file("b.csv", [["d2", "", "王五", "", "", "", "2024-04-02"]], [])
    loaded = services.feed_load(actor=None, kind="deaths", path=a, batch_id="gaj-2024-04")
    assert loaded.batch.batch_id == "gaj-2024-04"
    assert not services.feed_load(actor=None, kind="deaths", path=a, batch_id="gaj-2024-04").created
    with pytest.raises(Conflict) as err:
        services.feed_load(actor=None, kind="deaths", path=b, batch_id="gaj-2024-04")
    assert "already used by another file" in err.value.en
    with pytest.raises(ValidationFailed, match="invalid batch id"):
        services.feed_load(actor=None, kind="deaths", path=b, batch_id="../escape")
    assert FeedBatch.objects.count() == 1


@pytest.mark.django_db
def test_withdrawal_stops_records_counting(registry, feed_file):
    path = feed_file("deaths.csv", DEATH_ROWS, [])
    batch = services.feed_load(actor=None, kind="deaths", path=path).batch
    con = duckdb.connect()
    selectors.register_linked_feeds(con, kinds=["deaths"])
    assert con.execute("SELECT record_id, id_number FROM feed_deaths").fetchall() == [
        ("d1", registry["liu_old"])
    ]

    with pytest.raises(ValidationFailed, match="reason is required"):
        services.batch_withdraw(actor=None, batch_id=batch.batch_id, reason="  ")
    services.batch_withdraw(actor=None, batch_id=batch.batch_id[:12], reason="公安重复报送")

    batch.refresh_from_db()
    assert batch.status == "withdrawn" and batch.withdraw_reason == "公安重复报送"
    event = AuditEvent.objects.filter(action="feed_withdraw").get()
    assert event.before["status"] == "active" and event.after["status"] == "withdrawn"
    assert event.object_id == batch.batch_id
    con = duckdb.connect()
    selectors.register_linked_feeds(con, kinds=["deaths"])
    assert con.execute("SELECT count(*) FROM feed_deaths").fetchall() == [(0,)]
    with pytest.raises(Conflict, match="already withdrawn"):
        services.batch_withdraw(actor=None, batch_id=batch.batch_id, reason="again")
    # A withdrawn batch is not resurrected by sending the same file again.
    again = services.feed_load(actor=None, kind="deaths", path=path)
    assert not again.created and again.batch.status == "withdrawn"


@pytest.mark.django_db
def test_load_is_audited_with_counts(registry, feed_file):
    batch = services.feed_load(
        actor=None,
        kind="deaths",
        path=feed_file("d.csv", DEATH_ROWS, []),
        department="上犹县公安局",
    ).batch
    load = AuditEvent.objects.get(action="feed_load")
    assert load.object_id == batch.batch_id
    assert load.after["rows_loaded"] == 1 and load.after["department"] == "上犹县公安局"
    link = AuditEvent.objects.get(action="feed_link")
    assert link.object_id == batch.batch_id
    assert link.after["links_probabilistic"] == 1 and link.after["backend"] == "duckdb"


@pytest.mark.django_db
def test_commands_load_batches_withdraw(registry, feed_file):
    runner = CliRunner()
    path = feed_file("deaths.csv", DEATH_ROWS, [])
    result = runner.invoke(app, ["feed", "load", "deaths", str(path), "--department", "民政局"])
    assert result.exit_code == 0, result.output
    assert "已载入" in result.output and "loaded deaths batch" in result.output
    assert "probabilistic 1" in result.output
    again = runner.invoke(app, ["feed", "load", "deaths", str(path)])
    assert again.exit_code == 0 and "nothing changed" in again.output

    listed = runner.invoke(app, ["feed", "batches", "--json"])
    (row,) = [json.loads(line) for line in listed.output.splitlines()]
    assert row["department"] == "民政局" and row["rows_loaded"] == 1
    assert row["links"]["probabilistic"] == 1

    withdrawn = runner.invoke(app, ["feed", "withdraw", row["batch_id"], "--reason", "错报"])
    assert withdrawn.exit_code == 0, withdrawn.output
    assert FeedBatch.objects.get().status == "withdrawn"
    table = runner.invoke(app, ["feed", "batches", "--status", "withdrawn"])
    assert "withdrawn" in table.output and row["batch_id"][:12] in table.output


@pytest.mark.django_db
def test_errors_print_both_languages(tmp_path, monkeypatch, capsys):
    """The entry point renders expected errors in Chinese and English, exit code 2."""
    import sys

    from safetynet.cli import main

    bad = tmp_path / "gbk.csv"
    bad.write_bytes("record_id,name,event_date\nr1,张三,2024-01-01\n".encode("gbk"))
    monkeypatch.setattr(sys, "argv", ["safetynet", "feed", "load", "deaths", str(bad)])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "错误：文件 gbk.csv：不是 UTF-8" in err and "Error: file gbk.csv: is not UTF-8" in err
    assert not FeedBatch.objects.exists()
