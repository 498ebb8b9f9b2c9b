from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A staff member. What they may see is decided by `area` and `role` (safetynet.areas.scope)."""

    class Role(models.TextChoices):
        VILLAGE = "village", _("Village cadre")
        TOWNSHIP = "township", _("Township officer")
        COUNTY = "county", _("County officer")
        REGION = "region", _("Regional analyst")
        FEED = "feed", _("Department feed")
        ADMIN = "admin", _("Administrator")

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VILLAGE)
    area = models.ForeignKey(
        "areas.Area", null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    finance = models.BooleanField(
        default=False, help_text=_("May export bank payment files (county finance)")
    )
    display_name = models.CharField(max_length=60, blank=True)

    @property
    def scope_code(self) -> str:
        """The area-code prefix this user may see; '' means everything.

        Administrators, and regional analysts without an area (the region is the whole
        deployment), see everything; a department-feed account sees no household at all; any
        other user without an area sees nothing.
        """
        if self.role == self.Role.FEED:
            return "-"
        if self.role == self.Role.ADMIN or self.is_superuser:
            return ""
        if self.role == self.Role.REGION and not self.area_id:
            return ""
        return self.area_id or "-"  # '-' matches no code: a user without an area sees nothing
