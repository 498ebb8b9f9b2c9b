"""Safety-net programmes: applications, enrolments, amounts, reviews and monthly payment rolls.

Money history is append-only: an enrolment's monthly amount is the latest `AmountPeriod` whose
`from_month` is not after the month; a recompute adds a period, never edits one. An approved
roll is locked: its lines are never changed (service refusal, a version column and database
triggers); corrections are `Adjustment` rows that become lines of a later roll.

Every writer is in `services.py`; every reader in `selectors.py`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from safetynet.core.i18n import bilingual

MONEY = {"max_digits": 12, "decimal_places": 2}
USER = settings.AUTH_USER_MODEL


class Programme(models.TextChoices):
    DIBAO = "dibao", bilingual("低保", "Dibao")
    SINGLE = "single", bilingual("单人户施保", "Single-person dibao")
    TEKUN = "tekun", bilingual("特困供养", "Extreme-poverty support")
    TEMPORARY = "temporary", bilingual("临时救助", "Temporary assistance")


ENROLLED_PROGRAMMES = (Programme.DIBAO, Programme.SINGLE, Programme.TEKUN)


class Application(models.Model):
    """One application for one programme, with its statutory procedure and clocks."""

    class TempType(models.TextChoices):
        EMERGENCY = "emergency", bilingual("急难型", "Emergency")
        EXPENDITURE = "expenditure", bilingual("支出型", "Expenditure")

    class Track(models.TextChoices):
        STANDARD = "standard", bilingual("一般", "Standard")
        DELEGATED = "delegated", bilingual("委托乡镇审核确认", "Delegated to the township")
        SPECIAL = "special", bilingual("特殊情况", "Special case")

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", bilingual("办理中", "In progress")
        ADVANCE_PAID = "advance_paid", bilingual("先行救助待补办", "Paid first, to document")
        APPROVED = "approved", bilingual("已批准", "Approved")
        REFUSED = "refused", bilingual("不予批准", "Refused")
        WITHDRAWN = "withdrawn", bilingual("已撤回", "Withdrawn")

    class Approver(models.TextChoices):
        TOWNSHIP = "township", bilingual("乡镇", "Township")
        COUNTY = "county", bilingual("县级", "County")

    programme = models.CharField(max_length=10, choices=Programme.choices)
    household = models.ForeignKey(
        "registry.Household", on_delete=models.PROTECT, related_name="assistance_applications"
    )
    person = models.ForeignKey(
        "registry.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assistance_applications",
        help_text="the applicant for single-person dibao and tekun",
    )
    village_code = models.CharField(max_length=12, db_index=True)
    county_code = models.CharField(max_length=6, db_index=True)
    temp_type = models.CharField(max_length=12, blank=True, choices=TempType.choices)
    need = models.DecimalField(null=True, blank=True, **MONEY)
    event = models.TextField(blank=True, help_text="what happened (temporary assistance)")
    source_case_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="monitoring case it came from"
    )
    track = models.CharField(max_length=10, choices=Track.choices, default=Track.STANDARD)
    special_reason = models.TextField(blank=True)
    related_to_staff = models.BooleanField(
        default=False, help_text="close relative of assistance staff or a village committee member"
    )
    related_note = models.TextField(blank=True)

    accepted_on = models.DateField()
    assessment = models.JSONField(default=dict, blank=True)
    assessment_as_of = models.DateField(null=True, blank=True)

    survey_started_on = models.DateField(null=True, blank=True)
    survey_completed_on = models.DateField(null=True, blank=True)
    investigators = models.JSONField(default=list, blank=True)
    family_signed = models.BooleanField(default=False)
    survey_findings = models.TextField(blank=True)
    county_visit_on = models.DateField(null=True, blank=True)

    check_started_on = models.DateField(null=True, blank=True)
    check_passed = models.BooleanField(null=True, blank=True)
    check_note = models.TextField(blank=True)

    notice_start = models.DateField(null=True, blank=True)
    notice_end = models.DateField(null=True, blank=True)
    notice_objection = models.BooleanField(default=False)
    notice_note = models.TextField(blank=True)

    decided_on = models.DateField(null=True, blank=True)
    decided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approver_level = models.CharField(max_length=10, blank=True, choices=Approver.choices)
    approved_amount = models.DecimalField(null=True, blank=True, **MONEY)
    case_by_case = models.BooleanField(default=False)
    refusal_reason = models.TextField(blank=True)
    refusal_notified_on = models.DateField(null=True, blank=True)
    rechecked = models.BooleanField(default=False, help_text="county re-check (tekun, ≥ 30 %)")

    advance_paid_on = models.DateField(null=True, blank=True)
    documented_on = models.DateField(null=True, blank=True)

    status = models.CharField(max_length=14, choices=Status.choices, default=Status.IN_PROGRESS)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-accepted_on", "-id"]
        indexes = [models.Index(fields=["county_code", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(programme__in=["single", "tekun"], person__isnull=False)
                | Q(programme__in=["dibao", "temporary"]),
                name="application_person_for_personal_programmes",
            ),
            models.CheckConstraint(
                condition=~Q(programme="temporary") | ~Q(temp_type=""),
                name="application_temporary_has_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_programme_display()} #{self.pk}"


class Enrolment(models.Model):
    """A household (dibao) or a person (single-person dibao, tekun) receiving a programme."""

    class Status(models.TextChoices):
        ACTIVE = "active", bilingual("在保", "Active")
        GRACE = "grace", bilingual("渐退期", "Grace period")
        STOPPED = "stopped", bilingual("已停保", "Stopped")

    class HouseholdType(models.TextChoices):
        STABLE = "stable", bilingual("收入稳定", "Stable income")
        UNSTABLE = "unstable", bilingual("收入不稳定", "Unstable income")

    programme = models.CharField(max_length=10, choices=Programme.choices)
    household = models.ForeignKey(
        "registry.Household", on_delete=models.PROTECT, related_name="assistance_enrolments"
    )
    person = models.ForeignKey(
        "registry.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    application = models.OneToOneField(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="enrolment"
    )
    village_code = models.CharField(max_length=12, db_index=True)
    county_code = models.CharField(max_length=6)
    approved_on = models.DateField()
    start_month = models.DateField(help_text="first month paid (the month after approval)")
    end_month = models.DateField(
        null=True, blank=True, help_text="last month paid (before start_month: never paid)"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    stop_reason = models.TextField(blank=True)
    household_type = models.CharField(
        max_length=8, choices=HouseholdType.choices, default=HouseholdType.STABLE
    )
    last_review_on = models.DateField(null=True, blank=True)
    next_review_on = models.DateField()
    grace_from_month = models.DateField(null=True, blank=True)
    grace_reason = models.TextField(blank=True)
    separately_registered = models.BooleanField(default=False)
    care_level = models.CharField(max_length=10, blank=True)
    last_assessed_at = models.DateTimeField(
        null=True, blank=True, help_text="when the rules last assessed it (approval, recompute)"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["village_code", "id"]
        indexes = [
            models.Index(fields=["county_code", "start_month", "end_month"]),
            models.Index(fields=["next_review_on"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(programme="dibao", person__isnull=True)
                | Q(programme__in=["single", "tekun"], person__isnull=False),
                name="enrolment_person_matches_programme",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_programme_display()} {self.household_id} #{self.pk}"


class EnrolmentMember(models.Model):
    """Who an enrolment covers. A person has at most one active membership in any programme.

    The partial unique index is the database's guarantee that nobody is in dibao and tekun at
    once, in two households' dibao, or enrolled twice (S5 §3(1); S6 "avoid repeated assistance").
    """

    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="members")
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    programme = models.CharField(max_length=10, choices=Programme.choices)
    active = models.BooleanField(default=True)
    from_month = models.DateField()
    to_month = models.DateField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person"], condition=Q(active=True), name="one_active_enrolment_per_person"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} in #{self.enrolment_id}"


class AmountPeriod(models.Model):
    """The monthly amount of an enrolment from a month on. Append-only."""

    class Reason(models.TextChoices):
        APPROVAL = "approval", bilingual("批准", "Approval")
        MEMBERS = "members", bilingual("家庭成员变化", "Members changed")
        INCOME = "income", bilingual("收入变化", "Income changed")
        PARAMETERS = "parameters", bilingual("标准调整", "Parameters changed")
        REVIEW = "review", bilingual("复核", "Review")
        DEATH = "death", bilingual("死亡", "Death")
        CARE = "care", bilingual("护理等级变化", "Care level changed")

    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="amounts")
    from_month = models.DateField()
    monthly_amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=12, choices=Reason.choices)
    note = models.TextField(blank=True)
    assessment = models.JSONField(default=dict, blank=True)
    assessment_as_of = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["enrolment_id", "from_month", "id"]
        indexes = [models.Index(fields=["enrolment", "from_month", "id"])]
        constraints = [
            models.CheckConstraint(condition=Q(monthly_amount__gte=0), name="amount_not_negative")
        ]

    def __str__(self) -> str:
        return f"#{self.enrolment_id} {self.from_month:%Y-%m} {self.monthly_amount}"


class Review(models.Model):
    class Outcome(models.TextChoices):
        UNCHANGED = "unchanged", bilingual("无变化", "Unchanged")
        CHANGED = "changed", bilingual("调整金额", "Amount changed")
        GRACE = "grace", bilingual("进入渐退期", "Grace period")
        STOPPED = "stopped", bilingual("停保", "Stopped")

    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="reviews")
    reviewed_on = models.DateField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    household_type = models.CharField(max_length=8, choices=Enrolment.HouseholdType.choices)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_on", "-id"]

    def __str__(self) -> str:
        return f"#{self.enrolment_id} {self.reviewed_on}"


class ChangeProposal(models.Model):
    """A change the system proposes from evidence (a death) and a person must process in time."""

    class Kind(models.TextChoices):
        DEATH = "death", bilingual("死亡", "Death")

    class Source(models.TextChoices):
        FEED = "feed", bilingual("部门死亡数据", "Deaths feed")
        REGISTRY = "registry", bilingual("户籍状态", "Registry status")

    class State(models.TextChoices):
        OPEN = "open", bilingual("待处理", "Open")
        PROCESSED = "processed", bilingual("已处理", "Processed")

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DEATH)
    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="proposals")
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    event_date = models.DateField(help_text="date of death (detection date when unknown)")
    event_date_known = models.BooleanField(default=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    record_id = models.CharField(max_length=64, blank=True)
    detected_on = models.DateField()
    due_on = models.DateField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    processed_on = models.DateField(null=True, blank=True)
    processed_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "enrolment", "person"], name="one_proposal_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.person_id} #{self.enrolment_id}"


class CareAssessment(models.Model):
    """The six daily-living items of a tekun person (S3 Art. 20–23)."""

    ITEMS = ["eating", "dressing", "bed_transfer", "toilet", "walking_indoors", "bathing"]
    ITEM_LABELS = {
        "eating": bilingual("进食", "Eating"),
        "dressing": bilingual("穿衣", "Dressing"),
        "bed_transfer": bilingual("上下床", "Getting in and out of bed"),
        "toilet": bilingual("如厕", "Using the toilet"),
        "walking_indoors": bilingual("室内行走", "Walking indoors"),
        "bathing": bilingual("洗澡", "Bathing"),
    }

    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    assessed_on = models.DateField()
    items = models.JSONField(help_text="item → true when the person cannot do it")
    failed_count = models.PositiveSmallIntegerField()
    care_level = models.CharField(max_length=10, blank=True, help_text="from the rule engine")
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.person_id} {self.assessed_on} {self.failed_count}"


class Roll(models.Model):
    """The monthly payment roll of one county (发放花名册). Locked once approved."""

    class Status(models.TextChoices):
        DRAFT = "draft", bilingual("草稿", "Draft")
        CHECKED = "checked", bilingual("已核对", "Checked")
        APPROVED = "approved", bilingual("已审批（锁定）", "Approved (locked)")

    county_code = models.CharField(max_length=6)
    month = models.DateField(help_text="first day of the month paid")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)
    line_count = models.PositiveIntegerField(default=0)
    total_amount = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    check_report = models.JSONField(default=dict, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    generated_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    checked_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-month", "county_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["county_code", "month"], name="one_roll_per_county_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.county_code} {self.month:%Y-%m}"

    @property
    def locked(self) -> bool:
        return self.status == self.Status.APPROVED


class RollLineQuerySet(models.QuerySet):
    def delete(self):
        """Lines of an approved roll are never deleted (the database refuses updates too)."""
        if self.filter(roll__status="approved").exists():
            raise LockedRollError
        return super().delete()


class LockedRollError(RuntimeError):
    def __init__(self):
        super().__init__("发放花名册已审批锁定 / the payment roll is approved and locked")


class RollLine(models.Model):
    class Kind(models.TextChoices):
        DIBAO = "dibao", bilingual("低保", "Dibao")
        SINGLE = "single", bilingual("单人户施保", "Single-person dibao")
        TEKUN = "tekun", bilingual("特困供养", "Tekun")
        TEMPORARY = "temporary", bilingual("临时救助", "Temporary assistance")
        ADJUSTMENT = "adjustment", bilingual("补发/扣减", "Adjustment")
        REISSUE = "reissue", bilingual("重新发放", "Reissue")

    roll = models.ForeignKey(Roll, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enrolment = models.ForeignKey(
        Enrolment, null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )
    adjustment = models.OneToOneField(
        "Adjustment", null=True, blank=True, on_delete=models.PROTECT, related_name="line"
    )
    reissue_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reissued_by"
    )
    override = models.ForeignKey(
        "PaymentOverride", null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )
    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(
        "registry.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    village_code = models.CharField(max_length=12)
    payee_name = models.CharField(max_length=50, blank=True)
    account = models.CharField(max_length=40, blank=True, help_text="full account; shown masked")
    amount = models.DecimalField(**MONEY)
    note = models.CharField(max_length=200, blank=True)

    objects = RollLineQuerySet.as_manager()

    class Meta:
        ordering = ["roll_id", "village_code", "id"]
        indexes = [
            models.Index(fields=["roll", "kind"]),
            models.Index(fields=["enrolment", "roll"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.household_id} {self.amount}"

    def delete(self, *args, **kwargs):
        if Roll.objects.filter(pk=self.roll_id, status="approved").exists():
            raise LockedRollError
        return super().delete(*args, **kwargs)


class Adjustment(models.Model):
    """A correction to pay (positive) or recover (negative) in a later roll."""

    county_code = models.CharField(max_length=6, db_index=True)
    village_code = models.CharField(max_length=12)
    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="+")
    enrolment = models.ForeignKey(
        Enrolment, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments"
    )
    original_line = models.ForeignKey(
        RollLine, null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )
    amount = models.DecimalField(**MONEY)
    reason = models.TextField()
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="adjustment_not_zero")]

    def __str__(self) -> str:
        return f"{self.household_id} {self.amount}"


class PaymentFailure(models.Model):
    """A payment the bank failed or returned; reissued as a line of a later roll."""

    line = models.OneToOneField(RollLine, on_delete=models.PROTECT, related_name="failure")
    reason = models.TextField()
    reported_on = models.DateField()
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"failed line {self.line_id}"


class PaymentOverride(models.Model):
    """Explicit permission to pay an enrolment for a month after a recorded death."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="overrides")
    month = models.DateField()
    reason = models.TextField()
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "month"], name="one_override_per_month")
        ]

    def __str__(self) -> str:
        return f"#{self.enrolment_id} {self.month:%Y-%m}"


# Used by labels in templates and the CLI.
STEP_LABELS = {
    "acceptance": bilingual("受理", "Acceptance"),
    "survey_start": bilingual("启动家庭经济状况调查", "Economic survey started"),
    "survey": bilingual("入户调查完成（乡镇意见）", "Survey done (township opinion)"),
    "county_visit": bilingual(
        "县级入户核查（单独登记备案）", "County home visit (separately registered)"
    ),
    "check": bilingual("信息核对", "Information check"),
    "notice": bilingual("村级公示", "Village notice"),
    "decision": bilingual("审核确认", "Decision"),
    "refusal_notice": bilingual("书面告知不予批准理由", "Written reasons for refusal"),
    "advance": bilingual("先行救助", "Paid first"),
    "documented": bilingual("补办手续", "Documented after payment"),
}
