"""The columns of formats/registry.md and how a cell becomes a value.

One table per file kind: English name, Chinese header, kind of value, whether it is required,
its default when the cell is empty. The importer parses whole columns at once with Polars
(`parse_frame`); services parse single values with the same rules (`parse_value`), so a form
and a file can never disagree about what is valid.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from .enums import VOCABULARIES, lookup
from .models import INCOME_FIELDS

PHONE_RE = r"^1[3-9][0-9]{9}$"
MONEY_RE = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
INT_RE = r"^[+-]?[0-9]{1,9}$"
MAX_CELL_CHARS = 1000
TRUE_WORDS = ("y", "yes", "是", "1", "true", "t")
FALSE_WORDS = ("n", "no", "否", "0", "false", "f")


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    kind: str  # text, code, enum, bool, int, money, date, phone, id_number, year
    required: bool = False
    default: Any = None
    max_length: int | None = None
    vocabulary: str | None = None
    low: int | None = None
    high: int | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


def _money(name: str, zh: str, *aliases: str) -> Column:
    return Column(name, zh, "money", default=Decimal("0"), aliases=aliases)


AREA_COLUMNS = [
    Column("code", "区划代码", "text", required=True, max_length=12),
    Column("name", "名称", "text", required=True, max_length=100),
    Column("parent_code", "上级代码", "text", max_length=12),
    Column("former_codes", "曾用代码", "text", max_length=200),
]

HOUSEHOLD_COLUMNS = [
    Column("household_id", "户编号", "text", required=True, max_length=32),
    Column(
        "village_code", "村(社区)代码", "text", required=True, max_length=12, aliases=("村代码",)
    ),
    Column("address", "地址", "text", default="", max_length=200),
    Column("registered_poor", "脱贫户", "bool", required=True),
    Column("exit_year", "脱贫年度", "int", low=2014, high=2020),
    Column("relocated", "易地扶贫搬迁户", "bool", default=False),
    Column("housing_grade", "住房安全等级", "enum", default="", vocabulary="housing_grade"),
    Column("water_secure", "饮水安全", "bool", default=True),
    Column("phone", "联系电话", "phone", default=""),
    Column("bank_account", "一卡通账号", "text", default="", max_length=40),
]

PERSON_COLUMNS = [
    Column("id_number", "身份证号", "id_number", required=True),
    Column("household_id", "户编号", "text", required=True, max_length=32),
    Column("name", "姓名", "text", required=True, max_length=50),
    Column("relation", "与户主关系", "enum", required=True, vocabulary="relation"),
    Column("sex", "性别", "enum", default="", vocabulary="sex"),
    Column("birth_date", "出生日期", "date"),
    Column("status", "人员状态", "enum", default="active", vocabulary="status"),
    Column("education", "文化程度", "enum", default="", vocabulary="education"),
    Column("in_school", "在校生", "bool", default=False),
    Column("health", "健康状况", "enum", default="healthy", vocabulary="health"),
    Column("disability_type", "残疾类别", "enum", default="", vocabulary="disability_type"),
    Column("disability_grade", "残疾等级", "int", low=1, high=4),
    Column("labour", "劳动能力", "enum", required=True, vocabulary="labour"),
    Column("employment", "务工状况", "enum", default="none", vocabulary="employment"),
    Column("work_months", "务工时间(月)", "int", default=0, low=0, high=12),
    Column("medical_insured", "基本医疗保险", "bool", default=True),
    Column("pension_insured", "养老保险", "bool"),
    Column("adl_failed", "生活自理能力缺失项数", "int", default=0, low=0, high=6),
    Column("supporter_capable", "有履行能力的法定义务人", "bool"),
    Column("phone", "联系电话", "phone", default=""),
]

INCOME_COLUMNS = [
    Column("household_id", "户编号", "text", required=True, max_length=32),
    Column("year", "年度", "int", required=True, low=2000, high=2100),
    _money("wage", "工资性收入"),
    _money("business_income", "生产经营性收入"),
    _money("business_cost", "生产经营性支出"),
    _money("property", "财产性收入"),
    _money("pension_basic", "城乡居民基础养老金"),
    _money("pension_other", "其他养老金"),
    _money("assistance_received", "低保金、特困供养金、临时救助金"),
    _money("policy_subsidies", "政策性补贴 (生态补偿、耕地地力补贴等)"),
    _money("exempt_transfers", "不计入收入的转移性收入 (优抚金、奖励、助学金、残疾人两项补贴)"),
    _money("other_transfers", "其他转移性收入 (赡养费等)"),
    _money("education_expense", "教育支出"),
    _money("financial_assets", "家庭金融资产 (存款、理财等)"),
]
assert [c.name for c in INCOME_COLUMNS[2:]] == INCOME_FIELDS

TABLES: dict[str, list[Column]] = {
    "households": HOUSEHOLD_COLUMNS,
    "persons": PERSON_COLUMNS,
    "incomes": INCOME_COLUMNS,
}
TABLE_ZH = {"areas": "区划", "households": "户", "persons": "人员", "incomes": "收入"}


def header_key(text: str) -> str:
    """How headers are compared: NFKC (full-width brackets), no spaces, case-folded."""
    text = unicodedata.normalize("NFKC", text or "").replace("\ufeff", "")
    return re.sub(r"\s+", "", text).casefold()


def header_map(columns: list[Column]) -> dict[str, str]:
    """Every accepted spelling of a header -> the column's English name."""
    table: dict[str, str] = {}
    for col in columns:
        spellings = {col.name, col.zh, *col.aliases}
        # "政策性补贴 (生态补偿…)" may be written without its explanation in brackets.
        short = re.sub(r"\s*[(（][^()（）]*[)）]\s*$", "", col.zh)
        if short and short != col.zh:
            spellings.add(short)
        for spelling in spellings:
            table[header_key(spelling)] = col.name
    return table


