"""Bulk reads of registry tables over ADBC, in primary-key ranges on parallel connections.

Used by the snapshot (`snapshot.read_tables`). For PostgreSQL the reads run in the screening
process. For SQLite they run in a child process (`python -m safetynet.screening.bulkread`):
the ADBC driver carries its own copy of the SQLite library, and SQLite's file locks are held
per process, so a second copy in the process of the Django connection cannot see that
connection's locks. Closing its connections, it would take itself for the last user of the
database and remove the write-ahead log and shared-memory files that the Django connection is
still using — a crash (SIGBUS) or worse. A separate process is an ordinary second reader.

The child reads a JSON spec on stdin and writes each range as an Arrow IPC file in the spec's
directory (`<table>-<n>.arrow`, renamed into place once complete), then `<table>.done`; it
keeps at most `ahead` unread files per table, so a slow consumer bounds the disk it uses. This
module imports no Django, so the child starts quickly.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa


class RangeReader:
    """Parallel range reads over ADBC connections (one per worker thread, reused)."""

    def __init__(self, module: str, uri: str, workers: int, *, batch_rows: int, range_rows: int):
        self.dbapi = importlib.import_module(module)
        self.uri = uri
        self.sqlite = "sqlite" in module
        self.batch_rows = batch_rows
        self.range_rows = range_rows
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="snapshot")
        self.workers = workers
        self._connections: dict[int, object] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for con in self._connections.values():
            con.close()
        self._connections.clear()

    def _connection(self):
        key = threading.get_ident()
        with self._lock:
            if key not in self._connections:
                self._connections[key] = self.dbapi.connect(self.uri)
            return self._connections[key]

    def query(self, sql: str) -> pa.Table:
        with self._connection().cursor() as cursor:
            if self.sqlite:
                cursor.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(self.batch_rows)}
                )
            cursor.execute(sql)
            return cursor.fetch_arrow_table()

    def ranges(self, source: str, pk: str, where: str) -> list[str]:
        """The table's rows as primary-key ranges of about `range_rows` ids each (SQL clauses)."""
        bounds = self.query(f"SELECT min({pk}) AS lo, max({pk}) AS hi FROM {source}")
        lo, hi = bounds.column(0)[0].as_py(), bounds.column(1)[0].as_py()
        if lo is None:
            return []
        parts = max(1, -(-(hi - lo + 1) // self.range_rows))
        step = -(-(hi - lo + 1) // parts)
        out = []
        for start in range(lo, hi + 1, step):
            clause = f"{pk} >= {start} AND {pk} < {start + step}"
            out.append(f"{clause} AND {where}" if where else clause)
        return out

    def read(self, select: str, source: str, pk: str, where: str) -> Iterator[pa.Table]:
        """Raw tables of the ranges, in range order; at most workers + 1 ranges in memory."""
        pending: deque[Future] = deque()
        for clause in self.ranges(source, pk, where):
            pending.append(self.pool.submit(self.query, f"{select} WHERE {clause}"))
            if len(pending) > self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class ChildReader:
    """The same reads in a child process (SQLite); `read` yields the ranges as they arrive."""

    POLL = 0.005

    def __init__(self, spec: dict, directory: Path):
        import subprocess

        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.errors = open(self.dir / "errors.txt", "w+b")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safetynet.screening.bulkread"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
        )
        assert self.proc.stdin is not None
        payload = {**spec, "out": str(self.dir), "parent": os.getpid()}
        self.proc.stdin.write(json.dumps(payload).encode())
        self.proc.stdin.close()

    def read(self, table: str, failed: Callable[[str], Exception]) -> Iterator[pa.Table]:
        done = self.dir / f"{table}.done"
        n = 0
        while True:
            path = self.dir / f"{table}-{n:05d}.arrow"
            # `done` is written after the last range's file: seen, one more look at the file
            finished = done.exists()
            if path.exists():
                with pa.OSFile(str(path)) as source:
                    part = pa.ipc.open_file(source).read_all()
                path.unlink()
                n += 1
                yield part
            elif finished:
                return
            elif self.proc.poll() is not None and not done.exists() and not path.exists():
                self.errors.seek(0)
                lines = self.errors.read().decode(errors="replace").strip().splitlines()
                raise failed(lines[-1] if lines else f"exit status {self.proc.returncode}")
            else:
                time.sleep(self.POLL)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.errors.close()
        for entry in self.dir.iterdir():
            entry.unlink()
        self.dir.rmdir()


def _child(spec: dict) -> None:
    out = Path(spec["out"])
    reader = RangeReader(
        spec["module"],
        spec["uri"],
        spec["workers"],
        batch_rows=spec["batch_rows"],
        range_rows=spec["range_rows"],
    )
    ahead = spec.get("ahead", 4)
    parent = spec.get("parent")

    def orphaned() -> bool:  # the screen died: stop, and leave nothing behind
        return parent is not None and os.getppid() != parent

    try:
        for t in spec["tables"]:
            name = t["name"]
            for n, part in enumerate(reader.read(t["select"], t["source"], t["pk"], t["where"])):
                while len(list(out.glob(f"{name}-*.arrow"))) >= ahead:
                    if orphaned():
                        _remove(out)
                        return
                    time.sleep(0.005)  # the consumer is behind
                if orphaned():
                    _remove(out)
                    return
                tmp = out / f".{name}-{n:05d}.tmp"
                with pa.OSFile(str(tmp), "wb") as sink:
                    with pa.ipc.new_file(sink, part.schema) as writer:
                        writer.write_table(part)
                os.replace(tmp, out / f"{name}-{n:05d}.arrow")
            (out / f"{name}.done").write_text("done")
    finally:
        reader.close()


def _remove(directory: Path) -> None:
    for entry in directory.glob("*"):
        entry.unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass


if __name__ == "__main__":
    _child(json.loads(sys.stdin.read()))
