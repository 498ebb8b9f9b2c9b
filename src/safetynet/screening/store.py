"""Storing a run's findings in the operational database, in bulk, comparing with earlier runs.

A finding's identity is its `key` (`warning::<household>:` or `quality:<check>:<household>:<id>`).
Every stored finding carries a `digest`: a 63-bit hash of the result rows its content is made of
(the household's rules, risk types, category, level, monitoring flag, village and its monitoring
rules' explanations; a quality finding's check messages and village). A run computes the keys
and digests of its findings in DuckDB, without rendering any content, and compares them with the
open findings stored (id, key, digest, village):

1. open and raised again, same digest: still open, nothing written (which runs raised a finding
   follows from its first run, its resolving run and the runs' scopes: `Finding.objects.raised_by`);
2. open and raised again, another digest: still open, content rewritten;
3. not open (never seen, or resolved by an earlier run): new — inserted, or reopened when the
   key is stored resolved; findings of a household the registry does not hold are left out;
4. open, in the run's scope, and not raised again: resolved, in one UPDATE over their ids.

Only the findings of 2 and 3 are rendered (messages, JSON) and sent to the database, through a
temporary staging table — on SQLite filled by `executemany` a part at a time, on PostgreSQL by
`COPY` — followed by set-based statements. The caller wraps all of it in the run's one
transaction, so a failure leaves the previous state.

The digest uses DuckDB's `hash()`, which a DuckDB upgrade may change; bump `DIGEST_VERSION` when
the rendering of stored content changes. Either way every finding then looks changed once and
is rewritten: slower, never wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from queue import Empty, Queue
from threading import Thread

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from safetynet.core.errors import SafetyNetError

from .results import ScreenResults

STAGING = "screening_finding_staging"
DIGEST_VERSION = "1"
# written on every insert or rewrite of a finding
CONTENT = [
    "village_code",
    "category",
    "level",
    "rules",
    "risk_types",
    "already_monitored",
    "message",
    "explanations",
    "evidence",
]
JSON_COLUMNS = ("rules", "risk_types", "explanations", "evidence")
STAGE_COLUMNS = ["key", "kind", "check_id", "household_ref", "id_number", *CONTENT, "digest"]
BATCH_ROWS = 20_000  # rows per Arrow batch fetched from DuckDB / per executemany
ID_CHUNK = 250_000  # ids per UPDATE statement
SQLITE_PART_ROWS = 50_000  # rows in SQLite's staging table at a time
SQLITE_CACHE_KIB = 256 * 1024  # page cache of the store's transaction (written indexes stay)
SQLITE_TEMP_CACHE_KIB = 128 * 1024  # page cache of the staging table: one part fits

# The queries are templates: `@NAME@` markers are replaced by `_sql` (no str.format, so the
# JSON braces stay as they are). @HOUSEHOLDS@, @EXPLANATIONS@ and @QUALITY@ are the (possibly
# filtered) result tables; the digest expressions are shared by both queries.
_PARTS = {
    "MONITORING": "(rule LIKE 'M-%' OR rule LIKE 'Y-%')",
    "WARNED": """
        SELECT household_id, village_code, category, level, already_monitored,
               list_sort(list_distinct(rules)) AS rules,
               list_sort(list_distinct(coalesce(risk_types, []))) AS risks
        FROM @HOUSEHOLDS@ WHERE len(coalesce(rules, [])) > 0""",
    "EXPLAINED": """
        SELECT household_id,
               sum(hash(rule, zh, en, "values", source, id_number, evidence)) AS ex_hash
        FROM @EXPLANATIONS@ WHERE @MONITORING@ GROUP BY household_id""",
    "WARNING_KEY": "'warning::' || w.household_id || ':'",
    "QUALITY_KEY": "'quality:' || q.\"check\" || ':' || q.household_id || ':' || q.id_number",
    "WARNING_DIGEST": (
        "CAST(hash('@VERSION@', coalesce(w.village_code, ''), w.category, w.level, w.rules,"
        " w.risks, coalesce(w.already_monitored, false), x.ex_hash) >> 1 AS BIGINT)"
    ),
    "QUALITY_DIGEST": (
        "CAST(hash('@VERSION@', coalesce(v.village_code, ''), q.message_zh, q.message_en) >> 1"
        " AS BIGINT)"
    ),
    "VILLAGES": "(SELECT household_id, village_code FROM households)",
    "VERSION": DIGEST_VERSION,
}
QUALITY_ROWS = """
    SELECT "check", coalesce(household_id, '') AS household_id,
           coalesce(id_number, '') AS id_number, message_zh, message_en
    FROM quality"""
QUALITY_FIRST = (
    QUALITY_ROWS
    + """
    QUALIFY row_number() OVER (
        PARTITION BY "check", coalesce(household_id, ''), coalesce(id_number, '')
        ORDER BY coalesce(message_zh, '')) = 1"""
)

KEYS_QUERY = """
WITH warned AS (@WARNED@), explained AS (@EXPLAINED@), q AS (@QUALITY@)
SELECT @WARNING_KEY@ AS key, w.household_id AS household_ref,
       coalesce(w.village_code, '') AS village_code, @WARNING_DIGEST@ AS digest
