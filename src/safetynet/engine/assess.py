"""Assess households: scenario (or registry household) → input tables → compiled SQL → result.

The result has the shape of formats/assess.md. Many scenarios are evaluated together: those
with the same as-of date share one plan and one engine run (each gets its own parameter key),
which keeps Spark to a handful of jobs. A run of a few scenarios (one household from the web
or the API) takes DuckDB's prepared path: the compiled plan is planned by DuckDB once and
executed for every later household (adapters.PreparedPlan).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from safetynet.core.errors import NotFound, SafetyNetError
from safetynet.policy.catalogue import Catalogue, default_catalogue
from safetynet.policy.compiler import compile_plan, month_offsets
from safetynet.policy.params import Entry, ParameterBinding, scenario_entries
from safetynet.policy.yamlsrc import CatalogueError

from .adapters import RuleEngine, get_engine
from .explain import explain_household
from .scenario import Scenario, ScenarioError, parse_scenario, scenario_tables

log = logging.getLogger(__name__)

MEASURES = (
    "n",
    "net_income",
    "pc_net_income",
    "counted_income",
    "pc_month_income",
    "rigid_12m",
    "disaster_12m",
    "employment_deduction",
    "medical_oop_12m",
    "education_expense",
    "financial_assets",
    "fin_assets_pc",
    "income_year",
)


@dataclass
class Outcome:
    """One scenario's result, or the error that stopped it."""

    scenario: Scenario
    result: dict[str, Any] | None = None
    error: SafetyNetError | None = None


def override_entries(catalogue: Catalogue) -> list[Entry]:
    """Officers' overrides from the database, when Django and its tables are available."""
    try:
        from django.apps import apps

        if not apps.ready:
            return []
        from safetynet.policy.selectors import override_entries as select

        return select(params=catalogue.params)
    except SafetyNetError:
        raise
    except Exception as exc:  # noqa: BLE001 - no database yet: files only, said in the log
        log.warning("parameter overrides not read (%s); using parameter files only", exc)
        return []


# Runs of at most this many scenarios take the prepared path (see RuleEngine.run).
PREPARED_BATCH = 4


def _engine(engine: str | RuleEngine) -> RuleEngine:
    return get_engine(engine) if isinstance(engine, str) else engine


def _scenario_extra(catalogue: Catalogue, sc: Scenario) -> list[Entry]:
    spec = sc.spec
    extra: list[Entry] = []
    for i, o in enumerate(spec.overrides):
        try:
            extra.append(
                catalogue.params.entry(
                    parameter=o.parameter,
                    area=o.area,
                    start=o.from_,
                    value=o.value,
                    published=o.published,
                    origin="override",
                    reason=o.reason,
                    override_id=10_000 + i,
                )
            )
        except CatalogueError as exc:
            raise ScenarioError(
                exc.zh, exc.en, file=sc.file, field=f"overrides[{i}]", name=sc.name
            ) from exc
    try:
        extra += scenario_entries(catalogue.params, spec.parameters, spec.as_of, spec.village_code)
    except CatalogueError as exc:
        raise ScenarioError(exc.zh, exc.en, file=sc.file, field="parameters", name=sc.name) from exc
    return extra


def _fingerprint(in_force: dict[str, Entry | None]) -> tuple:
    out = []
    for name, e in sorted(in_force.items()):
        if e is None:
            out.append((name, None))
        else:
            value = tuple(sorted(e.value.items())) if isinstance(e.value, dict) else e.value
            out.append((name, value, e.area, e.start, e.origin, e.tag, e.source))
    return tuple(out)


