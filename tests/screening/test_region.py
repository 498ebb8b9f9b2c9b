"""The screen on a generated region with the real engine and linked department feeds:
findings equal `assess`, incremental equals full, the CSV files are well-formed."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from safetynet.screening import services
from safetynet.screening.models import Finding, ScreenRun

from .region import loaded_region, scenario_with_feeds

AS_OF = dt.date(2024, 6, 30)
CSV_FILES = ("warnings.csv", "eligibility.csv", "tekun.csv", "single_person.csv", "quality.csv")
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def region(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        # `assess` evaluates one household alone, so it cannot know a county's current school
        # term (the latest term of all the county's enrolment records, POLICY §1): the region
        # starts without enrolment records so that the two compare exactly; the incremental
        # test then adds a county's enrolment batch.
        with loaded_region(
            tmp_path_factory.mktemp("region"),
            households=1200,
            seed=8,
            skip_kinds=frozenset({"school_enrolment"}),
        ) as r:
            yield r


@pytest.fixture
def lake(region, settings, monkeypatch):
    from safetynet.screening import runner
    from safetynet.screening.results import QUALITY

    settings.LAKE_DIR = region["lake_dir"]
    # the programmes' own checks (enrolments, payments) are tested with the programmes
    monkeypatch.setattr(runner, "programme_checks", lambda **_: QUALITY.empty_table())
    return region


def screen(**kwargs) -> ScreenRun:
    kwargs.setdefault("as_of", AS_OF)
    run = services.screen_run(actor=None, **kwargs)
    assert run.status == ScreenRun.Status.SUCCEEDED, run.error
    return run


def findings_state() -> list[tuple]:
    return sorted(
        Finding.objects.values_list(
            "key", "state", "rules", "risk_types", "level", "category", "message", "explanations"
        ).iterator()
    )


def test_findings_equal_assess_of_each_household(lake):
    from safetynet.engine.assess import assess_many
    from safetynet.engine.scenario import parse_scenario
    from safetynet.policy.catalogue import default_catalogue

    run = screen()
    results = Path(run.results_path)
    households = {
        r["household_id"]: r for r in pq.read_table(results / "households.parquet").to_pylist()
    }
    tekun = pq.read_table(results / "tekun.parquet").to_pylist()
    single = pq.read_table(results / "single_person.parquet").to_pylist()
    quality = pq.read_table(results / "quality.parquet").to_pylist()
    warned = sorted(h for h, r in households.items() if r["rules"])
    quiet = sorted(h for h, r in households.items() if not r["rules"])
    assert len(warned) >= 25 and len(quiet) >= 25
    sample = warned[:: max(1, len(warned) // 25)][:25] + quiet[:: max(1, len(quiet) // 25)][:25]
    warnings = {
        f.household.household_id: f
        for f in Finding.objects.filter(kind="warning").select_related("household")
    }
    inputs = default_catalogue().inputs
    outcomes = assess_many([parse_scenario(scenario_with_feeds(h, AS_OF), inputs) for h in sample])
    for hid, outcome in zip(sample, outcomes, strict=True):
        assert outcome.error is None, outcome.error
        got = outcome.result
        row = households[hid]
        mon = got["monitoring"]
        assert sorted(mon["rules"]) == row["rules"], hid
        assert sorted(mon["risk_types"]) == row["risk_types"], hid
        assert (mon["level"], mon["category"], mon["flagged"]) == (
            row["level"],
            row["category"],
            row["flagged"],
        ), hid
        if mon["rules"]:
            finding = warnings[hid]
            assert (finding.rules, finding.level, finding.category or None) == (
                sorted(mon["rules"]),
                mon["level"],
                mon["category"],
            ), hid
            fired = {e["rule"] for e in finding.explanations}
            assert set(mon["rules"]) <= fired, hid
        else:
            assert hid not in warnings
        assert got["dibao"] == {
            "eligible": row["dibao_eligible"],
            "edge": row["dibao_edge"],
            "monthly_amount": row["dibao_amount"],
        }, hid
        assert got["rigid_hardship"] == row["rigid_hardship"], hid
        assert got["measures"]["n"] == row["n"], hid
        assert got["tekun"] == {
            t["id_number"]: {
                "eligible": t["eligible"],
                "care_level": t["care_level"],
                "monthly_amount": t["monthly_amount"],
            }
            for t in tekun
            if t["household_id"] == hid
        }, hid
        assert got["single_person"] == {
            s["id_number"]: {"monthly_amount": s["monthly_amount"]}
            for s in single
            if s["household_id"] == hid
        }, hid
        assert sorted((q["check"], q["id_number"] or "") for q in got["quality"]) == sorted(
            (q["check"], q["id_number"] or "")
            for q in quality
            if q["household_id"] == hid and q["source"] == "engine"
        ), hid


def test_csv_files_are_sorted_and_formatted(lake, tmp_path):
    run = screen(out_dir=tmp_path / "out")
    with open(tmp_path / "out" / "eligibility.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [
        "household_id",
        "n",
        "pc_net_income",
        "pc_month_income",
        "dibao_eligible",
        "dibao_edge",
        "dibao_amount",
        "rigid_hardship",
    ]
    assert len(rows) - 1 == run.counts["households"]
    ids = [r[0] for r in rows[1:]]
    assert ids == sorted(ids)
    for r in rows[1:]:
        assert r[4] in ("true", "false") and r[7] in ("true", "false")
        assert r[6].isdigit()
        if r[2]:
            assert len(r[2].rsplit(".", 1)[1]) == 2
    with open(tmp_path / "out" / "warnings.csv", encoding="utf-8", newline="") as fh:
        warnings = list(csv.DictReader(fh))
    assert len(warnings) == run.counts["warnings"] > 0
    for w in warnings:
        assert w["rules"].split(";") == sorted(w["rules"].split(";"))
        assert w["already_monitored"] in ("true", "false")
        assert (w["category"] == "") == (w["level"] == "yellow")
    # a second run of the same data gives the same bytes
    screen(out_dir=tmp_path / "again")
    for name in CSV_FILES:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def _new_feed_batch(path: Path, persons: list, households: list) -> Path:
    """A department file of disaster losses and medical claims for a few registry people."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "record_id",
                "id_number",
                "name",
                "event_date",
                "total_cost",
                "insurance_paid",
                "out_of_pocket",
                "inpatient",
            ]
        )
        for i, p in enumerate(persons):
            w.writerow(
                [f"NEW-{i}", p.id_number, p.name, "2024-05-01", "90000", "10000", "80000", "Y"]
            )
    return path


