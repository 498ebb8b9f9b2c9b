"""Storing a run's findings in the operational database, in bulk, comparing with earlier runs.

A finding's identity is its `key` (`warning::<household>:` or `quality:<check>:<household>:<id>`).
The run's findings are loaded into a temporary staging table (PostgreSQL: `COPY ... FROM STDIN`;
SQLite: `executemany`), then three set-based statements compare them with what is stored:

1. insert the keys never seen before (new);
2. update the keys already stored: still open, or raised again after being resolved (new again);
3. resolve the open findings of the run's scope that the run no longer raises.

The caller wraps this in the run's one transaction, so a failure leaves the previous state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from .results import ScreenResults

STAGING = "screening_finding_staging"
STAGE_COLUMNS = [
    "key",
    "kind",
    "check_id",
    "household_ref",
    "village_code",
    "id_number",
    "category",
    "level",
    "rules",
    "risk_types",
    "already_monitored",
    "message",
    "explanations",
    "evidence",
]
CHUNK = 20_000


STAGING_QUERY = """
WITH expl AS (
    SELECT household_id,
           list(struct_pack(rule := rule, zh := zh, en := en,
                            "values" := json(coalesce("values", '{}')), source := source,
                            id_number := id_number)
                ORDER BY rule, id_number) AS ex,
           flatten(list(coalesce(evidence, []))) AS ev
    FROM explanations
    WHERE rule LIKE 'M-%' OR rule LIKE 'Y-%'
    GROUP BY household_id
),
warnings AS (
    SELECT 'warning::' || h.household_id || ':' AS key, 'warning' AS kind, '' AS check_id,
           h.household_id AS household_ref, coalesce(h.village_code, '') AS village_code,
           '' AS id_number, coalesce(h.category, '') AS category, coalesce(h.level, '') AS level,
           CAST(to_json(list_sort(list_distinct(h.rules))) AS VARCHAR) AS rules,
           CAST(to_json(list_sort(list_distinct(coalesce(h.risk_types, [])))) AS VARCHAR)
               AS risk_types,
           coalesce(h.already_monitored, false) AS already_monitored,
           '触发规则 ' || array_to_string(list_sort(list_distinct(h.rules)), '、') || '；风险类型 '
               || coalesce(NULLIF(array_to_string(list_sort(list_distinct(h.risk_types)), '、'),
                                  ''), '—') AS message,
           CAST(to_json(coalesce(e.ex, [])) AS VARCHAR) AS explanations,
           CAST(to_json(list_sort(list_distinct(coalesce(e.ev, [])))) AS VARCHAR) AS evidence
    FROM households h LEFT JOIN expl e USING (household_id)
    WHERE len(coalesce(h.rules, [])) > 0
),
quality_rows AS (
    SELECT 'quality:' || q."check" || ':' || coalesce(q.household_id, '') || ':'
               || coalesce(q.id_number, '') AS key,
           'quality' AS kind, q."check" AS check_id, coalesce(q.household_id, '') AS household_ref,
           coalesce(h.village_code, '') AS village_code, coalesce(q.id_number, '') AS id_number,
           '' AS category, '' AS level, '[]' AS rules, '[]' AS risk_types,
           false AS already_monitored, coalesce(q.message_zh, '') AS message,
           CAST(to_json([struct_pack(rule := q."check", zh := q.message_zh,
                                     en := q.message_en)]) AS VARCHAR) AS explanations,
           '[]' AS evidence
    FROM quality q LEFT JOIN households h USING (household_id)
)
SELECT * FROM (SELECT * FROM warnings UNION ALL SELECT * FROM quality_rows)
QUALIFY row_number() OVER (PARTITION BY key ORDER BY message) = 1
ORDER BY key
"""


def staging_table(results: ScreenResults) -> pa.Table:
    """The run's findings, one row per key, built set-based from the result tables."""
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        for name, table in results.tables().items():
            con.register(name, table)
        return con.sql(STAGING_QUERY).to_arrow_table()
    finally:
        con.close()


