"""Monthly payment rolls: generation, maker-checker approval, locking, export, failures,
adjustments and reconciliation."""

import csv
import datetime as dt
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from safetynet.assistance import rolls, services
from safetynet.assistance.models import Adjustment, LockedRollError, Roll, RollLine
from safetynet.core.errors import Conflict, PermissionDenied, TransitionNotAllowed
from safetynet.core.models import AuditEvent

from .conftest import COUNTY, OTHER_COUNTY, approve, approved_roll

D = dt.date
pytestmark = pytest.mark.django_db
JUNE, JULY, AUG = D(2024, 6, 1), D(2024, 7, 1), D(2024, 8, 1)


@pytest.fixture
def enrolled(users, households, engine):
    a = households("R001", members=3)
    b = households("R002", members=2)
    c = households("R003", members=1)
    return {
        "a": approve(users, engine, a, amount=758),
        "b": approve(users, engine, b, amount=410),
        "c": approve(users, engine, c, programme="tekun", person=c.people[0], amount=1154),
        "hh": {"a": a, "b": b, "c": c},
    }


def test_roll_totals_come_from_enrolments_and_start_the_month_after_approval(users, enrolled):
    may = rolls.roll_generate(
        actor=users["county"], county_code=COUNTY, month=D(2024, 5, 1), today=JUNE
    )
    assert may.line_count == 0  # approved on 05-16: paid from June
    june = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JUNE, today=JUNE)
    assert june.line_count == 3
    assert june.total_amount == Decimal("2322")
    amounts = dict(RollLine.objects.filter(roll=june).values_list("enrolment_id", "amount"))
    assert amounts == {
        enrolled["a"].pk: Decimal("758"),
        enrolled["b"].pk: Decimal("410"),
        enrolled["c"].pk: Decimal("1154"),
    }
    line = RollLine.objects.get(roll=june, enrolment=enrolled["c"])
    assert (
        line.person_id == enrolled["c"].person_id and line.payee_name == enrolled["c"].person.name
    )
    head = RollLine.objects.get(roll=june, enrolment=enrolled["a"])
    assert head.payee_name == enrolled["hh"]["a"].people[0].name
    assert head.account == enrolled["hh"]["a"].bank_account


