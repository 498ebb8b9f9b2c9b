"""One compiler: catalogue + parameter binding + as-of date → SQL steps for a dialect.

The plan is a chain of SELECTs over the input contract, one per *frame*:

    h0_*   households, with the parameter area key; household features over input tables
    p1_*   persons joined to their household; person features over feeds
    h2_*   household aggregates over members (n, sums, any-of), household rules
    p3_*   person rules that read household results (tekun, single person)
    ...    (as many alternations as the dependencies need)

Within a stage each level adds the columns whose inputs are ready. Aggregates over an input
table become one GROUP BY per table and key, joined once (`latest` as the MAX of one struct,
ordering columns first; a window only for rank ≥ 2, or one window for every rank of a table the
caller declares unique by key and order, `unique_keys`); groups whose values are all the defaults a
missing group reads as are left out of the join. No correlated subqueries, no per-row work
outside SQL. Each step names the earlier stages it is the last reader of (`Step.release`), so
engines can drop them early. Parameters are bound as literals; when
areas differ, as `CASE` on the household's area key. Macros (AS_OF, ROUND_DIV ...) expand to
portable SQL here, so both engines run the same arithmetic.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from safetynet.core.errors import SafetyNetError

from .build import HOUSEHOLD, PERSON, node_dependencies
from .catalogue import Catalogue, InputTable, Node
from .params import ParameterBinding, area_length
from .sqlcheck import Checked

# the column an input of each grain is keyed by
GRAIN_KEYS = {PERSON: "id_number", HOUSEHOLD: "household_id"}

SQL_TYPES = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "money": "DECIMAL(18, 2)",
    "decimal": "DECIMAL(18, 4)",
    "date": "DATE",
}
STEP_PREFIX = "sn_"
AS_OF_MACROS = ("AS_OF", "AS_OF_YEAR", "AS_OF_YMD", "AS_OF_MINUS_MONTHS")


def as_of_column_name(macro: str, months: int | None = None) -> str:
    """Household column carrying an as-of value when the date is data (batched assessment)."""
    if macro == "AS_OF_MINUS_MONTHS":
        return f"sn_as_of_minus_{months}"
    return {"AS_OF": "sn_as_of", "AS_OF_YEAR": "sn_as_of_year", "AS_OF_YMD": "sn_as_of_ymd"}[macro]


def as_of_values(day: dt.date, months: set[int]) -> dict[str, Any]:
    """The as-of columns for one household (see `as_of_column_name`)."""
    values: dict[str, Any] = {
        "sn_as_of": day,
        "sn_as_of_year": day.year,
        "sn_as_of_ymd": day.year * 10000 + day.month * 100 + day.day,
    }
    for m in sorted(months):
        values[f"sn_as_of_minus_{m}"] = months_before(day, m)
    return values


_MONTHS: dict[int, set[int]] = {}


def month_offsets(catalogue: Catalogue) -> set[int]:
    """Every n of AS_OF_MINUS_MONTHS(n) in the catalogue."""
    if id(catalogue) in _MONTHS:
        return set(_MONTHS[id(catalogue)])
    found: set[int] = set()
    for node in catalogue.nodes.values():
        parts = []
        if node.built is not None:
            parts.append(node.built)
        if node.expr is not None:
            parts.append(node.expr.expr)
        if node.agg is not None:
            parts += [
                p.expr for p in (node.agg.of, node.agg.where, node.agg.key_match) if p is not None
            ]
        for rule in [node.rule] if node.rule else []:
            parts += [c.expr for c, _ in rule.messages if c is not None]
        for part in parts:
            for call in part.find_all(exp.Anonymous):
                if str(call.this).upper() == "AS_OF_MINUS_MONTHS":
                    found.add(int(call.expressions[0].this))
    _MONTHS[id(catalogue)] = found
    return set(found)


class CompileError(SafetyNetError):
    code = "compile"

    def __init__(self, zh: str, en: str, *, step: str | None = None, sql: str | None = None, **kw):
        super().__init__(zh, en, step=step, sql=sql, **kw)
        self.step = step
        self.sql = sql


def months_before(day: dt.date, months: int) -> dt.date:
    """D − n calendar months, clamping the day to the end of the target month."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


@dataclass
class Step:
    name: str
    sql: str
    materialize: bool = False
    # earlier steps no later step or output reads once this one exists: an engine may drop them
    release: tuple[str, ...] = ()


@dataclass
class Plan:
    """Compiled SQL for one dialect, one as-of date and one parameter binding."""

    dialect: str
    as_of: dt.date
    binding: ParameterBinding
    steps: list[Step]
    outputs: dict[str, str]
    schemas: dict[str, list[tuple[str, str]]]
    inputs: dict[str, InputTable]
    final_frames: dict[str, str] = field(default_factory=dict)
    empty_inputs: frozenset[str] = frozenset()
    # input table → the key columns (id_number, household_id) that every read of it joins on,
    # for the tables read only that way: a run over some households may drop the rows whose
    # keys none of its persons or households has (`RuleEngine.run(some_households=True)`)
    keyed_inputs: dict[str, frozenset[str]] = field(default_factory=dict)

    def script(self) -> str:
        parts = [f"-- {s.name}\n{s.sql};" for s in self.steps]
        parts += [f"-- output {k}\n{v};" for k, v in self.outputs.items()]
        return "\n\n".join(parts)


def _join_on(pairs, key_names: list[str], alias: str) -> exp.Expression | None:
    """The frame's side of each key pair equal to the subquery's key column (None: no keys)."""
    join_on = None
    for (_, te), kn in zip(pairs, key_names, strict=True):
        eq = exp.EQ(this=te.copy(), expression=exp.column(kn, table=alias))
        join_on = eq if join_on is None else exp.And(this=join_on, expression=eq)
    return join_on


def _counted_once(node: Node, catalogue: Catalogue) -> Node:
    """A `count` over an input table whose rows are unique by its grain's key, by that key:
    1 when the row's own condition holds, else 0 — a row expression instead of a GROUP BY
    and a join (the same value: each key has one row)."""
    agg = node.agg
    table = catalogue.inputs[agg.source]
    if agg.fn != "count" or agg.key != "default" or table.grain != node.grain or agg.of:
        return node
    one, zero = exp.Literal.number(1), exp.Literal.number(0)
    if agg.where is None:
        expr: exp.Expression = one
        text, columns, params, macros = "1", set(), set(), set()
    else:
        w = agg.where
        expr = exp.Case(ifs=[exp.If(this=exp.Paren(this=w.expr.copy()), true=one)], default=zero)
        text = f"CASE WHEN ({w.text}) THEN 1 ELSE 0 END"
        columns, params, macros = set(w.columns), set(w.params), set(w.macros)
    checked = Checked(text=text, expr=expr, columns=columns, params=params, macros=macros)
    return replace(node, expr=checked, agg=None)


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, Decimal):
        return exp.Literal.number(format(value, "f"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise TypeError(f"cannot render {value!r} as a literal")


_TYPES: dict[str, exp.DataType] = {}


def _cast(e: exp.Expression, sql_type: str) -> exp.Expression:
    if sql_type not in _TYPES:
        _TYPES[sql_type] = exp.DataType.build(sql_type)
    return exp.Cast(this=e, to=_TYPES[sql_type].copy())


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name))


def _alias(e: exp.Expression, name: str | exp.Identifier, *, table: bool = False) -> exp.Expression:
    ident = name if isinstance(name, exp.Identifier) else exp.to_identifier(name)
    if table:
        return exp.alias_(e, ident, table=True, copy=False)
    return exp.Alias(this=e, alias=ident)


def _join_household(select: exp.Select, name: str, alias: str, other: str, kind: str) -> exp.Select:
    """`select` joined with the relation `name` AS `alias` on household_id = `other`'s."""
    on = exp.EQ(
        this=exp.column("household_id", table=other),
        expression=exp.column("household_id", table=alias),
    )
    return select.join(_alias(_table(name), alias, table=True), on=on, join_type=kind, copy=False)


def _date_literal(day: dt.date) -> exp.Expression:
    return _cast(exp.Literal.string(day.isoformat()), "DATE")


def _lowest(typ: str) -> exp.Expression:
    """The lowest value of a column type: what NULL sorts as under DESC NULLS LAST."""
    if typ == "date":
        return _date_literal(dt.date(1, 1, 1))
    if typ == "bool":
        return exp.false()
    if typ in ("money", "decimal"):
        return _cast(exp.Literal.number(-(10**15)), SQL_TYPES[typ])
    if typ == "int":
        return _cast(exp.Literal.number(-(2**31)), "BIGINT")
    return exp.Literal.string("")


