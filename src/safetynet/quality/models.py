"""Rectification (整改) of data-quality findings raised by the screen (POLICY §6).

A quality finding (`screening.Finding`, kind "quality") gets a `Rectification` when someone is
assigned to fix it. Its state: assigned → rectified (what was done, who, when) → verified when a
later screening run no longer raises the finding, or reopened when it still does.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from safetynet.core.i18n import bilingual

STATES = [
    ("assigned", "已分派", "Assigned"),
    ("rectified", "已整改待复核", "Rectified, awaiting the next screen"),
    ("verified", "已销号", "Verified by the screen"),
    ("reopened", "复核未通过", "Reopened by the screen"),
]


class Rectification(models.Model):
    finding = models.OneToOneField(
        "screening.Finding", on_delete=models.PROTECT, related_name="rectification"
    )
    state = models.CharField(
        _("State"),
        max_length=10,
        choices=[(c, bilingual(zh, en)) for c, zh, en in STATES],
        default="assigned",
        db_index=True,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    due_on = models.DateField(_("Due"), null=True, blank=True)
    action_taken = models.TextField(_("What was done"), blank=True)
    rectified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rectified_on = models.DateField(_("Rectified on"), null=True, blank=True)
    rectified_at = models.DateTimeField(null=True, blank=True, help_text="when it was recorded")
    verified_run = models.ForeignKey(
        "screening.ScreenRun", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reopened_count = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"rectification of {self.finding_id} ({self.state})"

    def state_label(self) -> str:
        for c, zh, en in STATES:
            if c == self.state:
                return bilingual(zh, en)
        return self.state


EVENT_ACTIONS = {
    "assign": ("分派", "assigned"),
    "rectify": ("登记整改", "rectification recorded"),
    "verify": ("筛查复核通过，销号", "verified by the screen"),
    "reopen": ("筛查仍发现问题，重新打开", "reopened by the screen"),
}


class RectificationEvent(models.Model):
    """History of a rectification: assignment, the work recorded, the screen's verdicts."""

    rectification = models.ForeignKey(
        Rectification, on_delete=models.PROTECT, related_name="events"
    )
    action = models.CharField(max_length=16)
    from_state = models.CharField(max_length=10, blank=True)
    to_state = models.CharField(max_length=10)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"rectification {self.rectification_id} {self.action}"

    def action_label(self) -> str:
        zh, en = EVENT_ACTIONS.get(self.action, (self.action, self.action))
        return bilingual(zh, en)
