"""The screen's own machinery with a scripted engine: snapshot, storage, comparison between
runs, incremental selection, interruption safety."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection

from safetynet.core import audit
from safetynet.core.models import AuditEvent
from safetynet.registry.models import Household, Income, Person
from safetynet.screening import services, store
from safetynet.screening.models import Finding, ScreenRun
from safetynet.screening.snapshot import PERSON_SCHEMA, write_snapshot

from .conftest import VILLAGES, make_household

AS_OF = dt.date(2024, 6, 30)
pytestmark = pytest.mark.django_db


def run_screen(**kwargs):
    kwargs.setdefault("as_of", AS_OF)
    return services.screen_run(actor=None, **kwargs)


def test_snapshot_has_the_input_contract_shape(small_registry, tmp_path):
    snap = write_snapshot(tmp_path, monitored={"H00001"})
    persons = pq.read_table(snap.paths["persons"])
    assert persons.schema == PERSON_SCHEMA
    # columns no rule reads stay in the registry
    assert not {"name", "pension_insured"} & set(persons.column_names)
    assert snap.rows == {"households": 12, "persons": 24, "incomes": 12}
    households = pq.read_table(snap.paths["households"])
    assert not {"exit_year", "relocated"} & set(households.column_names)
    hh = households.to_pylist()
    first = next(h for h in hh if h["household_id"] == "H00001")
    assert first["already_monitored"] is True
    assert first["village_code"] == VILLAGES[1]
    assert sum(h["already_monitored"] for h in hh) == 1
    head = next(p for p in persons.to_pylist() if p["household_id"] == "H00000")
    assert head["birth_date"] == dt.date(1980, 1, 1)
    assert head["phone"] == "13800000000"
    child = next(p for p in persons.to_pylist() if p["relation"] == "child")
    assert child["phone"] is None and child["sex"] == "F" and child["in_school"] is True
    incomes = pq.read_table(snap.paths["incomes"]).to_pylist()
    assert str(incomes[0]["business_income"]) == "10.50"
    scoped = write_snapshot(tmp_path / "scoped", area_codes=["430224"], monitored=set())
    assert scoped.rows["households"] == 4


def test_full_run_stores_findings_and_results(small_registry, scripted_engine, tmp_path):
    run = run_screen(out_dir=tmp_path / "out")
    assert run.status == ScreenRun.Status.SUCCEEDED and run.progress == 100
    warnings = Finding.objects.filter(kind="warning")
    assert sorted(warnings.values_list("household__household_id", flat=True)) == [
        "H00000",
        "H00004",
        "H00008",
    ]
    w = warnings.get(household__household_id="H00004")
    assert (w.rules, w.level, w.category, w.state) == (["X-TEST"], "orange", "edge", "open")
    assert w.first_run == run and w.village_code == VILLAGES[1] and w.raised_by(run)
    assert w.last_raised_run() == run
    # the children without a phone, and the programmes' finding
    assert Finding.objects.filter(kind="quality").count() == 13
    assert Finding.objects.filter(kind="quality", check_id="X-PROG").count() == 1
    assert run.counts["findings"] == {
        "staged": 16,
        "new": 16,
        "still_open": 0,
        "rewritten": 0,
        "resolved": 0,
    }
    assert set(run.counts["timings"]) >= {"compile", "snapshot", "evaluate", "store_findings"}
    assert (Path(run.results_path) / "households.parquet").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "eligibility.csv",
        "quality.csv",
        "single_person.csv",
        "tekun.csv",
        "warnings.csv",
    ]
    lines = (tmp_path / "out" / "warnings.csv").read_text("utf-8").splitlines()
    assert lines[0] == "household_id,village_code,category,level,rules,risk_types,already_monitored"
    assert lines[1] == f"H00000,{VILLAGES[0]},edge,orange,X-TEST,测试,false"
    elig = (tmp_path / "out" / "eligibility.csv").read_text("utf-8").splitlines()
    assert elig[1] == "H00000,1,100.13,,false,false,0,false"
    assert AuditEvent.objects.filter(action="screen.run", object_id=str(run.pk)).exists()


def test_second_run_compares_with_the_first(small_registry, scripted_engine):
    first = run_screen()
    Household.objects.filter(household_id="H00004").update(housing_grade="A")  # resolved
    Household.objects.filter(household_id="H00005").update(housing_grade="D")  # new
    second = run_screen()
    states = {
        f.household.household_id: (f.state, f.status_in(second))
        for f in Finding.objects.filter(kind="warning")
    }
    assert states == {
        "H00000": ("open", "open"),
        "H00004": ("resolved", "resolved"),
        "H00005": ("open", "new"),
        "H00008": ("open", "open"),
    }
    assert second.counts["findings"]["new"] == 1
    assert second.counts["findings"]["resolved"] == 1
    assert Finding.objects.get(household__household_id="H00000", kind="warning").first_run == first
    # raised again after being resolved: open and new again
    Household.objects.filter(household_id="H00004").update(housing_grade="D")
    third = run_screen()
    again = Finding.objects.get(household__household_id="H00004", kind="warning")
    assert (again.state, again.first_run, again.resolved_run) == ("open", third, None)


def test_a_run_of_one_area_leaves_other_areas_findings_alone(small_registry, scripted_engine):
    run_screen()
    Household.objects.filter(household_id="H00000").update(housing_grade="A")  # in 360827
    Household.objects.filter(household_id="H00008").update(housing_grade="A")  # in 430224? no
    run = run_screen(area_codes=["430224"])
    assert run.area_codes == ["430224"]
    open_ids = set(
        Finding.objects.filter(kind="warning", state="open").values_list(
            "household__household_id", flat=True
        )
    )
    # H00000 is in village 1 of 360827: outside the run's scope, so still open
    assert "H00000" in open_ids


def test_which_runs_raised_a_finding_follows_from_their_scopes(small_registry, scripted_engine):
    """Nothing is written to a finding a run raises again unchanged: which runs raised it
    follows from its first run, its resolving run and the runs' scopes."""
    from types import SimpleNamespace

    from safetynet.monitoring.selectors import WarningFilters, warnings_for
    from safetynet.screening.selectors import run_findings

    first = run_screen()
    hunan = run_screen(area_codes=["430224"])  # the village of H00008 only
    Household.objects.filter(household_id="H00004").update(housing_grade="A")  # no warning now
    jiangxi = run_screen(area_codes=["360827"])  # resolves H00004's warning
    failed = ScreenRun.objects.create(as_of=AS_OF, status=ScreenRun.Status.FAILED)
    queued = ScreenRun.objects.create(as_of=AS_OF)  # never ran

    def raised(run):
        return sorted(
            Finding.objects.raised_by(run)
            .filter(kind="warning")
            .values_list("household__household_id", flat=True)
        )

    assert raised(first) == ["H00000", "H00004", "H00008"]
    assert raised(hunan) == ["H00008"]
    assert raised(jiangxi) == ["H00000"]
    assert raised(failed) == [] and raised(queued) == []
    h4 = Finding.objects.get(household__household_id="H00004", kind="warning")
    assert (h4.state, h4.resolved_run, h4.last_raised_run()) == ("resolved", jiangxi, first)
    assert h4.status_in(first) == "new" and h4.status_in(jiangxi) == "resolved"
    h8 = Finding.objects.get(household__household_id="H00008", kind="warning")
    assert h8.last_raised_run() == hunan and h8.status_in(hunan) == "open"
    assert not h8.raised_by(jiangxi) and h8.status_in(jiangxi) == "resolved"
    # still open in a run: raised again, not for the first time; listed for older runs too
    still = run_findings(user=None, run=hunan, status="open").filter(kind="warning")
    assert list(still.values_list("household__household_id", flat=True)) == ["H00008"]
    # new: open, and no run after the first has covered its village (none has, for Hunan's
    # quality findings either: the Hunan run raised them again)
    assert not Finding.objects.new().exists()
    Household.objects.filter(household_id="H00004").update(housing_grade="D")
    again = run_screen(area_codes=["360827"])
    assert sorted(
        Finding.objects.new().filter(kind="warning").values_list("household_id", flat=True)
    ) == [h4.household_id]
    assert Finding.objects.get(pk=h4.pk).first_run == again
    region = SimpleNamespace(scope_code="")  # a user of the whole deployment
    listed = warnings_for(region, WarningFilters(status="new"))
    assert [f.household_id for f in listed] == [h4.household_id]


