"""The household registry (formats/registry.md): households, persons, incomes.

Natural keys (household_id, id_number, household+year) are unique; imports upsert on them.
Every change goes through `safetynet.registry.services`, which audits it.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .enums import choices


class Household(models.Model):
    household_id = models.CharField(max_length=32, unique=True)
    village = models.ForeignKey("areas.Area", on_delete=models.PROTECT, related_name="households")
    address = models.CharField(max_length=200, blank=True)
    registered_poor = models.BooleanField(default=False)
    exit_year = models.PositiveSmallIntegerField(null=True, blank=True)
    relocated = models.BooleanField(default=False)
    housing_grade = models.CharField(max_length=1, blank=True, choices=choices("housing_grade"))
    water_secure = models.BooleanField(default=True)
    phone = models.CharField(max_length=20, blank=True)
    bank_account = models.CharField(max_length=40, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["household_id"]
        # updated_at: what an incremental screen asks for (rows changed since its base run)
        indexes = [models.Index(fields=["village"]), models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return self.household_id

    @property
    def county_code(self) -> str:
        return self.village_id[:6]


class Person(models.Model):
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="members")
    id_number = models.CharField(max_length=18, unique=True)
    name = models.CharField(max_length=50, db_index=True)
    relation = models.CharField(max_length=16, choices=choices("relation"))
    sex = models.CharField(max_length=1, blank=True, choices=choices("sex"))
    birth_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, default="active", choices=choices("status"))
    education = models.CharField(max_length=12, blank=True, choices=choices("education"))
    in_school = models.BooleanField(default=False)
    health = models.CharField(max_length=10, default="healthy", choices=choices("health"))
    disability_type = models.CharField(max_length=14, blank=True, choices=choices("disability_type"))
    disability_grade = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    labour = models.CharField(max_length=8, choices=choices("labour"))
    employment = models.CharField(max_length=8, default="none", choices=choices("employment"))
    work_months = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(12)]
    )
    medical_insured = models.BooleanField(default=True)
    pension_insured = models.BooleanField(null=True, blank=True)
    adl_failed = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(6)])
    supporter_capable = models.BooleanField(null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["household_id", "id"]
        indexes = [models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return self.name


MONEY = {"max_digits": 14, "decimal_places": 2, "default": Decimal("0")}

INCOME_FIELDS = [
    "wage",
    "business_income",
    "business_cost",
    "property",
    "pension_basic",
    "pension_other",
    "assistance_received",
    "policy_subsidies",
    "exempt_transfers",
    "other_transfers",
    "education_expense",
    "financial_assets",
]


class Income(models.Model):
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="incomes")
    year = models.PositiveSmallIntegerField()
    wage = models.DecimalField(**MONEY)
    business_income = models.DecimalField(**MONEY)
    business_cost = models.DecimalField(**MONEY)
    property = models.DecimalField(**MONEY)
    pension_basic = models.DecimalField(**MONEY)
    pension_other = models.DecimalField(**MONEY)
    assistance_received = models.DecimalField(**MONEY)
    policy_subsidies = models.DecimalField(**MONEY)
    exempt_transfers = models.DecimalField(**MONEY)
    other_transfers = models.DecimalField(**MONEY)
    education_expense = models.DecimalField(**MONEY)
    financial_assets = models.DecimalField(**MONEY)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["household_id", "year"]
        indexes = [models.Index(fields=["updated_at"])]
        constraints = [
            models.UniqueConstraint(fields=["household", "year"], name="income_household_year")
        ]

    def __str__(self) -> str:
        return f"{self.household_id} {self.year}"
