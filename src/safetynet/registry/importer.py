"""Importing the registry (formats/registry.md): households, persons, incomes.

All or nothing: every row is checked first, column by column with Polars (no Python loop per
cell); any error → nothing is written and an error report is produced (the same files with an
`errors` column). With `valid_only` the good rows go in and the report still lists the rest.

Writes are set-based: existing rows are fetched by natural key, one query per chunk, and every
table's writes are planned before any is made (primary keys of new rows reserved up front, so
nothing is read back). New rows and their audit rows (one per row, its values as JSON built by
Polars) then go in as frames in one `audit.insert_frames` run: COPY on PostgreSQL, with no
Python work per row and the client preparing chunks while the server stores the previous ones;
`executemany` on SQLite. Changed rows are updated by primary key (`bulk.update`) and audited
with their before/after values; unchanged rows are not touched. An identical re-import writes
nothing, not even audit rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from django.db import transaction

from safetynet.areas.models import Area
from safetynet.core import audit, idnumber

from . import bulk
from .columns import TABLE_ZH, TABLES, Column, header_key, header_map, message, parse_column
from .models import Household, Income, Person
from .tabular import (
    ErrorLog,
    FileRejected,
    ImportRejected,
    ImportResult,
    Sheet,
    TableCounts,
    read_tables,
)

Progress = Callable[[str, int, int], None]
KINDS = ("households", "persons", "incomes")
KIND_NAMES = {
    "households": {"households", "household", "户", "户信息", "家庭", "农户"},
    "persons": {"persons", "person", "members", "人员", "家庭成员", "成员", "人口"},
    "incomes": {"incomes", "income", "收入", "家庭收入"},
}
DISTINCTIVE = {"persons": "id_number", "households": "village_code", "incomes": "year"}
CHUNK = 2000
LIVING = ("active", "imprisoned", "missing")

HOUSEHOLD_FIELDS = [c.name for c in TABLES["households"] if c.name not in ("household_id",)]
PERSON_FIELDS = [c.name for c in TABLES["persons"] if c.name != "id_number"]
INCOME_FIELDS = [c.name for c in TABLES["incomes"] if c.name not in ("household_id", "year")]


@dataclass
class Source:
    """A sheet recognised as one of the three tables."""

    src: int
    sheet: Sheet
    kind: str
    columns: list[str]  # canonical names, in the sheet's column order


# --- reading and recognising -------------------------------------------------------------------


def _kind_by_name(name: str) -> str | None:
    key = header_key(name)
    for kind, names in KIND_NAMES.items():
        if key in {header_key(n) for n in names}:
            return kind
    for kind in KINDS:  # "2024_households", "persons-村A"
        if kind in key:
            return kind
    return None


def _canonical(sheet: Sheet, kind: str) -> tuple[list[str | None], list[str]]:
    mapping = header_map(TABLES[kind])
    names = [mapping.get(header_key(h)) for h in sheet.headers]
    unknown = [h for h, n in zip(sheet.headers, names, strict=True) if n is None]
    return names, unknown


def recognise(sheets: list[Sheet]) -> list[Source]:
    sources: list[Source] = []
    for src, sheet in enumerate(sheets):
        kind = _kind_by_name(sheet.name)
        if kind is None:
            keys = {header_key(h) for h in sheet.headers}
            for candidate in KINDS:
                mapping = header_map(TABLES[candidate])
                if any(mapping.get(k) == DISTINCTIVE[candidate] for k in keys):
                    kind = candidate
                    break
        if kind is None:
            raise FileRejected(
                f"{sheet.label}：无法判断是户、人员还是收入表（请用 households/persons/incomes 命名）",
                f"{sheet.label}: cannot tell whether this is households, persons or incomes "
                "(name it households/persons/incomes)",
            )
        names, unknown = _canonical(sheet, kind)
        if unknown:
            raise FileRejected(
                f"{sheet.label}：{TABLE_ZH[kind]}表有未知列：{'、'.join(unknown)}",
                f"{sheet.label}: unknown columns for {kind}: {', '.join(unknown)}",
            )
        seen: dict[str, str] = {}
        for header, name in zip(sheet.headers, names, strict=True):
            if name in seen:
                raise FileRejected(
                    f"{sheet.label}：列重复：“{seen[name]}”与“{header}”",
                    f"{sheet.label}: duplicate columns: '{seen[name]}' and '{header}'",
                )
            seen[name] = header
        missing = [c for c in TABLES[kind] if c.required and c.name not in seen]
        if missing:
            raise FileRejected(
                f"{sheet.label}：缺少必填列：{'、'.join(f'{c.zh}({c.name})' for c in missing)}",
                f"{sheet.label}: missing required columns: {', '.join(c.name for c in missing)}",
            )
        sources.append(Source(src=src, sheet=sheet, kind=kind, columns=names))
    return sources


def _frame(sources: list[Source], kind: str) -> pl.DataFrame:
    """All rows of one table as strings (null = empty), with their sheet and row index."""
    columns = [c.name for c in TABLES[kind]]
    frames = []
    for source in sources:
        if source.kind != kind:
            continue
        sheet = source.sheet
        df = (
            pl.DataFrame(sheet.rows, schema=dict.fromkeys(source.columns, pl.String), orient="row")
            if sheet.rows
            else pl.DataFrame(schema=dict.fromkeys(source.columns, pl.String))
        )
        df = df.with_columns(
            [pl.lit(None, pl.String).alias(c) for c in columns if c not in source.columns]
        ).select(columns)
        df = df.with_columns(
            [
                pl.when(pl.col(c).str.strip_chars() == "")
                .then(None)
                .otherwise(pl.col(c).str.strip_chars())
                .alias(c)
                for c in columns
            ]
        )
        df = df.with_columns(
            pl.lit(source.src, pl.Int32).alias("_src"),
            pl.int_range(0, df.height, dtype=pl.Int32).alias("_idx"),
        )
        frames.append(df)
    if not frames:
        schema = {c: pl.String for c in columns} | {"_src": pl.Int32, "_idx": pl.Int32}
        return pl.DataFrame(schema=schema)
    return pl.concat(frames)


# --- checking ----------------------------------------------------------------------------------


def _parse(df: pl.DataFrame, kind: str, log: ErrorLog) -> pl.DataFrame:
    """Typed values (null where empty or bad) and one error per bad cell into `log`."""
    cols = TABLES[kind]
    exprs, errs = [], []
    for col in cols:
        value, error = parse_column(col, pl.col(col.name))
        # A bad cell has no value: later checks (codes, references, rules) skip it, so each
        # bad cell gets exactly one message.
        exprs.append(pl.when(error.is_null()).then(value).alias(col.name))
        errs.append(error.alias(f"err__{col.name}"))
    out = df.select("_src", "_idx", *exprs, *errs)
    for col in cols:
        bad = out.filter(pl.col(f"err__{col.name}").is_not_null()).select(
            "_src", "_idx", f"err__{col.name}"
        )
        for src, idx, code in bad.iter_rows():
            log.add_cell(src, idx, col.zh, col.name, *message(code, col))
    return out.drop([f"err__{c.name}" for c in cols])


def _cell(log: ErrorLog, rows: Iterable[tuple[int, int]], col: Column, zh: str, en: str) -> None:
    for src, idx in rows:
        log.add_cell(src, idx, col.zh, col.name, zh, en)


def _col(kind: str, name: str) -> Column:
    return next(c for c in TABLES[kind] if c.name == name)


def _duplicates(df: pl.DataFrame, keys: list[str], kind: str, log: ErrorLog) -> None:
    dup = (
        df.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys))
        .filter(pl.struct(keys).is_duplicated())
        .select("_src", "_idx", *keys)
    )
    if dup.is_empty():
        return
    col = _col(kind, keys[-1])
    for src, idx, *_ in dup.iter_rows():
        _cell(log, [(src, idx)], col, "与文件中另一行重复", "duplicates another row of the file")


def _existing_households(hids: Iterable[str]) -> set[str]:
    sql = "SELECT {0} FROM {1} WHERE {0} IN ({{}})".format(
        bulk.q("household_id"), bulk.q(Household._meta.db_table)
    )
    return {row[0] for row in bulk.select_in(sql, sorted(set(hids)))}


def _person_households(*, id_numbers=None, household_ids=None) -> list[tuple[str, str, str, str]]:
    """(household_id, id_number, relation, status) of stored persons, by person or by household."""
    p, h = bulk.q(Person._meta.db_table), bulk.q(Household._meta.db_table)
    where, keys = (
        (f"p.{bulk.q('id_number')}", id_numbers)
        if id_numbers is not None
        else (f"h.{bulk.q('household_id')}", household_ids)
    )
    sql = (
        f"SELECT h.{bulk.q('household_id')}, p.{bulk.q('id_number')}, p.{bulk.q('relation')}, "
        f"p.{bulk.q('status')} FROM {p} p JOIN {h} h ON h.{bulk.q('id')} = p.{bulk.q('household_id')} "
        f"WHERE {where} IN ({{}})"
    )
    return bulk.select_in(sql, sorted(set(keys)))


class _Check:
    """The checks of one import, over the three tables together."""

    def __init__(self, sources: list[Source], log: ErrorLog):
        self.sources = sources
        self.log = log
        self._old_persons: pl.DataFrame | None = None
        self._members_read: set[str] = set()
        self._members_cache = pl.DataFrame(
            schema=dict.fromkeys(["household_id", "id_number", "relation", "status"], pl.String)
        )
        self.h = _parse(_frame(sources, "households"), "households", log)
        persons_raw = _frame(sources, "persons")
        self.p = _parse(persons_raw, "persons", log)
        self.i = _parse(_frame(sources, "incomes"), "incomes", log)
        self.ids = idnumber.validate_many(persons_raw["id_number"].to_list())
        for source in sources:
            for idx, n in source.sheet.extra_cells.items():
                log.add(
                    source.src,
                    idx,
                    f"有 {n} 个单元格在表头范围之外",
                    f"{n} cells beyond the header",
                )

    def rows(self, df: pl.DataFrame) -> list[tuple[int, int]]:
        return list(df.select("_src", "_idx").iter_rows())

    def row_checks(self) -> None:
        self._households()
        self._persons()
        self._incomes()

    def _households(self) -> None:
        h = self.h
        codes = h["village_code"].drop_nulls().unique().to_list()
        villages = (
            set(
                Area.objects.filter(code__in=codes, level=Area.Level.VILLAGE).values_list(
                    "code", flat=True
                )
            )
            if codes
            else set()
        )
        col = _col("households", "village_code")
        bad = h.filter(
            pl.col("village_code").is_not_null() & ~pl.col("village_code").is_in(sorted(villages))
        )
        _cell(
            self.log,
            self.rows(bad),
            col,
            "不是区划树中的村(社区)代码",
            "not a village code of the area tree",
        )
        exit_col = _col("households", "exit_year")
        missing_exit = h.filter(pl.col("registered_poor") & pl.col("exit_year").is_null())
        _cell(
            self.log,
            self.rows(missing_exit),
            exit_col,
            "脱贫户必须填写脱贫年度",
            "required for a registered poor household",
        )
        extra_exit = h.filter(~pl.col("registered_poor") & pl.col("exit_year").is_not_null())
        _cell(
            self.log,
            self.rows(extra_exit),
            exit_col,
            "只有脱贫户填写脱贫年度",
            "only for registered poor households",
        )
        _duplicates(h, ["household_id"], "households", self.log)

    def _persons(self) -> None:
        p, ids = self.p, self.ids
        id_col = _col("persons", "id_number")
        checked = pl.concat(
            [p.select("_src", "_idx", "id_number"), ids.select("valid", "errors")], how="horizontal"
        )
        invalid = checked.filter(pl.col("id_number").is_not_null() & ~pl.col("valid"))
        for src, idx, _, _, errors in invalid.iter_rows():
            messages = [idnumber.ERROR_MESSAGES[code] for code in errors]
            zh = "；".join(m[0] for m in messages)
            en = "; ".join(m[1] for m in messages)
            _cell(self.log, [(src, idx)], id_col, zh, en)  # one message per cell
        p = p.with_columns(
            ids["normalized"].alias("id_number"),
            ids["birth_date"].alias("_id_birth"),
            ids["sex"].alias("_id_sex"),
            ids["valid"].alias("_id_valid"),
        )
        sex_col, birth_col = _col("persons", "sex"), _col("persons", "birth_date")
        wrong_sex = p.filter(
            pl.col("_id_valid") & pl.col("sex").is_not_null() & (pl.col("sex") != pl.col("_id_sex"))
        )
        _cell(
            self.log,
            self.rows(wrong_sex),
            sex_col,
            "与身份证号不符",
            "disagrees with the ID number",
        )
        wrong_birth = p.filter(
            pl.col("_id_valid")
            & pl.col("birth_date").is_not_null()
            & (pl.col("birth_date") != pl.col("_id_birth"))
        )
        _cell(
            self.log,
            self.rows(wrong_birth),
            birth_col,
            "与身份证号不符",
            "disagrees with the ID number",
        )
        type_col, grade_col = (
            _col("persons", "disability_type"),
            _col("persons", "disability_grade"),
        )
        no_grade = p.filter(
            pl.col("disability_type").is_not_null() & pl.col("disability_grade").is_null()
        )
        _cell(
            self.log,
            self.rows(no_grade),
            grade_col,
            "有残疾类别时须填写残疾等级",
            "required with a disability type",
        )
        no_type = p.filter(
            pl.col("disability_type").is_null() & pl.col("disability_grade").is_not_null()
        )
        _cell(
            self.log,
            self.rows(no_type),
            type_col,
            "有残疾等级时须填写残疾类别",
            "required with a disability grade",
        )
        # Fill what the ID number tells, where the file leaves it empty.
        self.p = p.with_columns(
            sex=pl.when(pl.col("_id_valid")).then(pl.col("_id_sex")).otherwise(pl.col("sex")),
            birth_date=pl.when(pl.col("_id_valid"))
            .then(pl.col("_id_birth"))
            .otherwise(pl.col("birth_date")),
        ).drop("_id_birth", "_id_sex", "_id_valid")
        _duplicates(self.p, ["id_number"], "persons", self.log)

    def _incomes(self) -> None:
        _duplicates(self.i, ["household_id", "year"], "incomes", self.log)

    # -- checks that depend on which rows go in --

    def good(self, df: pl.DataFrame) -> pl.DataFrame:
        bad = self.log.bad_keys()
        if not bad:
            return df
        bad_df = pl.DataFrame(list(bad), schema={"_src": pl.Int32, "_idx": pl.Int32}, orient="row")
        return df.join(bad_df, on=["_src", "_idx"], how="anti")

    def references(self, cascade: bool) -> None:
        """Persons and incomes need their household, in the file or the registry."""
        file_households = set(self.good(self.h)["household_id"].to_list())
        all_file_households = set(self.h["household_id"].drop_nulls().to_list())
        wanted = set(self.p["household_id"].drop_nulls().to_list()) | set(
            self.i["household_id"].drop_nulls().to_list()
        )
        self.db_households = _existing_households(wanted - file_households)
        known = file_households | self.db_households
        pick = self.good if cascade else (lambda df: df)
        for kind, df in (("persons", pick(self.p)), ("incomes", pick(self.i))):
            col = _col(kind, "household_id")
            missing = df.filter(
                pl.col("household_id").is_not_null() & ~pl.col("household_id").is_in(sorted(known))
            )
            for src, idx, hid in missing.select("_src", "_idx", "household_id").iter_rows():
                if hid in all_file_households:
                    if cascade:
                        _cell(
                            self.log,
                            [(src, idx)],
                            col,
                            "所属户有错误，未导入",
                            "its household row has errors; not imported",
                        )
                else:
                    _cell(
                        self.log,
                        [(src, idx)],
                        col,
                        "户编号不存在（文件和系统中都没有）",
                        "no such household (in the file or the registry)",
                    )

    def old_persons(self) -> pl.DataFrame:
        """Stored persons with the ID numbers of the file (read once, used by checks and writes)."""
        if self._old_persons is None:
            ids = self.p["id_number"].drop_nulls().to_list()
            self._old_persons = _read_old(PERSONS, ids)
        return self._old_persons

    def _members(self, hids: list[str]) -> pl.DataFrame:
        missing = [h for h in hids if h not in self._members_read]
        if missing:
            rows = _person_households(household_ids=missing)
            frame = bulk.frame(
                rows,
                {
                    "household_id": pl.String,
                    "id_number": pl.String,
                    "relation": pl.String,
                    "status": pl.String,
                },
            )
            self._members_cache = pl.concat([self._members_cache, frame])
            self._members_read.update(missing)
        return self._members_cache.filter(pl.col("household_id").is_in(hids))

    def heads(self, *, only_good: bool) -> set[str]:
        """Exactly one living head per household, on the state after the import.

        The state after = stored members not in the file + the file's rows (a person keyed by
        ID number may move between households). A household whose members have all died or
        moved out needs no head. All-or-nothing imports check every row that names its
        household (one report shows everything); --valid-only the rows that will go in.
        """
        persons = (self.good(self.p) if only_good else self.p).filter(
            pl.col("id_number").is_not_null()
            & pl.col("household_id").is_not_null()
            & pl.col("relation").is_not_null()
        )
        persons = persons.with_columns(pl.col("status").fill_null("active")).select(
            "id_number", "household_id", "relation", "status", "_src", "_idx"
        )
        households = (self.good(self.h) if only_good else self.h).filter(
            pl.col("household_id").is_not_null()
        )
        moved_from = (
            self.old_persons()
            .select("id_number", pl.col("household_id").alias("_old_hid"))
            .join(persons.select("id_number", "household_id", "_src", "_idx"), on="id_number")
            .filter(pl.col("_old_hid") != pl.col("household_id"))
        )
        affected = sorted(
            set(households["household_id"].to_list())
            | set(persons["household_id"].to_list())
            | set(moved_from["_old_hid"].to_list())
        )
        stored = self._members(affected).join(
            persons.select("id_number"), on="id_number", how="anti"
        )
        final = pl.concat(
            [stored, persons.select("household_id", "id_number", "relation", "status")]
        )
        living = pl.col("status").is_in(list(LIVING))
        stats = final.group_by("household_id").agg(
            members=pl.len(),
            living=living.sum(),
            heads=((pl.col("relation") == "head") & living).sum(),
        )
        stats = (
            pl.DataFrame({"household_id": affected}, schema={"household_id": pl.String})
            .join(stats, on="household_id", how="left")
            .with_columns(pl.col("members", "living", "heads").fill_null(0))
        )
        bad = stats.filter(
            (pl.col("heads") != 1) & ~((pl.col("members") > 0) & (pl.col("living") == 0))
        )
        if bad.is_empty():
            return set()
        household_rows = {
            hid: (src, idx)
            for hid, src, idx in households.select("household_id", "_src", "_idx").iter_rows()
        }
        failed: set[str] = set()
        relation_col = _col("persons", "relation")
        hid_col = _col("households", "household_id")
        for hid, _, _, n_heads in bad.iter_rows():
            failed.add(hid)
            if n_heads == 0:
                zh, en = f"户 {hid} 没有户主", f"household {hid} has no head"
            else:
                zh, en = f"户 {hid} 有 {n_heads} 个户主", f"household {hid} has {n_heads} heads"
            in_file = persons.filter(pl.col("household_id") == hid)
            heads_in_file = in_file.filter((pl.col("relation") == "head") & living)
            if n_heads > 1 and heads_in_file.height:
                _cell(self.log, self.rows(heads_in_file), relation_col, zh, en)
            elif hid in household_rows:
                _cell(self.log, [household_rows[hid]], hid_col, zh, en)
            else:
                movers = moved_from.filter(pl.col("_old_hid") == hid)
                _cell(self.log, self.rows(in_file) + self.rows(movers), relation_col, zh, en)
        return failed

    def drop_households(self, hids: set[str]) -> None:
        """--valid-only: a household failing the head check goes out with all its rows."""
        if not hids:
            return
        keys = sorted(hids)
        for kind, df in (("households", self.h), ("persons", self.p), ("incomes", self.i)):
            col = _col(kind, "household_id")
            hit = self.good(df).filter(pl.col("household_id").is_in(keys))
            for src, idx, hid in hit.select("_src", "_idx", "household_id").iter_rows():
                _cell(
                    self.log,
                    [(src, idx)],
                    col,
                    f"户 {hid} 的户主不符合要求，未导入",
                    f"household {hid} fails the head check; not imported",
                )


# --- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """How one table is stored: natural key, fields compared, FK columns, SQL to read it."""

    kind: str
    model: type
    key: tuple[str, ...]
    fields: tuple[str, ...]
    db_names: dict  # file column -> model field, where they differ


HOUSEHOLDS = _Table(
    "households", Household, ("household_id",), tuple(HOUSEHOLD_FIELDS), {"village_code": "village"}
)
PERSONS = _Table(
    "persons", Person, ("id_number",), tuple(PERSON_FIELDS), {"household_id": "household"}
)
INCOMES = _Table(
    "incomes", Income, ("household_id", "year"), tuple(INCOME_FIELDS), {"household_id": "household"}
)


def _kinds(kind: str) -> dict:
    out = {}
    for col in TABLES[kind]:
        out[col.name] = {
            "bool": pl.Boolean,
            "int": pl.Int64,
            "date": pl.Date,
            "money": "cents",
        }.get(col.kind, pl.String)
    return out


def _cents(expr: pl.Expr) -> pl.Expr:
    return (expr.cast(pl.Float64) * 100).round(0).cast(pl.Int64)


def _money_text(expr: pl.Expr) -> pl.Expr:
    return (expr // 100).cast(pl.String) + "." + (expr % 100).cast(pl.String).str.zfill(2)


def _read_old(table: _Table, keys: list) -> pl.DataFrame:
    """Stored rows of `table` for these natural keys: id, version, key, fields (typed)."""
    model = table.model
    kinds = _kinds(table.kind)
    hh = bulk.q(Household._meta.db_table)
    t = bulk.q(model._meta.db_table)
    cols = [f"t.{bulk.q('id')}", f"t.{bulk.q('version')}"]
    schema: dict = {"id": pl.Int64, "version": pl.Int64}
    for name in (*table.key, *table.fields):
        if table.kind != "households" and name == "household_id":
            cols.append(f"h.{bulk.q('household_id')}")
        else:
            expr = f"t.{bulk.q(bulk.column(model, table.db_names.get(name, name)))}"
            if bulk.is_sqlite() and kinds[name] != pl.String:
                # An expression has no declared type, so the driver's per-value Python
                # converters (date, decimal, bool) are skipped; Polars converts the column.
                expr = f"({expr} || '')" if kinds[name] == pl.Date else f"({expr} + 0)"
            cols.append(expr)
        schema[name] = kinds[name]
    join = ""
    if table.kind == "households":
        where = f"t.{bulk.q('household_id')}"
    else:
        join = f" JOIN {hh} h ON h.{bulk.q('id')} = t.{bulk.q('household_id')}"
        where = (
            f"h.{bulk.q('household_id')}" if table.kind == "incomes" else f"t.{bulk.q('id_number')}"
        )
    sql = f"SELECT {', '.join(cols)} FROM {t} t{join} WHERE {where} IN ({{}})"
    return bulk.frame(bulk.select_in(sql, keys), schema)


@dataclass
class _Plan:
    """What the write does to one table: rows to create (primary keys reserved) and to update."""

    table: _Table
    counts: TableCounts
    matched: pl.DataFrame  # stored rows named in the file (`id`: their primary key)
    created: pl.DataFrame  # new rows (`id`: the reserved primary key)
    updated: pl.DataFrame  # changed rows, with `__old` values and `chg__` flags
    rows: pl.DataFrame | None = None  # created rows as the table takes them
    audit: pl.LazyFrame | None = None  # their audit rows: (id, area, before, after JSON)


def _household_info(hids: list[str], households: _Plan) -> pl.DataFrame:
    """household_id -> (pk, village code) as they are once the households are written.

    The file's households from the plan (stored or reserved key, the file's village), so
    nothing has to be read back; the others (persons and incomes of households only in the
    registry) from the database.
    """
    schema = {"household_id": pl.String, "_hpk": pl.Int64, "_village": pl.String}
    known = pl.concat(
        [
            df.select(
                "household_id",
                pl.col("id").cast(pl.Int64).alias("_hpk"),
                pl.col("village_code").alias("_village"),
            )
            for df in (households.matched, households.created)
        ]
    )
    rest = sorted(set(hids) - set(known["household_id"].to_list()))
    if not rest:
        return known
    sql = "SELECT {}, {}, {} FROM {} WHERE {} IN ({{}})".format(
        bulk.q("household_id"),
        bulk.q("id"),
        bulk.q("village_id"),
        bulk.q(Household._meta.db_table),
        bulk.q("household_id"),
    )
    return pl.concat([known, bulk.frame(bulk.select_in(sql, rest), schema)])


class _Writer:
    """Plans the writes of every table first (reads, comparisons, reserved keys), then writes
    all new rows and their audit rows in one `audit.insert_frames` run, then the changes."""

    def __init__(self, *, actor, note: str, progress: Progress | None):
        self.actor = actor
        self.note = note
        self.progress = progress

    def tick(self, stage: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(stage, done, total)

    def plan(self, table: _Table, new: pl.DataFrame, old: pl.DataFrame) -> _Plan:
        """Compare the file's rows with the stored ones: what to create, update, leave.

        `new` holds key, fields (money as cents), `_area` (village code for the audit) and, for
        tables under a household, `_hpk` (the household's primary key).
        """
        model, key, fields = table.model, list(table.key), list(table.fields)
        money = self._money(table)
        old = old.rename({f: f"{f}__old" for f in fields})
        joined = new.join(old, on=key, how="left", coalesce=True)
        created = joined.filter(pl.col("id").is_null())
        matched = joined.filter(pl.col("id").is_not_null())
        flags = [pl.col(f).ne_missing(pl.col(f"{f}__old")).alias(f"chg__{f}") for f in fields]
        matched = matched.with_columns(flags).with_columns(
            _changed=pl.any_horizontal([pl.col(f"chg__{f}") for f in fields])
        )
        updated = matched.filter(pl.col("_changed"))
        counts = TableCounts(
            created=created.height,
            updated=updated.height,
            unchanged=matched.height - updated.height,
        )
        plan = _Plan(table, counts, matched, created, updated)
        if created.height:
            # Primary keys are reserved up front, so nothing has to be read back: persons and
            # incomes get their household's key, audit rows their object's.
            low = bulk.reserve_ids(model, created.height)
            ids = pl.int_range(low, low + created.height, dtype=pl.Int64, eager=True)
            plan.created = created = created.with_columns(ids.alias("id"))
            # A raw INSERT gets no model defaults: version 1 and the timestamps are set here.
            stamps = ["updated_at"] if table.kind == "incomes" else ["updated_at", "created_at"]
            stamp = bulk.now_text()
            _, values = self._db_columns(table, created)
            plan.rows = values.select(
                created["id"],
                pl.all(),
                pl.lit(1, pl.Int64).alias("version"),
                *[pl.lit(stamp).alias(c) for c in stamps],
            )
            plan.audit = created.lazy().select(
                "id",
                "_area",
                pl.lit(None, pl.String).alias("before"),
                _json_column(created.schema, [*key, *fields], money),
            )
        return plan

    def apply(self, plans: list[_Plan]) -> None:
        """Write the plans: new rows and their audit rows, then the changed rows and theirs."""
        jobs, kinds = [], []
        for plan in plans:
            self.tick(plan.table.kind, 0, plan.counts.created + plan.counts.updated)
            if plan.rows is None:
                continue
            model = plan.table.model
            jobs.append(bulk.rows_job(model, plan.rows))
            jobs.append(
                audit.bulk_frame(
                    actor=self.actor,
                    action="create",
                    object_type=model._meta.label_lower,
                    rows=plan.audit,
                    note=self.note,
                )
            )
            kinds += [None, plan]

        def done(i: int) -> None:
            plan = kinds[i]
            if plan is not None:  # its audit rows are written
                total = plan.counts.created + plan.counts.updated
                self.tick(plan.table.kind, plan.counts.created, total)

        audit.insert_frames(jobs, done=done)
        for plan in plans:
            if plan.updated.height:
                self._update(plan)
            total = plan.counts.created + plan.counts.updated
            self.tick(plan.table.kind, total, total)

    def _update(self, plan: _Plan) -> None:
        table, updated = plan.table, plan.updated
        model, fields = table.model, list(table.fields)
        money = self._money(table)
        now = bulk.now_value()
        names, values = self._db_columns(table, updated)
        versions = updated["version"] + 1
        rows = [
            (*r, v, now, pk)
            for r, v, pk in zip(
                values.rows(), versions.to_list(), updated["id"].to_list(), strict=True
            )
        ]
        bulk.update(model, names + ["version", "updated_at"], rows)
        audit_rows = []
        cols = [
            "id",
            "_area",
            *fields,
            *[f"{f}__old" for f in fields],
            *[f"chg__{f}" for f in fields],
        ]
        n = len(fields)
        for pk, area_code, *vals in updated.select(cols).iter_rows():
            after_vals, before_vals, changed = vals[:n], vals[n : 2 * n], vals[2 * n :]
            before = {f: b for f, b, c in zip(fields, before_vals, changed, strict=True) if c}
            after = {f: a for f, a, c in zip(fields, after_vals, changed, strict=True) if c}
            audit_rows.append((pk, area_code, _json(before, money), _json(after, money)))
        audit.bulk_insert(
            actor=self.actor,
            action="update",
            object_type=model._meta.label_lower,
            rows=audit_rows,
            note=self.note,
        )

    @staticmethod
    def _money(table: _Table) -> list[str]:
        kinds = _kinds(table.kind)
        return [f for f in table.fields if kinds[f] == "cents"]

    @classmethod
    def _db_columns(cls, table: _Table, df: pl.DataFrame) -> tuple[list[str], pl.DataFrame]:
        """Values as the database takes them: FK primary keys, money as decimal text."""
        money = cls._money(table)
        names, exprs = [], []
        for name in (*table.key, *table.fields):
            target = table.db_names.get(name, name)
            if table.kind != "households" and name == "household_id":
                if target in names:
                    continue
                names.append(target)
                exprs.append(pl.col("_hpk").alias(target))
            elif name in money:
                names.append(target)
                exprs.append(_money_text(pl.col(name)).alias(target))
            else:
                names.append(target)
                exprs.append(pl.col(name).alias(target))
        return names, bulk.db_ready(df.select(exprs))


def _json_column(schema: pl.Schema, names: list[str], money: list[str]) -> pl.Expr:
    """One JSON object per row (the audit's `after` of a created row), built by Polars.

    Empty values (unknown, per formats/registry.md) are left out, which keeps the hundreds of
    thousands of audit rows of a first import smaller; every given value is there. Text is
    encoded by Polars' JSON writer; numbers, booleans, dates and money (as decimal text) are
    written directly, which is the same JSON for less work.
    """
    parts = []
    for name in names:
        col, key, dtype = pl.col(name), json.dumps(name) + ":", schema[name]
        present = col.is_not_null()
        if name in money:
            pair = pl.lit(key + '"') + _money_text(col) + pl.lit('"')
        elif dtype == pl.Boolean:
            pair = pl.lit(key) + pl.when(col).then(pl.lit("true")).otherwise(pl.lit("false"))
        elif dtype == pl.Date:
            pair = pl.lit(key + '"') + col.dt.strftime("%Y-%m-%d") + pl.lit('"')
        elif dtype.is_integer():
            pair = pl.lit(key) + col.cast(pl.String)
        else:
            pair = pl.struct(col).struct.json_encode().str.slice(1).str.strip_suffix("}")
            present = present & (col.cast(pl.String) != "")
        parts.append(pl.when(present).then(pair))
    body = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return (pl.lit("{") + body + pl.lit("}")).alias("_after")


def _json(values: dict, money: list[str]) -> dict:
    out = {}
    for name, value in values.items():
        if name in money and value is not None:
            out[name] = f"{value // 100}.{value % 100:02d}"
        else:
            out[name] = bulk.iso(value)
    return out


def _prepare(check: _Check, kind: str) -> pl.DataFrame:
    """The good rows of one table, typed, with defaults filled and money in cents."""
    df = check.good({"households": check.h, "persons": check.p, "incomes": check.i}[kind])
    cols = TABLES[kind]
    exprs = []
    for col in cols:
        expr = pl.col(col.name)
        if col.kind == "money":
            expr = _cents(expr).fill_null(0)
        elif col.default is not None:
            expr = expr.fill_null(pl.lit(col.default))
        exprs.append(expr.alias(col.name))
    return df.select(exprs)


def _write(check: _Check, writer: _Writer, result: ImportResult) -> None:
    h = _prepare(check, "households")
    h = h.with_columns(pl.col("village_code").alias("_area"))
    households = writer.plan(HOUSEHOLDS, h, _read_old(HOUSEHOLDS, h["household_id"].to_list()))

    # persons and incomes hang on their household's primary key
    p = _prepare(check, "persons")
    i = _prepare(check, "incomes")
    hids = sorted(set(p["household_id"].to_list()) | set(i["household_id"].to_list()))
    info = _household_info(hids, households)
    p = p.join(info, on="household_id", how="left").rename({"_village": "_area"})
    persons = writer.plan(PERSONS, p, check.old_persons())
    i = i.join(info, on="household_id", how="left").rename({"_village": "_area"})
    incomes = writer.plan(INCOMES, i, _read_old(INCOMES, hids))

    writer.apply([households, persons, incomes])
    for kind, plan in zip(KINDS, (households, persons, incomes), strict=True):
        result.counts[kind] = plan.counts


def import_registry(
    paths: list[Path],
    *,
    actor,
    valid_only: bool = False,
    report_dir: Path | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import households, persons and incomes from CSV files or one xlsx workbook.

    Raises FileRejected for a file that cannot be read as a table (encoding, binary, bomb,
    formulas, headers), and ImportRejected (with `.result`, reports written) when any row is
    invalid and `valid_only` is off. Returns the counts per table otherwise.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise FileRejected("没有指定文件", "no file given")
    sheets: list[Sheet] = []
    for path in paths:
        sheets.extend(read_tables(path))
    sources = recognise(sheets)
    log = ErrorLog(sheets)
    if progress:
        progress("check", 0, 1)
    check = _Check(sources, log)
    check.row_checks()
    check.references(cascade=valid_only)
    failed = check.heads(only_good=valid_only)
    if valid_only:
        for _ in range(5):  # dropping a household's rows can only settle that household
            if not failed:
                break
            check.drop_households(failed)
            check.references(cascade=True)
            failed = check.heads(only_good=True)
    if progress:
        progress("check", 1, 1)

    result = ImportResult()
    result.errors = log.count
    result.error_rows = len(log.rows)
    result.first_errors = log.first()
    if log.count and not valid_only:
        result.report_paths = log.write_reports(report_dir)
        raise ImportRejected(result)

    note = "import " + ", ".join(p.name for p in paths)
    writer = _Writer(actor=actor, note=note, progress=progress)
    with bulk.large_cache(), transaction.atomic():
        _write(check, writer, result)
    result.imported = True
    bad_per_kind: dict[str, int] = defaultdict(int)
    kind_of = {s.src: s.kind for s in sources}
    for src, _ in log.rows:
        bad_per_kind[kind_of[src]] += 1
    for kind in KINDS:
        result.counts.setdefault(kind, TableCounts()).skipped = bad_per_kind[kind]
    if log.count:
        result.report_paths = log.write_reports(report_dir)
    return result