def assess_many(
    scenarios: list[Scenario],
    *,
    engine: str | RuleEngine = "duckdb",
    catalogue: Catalogue | None = None,
    overrides: list[Entry] | None = None,
    prepared: bool | None = None,
) -> list[Outcome]:
    """Evaluate scenarios in one engine run. Errors stay with their scenario.

    `prepared` chooses DuckDB's prepared path (plan once, execute per call); by default it is
    used for runs of up to PREPARED_BATCH scenarios. Results are the same either way.
    """
    cat = catalogue or default_catalogue()
    eng = _engine(engine)
    if overrides is None:
        overrides = override_entries(cat)
    outcomes = [Outcome(scenario=sc) for sc in scenarios]
    keys: dict[tuple, str] = {}
    key_entries: dict[str, dict[str, Entry | None]] = {}
    batch = []
    for i, sc in enumerate(scenarios):
        try:
            extra = overrides + _scenario_extra(cat, sc)
        except ScenarioError as exc:
            outcomes[i].error = exc
            continue
        in_force = cat.params.in_force(sc.spec.village_code, sc.spec.as_of, extra=extra)
        fp = _fingerprint(in_force)
        key = keys.setdefault(fp, f"k{len(keys)}")
        key_entries[key] = in_force
        batch.append((f"S{i:06d}", key, sc, i))
    if batch:
        # One run for every scenario: each household carries its own as-of date and parameter
        # key, and department records are keyed by household so scenarios never mix.
        as_of = max(sc.spec.as_of for _, _, sc, _ in batch)
        binding = ParameterBinding(as_of=as_of, keys=key_entries, mode="column")
        try:
            tables = scenario_tables(
                [(hid, key, sc) for hid, key, sc, _ in batch], cat.inputs, months=month_offsets(cat)
            )
            empty = {
                name
                for name, spec in cat.inputs.items()
                if spec.optional and (name not in tables or tables[name].num_rows == 0)
            }
            plan = compile_plan(
                cat,
                binding,
                dialect=eng.dialect,
                isolate=True,
                empty_inputs=empty,
                as_of_column=True,
            )
            if prepared is None:
                prepared = len(batch) <= PREPARED_BATCH
            res = eng.run(plan, tables, prepared=prepared)
        except SafetyNetError as exc:
            for *_, i in batch:
                outcomes[i].error = exc
            return outcomes
        households = {r["household_id"]: r for r in res.households.to_pylist()}
        persons: dict[str, list[dict]] = defaultdict(list)
        for r in res.persons.to_pylist():
            persons[r["household_id"]].append(r)
        quality: dict[str, list[dict]] = defaultdict(list)
        for r in res.quality.to_pylist():
            quality[r["household_id"]].append(r)
        for hid, key, sc, i in batch:
            outcomes[i].result = build_result(
                cat,
                sc.spec.name,
                sc.spec.as_of,
                households[hid],
                persons.get(hid, []),
                quality.get(hid, []),
                key_entries[key],
                household_id=sc.spec.household.household_id or None,
                village_code=sc.spec.village_code,
                request=sc.spec.request is not None,
            )
    return outcomes


