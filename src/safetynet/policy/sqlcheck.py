"""Parse and vet catalogue SQL expressions.

Rule and feature expressions are SQL *expressions* in a small portable subset. They are parsed
with sqlglot when the catalogue loads and walked node by node: only the node types below are
allowed, every column must be a known feature (or input column) in reach, every qualified name
must be a parameter, and the expression must render for every target dialect. Nothing here
looks at the text with substring tests; the AST is the only authority.

Deliberately missing: division (`/`) and ROUND — both differ between engines on decimals.
`ROUND_DIV(a, b, places)` is the one exact primitive (half up, integer arithmetic), see
`safetynet.policy.compiler`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError

from .yamlsrc import CatalogueError

DIALECTS = ("duckdb", "spark")

# Structural and operator nodes.
ALLOWED_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Mod,
    exp.Neg,
    exp.Case,
    exp.If,
    exp.DPipe,
    exp.DataType,
    exp.DataTypeParam,
)

# Whitelisted functions (sqlglot node classes), all rendered identically on DuckDB and Spark.
ALLOWED_FUNCTIONS: tuple[type[exp.Expression], ...] = (
    exp.Coalesce,
    exp.Greatest,
    exp.Least,
    exp.Abs,
    exp.Substring,
    exp.Length,
    exp.Upper,
    exp.Lower,
    exp.Trim,
    exp.Year,
    exp.Month,
    exp.Day,
    exp.RegexpLike,
    exp.Cast,
    exp.TryCast,
)

# Compile-time macros: name → number of arguments. Expanded by the compiler.
MACROS: dict[str, int] = {
    "AS_OF": 0,  # the as-of date D
    "AS_OF_YEAR": 0,  # year(D)
    "AS_OF_YMD": 0,  # D as a YYYYMMDD integer
    "AS_OF_MINUS_MONTHS": 1,  # D − n calendar months (day clamped to month end)
    "YMD": 1,  # a date as a YYYYMMDD integer
    "ROUND_DIV": 3,  # round half up of a / b to k places; b a positive integer
    "INT_DIV": 2,  # integer division of non-negative integers
}
LITERAL_MACRO_ARGS = {"AS_OF_MINUS_MONTHS": (0,), "ROUND_DIV": (2,)}

ALLOWED_TYPES = {
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.DECIMAL,
    exp.DataType.Type.DATE,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.BOOLEAN,
}

_STATEMENTS = tuple(
    getattr(exp, name)
    for name in (
        "Command",
        "DDL",
        "DML",
        "Drop",
        "Delete",
        "Insert",
        "Update",
        "Create",
        "Alter",
        "Merge",
        "Set",
        "Use",
        "Transaction",
        "Commit",
        "Rollback",
        "Pragma",
        "Copy",
        "Grant",
        "Describe",
        "Show",
        "Attach",
        "Detach",
        "Install",
        "Load",
    )
    if hasattr(exp, name)
)

_FORBIDDEN_HINTS: list[tuple[tuple[type[exp.Expression], ...], str, str]] = [
    (
        (exp.Select, exp.Subquery, exp.Union, exp.Exists),
        "不允许子查询",
        "subqueries are not allowed",
    ),
    ((exp.Table, exp.From, exp.Join), "不允许引用表", "table references are not allowed"),
    ((exp.Star,), "不允许 *", "* is not allowed"),
    (
        (exp.Div, exp.IntDiv),
        "除法只能用 ROUND_DIV(a, b, 位数) 或 INT_DIV",
        "division only through ROUND_DIV(a, b, places) or INT_DIV",
    ),
    ((exp.Round,), "取整只能用 ROUND_DIV", "rounding only through ROUND_DIV"),
    (
        (exp.AggFunc,),
        "表达式中不允许聚合函数（用 from/aggregate 声明）",
        "aggregate functions are not allowed in expressions (declare from/aggregate)",
    ),
    ((exp.Window,), "不允许窗口函数", "window functions are not allowed"),
    ((exp.Placeholder, exp.Parameter), "不允许占位参数", "placeholders are not allowed"),
]


@dataclass
class Checked:
    """A vetted expression and what it refers to."""

    text: str
    expr: exp.Expression
    columns: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    macros: set[str] = field(default_factory=set)


@dataclass
class Scope:
    """What an expression may refer to.

    `columns` maps every column name in reach to a description (used in messages);
    `params` tells whether a dotted name is a parameter component and whether it is a list.
    """

    columns: Mapping[str, str]
    is_param: Callable[[str], bool]
    is_list_param: Callable[[str], bool]
    where_zh: str = "表达式"
    where_en: str = "expression"


def _fail(zh: str, en: str, *, file, line, rule, position=None, text=None) -> CatalogueError:
    where_zh = f"（位置 {position}）" if position else ""
    where_en = f" (at position {position})" if position else ""
    snippet = f"：{text}" if text else ""
    snippet_en = f": {text}" if text else ""
    return CatalogueError(
        zh + where_zh + snippet,
        en + where_en + snippet_en,
        file=file,
        line=line,
        rule=rule,
        position=position,
    )


def _position(node: exp.Expression) -> int | None:
    for candidate in (node, *node.find_all(exp.Identifier)):
        meta = getattr(candidate, "meta", None) or {}
        if "start" in meta:
            return meta["start"] + 1
        if "col" in meta:
            return meta["col"]
    meta = getattr(node, "meta", None) or {}
    return meta.get("col")


def column_name(col: exp.Column) -> str:
    parts = [p.name for p in col.parts]
    return ".".join(parts)


@lru_cache(maxsize=4096)
def _parse(text: str):
    """Parsed statements of `text` (cached: catalogues are reloaded with the same texts)."""
    try:
        return tuple(s for s in sqlglot.parse(text, error_level=ErrorLevel.RAISE) if s is not None)
    except SqlglotError as exc:
        return exc


@lru_cache(maxsize=4096)
def _dialect_problem(text: str):
    expr = _parse(text)[0]
    for dialect in DIALECTS:
        try:
            expr.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as exc:
            return dialect, exc
    return None


def check_expression(
    text: str, scope: Scope, *, file: str | None, line: int | None, rule: str | None
) -> Checked:
    """Parse `text` as one SQL expression and vet it against `scope`."""
    if not isinstance(text, str) or not text.strip():
        raise _fail(
            f"{scope.where_zh}为空", f"{scope.where_en} is empty", file=file, line=line, rule=rule
        )
    parsed = _parse(text)
    if isinstance(parsed, ParseError):
        err = (parsed.errors or [{}])[0]
        raise _fail(
            f"{scope.where_zh}语法错误：{err.get('description', parsed)}",
            f"{scope.where_en} syntax error: {err.get('description', parsed)}",
            file=file,
            line=line,
            rule=rule,
            position=err.get("col"),
            text=text.strip(),
        )
    if isinstance(parsed, SqlglotError):
        raise _fail(
            f"{scope.where_zh}无法解析：{parsed}",
            f"{scope.where_en} cannot be parsed: {parsed}",
            file=file,
            line=line,
            rule=rule,
        )
    if len(parsed) != 1:
        raise _fail(
            f"{scope.where_zh}只能是一个表达式（发现 {len(parsed)} 条语句）",
            f"{scope.where_en} must be a single expression (found {len(parsed)} statements)",
            file=file,
            line=line,
            rule=rule,
            text=text.strip(),
        )
    expr = parsed[0].copy()
    checked = Checked(text=text, expr=expr)
    for node in expr.walk():
        _check_node(node, scope, checked, file=file, line=line, rule=rule)
    problem = _dialect_problem(text)
    if problem is not None:
        dialect, exc = problem
        raise _fail(
            f"{scope.where_zh}无法在 {dialect} 上执行：{exc}",
            f"{scope.where_en} cannot run on {dialect}: {exc}",
            file=file,
            line=line,
            rule=rule,
            text=text.strip(),
        )
    return checked


def _check_node(node: exp.Expression, scope: Scope, checked: Checked, *, file, line, rule):
    pos = _position(node)
    if isinstance(node, _STATEMENTS):
        raise _fail(
            "不允许 SQL 语句（只能写表达式）",
            "SQL statements are not allowed (expressions only)",
            file=file,
            line=line,
            rule=rule,
            position=pos,
            text=node.sql(),
        )
    for kinds, zh, en in _FORBIDDEN_HINTS:
        if isinstance(node, kinds):
            raise _fail(zh, en, file=file, line=line, rule=rule, position=pos, text=node.sql())
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        if name not in MACROS:
            raise _fail(
                f"不允许的函数 {node.this}",
                f"function not allowed: {node.this}",
                file=file,
                line=line,
                rule=rule,
                position=pos,
            )
        args = node.expressions
        if len(args) != MACROS[name]:
            raise _fail(
                f"{name} 需要 {MACROS[name]} 个参数",
                f"{name} takes {MACROS[name]} arguments",
                file=file,
                line=line,
                rule=rule,
                position=pos,
            )
        for idx in LITERAL_MACRO_ARGS.get(name, ()):
            arg = args[idx]
            if not (isinstance(arg, exp.Literal) and not arg.is_string and arg.this.isdigit()):
                raise _fail(
                    f"{name} 的第 {idx + 1} 个参数必须是整数常量",
                    f"argument {idx + 1} of {name} must be an integer literal",
                    file=file,
                    line=line,
                    rule=rule,
                    position=pos,
                )
        if name == "ROUND_DIV" and int(args[2].this) > 4:
            raise _fail(
                "ROUND_DIV 最多保留4位小数",
                "ROUND_DIV keeps at most 4 places",
                file=file,
                line=line,
                rule=rule,
                position=pos,
            )
        checked.macros.add(name)
        return
    if isinstance(node, exp.Column):
        name = column_name(node).lower()
        if len(node.parts) == 1:
            if name not in scope.columns:
                raise _fail(
                    f"未知的列 {name}",
                    f"unknown column {name}",
                    file=file,
                    line=line,
                    rule=rule,
                    position=pos,
                )
            checked.columns.add(name)
            return
        if not scope.is_param(name):
            raise _fail(
                f"未知的参数或不允许的表引用 {name}",
                f"unknown parameter or table reference {name}",
                file=file,
                line=line,
                rule=rule,
                position=pos,
            )
        if scope.is_list_param(name):
            parent = node.parent
            if not (isinstance(parent, exp.In) and parent.args.get("field") is node):
                raise _fail(
                    f"列表参数 {name} 只能用于 IN",
                    f"list parameter {name} can only be used with IN",
                    file=file,
                    line=line,
                    rule=rule,
                    position=pos,
                )
        checked.params.add(name)
        return
    if isinstance(node, exp.Identifier):
        return
    if isinstance(node, exp.DataType):
        if node.this not in ALLOWED_TYPES:
            raise _fail(
                f"不允许的类型 {node.sql()}",
                f"type not allowed: {node.sql()}",
                file=file,
                line=line,
                rule=rule,
                position=pos,
            )
        return
    if isinstance(node, exp.In):
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise _fail(
                "不允许子查询",
                "subqueries are not allowed",
                file=file,
                line=line,
                rule=rule,
                position=pos,
            )
        return
    if isinstance(node, ALLOWED_NODES) or isinstance(node, ALLOWED_FUNCTIONS):
        return
    if isinstance(node, exp.Func):
        raise _fail(
            f"不允许的函数 {node.sql()}",
            f"function not allowed: {node.sql()}",
            file=file,
            line=line,
            rule=rule,
            position=pos,
        )
    if isinstance(node, _STATEMENTS):
        raise _fail(
            "不允许 SQL 语句（只能写表达式）",
            "SQL statements are not allowed (expressions only)",
            file=file,
            line=line,
            rule=rule,
            position=pos,
            text=node.sql(),
        )
    raise _fail(
        f"不允许的语法 {type(node).__name__}",
        f"construct not allowed: {type(node).__name__}",
        file=file,
        line=line,
        rule=rule,
        position=pos,
        text=node.sql(),
    )
