"""Identity linkage of feed records to registry persons and households (formats/feeds.md).

In order, set-based in DuckDB over whole batches:

1. **exact** — the normalised ID number (upper-case X, 15 digits upgraded) is in the registry;
2. **typo** — the ID number is invalid or unknown, and exactly one registry person's number is one
   substituted character or one adjacent transposition away *and* the names match: linked as
   `typo`, flagged for confirmation; two or more such persons → review queue, never auto-linked;
3. **probabilistic** — no usable ID: Fellegi–Sunter on name, pinyin, birth date, sex, village
   (`safetynet.feeds.model`, Splink on DuckDB or Spark); at or above the accept threshold →
   linked, in the review band → review queue, below → unlinked;
4. household-level kinds also link to the household: the given household_id, else the linked
   person's household.

Unlinked records stay in the lake and are counted; nothing is dropped. Reviewers' decisions
(`LinkDecision`) are applied on every run: a rejected person is never proposed again for that
record, a confirmed one is linked.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from safetynet.core import idnumber

from . import lake, model
from .names import clean_name_sql, install_pinyin, names_match_sql, pinyin_sql, surname_pinyin_sql

METHODS = ("exact", "typo", "probabilistic", "household", "manual")
STATUSES = ("linked", "review", "unlinked")
TYPO_SCORE_SAME_NAME = 0.99
TYPO_SCORE_SIMILAR_NAME = 0.95
MAX_CANDIDATES = 5
# Scored pairs below this match probability are not competitors worth keeping.
PAIR_THRESHOLD = 0.01

LINK_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("department", pa.string()),
        ("batch_id", pa.string()),
        ("id_number", pa.string()),
        ("household_id", pa.string()),
        ("method", pa.string()),
        ("score", pa.float64()),
        ("status", pa.string()),
        ("to_confirm", pa.bool_()),
        ("candidates", pa.list_(pa.struct([("id_number", pa.string()), ("score", pa.float64())]))),
        ("decision", pa.string()),
        ("normalized_id", pa.string()),
        ("area_code", pa.string()),
        ("linked_at", pa.timestamp("us", tz="UTC")),
    ]
)

DECISION_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("department", pa.string()),
        ("record_id", pa.string()),
        ("id_number", pa.string()),
        ("household_id", pa.string()),
        ("decision", pa.string()),
        ("decided_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass
class RegistryTables:
    """Registry persons and households as Arrow tables (from the database, or given by a bench)."""

    persons: pa.Table  # id_number, name, sex, birth_date, household_id, village_code
    households: pa.Table  # household_id, village_code


@dataclass
class BatchRef:
    kind: str
    batch_id: str
    department: str
    path: Path


@dataclass
class LinkResult:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # batch_id -> counts
    model: model.TrainedModel | None = None
    timings: dict[str, float] = field(default_factory=dict)
    records: int = 0


PERSON_SELECT = (
    "SELECT p.id_number, p.name, p.sex, CAST(p.birth_date AS TEXT), hh.household_id, "
    "hh.village_id FROM {person} p JOIN {household} hh ON hh.id = p.household_id"
)
HOUSEHOLD_SELECT = "SELECT household_id, village_id FROM {household}"


def _fetch(sql: str, names: list[str]) -> pa.Table:
    from django.db import connection

    columns: list[list] = [[] for _ in names]
    with connection.cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(50_000):
            for i, col in enumerate(zip(*rows, strict=True)):
                columns[i].extend(col)
    return pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})


def read_registry() -> RegistryTables:
    """Persons with their household and village, in bulk (plain SELECT, no ORM objects)."""
    from safetynet.registry.models import Household, Person

    tables = {"person": Person._meta.db_table, "household": Household._meta.db_table}
    persons = _fetch(
        PERSON_SELECT.format(**tables),
        ["id_number", "name", "sex", "birth_date", "household_id", "village_code"],
    )
    persons = persons.set_column(
        3, "birth_date", pc.cast(persons.column("birth_date"), pa.date32())
    )
    households = _fetch(HOUSEHOLD_SELECT.format(**tables), ["household_id", "village_code"])
    return RegistryTables(persons, households)


def _records_union(batches: list[BatchRef]) -> str:
    """All records of the batches; `rid` = batch ordinal × 2^32 + row in the file (no window)."""
    parts = []
    for i, b in enumerate(batches):
        hh = "household_id" if _household_level(b.kind) else "CAST(NULL AS VARCHAR)"
        parts.append(
            f"SELECT CAST({i} AS BIGINT) * 4294967296 + file_row_number AS rid, "
            f"{lake.sql_str(b.kind)} AS kind, batch_id, department, record_id, "
            f"id_number AS id_raw, name, birth_date, sex, village_code, {hh} AS hh_given "
            f"FROM read_parquet({lake.sql_str(b.path)}, file_row_number = true)"
        )
    return " UNION ALL ".join(parts)


def _household_level(kind: str) -> bool:
    from .schemas import KINDS

    return KINDS[kind].household_level


def _normalise_ids(con, source: str) -> None:
    """`ids(id_raw, norm)` for every distinct non-canonical number of the records.

    Canonical numbers (17 digits + digit/X) are their own normal form and need no Python; the
    rest (15-digit, lower-case x, spaces, garbage) go through `idnumber.validate_many` once each.
    """
    raw = con.execute(
        f"SELECT DISTINCT id_raw FROM ({source}) WHERE id_raw IS NOT NULL "
        "AND NOT regexp_full_match(id_raw, '[0-9]{17}[0-9X]')"
    ).fetchall()
    values = [r[0] for r in raw]
    if values:
        table = (
            idnumber.validate_many(values)
            .select(pl.col("input").alias("id_raw"), pl.col("normalized").alias("norm"))
            .to_arrow()
        )
    else:
        table = pa.table({"id_raw": pa.array([], pa.string()), "norm": pa.array([], pa.string())})
    con.register("ids_arrow", table)
    con.execute("CREATE OR REPLACE TEMP TABLE ids AS SELECT * FROM ids_arrow")
    con.unregister("ids_arrow")


def _id_facts(con) -> None:
    """Validity, birth date and sex read from the numbers of records not linked exactly."""
    raw = con.execute("SELECT DISTINCT id_raw FROM rest WHERE id_raw IS NOT NULL").fetchall()
    values = [r[0] for r in raw]
    if values:
        facts = (
            idnumber.validate_many(values)
            .select(
                pl.col("input").alias("id_raw"),
                pl.col("valid"),
                pl.col("birth_date").alias("id_birth"),
                pl.col("sex").alias("id_sex"),
            )
            .to_arrow()
        )
    else:
        facts = pa.table(
            {
                "id_raw": pa.array([], pa.string()),
                "valid": pa.array([], pa.bool_()),
                "id_birth": pa.array([], pa.date32()),
                "id_sex": pa.array([], pa.string()),
            }
        )
    con.register("facts_arrow", facts)
    con.execute("CREATE OR REPLACE TEMP TABLE id_facts AS SELECT * FROM facts_arrow")
    con.unregister("facts_arrow")


class _Clock:
    def __init__(self, progress: Callable[[str], None] | None):
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._t = time.perf_counter()
        self._step = ""

    def step(self, name: str) -> None:
        now = time.perf_counter()
        if self._step:
            self.timings[self._step] = self.timings.get(self._step, 0.0) + now - self._t
        self._step, self._t = name, now
        if self.progress and name:
            self.progress(name)

    def done(self) -> dict[str, float]:
        self.step("")
        return self.timings


EMPTY_PAIRS = (
    "SELECT CAST(NULL AS BIGINT) rid, CAST(NULL AS BIGINT) pid, CAST(NULL AS DOUBLE) score, "
    "CAST(NULL AS DOUBLE) any_score WHERE false"
)


def link(
    batches: list[BatchRef],
    *,
    registry: RegistryTables,
    decisions: pa.Table | None = None,
    backend: str = "duckdb",
    accept: float,
    review: float,
    progress: Callable[[str], None] | None = None,
    write: bool = True,
    previous_model: model.TrainedModel | None = None,
) -> LinkResult:
    """Link every record of the given batches; write one links file per batch into the lake."""
    clock = _Clock(progress)
    result = LinkResult()
    if not batches:
        return result
    con = lake.connect()
    try:
        clock.step("prepare")
        _prepare(con, registry, decisions)
        clock.step("exact")
        _exact(con, batches)
        result.records = con.execute("SELECT count(*) FROM base").fetchall()[0][0]
        rest = con.execute("SELECT count(*) FROM rest").fetchall()[0][0]
        if rest:
            _id_facts(con)
            clock.step("pinyin")
            _add_pinyin(con)
            clock.step("typo")
            _typo(con)
            clock.step("probabilistic")
            result.model = _probabilistic(
                con, backend=backend, review=review, previous=previous_model
            )
        else:
            for name in ("st_typo", "st_prob"):
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {EMPTY_PAIRS}")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE prob_input AS "
                "SELECT CAST(NULL AS BIGINT) rid, false AS id_conflict WHERE false"
            )
        clock.step("assemble")
        _assemble(con, accept=accept, review=review)
        result.counts = _counts(con)
        if write:
            clock.step("write")
            for b in batches:
                _write_links(con, b)
    finally:
        con.close()
    result.timings = clock.done()
    return result


def _prepare(con, registry: RegistryTables, decisions) -> None:
    con.register("reg_arrow", registry.persons)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE reg AS
        SELECT CAST(row_number() OVER () AS BIGINT) AS pid, id_number,
               {clean_name_sql("name")} AS name, NULLIF(sex, '') AS sex,
               CAST(birth_date AS DATE) AS birth_date, household_id, village_code
        FROM reg_arrow
        """
    )
    con.unregister("reg_arrow")
    con.register("hh_arrow", registry.households)
    con.execute("CREATE OR REPLACE TEMP TABLE reg_hh AS SELECT * FROM hh_arrow")
    con.unregister("hh_arrow")
    if decisions is None or decisions.num_rows == 0:
        decisions = DECISION_SCHEMA.empty_table()
    con.register("dec_arrow", decisions)
    con.execute("CREATE OR REPLACE TEMP TABLE decisions AS SELECT * FROM dec_arrow")
    con.unregister("dec_arrow")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rejected AS SELECT kind, department, record_id, id_number "
        "FROM decisions WHERE decision = 'reject'"
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE confirmed AS
        SELECT c.kind, c.department, c.record_id, c.id_number, g.household_id, g.village_code
        FROM (SELECT kind, department, record_id, arg_max(id_number, decided_at) AS id_number
              FROM decisions WHERE decision = 'confirm' GROUP BY ALL) c
        LEFT JOIN reg g ON g.id_number = c.id_number
        """
    )


def _exact(con, batches: list[BatchRef]) -> None:
    """`base`: every record with its normalised number and the person it names, if any.

    One pass over the records and one hash join with the registry; everything after works on
    `rest`, the (few) records the exact step could not place.
    """
    source = _records_union(batches)
    _normalise_ids(con, source)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE base AS
        WITH r AS (
            SELECT rid, kind, batch_id, department,
                   record_id, NULLIF(trim(id_raw), '') AS id_raw,
                   {clean_name_sql("name")} AS name, birth_date, sex, village_code, hh_given
            FROM ({source})
        ),
        n AS (
            SELECT r.*, CASE WHEN regexp_full_match(r.id_raw, '[0-9]{{17}}[0-9X]')
                             THEN r.id_raw ELSE i.norm END AS norm
            FROM r LEFT JOIN ids i ON i.id_raw = r.id_raw
        )
        SELECT n.*, g.pid, g.household_id AS exact_hh, g.village_code AS exact_village
        FROM n LEFT JOIN reg g ON g.id_number = n.norm
        """
    )
    if con.execute("SELECT count(*) FROM rejected").fetchall()[0][0]:
        con.execute(
            """
            UPDATE base SET pid = NULL, exact_hh = NULL, exact_village = NULL
            FROM rejected x
            WHERE x.kind = base.kind AND x.department = base.department
              AND x.record_id = base.record_id AND x.id_number = base.norm
            """
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rest AS "
        "SELECT * EXCLUDE (pid, exact_hh, exact_village) FROM base WHERE pid IS NULL"
    )
    # Exact pairs are labelled training pairs for the probabilistic model (an even sample).
    exact = con.execute("SELECT count(*) FROM base WHERE pid IS NOT NULL").fetchall()[0][0]
    step = max(1, exact // model.MAX_LABELS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE labelled AS
        SELECT * FROM base WHERE pid IS NOT NULL AND rid % {step} = 0 LIMIT {model.MAX_LABELS}
        """
    )


def _add_pinyin(con) -> None:
    """Install the character → pinyin map; give the (small) record tables pinyin columns.

    Registry pinyin is computed only where it is needed: for typo candidates, and for the
    registry side of the probabilistic step when some record needs it.
    """
    install_pinyin(con, [("reg", "name"), ("rest", "name"), ("labelled", "name")])
    for table in ("rest", "labelled"):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {table}_p AS
            SELECT *, {pinyin_sql("name")} AS name_py, {surname_pinyin_sql("name")} AS surname_py
            FROM {table}
            """
        )
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_p RENAME TO {table}")