# --- messages ----------------------------------------------------------------------------------

MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("必填", "required"),
    "too_long": ("超过{n}个字符", "longer than {n} characters"),
    "enum": ("不是可选值（{choices}）", "not one of the accepted values ({choices})"),
    "bool": ("应为 是/否、Y/N、1/0 或 true/false", "must be Y/N, 是/否, 1/0 or true/false"),
    "int": ("应为整数", "must be a whole number"),
    "range": ("应在 {low}–{high} 之间", "must be between {low} and {high}"),
    "money": ("应为不小于0的金额（最多两位小数）", "must be an amount ≥ 0 with at most 2 decimals"),
    "date": ("应为日期 YYYY-MM-DD", "must be a date YYYY-MM-DD"),
    "phone": ("应为11位手机号", "must be an 11-digit mobile number"),
    "formula": (
        "不能以 = + @ 开头（会被当作公式）",
        "must not start with = + @ (read as a formula)",
    ),
}
FORMULA_RE = r"^[=+@]"


def message(code: str, col: Column) -> tuple[str, str]:
    zh, en = MESSAGES[code]
    params: dict[str, Any] = {"n": col.max_length, "low": col.low, "high": col.high}
    if col.vocabulary:
        params["choices"] = ", ".join(code for code, _, _ in VOCABULARIES[col.vocabulary])
    return zh.format(**params), en.format(**params)


# --- whole columns -----------------------------------------------------------------------------

BOOL_MAP = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}