def test_maker_and_checker_must_differ_and_the_approved_roll_is_locked(users, enrolled):
    roll = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JUNE, today=JUNE)
    with pytest.raises(TransitionNotAllowed):
        rolls.roll_approve(actor=users["county_2"], roll_id=roll.pk, version=roll.version)
    roll = rolls.roll_check(actor=users["county"], roll_id=roll.pk, version=roll.version)
    assert roll.check_report["check"]["balanced"]
    with pytest.raises(PermissionDenied) as info:
        rolls.roll_approve(actor=users["county"], roll_id=roll.pk, version=roll.version)
    assert "不能与核对人相同" in info.value.zh
    with pytest.raises(PermissionDenied):  # a village cadre cannot approve payments
        rolls.roll_approve(actor=users["village"], roll_id=roll.pk, version=roll.version)
    with pytest.raises(PermissionDenied):  # nor can an operator without a name
        rolls.roll_approve(actor=None, roll_id=roll.pk, version=roll.version)
    roll = rolls.roll_approve(actor=users["county_2"], roll_id=roll.pk, version=roll.version)
    assert roll.locked
    version, total = roll.version, roll.total_amount

    # The services refuse to touch it ...
    with pytest.raises(TransitionNotAllowed) as info:
        rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JUNE, version=version)
    assert "锁定" in info.value.zh and "locked" in info.value.en
    with pytest.raises(TransitionNotAllowed):
        rolls.roll_check(actor=users["county"], roll_id=roll.pk, version=version)
    with pytest.raises(TransitionNotAllowed):
        rolls.roll_approve(actor=users["admin"], roll_id=roll.pk, version=version)
    # ... and so does the database, whatever code path tries.
    line = RollLine.objects.filter(roll=roll).first()
    with pytest.raises(DatabaseError), transaction.atomic():
        RollLine.objects.filter(pk=line.pk).update(amount=Decimal("1"))
    with pytest.raises(LockedRollError):
        RollLine.objects.filter(roll=roll).delete()
    with pytest.raises(LockedRollError):
        line.delete()
    if connection.vendor == "postgresql":  # SQLite flushes test databases with DELETE
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM assistance_rollline WHERE id = %s", [line.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        RollLine.objects.create(
            roll=roll,
            kind="adjustment",
            household=line.household,
            village_code=line.village_code,
            amount=Decimal("5"),
        )
    with pytest.raises(DatabaseError), transaction.atomic():
        Roll.objects.filter(pk=roll.pk).update(total_amount=Decimal("0"))
    roll.refresh_from_db()
    assert (roll.version, roll.total_amount) == (version, total)
    assert RollLine.objects.get(pk=line.pk).amount == line.amount
    actions = list(
        AuditEvent.objects.filter(object_type="assistance.roll", object_id=str(roll.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["generate", "check", "approve"]


def test_concurrent_roll_edits_are_rejected_by_version(users, enrolled):
    roll = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JUNE, today=JUNE)
    stale = roll.version
    rolls.roll_generate(
        actor=users["county"], county_code=COUNTY, month=JUNE, version=stale, today=JUNE
    )
    with pytest.raises(Conflict):
        rolls.roll_check(actor=users["county"], roll_id=roll.pk, version=stale)
    assert Roll.objects.get(pk=roll.pk).status == "draft"


def test_scope_of_rolls(users, enrolled):
    with pytest.raises(PermissionDenied):
        rolls.roll_generate(actor=users["other_county"], county_code=COUNTY, month=JUNE)
    with pytest.raises(PermissionDenied):
        rolls.roll_generate(actor=users["township"], county_code=COUNTY, month=JUNE)
    roll = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JUNE, today=JUNE)
    from safetynet.core.errors import NotFound

    with pytest.raises(NotFound):
        rolls.roll_check(actor=users["other_county"], roll_id=roll.pk, version=roll.version)


def test_bank_file_only_for_finance_of_the_county_with_full_accounts(users, enrolled, tmp_path):
    tmp_path = tmp_path / "bank"
    roll = approved_roll(users, JUNE)
    for who in ("county", "admin"):  # not finance
        with pytest.raises(PermissionDenied) as info:
            rolls.roll_export(actor=users[who], roll_id=roll.pk, fmt="csv", out_dir=tmp_path)
        assert "财务" in info.value.zh
    from safetynet.core.errors import NotFound

    with pytest.raises(NotFound):  # finance of another county does not even see the roll
        rolls.roll_export(
            actor=users["other_finance"], roll_id=roll.pk, fmt="csv", out_dir=tmp_path
        )
    assert not tmp_path.exists()
    result = rolls.roll_export(actor=users["finance"], roll_id=roll.pk, fmt="csv", out_dir=tmp_path)
    with result["path"].open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and result["total"] == Decimal("2322")
    accounts = {r["户编号"]: r["一卡通账号"] for r in rows}
    assert accounts["R001"] == enrolled["hh"]["a"].bank_account  # full number, not masked
    assert sum(Decimal(r["金额(元)"]) for r in rows) == Decimal("2322")
    event = AuditEvent.objects.get(action="export_bank_file")
    assert event.actor_id == users["finance"].pk and event.after["rows"] == 3
    assert event.after["sha256"] == result["sha256"]

    xlsx = rolls.roll_export(actor=users["finance"], roll_id=roll.pk, fmt="xlsx", out_dir=tmp_path)
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx["path"]).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][5] == "一卡通账号"
    assert {str(v[5]) for v in values[1:]} == set(accounts.values())
    assert isinstance(values[1][5], str)  # account numbers stay text


