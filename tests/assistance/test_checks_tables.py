"""The checks' relations read as Arrow, their messages rendered by column, and the screen step."""

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from safetynet.assistance import checks, services
from safetynet.assistance.checks import run_checks
from safetynet.assistance.models import EnrolmentMember, RollLine

from .conftest import COUNTY, OTHER_COUNTY, approve, approved_roll

D = dt.date
JUNE = D(2024, 6, 1)


def test_messages_rendered_by_column_read_as_the_row_rendering():
    spec = {
        "message_zh": "付 {paid} 元（{exact}；{whole}），{day} 至 {at}，{n} 次，{flag}，{word}{missing}。",
        "message_en": "{word}: paid {paid} ({exact}, {whole}) on {day}, {n} time(s), {flag}",
    }
    table = pa.table(
        {
            "household_id": ["H1", "H2", "H3", "H4", "H5", None],
            "id_number": ["", "360827195001011234", None, "", "", ""],
            "paid": pa.array(
                [
                    Decimal(v) if v else None
                    for v in ("500.00", "503.50", "-20.00", "-0.50", "0", None)
                ],
                pa.decimal128(38, 2),
            ),
            "exact": pa.array(
                [Decimal(v) for v in ("1.2350", "1.2450", "2.0000", "0.0049", "-3.1000", "7")],
                pa.decimal128(18, 4),
            ),
            "whole": pa.array(
                [Decimal(v) for v in ("5", "0", "-7", "12", "3", "1")], pa.decimal128(9, 1)
            ),
            "day": pa.array([D(2024, 6, 1), None, D(1999, 12, 31), D(2024, 2, 29), JUNE, JUNE]),
            "at": pa.array(
                [dt.datetime(2024, 6, 3, 23, 59), None, dt.datetime(2024, 1, 1), None, None, None],
                pa.timestamp("us"),
            ),
            "n": pa.array([1, 0, None, 12, -3, 2], pa.int64()),
            "flag": [True, False, None, True, False, True],
            "word": ["低保", "", None, "tekun", "a{b}", "x"],
            "missing": pa.nulls(6, pa.string()),
        }
    )
    assert checks._render_columns("Q-TEST", spec, table) is not None  # rendered by column
    rows = [checks._finding("Q-TEST", spec, row) for row in table.to_pylist()]
    assert checks._render("Q-TEST", spec, table).to_pylist() == rows


def test_row_wise_messages_where_the_wording_depends_on_the_row():
    spec = checks.catalogue()["Q-DEAD-LATE"]
    table = pa.table(
        {
            "household_id": ["H1"],
            "id_number": ["360827195001011234"],
            "name": [None],
            "died": [D(2024, 3, 1)],
            "due_on": [D(2024, 6, 1)],
            "processed_on": pa.nulls(1, pa.date32()),
        }
    )
    assert checks._render_columns("Q-DEAD-LATE", spec, table) is None
    (finding,) = checks._render("Q-DEAD-LATE", spec, table).to_pylist()
    assert (
        finding["message_zh"]
        == "360827********1234 于 2024-03-01 死亡，应于 2024-06-01 前完成变更，至今未处理"
    )


@pytest.fixture
def enrolled(users, households, engine):
    """A dibao household in a grace period, a stopped one, a tekun person; June approved."""
    grace = households("X101", employment="migrant")
    stopped = households("X102")
    approve(users, engine, grace, amount=503.37)
    e = approve(users, engine, stopped, amount=480)
    elder = households("X103", members=1).people[0]
    approve(users, engine, elder.household, programme="tekun", person=elder, amount=1154)
    engine.set("X101", dibao=(False, 0), since=D(2024, 6, 1))
    services.enrolment_grace_start(
        actor=users["county"],
        enrolment_id=grace.assistance_enrolments.get().pk,
        version=None,
        as_of=D(2024, 6, 3),
        months=3,
        worker_id_number=grace.people[0].id_number,
    )
    approved_roll(users, JUNE)
    services.enrolment_stop(
        actor=users["county"],
        enrolment_id=e.pk,
        version=None,
        decided_on=D(2024, 6, 20),
        reason="收入增加 / income rose",
    )
    return grace, stopped, elder


