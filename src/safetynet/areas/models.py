from django.db import models
from django.utils.translation import gettext_lazy as _


class Area(models.Model):
    """One administrative division (GB/T 2260 plus statistical township and village codes).

    The level follows from the length of the code: 2 province, 4 prefecture, 6 county,
    9 township, 12 village. A code is a prefix of all codes below it, so "in scope" is a
    prefix test everywhere (see `safetynet.areas.scope`).
    """

    class Level(models.IntegerChoices):
        PROVINCE = 1, _("Province")
        PREFECTURE = 2, _("Prefecture")
        COUNTY = 3, _("County")
        TOWNSHIP = 4, _("Township")
        VILLAGE = 5, _("Village")

    LEVEL_BY_LENGTH = {2: 1, 4: 2, 6: 3, 9: 4, 12: 5}

    code = models.CharField(max_length=12, primary_key=True)
    name = models.CharField(max_length=100)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    former_codes = models.CharField(max_length=200, blank=True, help_text="';'-separated")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def county_code(self) -> str:
        return self.code[:6]

    def former_code_list(self) -> list[str]:
        return [c for c in self.former_codes.split(";") if c]
