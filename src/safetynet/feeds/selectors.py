"""Reads of department feeds: linked views for the rule engine, the review queue, batches, quality.

The rule engine's contract (keep these names):

- `register_linked_feeds(con, *, kinds=None)` creates, on a DuckDB connection, one view per kind
  named `feed_<kind>` with columns `record_id, event_date, id_number, household_id, <the kind's
  own columns>`; id_number/household_id are the LINKED registry person/household (NULL when
  unlinked), only records of active (not withdrawn) batches, and when a department sent the same
  record_id again, only its latest version.
- `linked_feed_paths(kind)` gives Parquet files with the same rows and columns, for Spark.
- `records_for_household(household_id)` gives a household's linked records, per kind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from safetynet.core.masking import mask_id_number

from . import lake
from .linkage import DECISION_SCHEMA
from .models import FeedBatch, LinkDecision
from .schemas import KINDS, FeedKind, resolve_kinds

DETAIL_COLUMNS = ("department", "batch_id", "link_method", "link_score", "link_status")


def batch_list(*, kind: str | None = None, status: str | None = None) -> list[FeedBatch]:
    qs = FeedBatch.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    return list(qs.order_by("-loaded_at", "batch_id"))


def active_batches(kinds: list[str] | None = None) -> list[FeedBatch]:
    qs = FeedBatch.objects.filter(status=FeedBatch.Status.ACTIVE)
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    return list(qs.order_by("loaded_at", "batch_id"))


def decisions_table(kinds: list[str] | None = None) -> pa.Table:
    qs = LinkDecision.objects.all()
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    rows = list(
        qs.values_list(
            "kind",
            "department",
            "record_id",
            "id_number",
            "household_id",
            "decision",
            "decided_at",
        )
    )
    if not rows:
        return DECISION_SCHEMA.empty_table()
    cols = list(zip(*rows, strict=True))
    return pa.table(
        {f.name: pa.array(c, f.type) for f, c in zip(DECISION_SCHEMA, cols, strict=True)}
    )


def _empty_view_sql(kind: FeedKind) -> str:
    cols = [
        "CAST(NULL AS VARCHAR) AS record_id",
        "CAST(NULL AS DATE) AS event_date",
        "CAST(NULL AS VARCHAR) AS id_number",
        "CAST(NULL AS VARCHAR) AS household_id",
        *(f"CAST(NULL AS {c.sql_type}) AS {lake.ident(c.name)}" for c in kind.columns),
        "CAST(NULL AS VARCHAR) AS department",
        "CAST(NULL AS VARCHAR) AS batch_id",
        "CAST(NULL AS VARCHAR) AS link_method",
        "CAST(NULL AS DOUBLE) AS link_score",
        "CAST(NULL AS VARCHAR) AS link_status",
    ]
    return f"SELECT {', '.join(cols)} WHERE false"


def _detail_sql(kind: FeedKind, batches: list[FeedBatch]) -> str:
    """Records of active batches, latest version per (department, record_id), links overlaid."""
    records = [lake.part_file(lake.records_dir(kind.name, b.batch_id)) for b in batches]
    records = [p for p in records if p.exists()]
    if not records:
        return _empty_view_sql(kind)
    links = [lake.part_file(lake.links_dir(kind.name, b.batch_id)) for b in batches]
    links = [p for p in links if p.exists()]
    order = {b.batch_id: i for i, b in enumerate(batches)}
    seq = " ".join(f"WHEN {lake.sql_str(bid)} THEN {i}" for bid, i in order.items())
    rec_list = "[" + ", ".join(lake.sql_str(p) for p in records) + "]"
    if links:
        link_list = "[" + ", ".join(lake.sql_str(p) for p in links) + "]"
        link_src = (
            "SELECT batch_id, record_id, id_number, household_id, method, score, status "
            f"FROM read_parquet({link_list}, union_by_name = true)"
        )
    else:
        link_src = (
            "SELECT CAST(NULL AS VARCHAR) batch_id, CAST(NULL AS VARCHAR) record_id, "
            "CAST(NULL AS VARCHAR) id_number, CAST(NULL AS VARCHAR) household_id, "
            "CAST(NULL AS VARCHAR) method, CAST(NULL AS DOUBLE) score, "
            "CAST(NULL AS VARCHAR) status WHERE false"
        )
    own = ", ".join(f"r.{lake.ident(c.name)}" for c in kind.columns)
    own = f"{own}, " if own else ""
    kind_lit = lake.sql_str(kind.name)
    return f"""
        WITH r AS (
            SELECT * FROM read_parquet({rec_list}, union_by_name = true)
            QUALIFY row_number() OVER (
                PARTITION BY department, record_id
                ORDER BY CASE batch_id {seq} END DESC) = 1
        ),
        l AS ({link_src}),
        conf AS (
            SELECT department, record_id, arg_max(id_number, decided_at) AS id_number,
                   arg_max(household_id, decided_at) AS household_id
            FROM sn_feed_decisions WHERE kind = {kind_lit} AND decision = 'confirm'
            GROUP BY ALL
        ),
        rej AS (
            SELECT DISTINCT department, record_id, id_number
            FROM sn_feed_decisions WHERE kind = {kind_lit} AND decision = 'reject'
        )
        SELECT r.record_id, r.event_date,
               CASE WHEN conf.id_number IS NOT NULL THEN conf.id_number
                    WHEN rej.id_number IS NOT NULL THEN NULL
                    ELSE l.id_number END AS id_number,
               CASE WHEN l.method = 'household' THEN l.household_id
                    WHEN conf.id_number IS NOT NULL THEN conf.household_id
                    WHEN rej.id_number IS NOT NULL THEN NULL
                    ELSE l.household_id END AS household_id,
               {own}
               r.department, r.batch_id,
               CASE WHEN conf.id_number IS NOT NULL AND conf.id_number IS DISTINCT FROM l.id_number
                    THEN 'manual' ELSE l.method END AS link_method,
               CASE WHEN conf.id_number IS NOT NULL AND conf.id_number IS DISTINCT FROM l.id_number
                    THEN 1.0 ELSE l.score END AS link_score,
               CASE WHEN conf.id_number IS NOT NULL THEN 'linked'
                    WHEN rej.id_number IS NOT NULL AND l.method IS DISTINCT FROM 'household'
                    THEN 'unlinked'
                    ELSE coalesce(l.status, 'unlinked') END AS link_status
        FROM r
        LEFT JOIN l ON l.batch_id = r.batch_id AND l.record_id = r.record_id
        LEFT JOIN conf ON conf.department = r.department AND conf.record_id = r.record_id
        LEFT JOIN rej ON rej.department = r.department AND rej.record_id = r.record_id
             AND rej.id_number = l.id_number
    """


def register_linked_feeds(con, *, kinds: list[str] | None = None) -> list[str]:
    """Create `feed_<kind>` views (and `feed_<kind>_detail` with link columns) on `con`.

    Returns the names of the `feed_<kind>` views. Kinds without active batches get an empty
    view of the right columns, so rules can always refer to every kind.
    """
    chosen = resolve_kinds(kinds)
    batches = active_batches([k.name for k in chosen])
    decisions = decisions_table([k.name for k in chosen])
    con.register("sn_feed_decisions_arrow", decisions)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sn_feed_decisions AS SELECT * FROM sn_feed_decisions_arrow"
    )
    con.unregister("sn_feed_decisions_arrow")
    names = []
    for kind in chosen:
        mine = [b for b in batches if b.kind == kind.name]
        detail = f"feed_{kind.name}_detail"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {detail} AS {_detail_sql(kind, mine)}")
        own = "".join(f", {lake.ident(c.name)}" for c in kind.columns)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW feed_{kind.name} AS "
            f"SELECT record_id, event_date, id_number, household_id{own} FROM {detail}"
        )
        names.append(f"feed_{kind.name}")
    return names


def _fingerprint(kind: str) -> str:
    digest = hashlib.sha256()
    for b in active_batches([kind]):
        links = lake.part_file(lake.links_dir(kind, b.batch_id))
        stamp = links.stat().st_mtime_ns if links.exists() else 0
        digest.update(f"{b.batch_id}|{b.linked_at}|{stamp};".encode())
    for d in (
        LinkDecision.objects.filter(kind=kind)
        .order_by("pk")
        .values_list("pk", "decision", "id_number", "version")
    ):
        digest.update(repr(d).encode())
    return digest.hexdigest()[:16]


def linked_feed_paths(kind: str) -> list[str]:
    """Parquet files holding exactly the rows of `feed_<kind>`, for engines other than DuckDB.

    The view is materialised once per state of the catalogue (active batches, link runs,
    decisions) and reused until that state changes.
    """
    resolve_kinds([kind])
    out_dir = lake.linked_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{kind}-{_fingerprint(kind)}.parquet"
    if not target.exists():
        con = lake.connect()
        try:
            register_linked_feeds(con, kinds=[kind])
            tmp = out_dir / f".tmp-{target.name}"
            con.execute(
                f"COPY (SELECT * FROM feed_{kind}) "
                f"TO {lake.sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd)"
            )
            tmp.rename(target)
        finally:
            con.close()
        for old in out_dir.glob(f"{kind}-*.parquet"):
            if old != target:
                old.unlink(missing_ok=True)
    return [str(target)]


def records_for_household(household_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every linked record of one household, per kind, newest event first.

    Each record has the `feed_<kind>` columns plus department, batch_id, link_method,
    link_score. Callers check the user's scope on the household first.
    """
    batches = active_batches()
    kinds = sorted({b.kind for b in batches})
    if not kinds:
        return {}
    con = lake.connect()
    try:
        register_linked_feeds(con, kinds=kinds)
        out: dict[str, list[dict[str, Any]]] = {}
        for kind in kinds:
            cur = con.execute(
                f"SELECT * EXCLUDE (link_status) FROM feed_{kind}_detail WHERE household_id = ? "
                "ORDER BY event_date DESC, record_id",
                [household_id],
            )
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            if rows:
                out[kind] = rows
        return out
    finally:
        con.close()