def test_draft_rolls_cannot_be_exported(users, enrolled, tmp_path):
    roll = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JUNE, today=JUNE)
    with pytest.raises(TransitionNotAllowed):
        rolls.roll_export(actor=users["finance"], roll_id=roll.pk, fmt="csv", out_dir=tmp_path)


def test_failed_payments_are_reissued_in_a_later_roll(users, enrolled):
    june = approved_roll(users, JUNE)
    line = RollLine.objects.get(roll=june, enrolment=enrolled["b"])
    draft = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JULY, today=JULY)
    with pytest.raises(TransitionNotAllowed):  # only approved lines can fail
        rolls.payment_failure_record(
            actor=users["county"],
            line_id=RollLine.objects.filter(roll=draft).first().pk,
            reason="x",
            reported_on=JULY,
        )
    rolls.payment_failure_record(
        actor=users["county"], line_id=line.pk, reason="账户已销户", reported_on=D(2024, 6, 20)
    )
    with pytest.raises(TransitionNotAllowed):
        rolls.payment_failure_record(
            actor=users["county"], line_id=line.pk, reason="again", reported_on=D(2024, 6, 21)
        )
    july = approved_roll(users, JULY)
    reissue = RollLine.objects.get(roll=july, kind="reissue")
    assert reissue.reissue_of_id == line.pk and reissue.amount == line.amount
    assert july.total_amount == Decimal("2322") + Decimal("410")
    august = approved_roll(users, AUG)  # reissued once only
    assert not RollLine.objects.filter(roll=august, kind="reissue").exists()


def test_corrections_are_adjustment_lines_of_a_later_roll(users, enrolled):
    june = approved_roll(users, JUNE)
    line = RollLine.objects.get(roll=june, enrolment=enrolled["a"])
    adj = rolls.adjustment_create(
        actor=users["county"],
        household_id="R001",
        amount="-58",
        reason="6月多发 58 元",
        original_line_id=line.pk,
    )
    plus = rolls.adjustment_create(
        actor=users["county"], household_id="R002", amount=100, reason="补发"
    )
    july = approved_roll(users, JULY)
    lines = RollLine.objects.filter(roll=july, kind="adjustment")
    assert {(x.adjustment_id, x.amount) for x in lines} == {
        (adj.pk, Decimal("-58")),
        (plus.pk, Decimal("100")),
    }
    assert july.total_amount == Decimal("2322") + Decimal("42")
    assert RollLine.objects.get(pk=line.pk).amount == Decimal("758")  # the June line is untouched
    august = approved_roll(users, AUG)
    assert not RollLine.objects.filter(roll=august, kind="adjustment").exists()
    from safetynet.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        rolls.adjustment_create(actor=users["county"], household_id="R001", amount=0, reason="x")
    assert Adjustment.objects.count() == 2


def test_reconciliation_ties_the_roll_to_enrolments_and_last_month(
    users, households, engine, enrolled
):
    june = approved_roll(users, JUNE)
    # July: R002 gets a new amount, the tekun person is stopped, a new household joins.
    engine.set("R002", dibao=(True, 450), since=D(2024, 6, 1))
    services.enrolment_recompute(
        actor=users["county"],
        enrolment_id=enrolled["b"].pk,
        version=None,
        as_of=D(2024, 6, 10),
        reason="income",
    )
    services.enrolment_stop(
        actor=users["county"],
        enrolment_id=enrolled["c"].pk,
        version=None,
        decided_on=D(2024, 6, 20),
        reason="自愿退出",
    )
    d = households("R004", members=2)
    approve(users, engine, d, amount=300, accepted_on=D(2024, 5, 27))
    july = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JULY, today=JULY)
    recon = rolls.roll_reconcile(july)
    s = recon["summary"]
    assert recon["balanced"]
    assert s["previous_month"] == "2024-06-01"
    assert (
        s["carried"]["count"],
        s["new"]["count"],
        s["stopped"]["count"],
        s["changed"]["count"],
    ) == (1, 1, 1, 1)
    assert Decimal(s["changed"]["delta"]) == 40
    assert Decimal(s["stopped"]["total"]) == Decimal("1154")
    assert recon["stopped"][0]["reason"] == "自愿退出"
    assert Decimal(s["regular_total"]) == Decimal("758") + Decimal("450") + Decimal("300")
    assert june.total_amount == Decimal("2322")


