"""Per-column validation of a staged feed file, generated from the kind's declaration.

One SQL statement types every column and collects every problem of a row (in Chinese and in
English) at once; no Python loop touches the rows. The staged table holds the file's cells as
text; columns the file does not have are treated as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lake import ident, sql_str
from .schemas import BOOL_FALSE, BOOL_TRUE, Column, FeedKind

WHITESPACE = " \t\r\n\u3000"


@dataclass(frozen=True)
class RowCheck:
    """A condition over typed values that makes a row invalid when true."""

    condition: str
    zh: str
    en: str


ROW_CHECKS: dict[str, tuple[RowCheck, ...]] = {
    "medical_claims": (
        RowCheck(
            "v__out_of_pocket > v__total_cost",
            "合规自付大于医疗总费用",
            "out_of_pocket exceeds total_cost",
        ),
        RowCheck(
            "v__insurance_paid > v__total_cost",
            "医保报销大于医疗总费用",
            "insurance_paid exceeds total_cost",
        ),
    ),
}


@dataclass
class ValidationResult:
    rows_total: int
    rows_valid: int
    rows_rejected: int


def _clean(col: Column, present: set[str]) -> str:
    """Cell text without surrounding white space (ideographic space too); empty → NULL.

    The character-set trim is slow per value, so it only runs on cells that contain white space.
    """
    if col.name not in present:
        return "CAST(NULL AS VARCHAR)"
    raw = ident(col.name)
    spaces = " OR ".join(f"contains({raw}, {sql_str(ch)})" for ch in WHITESPACE)
    return f"NULLIF(CASE WHEN {spaces} THEN trim({raw}, {sql_str(WHITESPACE)}) ELSE {raw} END, '')"


def _typed(col: Column, clean: str) -> str:
    t = col.type
    if t in ("text", "id", "village", "term"):
        return clean
    if t == "date":
        return (
            f"CAST(try_strptime({clean}, ['%Y-%m-%d', '%Y/%m/%d', '%Y%m%d', "
            "'%Y-%m-%d %H:%M:%S']) AS DATE)"
        )
    if t == "bool":
        trues = ", ".join(sql_str(v) for v in BOOL_TRUE)
        falses = ", ".join(sql_str(v) for v in BOOL_FALSE)
        return (
            f"CASE WHEN lower({clean}) IN ({trues}) THEN true "
            f"WHEN lower({clean}) IN ({falses}) THEN false END"
        )
    if t == "money":
        plain = f"replace(replace({clean}, ',', ''), '，', '')"
        return (
            f"CASE WHEN regexp_full_match({plain}, '-?[0-9]+(\\.[0-9]{{1,2}})?') "
            f"THEN CAST({plain} AS DECIMAL(14,2)) END"
        )
    if t == "int":
        return (
            f"CASE WHEN regexp_full_match({clean}, '[0-9]{{1,9}}') "
            f"THEN CAST({clean} AS INTEGER) END"
        )
    if t == "enum":
        whens = " ".join(
            f"WHEN {sql_str(spelling)} THEN {sql_str(code)}"
            for spelling, code in col.spellings().items()
        )
        return f"CASE lower({clean}) {whens} END"
    raise ValueError(f"unknown column type {t}")


def _problems(kind: FeedKind, col: Column, clean: str, typed: str) -> list[tuple[str, str, str]]:
    """(condition, zh, en) triples: each true condition is one problem of the row."""
    label_zh = f"{col.zh}({col.name})"
    out: list[tuple[str, str, str]] = []
    if col.required:
        if kind.household_level and col.name == "name":
            hh = "v__household_id"
            out.append(
                (
                    f"{clean} IS NULL AND {hh} IS NULL",
                    "姓名和户编号至少填一项",
                    "name or household_id is required",
                )
            )
        else:
            out.append((f"{clean} IS NULL", f"{label_zh}必填", f"{col.name} is required"))
    t = col.type
    if t in ("text", "id"):
        out.append(
            (
                f"length({clean}) > {col.max_length}",
                f"{label_zh}过长（最多 {col.max_length} 个字符）",
                f"{col.name} is too long (at most {col.max_length} characters)",
            )
        )
    elif t == "village":
        out.append(
            (
                f"{clean} IS NOT NULL AND NOT regexp_full_match({clean}, '[0-9]{{12}}')",
                f"{label_zh}应为 12 位数字",
                f"{col.name} must be 12 digits",
            )
        )
    elif t == "term":
        out.append(
            (
                f"{clean} IS NOT NULL AND NOT regexp_full_match({clean}, '[0-9]{{4}}-[12]')",
                f"{label_zh}应为 YYYY-1（春季）或 YYYY-2（秋季）",
                f"{col.name} must be YYYY-1 (spring) or YYYY-2 (autumn)",
            )
        )
    elif t == "date":
        out.append(
            (
                f"{clean} IS NOT NULL AND ({typed} IS NULL "
                f"OR year({typed}) NOT BETWEEN 1900 AND 2100)",
                f"{label_zh}不是有效日期（应为 YYYY-MM-DD）",
                f"{col.name} is not a valid date (expected YYYY-MM-DD)",
            )
        )
    elif t == "bool":
        out.append(
            (
                f"{clean} IS NOT NULL AND {typed} IS NULL",
                f"{label_zh}应为 是/否（Y/N、1/0、true/false）",
                f"{col.name} must be Y/N, 是/否, 1/0 or true/false",
            )
        )
    elif t == "money":
        out.append(
            (
                f"{clean} IS NOT NULL AND {typed} IS NULL",
                f"{label_zh}不是有效金额（最多两位小数）",
                f"{col.name} is not a valid amount (at most 2 decimals)",
            )
        )
        out.append((f"{typed} < 0", f"{label_zh}不能为负数", f"{col.name} must not be negative"))
    elif t == "int":
        lo, hi = col.min_value, col.max_value
        out.append(
            (
                f"{clean} IS NOT NULL AND {typed} IS NULL",
                f"{label_zh}应为整数",
                f"{col.name} must be a whole number",
            )
        )
        if lo is not None and hi is not None:
            out.append(
                (
                    f"{typed} NOT BETWEEN {lo} AND {hi}",
                    f"{label_zh}应在 {lo} 到 {hi} 之间",
                    f"{col.name} must be between {lo} and {hi}",
                )
            )
    elif t == "enum":
        allowed_zh = "、".join(f"{code}/{zh}" for code, zh, _en in col.values)
        allowed_en = ", ".join(code for code, _zh, _en in col.values)
        out.append(
            (
                f"{clean} IS NOT NULL AND {typed} IS NULL",
                f"{label_zh}取值无效（可用：{allowed_zh}）",
                f"{col.name} has an invalid value (one of: {allowed_en})",
            )
        )
    return out


def validate(con, kind: FeedKind, present: set[str], *, source: str = "src") -> ValidationResult:
    """Check the staged table; views `feed_valid` (typed) and `feed_rejected` (text + reasons)."""
    typed_parts = []
    problems: list[tuple[str, str, str]] = []
    clean_parts = [f"{_clean(c, present)} AS c__{c.name}" for c in kind.all_columns]
    for col in kind.all_columns:
        typed_parts.append(f"{_typed(col, f'c__{col.name}')} AS v__{col.name}")
    for col in kind.all_columns:
        problems.extend(_problems(kind, col, f"c__{col.name}", f"v__{col.name}"))
    for check in ROW_CHECKS.get(kind.name, ()):
        problems.append((check.condition, check.zh, check.en))
    # (condition, zh SQL expression, en SQL expression)
    exprs = [(cond, sql_str(zh), sql_str(en)) for cond, zh, en in problems]
    exprs.append(
        (
            "v__record_id IS NOT NULL AND _dup > 1",
            f"{sql_str('记录编号在本文件中重复出现 ')} || _dup || {sql_str(' 次')}",
            f"{sql_str('record_id appears ')} || _dup || {sql_str(' times in this file')}",
        )
    )

    def messages(lang: int) -> str:
        items = ", ".join(f"CASE WHEN coalesce({e[0]}, false) THEN {e[lang]} END" for e in exprs)
        return f"list_filter([{items}], lambda x: x IS NOT NULL)"

    any_problem = " OR ".join(f"coalesce({e[0]}, false)" for e in exprs)
    raw_cols = [c.name for c in kind.all_columns if c.name in present]
    raw_select = ", ".join(f"s.{ident(c)}" for c in raw_cols)
    # One pass over the rows: clean, type, check. Messages are built only for bad rows.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE feed_checked AS
        WITH cleaned AS (SELECT _row, {", ".join(clean_parts)} FROM {source}),
        dups AS (
            SELECT c__record_id, count(*) AS n FROM cleaned
            WHERE c__record_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1
        ),
        typed AS (
            SELECT cleaned.*, {", ".join(typed_parts)}, coalesce(dups.n, 1) AS _dup
            FROM cleaned LEFT JOIN dups USING (c__record_id)
        ),
        flagged AS (SELECT *, ({any_problem}) AS _bad FROM typed)
        SELECT _row, {", ".join(f"v__{c.name}" for c in kind.all_columns)}, _bad,
               CASE WHEN _bad THEN {messages(1)} END AS _err_zh,
               CASE WHEN _bad THEN {messages(2)} END AS _err_en
        FROM flagged
        """
    )
    typed_cols = ", ".join(f"v__{c.name} AS {ident(c.name)}" for c in kind.all_columns)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW feed_valid AS
        SELECT _row, {typed_cols} FROM feed_checked WHERE NOT _bad
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW feed_rejected AS
        SELECT c._row AS "row", {raw_select},
               array_to_string(c._err_zh, '；') AS reason_zh,
               array_to_string(c._err_en, '; ') AS reason_en
        FROM feed_checked c JOIN {source} s USING (_row) WHERE c._bad
        """
    )
    valid, rejected = con.execute(
        "SELECT count(*) FILTER (WHERE NOT _bad), count(*) FILTER (WHERE _bad) FROM feed_checked"
    ).fetchall()[0]
    return ValidationResult(valid + rejected, valid, rejected)
