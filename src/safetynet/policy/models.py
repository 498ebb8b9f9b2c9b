"""Officers' parameter overrides: dated, area-scoped values that win ties with the YAML files.

Overrides are append-only (a correction is a newer override); each one is audited with its
reason. Resolution is the same as for the files (POLICY.md §0): the longest area code, then the
latest effective date; at the same area and date an override beats a file entry, and a newer
override beats an older one.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ParameterOverride(models.Model):
    area_code = models.CharField(
        _("area code"), max_length=12, db_index=True, help_text="CN or a 2/4/6/9/12-digit area code"
    )
    parameter = models.CharField(_("parameter"), max_length=80, db_index=True)
    value = models.JSONField(_("value"))
    effective_from = models.DateField(_("effective from"))
    published_on = models.DateField(_("published on"))
    reason = models.TextField(_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["parameter", "area_code", "effective_from", "id"]
        indexes = [models.Index(fields=["parameter", "area_code"])]

    def __str__(self) -> str:
        return f"{self.parameter}@{self.area_code} from {self.effective_from}"