def record_link(kind: str, record_id: str, department: str | None = None) -> dict | None:
    """The current link row of one record (latest active batch that holds it)."""
    batches = active_batches([kind])
    files = [lake.part_file(lake.links_dir(kind, b.batch_id)) for b in batches]
    files = [p for p in files if p.exists()]
    if not files:
        return None
    order = {b.batch_id: i for i, b in enumerate(batches)}
    seq = " ".join(f"WHEN {lake.sql_str(bid)} THEN {i}" for bid, i in order.items())
    con = lake.connect()
    try:
        file_list = "[" + ", ".join(lake.sql_str(p) for p in files) + "]"
        where = "record_id = ?" + (" AND department = ?" if department else "")
        params = [record_id] + ([department] if department else [])
        cur = con.execute(
            f"SELECT * FROM read_parquet({file_list}, union_by_name = true) WHERE {where} "
            f"ORDER BY CASE batch_id {seq} END DESC",
            params,
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    if not rows:
        return None
    departments = {r["department"] for r in rows}
    if len(departments) > 1:
        from safetynet.core.errors import ValidationFailed

        raise ValidationFailed(
            f"记录 {record_id} 在多个部门中出现（{'、'.join(sorted(departments))}），请指定部门",
            f"record {record_id} exists for several departments "
            f"({', '.join(sorted(departments))}); give the department",
        )
    return rows[0]


def _review_items_sql(con, kinds: list[str], user) -> tuple[str, list] | None:
    """SQL (and parameters) of the undecided review items in the user's scope, or None."""
    prefix = "" if user is None else user.scope_code
    batches = active_batches(kinds)
    con.register("sn_decided", decisions_table(kinds))
    parts = []
    for k in kinds:
        for b in (b for b in batches if b.kind == k):
            link_path = lake.part_file(lake.links_dir(k, b.batch_id))
            rec_path = lake.part_file(lake.records_dir(k, b.batch_id))
            if not link_path.exists():
                continue
            parts.append(
                f"""
                SELECT {lake.sql_str(k)} AS kind, l.record_id, l.department, l.batch_id,
                       l.method, l.score, l.status, l.to_confirm, l.candidates,
                       l.id_number AS linked_id, l.area_code, l.normalized_id,
                       r.id_number AS record_id_number, r.name AS record_name,
                       r.birth_date AS record_birth_date, r.sex AS record_sex,
                       r.village_code AS record_village, r.event_date
                FROM read_parquet({lake.sql_str(link_path)}) l
                JOIN read_parquet({lake.sql_str(rec_path)}) r USING (record_id)
                WHERE (l.status = 'review' OR l.to_confirm)
                """
            )
    if not parts:
        return None
    # Decided: a confirmation of anyone, or a rejection of the person proposed now.
    sql = f"""
        SELECT q.* FROM ({" UNION ALL ".join(parts)}) q
        ANTI JOIN sn_decided d ON d.kind = q.kind AND d.department = q.department
             AND d.record_id = q.record_id
             AND (d.decision = 'confirm'
                  OR d.id_number = coalesce(q.linked_id, q.candidates[1].id_number))
        WHERE coalesce(q.area_code, '') LIKE ? || '%'
    """
    return sql, [prefix if prefix != "-" else "\x00"]


def review_count(*, user, kind: str | None = None) -> int:
    """How many review items wait in the user's scope (for paging)."""
    kinds = [kind] if kind else list(KINDS)
    resolve_kinds(kinds)
    con = lake.connect()
    try:
        built = _review_items_sql(con, kinds, user)
        if built is None:
            return 0
        sql, params = built
        return con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0]
    finally:
        con.close()