def _num(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def build_result(
    cat: Catalogue,
    name: str,
    as_of: dt.date,
    hh: dict[str, Any],
    persons: list[dict[str, Any]],
    quality: list[dict[str, Any]],
    entries: dict[str, Entry | None],
    *,
    household_id: str | None,
    village_code: str,
    request: bool,
) -> dict[str, Any]:
    """The assess.md result for one household's result rows."""
    active = [p for p in persons if p.get("active")]
    rules = [r for r in (hh.get("rules") or "").split(";") if r]
    risks = [r for r in (hh.get("risk_types") or "").split(";") if r]
    result: dict[str, Any] = {
        "name": name,
        "as_of": as_of.isoformat(),
        "household_id": household_id,
        "village_code": village_code,
        "evaluated": bool(hh.get("evaluated")),
        "measures": {m: _num(hh.get(m)) for m in MEASURES},
        "monitoring": {
            "flagged": bool(hh.get("flagged")),
            "category": hh.get("category"),
            "level": hh.get("level"),
            "rules": rules,
            "risk_types": risks,
            "already_monitored": bool(hh.get("already_monitored")),
        },
        "dibao": {
            "eligible": bool(hh.get("dibao_eligible")),
            "edge": bool(hh.get("dibao_edge")),
            "monthly_amount": int(hh.get("dibao_amount") or 0),
        },
        "single_person": {
            p["id_number"]: {"monthly_amount": int(p.get("single_amount") or 0)}
            for p in active
            if p.get("single_eligible")
        },
        "tekun": {
            p["id_number"]: {
                "eligible": bool(p.get("tekun_eligible")),
                "care_level": p.get("care_level"),
                "monthly_amount": int(p.get("tekun_amount") or 0),
            }
            for p in active
        },
        "temporary": None,
        "rigid_hardship": bool(hh.get("rigid_hardship")),
        "low_income": bool(hh.get("low_income")),
        "quality": [
            {
                "check": q["check"],
                "id_number": q["id_number"],
                "message": q["message"],
                "severity": q["severity"],
                "owner": q["owner"],
            }
            for q in quality
        ],
    }
    if request:
        eligible = bool(
            hh.get("temporary_eligible_emergency") or hh.get("temporary_eligible_expenditure")
        )
        result["temporary"] = {
            "eligible": eligible,
            "type": hh.get("temporary_type"),
            "need": _num(hh.get("temporary_need")),
            "amount": int(hh.get("temporary_amount") or 0),
            "approver": hh.get("temporary_approver"),
            "case_by_case": bool(hh.get("temporary_case_by_case")),
        }
    result["explanations"] = explain_household(cat, entries, hh, persons)
    result["parameters"] = {k: e.describe() for k, e in entries.items() if e is not None}
    return result


def assess_scenario(
    scenario: Mapping[str, Any],
    *,
    engine: str | RuleEngine = "duckdb",
    catalogue: Catalogue | None = None,
) -> dict[str, Any]:
    """Evaluate one scenario mapping (formats/assess.md) and return the result mapping.

    Raises ScenarioError for a malformed scenario and EngineError if an engine step fails.
    """
    cat = catalogue or default_catalogue()
    sc = parse_scenario(dict(scenario), cat.inputs)
    outcome = assess_many([sc], engine=engine, catalogue=cat)[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result


def household_scenario(
    household_id: str, *, as_of: dt.date, request: Mapping[str, Any] | None = None
) -> dict:
    """Build a scenario mapping from the registry (plus linked department records when the
    feeds context offers them)."""
    from safetynet.registry.models import Household

    try:
        h = Household.objects.prefetch_related("members", "incomes").get(household_id=household_id)
    except Household.DoesNotExist as exc:
        raise NotFound(f"户 {household_id} 不存在", f"household {household_id} not found") from exc
    members = []
    for p in h.members.all():
        members.append(
            {
                "id_number": p.id_number,
                "name": p.name,
                "relation": p.relation,
                "sex": p.sex or None,
                "birth_date": p.birth_date,
                "status": p.status,
                "in_school": p.in_school,
                "health": p.health,
                "disability_type": p.disability_type or None,
                "disability_grade": p.disability_grade,
                "labour": p.labour,
                "employment": p.employment,
                "work_months": p.work_months,
                "medical_insured": p.medical_insured,
                "pension_insured": p.pension_insured,
                "adl_failed": p.adl_failed,
                "supporter_capable": p.supporter_capable,
                "phone": p.phone or None,
            }
        )
    from safetynet.registry.models import INCOME_FIELDS

    incomes = [
        {"year": i.year, **{f: getattr(i, f) for f in INCOME_FIELDS}} for i in h.incomes.all()
    ]
    data = {
        "name": h.household_id,
        "as_of": as_of,
        "village_code": h.village_id,
        "household": {
            "household_id": h.household_id,
            "registered_poor": h.registered_poor,
            "exit_year": h.exit_year,
            "relocated": h.relocated,
            "housing_grade": h.housing_grade or None,
            "water_secure": h.water_secure,
            "already_monitored": _already_monitored(h),
            "members": members,
            "incomes": incomes,
            "feeds": _linked_feed_records(h, as_of),
        },
    }
    if request:
        data["request"] = dict(request)
    return data


def _already_monitored(household) -> bool:
    """A monitoring object, or a household with an open case (POLICY §1, Q-OMIT-MON)."""
    try:
        from safetynet.monitoring import selectors
    except ImportError:
        return False
    ids: set[str] = set()
    for name in ("monitored_household_ids", "open_case_household_ids"):
        fn = getattr(selectors, name, None)
        if fn is not None:
            ids |= set(fn())
    return household.household_id in ids


def _linked_feed_records(household, as_of: dt.date) -> list[dict[str, Any]]:
    """Department records linked to the household, when the feeds context offers them.

    Only the engine's columns of each kind are kept (department, batch and link details are
    provenance, not evidence); records after `as_of` are left to the rules' own date filters.
    """
    try:
        from safetynet.feeds import selectors
    except ImportError:
        return []
    fn = getattr(selectors, "records_for_household", None)
    if fn is None:
        return []
    from safetynet.policy.catalogue import default_catalogue

    inputs = default_catalogue().inputs
    records = []
    for kind, rows in sorted(fn(household.household_id).items()):
        table = inputs.get(f"feed_{kind}")
        if table is None:
            continue
        for row in rows:
            record = {"kind": kind}
            record.update(
                {c: row.get(c) for c in table.columns if c in row and row.get(c) is not None}
            )
            records.append(record)
    del as_of
    return records


def assess_household(
    household_id: str,
    *,
    as_of: dt.date,
    request: Mapping[str, Any] | None = None,
    engine: str | RuleEngine = "duckdb",
) -> dict[str, Any]:
    """Evaluate a registry household as of a date (assess.md shape)."""
    return assess_scenario(
        household_scenario(household_id, as_of=as_of, request=request), engine=engine
    )
