"""Writes to the area tree."""

from __future__ import annotations

import csv
from importlib import resources

from django.db import transaction

from safetynet.core import audit

from .models import Area


def level_for(code: str) -> int:
    try:
        return Area.LEVEL_BY_LENGTH[len(code)]
    except KeyError as exc:
        raise ValueError(f"area code of bad length: {code}") from exc


@transaction.atomic
def area_upsert(*, actor, code: str, name: str, parent_code: str | None, former_codes: str = "") -> Area:
    existing = Area.objects.filter(code=code).first()
    values = {
        "name": name,
        "level": level_for(code),
        "parent_id": parent_code or None,
        "former_codes": former_codes,
    }
    if existing is None:
        area = Area.objects.create(code=code, **values)
        audit.record(actor=actor, action="create", obj=area, area_code=code, after=values)
        return area
    before = {k: getattr(existing, k) for k in values}
    if before == values:
        return existing
    for k, v in values.items():
        setattr(existing, k, v)
    existing.save()
    audit.record(actor=actor, action="update", obj=existing, area_code=code, before=before, after=values)
    return existing


def county_former_codes(code: str) -> str:
    """The earlier GB/T 2260 codes of a county, ';'-separated (they still appear in ID numbers).

    360703 南康区 -> "360782;362103;362122"; empty for codes of other lengths.
    """
    from safetynet.core import gbt2260

    if len(code) != 6:
        return ""
    kept: list[str] = []
    for old in gbt2260.former_codes(code):
        if len(";".join([*kept, old])) > 200:  # Area.former_codes max_length
            break
        kept.append(old)
    return ";".join(kept)


def load_reference_counties(*, actor) -> int:
    """The 23 Luoxiao counties with their prefectures and provinces (reference data)."""
    text = resources.files("safetynet.areas").joinpath("data/luoxiao_counties.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    count = 0
    with transaction.atomic():
        for row in rows:
            prov = row["province_code"][:2]
            pref = row["prefecture_code"][:4]
            area_upsert(actor=actor, code=prov, name=row["province"], parent_code=None)
            area_upsert(actor=actor, code=pref, name=row["prefecture"], parent_code=prov)
            area_upsert(
                actor=actor,
                code=row["code"],
                name=row["name"],
                parent_code=pref,
                former_codes=county_former_codes(row["code"]),
            )
            count += 1
    return Area.objects.count()