@pytest.mark.django_db
def test_the_relations_read_as_arrow_hold_what_the_orm_reads(enrolled):
    members, registry_deaths = checks._members("")
    expected = sorted(
        EnrolmentMember.objects.values_list(
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
            "enrolment__person__id_number",
        )
    )
    got = sorted(
        tuple(r[c] for c in checks.MEMBER_COLUMNS if c != "in_grace") for r in members.to_pylist()
    )
    assert got == expected and len(got) == 7
    assert {r["household_id"] for r in members.to_pylist() if r["in_grace"]} == {"X101"}
    assert registry_deaths.num_rows == 0

    lines = checks._lines("", JUNE, [])
    expected = sorted(
        (r[0], r[1], r[2])
        for r in RollLine.objects.values_list("household__household_id", "amount", "roll__month")
    )
    got = sorted((r["household_id"], r["amount"], r["roll_month"]) for r in lines.to_pylist())
    assert got == expected
    assert Decimal("503.37") in {r[1] for r in got}
    assert checks._lines(OTHER_COUNTY, JUNE, []).num_rows == 0


@pytest.mark.django_db
def test_an_area_without_enrolments_leaves_the_department_feeds_closed(
    users, households, engine, monkeypatch
):
    from safetynet.feeds import selectors

    opened = []

    def register(con, *, kinds=None):
        opened.append(kinds)
        return []

    monkeypatch.setattr(selectors, "register_linked_feeds", register)
    households("X110")
    assert run_checks(as_of=D(2024, 6, 30), eligibility=[]) == []
    assert opened == []
    approve(users, engine, households("X111"), amount=500)
    run_checks(as_of=D(2024, 6, 30), eligibility=[])
    assert opened == [["deaths", "vehicles", "businesses", "payroll"]]


@pytest.mark.django_db
def test_the_screen_step_is_the_findings_of_each_area_as_its_quality_table(
    users, households, engine
):
    from safetynet.screening import runner
    from safetynet.screening.results import QUALITY

    approve(users, engine, households("X120"), amount=300, household_type="unstable")
    approve(users, engine, households("X121"), amount=300, household_type="unstable")
    as_of = D(2024, 11, 18)
    found = run_checks(as_of=as_of)
    assert [(f["check"], f["household_id"]) for f in found] == [
        ("Q-REVIEW", "X120"),
        ("Q-REVIEW", "X121"),
    ]
    table = runner.programme_checks(as_of=as_of, area_codes=[])
    assert table.schema == QUALITY
    assert table.to_pylist() == [{**f, "source": "programmes"} for f in found]
    by_area = runner.programme_checks(as_of=as_of, area_codes=[OTHER_COUNTY, COUNTY])
    assert by_area.to_pylist() == table.to_pylist()
    assert runner.programme_checks(as_of=as_of, area_codes=[OTHER_COUNTY]).num_rows == 0


@pytest.mark.django_db
def test_the_screen_step_can_take_the_households_of_the_run_as_eligibility(
    users, households, engine
):
    from safetynet.screening import runner
    from safetynet.screening.results import HOUSEHOLDS, conform

    households("X130")
    approve(users, engine, households("X131"), amount=450)
    results = conform(
        pa.table(
            {
                "household_id": ["X130", "X131"],
                "dibao_eligible": [True, False],
                "dibao_amount": pa.array([300, 0], pa.int64()),
            }
        ),
        HOUSEHOLDS,
    )
    table = runner.programme_checks(as_of=D(2024, 6, 30), area_codes=[], eligibility=results)
    found = {(r["check"], r["household_id"]): r for r in table.to_pylist()}
    assert set(found) == {("Q-OMIT-DIBAO", "X130"), ("Q-WRONG-DIBAO", "X131")}
    assert "月补差 300 元" in found[("Q-OMIT-DIBAO", "X130")]["message_zh"]
    other = runner.programme_checks(
        as_of=D(2024, 6, 30), area_codes=[OTHER_COUNTY], eligibility=results
    )
    assert other.num_rows == 0