def test_failure_after_evaluation_keeps_the_previous_findings(
    small_registry, scripted_engine, monkeypatch, settings
):
    first = run_screen()
    before = sorted(Finding.objects.values_list("key", "state", "first_run_id", "updated_at"))
    Household.objects.filter(household_id="H00004").update(housing_grade="A")

    real = store.store_findings

    def store_then_crash(**kwargs):
        real(**kwargs)  # everything written ...
        raise RuntimeError("disk full")  # ... then the run dies before committing

    monkeypatch.setattr(store, "store_findings", store_then_crash)
    with pytest.raises(RuntimeError):
        run_screen()
    failed = ScreenRun.objects.order_by("-id").first()
    assert failed.status == ScreenRun.Status.FAILED and "disk full" in failed.error
    assert failed.results_path == ""
    assert (
        sorted(Finding.objects.values_list("key", "state", "first_run_id", "updated_at")) == before
    )
    runs_dir = Path(settings.DATA_DIR) / "runs"
    assert sorted(p.name for p in runs_dir.iterdir()) == [str(first.pk)]


def test_explanation_values_that_are_not_json_store_nothing(
    small_registry, scripted_engine, monkeypatch
):
    """The JSON the store writes is checked before the write (SQLite's own per-row JSON
    checks are off while it writes): a bad `values` text fails the run, the findings stay."""
    from safetynet.core.errors import SafetyNetError
    from safetynet.screening.results import ScreenResults

    run_screen()
    before = sorted(
        Finding.objects.values_list("key", "state", "first_run_id", "updated_at", "explanations")
    )
    real = ScreenResults.concat

    def broken_values(*parts):  # the run's results, as the findings store receives them
        out = real(*parts)
        bad = {
            "household_id": "H00004",
            "id_number": None,
            "rule": "M-HOUSING",
            "zh": "住房不安全",
            "en": "unsafe housing",
            "values": '{"monitoring.income_line": 7300',  # cut short
            "source": "POLICY.md",
            "evidence": [],
        }
        extra = pa.Table.from_pylist([bad], schema=out.explanations.schema)
        out.explanations = pa.concat_tables([out.explanations, extra])
        return out

    monkeypatch.setattr(ScreenResults, "concat", staticmethod(broken_values))
    with pytest.raises(SafetyNetError) as err:
        run_screen()
    assert "not valid JSON" in err.value.en and "JSON" in err.value.zh
    failed = ScreenRun.objects.order_by("-id").first()
    assert failed.status == ScreenRun.Status.FAILED
    assert (
        sorted(
            Finding.objects.values_list(
                "key", "state", "first_run_id", "updated_at", "explanations"
            )
        )
        == before
    )
    if connection.vendor == "sqlite":  # the JSON checks are on again after a store
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints")
            assert cursor.fetchone()[0] == 0


