"""Exporting the registry in the import formats (formats/registry.md).

The files read back with `import_registry` unchanged: import → export → import changes nothing,
and a second export is byte-for-byte the first. Rows are streamed from the database in the
order of their natural keys; every export of personal data is audited (who, what scope, how
many rows — not the data itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from safetynet.areas.scope import scoped
from safetynet.core import audit
from safetynet.core.errors import ValidationFailed

from .columns import TABLES, Column
from .enums import VOCABULARIES
from .models import Household, Income, Person
from .tabular import write_csv, write_xlsx

CHUNK = 5000


def _formatter(col: Column, chinese: bool):
    if col.kind == "bool":
        yes, no = ("是", "否") if chinese else ("Y", "N")
        return lambda v: "" if v is None else (yes if v else no)
    if col.kind == "enum":
        if chinese:
            labels = {code: zh for code, zh, _ in VOCABULARIES[col.vocabulary]}
            return lambda v: labels.get(v, v) if v else ""
        return lambda v: v or ""
    if col.kind == "money":
        return lambda v: "" if v is None else f"{Decimal(v):.2f}"
    if col.kind == "date":
        return lambda v: v.isoformat() if v else ""
    if col.kind == "int":
        return lambda v: "" if v is None else str(v)
    return lambda v: "" if v is None else str(v)


def _rows(qs, fields: list[str], cols: list[Column], chinese: bool) -> Iterator[list[str]]:
    formats = [_formatter(c, chinese) for c in cols]
    for row in qs.values_list(*fields).iterator(chunk_size=CHUNK):
        yield [f(v) for f, v in zip(formats, row, strict=True)]


def _querysets(user, area: str | None):
    households = Household.objects.all()
    persons = Person.objects.all()
    incomes = Income.objects.all()
    if user is not None:
        households, persons, incomes = (scoped(user, qs) for qs in (households, persons, incomes))
    if area:
        households = households.filter(village__code__startswith=area)
        persons = persons.filter(household__village__code__startswith=area)
        incomes = incomes.filter(household__village__code__startswith=area)
    return (
        households.order_by("household_id"),
        persons.order_by("household__household_id", "pk"),
        incomes.order_by("household__household_id", "year"),
    )


DB_FIELD = {
    "households": {"village_code": "village_id"},
    "persons": {"household_id": "household__household_id"},
    "incomes": {"household_id": "household__household_id"},
}


def export_registry(
    out_dir: Path,
    *,
    actor,
    user=None,
    area: str | None = None,
    xlsx: bool = False,
    chinese: bool = False,
) -> list[Path]:
    """Write households, persons and incomes of `area` (and the user's scope) to `out_dir`.

    CSV files households.csv, persons.csv, incomes.csv (UTF-8 with BOM), or one registry.xlsx
    with three sheets. `chinese` writes Chinese headers and labels (是/否, 户主 …).
    """
    if area and not area.isdigit():
        raise ValidationFailed(f"区划代码应为数字：{area}", f"area code must be digits: {area}")
    out_dir = Path(out_dir)
    querysets = dict(zip(("households", "persons", "incomes"), _querysets(user, area), strict=True))
    tables = []
    counts = {}
    for kind, qs in querysets.items():
        cols = TABLES[kind]
        fields = [DB_FIELD[kind].get(c.name, c.name) for c in cols]
        headers = [c.zh if chinese else c.name for c in cols]
        counts[kind] = qs.count()
        tables.append((kind, headers, _rows(qs, fields, cols, chinese)))
    if xlsx:
        paths = [write_xlsx(out_dir / "registry.xlsx", tables)]
    else:
        paths = [
            write_csv(out_dir / f"{kind}.csv", headers, rows) for kind, headers, rows in tables
        ]
    audit.record(
        actor=actor,
        action="export",
        object_type="registry",
        object_id="",
        area_code=area or (getattr(user, "scope_code", "") if user is not None else ""),
        after={"files": [str(p) for p in paths], "rows": counts},
        note="registry export (personal data)",
    )
    return paths
