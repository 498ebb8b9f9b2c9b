"""Monthly payment rolls (发放花名册) per county: generate, check (maker), approve (checker),
export the bank file, record failed payments, reconcile.

Generation is set-based: one query selects every enrolment due in the month with its amount
(the latest amount period not after the month), one query finds deaths, and the lines are
inserted in bulk. An approved roll is locked: the services refuse to touch it, its version
no longer moves, and database triggers reject any change to it or its lines. Corrections are
`Adjustment` rows, paid (or recovered) as lines of a later roll; failed payments are
reissued as lines of a later roll.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from safetynet.areas.models import Area
from safetynet.core import audit
from safetynet.core.errors import NotFound, PermissionDenied, TransitionNotAllowed, ValidationFailed
from safetynet.registry.models import Household, Person

from . import access, clocks
from .models import (
    Adjustment,
    AmountPeriod,
    Application,
    ChangeProposal,
    Enrolment,
    EnrolmentMember,
    PaymentFailure,
    PaymentOverride,
    Roll,
    RollLine,
)
from .services import _check_version, deaths_detect

REGULAR_KINDS = ("dibao", "single", "tekun")
ROLL_AUDIT_FIELDS = [
    "status",
    "version",
    "line_count",
    "total_amount",
    "checked_by_id",
    "approved_by_id",
]


def _locked_error(roll: Roll) -> TransitionNotAllowed:
    return TransitionNotAllowed(
        f"{roll.month:%Y年%m月} 的发放花名册已审批锁定，不能修改；更正请在以后月份做补发/扣减",
        f"the roll of {roll.month:%Y-%m} is approved and locked; corrections go into a later roll "
        "as adjustments",
    )


def _get_roll(actor, roll_id: int, *, lock: bool = True) -> Roll:
    qs = Roll.objects.select_for_update() if lock else Roll.objects.all()
    return access.get_scoped(actor, qs, what_zh="发放花名册", what_en="payment roll", pk=roll_id)


def _audit_roll(
    roll: Roll, *, actor, action: str, before: dict | None, after: dict | None, note=""
):
    audit.record(
        actor=actor,
        action=action,
        obj=roll,
        area_code=roll.county_code,
        before=before,
        after=after,
        note=note,
    )


# --------------------------------------------------------------------------- due enrolments


def due_enrolments(county_code: str, month: dt.date):
    """Enrolments to pay in a month, with the amount in force, as one queryset."""
    amount = (
        AmountPeriod.objects.filter(enrolment=OuterRef("pk"), from_month__lte=month)
        .order_by("-from_month", "-id")
        .values("monthly_amount")[:1]
    )
    return (
        Enrolment.objects.filter(county_code=county_code, start_month__lte=month)
        .filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
        .annotate(amount=Subquery(amount))
    )


def death_withheld(county_code: str, month: dt.date) -> set[int]:
    """Enrolments not to pay in `month` because everyone they pay for died before it."""
    personal = set(
        ChangeProposal.objects.filter(
            kind="death",
            enrolment__county_code=county_code,
            event_date__lt=month,
            enrolment__programme__in=["single", "tekun"],
        ).values_list("enrolment_id", flat=True)
    )
    dead_before = ChangeProposal.objects.filter(
        kind="death",
        enrolment=OuterRef("enrolment"),
        person=OuterRef("person"),
        event_date__lt=month,
    )
    alive = set(
        EnrolmentMember.objects.filter(
            enrolment__county_code=county_code, enrolment__programme="dibao", from_month__lte=month
        )
        .filter(Q(to_month__isnull=True) | Q(to_month__gte=month))
        .exclude(Exists(dead_before))
        .values_list("enrolment_id", flat=True)
        .distinct()
    )
    dibao_due = set(
        due_enrolments(county_code, month).filter(programme="dibao").values_list("id", flat=True)
    )
    return personal | (dibao_due - alive)


# --------------------------------------------------------------------------- generate


@transaction.atomic
def roll_generate(
    *,
    actor,
    county_code: str,
    month: dt.date,
    version: int | None = None,
    feeds=None,
    today: dt.date | None = None,
) -> Roll:
    """Build (or rebuild, while not approved) the roll of a county for a month."""
    access.require_role(actor, access.COUNTY_UP, "生成发放花名册", "generating a payment roll")
    access.require_scope(actor, county_code)
    if not Area.objects.filter(code=county_code, level=Area.Level.COUNTY).exists():
        raise NotFound(f"未找到县级区划 {county_code}", f"county {county_code} not found")
    month = clocks.month_start(month)
    today = today or timezone.localdate()
    roll = Roll.objects.select_for_update().filter(county_code=county_code, month=month).first()
    before = None
    if roll is not None:
        if roll.locked:
            raise _locked_error(roll)
        _check_version(roll, version, "发放花名册", "payment roll")
        before = audit.snapshot(roll, ROLL_AUDIT_FIELDS)
        RollLine.objects.filter(roll=roll).delete()
        roll.version += 1
    else:
        roll = Roll(county_code=county_code, month=month)
    roll.status = Roll.Status.DRAFT
    roll.checked_by = roll.approved_by = None
    roll.checked_at = roll.approved_at = None
    roll.generated_by = actor if access.is_user(actor) else None
    roll.generated_at = timezone.now()
    roll.save()

    deaths_detect(actor=actor, as_of=today, feeds=feeds, county_code=county_code)
    lines, report = _build_lines(roll)
    RollLine.objects.bulk_create(lines, batch_size=5000)
    totals = RollLine.objects.filter(roll=roll).aggregate(n=Count("id"), total=Sum("amount"))
    roll.line_count = totals["n"] or 0
    roll.total_amount = totals["total"] or Decimal("0")
    roll.check_report = {"generation": report}
    roll.save()
    _audit_roll(
        roll,
        actor=actor,
        action="generate",
        before=before,
        after={**audit.snapshot(roll, ROLL_AUDIT_FIELDS), "withheld": len(report["withheld"])},
    )
    return roll


REGULAR_LINES_SQL = """
INSERT INTO {line} (roll_id, kind, enrolment_id, household_id, person_id, village_code,
                    payee_name, account, amount, note, override_id)