def _typo(con) -> None:
    """Candidates one substitution or one adjacent transposition away, names matching.

    The variants of each probe number are generated in SQL (positions × alphabet) and joined to
    the registry's numbers: a hash join, not a comparison of every record with every person.
    A legacy 15-digit number is compared on its 17-character body (it has no check character).
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE probes AS
        SELECT rid, p, length(p) AS len FROM (
            SELECT rid, upper(regexp_replace(id_raw, '\\s', '', 'g')) AS p
            FROM rest WHERE id_raw IS NOT NULL
        ) WHERE length(p) IN (15, 18)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE variants AS
        WITH alphabet AS (SELECT unnest(['0','1','2','3','4','5','6','7','8','9','X']) AS c),
        v AS (
            SELECT pr.rid, pr.len, substr(pr.p, 1, i - 1) || a.c || substr(pr.p, i + 1) AS v
            FROM probes pr, range(1, 19) t(i), alphabet a
            WHERE i <= pr.len AND substr(pr.p, i, 1) <> a.c
              AND (a.c <> 'X' OR (i = 18 AND pr.len = 18))
            UNION ALL
            SELECT pr.rid, pr.len,
                   substr(pr.p, 1, i - 1) || substr(pr.p, i + 1, 1) || substr(pr.p, i, 1)
                   || substr(pr.p, i + 2) AS v
            FROM probes pr, range(1, 18) t(i)
            WHERE i < pr.len AND substr(pr.p, i, 1) <> substr(pr.p, i + 1, 1)
        )
        SELECT rid, len, v,
               CASE WHEN len = 18 THEN left(v, 17)
                    ELSE substr(v, 1, 6) || '19' || substr(v, 7) END AS body17
        FROM v
        """
    )
    # One join on the 17-character body serves both lengths; an 18-character variant must
    # also have the registry number's check character.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE typo_hits AS
        SELECT DISTINCT v.rid, g.pid
        FROM variants v
        JOIN (SELECT pid, id_number, left(id_number, 17) AS body17 FROM reg) g
             ON g.body17 = v.body17
        WHERE v.len = 15 OR g.id_number = v.v
        """
    )
    con.execute("DROP TABLE variants")
    match = names_match_sql("r.name", "g.name", "r.name_py", "g.name_py")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE st_typo AS
        WITH g AS (
            SELECT pid, id_number, name, {pinyin_sql("name")} AS name_py FROM reg
            WHERE pid IN (SELECT pid FROM typo_hits)
        )
        SELECT h.rid, h.pid,
               CASE WHEN r.name = g.name THEN {TYPO_SCORE_SAME_NAME}
                    ELSE {TYPO_SCORE_SIMILAR_NAME} END AS score
        FROM typo_hits h JOIN rest r USING (rid) JOIN g USING (pid)
        ANTI JOIN rejected x ON x.kind = r.kind AND x.department = r.department
             AND x.record_id = r.record_id AND x.id_number = g.id_number
        WHERE {match}
        """
    )
    con.execute("DROP TABLE typo_hits")
    con.execute("DROP TABLE probes")