def test_recompute_adds_an_amount_period_and_never_edits_history(users, engine, enrolled):
    e = enrolled["a"]
    first = e.amounts.get()
    engine.set("R001", dibao=(True, 800), since=D(2024, 7, 1))
    result = services.enrolment_recompute(
        actor=users["county"],
        enrolment_id=e.pk,
        version=e.version,
        as_of=D(2024, 7, 3),
        reason="parameters",
    )
    assert result["changed"] and result["previous_amount"] == Decimal("758")
    periods = list(
        e.amounts.order_by("from_month").values_list("from_month", "monthly_amount", "reason")
    )
    assert periods == [
        (D(2024, 6, 1), Decimal("758"), "approval"),
        (D(2024, 8, 1), Decimal("800"), "parameters"),
    ]
    first.refresh_from_db()
    assert first.monthly_amount == Decimal("758")
    # Nothing changed: no new period.
    again = services.enrolment_recompute(
        actor=users["county"], enrolment_id=e.pk, version=None, as_of=D(2024, 7, 4), reason="review"
    )
    assert not again["changed"] and e.amounts.count() == 2
    july = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=JULY, today=JULY)
    aug = rolls.roll_generate(actor=users["county"], county_code=COUNTY, month=AUG, today=AUG)
    assert RollLine.objects.get(roll=july, enrolment=e).amount == Decimal("758")
    assert RollLine.objects.get(roll=aug, enrolment=e).amount == Decimal("800")
    with pytest.raises(Conflict):
        services.enrolment_recompute(
            actor=users["county"],
            enrolment_id=e.pk,
            version=1,
            as_of=D(2024, 7, 4),
            reason="income",
        )


def test_temporary_assistance_is_paid_once_in_the_next_roll(users, households, engine, enrolled):
    hh = enrolled["hh"]["b"]
    app = services.application_create(
        actor=users["county"],
        household_id=hh.household_id,
        programme="temporary",
        temp_type="emergency",
        need=1800,
        accepted_on=D(2024, 6, 11),
    )
    services.application_decide(
        actor=users["township"],
        application_id=app.pk,
        version=app.version,
        decided_on=D(2024, 6, 12),
        approve=True,
    )
    first = households("R009")
    paid_first = services.application_create(
        actor=users["county"],
        household_id=first.household_id,
        programme="temporary",
        temp_type="emergency",
        need=900,
        accepted_on=D(2024, 6, 11),
    )
    services.temporary_pay_first(
        actor=users["township"],
        application_id=paid_first.pk,
        version=paid_first.version,
        paid_on=D(2024, 6, 11),
        amount=900,
    )
    june = approved_roll(users, JUNE)
    temp = RollLine.objects.get(roll=june, kind="temporary")
    assert temp.application_id == app.pk and temp.amount == Decimal("1800")
    july = approved_roll(users, JULY)
    assert not RollLine.objects.filter(roll=july, kind="temporary").exists()
    # Paid first from the township's reserve: never in a roll.
    assert not RollLine.objects.filter(application=paid_first).exists()