SELECT roll_id, kind, enrolment_id, household_id, person_id, village_code, payee_name, account,
       amount, note, override_id
FROM (
    SELECT %s AS roll_id, e.programme AS kind, e.id AS enrolment_id, e.household_id,
           e.person_id, e.village_code,
           COALESCE(p.name, (SELECT h.name FROM {person} h
                             WHERE h.household_id = e.household_id AND h.relation = 'head'
                             ORDER BY h.id LIMIT 1), '') AS payee_name,
           COALESCE(hh.bank_account, '') AS account,
           (SELECT ap.monthly_amount FROM {period} ap
            WHERE ap.enrolment_id = e.id AND ap.from_month <= %s
            ORDER BY ap.from_month DESC, ap.id DESC LIMIT 1) AS amount,
           '' AS note, o.id AS override_id
    FROM {enrolment} e
    JOIN {household} hh ON hh.id = e.household_id
    LEFT JOIN {person} p ON p.id = e.person_id
    LEFT JOIN {override} o ON o.enrolment_id = e.id AND o.month = %s
    WHERE e.county_code = %s AND e.start_month <= %s
      AND (e.end_month IS NULL OR e.end_month >= %s)
) due
WHERE amount > 0
"""


def _insert_regular_lines(roll: Roll) -> dict:
    """One INSERT ... SELECT for every enrolment due in the month, with the amount in force;
    then the lines of enrolments whose people all died before the month (and have no
    override) come out again, while the roll is still a draft."""
    county, month = roll.county_code, roll.month
    withheld = death_withheld(county, month)
    overrides = set(
        PaymentOverride.objects.filter(enrolment__county_code=county, month=month).values_list(
            "enrolment_id", flat=True
        )
    )
    sql = REGULAR_LINES_SQL.format(
        line=RollLine._meta.db_table,
        person=Person._meta.db_table,
        period=AmountPeriod._meta.db_table,
        enrolment=Enrolment._meta.db_table,
        household=Household._meta.db_table,
        override=PaymentOverride._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [roll.pk, month, month, county, month, month])
    held = sorted(withheld - overrides)
    for start in range(0, len(held), 5000):
        RollLine.objects.filter(roll=roll, enrolment_id__in=held[start : start + 5000]).delete()
    return {"withheld": held, "overridden": sorted(withheld & overrides)}


def _build_lines(roll: Roll) -> tuple[list[RollLine], dict]:
    """Regular lines go in by SQL; the few one-off lines are built here."""
    county, month = roll.county_code, roll.month
    report = _insert_regular_lines(roll)
    head_name = Person.objects.filter(household=OuterRef("household_id"), relation="head").values(
        "name"
    )[:1]
    lines: list[RollLine] = []
    temporary = (
        Application.objects.filter(
            county_code=county,
            programme="temporary",
            status="approved",
            advance_paid_on__isnull=True,
            decided_on__lt=clocks.next_month(month),
            approved_amount__gt=0,
        )
        .exclude(Exists(RollLine.objects.filter(application=OuterRef("pk"))))
        .annotate(head=Subquery(head_name))
        .values_list(
            "id",
            "household_id",
            "village_code",
            "household__bank_account",
            "approved_amount",
            "head",
        )
    )
    for app_id, hh, village, account, amount, head in temporary:
        lines.append(
            RollLine(
                roll=roll,
                kind="temporary",
                application_id=app_id,
                household_id=hh,
                village_code=village,
                payee_name=head or "",
                account=account or "",
                amount=amount,
            )
        )

    adjustments = (
        Adjustment.objects.filter(county_code=county)
        .exclude(Exists(RollLine.objects.filter(adjustment=OuterRef("pk"))))
        .annotate(head=Subquery(head_name))
        .values_list(
            "id",
            "household_id",
            "enrolment_id",
            "village_code",
            "household__bank_account",
            "amount",
            "reason",
            "head",
        )
    )
    for adj_id, hh, eid, village, account, amount, reason, head in adjustments:
        lines.append(
            RollLine(
                roll=roll,
                kind="adjustment",
                adjustment_id=adj_id,
                household_id=hh,
                enrolment_id=eid,
                village_code=village,
                payee_name=head or "",
                account=account or "",
                amount=amount,
                note=reason[:200],
            )
        )

    failures = (
        PaymentFailure.objects.filter(
            line__roll__county_code=county,
            line__roll__status="approved",
            line__roll__month__lt=month,
        )
        .exclude(Exists(RollLine.objects.filter(reissue_of=OuterRef("line"))))
        .values_list(
            "line_id",
            "line__household_id",
            "line__enrolment_id",
            "line__person_id",
            "line__village_code",
            "line__household__bank_account",
            "line__amount",
            "line__payee_name",
            "line__roll__month",
        )
    )
    for line_id, hh, eid, person, village, account, amount, payee, paid_month in failures:
        lines.append(
            RollLine(
                roll=roll,
                kind="reissue",
                reissue_of_id=line_id,
                household_id=hh,
                enrolment_id=eid,
                person_id=person,
                village_code=village,
                payee_name=payee,
                account=account or "",
                amount=amount,
                note=f"{paid_month:%Y-%m} 发放失败重发 / reissue",
            )
        )
    return lines, report


# --------------------------------------------------------------------------- check / approve


@transaction.atomic
def roll_check(*, actor, roll_id: int, version: int | None) -> Roll:
    """The maker checks the roll (totals, accounts, changes from last month) and submits it."""
    access.require_user(actor, "核对花名册", "checking a roll")
    access.require_role(actor, access.COUNTY_UP, "核对花名册", "checking a roll")
    roll = _get_roll(actor, roll_id)
    if roll.locked:
        raise _locked_error(roll)
    _check_version(roll, version, "发放花名册", "payment roll")
    if roll.status != Roll.Status.DRAFT:
        raise TransitionNotAllowed(
            "花名册已核对，等待审批", "the roll is already checked and waits for approval"
        )
    before = audit.snapshot(roll, ROLL_AUDIT_FIELDS)
    report = dict(roll.check_report or {})
    report["check"] = roll_check_report(roll)
    roll.check_report = report
    roll.status = Roll.Status.CHECKED
    roll.checked_by = actor
    roll.checked_at = timezone.now()
    roll.version += 1
    roll.save()
    _audit_roll(
        roll,
        actor=actor,
        action="check",
        before=before,
        after=audit.snapshot(roll, ROLL_AUDIT_FIELDS),
    )
    return roll


def roll_check_report(roll: Roll) -> dict:
    lines = RollLine.objects.filter(roll=roll)
    by_kind = {
        row["kind"]: {"count": row["n"], "total": str(row["total"])}
        for row in lines.values("kind")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by("kind")
    }
    missing_account = lines.filter(account="").values("household_id").distinct().count()
    net = lines.values("household_id").annotate(total=Sum("amount")).filter(total__lte=0).count()
    recon = roll_reconcile(roll)
    return {
        "by_kind": by_kind,
        "households_without_account": missing_account,
        "households_not_positive": net,
        "reconcile": recon["summary"],
        "balanced": recon["balanced"],
    }


@transaction.atomic
def roll_approve(*, actor, roll_id: int, version: int | None) -> Roll:
    """The checker approves: a different person than the maker. The roll is locked from now on."""
    access.require_user(actor, "审批花名册", "approving a roll")
    access.require_role(actor, access.COUNTY_UP, "审批花名册", "approving a roll")
    roll = _get_roll(actor, roll_id)
    if roll.locked:
        raise _locked_error(roll)
    _check_version(roll, version, "发放花名册", "payment roll")
    if roll.status != Roll.Status.CHECKED:
        raise TransitionNotAllowed(
            "花名册须先核对才能审批", "the roll must be checked before approval"
        )
    if roll.checked_by_id == actor.pk:
        raise PermissionDenied(
            "审批人不能与核对人相同（双人复核）",
            "the approver must be a different person from the one who checked it",
        )
    before = audit.snapshot(roll, ROLL_AUDIT_FIELDS)
    roll.status = Roll.Status.APPROVED
    roll.approved_by = actor
    roll.approved_at = timezone.now()
    roll.version += 1
    roll.save()
    _audit_roll(
        roll,
        actor=actor,
        action="approve",
        before=before,
        after=audit.snapshot(roll, ROLL_AUDIT_FIELDS),
    )
    return roll


# --------------------------------------------------------------------------- corrections


@transaction.atomic
def adjustment_create(
    *,
    actor,
    household_id: str,
    amount,
    reason: str,
    enrolment_id: int | None = None,
    original_line_id: int | None = None,
) -> Adjustment:
    """A correction paid (or recovered, negative) in the next roll of the county."""
    access.require_role(actor, access.COUNTY_UP, "补发/扣减", "an adjustment")
    household = Household.objects.filter(household_id=household_id).first()
    if household is None:
        raise NotFound(f"未找到户 {household_id}", f"household {household_id} not found")
    access.require_scope(actor, household.village_id)
    try:
        amount = Decimal(str(amount))
    except Exception as exc:  # noqa: BLE001
        raise ValidationFailed(f"金额无效：{amount!r}", f"invalid amount: {amount!r}") from exc
    if amount == 0:
        raise ValidationFailed("补发/扣减金额不能为 0", "an adjustment cannot be 0")
    if not reason.strip():
        raise ValidationFailed("补发/扣减须写明原因", "an adjustment needs its reason")
    if (
        original_line_id is not None
        and not RollLine.objects.filter(pk=original_line_id, household=household).exists()
    ):
        raise NotFound("原发放记录不属于该户", "the original line is not this household's")
    adj = Adjustment.objects.create(
        county_code=household.village_id[:6],
        village_code=household.village_id,
        household=household,
        enrolment_id=enrolment_id,
        original_line_id=original_line_id,
        amount=amount,
        reason=reason.strip(),
        created_by=actor if access.is_user(actor) else None,
    )
    audit.record(
        actor=actor,
        action="create",
        obj=adj,
        area_code=adj.village_code,
        after=audit.snapshot(
            adj, ["household_id", "enrolment_id", "original_line_id", "amount", "reason"]
        ),
    )
    return adj


@transaction.atomic
def payment_failure_record(
    *, actor, line_id: int, reason: str, reported_on: dt.date
) -> PaymentFailure:
    """The bank failed or returned a payment: it will be reissued in a later roll."""
    access.require_role(actor, access.COUNTY_UP, "登记发放失败", "recording a failed payment")
    line = access.get_scoped(
        actor,
        RollLine.objects.select_related("roll"),
        what_zh="发放记录",
        what_en="roll line",
        pk=line_id,
    )
    if not line.roll.locked:
        raise TransitionNotAllowed(
            "只有已审批花名册的发放可以登记失败", "only lines of approved rolls can fail"
        )
    if line.amount <= 0:
        raise ValidationFailed("扣减记录不能登记为发放失败", "a recovery line cannot fail")
    if PaymentFailure.objects.filter(line=line).exists():
        raise TransitionNotAllowed(
            "该笔发放已登记失败", "this payment is already recorded as failed"
        )
    if not reason.strip():
        raise ValidationFailed("请写明失败原因", "give the bank's reason")
    failure = PaymentFailure.objects.create(
        line=line,
        reason=reason.strip(),
        reported_on=reported_on,
        created_by=actor if access.is_user(actor) else None,
    )
    audit.record(
        actor=actor,
        action="payment_failed",
        obj=failure,
        area_code=line.village_code,
        after={"line": line.pk, "amount": line.amount, "reason": failure.reason},
    )
    return failure


@transaction.atomic
def payment_override_create(
    *, actor, enrolment_id: int, month: dt.date, reason: str
) -> PaymentOverride:
    """Explicitly allow paying a month after a recorded death (e.g. a death record in dispute)."""
    access.require_user(actor, "死亡后继续发放的例外", "an override to pay after a death")
    access.require_role(
        actor, access.COUNTY_UP, "死亡后继续发放的例外", "an override to pay after a death"
    )
    enrolment = access.get_scoped(
        actor, Enrolment.objects.all(), what_zh="救助对象", what_en="enrolment", pk=enrolment_id
    )
    if len(reason.strip()) < 4:
        raise ValidationFailed("例外发放须写明充分理由", "an override needs a real reason")
    month = clocks.month_start(month)
    if PaymentOverride.objects.filter(enrolment=enrolment, month=month).exists():
        raise TransitionNotAllowed("该月已有例外批准", "this month already has an override")
    override = PaymentOverride.objects.create(
        enrolment=enrolment, month=month, reason=reason.strip(), created_by=actor
    )
    audit.record(
        actor=actor,
        action="override",
        obj=override,
        area_code=enrolment.village_code,
        after={"enrolment": enrolment.pk, "month": month, "reason": override.reason},
    )
    return override


# --------------------------------------------------------------------------- export


EXPORT_COLUMNS = [
    ("seq", "序号"),
    ("county_code", "县代码"),
    ("village_code", "村代码"),
    ("household_id", "户编号"),
    ("payee_name", "收款人"),
    ("account", "一卡通账号"),
    ("amount", "金额(元)"),
    ("items", "发放项目"),
]


def roll_export(*, actor, roll_id: int, fmt: str = "csv", out_dir: Path | None = None) -> dict:
    """The bank file: one row per household, full account numbers. County finance only; audited."""
    access.require_user(actor, "导出银行发放文件", "exporting the bank file")
    roll = _get_roll(actor, roll_id, lock=False)
    if not actor.finance or actor.area_id != roll.county_code:
        raise PermissionDenied(
            "只有本县财务人员可以导出银行发放文件（含完整账号）",
            "only a finance officer of this county may export the bank file "
            "(it has full account numbers)",
        )
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(f"格式须为 csv 或 xlsx：{fmt}", f"format must be csv or xlsx: {fmt}")
    if not roll.locked:
        raise TransitionNotAllowed("花名册审批后才能导出", "only an approved roll can be exported")
    rows, excluded = bank_rows(roll)
    out_dir = Path(out_dir or Path(settings.EXPORT_DIR) / "rolls")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"roll_{roll.county_code}_{roll.month:%Y%m}_v{roll.version}.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.writer(fh)
            writer.writerow([zh for _, zh in EXPORT_COLUMNS])
            for row in rows:
                writer.writerow([row[k] for k, _ in EXPORT_COLUMNS])
    else:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = f"{roll.month:%Y%m}"
        ws.append([zh for _, zh in EXPORT_COLUMNS])
        for row in rows:
            ws.append([row[k] if k != "amount" else float(row[k]) for k, _ in EXPORT_COLUMNS])
            for col in (2, 3, 4, 6):  # codes and accounts are text, never numbers
                ws.cell(row=ws.max_row, column=col).number_format = "@"
        wb.save(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    total = sum((Decimal(r["amount"]) for r in rows), Decimal("0"))
    audit.record(
        actor=actor,
        action="export_bank_file",
        obj=roll,
        area_code=roll.county_code,
        after={
            "path": str(path),
            "format": fmt,
            "rows": len(rows),
            "total": total,
            "sha256": digest,
            "excluded": len(excluded),
        },
        note="完整账号导出 / full account numbers exported",
    )
    return {"path": path, "rows": len(rows), "total": total, "excluded": excluded, "sha256": digest}


def bank_rows(roll: Roll) -> tuple[list[dict], list[dict]]:
    per_household: dict[str, dict] = {}
    items: dict[str, set] = defaultdict(set)
    qs = (
        RollLine.objects.filter(roll=roll)
        .values_list(
            "household_id",
            "household__household_id",
            "village_code",
            "payee_name",
            "account",
            "amount",
            "kind",
            "person_id",
        )
        .order_by("village_code", "household_id", "id")
    )
    for hh, hid, village, payee, account, amount, kind, person in qs.iterator(chunk_size=5000):
        row = per_household.setdefault(
            hh,
            {
                "household_id": hid,
                "village_code": village,
                "payee_name": payee,
                "account": account,
                "amount": Decimal("0"),
                "person": person,
            },
        )
        if row["person"] and not person:  # the household's own line names the head as payee
            row["payee_name"], row["person"] = payee, None
        row["amount"] += amount
        row["account"] = row["account"] or account
        items[hh].add(kind)
    rows, excluded = [], []
    for hh, row in per_household.items():
        row["items"] = ";".join(sorted(items[hh]))
        row["county_code"] = roll.county_code
        if row["amount"] <= 0 or not row["account"]:
            excluded.append(
                {
                    "household_id": row["household_id"],
                    "amount": str(row["amount"]),
                    "reason": "no account" if not row["account"] else "not positive",
                }
            )
            continue
        rows.append(row)
    for i, row in enumerate(rows, start=1):
        row["seq"] = i
        row["amount"] = f"{row['amount']:.2f}"
    return rows, excluded


# --------------------------------------------------------------------------- reconcile


def roll_reconcile(roll: Roll) -> dict:
    """Tie a roll to the enrolments due and to the previous month's roll of the county."""
    prev = Roll.objects.filter(
        county_code=roll.county_code, month=clocks.add_months(roll.month, -1)
    ).first()

    def regular(r: Roll | None) -> dict[int, Decimal]:
        if r is None:
            return {}
        return dict(
            RollLine.objects.filter(roll=r, kind__in=REGULAR_KINDS).values_list(
                "enrolment_id", "amount"
            )
        )

    this, before = regular(roll), regular(prev)
    carried = [e for e in this if e in before and this[e] == before[e]]
    changed = [e for e in this if e in before and this[e] != before[e]]
    new = [e for e in this if e not in before]
    stopped = [e for e in before if e not in this]
    due = due_enrolments(roll.county_code, roll.month)
    due_count = due.count()
    withheld = (roll.check_report or {}).get("generation", {}).get("withheld", [])
    zero = due.filter(Q(amount__isnull=True) | Q(amount__lte=0)).exclude(pk__in=withheld).count()
    other = {
        row["kind"]: {"count": row["n"], "total": row["total"]}
        for row in RollLine.objects.filter(roll=roll)
        .exclude(kind__in=REGULAR_KINDS)
        .values("kind")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by("kind")
    }
    this_total = sum(this.values(), Decimal("0"))
    prev_total = sum(before.values(), Decimal("0"))
    delta_new = sum((this[e] for e in new), Decimal("0"))
    delta_stopped = sum((before[e] for e in stopped), Decimal("0"))
    delta_changed = sum((this[e] - before[e] for e in changed), Decimal("0"))
    other_total = sum((v["total"] for v in other.values()), Decimal("0"))
    balanced = (
        prev_total + delta_new - delta_stopped + delta_changed == this_total
        and this_total + other_total == roll.total_amount
        and len(this) + len(withheld) + zero == due_count
    )
    stop_info = dict(Enrolment.objects.filter(pk__in=stopped).values_list("pk", "stop_reason"))
    summary = {
        "month": roll.month.isoformat(),
        "previous_month": prev.month.isoformat() if prev else None,
        "enrolments_due": due_count,
        "regular_lines": len(this),
        "withheld_deaths": len(withheld),
        "zero_amount": zero,
        "carried": {
            "count": len(carried),
            "total": str(sum((this[e] for e in carried), Decimal("0"))),
        },
        "new": {"count": len(new), "total": str(delta_new)},
        "stopped": {"count": len(stopped), "total": str(delta_stopped)},
        "changed": {"count": len(changed), "delta": str(delta_changed)},
        "previous_regular_total": str(prev_total),
        "regular_total": str(this_total),
        "other": {k: {"count": v["count"], "total": str(v["total"])} for k, v in other.items()},
        "roll_total": str(roll.total_amount),
    }
    return {
        "summary": summary,
        "balanced": balanced,
        "changed": [
            {"enrolment": e, "before": str(before[e]), "after": str(this[e])} for e in changed
        ],
        "new": new,
        "stopped": [{"enrolment": e, "reason": stop_info.get(e, "")} for e in stopped],
        "withheld": withheld,
    }