def _features_sql(alias: str, birth: str, sex: str) -> str:
    return f"""
        {alias}.name, {alias}.name_py, {alias}.surname_py,
        strftime({birth}, '%Y%m%d') AS birth,
        {sex} AS sex,
        {alias}.village_code,
        left({alias}.village_code, 9) AS township,
        left({alias}.village_code, 6) AS county
    """


def _probabilistic(
    con, *, backend: str, review: float, previous: model.TrainedModel | None = None
) -> model.TrainedModel:
    """Fellegi–Sunter over the records neither exact nor typo could place."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE prob_input AS
        SELECT r.*, f.id_birth, f.id_sex, coalesce(f.valid, false) AS id_conflict
        FROM rest r LEFT JOIN id_facts f ON f.id_raw = r.id_raw
        ANTI JOIN st_typo t ON t.rid = r.rid
        """
    )
    n = con.execute("SELECT count(*) FROM prob_input").fetchall()[0][0]
    empty = (
        "CREATE OR REPLACE TEMP TABLE st_prob AS SELECT CAST(NULL AS BIGINT) rid, "
        "CAST(NULL AS BIGINT) pid, CAST(NULL AS DOUBLE) score, CAST(NULL AS DOUBLE) any_score "
        "WHERE false"
    )
    n_reg = con.execute("SELECT count(*) FROM reg").fetchall()[0][0]
    prior_match = min(0.5, 0.9 / max(n_reg, 1))
    if n == 0 or n_reg == 0:
        con.execute(empty)
        return model.TrainedModel(model.settings_dict(prior_match=prior_match), "prior", 0)
    reg_features = con.sql(
        f"""
        SELECT g.pid AS uid, {_features_sql("g", "g.birth_date", "g.sex")}
        FROM (SELECT *, {pinyin_sql("name")} AS name_py, {surname_pinyin_sql("name")} AS surname_py
              FROM reg) g
        """
    ).to_arrow_table()
    rec_features = con.sql(
        f"""
        SELECT rid AS uid,
               {_features_sql("r", "coalesce(r.birth_date, r.id_birth)", "coalesce(r.sex, r.id_sex)")}
        FROM prob_input r
        """
    ).to_arrow_table()
    labelled = con.sql(
        f"""
        SELECT r.rid AS uid, {_features_sql("r", "r.birth_date", "r.sex")}, r.pid
        FROM labelled r
        """
    ).to_arrow_table()
    labels = pa.table({"uid_l": labelled.column("uid"), "uid_r": labelled.column("pid")})
    labelled = labelled.drop_columns(["pid"])
    # Predict against the persons who share a blocking key with some record: the same pairs
    # as the whole registry would give, a fraction of the work. Name frequencies (for the
    # term-frequency adjustment) still come from the whole registry.
    con.register("reg_features", reg_features)
    con.register("rec_features", rec_features)
    candidates = con.sql(
        " UNION ".join(
            "SELECT g.* FROM reg_features g SEMI JOIN rec_features r ON "
            + " AND ".join(f"r.{k} = g.{k}" for k in keys)
            for keys in model.BLOCKING_KEYS
        )
    ).to_arrow_table()
    name_tf = con.sql(
        """
        SELECT name, CAST(count(*) AS DOUBLE) / sum(count(*)) OVER () AS tf_name
        FROM reg_features WHERE name IS NOT NULL GROUP BY name
        """
    ).to_arrow_table()
    con.unregister("reg_features")
    con.unregister("rec_features")
    splink_con = lake.connect() if backend == "duckdb" else None
    try:
        engine = model.make_backend(backend, splink_con)
        trained = model.train(
            engine,
            labelled_records=labelled,
            registry=reg_features,
            labels=labels,
            prior_match=prior_match,
            previous=previous,
        )
        pairs = model.predict(
            engine,
            trained,
            records=rec_features,
            registry=candidates,
            name_tf=name_tf,
            threshold=PAIR_THRESHOLD,
        )
    finally:
        if splink_con is not None:
            splink_con.close()
    con.register("pairs_arrow", pairs)
    # A record is one person at most: each candidate's share of the odds is its probability of
    # being *the* match (Fellegi–Sunter odds 2^weight, normalised over the record's candidates).
    # Two equally good candidates therefore land in review, never auto-linked.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE st_prob AS
        WITH kept AS (
            SELECT p.rec_uid AS rid, p.reg_uid AS pid,
                   max(least(greatest(p.match_weight, -200), 200)) AS mw
            FROM pairs_arrow p JOIN prob_input r ON r.rid = p.rec_uid
            JOIN reg g ON g.pid = p.reg_uid
            ANTI JOIN rejected x ON x.kind = r.kind AND x.department = r.department
                 AND x.record_id = r.record_id AND x.id_number = g.id_number
            GROUP BY ALL
        )
        SELECT rid, pid, pow(2, mw) / (1 + sum(pow(2, mw)) OVER (PARTITION BY rid)) AS score,
               sum(pow(2, mw)) OVER (PARTITION BY rid)
                   / (1 + sum(pow(2, mw)) OVER (PARTITION BY rid)) AS any_score
        FROM kept
        """
    )
    con.unregister("pairs_arrow")
    return trained


def _assemble(con, *, accept: float, review: float) -> None:
    """One link row per record: exact, else typo, else probabilistic; decisions on top.

    The exact person travels with `base`; only the few other records are joined with their
    picks and candidates, and decisions are small tables joined last.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE picks AS
        WITH typo_ranked AS (
            SELECT rid, pid, score, count(*) OVER (PARTITION BY rid) AS n FROM st_typo
        ),
        prob_ranked AS (
            SELECT rid, pid, score, any_score,
                   row_number() OVER (PARTITION BY rid ORDER BY score DESC, pid) AS rank
            FROM st_prob
        ),
        cands AS (
            SELECT c.rid,
                   list(struct_pack(id_number := g.id_number, score := c.score)
                        ORDER BY c.score DESC, g.id_number)[1:{MAX_CANDIDATES}] AS candidates,
                   arg_max(g.village_code, c.score) AS top_village
            FROM (SELECT rid, pid, score FROM typo_ranked WHERE n > 1
                  UNION ALL SELECT rid, pid, score FROM prob_ranked) c
            JOIN reg g USING (pid)
            GROUP BY c.rid
        ),
        chosen AS (
            SELECT rid, pid, 'typo' AS method, score, 'linked' AS status, true AS to_confirm
            FROM typo_ranked WHERE n = 1
            UNION ALL
            SELECT rid, NULL, 'typo', max(score), 'review', false
            FROM typo_ranked WHERE n > 1 GROUP BY rid
            UNION ALL
            SELECT p.rid,
                   CASE WHEN p.score >= {accept} AND NOT i.id_conflict THEN p.pid END,
                   'probabilistic', p.score,
                   CASE WHEN p.score >= {accept} AND NOT i.id_conflict THEN 'linked'
                        WHEN p.any_score >= {review} THEN 'review' ELSE 'unlinked' END,
                   false
            FROM prob_ranked p JOIN prob_input i USING (rid) WHERE p.rank = 1
        )
        SELECT k.rid, k.method, k.score, k.status, k.to_confirm, c.candidates, c.top_village,
               g.id_number AS pick_id, g.household_id AS pick_hh, g.village_code AS pick_village
        FROM chosen k
        LEFT JOIN cands c USING (rid)
        LEFT JOIN (SELECT pid, id_number, household_id, village_code FROM reg
                   WHERE pid IN (SELECT pid FROM chosen)) g USING (pid)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE links AS
        WITH b AS (
            SELECT b.rid, b.kind, b.batch_id, b.department, b.record_id, b.norm,
                   b.village_code, b.hh_given,
                   CASE WHEN b.pid IS NOT NULL THEN b.norm ELSE k.pick_id END AS linked_id,
                   CASE WHEN b.pid IS NOT NULL THEN b.exact_hh ELSE k.pick_hh END AS linked_hh,
                   CASE WHEN b.pid IS NOT NULL THEN b.exact_village ELSE k.pick_village END
                       AS linked_village,
                   CASE WHEN b.pid IS NOT NULL THEN 'exact' ELSE k.method END AS method,
                   CASE WHEN b.pid IS NOT NULL THEN 1.0 ELSE k.score END AS score,
                   CASE WHEN b.pid IS NOT NULL THEN 'linked'
                        ELSE coalesce(k.status, 'unlinked') END AS status,
                   coalesce(k.to_confirm, false) AS to_confirm,
                   k.candidates, k.top_village
            FROM base b LEFT JOIN picks k USING (rid)
        ),
        d AS (
            SELECT b.*, cf.id_number AS conf_id, cf.household_id AS conf_hh,
                   cf.village_code AS conf_village, rj.record_id IS NOT NULL AS any_rejected,
                   h.household_id AS given_hh, h.village_code AS given_village
            FROM b
            LEFT JOIN confirmed cf ON cf.kind = b.kind AND cf.department = b.department
                 AND cf.record_id = b.record_id
            LEFT JOIN (SELECT DISTINCT kind, department, record_id FROM rejected) rj
                 ON rj.kind = b.kind AND rj.department = b.department
                 AND rj.record_id = b.record_id
            LEFT JOIN reg_hh h ON h.household_id = b.hh_given
        ),
        p AS (
            SELECT d.*,
                   CASE WHEN conf_id IS NOT NULL THEN conf_id
                        WHEN status = 'linked' THEN linked_id END AS person,
                   CASE WHEN conf_id IS NOT NULL THEN conf_hh
                        WHEN status = 'linked' THEN linked_hh END AS person_hh,
                   CASE WHEN conf_id IS NOT NULL THEN conf_village
                        WHEN status = 'linked' THEN linked_village END AS person_village
            FROM d
        )
        SELECT record_id, department, batch_id, kind, rid,
               person AS id_number,
               coalesce(given_hh, person_hh) AS household_id,
               CASE WHEN conf_id IS NOT NULL AND conf_id IS DISTINCT FROM linked_id THEN 'manual'
                    WHEN person IS NULL AND given_hh IS NOT NULL THEN 'household'
                    ELSE method END AS method,
               CASE WHEN conf_id IS NOT NULL AND conf_id IS DISTINCT FROM linked_id THEN 1.0
                    WHEN person IS NULL AND given_hh IS NOT NULL THEN 1.0
                    ELSE score END AS score,
               CASE WHEN person IS NOT NULL OR given_hh IS NOT NULL THEN 'linked'
                    WHEN status = 'review' THEN 'review' ELSE 'unlinked' END AS status,
               to_confirm AND conf_id IS NULL AS to_confirm,
               CASE WHEN status = 'review' OR to_confirm
                    THEN coalesce(candidates,
                                  [struct_pack(id_number := linked_id, score := score)])
                    ELSE candidates END AS candidates,
               CASE WHEN conf_id IS NOT NULL THEN 'confirm'
                    WHEN any_rejected THEN 'reject' END AS decision,
               norm AS normalized_id,
               coalesce(given_village, person_village, top_village, village_code) AS area_code
        FROM p
        """
    )


def _counts(con) -> dict[str, dict[str, int]]:
    rows = con.execute(
        """
        SELECT batch_id,
               count(*) AS records,
               count(*) FILTER (WHERE status = 'linked' AND method = 'exact') AS exact,
               count(*) FILTER (WHERE status = 'linked' AND method = 'typo') AS typo,
               count(*) FILTER (WHERE status = 'linked' AND method = 'probabilistic')
                   AS probabilistic,
               count(*) FILTER (WHERE status = 'linked' AND method = 'household') AS household,
               count(*) FILTER (WHERE status = 'linked' AND method = 'manual') AS manual,
               count(*) FILTER (WHERE status = 'review' OR to_confirm) AS review,
               count(*) FILTER (WHERE status = 'unlinked') AS unlinked
        FROM links GROUP BY batch_id
        """
    ).fetchall()
    keys = (
        "records",
        "exact",
        "typo",
        "probabilistic",
        "household",
        "manual",
        "review",
        "unlinked",
    )
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def _write_links(con, batch: BatchRef) -> None:
    final = lake.links_dir(batch.kind, batch.batch_id)
    tmp = lake.temp_sibling(final)
    tmp.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC).isoformat(sep=" ")
    cols = ", ".join(f.name for f in LINK_SCHEMA if f.name != "linked_at")
    con.execute(
        f"""
        COPY (
            SELECT {cols}, CAST({lake.sql_str(now)} AS TIMESTAMPTZ) AS linked_at
            FROM links WHERE batch_id = {lake.sql_str(batch.batch_id)}
              AND kind = {lake.sql_str(batch.kind)}
        ) TO {lake.sql_str(lake.part_file(tmp))} (FORMAT parquet, COMPRESSION zstd)
        """
    )
    lake.replace_dir(tmp, final)
