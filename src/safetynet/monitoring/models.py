"""Monitoring cases (防止返贫监测帮扶案件): from a clue to a county decision, the assistance and
follow-up of a monitoring object, and the elimination of its risk (POLICY §1).

Writes go through `safetynet.monitoring.services` only: each transition is one atomic,
audited call guarded by the optimistic `version` of the case. Reads for pages go through
`safetynet.monitoring.selectors`, which applies the user's area scope.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from . import vocab


class Case(models.Model):
    household = models.ForeignKey(
        "registry.Household", on_delete=models.PROTECT, related_name="monitoring_cases"
    )
    source = models.CharField(_("Source"), max_length=20, choices=vocab.choices(vocab.SOURCES))
    state = models.CharField(
        _("State"),
        max_length=16,
        choices=vocab.choices(vocab.STATES),
        default=vocab.CLUE,
        db_index=True,
    )
    clue_date = models.DateField(_("Clue date"))
    clue_note = models.TextField(_("Clue"), blank=True)
    identification_days = models.PositiveSmallIntegerField(
        help_text="the identification limit in force at the clue date (monitoring.identification_days)"
    )
    deadline = models.DateField(_("Decision due"), db_index=True)
    category = models.CharField(
        _("Category"), max_length=10, blank=True, choices=vocab.choices(vocab.CATEGORIES)
    )
    risk_types = models.JSONField(_("Risk types"), default=list, blank=True)
    decided_on = models.DateField(_("County decision"), null=True, blank=True)
    elimination_method = models.CharField(
        max_length=12, blank=True, choices=vocab.choices(vocab.ELIMINATION_METHODS)
    )
    eliminated_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    close_reason = models.TextField(blank=True)
    next_follow_up_on = models.DateField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(state__in=vocab.OPEN_STATES),
                name="monitoring_one_open_case_per_household",
            )
        ]
        indexes = [models.Index(fields=["state", "deadline"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.household_id} {self.state}"

    @property
    def village_code(self) -> str:
        return self.household.village_id

    @property
    def phase(self) -> str:
        return vocab.ELIMINATION if self.state in vocab.ELIMINATION_STATES else vocab.IDENTIFICATION

    @property
    def is_open(self) -> bool:
        return self.state in vocab.OPEN_STATES

    @property
    def is_monitoring_object(self) -> bool:
        return self.state in vocab.MONITORING_STATES

    def state_label(self) -> str:
        return vocab.label(vocab.STATES, self.state)

    def source_label(self) -> str:
        return vocab.label(vocab.SOURCES, self.source)

    def category_label(self) -> str:
        return vocab.label(vocab.CATEGORIES, self.category) if self.category else ""

    def is_overdue(self, today: dt.date) -> bool:
        """Still being identified after the identification limit."""
        return self.state in vocab.IDENTIFICATION_STATES and today > self.deadline

    @property
    def decided_late(self) -> bool:
        return self.decided_on is not None and self.decided_on > self.deadline

    def days_left(self, today: dt.date) -> int:
        return (self.deadline - today).days


class CaseFinding(models.Model):
    """A screening warning attached to a case (the one it raised, or later ones while open)."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="case_findings")
    finding = models.ForeignKey(
        "screening.Finding", on_delete=models.PROTECT, related_name="case_links"
    )
    run = models.ForeignKey(
        "screening.ScreenRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "finding"], name="monitoring_case_finding_once")
        ]

    def __str__(self) -> str:
        return f"case {self.case_id} <- finding {self.finding_id}"


class CaseEvent(models.Model):
    """The case's timeline: every transition, who, when, and the form data."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    on_date = models.DateField(help_text="the business date of the step (visit, decision …)")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"case {self.case_id} {self.action} {self.on_date}"


class Verification(models.Model):
    """Home verification form (入户核实): ≥ 2 investigators, findings, updated income and members."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="verifications")
    phase = models.CharField(max_length=16, choices=vocab.choices(vocab.PHASES))
    visit_date = models.DateField(_("Visit date"))
    investigators = models.JSONField(_("Investigators"), default=list)
    findings = models.TextField(_("Findings"))
    income_year = models.PositiveSmallIntegerField(_("Income year"))
    net_income = models.DecimalField(
        _("Household net income (yuan/year)"), max_digits=14, decimal_places=2
    )
    members_count = models.PositiveSmallIntegerField(_("Members living together"))
    member_changes = models.TextField(_("Changes in members"), blank=True)
    household_confirmed = models.BooleanField(_("Confirmed by the household"), default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"case {self.case_id} {self.phase} verification {self.visit_date}"

    @property
    def pc_net_income(self) -> Decimal:
        if not self.members_count:
            return Decimal("0")
        return (self.net_income / self.members_count).quantize(Decimal("0.01"))


class Notice(models.Model):
    """Village appraisal and public notice (民主评议和公示): once per phase, village only."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="notices")
    phase = models.CharField(max_length=16, choices=vocab.choices(vocab.PHASES))
    start = models.DateField(_("Notice from"))
    end = models.DateField(_("Notice until"))
    appraisal = models.TextField(_("Village appraisal"))
    objections = models.TextField(_("Objections"), blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"case {self.case_id} {self.phase} notice {self.start} to {self.end}"

    @property
    def days(self) -> int:
        """Days posted, both ends included."""
        return (self.end - self.start).days + 1


class Measure(models.Model):
    """An assistance measure (帮扶措施) of a monitoring case."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="measures")
    kind = models.CharField(_("Measure"), max_length=24, choices=vocab.choices(vocab.MEASURE_KINDS))
    description = models.TextField(_("Description"), blank=True)
    responsible = models.CharField(_("Responsible"), max_length=100, blank=True)
    planned_on = models.DateField(_("Planned for"))
    state = models.CharField(
        max_length=10, choices=vocab.choices(vocab.MEASURE_STATES), default="planned"
    )
    delivered_on = models.DateField(_("Delivered on"), null=True, blank=True)
    delivery_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"case {self.case_id} {self.kind} ({self.state})"

    def kind_label(self) -> str:
        return vocab.label(vocab.MEASURE_KINDS, self.kind)

    @property
    def is_development(self) -> bool:
        return self.kind in vocab.DEVELOPMENT_MEASURES


class FollowUp(models.Model):
    """A follow-up visit (跟踪回访) of a monitoring object."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="follow_ups")
    visit_date = models.DateField(_("Visit date"))
    visitors = models.JSONField(_("Visitors"), default=list)
    findings = models.TextField(_("Findings"))
    next_visit_on = models.DateField(_("Next visit"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"case {self.case_id} follow-up {self.visit_date}"
