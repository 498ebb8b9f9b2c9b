"""Web-side writes: revealing masked personal data (an audited action)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from safetynet.accounts.permissions import HOUSEHOLD_FIELDS, PERSON_FIELDS, can_reveal
from safetynet.areas.scope import get_scoped_or_404
from safetynet.core import audit
from safetynet.core.errors import PermissionDenied, ValidationFailed
from safetynet.registry.models import Household, Person

FIELD_ZH = {
    "id_number": "身份证号",
    "phone": "联系电话",
    "bank_account": "一卡通账号",
    "health": "健康状况",
}


@dataclass(frozen=True)
class Revealed:
    field: str
    value: str
    obj: object


def _health_text(person: Person) -> str:
    text = str(person.get_health_display())
    if person.disability_type or person.disability_grade:
        extra = " ".join(
            x
            for x in (
                str(person.get_disability_type_display()) if person.disability_type else "",
                f"{person.disability_grade}级" if person.disability_grade else "",
            )
            if x
        )
        text = f"{text}（{extra}）"
    return text


@transaction.atomic
def personal_data_reveal(
    *, actor, household_id: str, field: str, person_id: int | None = None
) -> Revealed:
    """Return one unmasked field of a household or of one of its members, and audit the view.

    The household must be in the actor's scope (else Http404, the same answer as a household
    that does not exist) and the actor's role must allow the field (else PermissionDenied).
    The audit row names the field, never its value.
    """
    household = get_scoped_or_404(actor, Household.objects.all(), household_id=household_id)
    if person_id is not None:
        if field not in PERSON_FIELDS:
            raise ValidationFailed(f"不能查看该字段：{field}", f"Field cannot be revealed: {field}")
        obj = get_scoped_or_404(actor, Person.objects.all(), pk=person_id, household=household)
    else:
        if field not in HOUSEHOLD_FIELDS:
            raise ValidationFailed(f"不能查看该字段：{field}", f"Field cannot be revealed: {field}")
        obj = household
    if not can_reveal(actor, field):
        raise PermissionDenied(
            f"您的角色无权查看{FIELD_ZH.get(field, field)}",
            f"Your role may not reveal the {field.replace('_', ' ')}",
        )
    value = _health_text(obj) if field == "health" else (getattr(obj, field) or "")
    audit.record(
        actor=actor,
        action="reveal",
        obj=obj,
        area_code=household.village_id,
        after={"field": field, "household_id": household.household_id},
        note=f"查看{FIELD_ZH.get(field, field)} / revealed {field}",
    )
    return Revealed(field=field, value=value, obj=obj)
