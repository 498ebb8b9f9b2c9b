"""Writes to the registry by people (the web forms): one household or one person at a time.

Each service takes the object as the caller read it and the `version` it saw; somebody else's
change in between is a Conflict, not a silent overwrite. Values are checked by the same column
rules as the import (`registry.columns`), plus the rules that span rows (one living head per
household, sex and birth date agreeing with the ID number, unique ID numbers).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from safetynet.areas.models import Area
from safetynet.core import audit, idnumber
from safetynet.core.errors import Conflict, NotFound, ValidationFailed

from .columns import TABLES, CellError, parse_value
from .models import Household, Person

LIVING = ("active", "imprisoned", "missing")
HOUSEHOLD_EDITABLE = {c.name: c for c in TABLES["households"] if c.name != "household_id"}
PERSON_EDITABLE = {c.name: c for c in TABLES["persons"]}


def _parse(columns: dict, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(columns))
    if unknown:
        raise ValidationFailed(
            f"不能修改的字段：{'、'.join(unknown)}",
            f"fields that cannot be changed: {', '.join(unknown)}",
        )
    values, errors = {}, {}
    for name, raw in fields.items():
        try:
            values[name] = parse_value(columns[name], raw)
        except CellError as exc:
            errors[name] = (exc.zh, exc.en)
    if errors:
        zh = "；".join(f"{columns[n].zh}：{m[0]}" for n, m in errors.items())
        en = "; ".join(f"{n}: {m[1]}" for n, m in errors.items())
        raise ValidationFailed(zh, en, errors=errors)
    return values


def _check_version(obj, expected_version: int) -> None:
    if obj.version != expected_version:
        raise Conflict(
            "该记录已被他人修改，请刷新后重试",
            "this record was changed by someone else; reload and try again",
            current_version=obj.version,
        )


def household_update(*, actor, household: Household, expected_version: int, **fields) -> Household:
    """Change household fields (names of formats/registry.md; village_code for the village)."""
    values = _parse(HOUSEHOLD_EDITABLE, fields)
    with transaction.atomic():
        locked = Household.objects.select_for_update().get(pk=household.pk)
        _check_version(locked, expected_version)
        if "village_code" in values:
            code = values.pop("village_code")
            if not Area.objects.filter(code=code, level=Area.Level.VILLAGE).exists():
                raise ValidationFailed(
                    f"村(社区)代码不在区划树中：{code}",
                    f"not a village code of the area tree: {code}",
                )
            values["village_id"] = code
        before = audit.snapshot(locked, list(values))
        for name, value in values.items():
            setattr(locked, name, value)
        if locked.registered_poor and locked.exit_year is None:
            raise ValidationFailed(
                "脱贫户必须填写脱贫年度", "exit_year is required for a registered poor household"
            )
        if not locked.registered_poor and locked.exit_year is not None:
            raise ValidationFailed(
                "只有脱贫户填写脱贫年度", "exit_year is only for registered poor households"
            )
        after = audit.snapshot(locked, list(values))
        before, after = audit.diff(before, after)
        if not after:
            return locked
        locked.version += 1
        locked.save(update_fields=[*after, "version", "updated_at"])
        audit.record(
            actor=actor,
            action="update",
            obj=locked,
            area_code=locked.village_id,
            before=before,
            after=after,
        )
    return locked


def _living_heads(household_id: int) -> int:
    return Person.objects.filter(
        household_id=household_id, relation="head", status__in=LIVING
    ).count()


def person_update(*, actor, person: Person, expected_version: int, **fields) -> Person:
    """Change person fields; `household_id` (the household's number) moves the person.

    The household(s) concerned must keep exactly one living head afterwards; a head who dies
    or moves out may leave the household without one (the Q-HEAD check then asks for a new head).
    """
    values = _parse(PERSON_EDITABLE, fields)
    with transaction.atomic():
        locked = Person.objects.select_for_update().select_related("household").get(pk=person.pk)
        _check_version(locked, expected_version)
        old_household_id = locked.household_id
        if "household_id" in values:
            hid = values.pop("household_id")
            target = Household.objects.filter(household_id=hid).first()
            if target is None:
                raise NotFound(f"户编号不存在：{hid}", f"no such household: {hid}")
            values["household_id"] = target.pk
        if "id_number" in values:
            check = idnumber.validate(values["id_number"])
            if not check.valid:
                zh = "、".join(m[0] for m in check.messages())
                en = ", ".join(m[1] for m in check.messages())
                raise ValidationFailed(f"身份证号无效：{zh}", f"invalid ID number: {en}")
            values["id_number"] = check.normalized
            if Person.objects.filter(id_number=check.normalized).exclude(pk=locked.pk).exists():
                raise ValidationFailed(
                    "身份证号已被他人使用", "the ID number belongs to another person"
                )
        tracked = list(
            dict.fromkeys([*values, *(["sex", "birth_date"] if "id_number" in values else [])])
        )
        before = audit.snapshot(locked, tracked)
        for name, value in values.items():
            setattr(locked, name, value)
        check = idnumber.validate(locked.id_number)
        if check.valid:
            if "sex" in values and locked.sex and locked.sex != check.sex:
                raise ValidationFailed("性别与身份证号不符", "sex disagrees with the ID number")
            if (
                "birth_date" in values
                and locked.birth_date
                and locked.birth_date != check.birth_date
            ):
                raise ValidationFailed(
                    "出生日期与身份证号不符", "birth date disagrees with the ID number"
                )
            if "id_number" in values:
                locked.sex, locked.birth_date = check.sex, check.birth_date
        if bool(locked.disability_type) != (locked.disability_grade is not None):
            raise ValidationFailed(
                "残疾类别与残疾等级须同时填写", "disability type and grade go together"
            )
        before, after = audit.diff(before, audit.snapshot(locked, tracked))
        if not after:
            return locked
        locked.version += 1
        locked.save(update_fields=[*after, "version", "updated_at"])
        leaving = "status" in values and locked.status not in LIVING
        for household_pk in {old_household_id, locked.household_id}:
            heads = _living_heads(household_pk)
            if heads > 1:
                raise ValidationFailed("一户只能有一个户主", "a household has exactly one head")
            if heads == 0 and not leaving:
                raise ValidationFailed(
                    "修改后该户将没有户主；请先指定新户主",
                    "the household would have no head; name a new head first",
                )
        area = (
            Household.objects.filter(pk=locked.household_id)
            .values_list("village_id", flat=True)
            .first()
        )
        audit.record(
            actor=actor,
            action="update",
            obj=locked,
            area_code=area or "",
            before=before,
            after=after,
        )
    return locked


def household_change_head(
    *,
    actor,
    household: Household,
    new_head: Person,
    former_head_relation: str,
    expected_version: int,
) -> Household:
    """Make `new_head` the head; the former living head takes `former_head_relation`.

    One transaction, so the household never has two heads or none; the household's version
    guards against two officers doing it at once.
    """
    relation = _parse(
        {"relation": PERSON_EDITABLE["relation"]}, {"relation": former_head_relation}
    )["relation"]
    if relation == "head":
        raise ValidationFailed("原户主须改为其他关系", "the former head needs another relation")
    with transaction.atomic():
        locked = Household.objects.select_for_update().get(pk=household.pk)
        _check_version(locked, expected_version)
        person = Person.objects.select_for_update().filter(pk=new_head.pk, household=locked).first()
        if person is None:
            raise ValidationFailed(
                "新户主不是该户成员", "the new head is not a member of this household"
            )
        if person.status not in LIVING:
            raise ValidationFailed("新户主须为在册人员", "the new head must be a living member")
        if person.relation == "head":
            return locked
        for former in Person.objects.select_for_update().filter(
            household=locked, relation="head", status__in=LIVING
        ):
            audit.record(
                actor=actor,
                action="update",
                obj=former,
                area_code=locked.village_id,
                before={"relation": "head"},
                after={"relation": relation},
            )
            former.relation = relation
            former.version += 1
            former.save(update_fields=["relation", "version", "updated_at"])
        audit.record(
            actor=actor,
            action="update",
            obj=person,
            area_code=locked.village_id,
            before={"relation": person.relation},
            after={"relation": "head"},
        )
        person.relation = "head"
        person.version += 1
        person.save(update_fields=["relation", "version", "updated_at"])
        locked.version += 1
        locked.save(update_fields=["version", "updated_at"])
    return locked