FROM warned w LEFT JOIN explained x USING (household_id)
UNION ALL
SELECT @QUALITY_KEY@ AS key, q.household_id AS household_ref,
       coalesce(v.village_code, '') AS village_code, @QUALITY_DIGEST@ AS digest
FROM q LEFT JOIN @VILLAGES@ v USING (household_id)
"""

CONTENT_QUERY = """
WITH warned AS (@WARNED@), explained AS (@EXPLAINED@), q AS (@QUALITY@),
rendered AS (
    -- one JSON object per monitoring explanation; a household's sorted by rule, then person
    -- (the household's own last)
    SELECT household_id,
           '[' || array_to_string(list_transform(list_sort(list(struct_pack(
               r := rule, n := id_number IS NULL, i := id_number,
               j := '{"rule":' || coalesce(to_json(rule), 'null')
                    || ',"zh":' || coalesce(to_json(zh), 'null')
                    || ',"en":' || coalesce(to_json(en), 'null')
                    || ',"values":' || coalesce(NULLIF("values", ''), '{}')
                    || ',"source":' || coalesce(to_json(source), 'null')
                    || ',"id_number":' || coalesce(to_json(id_number), 'null') || '}'))),
               lambda x: x.j), ',') || ']' AS ex,
           list_sort(list_distinct(flatten(
               list(evidence) FILTER (WHERE evidence IS NOT NULL)))) AS ev
    FROM @EXPLANATIONS@ WHERE @MONITORING@
    GROUP BY household_id
)
SELECT @WARNING_KEY@ AS key, 'warning' AS kind, '' AS check_id,
       w.household_id AS household_ref, '' AS id_number,
       coalesce(w.village_code, '') AS village_code,
       coalesce(w.category, '') AS category, coalesce(w.level, '') AS level,
       CAST(to_json(w.rules) AS VARCHAR) AS rules,
       CAST(to_json(w.risks) AS VARCHAR) AS risk_types,
       coalesce(w.already_monitored, false) AS already_monitored,
       '触发规则 ' || array_to_string(w.rules, '、') || '；风险类型 '
           || coalesce(NULLIF(array_to_string(w.risks, '、'), ''), '—') AS message,
       coalesce(r.ex, '[]') AS explanations,
       CAST(to_json(coalesce(r.ev, [])) AS VARCHAR) AS evidence,
       @WARNING_DIGEST@ AS digest
FROM warned w LEFT JOIN explained x USING (household_id) LEFT JOIN rendered r USING (household_id)
UNION ALL
SELECT @QUALITY_KEY@ AS key, 'quality' AS kind, q."check" AS check_id,
       q.household_id AS household_ref, q.id_number AS id_number,
       coalesce(v.village_code, '') AS village_code, '' AS category, '' AS level,
       '[]' AS rules, '[]' AS risk_types, false AS already_monitored,
       coalesce(q.message_zh, '') AS message,
       '[{"rule":' || coalesce(to_json(q."check"), 'null')
           || ',"zh":' || coalesce(to_json(q.message_zh), 'null')
           || ',"en":' || coalesce(to_json(q.message_en), 'null') || '}]' AS explanations,
       '[]' AS evidence,
       @QUALITY_DIGEST@ AS digest
FROM q LEFT JOIN @VILLAGES@ v USING (household_id)
@QUALITY_FILTER@
"""


def _sql(template: str, **parts: str) -> str:
    """Replace the `@NAME@` markers (repeatedly: parts may hold markers themselves)."""
    values = {**_PARTS, **parts}
    for _ in range(4):
        for name, value in values.items():
            template = template.replace(f"@{name}@", value)
    if re.search(r"@[A-Z_]+@", template):
        raise ValueError("unreplaced marker in a store query")
    return template


class Findings:
    """The run's findings in DuckDB: their keys and digests (`keys`), and their rendered rows
    for any subset of keys (`rows`)."""

    def __init__(self, results: ScreenResults):
        self.con = duckdb.connect()
        self.con.execute("SET threads = 2")
        for name, table in results.tables().items():
            self.con.register(name, table)
        duplicates = self.con.execute(
            "SELECT count(*) - count(DISTINCT (\"check\", coalesce(household_id, ''), "
            "coalesce(id_number, ''))) FROM quality"
        ).fetchall()[0][0]
        # a check raised twice for one key: the first message wins
        self.quality = QUALITY_FIRST if duplicates else QUALITY_ROWS
        # The stored JSON is assembled from to_json() pieces and each explanation's `values`,
        # the one piece that arrives as text: checked here, set-based, so that the database's
        # row-by-row JSON checks can be skipped while the findings are written (SQLite).
        invalid = self.con.execute(
            "SELECT count(*) FROM explanations WHERE coalesce(\"values\", '') <> ''"
            ' AND NOT coalesce(json_valid("values"), false)'
        ).fetchall()[0][0]
        if invalid:
            raise SafetyNetError(
                f"{invalid} 条规则说明的取值不是合法的 JSON，未保存预警",
                f"{invalid} explanations carry values that are not valid JSON; "
                "no findings were stored",
            )
        self.keys = self.con.sql(
            _sql(
                KEYS_QUERY,
                HOUSEHOLDS="households",
                EXPLANATIONS="explanations",
                QUALITY=self.quality,
            )
        ).to_arrow_table()
        self.con.register("finding_keys", self.keys)

    def close(self) -> None:
        self.con.close()

    def rows(self, targets: pa.Table | None = None) -> Iterator[pa.RecordBatch]:
        """Rendered findings (STAGE_COLUMNS plus `id`): all of them with a NULL id, or those of
        `targets` (key, id) with the target's id. In key order: the database's unique index on
        the key then grows at its end instead of at random places (at 10M persons, 1.46M new
        findings from unsorted results: 79 s stored in arrival order, 52 s in key order)."""
        if targets is None:
            content = _sql(
                CONTENT_QUERY,
                HOUSEHOLDS="households",
                EXPLANATIONS="explanations",
                QUALITY=self.quality,
                QUALITY_FILTER="",
            )
            sql = f"SELECT NULL::BIGINT AS id, c.* FROM ({content}) c ORDER BY key"
        else:
            self.con.register("targets", targets)
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE target_households AS "
                "SELECT DISTINCT household_ref AS household_id FROM finding_keys "
                "SEMI JOIN targets USING (key)"
            )
            content = _sql(
                CONTENT_QUERY,
                HOUSEHOLDS="(SELECT * FROM households SEMI JOIN target_households "
                "USING (household_id))",
                EXPLANATIONS="(SELECT * FROM explanations SEMI JOIN target_households "
                "USING (household_id))",
                QUALITY=self.quality,
                QUALITY_FILTER="SEMI JOIN targets t ON t.key = @QUALITY_KEY@",
            )
            sql = f"SELECT t.id, c.* FROM ({content}) c JOIN targets t USING (key) ORDER BY key"
        yield from self.con.sql(sql).to_arrow_reader(BATCH_ROWS)


def staging_table(results: ScreenResults) -> pa.Table:
    """The run's findings, one row per key, rendered set-based from the result tables."""
    findings = Findings(results)
    try:
        table = pa.Table.from_batches(list(findings.rows()))
        return table.drop_columns(["id"]).sort_by([("key", "ascending")])
    finally:
        findings.close()


# ---------------------------------------------------------------- comparison


@dataclass
class Plan:
    """What one run writes (see the module's docstring)."""

    findings: Findings
    staged: int
    unchanged: int  # open, raised again, same digest: nothing written
    resolved: list[int]  # open in scope, not raised again
    targets: pa.Table | None  # (key, id) rendered and written; None: all, none stored open
    rewritten: int  # open, raised again, another digest
    unmatched: int  # not open: inserted, or reopened when stored resolved
    open_count: int  # open findings stored before the run

    def rows(self) -> Iterator[pa.RecordBatch]:
        if self.targets is not None and self.targets.num_rows == 0:
            return iter(())
        return self.findings.rows(self.targets)


def _open_rows(cursor) -> pa.Table:
    """(id, key, digest, village_code) of every open finding: one JSON array per column,
    aggregated by the database (much cheaper than a Python tuple per row)."""
    agg = "json_agg" if connection.vendor == "postgresql" else "json_group_array"
    cursor.execute(
        f"SELECT {agg}(id), {agg}(key), {agg}(digest), {agg}(village_code)"
        " FROM screening_finding WHERE state = 'open'"
    )
    row = cursor.fetchone()
    ids, keys, digests, villages = (
        [] if value is None else value if isinstance(value, list) else json.loads(value)
        for value in row
    )
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "key": pa.array(keys, pa.string()),
            "digest": pa.array(digests, pa.int64()),
            "village_code": pa.array(villages, pa.string()),
        }
    )


