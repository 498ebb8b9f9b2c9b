"""Turn rules into node expressions (guards and wrappers) and generate the monitoring summary.

A rule's own SQL says *what* it tests. Here it gets the parts every rule of its kind shares:
household rules only evaluate households with n ≥ 1 (`evaluated`), person rules only active
members; amounts are rounded half up once, to whole yuan, through ROUND_DIV; classifications
become CASE expressions. The monitoring summary (flagged, level, fired rules, risk types) is
generated from the rules' levels and risk types, so adding a rule needs no code.
"""

from __future__ import annotations

from sqlglot import exp

HOUSEHOLD, PERSON = "household", "person"


def col(name: str) -> exp.Column:
    return exp.column(name)


def _and(*parts: exp.Expression) -> exp.Expression:
    parts = tuple(p for p in parts if p is not None)
    result = parts[0]
    for p in parts[1:]:
        result = exp.And(this=result, expression=p)
    return result


def _or(parts: list[exp.Expression]) -> exp.Expression:
    if not parts:
        return exp.false()
    result = parts[0]
    for p in parts[1:]:
        result = exp.Or(this=result, expression=p)
    return exp.Paren(this=result)


def _paren(e: exp.Expression) -> exp.Expression:
    return exp.Paren(this=e.copy())


def _case(ifs: list[tuple[exp.Expression, exp.Expression]], default=None) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=c, true=v) for c, v in ifs], default=default)


def _joined(items: list[tuple[exp.Expression, str]]) -> exp.Expression:
    """';'-joined labels of the true conditions, in the given order.

    Built as SUBSTR(';a' || ';b' || ..., 2) with '' for false items: CONCAT_WS is rewritten by
    sqlglot with NULL semantics that differ between engines.
    """
    if not items:
        return exp.Literal.string("")
    parts = [
        _case([(cond, exp.Literal.string(";" + label))], default=exp.Literal.string(""))
        for cond, label in items
    ]
    joined = parts[0]
    for p in parts[1:]:
        joined = exp.DPipe(this=joined, expression=p, safe=True)
    return exp.Substring(this=exp.Paren(this=joined), start=exp.Literal.number(2))


def build_rule_nodes(nodes: dict, rules: dict) -> None:
    for rule in rules.values():
        if not rule.active:
            continue
        node = nodes[rule.node]
        guard = col("evaluated") if rule.grain == HOUSEHOLD else col("active")
        when = _paren(rule.when.expr) if rule.when is not None else None
        if rule.kind in ("monitoring", "eligibility"):
            node.built = _and(guard, when)
        elif rule.kind == "quality":
            node.built = rule.when.expr.copy()
        elif rule.kind == "amount":
            denominator = (
                _paren(rule.denominator.expr) if rule.denominator else exp.Literal.number(1)
            )
            value = exp.Anonymous(
                this="ROUND_DIV",
                expressions=[_paren(rule.value.expr), denominator, exp.Literal.number(0)],
            )
            node.built = _case([(_and(guard, when), value)], default=exp.Literal.number(0))
        elif rule.kind in ("classification", "category"):
            inner = _case(
                [(_paren(c.expr), exp.Literal.string(v)) for c, v in rule.cases],
                default=exp.Literal.string(rule.default),
            )
            outer_guard = col("flagged") if rule.kind == "category" else guard
            node.built = _case([(_and(outer_guard, when), inner)])
    _build_summary(nodes, rules)


def _build_summary(nodes: dict, rules: dict) -> None:
    monitoring = sorted(
        (r for r in rules.values() if r.active and r.kind == "monitoring"), key=lambda r: r.id
    )
    by_level = {
        lvl: [col(r.node) for r in monitoring if r.level == lvl]
        for lvl in ("red", "orange", "yellow")
    }
    nodes["flagged"].built = _or(by_level["red"] + by_level["orange"])
    nodes["monitoring_level"].built = _case(
        [
            (_or(by_level[lvl]), exp.Literal.string(lvl))
            for lvl in ("red", "orange", "yellow")
            if by_level[lvl]
        ]
    )
    nodes["monitoring_rules"].built = _joined([(col(r.node), r.id) for r in monitoring])
    explicit: dict[str, list[exp.Expression]] = {}
    any_explicit: list[exp.Expression] = []
    for r in monitoring:
        for typ, cond in r.risk_types:
            part = _and(col(r.node), _paren(cond.expr)) if cond is not None else col(r.node)
            explicit.setdefault(typ, []).append(part)
            any_explicit.append(part.copy())
    contributions = {k: list(v) for k, v in explicit.items()}
    for r in monitoring:
        if r.risk_fallback:
            others = [p.copy() for p in any_explicit]
            contributions.setdefault(r.risk_fallback, []).append(
                _and(col(r.node), exp.Not(this=_or(others))) if others else col(r.node)
            )
    nodes["risk_types"].built = _joined([(_or(contributions[t]), t) for t in sorted(contributions)])


def built_columns(expression: exp.Expression) -> set[str]:
    return {c.name.lower() for c in expression.find_all(exp.Column) if len(c.parts) == 1}


def node_dependencies(node) -> set[str]:
    """Every node a node reads, including the guards and wrappers added for rules."""
    if node.built is not None:
        return built_columns(node.built)
    return node.node_deps()
