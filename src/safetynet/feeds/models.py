"""The operational side of department feeds: the batch catalogue and review decisions.

Feed records themselves and their links live in the Parquet lake (`safetynet.feeds.lake`), not
here: they are large and append-only. The database keeps what people decide and what was loaded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class FeedBatch(models.Model):
    """One loaded file. The id is the file's SHA-256 unless the sender gave one."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    batch_id = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=32, db_index=True)
    department = models.CharField(max_length=100)
    file_name = models.CharField(max_length=255)
    file_hash = models.CharField(max_length=64, db_index=True)
    file_format = models.CharField(max_length=10)
    rows_total = models.PositiveIntegerField(default=0)
    rows_loaded = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    reject_path = models.CharField(max_length=500, blank=True)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    loaded_by_label = models.CharField(max_length=150)
    loaded_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by_label = models.CharField(max_length=150, blank=True)
    withdraw_reason = models.TextField(blank=True)
    # Linkage summary of the latest `feed link` run over this batch.
    linked_at = models.DateTimeField(null=True, blank=True)
    links_exact = models.PositiveIntegerField(default=0)
    links_typo = models.PositiveIntegerField(default=0)
    links_probabilistic = models.PositiveIntegerField(default=0)
    links_household = models.PositiveIntegerField(default=0)
    links_review = models.PositiveIntegerField(default=0)
    links_unlinked = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-loaded_at", "batch_id"]
        indexes = [models.Index(fields=["kind", "status"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.batch_id[:12]}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class LinkDecision(models.Model):
    """A reviewer's confirmation or rejection of one record ↔ person link.

    Keyed by the record's identity (kind, department, record_id), not by batch, so the decision
    is re-applied when the department sends the same record again in a later batch.
    """

    class Decision(models.TextChoices):
        CONFIRM = "confirm", _("Confirmed")
        REJECT = "reject", _("Rejected")

    kind = models.CharField(max_length=32)
    department = models.CharField(max_length=100)
    record_id = models.CharField(max_length=64)
    id_number = models.CharField(max_length=18, help_text="the registry person decided about")
    household_id = models.CharField(max_length=32, blank=True)
    village_code = models.CharField(max_length=12, blank=True, db_index=True)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    method = models.CharField(max_length=16, blank=True, help_text="link method when decided")
    score = models.FloatField(null=True, blank=True)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_label = models.CharField(max_length=150)
    decided_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "department", "record_id", "id_number"],
                name="feeds_decision_record_person",
            )
        ]
        indexes = [models.Index(fields=["kind", "department", "record_id"])]

    def __str__(self) -> str:
        return f"{self.kind}/{self.record_id} {self.decision} {self.id_number}"