def parse_column(col: Column, expr: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(value, error code) expressions for one column of strings (null = empty cell).

    The value is null where the cell is empty or bad; the importer fills defaults afterwards.
    ID numbers are handled by the importer with `idnumber.validate_many`.
    """
    present = expr.is_not_null()
    missing = pl.lit("required") if col.required else pl.lit(None, pl.String)
    none = pl.lit(None, pl.String)
    if col.kind in ("text", "id_number"):
        error = pl.when(~present).then(missing)
        if col.max_length:
            error = error.when(expr.str.len_chars() > col.max_length).then(pl.lit("too_long"))
        error = error.when(expr.str.contains(FORMULA_RE)).then(pl.lit("formula")).otherwise(none)
        # A bad cell has no value, so later checks (codes, references) do not report it twice.
        return pl.when(error.is_null()).then(expr), error
    if col.kind == "enum":
        table = lookup(col.vocabulary)
        value = expr.str.to_lowercase().replace_strict(table, default=None, return_dtype=pl.String)
        error = pl.when(~present).then(missing).when(value.is_null()).then(pl.lit("enum"))
        return value, error.otherwise(none)
    if col.kind == "bool":
        value = expr.str.to_lowercase().replace_strict(
            BOOL_MAP, default=None, return_dtype=pl.Boolean
        )
        error = pl.when(~present).then(missing).when(value.is_null()).then(pl.lit("bool"))
        return value, error.otherwise(none)
    if col.kind == "int":
        ok = expr.str.contains(INT_RE)
        value = pl.when(ok).then(expr.cast(pl.Int64, strict=False))
        error = pl.when(~present).then(missing).when(~ok).then(pl.lit("int"))
        if col.low is not None:
            error = error.when((value < col.low) | (value > col.high)).then(pl.lit("range"))
        return value, error.otherwise(none)
    if col.kind == "money":
        ok = expr.str.contains(MONEY_RE)
        error = pl.when(~present).then(missing).when(~ok).then(pl.lit("money"))
        return pl.when(ok).then(expr), error.otherwise(none)
    if col.kind == "date":
        ok = expr.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        value = pl.when(ok).then(expr.str.to_date("%Y-%m-%d", strict=False))
        error = pl.when(~present).then(missing).when(value.is_null()).then(pl.lit("date"))
        return value, error.otherwise(none)
    if col.kind == "phone":
        ok = expr.str.contains(PHONE_RE)
        error = pl.when(~present).then(missing).when(~ok).then(pl.lit("phone"))
        return pl.when(ok).then(expr), error.otherwise(none)
    raise ValueError(f"unknown column kind {col.kind}")


# --- single values (services, forms) -----------------------------------------------------------


class CellError(ValueError):
    def __init__(self, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en


def parse_value(col: Column, raw: Any) -> Any:
    """One value, typed or text, checked by the rules of the file columns; raises CellError."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if col.required:
            raise CellError(*message("required", col))
        return col.default
    if col.kind == "bool" and isinstance(raw, bool):
        return raw
    if col.kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif col.kind == "money" and isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        value = Decimal(raw)
        if value < 0 or value != value.quantize(Decimal("0.01")):
            raise CellError(*message("money", col))
        return value
    elif col.kind == "date" and isinstance(raw, dt.date):
        return raw if not isinstance(raw, dt.datetime) else raw.date()
    else:
        value = None
    text = str(raw).strip()
    if col.kind in ("text", "id_number"):
        if col.max_length and len(text) > col.max_length:
            raise CellError(*message("too_long", col))
        if re.match(FORMULA_RE, text):
            raise CellError(*message("formula", col))
        return text
    if col.kind == "enum":
        code = lookup(col.vocabulary).get(text.lower())
        if code is None:
            raise CellError(*message("enum", col))
        return code
    if col.kind == "bool":
        if text.lower() not in BOOL_MAP:
            raise CellError(*message("bool", col))
        return BOOL_MAP[text.lower()]
    if col.kind == "int":
        if value is None:
            if not re.fullmatch(INT_RE, text):
                raise CellError(*message("int", col))
            value = int(text)
        if col.low is not None and not col.low <= value <= col.high:
            raise CellError(*message("range", col))
        return value
    if col.kind == "money":
        if not re.fullmatch(MONEY_RE, text):
            raise CellError(*message("money", col))
        try:
            return Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern excludes it
            raise CellError(*message("money", col)) from exc
    if col.kind == "date":
        try:
            return dt.date.fromisoformat(text) if len(text) == 10 else _bad_date(col)
        except ValueError:
            return _bad_date(col)
    if col.kind == "phone":
        if not re.fullmatch(PHONE_RE, text):
            raise CellError(*message("phone", col))
        return text
    raise ValueError(f"unknown column kind {col.kind}")


def _bad_date(col: Column):
    raise CellError(*message("date", col))


def column(table: str, name: str) -> Column:
    for col in TABLES[table]:
        if col.name == name:
            return col
    raise KeyError(name)