def _create_staging(cursor, vendor: str) -> None:
    boolean = "boolean" if vendor == "postgresql" else "integer"
    cols = ", ".join(
        f"{c} {boolean}" if c == "already_monitored" else f"{c} text" for c in STAGE_COLUMNS
    )
    cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
    cursor.execute(f"CREATE TEMPORARY TABLE {STAGING} ({cols})")


def _load_staging(cursor, vendor: str, table: pa.Table) -> int:
    if table.num_rows == 0:
        return 0
    if vendor == "postgresql":
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
        data = sink.getvalue()
        with cursor.cursor.copy(
            f"COPY {STAGING} ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            view = memoryview(data)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        return table.num_rows
    marks = ", ".join(["%s"] * len(STAGE_COLUMNS))
    sql = f"INSERT INTO {STAGING} ({', '.join(STAGE_COLUMNS)}) VALUES ({marks})"
    for batch in table.to_batches(CHUNK):
        columns = [batch.column(name).to_pylist() for name in STAGE_COLUMNS]
        cursor.executemany(sql, list(zip(*columns, strict=True)))
    return table.num_rows


def _scope_sql(area_codes: Sequence[str], column: str) -> tuple[str, list]:
    if not area_codes:
        return "", []
    clause = " OR ".join(f"{column} LIKE %s" for _ in area_codes)
    return f" AND ({clause})", [f"{c}%" for c in area_codes]


def store_findings(
    *, run_id: int, results: ScreenResults, area_codes: Sequence[str], now: datetime
) -> dict[str, int]:
    """Insert, update and resolve findings; returns counts (new, still_open, resolved).

    Must run inside the caller's transaction.
    """
    vendor = connection.vendor
    js = "::jsonb" if vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        _create_staging(cursor, vendor)
        staged = _load_staging(cursor, vendor, staging_table(results))
        cursor.execute(f"CREATE INDEX {STAGING}_key ON {STAGING} (key)")

        # Raised again after being resolved: counted as new again.
        cursor.execute(
            f"SELECT count(*) FROM screening_finding f JOIN {STAGING} s ON s.key = f.key "
            "WHERE f.state = 'resolved'"
        )
        reopened = cursor.fetchone()[0]
        cursor.execute(
            f"""UPDATE screening_finding AS f SET
                  first_run_id = CASE WHEN f.state = 'resolved' THEN %s ELSE f.first_run_id END,
                  last_run_id = %s, resolved_run_id = NULL, state = 'open',
                  category = s.category, level = s.level, rules = s.rules{js},
                  risk_types = s.risk_types{js}, already_monitored = s.already_monitored,
                  village_code = s.village_code, message = s.message,
                  explanations = s.explanations{js}, evidence = s.evidence{js}, updated_at = %s
                FROM {STAGING} s WHERE f.key = s.key""",
            [run_id, run_id, now],
        )
        updated = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO screening_finding
                  (key, kind, check_id, household_id, village_code, id_number, category, level,
                   rules, risk_types, already_monitored, message, explanations, evidence, state,
                   first_run_id, last_run_id, resolved_run_id, updated_at)
                SELECT s.key, s.kind, s.check_id, h.id, s.village_code, s.id_number, s.category,
                       s.level, s.rules{js}, s.risk_types{js}, s.already_monitored, s.message,
                       s.explanations{js}, s.evidence{js}, 'open', %s, %s, NULL, %s
                FROM {STAGING} s JOIN registry_household h ON h.household_id = s.household_ref
                WHERE NOT EXISTS (SELECT 1 FROM screening_finding f WHERE f.key = s.key)""",
            [run_id, run_id, now],
        )
        inserted = cursor.rowcount
        scope, params = _scope_sql(area_codes, "village_code")
        cursor.execute(
            f"""UPDATE screening_finding SET state = 'resolved', resolved_run_id = %s,
                  updated_at = %s
                WHERE state = 'open' AND last_run_id <> %s{scope}""",
            [run_id, now, run_id, *params],
        )
        resolved = cursor.rowcount
        cursor.execute(f"DROP TABLE {STAGING}")
    return {
        "staged": staged,
        "new": inserted + reopened,
        "still_open": updated - reopened,
        "resolved": resolved,
    }