def _ids(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[int]:
    return con.sql(sql, params=params or None).to_arrow_table().column(0).to_pylist()


def plan(findings: Findings, open_rows: pa.Table, area_codes: Sequence[str]) -> Plan:
    """Compare the run's findings with the open ones stored."""
    staged = findings.keys.num_rows
    if open_rows.num_rows == 0:
        return Plan(findings, staged, 0, [], None, 0, staged, 0)
    con = findings.con
    con.register("open_rows", open_rows)
    scope = " OR ".join("starts_with(o.village_code, ?)" for _ in area_codes) or "true"
    targets = con.sql(
        "SELECT k.key, o.id FROM finding_keys k LEFT JOIN open_rows o USING (key) "
        "WHERE o.digest IS DISTINCT FROM k.digest"
    ).to_arrow_table()
    rewritten = targets.num_rows - targets.column("id").null_count
    return Plan(
        findings=findings,
        staged=staged,
        unchanged=con.sql(
            "SELECT count(*) FROM finding_keys k JOIN open_rows o USING (key) "
            "WHERE o.digest = k.digest"
        ).fetchall()[0][0],
        resolved=_ids(
            con,
            "SELECT o.id FROM open_rows o ANTI JOIN finding_keys k USING (key) "
            f"WHERE ({scope}) ORDER BY o.id",
            list(area_codes),
        ),
        targets=targets,
        rewritten=rewritten,
        unmatched=targets.num_rows - rewritten,
        open_count=open_rows.num_rows,
    )


# ---------------------------------------------------------------- writing


def _tuples(batches: Iterator[pa.RecordBatch], names: list[str]) -> Iterator[list[tuple]]:
    """Each batch as a list of row tuples, converted in a background thread while the
    database writes the previous batch (SQLite releases the GIL while it works)."""
    done = object()
    queue: Queue = Queue(maxsize=2)

    def produce() -> None:
        try:
            for batch in batches:
                columns = [batch.column(name).to_pylist() for name in names]
                queue.put(list(zip(*columns, strict=True)))
        except BaseException as exc:  # handed to the consumer
            queue.put(exc)
            return
        queue.put(done)

    worker = Thread(target=produce, name="store-rows", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        while worker.is_alive():  # unblock a producer stopped half-way
            try:
                queue.get_nowait()
            except Empty:
                worker.join(0.05)


def _parts(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """The batches as consecutive groups of about `rows` rows each."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pending
            pending, size = [], 0
    if pending:
        yield pending


class _Staging:
    """A temporary table of the findings written in full: `id` is the stored finding's for a
    rewritten one, NULL for a new one (SQLite: filled by executemany; PostgreSQL: by COPY)."""

    COLUMNS = ["id", *STAGE_COLUMNS]

    def __init__(self, cursor, vendor: str):
        self.cursor, self.vendor = cursor, vendor
        types = {"id": "bigint", "digest": "bigint", "already_monitored": "boolean"}
        cols = ", ".join(f"{c} {types.get(c, 'text')}" for c in self.COLUMNS)
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        cursor.execute(f"CREATE TEMPORARY TABLE {STAGING} ({cols})")

    def load(self, batches: Iterator[pa.RecordBatch]) -> None:
        if self.vendor == "postgresql":
            with self.cursor.cursor.copy(
                f"COPY {STAGING} ({', '.join(self.COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                for batch in batches:
                    sink = pa.BufferOutputStream()
                    pacsv.write_csv(
                        pa.Table.from_batches([batch]).select(self.COLUMNS),
                        sink,
                        write_options=pacsv.WriteOptions(include_header=False),
                    )
                    copy.write(sink.getvalue())
            return
        marks = ", ".join(["%s"] * len(self.COLUMNS))
        sql = f"INSERT INTO {STAGING} ({', '.join(self.COLUMNS)}) VALUES ({marks})"
        for rows in _tuples(batches, self.COLUMNS):
            self.cursor.executemany(sql, rows)

    def clear(self) -> None:
        self.cursor.execute(f"DELETE FROM {STAGING}")

    def drop(self) -> None:
        self.cursor.execute(f"DROP TABLE {STAGING}")


def _content_set(prefix: str, cast: str = "") -> str:
    return ", ".join(
        f"{c} = {prefix}{c}{cast if c in JSON_COLUMNS else ''}" for c in [*CONTENT, "digest"]
    )


def _apply(cursor, vendor: str, run_id: int, now: datetime, *, reopen: bool) -> int:
    """Write the staged findings: rewrite (staged with an id), reopen (stored under their key,
    when `reopen`), insert (the rest, when the registry holds their household). Returns how
    many were reopened or inserted."""
    js = "::jsonb" if vendor == "postgresql" else ""
    content = _content_set("s.", js)
    cursor.execute(
        f"UPDATE screening_finding AS f SET {content}, state = 'open', resolved_run_id = NULL,"
        f" updated_at = %s FROM {STAGING} s"
        " WHERE s.id IS NOT NULL AND f.id = s.id",
        [now],
    )
    new = 0
    if reopen:
        cursor.execute(
            f"UPDATE screening_finding AS f SET {content}, state = 'open', resolved_run_id = NULL,"
            f" first_run_id = %s, updated_at = %s FROM {STAGING} s"
            " WHERE s.id IS NULL AND f.key = s.key",
            [run_id, now],
        )
        new += cursor.rowcount
    plain = ["key", "kind", "check_id", "id_number", *CONTENT, "digest"]
    values = ", ".join(f"s.{c}{js}" if c in JSON_COLUMNS else f"s.{c}" for c in plain)
    unseen = (
        " AND NOT EXISTS (SELECT 1 FROM screening_finding f WHERE f.key = s.key)" if reopen else ""
    )
    cursor.execute(
        f"INSERT INTO screening_finding ({', '.join(plain)}, household_id, state, first_run_id,"
        f" resolved_run_id, updated_at) SELECT {values}, h.id, 'open', %s,"
        f" NULL, %s FROM {STAGING} s JOIN registry_household h"
        f" ON h.household_id = s.household_ref WHERE s.id IS NULL{unseen}",
        [run_id, now],
    )
    return new + cursor.rowcount


def _update_ids(cursor, vendor: str, assignments: str, params: list, ids: list[int]) -> None:
    """One UPDATE per ID_CHUNK ids (SQLite: a JSON array; PostgreSQL: an array parameter)."""
    where = "id = ANY(%s)" if vendor == "postgresql" else "id IN (SELECT value FROM json_each(%s))"
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        value = chunk if vendor == "postgresql" else "[" + ",".join(map(str, chunk)) + "]"
        cursor.execute(
            f"UPDATE screening_finding SET {assignments} WHERE {where}", [*params, value]
        )


def _write(cursor, vendor: str, p: Plan, run_id: int, now: datetime) -> int:
    new = 0
    if p.rewritten or p.unmatched:
        cursor.execute("SELECT count(*) FROM screening_finding")
        reopen = cursor.fetchone()[0] > p.open_count  # some stored findings are not open
        staging = _Staging(cursor, vendor)
        if vendor == "postgresql":  # one COPY, set-based statements
            staging.load(p.rows())
            new += _apply(cursor, vendor, run_id, now, reopen=reopen)
        else:  # bounded memory: the staging table holds one part at a time
            for part in _parts(p.rows(), SQLITE_PART_ROWS):
                staging.load(iter(part))
                new += _apply(cursor, vendor, run_id, now, reopen=reopen)
                staging.clear()
        staging.drop()
    _update_ids(
        cursor,
        vendor,
        "state = 'resolved', resolved_run_id = %s, updated_at = %s",
        [run_id, now],
        p.resolved,
    )
    return new


@contextmanager
def _sqlite_settings(cursor, vendor: str):
    """SQLite, for the store's transaction: larger page caches, so the indexes written and the
    staging table stay in memory; and no CHECK constraints — the JSON columns' checks parse
    every value again, row by row (3.6 s of 1.46M findings), where `Findings` has checked the
    one piece of text the JSON is assembled from. NOT NULL, UNIQUE and foreign keys still
    hold. Durability settings are left alone."""
    if vendor != "sqlite":
        yield
        return
    cursor.execute("PRAGMA main.cache_size")
    main = cursor.fetchone()[0]
    cursor.execute("PRAGMA temp.cache_size")
    temp = cursor.fetchone()[0]
    cursor.execute(f"PRAGMA main.cache_size = -{SQLITE_CACHE_KIB}")
    cursor.execute(f"PRAGMA temp.cache_size = -{SQLITE_TEMP_CACHE_KIB}")
    cursor.execute("PRAGMA ignore_check_constraints = ON")
    try:
        yield
    finally:
        cursor.execute("PRAGMA ignore_check_constraints = OFF")
        cursor.execute(f"PRAGMA main.cache_size = {int(main)}")
        cursor.execute(f"PRAGMA temp.cache_size = {int(temp)}")


def store_findings(
    *, run_id: int, results: ScreenResults, area_codes: Sequence[str], now: datetime
) -> dict[str, int]:
    """Insert, update and resolve findings; returns counts: staged (the run's findings), new,
    still_open (of which `rewritten`: content changed), resolved.

    Must run inside the caller's transaction.
    """
    vendor = connection.vendor
    findings = Findings(results)
    try:
        with connection.cursor() as cursor:
            if vendor == "postgresql":
                # the comparison reads the open findings first: no other run may write between
                cursor.execute("LOCK TABLE screening_finding IN SHARE ROW EXCLUSIVE MODE")
            p = plan(findings, _open_rows(cursor), area_codes)
            with _sqlite_settings(cursor, vendor):
                new = _write(cursor, vendor, p, run_id, now)
    finally:
        findings.close()
    return {
        "staged": p.staged,
        "new": new,
        "still_open": p.unchanged + p.rewritten,
        "rewritten": p.rewritten,
        "resolved": len(p.resolved),
    }