def review_queue(
    *,
    user,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
    unmask: bool = False,
) -> list[dict[str, Any]]:
    """Uncertain links awaiting a person: typo links to confirm and probabilistic review band.

    Each item holds the record side (as the department sent it) and the candidate persons from
    the registry, side by side. ID numbers are masked unless `unmask` (the caller audits that).
    Only items whose area (best candidate's village, else the record's) is in the user's scope.
    """
    from safetynet.registry.models import Person

    kinds = [kind] if kind else list(KINDS)
    resolve_kinds(kinds)
    con = lake.connect()
    try:
        built = _review_items_sql(con, kinds, user)
        if built is None:
            return []
        sql, params = built
        cur = con.execute(
            f"{sql} ORDER BY q.kind, q.event_date DESC, q.record_id "
            f"LIMIT {int(limit)} OFFSET {int(offset)}",
            params,
        )
        names = [d[0] for d in cur.description]
        items = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    ids = {c["id_number"] for it in items for c in (it["candidates"] or [])}
    persons = {
        p.id_number: p for p in Person.objects.filter(id_number__in=ids).select_related("household")
    }
    show = (lambda v: v or "") if unmask else mask_id_number
    for it in items:
        it["record_id_number_display"] = show(it["record_id_number"])
        cands = []
        for c in it["candidates"] or []:
            p = persons.get(c["id_number"])
            cands.append(
                {
                    "id_number": c["id_number"],
                    "id_number_display": show(c["id_number"]),
                    "score": c["score"],
                    "name": p.name if p else None,
                    "birth_date": p.birth_date if p else None,
                    "sex": p.sex if p else None,
                    "household_id": p.household.household_id if p else None,
                    "village_code": p.household.village_id if p else None,
                    "status": p.status if p else None,
                }
            )
        it["candidates"] = cands
    return items