@dataclass
class _Frame:
    name: str
    grain: str
    stage: int
    level: int
    select: exp.Select
    columns: set[str]


class _Compiler:
    def __init__(
        self,
        catalogue: Catalogue,
        binding: ParameterBinding,
        dialect: str,
        isolate: bool = False,
        empty_inputs: frozenset[str] = frozenset(),
        as_of_column: bool = False,
        ordered: bool = True,
        evidence: bool = False,
        explained: frozenset[str] | None = None,
        unique_keys: Mapping[str, tuple[str, ...]] | None = None,
    ):
        self.cat = catalogue
        self.binding = binding
        self.dialect = dialect
        self.as_of = binding.as_of
        self.nodes = catalogue.nodes
        self.unique_keys = dict(unique_keys or {})
        # tables with one row per key of their grain: a count by that key is a row expression
        by_grain_key = {
            name
            for name, columns in self.unique_keys.items()
            if columns == (GRAIN_KEYS.get(catalogue.inputs[name].grain),)
        }
        if by_grain_key:
            self.nodes = {
                name: _counted_once(node, catalogue)
                if node.agg is not None and node.agg.source in by_grain_key
                else node
                for name, node in catalogue.nodes.items()
            }
        self.steps: list[tuple[str, exp.Expression]] = []
        self.stage: dict[str, int] = {}
        self.level: dict[str, int] = {}
        self.current_node: str | None = None
        self.agg_count = 0
        self.materialized: set[str] = set()
        self.isolate = isolate
        self.empty_inputs = empty_inputs
        self.as_of_column = as_of_column
        self.ordered = ordered
        self.evidence = evidence
        self.explained = explained
        self.as_of_columns = (
            sorted(as_of_values(binding.as_of, month_offsets(catalogue))) if as_of_column else []
        )
        self.param_values_cache: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ rendering

    def param_values(self, component: str) -> dict[str, Any]:
        if component not in self.param_values_cache:
            self.param_values_cache[component] = self.binding.values(component, self.cat.params)
        return self.param_values_cache[component]

    def _varies(self, component: str) -> bool:
        values = list(self.param_values(component).values())
        return any(v != values[0] for v in values[1:])

    def _by_value(self, component: str) -> list[tuple[Any, list[str]]]:
        groups: dict[Any, list[str]] = {}
        for key, value in self.param_values(component).items():
            groups.setdefault(value, []).append(key)
        return list(groups.items())

    def _area_case(
        self,
        component: str,
        area: exp.Expression | None,
        render_value: Callable[[Any], exp.Expression],
    ) -> exp.Expression:
        if not self._varies(component):
            values = list(self.param_values(component).values())
            return render_value(values[0] if values else None)
        if area is None:
            raise CompileError(
                f"参数 {component} 因地区而异，不能用于按县或全表的聚合（{self.current_node}）",
                f"parameter {component} varies by area and cannot be used in a county or table-wide "
                f"aggregate ({self.current_node})",
                step=self.current_node,
            )
        ifs = []
        for value, keys in self._by_value(component):
            cond = exp.In(
                this=area.copy(), expressions=[exp.Literal.string(k) for k in sorted(keys)]
            )
            ifs.append(exp.If(this=cond, true=render_value(value)))
        return exp.Paren(this=exp.Case(ifs=ifs))

    def render(
        self,
        expression: exp.Expression,
        alias: Callable[[str], str | None],
        area: exp.Expression | None,
    ) -> exp.Expression:
        """Qualify columns, bind parameters and expand macros."""

        def fn(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column):
                parts = [p.name for p in node.parts]
                if len(parts) == 1:
                    name = parts[0].lower()
                    table = alias(name)
                    return exp.column(name, table=table) if table else exp.column(name)
                component = ".".join(parts)
                return self._area_case(component, area, _literal)
            if isinstance(node, exp.In) and isinstance(node.args.get("field"), exp.Column):
                component = ".".join(p.name for p in node.args["field"].parts)
                subject = node.this

                def in_list(values):
                    if values is None:
                        return exp.Null()
                    return exp.Paren(
                        this=exp.In(
                            this=self.render(subject, alias, area),
                            expressions=[_literal(v) for v in values],
                        )
                    )

                return self._area_case(component, area, in_list)
            if isinstance(node, exp.Anonymous):
                args = [self.render(a, alias, area) for a in node.expressions]
                return self.macro(str(node.this).upper(), args, alias)
            return node

        return expression.copy().transform(fn)

    def macro(
        self,
        name: str,
        args: list[exp.Expression],
        alias: Callable[[str], str | None] = lambda _n: None,
    ) -> exp.Expression:
        if self.as_of_column and name in AS_OF_MACROS:
            column = as_of_column_name(name, int(args[0].this) if args else None)
            return exp.column(column, table=alias(column))
        if name == "AS_OF":
            return _date_literal(self.as_of)
        if name == "AS_OF_YEAR":
            return exp.Literal.number(self.as_of.year)
        if name == "AS_OF_YMD":
            return exp.Literal.number(
                self.as_of.year * 10000 + self.as_of.month * 100 + self.as_of.day
            )
        if name == "AS_OF_MINUS_MONTHS":
            return _date_literal(months_before(self.as_of, int(args[0].this)))
        if name == "YMD":
            d = args[0]
            return exp.Paren(
                this=exp.Add(
                    this=exp.Add(
                        this=exp.Mul(
                            this=exp.Year(this=d.copy()), expression=exp.Literal.number(10000)
                        ),
                        expression=exp.Mul(
                            this=exp.Month(this=d.copy()), expression=exp.Literal.number(100)
                        ),
                    ),
                    expression=exp.Day(this=d.copy()),
                )
            )
        if name == "INT_DIV":
            return exp.Paren(
                this=exp.IntDiv(this=exp.Paren(this=args[0]), expression=exp.Paren(this=args[1]))
            )
        if name == "ROUND_DIV":
            return self.round_div(args[0], args[1], int(args[2].this))
        raise CompileError(f"未知宏 {name}", f"unknown macro {name}", step=self.current_node)

    @staticmethod
    def round_div(a: exp.Expression, b: exp.Expression, places: int) -> exp.Expression:
        """Exact a / b rounded half up (away from zero) to `places`, in integer arithmetic.

        a is scaled to millionths (exact for up to 6 decimal places), b is a positive integer.
        With A = a × 10^6, N = |A| × 10^k, D = b × 10^6: result = sign(A) × ⌊(2N + D) / 2D⌋ / 10^k.
        Both engines do the same BIGINT operations, so they agree to the last digit.

        A is computed in double precision when |a| < 10^9: a value with up to 6 decimal places
        is then within 0.25 of the integer A after the one rounding of each step, so ROUND gives
        A exactly — about 12 times cheaper than the 38-digit DECIMAL arithmetic used for larger
        values (one rounding macro over 3M households: 1.0 CPU-s that way, 0.08 s this way).
        """
        scale = 1_000_000
        as_double = _cast(exp.Paren(this=a), "DOUBLE")
        fast = _cast(
            exp.Round(
                this=exp.Mul(this=as_double.copy(), expression=exp.Literal.number(scale)),
                decimals=exp.Literal.number(0),
            ),
            "BIGINT",
        )
        exact = _cast(
            exp.Round(
                this=exp.Mul(
                    this=_cast(exp.Paren(this=a.copy()), "DECIMAL(38, 6)"),
                    expression=exp.Literal.number(scale),
                ),
                decimals=exp.Literal.number(0),
            ),
            "BIGINT",
        )
        big_a = exp.Paren(
            this=exp.Case(
                ifs=[
                    exp.If(
                        this=exp.LT(
                            this=exp.Abs(this=as_double.copy()),
                            expression=exp.Literal.number(10**9),
                        ),
                        true=fast,
                    )
                ],
                default=exact,
            )
        )
        big_b = _cast(exp.Paren(this=b), "BIGINT")
        numerator = exp.Add(
            this=exp.Mul(
                this=exp.Mul(this=exp.Literal.number(2), expression=exp.Abs(this=big_a.copy())),
                expression=exp.Literal.number(10**places),
            ),
            expression=exp.Mul(this=big_b.copy(), expression=exp.Literal.number(scale)),
        )
        denominator = exp.Mul(
            this=exp.Mul(this=exp.Literal.number(2), expression=big_b.copy()),
            expression=exp.Literal.number(scale),
        )
        quotient = exp.Paren(
            this=exp.IntDiv(this=exp.Paren(this=numerator), expression=exp.Paren(this=denominator))
        )
        signed = exp.Case(
            ifs=[
                exp.If(
                    this=exp.LT(this=big_a.copy(), expression=exp.Literal.number(0)),
                    true=exp.Neg(this=quotient.copy()),
                )
            ],
            default=quotient,
        )
        if places > 0:
            signed = _cast(
                exp.Mul(
                    this=_cast(signed, "DECIMAL(36, 0)"),
                    expression=exp.Literal.number("0." + "0" * (places - 1) + "1"),
                ),
                f"DECIMAL(38, {places})",
            )
        return exp.Paren(
            this=exp.Case(
                ifs=[
                    exp.If(
                        this=exp.GT(this=big_b.copy(), expression=exp.Literal.number(0)),
                        true=signed,
                    )
                ]
            )
        )

    # ------------------------------------------------------------------ planning

    @staticmethod
    def _next_stage(grain: str, after: int) -> int:
        s = after + 1
        while (s % 2 == 0) != (grain == HOUSEHOLD):
            s += 1
        return s

    def assign(self) -> None:
        for name in self.cat.order:
            node = self.nodes[name]
            if node.origin in ("input", "builtin"):
                self.stage[name] = 0 if node.grain == HOUSEHOLD else 1
                self.level[name] = 0
                continue
            deps = node_dependencies(node)
            if node.agg is not None and node.agg.source == "members":
                s = 2
                for d in deps:
                    s = max(s, self._next_stage(HOUSEHOLD, self.stage[d]))
                self.stage[name] = s
                self.level[name] = 0
                continue
            s = 0 if node.grain == HOUSEHOLD else 1
            for d in deps:
                dn = self.nodes[d]
                if dn.grain == node.grain:
                    s = max(s, self.stage[d])
                else:
                    s = max(s, self._next_stage(node.grain, self.stage[d]))
            level = 1
            for d in deps:
                if self.nodes[d].grain == node.grain and self.stage[d] == s:
                    level = max(level, self.level[d] + 1)
            self.stage[name] = s
            self.level[name] = level

    END = (10**6, 0)

    def _uses(self, computed: list[str]) -> dict[str, tuple[int, int]]:
        """For every name, the (stage, level) of its last reader; outputs read at the end."""
        uses: dict[str, tuple[int, int]] = {}

        def use(name: str, pos: tuple[int, int]) -> None:
            if pos > uses.get(name, (-1, -1)):
                uses[name] = pos

        for n in computed:
            for d in node_dependencies(self.nodes[n]):
                use(d, (self.stage[n], self.level[n]))
        for rel in ("households", "persons"):
            for node_name, _ in self.cat.outputs[rel].values():
                use(node_name, self.END)
        for grain in (HOUSEHOLD, PERSON):
            for n in self._value_columns(grain):
                use(n, self.END)
        for rule in self.cat.rules.values():
            if self.evidence and rule.active and rule.kind == "monitoring":
                use(rule.node, self.END)
            if rule.active and rule.kind == "quality":
                use(rule.node, self.END)
                for cond, _ in rule.messages:
                    if cond is not None:
                        for c in cond.columns:
                            use(c, self.END)
        return uses

    def _carry(self, columns, s: int, lvl: int) -> list[str]:
        """Columns of a frame at (s, lvl) that a later frame or an output still reads.

        Passing only these on (instead of `t.*`) keeps every frame narrow; binding wide
        projections level after level is most of the engines' planning time on small inputs.
        """
        return sorted(
            c for c in columns if c in self.keys or self.use_pos.get(c, (-1, -1)) > (s, lvl)
        )

    # ------------------------------------------------------------------ building

    def add_step(self, name: str, select: exp.Expression) -> str:
        full = STEP_PREFIX + name
        self.steps.append((full, select))
        return full

    def compile(self) -> Plan:
        self.assign()
        computed = [n for n in self.cat.order if self.nodes[n].origin not in ("input", "builtin")]
        max_stage = max([self.stage[n] for n in computed] + [1])
        last: dict[str, _Frame | None] = {HOUSEHOLD: None, PERSON: None}
        person_inputs = set(self.cat.inputs["persons"].all_columns())
        household_inputs = set(self.cat.inputs["households"].all_columns())
        if self.binding.mode == "column":
            household_inputs.discard("param_key")
            household_inputs.add("param_key")
        base_frames: dict[str, _Frame] = {}

        self.use_pos = self._uses(computed)
        self.keys = {"household_id", "id_number", "area_key", "county_code", *self.as_of_columns}
        for s in range(max_stage + 1):
            grain = HOUSEHOLD if s % 2 == 0 else PERSON
            in_stage = [n for n in computed if self.stage[n] == s]
            if s > 1 and not in_stage:
                continue
            levels = sorted({self.level[n] for n in in_stage} | {0})
            for lvl in range(0, max(levels) + 1):
                here = [n for n in in_stage if self.level[n] == lvl]
                self.current_node = f"{grain}:{s}:{lvl}"
                prefix = "h" if grain == HOUSEHOLD else "p"
                name = f"{prefix}{s}_{lvl}"
                if lvl == 0:
                    frame = self._base_frame(
                        name, grain, s, here, last, person_inputs, household_inputs
                    )
                    if s <= 1:
                        base_frames[grain] = frame
                else:
                    if not here:
                        continue
                    frame = self._level_frame(name, grain, s, lvl, here, last[grain], base_frames)
                frame.name = self.add_step(name, frame.select)
                last[grain] = frame
            # Materialise the stage's result with only the columns used later: later stages read
            # it twice (cross-grain join and aggregation), and views would re-expand every time.
            frame = last[grain]
            keep = self._carry(frame.columns, s, 10**5)
            select = exp.select(*[exp.column(c, table="t") for c in keep]).from_(
                _alias(_table(frame.name), "t", table=True), copy=False
            )
            name = self.add_step(f"{'h' if grain == HOUSEHOLD else 'p'}{s}", select)
            self.materialized.add(name)
            last[grain] = _Frame(name, grain, s, 99, select, set(keep))

        hh, pp = last[HOUSEHOLD], last[PERSON]
        assert hh is not None and pp is not None
        outputs, schemas = self._outputs(hh, pp)
        # One step per stage: its frames and aggregates as CTEs, the stage result materialised.
        rendered_steps = []
        pending: list[tuple[str, exp.Expression]] = []
        for name, select in self.steps:
            if name not in self.materialized:
                pending.append((name, select))
                continue
            block = select
            for cte_name, cte in pending:
                block = block.with_(cte_name, as_=cte, copy=False)
            pending = []
            # The last person stage of a region plan, when it only joins its household's
            # values and computes row by row, is a view: its readers (the outputs, the evidence's
            # members) each compute their part, instead of 10M rows written and read back.
            view = (
                name == pp.name and not self.isolate and block.find(exp.AggFunc, exp.Window) is None
            )
            rendered_steps.append(Step(name=name, sql=self._sql(block, name), materialize=not view))
        assert not pending, "every frame belongs to a materialised stage"
        _mark_releases(rendered_steps, [hh.name, pp.name])
        rendered_outputs = {k: self._sql(v, f"output:{k}") for k, v in outputs.items()}
        return Plan(
            dialect=self.dialect,
            as_of=self.as_of,
            binding=self.binding,
            steps=rendered_steps,
            outputs=rendered_outputs,
            schemas=schemas,
            inputs=self.cat.inputs,
            final_frames={HOUSEHOLD: hh.name, PERSON: pp.name},
            empty_inputs=self.empty_inputs,
            keyed_inputs=self._keyed_inputs(),
        )

    def _keyed_inputs(self) -> dict[str, frozenset[str]]:
        """Input tables whose every aggregate is keyed by its grain's key alone (a person's ID
        number, a household's id), with those key columns. Evidence reads the same tables by
        the same keys. A table also read by county, by a computed match, as a whole, or with
        per-household as-of dates is left out: its rows reach households beyond their keys."""
        keys: dict[str, set[str]] = {}
        other: set[str] = set()
        for node in self.nodes.values():
            agg = node.agg
            if agg is None or agg.source not in self.cat.inputs:
                continue
            if agg.key != "default" or self.isolate or self.as_of_column:
                other.add(agg.source)
                continue
            keys.setdefault(agg.source, set()).add(
                "id_number" if node.grain == PERSON else "household_id"
            )
        return {t: frozenset(k) for t, k in sorted(keys.items()) if t not in other}

    def _sql(self, expression: exp.Expression, step: str) -> str:
        try:
            return expression.sql(
                dialect=self.dialect, unsupported_level=ErrorLevel.RAISE, pretty=True
            )
        except SqlglotError as exc:
            raise CompileError(
                f"无法生成 {self.dialect} SQL：{exc}",
                f"cannot generate {self.dialect} SQL: {exc}",
                step=step,
                sql=expression.sql(),
            ) from exc

    def _area_key_expr(self) -> exp.Expression:
        if self.binding.mode == "column":
            return exp.column("param_key", table="t")
        keys = [k for k in self.binding.keys if k != "CN"]
        by_len: dict[int, list[str]] = {}
        for k in keys:
            by_len.setdefault(area_length(k), []).append(k)
        ifs = []
        for length in sorted(by_len, reverse=True):
            sub = exp.Substring(
                this=exp.column("village_code", table="t"),
                start=exp.Literal.number(1),
                length=exp.Literal.number(length),
            )
            cond = exp.In(
                this=sub, expressions=[exp.Literal.string(k) for k in sorted(by_len[length])]
            )
            ifs.append(exp.If(this=cond, true=sub.copy()))
        default = exp.Literal.string("CN")
        return exp.Case(ifs=ifs, default=default) if ifs else default

    def _base_frame(self, name, grain, s, here, last, person_inputs, household_inputs) -> _Frame:
        if s == 0:
            carried = self._carry(household_inputs, 0, 0)
            select = exp.select(
                *[exp.column(c, table="t") for c in carried],
                _alias(self._area_key_expr(), "area_key"),
                _alias(
                    exp.Substring(
                        this=exp.column("village_code", table="t"),
                        start=exp.Literal.number(1),
                        length=exp.Literal.number(6),
                    ),
                    "county_code",
                ),
            ).from_(_alias(_table("households"), "t", table=True), copy=False)
            if self.as_of_column:
                select = select.select(
                    *[exp.column(c, table="t") for c in self.as_of_columns if c not in carried],
                    append=True,
                    copy=False,
                )
            cols = set(carried) | {"area_key", "county_code"} | set(self.as_of_columns)
            return _Frame(name, grain, s, 0, select, cols)
        if grain == PERSON:
            hh = last[HOUSEHOLD]
            prev = last[PERSON]
            imports = set()
            for n in [
                x
                for x in self.cat.order
                if self.stage.get(x) == s and self.nodes[x].grain == PERSON
            ]:
                if self.nodes[n].origin in ("input", "builtin"):
                    continue
                for d in node_dependencies(self.nodes[n]):
                    if self.nodes[d].grain == HOUSEHOLD:
                        imports.add(d)
            have = prev.columns if prev is not None else set(person_inputs)
            imports = sorted(i for i in imports if i not in have and i not in person_inputs)
            if s == 1:
                imports = sorted(set(imports) | {"area_key"} | set(self.as_of_columns))
                source = _alias(_table("persons"), "t", table=True)
                join_kind = "inner"
            else:
                source = _alias(_table(prev.name), "t", table=True)
                join_kind = "left"
            base_cols = set(person_inputs) if s == 1 else set(prev.columns)
            carried = [c for c in self._carry(base_cols, s, 0) if c not in imports]
            select = (
                exp.select(
                    *[exp.column(c, table="t") for c in carried],
                    *[exp.column(c, table="h") for c in imports],
                )
                .from_(source, copy=False)
                .join(
                    _alias(_table(hh.name), "h", table=True),
                    on=exp.EQ(
                        this=exp.column("household_id", table="t"),
                        expression=exp.column("household_id", table="h"),
                    ),
                    join_type=join_kind,
                    copy=False,
                )
            )
            return _Frame(name, grain, s, 0, select, set(carried) | set(imports))
        # household stage ≥ 2: aggregates over the members
        prev_h = last[HOUSEHOLD]
        persons = last[PERSON]
        aggs = [n for n in here if self.nodes[n].agg is not None]
        m_alias = lambda _n: "m"  # noqa: E731
        agg_select = exp.select(_alias(exp.column("household_id", table="m"), "household_id"))
        outer = []
        for n in aggs:
            node = self.nodes[n]
            self.current_node = n
            agg_expr, outer_expr = self._aggregate(
                node, m_alias, exp.column("area_key", table="m"), "a"
            )
            agg_select = agg_select.select(_alias(agg_expr, n), append=True, copy=False)
            outer.append(_alias(outer_expr, n))
        agg_select = agg_select.from_(
            _alias(_table(persons.name), "m", table=True), copy=False
        ).group_by(exp.column("household_id", table="m"), copy=False)
        agg_name = self.add_step(f"members_{s}", agg_select)
        carried = self._carry(prev_h.columns, s, 0)
        select = (
            exp.select(*[exp.column(c, table="t") for c in carried], *outer)
            .from_(_alias(_table(prev_h.name), "t", table=True), copy=False)
            .join(
                _alias(_table(agg_name), "a", table=True),
                on=exp.EQ(
                    this=exp.column("household_id", table="t"),
                    expression=exp.column("household_id", table="a"),
                ),
                join_type="left",
                copy=False,
            )
        )
        return _Frame(name, grain, s, 0, select, set(carried) | set(aggs))

    def _aggregate(
        self, node: Node, alias, area, outer_alias: str
    ) -> tuple[exp.Expression, exp.Expression]:
        """The aggregate over source rows and the expression that reads it after the join."""
        agg = node.agg
        assert agg is not None
        of = self.render(agg.of.expr, alias, area) if agg.of is not None else None
        where = self.render(agg.where.expr, alias, area) if agg.where is not None else None
        ref = exp.column(node.name, table=outer_alias)
        one, zero = exp.Literal.number(1), exp.Literal.number(0)
        if agg.fn == "count":
            inner = exp.Case(ifs=[exp.If(this=where, true=one)]) if where is not None else one
            return exp.Count(this=inner), exp.Coalesce(this=ref, expressions=[zero])
        if agg.fn == "any":
            cond = (
                exp.And(this=exp.Paren(this=where), expression=exp.Paren(this=of))
                if where is not None
                else of
            )
            inner = exp.Case(ifs=[exp.If(this=cond, true=one)], default=zero)
            return exp.Max(this=inner), exp.EQ(
                this=exp.Coalesce(this=ref, expressions=[zero.copy()]), expression=one.copy()
            )
        value = exp.Case(ifs=[exp.If(this=where, true=of)]) if where is not None else of
        if agg.fn == "sum":
            return exp.Sum(this=value), exp.Coalesce(this=ref, expressions=[zero])
        if agg.fn == "min":
            return exp.Min(this=value), ref
        if agg.fn == "max":
            return exp.Max(this=value), ref
        raise CompileError(
            f"不支持的聚合 {agg.fn}", f"unsupported aggregate {agg.fn}", step=node.name
        )

    def _level_frame(self, name, grain, s, lvl, here, prev: _Frame, base_frames) -> _Frame:
        t_alias = lambda _n: "t"  # noqa: E731
        area = exp.column("area_key", table="t")
        carried = self._carry(prev.columns, s, lvl)
        select = exp.select(*[exp.column(c, table="t") for c in carried]).from_(
            _alias(_table(prev.name), "t", table=True), copy=False
        )
        new_cols = []
        # expression nodes
        for n in here:
            node = self.nodes[n]
            if node.agg is not None:
                continue
            self.current_node = n
            source = node.built if node.built is not None else node.expr.expr
            rendered = self.render(source, t_alias, area)
            if node.type == "bool":
                rendered = exp.Coalesce(this=rendered, expressions=[exp.false()])
            select = select.select(_alias(rendered, n), append=True, copy=False)
            new_cols.append(n)
        # table aggregates, grouped into one subquery per table and key
        groups: dict[tuple, list[str]] = {}
        for n in here:
            node = self.nodes[n]
            if node.agg is None:
                continue
            agg = node.agg
            if agg.source in self.empty_inputs:
                # Known-empty optional input: the aggregate's value over no rows, no join.
                select = select.select(_alias(self._empty_value(node), n), append=True, copy=False)
                new_cols.append(n)
                continue
            match = agg.key_match.text if agg.key_match is not None else None
            table_cols = self.cat.inputs[agg.source].all_columns()
            isolated = self.isolate and "household_id" in table_cols
            if agg.fn == "latest":
                gkey = ("latest", agg.group, agg.source, agg.key, agg.key_column, match)
            else:
                gkey = ("agg", agg.source, agg.key, agg.key_column, match, isolated)
            groups.setdefault(gkey, []).append(n)
        shared = self._shared_windows(groups, grain, prev)
        for i, (gkey, members) in enumerate(groups.items()):
            a = f"a{i}"
            if gkey in shared:
                window, pairs, key_names = shared[gkey]
                rank = self.nodes[members[0]].agg.rank
                cte = (
                    exp.select(
                        *[exp.column(c) for c in key_names], *[exp.column(n) for n in members]
                    )
                    .from_(_table(window), copy=False)
                    .where(
                        exp.EQ(this=exp.column("rn"), expression=exp.Literal.number(rank)),
                        copy=False,
                    )
                )
                join_on = _join_on(pairs, key_names, a)
            else:
                cte, join_on = self._table_agg(members, grain, prev, a)
            cte_name = self.add_step(f"agg_{self.agg_count}", cte)
            self.agg_count += 1
            target = _alias(_table(cte_name), a, table=True)
            if join_on is None:
                select = select.join(target, join_type="cross", copy=False)
            else:
                select = select.join(target, on=join_on, join_type="left", copy=False)
            for n in members:
                node = self.nodes[n]
                ref = exp.column(n, table=a)
                if node.agg.fn in ("count", "sum"):
                    expr_ = exp.Coalesce(this=ref, expressions=[exp.Literal.number(0)])
                elif node.agg.fn == "any":
                    expr_ = exp.EQ(
                        this=exp.Coalesce(this=ref, expressions=[exp.Literal.number(0)]),
                        expression=exp.Literal.number(1),
                    )
                else:
                    expr_ = ref
                select = select.select(_alias(expr_, n), append=True, copy=False)
                new_cols.append(n)
        return _Frame(name, grain, s, lvl, select, set(carried) | set(new_cols))

    def _shared_windows(self, groups: dict[tuple, list[str]], grain: str, prev: _Frame):
        """`latest` groups of one table, key, condition and order that differ only in rank
        (this year's income and last year's) read one window over the table instead of an
        aggregate for rank 1 and a window for the others — when the caller guarantees the
        table one row per key and order (`unique_keys`), so rank 1 is the same row either way.
        Returns {group key: (window step, key pairs, key column names)}."""
        families: dict[tuple, list[tuple]] = {}
        for gkey, members in groups.items():
            agg = self.nodes[members[0]].agg
            unique = self.unique_keys.get(agg.source)
            if gkey[0] != "latest" or unique is None or agg.key != "default" or self.isolate:
                continue
            if not set(unique) <= {GRAIN_KEYS[grain], *agg.order_by}:
                continue
            where = agg.where.text if agg.where is not None else None
            families.setdefault((agg.source, where, agg.order_by), []).append(gkey)
        shared: dict[tuple, tuple] = {}
        for gkeys in families.values():
            ranks = {self.nodes[groups[g][0]].agg.rank for g in gkeys}
            if len(gkeys) < 2 or 1 not in ranks:
                continue
            members = [n for g in gkeys for n in groups[g]]
            window, pairs, key_names = self._agg_subquery(
                members, grain, prev, ranks_up_to=max(ranks)
            )
            name = self.add_step(f"agg_{self.agg_count}", window)
            self.agg_count += 1
            for g in gkeys:
                shared[g] = (name, pairs, key_names)
        return shared

    def _empty_value(self, node: Node) -> exp.Expression:
        fn = node.agg.fn
        if fn in ("count", "sum"):
            return _cast(
                exp.Literal.number(0), SQL_TYPES["money" if node.type == "money" else "int"]
            )
        if fn == "any":
            return exp.false()
        return _cast(exp.Null(), SQL_TYPES[node.type])

    def _table_agg(self, members: list[str], grain: str, prev: _Frame, a: str):
        """One subquery aggregating an input table for a group of nodes, and its join condition
        (the subquery aliased `a`)."""
        cte, pairs, key_names = self._agg_subquery(members, grain, prev)
        return cte, _join_on(pairs, key_names, a)

    def _agg_subquery(
        self, members: list[str], grain: str, prev: _Frame, *, ranks_up_to: int | None = None
    ):
        """The subquery aggregating an input table for a group of nodes: (subquery, key pairs,
        key column names).

        Keys are pairs (expression over the table `f`, expression over the frame `t`). In
        isolated mode (batched scenarios) every table that has household_id is also keyed by
        it, so scenarios that share ID numbers or counties never see each other's records.
        `ranks_up_to` (latest groups only): the window's rows of ranks 1..n with their rank
        `rn`, which the groups of each rank then read (`_shared_windows`).
        """
        first = self.nodes[members[0]].agg
        key = first.key

        def source(table: str, names: list[str]):
            columns = self.cat.inputs[table].all_columns()
            f_alias = lambda n: "hx" if n.startswith("sn_as_of") else "f"  # noqa: E731
            needs_area = any(self._varies(p) for n in names for p in self.nodes[n].param_refs())
            from_: exp.Expression = _alias(_table(table), "f", table=True)
            joins: list[tuple[exp.Expression, exp.Expression, str]] = []
            pairs: list[tuple[exp.Expression, exp.Expression]] = []
            isolate = self.isolate and "household_id" in columns
            area = None
            if self.as_of_column and any(
                part is not None and part.macros & set(AS_OF_MACROS)
                for n in names
                for part in (self.nodes[n].agg.of, self.nodes[n].agg.where)
            ):
                if "household_id" not in columns:
                    raise CompileError(
                        f"{table} 没有 household_id，不能按户取评估日期",
                        f"{table} has no household_id to take the as-of date from",
                        step=members[0],
                    )
                joins.append(
                    (
                        _alias(_table("households"), "hx", table=True),
                        exp.EQ(
                            this=exp.column("household_id", table="f"),
                            expression=exp.column("household_id", table="hx"),
                        ),
                        "inner",
                    )
                )
            if key == "default":
                key_col = "id_number" if grain == PERSON else "household_id"
                if isolate and key_col != "household_id":
                    pairs.append(
                        (
                            exp.column("household_id", table="f"),
                            exp.column("household_id", table="t"),
                        )
                    )
                pairs.append((exp.column(key_col, table="f"), exp.column(key_col, table="t")))
                if needs_area:
                    base = prev
                    map_keys = [c for c in ("household_id", key_col) if isolate or c == key_col]
                    map_keys = list(dict.fromkeys(map_keys))
                    area_map = (
                        exp.select(
                            *[exp.column(c) for c in map_keys],
                            _alias(exp.Min(this=exp.column("area_key")), "area_key"),
                        )
                        .from_(_table(base.name), copy=False)
                        .group_by(*[exp.column(c) for c in map_keys], copy=False)
                    )
                    cond = None
                    for c in map_keys:
                        eq = exp.EQ(
                            this=exp.column(c, table="f"), expression=exp.column(c, table="ak")
                        )
                        cond = eq if cond is None else exp.And(this=cond, expression=eq)
                    joins.append(
                        (_alias(exp.Subquery(this=area_map), "ak", table=True), cond, "left")
                    )
                    area = exp.column("area_key", table="ak")
            elif key == "county":
                if isolate:
                    pairs.append(
                        (
                            exp.column("household_id", table="f"),
                            exp.column("household_id", table="t"),
                        )
                    )
                else:
                    # every household of the scope, not only those evaluated (incremental runs)
                    joins.append(
                        (
                            _alias(_table("household_villages"), "hh", table=True),
                            exp.EQ(
                                this=exp.column("household_id", table="f"),
                                expression=exp.column("household_id", table="hh"),
                            ),
                            "inner",
                        )
                    )
                    pairs.append(
                        (
                            exp.Substring(
                                this=exp.column("village_code", table="hh"),
                                start=exp.Literal.number(1),
                                length=exp.Literal.number(6),
                            ),
                            exp.column("county_code", table="t"),
                        )
                    )
            else:
                if isolate:
                    pairs.append(
                        (
                            exp.column("household_id", table="f"),
                            exp.column("household_id", table="t"),
                        )
                    )
                if key == "match":
                    pairs.append(
                        (
                            exp.column(first.key_column, table="f"),
                            self.render(
                                first.key_match.expr,
                                lambda _n: "t",
                                exp.column("area_key", table="t"),
                            ),
                        )
                    )
            return from_, joins, pairs, area, f_alias

        if first.fn == "latest" and first.rank == 1 and ranks_up_to is None:
            cte, pairs, key_names = self._latest_by_aggregate(first, members, source)
        elif first.fn == "latest":
            from_, joins, pairs, area, f_alias = source(first.source, members)
            key_names = [f"k{i}" for i in range(len(pairs))]
            inner = exp.select(
                *[_alias(fe.copy(), kn) for (fe, _), kn in zip(pairs, key_names, strict=True)]
            )
            for n in members:
                node = self.nodes[n]
                self.current_node = n
                inner = inner.select(
                    _alias(self.render(node.agg.of.expr, f_alias, area), n), append=True, copy=False
                )
            order = [
                exp.Ordered(this=exp.column(c, table="f"), desc=True, nulls_first=False)
                for c in first.order_by
            ]
            window = exp.Window(
                this=exp.RowNumber(),
                partition_by=[fe.copy() for fe, _ in pairs] or None,
                order=exp.Order(expressions=order),
            )
            inner = inner.select(_alias(window, "rn"), append=True, copy=False).from_(
                from_, copy=False
            )
            for target, on, kind in joins:
                inner = inner.join(target, on=on, join_type=kind, copy=False)
            if first.where is not None:
                inner = inner.where(self.render(first.where.expr, f_alias, area), copy=False)
            cols = [exp.column(kn, table="x") for kn in key_names] + [
                exp.column(n, table="x") for n in members
            ]
            rn = exp.column("rn", table="x")
            if ranks_up_to is None:
                keep = exp.EQ(this=rn, expression=exp.Literal.number(first.rank))
            else:
                cols.append(rn.copy())
                keep = exp.LTE(this=rn, expression=exp.Literal.number(ranks_up_to))
            cte = (
                exp.select(*cols)
                .from_(_alias(exp.Subquery(this=inner), "x", table=True), copy=False)
                .where(keep, copy=False)
            )
        else:
            # Row values per record, then one GROUP BY per table and key. (Fusing several
            # tables into one UNION ALL + GROUP BY was measured slower on DuckDB.)
            by_table: dict[str, list[str]] = {}
            for n in members:
                by_table.setdefault(self.nodes[n].agg.source, []).append(n)
            branches = []
            pairs = []
            key_names: list[str] = []
            for table, names in by_table.items():
                from_, joins, pairs, area, f_alias = source(table, names)
                key_names = [f"k{i}" for i in range(len(pairs))]
                branch = exp.select(
                    *[_alias(fe.copy(), kn) for (fe, _), kn in zip(pairs, key_names, strict=True)]
                )
                for n in members:
                    self.current_node = n
                    value = (
                        self._row_value(self.nodes[n], f_alias, area) if n in names else exp.Null()
                    )
                    branch = branch.select(_alias(value, f"v_{n}"), append=True, copy=False)
                branch = branch.from_(from_, copy=False)
                for target, on, kind in joins:
                    branch = branch.join(target, on=on, join_type=kind, copy=False)
                # A record none of whose conditions holds adds only NULLs and zeros, which the
                # HAVING below drops when they are all a key has: leave it out before grouping
                # (at region scale most department records lie outside the rules' windows).
                conds = [self._row_filter(self.nodes[n], f_alias, area) for n in names]
                if key_names and conds and all(c is not None for c in conds):
                    keep_row = conds[0]
                    for c in conds[1:]:
                        keep_row = exp.Or(this=keep_row, expression=c)
                    branch = branch.where(keep_row, copy=False)
                branches.append(branch)
            union = branches[0]
            for b in branches[1:]:
                union = exp.union(union, b, distinct=False)
            cte = exp.select(*[exp.column(kn, table="u") for kn in key_names])
            for n in members:
                column = exp.column(f"v_{n}", table="u")
                cte = cte.select(
                    _alias(self._aggregate_of(self.nodes[n].agg.fn, column), n),
                    append=True,
                    copy=False,
                )
            cte = cte.from_(_alias(exp.Subquery(this=union), "u", table=True), copy=False)
            if key_names:
                cte = cte.group_by(*[exp.column(kn, table="u") for kn in key_names], copy=False)
                # Keys whose every value is the default the frame fills in for a missing key
                # (0, false, NULL) need not be joined: at region scale the hash table shrinks
                # from every person with a record to the few the records say something about.
                keep = None
                for n in members:
                    cond = self._not_default(self.nodes[n].agg.fn, f"v_{n}")
                    keep = cond if keep is None else exp.Or(this=keep, expression=cond)
                cte = cte.having(keep, copy=False)
        return cte, pairs, key_names

    def _latest_by_aggregate(self, first, members: list[str], source):
        """`latest` (rank 1) as an aggregate: the MAX of one struct whose first fields are the
        ordering columns and whose other fields are the wanted values, one GROUP BY — linear
        where a window partitioned by person sorts. Ordering columns are coalesced to the lowest
        value of their type, so NULLs lose as under ROW_NUMBER … DESC NULLS LAST, the same on
        both engines; records equal in every ordering column are told apart by their values,
        so the pick never depends on row order. (At 10M persons the MAX of one struct took
        2.0 s against 2.3–2.7 s for ARG_MAX of a value struct by an ordering struct.)"""
        from_, joins, pairs, area, f_alias = source(first.source, members)
        key_names = [f"k{i}" for i in range(len(pairs))]
        types = self.cat.inputs[first.source].all_columns()
        # A wanted value that is itself a text or date ordering column is already in the
        # struct, coalesced: the struct carries only whether it is set (TRUE wins, as a value
        # does over NULL under DESC NULLS LAST), and the value is rebuilt from the ordering
        # field — at 10M records, one string less to copy per record.
        ordering = {c: i for i, c in enumerate(first.order_by) if types.get(c) in ("text", "date")}
        values, rebuilt = [], {}
        for n in members:
            self.current_node = n
            value = self.render(self.nodes[n].agg.of.expr, f_alias, area)
            column = value.name if isinstance(value, exp.Column) and value.table == "f" else None
            if column in ordering:
                rebuilt[n] = ordering[column]
                value = exp.Not(this=exp.Is(this=value, expression=exp.Null()))
            values.append(exp.PropertyEQ(this=exp.to_identifier(n), expression=value))
        keys = [
            exp.Coalesce(this=exp.column(c, table="f"), expressions=[_lowest(types.get(c, "text"))])
            for c in first.order_by
        ]
        ordered = [
            exp.PropertyEQ(this=exp.to_identifier(f"sn_o{i}"), expression=k)
            for i, k in enumerate(keys)
        ]
        folded = exp.Max(this=exp.Struct(expressions=ordered + values))
        inner = exp.select(
            *[_alias(fe.copy(), kn) for (fe, _), kn in zip(pairs, key_names, strict=True)],
            _alias(folded, "g"),
        ).from_(from_, copy=False)
        for target, on, kind in joins:
            inner = inner.join(target, on=on, join_type=kind, copy=False)
        if first.where is not None:
            inner = inner.where(self.render(first.where.expr, f_alias, area), copy=False)
        if key_names:
            inner = inner.group_by(*[fe.copy() for fe, _ in pairs], copy=False)
        cte = exp.select(*[exp.column(kn, table="y") for kn in key_names])
        for n in members:
            field = exp.Column(
                this=exp.to_identifier(n), table=exp.to_identifier("g"), db=exp.to_identifier("y")
            )
            if n in rebuilt:
                ordered_field = exp.Column(
                    this=exp.to_identifier(f"sn_o{rebuilt[n]}"),
                    table=exp.to_identifier("g"),
                    db=exp.to_identifier("y"),
                )
                field = exp.Case(ifs=[exp.If(this=field, true=ordered_field)])
            cte = cte.select(_alias(field, n), append=True, copy=False)
        cte = cte.from_(_alias(exp.Subquery(this=inner), "y", table=True), copy=False)
        return cte, pairs, key_names

    def _row_value(self, node: Node, alias, area) -> exp.Expression:
        """The per-record value an aggregate folds (NULL when the record does not count)."""
        agg = node.agg
        of = self.render(agg.of.expr, alias, area) if agg.of is not None else None
        where = self.render(agg.where.expr, alias, area) if agg.where is not None else None
        one, zero = exp.Literal.number(1), exp.Literal.number(0)
        if agg.fn == "count":
            return exp.Case(ifs=[exp.If(this=where, true=one)]) if where is not None else one
        if agg.fn == "any":
            cond = (
                exp.And(this=exp.Paren(this=where), expression=exp.Paren(this=of))
                if where is not None
                else of
            )
            return exp.Case(ifs=[exp.If(this=cond, true=one)], default=zero)
        return exp.Case(ifs=[exp.If(this=where, true=of)]) if where is not None else of

    def _row_filter(self, node: Node, alias, area) -> exp.Expression | None:
        """When a record adds something to the node's aggregate (a value that is not NULL, or
        1 for `any`); None when every record may."""
        agg = node.agg
        where = self.render(agg.where.expr, alias, area) if agg.where is not None else None
        if agg.fn == "any":
            of = self.render(agg.of.expr, alias, area)
            if where is None:
                return exp.Paren(this=of)
            return exp.And(this=exp.Paren(this=where), expression=exp.Paren(this=of))
        return exp.Paren(this=where) if where is not None else None

    def _not_default(self, fn: str, value: str) -> exp.Expression:
        """The group's aggregate differs from what a missing group reads as."""
        agg = self._aggregate_of(fn, exp.column(value, table="u"))
        if fn == "count":
            return exp.GT(this=agg, expression=exp.Literal.number(0))
        if fn == "any":
            return exp.EQ(this=agg, expression=exp.Literal.number(1))
        if fn == "sum":
            return exp.NEQ(this=agg, expression=exp.Literal.number(0))
        return exp.Not(this=exp.Is(this=agg, expression=exp.Null()))

    @staticmethod
    def _aggregate_of(fn: str, column: exp.Expression) -> exp.Expression:
        return {"count": exp.Count, "any": exp.Max, "sum": exp.Sum, "min": exp.Min, "max": exp.Max}[
            fn
        ](this=column)

    # ------------------------------------------------------------------ outputs

    def _value_columns(self, grain: str) -> list[str]:
        names: list[str] = []
        for rule in self.cat.rules.values():
            if not rule.active or rule.grain != grain or rule.kind == "quality":
                continue
            if self.explained is not None and rule.id not in self.explained:
                continue
            names.append(rule.node)
            for ph in sorted(
                rule.placeholders() | {r.partition("=")[0] for r in rule.explain_requires}
            ):
                if ph in self.nodes:
                    names.append(ph)
        seen, out = set(), []
        for n in names:
            if n not in seen:
                seen.add(n)
                out.append(n)
        return out

    def _outputs(self, hh: _Frame, pp: _Frame):
        outputs: dict[str, exp.Expression] = {}
        schemas: dict[str, list[tuple[str, str]]] = {}

        def person_alias(name: str) -> str:
            if name in pp.columns:
                return "t"
            return "h"

        for rel, frame, alias in (
            ("households", hh, lambda _n: "t"),
            ("persons", pp, person_alias),
        ):
            grain = HOUSEHOLD if rel == "households" else PERSON
            spec = dict(self.cat.outputs[rel])
            for n in self._value_columns(grain):
                if n not in spec:
                    spec[n] = (n, self.nodes[n].type)
            cols, schema = [], []
            for out, (node_name, typ) in spec.items():
                ref = exp.column(node_name, table=alias(node_name))
                cols.append(_alias(_cast(ref, SQL_TYPES[typ]), out))
                schema.append((out, typ))
            select = exp.select(*cols).from_(
                _alias(_table(frame.name), "t", table=True), copy=False
            )
            if rel == "persons":
                select = _join_household(select, hh.name, "h", "t", "left")
                if self.ordered:
                    select = select.order_by(
                        exp.column("household_id", table="t"),
                        exp.column("id_number", table="t"),
                        copy=False,
                    )
            elif self.ordered:
                select = select.order_by(exp.column("household_id", table="t"), copy=False)
            outputs[rel] = select
            schemas[rel] = schema
        outputs["quality"], schemas["quality"] = self._quality(hh, pp, person_alias)
        if self.evidence:
            outputs["evidence"], schemas["evidence"] = self._evidence(hh, pp)
        return outputs, schemas

    def _quality(self, hh: _Frame, pp: _Frame, person_alias):
        parts = []
        check_id = exp.to_identifier("check", quoted=True)
        for rule in self.cat.rules.values():
            if not rule.active or rule.kind != "quality":
                continue
            self.current_node = rule.id
            person = rule.grain == PERSON
            alias = person_alias if person else (lambda _n: "t")
            area = exp.column("area_key", table=alias("area_key"))
            ifs = []
            default = None
            for cond, text in rule.messages:
                message = exp.Literal.string(f"{text.zh} / {text.en}")
                if cond is None:
                    default = message
                else:
                    ifs.append(exp.If(this=self.render(cond.expr, alias, area), true=message))
            message_expr = exp.Case(ifs=ifs, default=default) if ifs else default
            id_expr = exp.column("id_number", table="t") if person else exp.Null()
            select = exp.select(
                _alias(exp.Literal.string(rule.check), check_id),
                _alias(_cast(exp.column("household_id", table="t"), "VARCHAR"), "household_id"),
                _alias(_cast(id_expr, "VARCHAR"), "id_number"),
                _alias(_cast(message_expr, "VARCHAR"), "message"),
                _alias(exp.Literal.string(rule.severity or ""), "severity"),
                _alias(exp.Literal.string(rule.owner or ""), "owner"),
                _alias(exp.Literal.string(rule.id), "rule"),
            ).from_(_alias(_table(pp.name if person else hh.name), "t", table=True), copy=False)
            select = select.where(exp.column(rule.node, table=alias(rule.node)), copy=False)
            reads_household = any(c.table == "h" for c in select.find_all(exp.Column))
            if person and reads_household:
                select = _join_household(select, hh.name, "h", "t", "left")
            parts.append(select)
        schema = [
            ("check", "text"),
            ("household_id", "text"),
            ("id_number", "text"),
            ("message", "text"),
            ("severity", "text"),
            ("owner", "text"),
            ("rule", "text"),
        ]
        if not parts:
            empty = exp.select(
                *[
                    _alias(_cast(exp.Null(), "VARCHAR"), c if c != "check" else check_id)
                    for c, _ in schema
                ]
            ).where(exp.false(), copy=False)
            return empty, schema
        union = parts[0]
        for p in parts[1:]:
            union = exp.union(union, p, distinct=False)
        q = exp.select(exp.Star()).from_(
            _alias(exp.Subquery(this=union), "q", table=True), copy=False
        )
        if self.ordered:
            q = q.order_by(
                exp.column(check_id.copy(), table="q"),
                exp.column("household_id", table="q"),
                exp.column("id_number", table="q"),
                exp.column("rule", table="q"),
                copy=False,
            )
        return q, schema

    # ------------------------------------------------------------------ evidence

    def _feed_dependencies(self, name: str) -> list[str]:
        """Department-record aggregates a node reads, directly or through other nodes."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            for d in node_dependencies(self.nodes[stack.pop()]):
                if d not in seen:
                    seen.add(d)
                    stack.append(d)
        out = []
        for d in sorted(seen):
            agg = self.nodes[d].agg
            if agg is None or agg.key != "default" or agg.source not in self.cat.inputs:
                continue
            if agg.source in self.empty_inputs:
                continue
            if "record_id" in self.cat.inputs[agg.source].all_columns():
                out.append(d)
        return out

    def _evidence(self, hh: _Frame, pp: _Frame):
        """Records behind each fired monitoring rule: one SELECT per rule and feature group.

        A record counts when it passes the aggregate's own filter (and, for `any`, its
        condition); for `latest` only the record the feature took. Person-level features are
        reached through the household's members, household-level ones through household_id.
        """
        schema = [("household_id", "text"), ("rule", "text"), ("record_id", "text")]
        selects: list[tuple] = []
        for rule in self.cat.rules.values():
            if not rule.active or rule.kind != "monitoring" or rule.grain != HOUSEHOLD:
                continue
            self.current_node = rule.id
            groups: dict[tuple, list[str]] = {}
            for n in self._feed_dependencies(rule.node):
                agg = self.nodes[n].agg
                key = (agg.source, agg.group) if agg.fn == "latest" else (agg.source, n)
                groups.setdefault(key, []).append(n)
            for (table, _), names in groups.items():
                selects.append((rule, table, names))
        # The members of households where a rule with person-level records fired, with those
        # rules' flags: one stage (a few percent of persons), read by every person-level branch
        # instead of each branch joining all households to all persons again.
        flags = sorted(
            {rule.node for rule, _, names in selects if self.nodes[names[0]].grain == PERSON}
        )
        members = None
        if flags:
            fired = None
            for flag in flags:
                cond = exp.EQ(
                    this=exp.Coalesce(this=exp.column(flag, table="t"), expressions=[exp.false()]),
                    expression=exp.true(),
                )
                fired = cond if fired is None else exp.Or(this=fired, expression=cond)
            select = exp.select(
                exp.column("household_id", table="t"),
                exp.column("id_number", table="m"),
                *[exp.column(flag, table="t") for flag in flags],
            ).from_(_alias(_table(hh.name), "t", table=True), copy=False)
            select = _join_household(select, pp.name, "m", "t", "inner").where(fired, copy=False)
            members = self.add_step("ev_members", select)
            self.materialized.add(members)
        parts = [
            self._evidence_select(rule, table, names, hh, members) for rule, table, names in selects
        ]
        if not parts:
            empty = exp.select(*[_alias(_cast(exp.Null(), "VARCHAR"), c) for c, _ in schema]).where(
                exp.false(), copy=False
            )
            return empty, schema
        union = parts[0]
        for p in parts[1:]:
            union = exp.union(union, p, distinct=False)
        q = (
            exp.select(
                exp.column("household_id", table="e"),
                exp.column("rule", table="e"),
                exp.column("record_id", table="e"),
            )
            .distinct()
            .from_(_alias(exp.Subquery(this=union), "e", table=True), copy=False)
        )
        if self.ordered:
            q = q.order_by(
                exp.column("household_id", table="e"),
                exp.column("rule", table="e"),
                exp.column("record_id", table="e"),
                copy=False,
            )
        return q, schema

    def _evidence_select(self, rule, table: str, names: list[str], hh: _Frame, members):
        agg = self.nodes[names[0]].agg
        node = self.nodes[names[0]]
        area = exp.column("area_key", table="t")
        f_alias = lambda _n: "f"  # noqa: E731
        by_person = node.grain == PERSON
        fired = exp.EQ(
            this=exp.Coalesce(this=exp.column(rule.node, table="t"), expressions=[exp.false()]),
            expression=exp.true(),
        )
        select = exp.select(
            _alias(_cast(exp.column("household_id", table="t"), "VARCHAR"), "household_id"),
            _alias(exp.Literal.string(rule.id), "rule"),
            _alias(_cast(exp.column("record_id", table="f"), "VARCHAR"), "record_id"),
        ).from_(_alias(_table(members if by_person else hh.name), "t", table=True), copy=False)
        if by_person:
            key = exp.EQ(
                this=exp.column("id_number", table="f"),
                expression=exp.column("id_number", table="t"),
            )
        else:
            key = exp.EQ(
                this=exp.column("household_id", table="f"),
                expression=exp.column("household_id", table="t"),
            )
        select = select.join(
            _alias(_table(table), "f", table=True), on=key, join_type="inner", copy=False
        )
        conditions: list[exp.Expression] = [fired]
        if agg.where is not None:
            conditions.append(self.render(agg.where.expr, f_alias, area))
        if agg.fn == "any" and agg.of is not None:
            conditions.append(self.render(agg.of.expr, f_alias, area))
        cond = conditions[0]
        for c in conditions[1:]:
            cond = exp.And(this=cond, expression=exp.Paren(this=c))
        select = select.where(cond, copy=False)
        if agg.fn != "latest":
            return select
        # the record the feature took: the same ordering, within the member (or household)
        part = (
            exp.column("id_number", table="f")
            if by_person
            else exp.column("household_id", table="f")
        )
        window = exp.Window(
            this=exp.RowNumber(),
            partition_by=[exp.column("household_id", table="t"), part],
            order=exp.Order(
                expressions=[
                    exp.Ordered(this=exp.column(c, table="f"), desc=True, nulls_first=False)
                    for c in agg.order_by
                ]
            ),
        )
        select = select.select(_alias(window, "rn"), append=True, copy=False)
        return (
            exp.select(
                exp.column("household_id", table="x"),
                exp.column("rule", table="x"),
                exp.column("record_id", table="x"),
            )
            .from_(_alias(exp.Subquery(this=select), "x", table=True), copy=False)
            .where(
                exp.EQ(this=exp.column("rn", table="x"), expression=exp.Literal.number(agg.rank)),
                copy=False,
            )
        )


def _mark_releases(steps: list[Step], kept: list[str]) -> None:
    """Set each step's `release`: the earlier results it is the last reader of. A step that
    reads a view reads what the view reads; views themselves are never released."""
    views = {s.name for s in steps if not s.materialize}
    reads: dict[str, set[str]] = {}
    for i, step in enumerate(steps):
        direct = {e.name for e in steps[:i] if re.search(rf"\b{re.escape(e.name)}\b", step.sql)}
        reads[step.name] = direct.union(*(reads[d] for d in direct if d in views))
    kept_all = set(kept).union(*(reads[k] for k in kept if k in views))
    last: dict[str, int] = {}
    for i, step in enumerate(steps):
        for name in reads[step.name] if step.name not in views else ():
            last[name] = i
    for name, i in last.items():
        if name not in kept_all and name not in views:
            steps[i].release = (*steps[i].release, name)


_PLAN_CACHE: dict[tuple, Plan] = {}
_PLAN_CACHE_SIZE = 64


def compile_plan(
    catalogue: Catalogue,
    binding: ParameterBinding,
    *,
    dialect: str = "duckdb",
    isolate: bool = False,
    empty_inputs: frozenset[str] | set[str] = frozenset(),
    as_of_column: bool = False,
    ordered: bool = True,
    evidence: bool = False,
    explained: frozenset[str] | set[str] | None = None,
    unique_keys: Mapping[str, Sequence[str]] | None = None,
    cache: bool = True,
) -> Plan:
    """Compile the active rules of `catalogue` for `dialect`, parameters bound by `binding`.

    `isolate=True` keys every department-record aggregate by household too: used when many
    scenarios (each one household, possibly sharing ID numbers) are evaluated in one run.
    `empty_inputs` names optional input tables known to hold no rows: their aggregates become
    the value over no rows (0, false or NULL) instead of a join; results are identical.
    `as_of_column=True` reads the as-of date (and D − n months) from household columns
    (`as_of_values`) instead of literals, so scenarios of different dates share one run.
    `ordered=False` leaves the output relations unsorted (a caller that sorts them itself).
    `evidence=True` adds the output `evidence`: for every fired monitoring rule of a household,
    the department records (household_id, rule, record_id) behind the features it reads.
    `explained` (rule IDs) limits the rule value columns of the outputs to those rules' values
    (the rule's own column and its explanation placeholders); None keeps every rule's.
    `unique_keys` maps input tables to columns the caller guarantees them one row per (the
    registry's constraints: persons by ID number, incomes by household and year). A `count`
    over a table unique by its grain's key is then 1 or 0 for each row, computed without
    grouping or joining; `latest` groups that differ only in rank over a table unique by key and
    order read one window (this year's and last year's income).
    """
    explained = frozenset(explained) if explained is not None else None
    empty_inputs = frozenset(
        n for n in empty_inputs if n in catalogue.inputs and catalogue.inputs[n].optional
    )
    if dialect not in ("duckdb", "spark"):
        raise CompileError(f"不支持的方言 {dialect}", f"unsupported dialect {dialect}")
    if evidence and (isolate or as_of_column):
        raise CompileError(
            "证据输出只用于区域筛查", "the evidence output is for region screens only"
        )
    if as_of_column and binding.mode != "column":
        raise CompileError(
            "按户评估日期需要按列绑定参数", "per-household as-of dates need column-bound parameters"
        )
    unique_keys = {
        name: tuple(columns)
        for name, columns in sorted((unique_keys or {}).items())
        if name in catalogue.inputs
    }
    for name, columns in unique_keys.items():
        unknown = set(columns) - set(catalogue.inputs[name].all_columns())
        if not columns or unknown:
            raise CompileError(
                f"{name} 的唯一键列不存在：{', '.join(sorted(unknown)) or '（空）'}",
                f"unique key of {name} names unknown columns: "
                f"{', '.join(sorted(unknown)) or '(none)'}",
            )
    if unique_keys and isolate:
        raise CompileError(
            "按户隔离的评估不声明唯一输入", "isolated scenarios declare no unique inputs"
        )
    key = (
        id(catalogue),
        dialect,
        isolate,
        empty_inputs,
        tuple(unique_keys.items()),
        as_of_column,
        ordered,
        evidence,
        explained,
        binding.fingerprint() if not as_of_column else binding.fingerprint()[1:],
    )
    if cache and key in _PLAN_CACHE:
        return _PLAN_CACHE[key]
    plan = _Compiler(
        catalogue,
        binding,
        dialect,
        isolate=isolate,
        empty_inputs=empty_inputs,
        as_of_column=as_of_column,
        ordered=ordered,
        evidence=evidence,
        explained=explained,
        unique_keys=unique_keys,
    ).compile()
    if cache:
        if len(_PLAN_CACHE) >= _PLAN_CACHE_SIZE:
            _PLAN_CACHE.pop(next(iter(_PLAN_CACHE)))
        _PLAN_CACHE[key] = plan
    return plan
