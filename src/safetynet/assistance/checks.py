"""Quality checks of the programmes (POLICY.md §6), set-based on DuckDB.

The checks themselves are data: `data/checks.yaml` holds, per check ID, its policy source, the
SQL over documented input relations and the bilingual message. This module only builds those
relations — enrolments, memberships, deaths, change proposals, approved roll lines, the
parameters per village, the rules' dibao eligibility, and the linked department feeds — and
runs each query once over the whole area.

`run_checks(*, as_of, area_code="")` is what the region screen merges into its quality output.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from safetynet.core.masking import mask_id_number

from . import clocks, evidence
from .models import Application, ChangeProposal, EnrolmentMember, RollLine
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


def _members(area_code: str, as_of: dt.date) -> pa.Table:
    qs = EnrolmentMember.objects.filter(enrolment__village_code__startswith=area_code).values_list(
        "enrolment_id",
        "programme",
        "enrolment__household__household_id",
        "person__id_number",
        "person__name",
        "enrolment__county_code",
        "enrolment__village_code",
        "active",
        "from_month",
        "to_month",
        "enrolment__status",
        "enrolment__separately_registered",
        "enrolment__start_month",
        "enrolment__end_month",
        "enrolment__next_review_on",
        "enrolment__status",
        "enrolment__person__id_number",
    )
    rows = [(*r[:15], r[15] == "grace", r[16]) for r in qs.iterator(chunk_size=10000)]
    return _table(
        [
            ("enrolment_id", pa.int64()),
            ("programme", pa.string()),
            ("household_id", pa.string()),
            ("id_number", pa.string()),
            ("name", pa.string()),
            ("county_code", pa.string()),
            ("village_code", pa.string()),
            ("active", pa.bool_()),
            ("from_month", pa.date32()),
            ("to_month", pa.date32()),
            ("enrol_status", pa.string()),
            ("separately_registered", pa.bool_()),
            ("start_month", pa.date32()),
            ("end_month", pa.date32()),
            ("next_review_on", pa.date32()),
            ("in_grace", pa.bool_()),
            ("person_id_number", pa.string()),
        ],
        rows,
    )


def _registry_deaths(area_code: str) -> pa.Table:
    qs = (
        EnrolmentMember.objects.filter(
            enrolment__village_code__startswith=area_code, person__status="deceased"
        )
        .values_list("person__id_number", flat=True)
        .distinct()
    )
    return _table([("id_number", pa.string())], [(i,) for i in qs])


def _proposals(area_code: str) -> pa.Table:
    qs = ChangeProposal.objects.filter(enrolment__village_code__startswith=area_code).values_list(
        "enrolment_id",
        "enrolment__household__household_id",
        "person__id_number",
        "event_date",
        "due_on",
        "state",
        "processed_on",
    )
    return _table(
        [
            ("enrolment_id", pa.int64()),
            ("household_id", pa.string()),
            ("id_number", pa.string()),
            ("event_date", pa.date32()),
            ("due_on", pa.date32()),
            ("state", pa.string()),
            ("processed_on", pa.date32()),
        ],
        qs.iterator(chunk_size=10000),
    )


def _lines(area_code: str, month: dt.date, enrolment_ids: list[int]) -> pa.Table:
    base = RollLine.objects.filter(roll__status="approved", village_code__startswith=area_code)
    fields = (
        "roll__month",
        "roll__county_code",
        "village_code",
        "kind",
        "enrolment_id",
        "household__household_id",
        "person__id_number",
        "amount",
        "override_id",
    )
    rows = [
        r[:8] + (r[8] is not None,) for r in base.filter(roll__month=month).values_list(*fields)
    ]
    for start in range(0, len(enrolment_ids), 5000):
        chunk = enrolment_ids[start : start + 5000]
        rows += [
            r[:8] + (r[8] is not None,)
            for r in base.filter(enrolment_id__in=chunk)
            .exclude(roll__month=month)
            .values_list(*fields)
        ]
    return _table(
        [
            ("roll_month", pa.date32()),
            ("county_code", pa.string()),
            ("village_code", pa.string()),
            ("kind", pa.string()),
            ("enrolment_id", pa.int64()),
            ("household_id", pa.string()),
            ("person_id_number", pa.string()),
            ("amount", MONEY),
            ("override", pa.bool_()),
        ],
        rows,
    )


def _params(villages: set[str], as_of: dt.date) -> pa.Table:
    names = [
        "dibao.death_processing_months",
        "dibao.exempt_vehicle_types",
        "quality.amount_tolerance",
    ]
    values = params_for_areas(names, sorted(villages), as_of)
    rows = []
    for village in sorted(villages):
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
    qs = (
        Application.objects.filter(
            programme="dibao", status="in_progress", village_code__startswith=area_code
        )
        .values_list("household__household_id", flat=True)
        .distinct()
    )
    return _table([("household_id", pa.string())], [(h,) for h in qs])


# --------------------------------------------------------------------------- eligibility


def _eligibility_table(rows) -> pa.Table:
    if isinstance(rows, pa.Table):
        table = rows
        keep = [
            c for c in ("household_id", "dibao_eligible", "dibao_amount") if c in table.column_names
        ]
        table = table.select(keep)
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
    scope covers the area (a whole-deployment run, or a run of an area containing it)."""
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

    table = pq.read_table(candidates[0])
    if not {"household_id", "dibao_eligible", "dibao_amount"} <= set(table.column_names):
        return None
    return _eligibility_table(table)


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
    wanted = [c for c in (checks or CHECK_IDS) if c in CHECK_IDS]
    month = clocks.month_start(as_of)
    con = evidence.connect(["deaths", "vehicles", "businesses", "payroll"], feeds=feeds)
    try:
        members = _members(area_code, as_of)
        con.register("members", members)
        con.register("registry_deaths", _registry_deaths(area_code))
        deaths = con.sql(
            """
            select id_number, event_date as died, 'feed' as source
            from feed_deaths where id_number is not null and event_date <= $as_of
            union all
            select id_number, null::date, 'registry' from registry_deaths
            """,
            params={"as_of": as_of},
        ).to_arrow_table()
        con.register("deaths", deaths)
        dead_enrolments = [
            r[0]
            for r in con.execute(
                "select distinct m.enrolment_id from members m join deaths d using (id_number)"
            ).fetchall()
        ]
        con.register("proposals", _proposals(area_code))
        lines = _lines(area_code, month, dead_enrolments)
        con.register("lines", lines)
        villages = set(members.column("village_code").to_pylist()) | set(
            lines.column("village_code").to_pylist()
        )
        con.register("params", _params(villages, as_of))
        con.register("pending", _pending(area_code))

        if wanted and ELIGIBILITY_CHECKS & set(wanted):
            table = None
            if eligibility is not None:
                table = _eligibility_table(eligibility)
            else:
                table = latest_screen_eligibility(as_of, area_code)
            if table is None:
                enrolled = set(
                    con.execute(
                        "select distinct household_id from members where programme = 'dibao' "
                        "and active and enrol_status <> 'stopped'"
                    ).fetchall()
                )
                table = _assessed_eligibility({h[0] for h in enrolled}, as_of)
                wanted = [c for c in wanted if c != "Q-OMIT-DIBAO"]
                if table is None:
                    wanted = [c for c in wanted if c not in ELIGIBILITY_CHECKS]
            if table is not None:
                con.register("eligibility", table)

        findings: list[dict] = []
        cat = catalogue()
        for check in wanted:
            spec = cat[check]
            params = {"as_of": as_of} if "$as_of" in spec["sql"] else None
            result = con.execute(spec["sql"], params)
            names = [d[0] for d in result.description]
            for values in result.fetchall():
                row = dict(zip(names, values, strict=True))
                findings.append(_finding(check, spec, row))
    finally:
        con.close()

    if area_code and any(f["check"] == "Q-OMIT-DIBAO" for f in findings):
        findings = _limit_to_area(findings, area_code)
    findings.sort(key=lambda f: (f["check"], f["household_id"], f["id_number"]))
    return findings


def _limit_to_area(findings: list[dict], area_code: str) -> list[dict]:
    from safetynet.registry.models import Household

    ids = sorted({f["household_id"] for f in findings if f["check"] == "Q-OMIT-DIBAO"})
    inside: set[str] = set()
    for start in range(0, len(ids), 5000):
        inside |= set(
            Household.objects.filter(
                household_id__in=ids[start : start + 5000], village__code__startswith=area_code
            ).values_list("household_id", flat=True)
        )
    return [f for f in findings if f["check"] != "Q-OMIT-DIBAO" or f["household_id"] in inside]


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