def test_result_files_failing_leave_the_previous_findings(
    small_registry, scripted_engine, monkeypatch, settings
):
    """Writing the result files fails (a full disk): the run is failed, the findings stay as
    the previous run left them, and no directory of the failed run stays."""
    from safetynet.screening.results import ScreenResults

    first = run_screen()
    before = sorted(Finding.objects.values_list("key", "state", "first_run_id", "updated_at"))
    Household.objects.filter(household_id="H00004").update(housing_grade="A")

    def write_fails(self, directory):
        raise OSError("no space left on device")

    monkeypatch.setattr(ScreenResults, "write_sorted", write_fails)
    with pytest.raises(OSError):
        run_screen()
    failed = ScreenRun.objects.order_by("-id").first()
    assert failed.status == ScreenRun.Status.FAILED and "no space left" in failed.error
    assert (
        sorted(Finding.objects.values_list("key", "state", "first_run_id", "updated_at")) == before
    )
    runs_dir = Path(settings.DATA_DIR) / "runs"
    assert sorted(p.name for p in runs_dir.iterdir()) == [str(first.pk)]


def test_findings_failing_while_the_files_are_written_leave_no_directory(
    small_registry, scripted_engine, monkeypatch, settings
):
    """The result files are written in a thread of their own while the findings are stored:
    when storing fails first, the run waits for that thread before it removes the run's
    directory, so nothing of the failed run is left behind."""
    import time as _time

    from safetynet.screening.results import ScreenResults

    first = run_screen()
    before = sorted(Finding.objects.values_list("key", "state", "first_run_id", "updated_at"))
    real_write = ScreenResults.write_sorted
    written = []

    def slow_write(self, directory):
        _time.sleep(0.5)  # still writing when the findings fail
        real_write(self, directory)
        written.append(directory)

    def store_fails(**kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(ScreenResults, "write_sorted", slow_write)
    monkeypatch.setattr(store, "store_findings", store_fails)
    with pytest.raises(RuntimeError):
        run_screen()
    assert written  # the thread finished its files ...
    runs_dir = Path(settings.DATA_DIR) / "runs"
    assert sorted(p.name for p in runs_dir.iterdir()) == [str(first.pk)]  # ... then they went
    assert (
        sorted(Finding.objects.values_list("key", "state", "first_run_id", "updated_at")) == before
    )
    assert ScreenRun.objects.order_by("-id").first().status == ScreenRun.Status.FAILED


def test_engine_failure_marks_the_run_failed(small_registry, scripted_engine):
    scripted_engine.fail_on_evaluate = True
    with pytest.raises(RuntimeError):
        run_screen()
    run = ScreenRun.objects.get()
    assert run.status == "failed" and "engine crashed" in run.error
    assert not Finding.objects.exists()


def test_incremental_equals_full(small_registry, scripted_engine, tmp_path):
    run_screen(out_dir=tmp_path / "base")
    # registry edits: one household re-graded, a member moved to another household (the old
    # household is known only from the audit row), a new household
    Household.objects.filter(household_id="H00003").update(housing_grade="D")
    Household.objects.get(household_id="H00003").save()  # bumps updated_at like a service edit
    person = Person.objects.filter(household__household_id="H00002").order_by("id").last()
    before = audit.snapshot(person)
    target = Household.objects.get(household_id="H00005")
    Person.objects.filter(pk=person.pk).update(household=target)  # no updated_at bump
    audit.record(
        actor=None, action="update", obj=person, before=before, after={"household_id": target.pk}
    )
    make_household(50, VILLAGES[2], grade="D")
    # a household removed behind the application's back (no audit row): not a change the run
    # can see, but its results must not outlive it
    gone = (
        Household.objects.exclude(findings__isnull=False)
        .exclude(household_id__in=["H00002", "H00003", "H00005", "H00050"])
        .order_by("household_id")
        .first()
    )
    Income.objects.filter(household=gone).delete()
    Person.objects.filter(household=gone).delete()
    Household.objects.filter(pk=gone.pk).delete()
    incremental = run_screen(incremental=True, out_dir=tmp_path / "incr")
    assert incremental.incremental and incremental.base_run_id is not None
    assert incremental.counts["changed_households"] == 4  # H00002, H00003, H00005, H00050
    eligibility = (tmp_path / "incr" / "eligibility.csv").read_text(encoding="utf-8")
    assert gone.household_id in (tmp_path / "base" / "eligibility.csv").read_text(encoding="utf-8")
    assert gone.household_id not in eligibility
    assert scripted_engine.evaluated[-1] == 4
    incremental_findings = sorted(Finding.objects.values_list("key", "state", "rules", "message"))
    full = run_screen(out_dir=tmp_path / "full")
    assert scripted_engine.evaluated[-1] == 12  # 11 of the base run, H00050, less the one gone
    for name in (
        "warnings.csv",
        "eligibility.csv",
        "tekun.csv",
        "single_person.csv",
        "quality.csv",
    ):
        assert (tmp_path / "incr" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    assert sorted(Finding.objects.values_list("key", "state", "rules", "message")) == (
        incremental_findings
    )
    assert full.counts["findings"]["new"] == 0 and full.counts["findings"]["resolved"] == 0


def test_incremental_falls_back_to_full_when_parameters_change(small_registry, scripted_engine):
    run_screen()
    scripted_engine.parameters = {"x.threshold": 2}
    run = run_screen(incremental=True)
    assert run.incremental is False
    assert "parameter" in run.counts["incremental_fallback"]
    assert scripted_engine.evaluated[-1] == 12


def test_nothing_changed_evaluates_nothing(small_registry, scripted_engine, tmp_path):
    run_screen(out_dir=tmp_path / "a")
    run = run_screen(incremental=True, out_dir=tmp_path / "b")
    assert run.counts["changed_households"] == 0
    assert scripted_engine.evaluated == [12]
    assert (tmp_path / "a" / "warnings.csv").read_bytes() == (
        tmp_path / "b" / "warnings.csv"
    ).read_bytes()


@pytest.mark.django_db(transaction=True)
def test_bulk_reader_and_connection_reader_give_the_same_snapshot(villages, tmp_path, monkeypatch):
    """Outside a transaction the snapshot reads through ADBC where it can (PostgreSQL; SQLite
    files), in primary-key ranges on parallel connections; the connection's own reader must
    give identical tables, for the whole registry and for an area."""
    from safetynet.screening import snapshot

    for i in range(6):
        make_household(i, VILLAGES[i % 3], grade="C" if i % 2 else "", members=1 + i % 3)
    Household.objects.filter(household_id="H00001").update(exit_year=None)
    Person.objects.filter(household__household_id="H00002").update(
        disability_grade=2, disability_type="physical", pension_insured=False
    )
    # blank text: NULL where the contract allows it (sex), kept where it does not (employment)
    Person.objects.filter(household__household_id="H00003").update(sex="", employment="")
    monkeypatch.setattr(snapshot, "RANGE_ROWS", 2)  # many ranges, read by two workers
    bulk = write_snapshot(tmp_path / "bulk", monitored={"H00002"})
    bulk_area = write_snapshot(tmp_path / "bulk_area", area_codes=["430224"], monitored=set())
    monkeypatch.setattr(snapshot, "adbc_uri", lambda: None)
    plain = write_snapshot(tmp_path / "plain", monitored={"H00002"})
    plain_area = write_snapshot(tmp_path / "plain_area", area_codes=["430224"], monitored=set())
    for a_snap, b_snap in ((bulk, plain), (bulk_area, plain_area)):
        for table in ("households", "persons", "incomes"):
            a = pq.read_table(a_snap.paths[table])
            b = pq.read_table(b_snap.paths[table])
            key = [(a.schema.names[0], "ascending")]
            assert a.schema == b.schema == snapshot.SCHEMAS[table], table
            assert a.sort_by(key).equals(b.sort_by(key)), table
    assert bulk.rows == {"households": 6, "persons": 12, "incomes": 6}
    assert bulk_area.rows == {"households": 2, "persons": 6, "incomes": 2}
    hh = {r["household_id"]: r for r in pq.read_table(bulk.paths["households"]).to_pylist()}
    assert hh["H00000"]["housing_grade"] is None and hh["H00001"]["housing_grade"] == "C"
    assert hh["H00002"]["already_monitored"] is True
    members = [
        p for p in pq.read_table(bulk.paths["persons"]).to_pylist() if p["household_id"] == "H00003"
    ]
    assert members and all(p["sex"] is None and p["employment"] == "" for p in members)


def test_snapshot_of_households_without_members_or_incomes(villages, tmp_path):
    """Every table gets its file, empty ones too; persons find their household's natural id."""
    hh = make_household(7, VILLAGES[0], members=2)
    hh.incomes.all().delete()
    Household.objects.create(household_id="H09999", village_id=VILLAGES[1], housing_grade="B")
    snap = write_snapshot(tmp_path, monitored=set())
    assert snap.rows == {"households": 2, "persons": 2, "incomes": 0}
    assert pq.read_table(snap.paths["incomes"]).num_rows == 0
    persons = pq.read_table(snap.paths["persons"]).to_pylist()
    assert {p["household_id"] for p in persons} == {"H00007"}


def test_a_run_rewrites_only_the_findings_whose_content_changed(small_registry, scripted_engine):
    first = run_screen()
    moved = Finding.objects.get(household__household_id="H00004", kind="warning")
    other = Finding.objects.get(household__household_id="H00000", kind="warning")
    assert moved.digest is not None
    # written before digests existed: rewritten by the next run
    Finding.objects.filter(pk=other.pk).update(message="old", digest=None)
    Household.objects.filter(household_id="H00004").update(village_id=VILLAGES[2])
    second = run_screen()
    moved.refresh_from_db()
    other.refresh_from_db()
    assert (moved.village_code, moved.state, moved.first_run) == (VILLAGES[2], "open", first)
    assert moved.last_raised_run() == second
    assert moved.status_in(second) == "open"
    assert other.message.startswith("触发规则 X-TEST") and other.digest is not None
    assert second.counts["findings"] == {
        "staged": 16,
        "new": 0,
        "still_open": 16,
        "rewritten": 3,  # the moved household's warning and quality finding, the old one
        "resolved": 0,
    }
    # the same results again: every finding still open, none rewritten
    before = sorted(Finding.objects.values_list("key", "digest", "village_code", "explanations"))
    Finding.objects.filter(pk=other.pk).update(message="kept")
    third = run_screen()
    assert (
        sorted(Finding.objects.values_list("key", "digest", "village_code", "explanations"))
        == before
    )
    assert Finding.objects.get(pk=other.pk).message == "kept"
    # nothing written to an unchanged finding, and yet the third run raised them all
    assert Finding.objects.raised_by(third).count() == Finding.objects.count() == 16
    assert {f.last_raised_run() for f in Finding.objects.all()} == {third}
    assert not Finding.objects.new().exists()
    assert set(Finding.objects.values_list("first_run_id", flat=True)) == {first.pk}


def test_findings_of_households_the_registry_lacks_are_left_out(
    small_registry, scripted_engine, monkeypatch
):
    import pyarrow as pa

    from safetynet.screening import runner

    from .conftest import scripted_programme_checks

    def checks(**kwargs):
        table = scripted_programme_checks(**kwargs)
        stray = table.set_column(1, "household_id", pa.array(["H99999"], pa.string()))
        return pa.concat_tables([table, stray])

    monkeypatch.setattr(runner, "programme_checks", checks)
    run = run_screen()
    assert run.counts["findings"]["staged"] == 17 and run.counts["findings"]["new"] == 16
    assert not Finding.objects.filter(key__contains="H99999").exists()
    again = run_screen()
    assert again.counts["findings"] == {
        "staged": 17,
        "new": 0,
        "still_open": 16,
        "rewritten": 0,
        "resolved": 0,
    }


def test_many_findings_go_through_the_staging_table_in_parts(
    small_registry, scripted_engine, monkeypatch
):
    """SQLite stages the findings written in full a part at a time; PostgreSQL in one COPY.
    Either way, a churning run gives the same findings as storing it from scratch."""
    monkeypatch.setattr(store, "SQLITE_PART_ROWS", 3)
    monkeypatch.setattr(store, "BATCH_ROWS", 2)
    monkeypatch.setattr(store, "ID_CHUNK", 2)
    run_screen()
    Household.objects.filter(household_id__in=["H00000", "H00008"]).update(housing_grade="A")
    Household.objects.filter(household_id__in=["H00001", "H00005"]).update(housing_grade="D")
    Household.objects.filter(household_id="H00004").update(village_id=VILLAGES[0])
    second = run_screen()
    assert second.counts["findings"] == {
        "staged": 16,
        "new": 2,
        "still_open": 14,
        "rewritten": 2,
        "resolved": 2,
    }
    stored = sorted(
        Finding.objects.filter(state="open").values_list(
            "key", "village_code", "rules", "message", "explanations", "digest"
        )
    )
    Finding.objects.all().delete()
    third = run_screen()
    assert third.counts["findings"]["new"] == 16
    assert (
        sorted(
            Finding.objects.values_list(
                "key", "village_code", "rules", "message", "explanations", "digest"
            )
        )
        == stored
    )


def test_money_keeps_its_digits():
    from decimal import Decimal

    import pyarrow as pa

    from safetynet.screening.snapshot import _fen_to_money

    out = _fen_to_money(pa.array([0, 1, -250, 1234567, None], pa.int64()))
    assert out.to_pylist() == [
        Decimal("0.00"),
        Decimal("0.01"),
        Decimal("-2.50"),
        Decimal("12345.67"),
        None,
    ]


def test_household_keys_dense_and_sparse():
    """Persons and incomes find their household by primary key, whatever the keys look like."""
    import numpy as np
    import pyarrow as pa

    from safetynet.screening.snapshot import HouseholdKeys

    ids = pa.array(["A", "B", "C"])
    for pks in (np.array([3, 1, 2]), np.array([10**12, 5, 7])):
        keys = HouseholdKeys(pks, ids)
        looked_up = keys.positions(pa.array([int(pks[1]), int(pks[0]), 4, -1, 10**13]))
        assert looked_up.tolist() == [1, 0, -1, -1, -1]
    assert HouseholdKeys(np.array([], np.int64), pa.array([], pa.string())).positions(
        pa.array([1])
    ).tolist() == [-1]


def _reordered(results, positions):
    """The same results, each table's rows taken in the order `positions(num_rows)` gives."""
    from safetynet.screening.results import ScreenResults

    return ScreenResults(
        **{
            name: table.take(pa.array(positions(table.num_rows), pa.int64()))
            for name, table in results.tables().items()
        }
    )


def test_result_files_do_not_depend_on_the_order_rows_arrive_in(
    small_registry, scripted_engine, tmp_path
):
    """The files are written from the unsorted results, one sorted table at a time: rows in
    any order give the same files, in the order `sorted()` gives."""
    import numpy as np
    import pyarrow.parquet as pq

    from safetynet.screening.results import ScreenResults

    run = run_screen()
    results = ScreenResults.read(Path(run.results_path))
    assert results.households.num_rows > 1
    rng = np.random.default_rng(7)
    shuffled = _reordered(results, rng.permutation)
    shuffled.write_sorted(tmp_path / "shuffled")
    results.sorted().write(tmp_path / "sorted")
    for name in results.tables():
        got = pq.read_table(tmp_path / "shuffled" / f"{name}.parquet")
        assert got.equals(pq.read_table(tmp_path / "sorted" / f"{name}.parquet")), name
        assert got.equals(pq.read_table(Path(run.results_path) / f"{name}.parquet")), name


def test_csv_files_do_not_depend_on_row_order_even_for_repeated_ids(
    small_registry, scripted_engine, tmp_path
):
    """A person listed twice in one household (a duplicate ID number) with different amounts:
    the CSV files still come out byte for byte the same, whatever order the rows arrive in."""
    from safetynet.screening.results import ScreenResults, write_csvs

    run = run_screen()
    results = ScreenResults.read(Path(run.results_path))
    tekun = results.tekun
    assert tekun.num_rows > 0
    twin = tekun.slice(0, 1).to_pylist()[0]
    twins = [{**twin, "monthly_amount": amount} for amount in (1, 2, 3)]
    results.tekun = pa.concat_tables([tekun, pa.Table.from_pylist(twins, schema=tekun.schema)])
    single = {"id_number": twin["id_number"], "household_id": twin["household_id"]}
    results.single_person = pa.concat_tables(
        [
            results.single_person,
            pa.Table.from_pylist(
                [{**single, "monthly_amount": a} for a in (5, 4)],
                schema=results.single_person.schema,
            ),
        ]
    )
    reversed_ = _reordered(results, lambda n: range(n - 1, -1, -1))
    for label, res in (("as_is", results), ("reversed", reversed_)):
        write_csvs(res, tmp_path / label)
    for name in ("tekun.csv", "single_person.csv", "warnings.csv", "quality.csv"):
        assert (tmp_path / "as_is" / name).read_bytes() == (
            tmp_path / "reversed" / name
        ).read_bytes(), name


def test_new_findings_are_inserted_in_key_order(small_registry, scripted_engine):
    """The store inserts in key order whatever order the results arrive in (the unique index
    on the key then grows at its end): ids follow the keys."""
    run_screen()
    keys = list(Finding.objects.order_by("id").values_list("key", flat=True))
    assert len(keys) > 2 and {k.split(":")[0] for k in keys} == {"warning", "quality"}
    assert keys == sorted(keys)
