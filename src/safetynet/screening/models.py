"""Screening runs and the findings they raise.

A run evaluates the rule catalogue over the households in scope as of a date. Its per-household
results (measures, eligibility) live as Parquet under the data directory (analytical plane);
what people act on — warnings and quality findings — lives here, one row per finding *identity*
(`key`), carried from run to run: new when first seen, still open while seen again, resolved
when a later run no longer raises it.

Which runs raised a finding is not written on it night after night: every successful run whose
scope covers the finding's village either raises it again or resolves it. So a finding was
raised by run R when R covers its village, R is not older than the finding's `first_run` and
the finding was not resolved by R or before (`Finding.objects.raised_by(R)`). A run that
changes nothing about a finding writes nothing to it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ScreenRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    as_of = models.DateField()
    engine = models.CharField(max_length=16, default="duckdb")
    area_codes = models.JSONField(default=list, blank=True, help_text="empty = whole deployment")
    scope_key = models.CharField(
        max_length=500, blank=True, db_index=True, help_text="sorted area codes joined by ';'"
    )
    incremental = models.BooleanField(default=False)
    base_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    progress_note = models.CharField(max_length=200, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True, help_text="parameter values used")
    feed_batches = models.JSONField(default=list, blank=True, help_text="feed batch ids used")
    counts = models.JSONField(default=dict, blank=True)
    results_path = models.CharField(
        max_length=500, blank=True, help_text="Parquet results of the run"
    )
    error = models.TextField(blank=True)
    catalogue_hash = models.CharField(
        max_length=64, blank=True, help_text="fingerprint of the compiled rule catalogue"
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="last progress report")
    task_id = models.CharField(max_length=64, blank=True, help_text="task-queue result id")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"screen #{self.pk} {self.as_of} {self.status}"

    def covers(self, village_code: str) -> bool:
        """Is the village in this run's scope?"""
        return not self.area_codes or any(village_code.startswith(c) for c in self.area_codes)


# a run that stored its findings, or is storing them now (its own transaction sees them)
RAISING = (ScreenRun.Status.SUCCEEDED, ScreenRun.Status.RUNNING)


def in_scope(area_codes: Sequence[str], prefix: str = "") -> Q:
    """Findings whose village lies in the scope (every finding for the whole deployment)."""
    q = Q()
    for code in area_codes:
        q |= Q(**{f"{prefix}village_code__startswith": code})
    return q


def raised_by_q(run: ScreenRun, prefix: str = "") -> Q:
    """Findings `run` raised (`prefix` for a lookup through a relation, e.g. "finding__")."""
    if run.status not in RAISING:  # a failed or queued run stored nothing
        return Q(pk__in=[])
    return (
        in_scope(run.area_codes, prefix)
        & Q(**{f"{prefix}first_run_id__lte": run.pk})
        & (
            Q(**{f"{prefix}resolved_run__isnull": True})
            | Q(**{f"{prefix}resolved_run_id__gt": run.pk})
        )
    )


class FindingQuerySet(models.QuerySet):
    def raised_by(self, run: ScreenRun) -> FindingQuerySet:
        """The findings `run` raised: new ones and those still open then."""
        return self.filter(raised_by_q(run))

    def new(self) -> FindingQuerySet:
        """Open findings that no successful run after their first one has raised again."""
        runs = list(
            ScreenRun.objects.filter(status=ScreenRun.Status.SUCCEEDED)
            .order_by("id")
            .values_list("id", "area_codes")
        )
        firsts = (
            self.filter(state=Finding.State.OPEN)
            .order_by()
            .values_list("first_run_id", flat=True)
            .distinct()
        )
        q = Q(pk__in=[])
        for first in firsts:
            later = [codes for pk, codes in runs if pk > first]
            if any(not codes for codes in later):
                continue  # a run of the whole deployment came after: it raised them all again
            seen_again = in_scope(sorted({c for codes in later for c in codes}))
            q |= Q(first_run_id=first) & (~seen_again if later else Q())
        return self.filter(q, state=Finding.State.OPEN)


class Finding(models.Model):
    class Kind(models.TextChoices):
        WARNING = "warning", _("Monitoring warning")
        QUALITY = "quality", _("Data-quality finding")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    key = models.CharField(max_length=120, unique=True, help_text="kind:check:household:id_number")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    check_id = models.CharField(max_length=20, blank=True, help_text="quality check ID (Q-*)")
    # no index of its own: the (household, kind) index below serves every lookup by household
    household = models.ForeignKey(
        "registry.Household", on_delete=models.PROTECT, related_name="findings", db_index=False
    )
    village_code = models.CharField(max_length=12, db_index=True)
    id_number = models.CharField(max_length=18, blank=True)
    category = models.CharField(max_length=10, blank=True, help_text="unstable, edge or sudden")
    level = models.CharField(max_length=6, blank=True, help_text="red, orange or yellow")
    rules = models.JSONField(default=list, blank=True)
    risk_types = models.JSONField(default=list, blank=True)
    already_monitored = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    explanations = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=list, blank=True, help_text="department record ids")
    digest = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="hash of the stored content (village to evidence): a run rewrites a finding "
        "only when it changed",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    first_run = models.ForeignKey(
        ScreenRun,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="the run that raised it first (or again, after it was resolved)",
    )
    resolved_run = models.ForeignKey(
        ScreenRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True, help_text="last written by a run or a user")

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["village_code", "household_id", "key"]
        indexes = [
            models.Index(fields=["kind", "state"]),
            models.Index(fields=["household", "kind"]),
        ]

    def __str__(self) -> str:
        return self.key

    def raised_by(self, run: ScreenRun) -> bool:
        return (
            run.status in RAISING
            and run.covers(self.village_code)
            and self.first_run_id <= run.pk
            and (self.resolved_run_id is None or self.resolved_run_id > run.pk)
        )

    def last_raised_run(self) -> ScreenRun | None:
        """The latest successful run that raised this finding."""
        runs = ScreenRun.objects.filter(
            status=ScreenRun.Status.SUCCEEDED, pk__gte=self.first_run_id
        ).order_by("-id")
        if self.resolved_run_id is not None:
            runs = runs.filter(pk__lt=self.resolved_run_id)
        return next((r for r in runs.iterator() if r.covers(self.village_code)), None)

    def status_in(self, run: ScreenRun) -> str:
        """new, open (still open) or resolved, relative to `run`."""
        if self.resolved_run_id == run.pk:
            return "resolved"
        if self.first_run_id == run.pk:
            return "new"
        return "open" if self.raised_by(run) else "resolved"