def link_quality(ground_truth: Path, *, kinds: list[str] | None = None) -> dict[str, Any]:
    """Precision and recall of the current links against a ground-truth file.

    The file has columns kind, record_id, person_id_number, household_id, noise (the demo
    generator writes it). A record counts as linked when its link status is `linked`; typo links
    count, review-band records do not. Person-level kinds are judged on the person; household
    kinds linked by household_id alone on the household.
    """
    path = Path(ground_truth)
    if not path.exists():
        from safetynet.core.errors import ValidationFailed

        raise ValidationFailed(f"找不到文件 {path}", f"file not found: {path}")
    chosen = resolve_kinds(kinds)
    con = lake.connect()
    try:
        register_linked_feeds(con, kinds=[k.name for k in chosen])
        union = " UNION ALL ".join(
            f"SELECT {lake.sql_str(k.name)} AS kind, record_id, id_number, household_id, "
            f"link_method, link_status FROM feed_{k.name}_detail"
            for k in chosen
        )
        con.execute(
            f"""
            CREATE TEMP TABLE q AS
            SELECT t.kind, t.record_id, NULLIF(t.person_id_number, '') AS true_id,
                   NULLIF(t.household_id, '') AS true_hh, coalesce(NULLIF(t.noise, ''), 'none')
                   AS noise, l.id_number, l.household_id, l.link_method AS method,
                   coalesce(l.link_status, 'missing') AS status,
                   CASE WHEN l.link_status = 'linked' THEN
                        CASE WHEN l.id_number IS NOT NULL THEN l.id_number = t.person_id_number
                             ELSE l.household_id = t.household_id END
                   END AS correct
            FROM read_csv({lake.sql_str(path)}, all_varchar = true, header = true) t
            JOIN ({union}) l ON l.kind = t.kind AND l.record_id = t.record_id
            """
        )

        def summary(group: str) -> list[dict[str, Any]]:
            cur = con.execute(
                f"""
                SELECT {group} AS key,
                       count(*) AS records,
                       count(*) FILTER (WHERE true_id IS NOT NULL OR true_hh IS NOT NULL)
                           AS with_truth,
                       count(*) FILTER (WHERE status = 'linked') AS linked,
                       count(*) FILTER (WHERE correct) AS correct,
                       count(*) FILTER (WHERE status = 'review') AS review,
                       count(*) FILTER (WHERE status = 'unlinked') AS unlinked
                FROM q GROUP BY ALL ORDER BY 1
                """
            )
            out = []
            for key, records, truth, linked, correct, review, unlinked in cur.fetchall():
                out.append(
                    {
                        "key": key,
                        "records": records,
                        "with_truth": truth,
                        "linked": linked,
                        "correct": correct,
                        "review": review,
                        "unlinked": unlinked,
                        "precision": (correct / linked) if linked else None,
                        "recall": (correct / truth) if truth else None,
                    }
                )
            return out

        return {
            "overall": summary("'all'")[0]
            if con.execute("SELECT count(*) FROM q").fetchall()[0][0]
            else None,
            "by_method": summary("coalesce(method, '(none)')"),
            "by_noise": summary("noise"),
            "by_kind": summary("kind"),
        }
    finally:
        con.close()