def test_incremental_run_equals_a_fresh_full_run(lake, tmp_path, monkeypatch):
    from safetynet.engine import adapters
    from safetynet.feeds.services import feed_load
    from safetynet.registry.models import Household, Income, Person
    from safetynet.registry.services import household_update, person_update

    # the inputs each run's engine cut down to the records of the evaluated households
    restricted: list[set[str]] = []
    kept_by_key = adapters._kept_by_key

    def spy(plan, sources):
        kept = kept_by_key(plan, sources)
        restricted.append(set(kept))
        return kept

    monkeypatch.setattr(adapters, "_kept_by_key", spy)

    screen(out_dir=tmp_path / "base")
    households = list(Household.objects.order_by("household_id")[:40])
    # registry edits through the services (audited): unsafe houses, a lost income, a move
    for h in households[:5]:
        household_update(actor=None, household=h, expected_version=h.version, housing_grade="D")
    income = Income.objects.filter(household=households[5]).order_by("-year").first()
    Income.objects.filter(pk=income.pk).update(wage=0, business_income=0)
    Income.objects.get(pk=income.pk).save()  # bumps updated_at
    mover = Person.objects.filter(household=households[6]).exclude(relation="head").first()
    if mover is not None:
        person_update(
            actor=None,
            person=mover,
            expected_version=mover.version,
            household_id=households[7].household_id,
        )
    # a new department batch: large medical bills for members of three other households
    patients = [
        Person.objects.filter(household=h, status="active").first() for h in households[10:13]
    ]
    feed_load(
        actor=None,
        kind="medical_claims",
        path=_new_feed_batch(tmp_path / "claims.csv", patients, households[10:13]),
    )
    # the school-enrolment records of one county: its current term changes for every pupil
    county = households[0].village_id[:6]
    source = lake["demo"] / "feeds" / "school_enrolment.csv"
    with open(source, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    where = header.index("village_code")
    with open(tmp_path / "school.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(r for r in body if r[where].startswith(county))
    feed_load(actor=None, kind="school_enrolment", path=tmp_path / "school.csv")

    incremental = screen(incremental=True, out_dir=tmp_path / "incremental")
    assert incremental.incremental, incremental.counts
    changed = incremental.counts["changed_households"]
    assert 8 <= changed < incremental.counts["households"] // 4, incremental.counts[
        "change_reasons"
    ]
    reasons = incremental.counts["change_reasons"]
    assert reasons["feeds.medical_claims"] >= 3 and reasons["feeds.county_wide"] > 0, reasons
    after_incremental = findings_state()

    full = screen(out_dir=tmp_path / "full")
    assert not full.incremental
    for name in CSV_FILES:
        assert (tmp_path / "incremental" / name).read_bytes() == (
            tmp_path / "full" / name
        ).read_bytes(), name
    assert findings_state() == after_incremental
    # the incremental run read the records of its households' persons and households only;
    # the county-wide enrolment records and the full runs' feeds whole
    (kept,) = restricted  # only the incremental run asks for it
    assert {"feed_medical_claims", "feed_housing", "incomes"} <= kept, kept
    assert "feed_school_enrolment" not in kept
    assert full.counts["findings"]["new"] == 0 and full.counts["findings"]["resolved"] == 0
    # and the changes did change something
    assert (tmp_path / "base" / "warnings.csv").read_bytes() != (
        tmp_path / "full" / "warnings.csv"
    ).read_bytes()
    json.dumps(incremental.counts)  # counts stay JSON


def test_set_based_explanations_equal_the_engines_own(lake):
    """The region's explanations, rendered in SQL, are the text the engine's `explain_rule`
    gives for the same result rows."""
    from safetynet.engine.adapters import get_engine
    from safetynet.engine.explain import explain_rule
    from safetynet.policy.catalogue import default_catalogue
    from safetynet.policy.compiler import compile_plan
    from safetynet.policy.params import bind_areas
    from safetynet.screening import evaluation, snapshot
    from safetynet.screening.explain_sql import SetExplainer

    catalogue = default_catalogue()
    binding = bind_areas(catalogue.params, AS_OF)
    plan = compile_plan(catalogue, binding, dialect="duckdb")
    snap = snapshot.write_snapshot(Path(lake["data_dir"]) / "explain-check")
    inputs = {name: pq.read_table(path) for name, path in snap.paths.items()}
    inputs.update({k: pq.read_table(v) for k, v in evaluation.feed_sources().items()})
    res = get_engine("duckdb").run(plan, inputs)
    hh = res.households.filter(pc.fill_null(res.households.column("evaluated"), False))
    rules = evaluation._lists(hh.column("rules"))
    fast = SetExplainer(catalogue, binding)(hh, rules, res.persons).to_pylist()
    reference = evaluation._explanations(
        hh, rules, res.persons, evaluation.Explainer(catalogue, binding, explain_rule)
    ).to_pylist()
    # the reference also explains members for whom a person rule did not fire ("explain_false")
    key = lambda e: (e["household_id"], e["rule"], e["id_number"] or "")  # noqa: E731
    fast_by = {key(e): (e["zh"], e["en"]) for e in fast}
    ref_by = {key(e): (e["zh"], e["en"]) for e in reference}
    assert len(fast_by) > 100
    assert set(fast_by) <= set(ref_by)
    for k, text in fast_by.items():
        assert text == ref_by[k], k
    fired = {(h, r) for h, r, _ in ref_by if r != "M-CATEGORY"}
    assert {(h, r) for h, r, _ in fast_by} >= {(h, r) for h, r in fired if (h, r, "") in ref_by}


def test_warnings_carry_the_department_records_behind_them(lake):
    from safetynet.feeds.models import FeedBatch
    from safetynet.feeds.selectors import linked_feed_paths

    screen()
    warnings = list(Finding.objects.filter(kind="warning").select_related("household"))
    with_evidence = [f for f in warnings if f.evidence]
    assert with_evidence, "department records lie behind some warnings of the region"
    records: dict[str, dict] = {}
    kinds = set(FeedBatch.objects.filter(status="active").values_list("kind", flat=True))
    for kind in sorted(kinds):
        for path in linked_feed_paths(kind):
            for r in pq.read_table(path).to_pylist():
                records[r["record_id"]] = r
    for finding in with_evidence:
        members = set(finding.household.members.values_list("id_number", flat=True))
        for record_id in finding.evidence:
            record = records.get(record_id)
            assert record is not None, record_id
            assert (
                record.get("id_number") in members
                or record.get("household_id") == finding.household.household_id
            ), (finding.household.household_id, record_id)
    rigid = [f for f in warnings if "M-RIGID" in f.rules]
    # medical claims lie behind most rigid-expenditure warnings (education costs behind others)
    assert rigid and sum(bool(f.evidence) for f in rigid) > len(rigid) // 2


def test_incremental_run_sees_the_whole_county_term(lake, tmp_path):
    """A county's current school term comes from the enrolment records of every household of
    the county (POLICY §1). An incremental run re-evaluates only the changed households, but
    must still read the term of the whole county: a pupil with no record in it is out of
    school, whatever the registry says."""
    from safetynet.feeds.services import feed_load
    from safetynet.registry.models import Person
    from safetynet.registry.services import person_update

    source = lake["demo"] / "feeds" / "school_enrolment.csv"
    with open(source, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    village, id_number = header.index("village_code"), header.index("id_number")
    recorded = {r[id_number] for r in body}
    households_with_records = set(
        Person.objects.filter(id_number__in=recorded).values_list("household_id", flat=True)
    )
    # a child of compulsory-school age, in a county with enrolment records, whose household
    # has no record at all (nobody of it is a pupil of the county's schools)
    counties = {r[village][:6] for r in body}
    child = next(
        p
        for p in Person.objects.filter(
            status="active",
            birth_date__range=(dt.date(2010, 1, 1), dt.date(2016, 12, 31)),
            disability_grade__isnull=True,
            household__village__code__regex=r"^(" + "|".join(sorted(counties)) + ")",
        )
        .exclude(household_id__in=households_with_records)
        .exclude(health="serious")
        .select_related("household")
        .order_by("id_number")
        if p.household.village_id[:6] in counties
    )
    county = child.household.village_id[:6]
    mine = [r for r in body if r[village].startswith(county)]
    with open(tmp_path / "school.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *mine])
    feed_load(actor=None, kind="school_enrolment", path=tmp_path / "school.csv")
    screen()  # the base run, after the county's records

    # the registry now says the child is in school
    person_update(actor=None, person=child, expected_version=child.version, in_school=True)

    incremental = screen(incremental=True, out_dir=tmp_path / "incremental")
    assert incremental.incremental, incremental.counts
    assert incremental.counts["changed_households"] <= 3, incremental.counts["change_reasons"]
    full = screen(out_dir=tmp_path / "full")
    warnings = (tmp_path / "full" / "warnings.csv").read_text(encoding="utf-8")
    line = next(x for x in warnings.splitlines() if x.startswith(child.household.household_id))
    assert "M-EDU" in line, line  # the full run: not enrolled in the county's current term
    for name in CSV_FILES:
        assert (tmp_path / "incremental" / name).read_bytes() == (
            tmp_path / "full" / name
        ).read_bytes(), name
    assert not full.incremental
