"""The snapshot's bulk reader on a SQLite file: a child process, in ranges, and the process's
own SQLite connection keeps working (its write-ahead log is left alone)."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest

from safetynet.screening import bulkread
from safetynet.screening.snapshot import SnapshotReadError, _read_failed


def _database(path):
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, village TEXT)")
    con.executemany(
        "INSERT INTO t (id, name, village) VALUES (?, ?, ?)",
        [(i, f"p{i}", "430224" if i % 3 else "360321") for i in range(1, 1001)],
    )
    con.commit()
    return con


def _spec(path, **overrides):
    spec = {
        "module": "adbc_driver_sqlite.dbapi",
        "uri": str(path),
        "workers": 2,
        "batch_rows": 64,
        "range_rows": 97,
        "ahead": 3,
        "tables": [
            {
                "name": "t",
                "select": "SELECT id, name, village FROM t",
                "source": "t",
                "pk": "id",
                "where": "village = '430224'",
            },
            {"name": "u", "select": "SELECT id FROM t", "source": "t", "pk": "id", "where": ""},
        ],
    }
    spec.update(overrides)
    return spec


def test_child_reader_reads_every_range_in_order_and_leaves_the_wal_alone(tmp_path):
    path = tmp_path / "db.sqlite3"
    con = _database(path)  # this process's connection stays open throughout, as Django's does
    reader = bulkread.ChildReader(_spec(path), tmp_path / "parts")
    try:
        t = pa.concat_tables(reader.read("t", _read_failed))
        u = pa.concat_tables(reader.read("u", _read_failed))
    finally:
        reader.close()
    expected = [i for i in range(1, 1001) if i % 3]
    assert t.column("id").to_pylist() == expected
    assert t.column("name").to_pylist() == [f"p{i}" for i in expected]
    assert u.num_rows == 1000
    assert not (tmp_path / "parts").exists()
    # the open connection's write-ahead log and shared memory are still there, and it writes on
    assert (tmp_path / "db.sqlite3-wal").exists() and (tmp_path / "db.sqlite3-shm").exists()
    con.execute("INSERT INTO t (id, name, village) VALUES (1001, 'p1001', '430224')")
    con.commit()
    assert con.execute("SELECT count(*) FROM t").fetchone()[0] == 1001
    con.close()


def test_a_failed_read_raises_a_bilingual_error_and_cleans_up(tmp_path):
    path = tmp_path / "db.sqlite3"
    _database(path).close()
    spec = _spec(path)
    spec["tables"][0]["select"] = "SELECT id, no_such_column FROM t"
    reader = bulkread.ChildReader(spec, tmp_path / "parts")
    try:
        with pytest.raises(SnapshotReadError) as info:
            list(reader.read("t", _read_failed))
    finally:
        reader.close()
    assert "读取户籍数据失败" in info.value.zh
    assert "reading the registry failed" in info.value.en and "no_such_column" in info.value.en
    assert not (tmp_path / "parts").exists()


def test_an_orphaned_reader_stops_and_removes_its_files(tmp_path):
    """When the screening process is gone, the reader does not go on filling the disk."""
    import json
    import subprocess
    import sys

    path = tmp_path / "db.sqlite3"
    _database(path).close()
    out = tmp_path / "parts"
    out.mkdir()
    spec = {**_spec(path), "out": str(out), "parent": -1}  # not this reader's parent
    done = subprocess.run(
        [sys.executable, "-m", "safetynet.screening.bulkread"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not out.exists()
