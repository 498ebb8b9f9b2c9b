"""Importing the division tree (formats/registry.md "areas"): code, name, parent_code, former_codes.

All or nothing like the registry import: any bad row → nothing changes and an error report is
written (the file with an `errors` column). Idempotent: an identical re-import writes nothing.
Parents are written before children, set-based, one audit row per created or changed area.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.db import transaction

from safetynet.core import audit
from safetynet.core.models import AuditEvent
from safetynet.registry.columns import AREA_COLUMNS, header_key, header_map
from safetynet.registry.tabular import (
    ErrorLog,
    FileRejected,
    ImportRejected,
    ImportResult,
    TableCounts,
    read_tables,
)

from .models import Area
from .services import county_former_codes

CODE_RE = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12}")
FORMER_RE = re.compile(r"[0-9]{6}([0-9]{3}([0-9]{3})?)?")
PARENT_LENGTH = {4: 2, 6: 4, 9: 6, 12: 9}
CHUNK = 2000


def _columns(sheet) -> list[str]:
    mapping = header_map(AREA_COLUMNS)
    names = [mapping.get(header_key(h)) for h in sheet.headers]
    unknown = [h for h, n in zip(sheet.headers, names, strict=True) if n is None]
    if unknown:
        raise FileRejected(
            f"{sheet.label}：区划表有未知列：{'、'.join(unknown)}",
            f"{sheet.label}: unknown columns for areas: {', '.join(unknown)}",
        )
    seen: dict[str, str] = {}
    for header, name in zip(sheet.headers, names, strict=True):
        if name in seen:
            raise FileRejected(
                f"{sheet.label}：列重复：“{seen[name]}”与“{header}”",
                f"{sheet.label}: duplicate columns: '{seen[name]}' and '{header}'",
            )
        seen[name] = header
    missing = [c for c in AREA_COLUMNS if c.required and c.name not in seen]
    if missing:
        raise FileRejected(
            f"{sheet.label}：缺少必填列：{'、'.join(f'{c.zh}({c.name})' for c in missing)}",
            f"{sheet.label}: missing required columns: {', '.join(c.name for c in missing)}",
        )
    return names


def import_areas(
    path: Path, *, actor, valid_only: bool = False, report_dir: Path | None = None
) -> ImportResult:
    """Import the area tree from a CSV or xlsx file (Chinese or English headers).

    An empty former_codes cell means "unknown": county codes then get their GB/T 2260 history.
    """
    path = Path(path)
    sheets = read_tables(path)
    if len(sheets) != 1:
        named = [s for s in sheets if header_key(s.name) in ("areas", "区划")]
        if len(named) != 1:
            raise FileRejected(
                f"{path.name}：工作簿应只有一个区划表（或名为 areas 的表）",
                f"{path.name}: the workbook must hold one sheet (or one named 'areas')",
            )
        sheets = named
    sheet = sheets[0]
    names = _columns(sheet)
    log = ErrorLog([sheet])
    col = {c.name: c for c in AREA_COLUMNS}

    rows: dict[str, tuple[int, dict]] = {}
    for idx, cells in enumerate(sheet.rows):
        values = {n: "" for n in col}
        values.update(dict(zip(names, cells, strict=True)))

        def bad(name: str, zh: str, en: str, idx=idx) -> None:
            log.add_cell(0, idx, col[name].zh, name, zh, en)

        code, name = values["code"], values["name"]
        parent, former = values["parent_code"], values["former_codes"]
        if not code:
            bad("code", "必填", "required")
        elif not CODE_RE.fullmatch(code):
            bad("code", "应为2、4、6、9或12位数字", "must be 2, 4, 6, 9 or 12 digits")
        if not name:
            bad("name", "必填", "required")
        elif len(name) > 100:
            bad("name", "超过100个字符", "longer than 100 characters")
        elif name[0] in "=+@":
            bad("name", "不能以 = + @ 开头", "must not start with = + @")
        if CODE_RE.fullmatch(code or "-"):
            if len(code) == 2:
                if parent:
                    bad("parent_code", "省级区划没有上级", "a province has no parent")
            elif not parent:
                bad("parent_code", "必填（省级以外）", "required except for provinces")
            elif parent != code[: PARENT_LENGTH[len(code)]]:
                bad(
                    "parent_code",
                    f"应为代码的前{PARENT_LENGTH[len(code)]}位（{code[: PARENT_LENGTH[len(code)]]}）",
                    f"must be the first {PARENT_LENGTH[len(code)]} digits of the code "
                    f"({code[: PARENT_LENGTH[len(code)]]})",
                )
        if former:
            parts = [p.strip() for p in former.replace("；", ";").split(";") if p.strip()]
            if not all(FORMER_RE.fullmatch(p) for p in parts) or len(";".join(parts)) > 200:
                bad(
                    "former_codes",
                    "应为用分号分隔的6/9/12位代码（共不超过200字符）",
                    "must be ';'-separated 6, 9 or 12-digit codes (200 characters at most)",
                )
            former = ";".join(parts)
        elif code and len(code) == 6:
            former = county_former_codes(code)
        if code in rows:
            bad("code", f"与第{sheet.row_numbers[rows[code][0]]}行重复", "duplicates another row")
            continue
        rows[code] = (idx, {"name": name, "parent_code": parent, "former_codes": former})

    # Parents must exist, in the file (good rows) or the tree.
    def good_codes() -> set[str]:
        return {c for c, (i, _) in rows.items() if not log.bad(0, i)}

    parents = {v["parent_code"] for _, v in rows.values() if v["parent_code"]}
    in_db = set(Area.objects.filter(code__in=sorted(parents)).values_list("code", flat=True))
    for _ in range(5):  # --valid-only: a dropped parent drops its children
        known = good_codes() | in_db
        added = False
        for _code, (idx, values) in rows.items():
            if log.bad(0, idx) and valid_only:
                continue
            parent = values["parent_code"]
            if parent and parent not in known and not log.bad(0, idx):
                in_file = parent in rows
                log.add_cell(
                    0,
                    idx,
                    col["parent_code"].zh,
                    "parent_code",
                    "上级区划有错误，未导入" if in_file else "上级区划不存在",
                    "the parent row has errors" if in_file else "no such parent area",
                )
                added = True
        if not added or not valid_only:
            break

    result = ImportResult()
    result.errors = log.count
    result.error_rows = len(log.rows)
    result.first_errors = log.first()
    if log.count and not valid_only:
        result.report_paths = log.write_reports(report_dir)
        raise ImportRejected(result)

    counts = TableCounts(skipped=len(log.rows))
    good = {c: v for c, (i, v) in rows.items() if not log.bad(0, i)}
    actor_obj = actor if getattr(actor, "pk", None) else None
    label = audit.actor_label(actor)
    note = f"import {path.name}"
    events: list[AuditEvent] = []
    with transaction.atomic():
        existing = {}
        codes = sorted(good)
        for i in range(0, len(codes), CHUNK):
            for area in Area.objects.filter(code__in=codes[i : i + CHUNK]):
                existing[area.code] = area
        creates, updates = [], []
        for code in sorted(good, key=lambda c: (len(c), c)):
            values = good[code]
            new = {
                "name": values["name"],
                "level": Area.LEVEL_BY_LENGTH[len(code)],
                "parent_id": values["parent_code"] or None,
                "former_codes": values["former_codes"],
            }
            area = existing.get(code)
            if area is None:
                creates.append(Area(code=code, **new))
                events.append(_event(actor_obj, label, note, "create", code, None, new))
                continue
            old = {k: getattr(area, k) for k in new}
            if old == new:
                counts.unchanged += 1
                continue
            before, after = audit.diff(old, new)
            for k, v in new.items():
                setattr(area, k, v)
            updates.append(area)
            events.append(_event(actor_obj, label, note, "update", code, before, after))
        # Parents first: creation in order of code length.
        Area.objects.bulk_create(creates, batch_size=CHUNK)
        if updates:
            Area.objects.bulk_update(
                updates, ["name", "level", "parent", "former_codes"], batch_size=500
            )
        audit.bulk_record(events)
    counts.created, counts.updated = len(creates), len(updates)
    result.counts["areas"] = counts
    result.imported = True
    if log.count:
        result.report_paths = log.write_reports(report_dir)
    return result


def _event(actor, label, note, action, code, before, after) -> AuditEvent:
    return AuditEvent(
        actor=actor,
        actor_label=label,
        action=action,
        object_type="areas.area",
        object_id=code,
        area_code=code,
        before=before,
        after=after,
        note=note,
    )