def test_grace_period_keeps_paying_then_stops(users, households, engine):
    hh = households("R020", members=3, employment="migrant")
    e = approve(users, engine, hh, amount=500)
    engine.set("R020", dibao=(False, 0), since=D(2024, 7, 1))
    from safetynet.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):  # beyond the 6-month maximum
        services.enrolment_grace_start(
            actor=users["county"],
            enrolment_id=e.pk,
            version=None,
            as_of=D(2024, 7, 5),
            months=7,
            worker_id_number=hh.people[0].id_number,
        )
    with pytest.raises(ValidationFailed):  # the member named did not find work
        services.enrolment_grace_start(
            actor=users["county"],
            enrolment_id=e.pk,
            version=None,
            as_of=D(2024, 7, 5),
            months=3,
            worker_id_number=hh.people[1].id_number,
        )
    e = services.enrolment_grace_start(
        actor=users["county"],
        enrolment_id=e.pk,
        version=None,
        as_of=D(2024, 7, 5),
        months=3,
        worker_id_number=hh.people[0].id_number,
    )
    assert (e.status, e.grace_from_month, e.end_month) == ("grace", D(2024, 8, 1), D(2024, 10, 1))
    paid = {}
    for month in (D(2024, 8, 1), D(2024, 10, 1), D(2024, 11, 1)):
        roll = rolls.roll_generate(
            actor=users["county"], county_code=COUNTY, month=month, today=month
        )
        paid[month] = RollLine.objects.filter(roll=roll, enrolment=e).count()
    assert paid == {D(2024, 8, 1): 1, D(2024, 10, 1): 1, D(2024, 11, 1): 0}
    assert services.enrolments_close_ended(actor=None, as_of=D(2024, 11, 2)) == 1
    e.refresh_from_db()
    assert e.status == "stopped" and not e.members.filter(active=True).exists()


def test_reviews_due_by_household_type(users, households, engine):
    from safetynet.assistance import selectors

    stable = approve(users, engine, households("R030"), amount=300)
    unstable = approve(users, engine, households("R031"), amount=300, household_type="unstable")
    assert stable.next_review_on == D(2025, 5, 17) and unstable.next_review_on == D(2024, 11, 17)
    due = list(selectors.reviews_due(users["county"], as_of=D(2024, 12, 1)))
    assert due == [unstable]
    assert list(selectors.reviews_due(users["village_2"], as_of=D(2024, 12, 1))) == []
    review = services.enrolment_review(
        actor=users["township"],
        enrolment_id=unstable.pk,
        version=None,
        reviewed_on=D(2024, 12, 2),
        household_type="stable",
    )
    assert review.outcome == "unchanged"
    unstable.refresh_from_db()
    assert unstable.next_review_on == D(2025, 12, 2) and unstable.last_review_on == D(2024, 12, 2)
    assert list(selectors.reviews_due(users["county"], as_of=D(2024, 12, 3))) == []


def test_other_county_rolls_are_separate(users, households, engine, enrolled):
    other = households("R040", village="430224101001")
    from .conftest import OTHER_VILLAGE

    assert other.village_id == OTHER_VILLAGE
    e = approve(
        {**users, "county": users["other_county"], "township": users["other_county"]},
        engine,
        other,
        amount=333,
    )
    roll = rolls.roll_generate(
        actor=users["other_county"], county_code=OTHER_COUNTY, month=JUNE, today=JUNE
    )
    assert list(RollLine.objects.filter(roll=roll).values_list("enrolment_id", flat=True)) == [e.pk]


def test_registry_changes_after_the_last_amount_are_listed_for_recompute(users, engine, enrolled):
    from safetynet.assistance import selectors
    from safetynet.registry.models import Income

    assert list(selectors.changed_since_last_amount(users["county"])) == []
    income = Income.objects.get(household=enrolled["hh"]["b"])
    income.wage += 1000
    income.save()
    assert list(selectors.changed_since_last_amount(users["county"])) == [enrolled["b"]]
    assert list(selectors.changed_since_last_amount(users["village_2"])) == []
    # Re-assessed: the amount happens to stay the same, and the change is dealt with.
    result = services.enrolment_recompute(
        actor=users["county"],
        enrolment_id=enrolled["b"].pk,
        version=None,
        as_of=D(2024, 6, 10),
        reason="income",
    )
    assert not result["changed"] and enrolled["b"].amounts.count() == 1
    assert list(selectors.changed_since_last_amount(users["county"])) == []
