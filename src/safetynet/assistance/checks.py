"""Quality checks of the programmes (POLICY.md §6), set-based on DuckDB.

The checks themselves are data: `data/checks.yaml` holds, per check ID, its policy source, the
SQL over documented input relations and the bilingual message. This module only builds those
relations — enrolments, memberships, deaths, change proposals, approved roll lines, the
parameters per village, the rules' dibao eligibility, and the linked department feeds — runs
each query once over the whole area, and renders the messages column by column.

The work follows the enrolments: the relations are read from the database straight into
Arrow, starting from the programmes' own tables (the registry is only joined to their rows, so
an area without enrolments costs a few empty queries), the department feeds are opened only
when there are members to check, and the per-household eligibility is three columns of a
screen's results. Only the checks whose wording depends on the row (deaths, double assistance:
few rows) are rendered row by row.

`findings_table(*, as_of, area_code="")` is what the region screen merges into its quality
output; `run_checks` returns the same findings as dicts.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from django.db import connection
from django.db.models import TextField
from django.db.models.functions import Cast

from safetynet.core.masking import mask_id_number

from . import clocks, evidence
from .models import Application, ChangeProposal, Enrolment, EnrolmentMember, RollLine
from .parameters import params_for_areas

log = logging.getLogger(__name__)

CHECK_IDS = [
    "Q-DEAD-PAID",
    "Q-DEAD-LATE",
    "Q-VEHICLE",
    "Q-BUSINESS",
    "Q-PAYROLL",
    "Q-DOUBLE",
    "Q-OMIT-DIBAO",
    "Q-WRONG-DIBAO",
    "Q-AMOUNT",
    "Q-REVIEW",
]
ELIGIBILITY_CHECKS = {"Q-OMIT-DIBAO", "Q-WRONG-DIBAO", "Q-AMOUNT"}
PROGRAMME_WORDS = {
    "dibao": ("低保", "dibao"),
    "single": ("单人户施保", "single-person dibao"),
    "tekun": ("特困供养", "tekun"),
}
FINDINGS = pa.schema(
    [
        ("check", pa.string()),
        ("household_id", pa.string()),
        ("id_number", pa.string()),
        ("message_zh", pa.string()),
        ("message_en", pa.string()),
    ]
)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict]:
    text = resources.files("safetynet.assistance").joinpath("data/checks.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    missing = [c for c in CHECK_IDS if c not in data]
    if missing:
        raise RuntimeError(f"checks.yaml lacks {missing}")
    return data


# --------------------------------------------------------------------------- input relations


def _table(columns: list[tuple[str, pa.DataType]], rows: Iterable[tuple]) -> pa.Table:
    rows = list(rows)
    data = {name: [r[i] for r in rows] for i, (name, _) in enumerate(columns)}
    return pa.table(data, schema=pa.schema(columns))


MONEY = pa.decimal128(14, 2)
FETCH_ROWS = 50_000


def _read(qs, columns: list[tuple[str, str, pa.DataType]]) -> pa.Table:
    """The rows of a queryset as an Arrow table, read through the database cursor.

    `columns` are (field path, column name, Arrow type). The queryset's own SQL is executed and
    each batch of rows goes to Arrow in one conversion, never as model values one by one:
    amounts are selected as text ('503.37'), which Arrow parses exactly, and so are dates on
    SQLite, which stores them as ISO text (PostgreSQL's driver hands over dates itself).
    """
    sqlite = connection.vendor == "sqlite"

    def as_text(typ: pa.DataType) -> bool:
        return pa.types.is_decimal(typ) or (sqlite and pa.types.is_date(typ))

    texts = {
        f"_text_{i}": Cast(field, output_field=TextField())
        for i, (field, _, typ) in enumerate(columns)
        if as_text(typ)
    }
    fields = [
        f"_text_{i}" if f"_text_{i}" in texts else field for i, (field, _, _) in enumerate(columns)
    ]
    qs = qs.order_by().annotate(**texts).values_list(*fields)
    # the order of the SELECT list (Django 5.2 keeps the order asked for; earlier versions
    # list the fields first, then the annotations)
    selected = list(
        getattr(qs.query, "selected", None)
        or [*qs.query.values_select, *qs.query.annotation_select]
    )
    by_field = {field: column for field, column in zip(fields, columns, strict=True)}
    row = pa.struct(
        [
            (name, pa.string() if as_text(typ) else typ)
            for _, name, typ in (by_field[field] for field in selected)
        ]
    )
    schema = pa.schema([(name, typ) for _, name, typ in columns])
    sql, params = qs.query.sql_with_params()
    batches = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            array = pa.array(rows, type=row)
            batches.append(
                pa.record_batch([array.field(f.name).cast(f.type) for f in schema], schema=schema)
            )
    return pa.Table.from_batches(batches, schema=schema)


MEMBER_COLUMNS = [
    "enrolment_id",
    "programme",
    "household_id",
    "id_number",
    "name",
    "county_code",
    "village_code",
    "active",
    "from_month",
    "to_month",
    "enrol_status",
    "separately_registered",
    "start_month",
    "end_month",
    "next_review_on",
    "in_grace",
    "person_id_number",
]


def _members(area_code: str) -> tuple[pa.Table, pa.Table]:
    """(every membership in the area with its enrolment, the id numbers of its members the
    registry has as deceased).

    Memberships and enrolments are read apart (an enrolment's columns once, not once per
    member) and joined in Arrow."""
    enrolments = _read(
        Enrolment.objects.filter(village_code__startswith=area_code),
        [
            ("id", "enrolment_id", pa.int64()),
            ("household__household_id", "household_id", pa.string()),
            ("county_code", "county_code", pa.string()),
            ("village_code", "village_code", pa.string()),
            ("status", "enrol_status", pa.string()),
            ("separately_registered", "separately_registered", pa.bool_()),
            ("start_month", "start_month", pa.date32()),
            ("end_month", "end_month", pa.date32()),
            ("next_review_on", "next_review_on", pa.date32()),
            ("person__id_number", "person_id_number", pa.string()),
        ],
    )
    memberships = _read(
        EnrolmentMember.objects.filter(enrolment__village_code__startswith=area_code),
        [
            ("enrolment_id", "enrolment_id", pa.int64()),
            ("programme", "programme", pa.string()),
            ("person__id_number", "id_number", pa.string()),
            ("person__name", "name", pa.string()),
            ("active", "active", pa.bool_()),
            ("from_month", "from_month", pa.date32()),
            ("to_month", "to_month", pa.date32()),
            ("person__status", "person_status", pa.string()),
        ],
    )
    deceased = pc.equal(memberships.column("person_status"), "deceased")
    dead = pc.unique(memberships.column("id_number").filter(deceased))
    registry_deaths = pa.table({"id_number": dead.cast(pa.string())})
    # each membership's enrolment row (a membership written after the enrolments were read
    # has none: it is left for the next run, like the other rows written meanwhile)
    position = pc.index_in(memberships.column("enrolment_id"), enrolments.column("enrolment_id"))
    memberships = memberships.filter(pc.is_valid(position))
    position = position.filter(pc.is_valid(position))
    table = memberships
    for name in enrolments.column_names[1:]:
        table = table.append_column(name, enrolments.column(name).take(position))
    table = table.append_column("in_grace", pc.equal(table.column("enrol_status"), "grace"))
    return table.select(MEMBER_COLUMNS), registry_deaths


def _proposals(area_code: str) -> pa.Table:
    return _read(
        ChangeProposal.objects.filter(enrolment__village_code__startswith=area_code),
        [
            ("enrolment_id", "enrolment_id", pa.int64()),
            ("enrolment__household__household_id", "household_id", pa.string()),
            ("person__id_number", "id_number", pa.string()),
            ("event_date", "event_date", pa.date32()),
            ("due_on", "due_on", pa.date32()),
            ("state", "state", pa.string()),
            ("processed_on", "processed_on", pa.date32()),
        ],
    )


LINE_COLUMNS = [
    ("roll__month", "roll_month", pa.date32()),
    ("roll__county_code", "county_code", pa.string()),
    ("village_code", "village_code", pa.string()),
    ("kind", "kind", pa.string()),
    ("enrolment_id", "enrolment_id", pa.int64()),
    ("household__household_id", "household_id", pa.string()),
    ("person__id_number", "person_id_number", pa.string()),
    ("amount", "amount", MONEY),
    ("override_id", "override", pa.int64()),
]


def _lines(area_code: str, month: dt.date, enrolment_ids: list[int]) -> pa.Table:
    """Lines of approved rolls: every line of the month, and the other months' lines of the
    enrolments given (those with a death)."""
    base = RollLine.objects.filter(roll__status="approved", village_code__startswith=area_code)
    parts = [_read(base.filter(roll__month=month), LINE_COLUMNS)]
    for start in range(0, len(enrolment_ids), 5000):
        chunk = enrolment_ids[start : start + 5000]
        parts.append(
            _read(base.filter(enrolment_id__in=chunk).exclude(roll__month=month), LINE_COLUMNS)
        )
    table = pa.concat_tables(parts)
    overridden = pc.is_valid(table.column("override"))
    return table.set_column(table.column_names.index("override"), "override", overridden)


def _params(villages: list[str], as_of: dt.date) -> pa.Table:
    names = [
        "dibao.death_processing_months",
        "dibao.exempt_vehicle_types",
        "quality.amount_tolerance",
    ]
    values = params_for_areas(names, villages, as_of) if villages else {}
    rows = []
    for village in villages:
        v = values[village]
        rows.append(
            (
                village,
                int(v["dibao.death_processing_months"]),
                [str(t) for t in v["dibao.exempt_vehicle_types"]],
                Decimal(str(v["quality.amount_tolerance"])).quantize(Decimal("0.01")),
            )
        )
    return _table(
        [
            ("village_code", pa.string()),
            ("death_months", pa.int32()),
            ("exempt_vehicle_types", pa.list_(pa.string())),
            ("amount_tolerance", MONEY),
        ],
        rows,
    )


def _pending(area_code: str) -> pa.Table:
    qs = Application.objects.filter(
        programme="dibao", status="in_progress", village_code__startswith=area_code
    ).distinct()
    return _read(qs, [("household__household_id", "household_id", pa.string())])


# --------------------------------------------------------------------------- eligibility

ELIGIBILITY_COLUMNS = ("household_id", "dibao_eligible", "dibao_amount")


def _eligibility_table(rows) -> pa.Table:
    if isinstance(rows, pa.Table):
        table = rows.select([c for c in ELIGIBILITY_COLUMNS if c in rows.column_names])
        # Amounts are whole yuan; engines hand them over as wide decimals (e.g. DECIMAL(38,4)),
        # which Arrow refuses to narrow statically: go through whole yuan as integers.
        amount = (
            pc.round(table.column("dibao_amount"), 0).cast(pa.int64()).cast(pa.decimal128(21, 2))
        )
        return pa.table(
            {
                "household_id": table.column("household_id").cast(pa.string()),
                "dibao_eligible": table.column("dibao_eligible").cast(pa.bool_()),
                "dibao_amount": amount,
            }
        )
    out = []
    for row in rows:
        amount = row.get("dibao_amount")
        out.append(
            (
                str(row["household_id"]),
                bool(row["dibao_eligible"]),
                Decimal(str(amount or 0)).quantize(Decimal("0.01")),
            )
        )
    return _table(
        [("household_id", pa.string()), ("dibao_eligible", pa.bool_()), ("dibao_amount", MONEY)],
        out,
    )


def latest_screen_eligibility(as_of: dt.date, area_code: str = "") -> pa.Table | None:
    """Per-household eligibility of the latest successful screen run as of the same date whose
    scope covers the area (a whole-deployment run, or a run of an area containing it).

    Only the three columns are read from the run's results."""
    try:
        from safetynet.screening.models import ScreenRun
    except ImportError:  # pragma: no cover - the screening app is part of the project
        return None
    runs = (
        ScreenRun.objects.filter(as_of=as_of, status="succeeded")
        .exclude(results_path="")
        .order_by("-id")[:50]
    )
    run = next(
        (
            r
            for r in runs
            if not r.area_codes
            or (area_code and any(area_code.startswith(c) for c in r.area_codes))
        ),
        None,
    )
    if run is None:
        return None
    path = Path(run.results_path)
    if path.suffix == ".parquet":
        candidates = [path]
    else:
        names = ("households.parquet", "eligibility.parquet")
        candidates = [path / n for n in names if (path / n).exists()]
    if not candidates:
        return None
    import pyarrow.parquet as pq

    if not set(ELIGIBILITY_COLUMNS) <= set(pq.read_schema(candidates[0]).names):
        return None
    return _eligibility_table(pq.read_table(candidates[0], columns=list(ELIGIBILITY_COLUMNS)))


ASSESS_FALLBACK_LIMIT = 5000


def _assessed_eligibility(household_ids: set[str], as_of: dt.date) -> pa.Table | None:
    """Fallback without a screen run: assess the enrolled dibao households in one engine run.

    Building each household's input costs a few queries, so beyond ASSESS_FALLBACK_LIMIT
    households the eligibility checks are left to the screen (which can pass its own results
    as `eligibility=`) rather than stalling a region-wide run; the log says so.
    """
    from . import assessment

    if len(household_ids) > ASSESS_FALLBACK_LIMIT:
        log.warning(
            "no screen results for %s and %d enrolled dibao households: Q-WRONG-DIBAO and "
            "Q-AMOUNT not evaluated (pass eligibility= or run a screen first)",
            as_of,
            len(household_ids),
        )
        return None
    results = assessment.assess_many(sorted(household_ids), as_of=as_of)
    rows = []
    for hid, result in results.items():
        block = result.get("dibao") or {}
        rows.append(
            {
                "household_id": hid,
                "dibao_eligible": bool(block.get("eligible")),
                "dibao_amount": block.get("monthly_amount") or 0,
            }
        )
    return _eligibility_table(rows)


# --------------------------------------------------------------------------- run


def run_checks(
    *,
    as_of: dt.date,
    area_code: str = "",
    feeds: Mapping[str, Iterable[Mapping]] | None = None,
    eligibility=None,
    checks: Iterable[str] | None = None,
) -> list[dict]:
    """Every programme quality finding in an area as of a date.

    Returns dicts (check, household_id, id_number, message_zh, message_en), sorted. `feeds`
    (kind → records) replaces the linked lake; `eligibility` (rows or an Arrow table of
    household_id, dibao_eligible, dibao_amount) replaces the screen run's results. Without
    either source, the enrolled dibao households are assessed one by one and Q-OMIT-DIBAO, which
    needs every household, finds nothing.
    """
    return findings_table(
        as_of=as_of, area_code=area_code, feeds=feeds, eligibility=eligibility, checks=checks
    ).to_pylist()


def findings_table(
    *,
    as_of: dt.date,
    area_code: str = "",
    feeds: Mapping[str, Iterable[Mapping]] | None = None,
    eligibility=None,
    checks: Iterable[str] | None = None,
) -> pa.Table:
    """The findings of `run_checks` as an Arrow table (FINDINGS), sorted the same way."""
    wanted = [c for c in (checks or CHECK_IDS) if c in CHECK_IDS]
    month = clocks.month_start(as_of)
    members, registry_deaths = _members(area_code)
    if feeds is None and members.num_rows == 0:
        # Every check that reads a department feed joins it to the members: nothing to open.
        feeds = {}
    con = evidence.connect(["deaths", "vehicles", "businesses", "payroll"], feeds=feeds)
    try:
        con.register("members", members)
        con.register("registry_deaths", registry_deaths)
        # Only the members' deaths matter to the checks (both join deaths to members).
        con.execute(
            """
            create temp table deaths as
            select id_number, event_date as died, 'feed' as source
            from feed_deaths
            where id_number is not null and event_date <= $as_of
              and id_number in (select id_number from members)
            union all
            select id_number, null::date, 'registry' from registry_deaths
            """,
            {"as_of": as_of},
        )
        dead_enrolments = [
            r[0]
            for r in con.execute(
                "select distinct m.enrolment_id from members m join deaths d using (id_number) "
                "order by 1"
            ).fetchall()
        ]
        con.register("proposals", _proposals(area_code))
        lines = _lines(area_code, month, dead_enrolments)
        con.register("lines", lines)
        villages = pc.unique(
            pa.chunked_array(
                [*members.column("village_code").chunks, *lines.column("village_code").chunks],
                pa.string(),
            )
        )
        con.register("params", _params(sorted(villages.to_pylist()), as_of))
        con.register("pending", _pending(area_code))

        if wanted and ELIGIBILITY_CHECKS & set(wanted):
            table = None
            if eligibility is not None:
                table = _eligibility_table(eligibility)
            else:
                table = latest_screen_eligibility(as_of, area_code)
            if table is None:
                enrolled = con.execute(
                    "select distinct household_id from members where programme = 'dibao' "
                    "and active and enrol_status <> 'stopped'"
                ).fetchall()
                table = _assessed_eligibility({h[0] for h in enrolled}, as_of)
                wanted = [c for c in wanted if c != "Q-OMIT-DIBAO"]
                if table is None:
                    wanted = [c for c in wanted if c not in ELIGIBILITY_CHECKS]
            if table is not None:
                con.register("eligibility", table)

        parts = [FINDINGS.empty_table()]
        cat = catalogue()
        for check in wanted:
            spec = cat[check]
            params = {"as_of": as_of} if "$as_of" in spec["sql"] else None
            result = con.sql(spec["sql"], params=params).to_arrow_table()
            parts.append(_render(check, spec, result))
    finally:
        con.close()

    findings = pa.concat_tables(parts)
    if area_code:
        findings = _limit_to_area(findings, area_code)
    return findings.sort_by(
        [("check", "ascending"), ("household_id", "ascending"), ("id_number", "ascending")]
    )


def _limit_to_area(findings: pa.Table, area_code: str) -> pa.Table:
    """Q-OMIT-DIBAO comes from every household's eligibility: keep the area's households."""
    from safetynet.registry.models import Household

    omitted = pc.equal(findings.column("check"), "Q-OMIT-DIBAO")
    ids = sorted(pc.unique(findings.column("household_id").filter(omitted)).to_pylist())
    if not ids:
        return findings
    inside: set[str] = set()
    for start in range(0, len(ids), 5000):
        inside |= set(
            Household.objects.filter(
                household_id__in=ids[start : start + 5000], village__code__startswith=area_code
            ).values_list("household_id", flat=True)
        )
    kept = pc.is_in(
        findings.column("household_id"), value_set=pa.array(sorted(inside), pa.string())
    )
    return findings.filter(pc.or_(pc.invert(omitted), kept))


# --------------------------------------------------------------------------- messages

# Checks whose wording is assembled per row (`_finding`); the others' templates name only
# columns of their query and are rendered a column at a time.
PER_ROW = {"Q-DEAD-PAID", "Q-DEAD-LATE", "Q-DOUBLE"}


def _render(check: str, spec: dict, result: pa.Table) -> pa.Table:
    columns = _render_columns(check, spec, result)
    if columns is None:
        rows = [_finding(check, spec, row) for row in result.to_pylist()]
        return pa.Table.from_pylist(rows, schema=FINDINGS)
    return pa.table(columns, schema=FINDINGS)


def _template(text: str) -> list[tuple[str, str | None]] | None:
    """(literal, field) pairs of a message template; None if it needs more than plain fields."""
    parts = []
    for literal, field, spec, conversion in string.Formatter().parse(text):
        if spec or conversion or (field is not None and not field.isidentifier()):
            return None
        parts.append((literal, field))
    return parts


def _render_columns(check: str, spec: dict, result: pa.Table) -> dict | None:
    """The finding columns computed on whole columns, or None when a row-wise rendering is
    needed (per-row wording, masked ids and names, or a column type without a rule below)."""
    if check in PER_ROW:
        return None
    templates = {lang: _template(spec[f"message_{lang}"]) for lang in ("zh", "en")}
    if any(t is None for t in templates.values()):
        return None
    keys = {}
    for key in ("household_id", "id_number"):
        if key not in result.column_names or not pa.types.is_string(result.schema.field(key).type):
            return None
        keys[key] = pc.fill_null(result.column(key), "")
    texts: dict[str, pa.ChunkedArray] = {}
    for parts in templates.values():
        for _, field in parts:
            if field is None or field in texts:
                continue
            if field not in result.column_names or field in ("name", "id_masked"):
                return None
            text = _text_column(result.column(field))
            if text is None:
                return None
            texts[field] = text
    n = result.num_rows
    out = {"check": pa.repeat(pa.scalar(check, pa.string()), n), **keys}
    for lang, parts in templates.items():
        pieces: list = []
        for literal, field in parts:
            if literal:
                pieces.append(pa.scalar(literal, pa.string()))
            if field is not None:
                pieces.append(texts[field])
        if not any(not isinstance(p, pa.Scalar) for p in pieces):
            message = pa.repeat(pa.scalar("".join(p.as_py() for p in pieces), pa.string()), n)
        else:
            message = pc.binary_join_element_wise(*pieces, "")
        out[f"message_{lang}"] = message
    return out


def _text_column(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """`_text` of every value of a column, or None for a type it has no rule for here."""
    typ = col.type
    if pa.types.is_null(typ):
        return pc.fill_null(col.cast(pa.string()), "")
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        text = col.cast(pa.string())
    elif pa.types.is_boolean(typ):
        text = pc.if_else(col, "True", "False")
    elif pa.types.is_integer(typ) or pa.types.is_date(typ):
        text = col.cast(pa.string())
    elif pa.types.is_timestamp(typ) and typ.tz is None:
        text = col.cast(pa.date32()).cast(pa.string())
    elif pa.types.is_decimal128(typ):
        text = _decimal_text(col)
    else:
        return None
    return pc.fill_null(text, "")


def _decimal_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whole amounts without decimals ('500'), others with two ('503.50'), as `_text`."""
    typ = col.type
    exact = col.cast(pa.string())
    if typ.scale <= 0:
        return exact
    whole = pc.match_substring_regex(exact, r"\.0+$")
    if typ.scale < 2:
        two = col.cast(pa.decimal128(min(typ.precision + 2 - typ.scale, 38), 2))
    elif typ.scale > 2:
        two = pc.round(col, 2, round_mode="half_to_even").cast(pa.decimal128(typ.precision, 2))
    else:
        two = col
    return pc.if_else(whole, pc.replace_substring_regex(exact, r"\.0+$", ""), two.cast(pa.string()))


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.2f}"
    return str(value)


def _finding(check: str, spec: dict, row: dict) -> dict:
    values = {k: _text(v) for k, v in row.items()}
    values["id_masked"] = mask_id_number(row.get("id_number") or "")
    values.setdefault("name", values["id_masked"])
    if not values["name"]:
        values["name"] = values["id_masked"]
    if check == "Q-DEAD-PAID":
        values["died_text"] = values["died"] or "日期不详 / date unknown"
        zh, en = [], []
        if row.get("still_enrolled"):
            zh.append("仍在保")
            en.append("still enrolled")
        if row.get("months_paid"):
            first = _text(row.get("first_month"))[:7]
            zh.append(f"死亡月份之后仍发放 {row['months_paid']} 个月（自 {first}）")
            en.append(
                f"paid for {row['months_paid']} month(s) after the death month (from {first})"
            )
            if row.get("override"):
                zh.append("含经审计的例外批准")
                en.append("including an audited override")
        values["what_zh"] = "，".join(zh)
        values["what_en"] = ", ".join(en)
    elif check == "Q-DEAD-LATE":
        if row.get("processed_on"):
            values["state_zh"] = f"实际于 {values['processed_on']} 处理，超期"
            values["state_en"] = f"processed late, on {values['processed_on']}"
        else:
            values["state_zh"] = "至今未处理"
            values["state_en"] = "not processed yet"
    elif check == "Q-DOUBLE":
        counties = int(row.get("counties") or 0)
        programmes = values.get("programmes", "")
        zh_words = programmes
        for code, (zh, _en) in PROGRAMME_WORDS.items():
            zh_words = zh_words.replace(code, zh)
        values["what_zh"] = f"{zh_words}" + ("（跨县）" if counties > 1 else "")
        values["what_en"] = f"{programmes}" + (" (in two counties)" if counties > 1 else "")
    return {
        "check": check,
        "household_id": str(row.get("household_id") or ""),
        "id_number": str(row.get("id_number") or ""),
        "message_zh": spec["message_zh"].format(**values),
        "message_en": spec["message_en"].format(**values),
    }
