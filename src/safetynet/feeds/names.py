"""Chinese names for linkage: cleaning, pinyin, and the "names match" test.

Pinyin is computed once per distinct character (a region's names use a few thousand characters)
and applied to millions of names inside DuckDB through a character → pinyin map, so no Python
runs per name. Homophone characters and traditional forms then compare equal as pinyin.
"""

from __future__ import annotations

import pyarrow as pa
from pypinyin import lazy_pinyin

# Surnames whose reading differs from the character's most common reading. Used for the first
# character of a name so that 曾 (zēng) matches 增, not 层.
SURNAME_READINGS = {
    "曾": "zeng",
    "单": "shan",
    "仇": "qiu",
    "区": "ou",
    "解": "xie",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "缪": "miao",
    "乐": "yue",
    "翟": "zhai",
    "覃": "qin",
    "尉": "yu",
    "黑": "he",
    "万": "wan",
    "石": "shi",
    "种": "chong",
    "秘": "bi",
    "员": "yun",
    "召": "shao",
    "阚": "kan",
    "洗": "xian",
    "宁": "ning",
    "长": "chang",
    "沈": "shen",
    "莘": "shen",
    "燕": "yan",
    "车": "che",
    "隗": "wei",
}

NAME_NOISE = " \t\u3000·•.・"


def clean_name_sql(expr: str) -> str:
    """SQL: a name without spaces and middle dots (ethnic names are written with or without)."""
    return f"NULLIF(regexp_replace({expr}, '[\\s\u3000·•.・]', '', 'g'), '')"


def pinyin_map(characters: set[str]) -> pa.Table:
    """char → toneless pinyin, for every character given (non-Han characters map to themselves)."""
    chars = sorted(c for c in characters if c)
    readings = []
    for c in chars:
        reading = lazy_pinyin(c)
        readings.append(reading[0] if reading else c)
    return pa.table({"ch": pa.array(chars, pa.string()), "py": pa.array(readings, pa.string())})


def install_pinyin(con, tables_and_columns: list[tuple[str, str]]) -> None:
    """Make `getvariable('sn_pinyin')` a MAP of every character of the given name columns."""
    union = " UNION ".join(
        f"SELECT DISTINCT unnest(string_split({col}, '')) AS ch FROM {table}"
        for table, col in tables_and_columns
    )
    chars = {row[0] for row in con.execute(union).fetchall()}
    table = pinyin_map(chars)
    con.register("sn_pinyin_chars", table)
    con.execute("SET VARIABLE sn_pinyin = (SELECT map(list(ch), list(py)) FROM sn_pinyin_chars)")
    surnames = pa.table({"ch": list(SURNAME_READINGS), "py": list(SURNAME_READINGS.values())})
    con.register("sn_surname_chars", surnames)
    con.execute("SET VARIABLE sn_surname = (SELECT map(list(ch), list(py)) FROM sn_surname_chars)")
    con.unregister("sn_pinyin_chars")
    con.unregister("sn_surname_chars")


def pinyin_sql(expr: str) -> str:
    """SQL: toneless pinyin of a name, surname reading for the first character."""
    first = (
        f"coalesce(getvariable('sn_surname')[left({expr}, 1)], "
        f"getvariable('sn_pinyin')[left({expr}, 1)], left({expr}, 1))"
    )
    rest = (
        f"array_to_string(list_transform(string_split(substr({expr}, 2), ''), "
        "lambda c: coalesce(getvariable('sn_pinyin')[c], c)), '')"
    )
    return f"CASE WHEN {expr} IS NOT NULL THEN {first} || {rest} END"


def surname_pinyin_sql(expr: str) -> str:
    return (
        f"CASE WHEN {expr} IS NOT NULL THEN coalesce(getvariable('sn_surname')[left({expr}, 1)], "
        f"getvariable('sn_pinyin')[left({expr}, 1)], left({expr}, 1)) END"
    )


def names_match_sql(a: str, b: str, a_py: str, b_py: str) -> str:
    """SQL: the two names are the same person's name as departments write it.

    Equal; or equal in pinyin (homophone or traditional characters); or one is the other with one
    character dropped (both at least two characters long).
    """
    return (
        f"({a} = {b} OR {a_py} = {b_py} OR "
        f"(abs(length({a}) - length({b})) = 1 AND least(length({a}), length({b})) >= 2 "
        f"AND levenshtein({a}, {b}) = 1))"
    )


__all__ = [
    "SURNAME_READINGS",
    "clean_name_sql",
    "install_pinyin",
    "names_match_sql",
    "pinyin_map",
    "pinyin_sql",
    "surname_pinyin_sql",
]
