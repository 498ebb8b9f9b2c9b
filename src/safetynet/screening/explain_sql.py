"""Explanations of fired monitoring rules for a whole region, rendered set-based.

The rule catalogue's explanation templates (`{name}` placeholders, Chinese and English) are
turned into one DuckDB SELECT per rule over the engine's result relations, which already carry
every value a template names. Values are displayed the way the engine's own `explain_rule`
displays them (booleans 是/否, category and care labels, decimals with their scale, `—` for
unknown), and parameter values are rendered by the engine's own `_display`, once per area key.
`tests/screening/test_region.py` checks that the text equals the engine's, household by household.
"""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from safetynet.engine import explain as engine_explain
from safetynet.policy.catalogue import PLACEHOLDER_RE
from safetynet.policy.params import plain_value

MONITORING_PREFIXES = ("M-", "Y-")
LABELS = (
    engine_explain.CARE_LABELS,
    engine_explain.CATEGORY_LABELS,
    engine_explain.APPROVER_LABELS,
)


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _display(column: str, typ: pa.DataType, lang: str) -> str:
    c = _ident(column)
    if pa.types.is_boolean(typ):
        yes, no = ("是", "否") if lang == "zh" else ("yes", "no")
        return f"CASE WHEN {c} IS NULL THEN '—' WHEN {c} THEN '{yes}' ELSE '{no}' END"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        i = 0 if lang == "zh" else 1
        whens = " ".join(
            f"WHEN {c} = {_lit(code)} THEN {_lit(label[i])}"
            for labels in reversed(LABELS)
            for code, label in labels.items()
        )
        return f"CASE WHEN {c} IS NULL THEN '—' {whens} ELSE {c} END"
    return f"coalesce(CAST({c} AS VARCHAR), '—')"


def with_evidence_sql(explanations: str, evidence: str) -> str:
    """`explanations` (a table or a parenthesised query) with `evidence`: the sorted, distinct
    department record ids (household_id, rule, record_id rows of table `evidence`) behind each
    explanation's rule, [] when there are none."""
    return (
        "SELECT x.*, coalesce(e.records, []::VARCHAR[]) AS evidence"
        f" FROM {explanations} x LEFT JOIN ("
        "SELECT household_id, rule, list_sort(list(DISTINCT record_id)) AS records"
        f" FROM {evidence} WHERE record_id IS NOT NULL GROUP BY household_id, rule"
        ") e ON e.household_id = x.household_id AND e.rule = x.rule"
    )


class SetExplainer:
    """Renders the explanations of every warned household's fired monitoring rules."""

    set_based = True

    def __init__(self, catalogue, binding):
        self.catalogue = catalogue
        self.binding = binding
        self.rules = [
            r
            for r in catalogue.rules.values()
            if r.active and r.kind != "quality" and r.id.startswith(MONITORING_PREFIXES)
        ]
        self.needed = self._needed()  # the result columns it reads (the caller may select them)

    def _param(self, name: str, lang: str | None) -> str:
        """A parameter's display text (or JSON value when lang is None) per area key."""
        cases = []
        for key, entries in sorted(self.binding.keys.items()):
            _pname, value, _entry = engine_explain._param_value(name, entries, self.catalogue)
            if lang is None:
                text = f"json({_lit(json.dumps(plain_value(value), ensure_ascii=False))})"
            else:
                text = _lit(engine_explain._display(value, lang))
            cases.append((key, text))
        if len({t for _, t in cases}) == 1:
            return cases[0][1]
        return "CASE area_key " + " ".join(f"WHEN {_lit(k)} THEN {t}" for k, t in cases) + " END"

    def _render(self, text: str, types: dict[str, pa.DataType], lang: str) -> str:
        parts, last = [], 0
        for m in PLACEHOLDER_RE.finditer(text):
            if m.start() > last:
                parts.append(_lit(text[last : m.start()]))
            name = m.group(1)
            parts.append(
                _display(name, types[name], lang) if name in types else self._param(name, lang)
            )
            last = m.end()
        if last < len(text):
            parts.append(_lit(text[last:]))
        return "concat(" + ", ".join(parts or ["''"]) + ")"

    def _requires(self, rule, types) -> list[str]:
        out = []
        for req in rule.explain_requires:
            name, _, want = req.partition("=")
            if name not in types:
                out.append("false")
            elif want:
                out.append(f"CAST({_ident(name)} AS VARCHAR) = {_lit(want)}")
            elif pa.types.is_boolean(types[name]):
                out.append(f"coalesce({_ident(name)}, false)")
            else:
                out.append(f"{_ident(name)} IS NOT NULL")
        return out

    def _fired(self, rule, types) -> str:
        c = _ident(rule.node)
        if rule.kind == "amount":
            return f"coalesce(CAST({c} AS BOOLEAN), false)" if rule.node in types else "false"
        if rule.kind in ("classification", "category"):
            return f"{c} IS NOT NULL"
        return f"coalesce({c}, false) IS TRUE"

    def _needed(self) -> set[str]:
        """The result columns the rules' texts, values and conditions read."""
        names = {"household_id", "id_number", "area_key", "active", "_rules"}
        for rule in self.rules:
            if rule.explain is not None:
                text = rule.explain.zh + rule.explain.en
                names |= {m.group(1) for m in PLACEHOLDER_RE.finditer(text)}
            names |= {req.partition("=")[0] for req in rule.explain_requires}
            names.add(rule.node)
        return names

    def __call__(
        self,
        households: pa.Table,
        rules: pa.Array,
        persons: pa.Table,
        evidence: pa.Table | None = None,
    ) -> pa.Table:
        """One row per explanation; with `evidence` (household_id, rule, record_id), each
        carries the sorted department record ids behind its rule (`evidence`), joined in the
        same query (the texts are not copied a second time)."""
        con = duckdb.connect()
        try:
            con.execute("SET threads = 2")
            needed = self.needed
            hh = households.append_column("_rules", rules)
            hh = hh.select([c for c in hh.column_names if c in needed])
            persons = persons.select([c for c in persons.column_names if c in needed])
            con.register("hh_all", hh)
            # a view, not a copy: the screen passes the warned households only
            con.execute("CREATE TEMP VIEW hh AS SELECT * FROM hh_all WHERE len(_rules) > 0")
            con.register("pp_all", persons)
            p_cols = set(persons.column_names)
            select_p = ", ".join(
                [f"p.{_ident(c)}" for c in persons.column_names]
                + [f"h.{_ident(c)}" for c in hh.column_names if c not in p_cols]
            )
            # Members of warned households are joined only when a person-level rule needs them.
            person_rules = any(r.grain != "household" for r in self.rules)
            con.execute(
                f"CREATE TEMP TABLE hp AS SELECT {select_p} FROM pp_all p JOIN hh h "
                "USING (household_id) WHERE coalesce(p.active, false)"
                if "household_id" in p_cols and person_rules
                else f"CREATE TEMP TABLE hp AS SELECT {select_p} FROM pp_all p JOIN hh h "
                "USING (household_id) WHERE false"
                if "household_id" in p_cols
                else "CREATE TEMP TABLE hp AS SELECT * FROM hh WHERE false"
            )
            h_types = {f.name: f.type for f in hh.schema}
            p_types = {**h_types, **{f.name: f.type for f in persons.schema}}
            selects = []
            for rule in self.rules:
                if rule.explain is None:
                    continue
                person = rule.grain != "household"
                types = p_types if person else h_types
                if rule.node not in types:
                    continue
                names = sorted(
                    {m.group(1) for m in PLACEHOLDER_RE.finditer(rule.explain.zh + rule.explain.en)}
                )
                values = ", ".join(
                    f"{_ident(n)} := {_ident(n) if n in types else self._param(n, None)}"
                    for n in names
                )
                conditions = [
                    f"(list_contains(_rules, {_lit(rule.id)}) OR {_lit(rule.kind)} IN "
                    "('classification', 'category'))",
                    self._fired(rule, types),
                    *self._requires(rule, types),
                ]
                values_sql = f"CAST(to_json(struct_pack({values})) AS VARCHAR)" if names else "'{}'"
                id_sql = "CAST(id_number AS VARCHAR)" if person else "CAST(NULL AS VARCHAR)"
                selects.append(
                    f"SELECT household_id, {id_sql} AS id_number, {_lit(rule.id)} AS rule, "
                    f"{self._render(rule.explain.zh, types, 'zh')} AS zh, "
                    f"{self._render(rule.explain.en, types, 'en')} AS en, "
                    f'{values_sql} AS "values", {_lit(rule.citation)} AS source '
                    f"FROM {'hp' if person else 'hh'} WHERE {' AND '.join(conditions)}"
                )
            if not selects:
                return pa.table({})
            # in no particular order: the screen sorts its results for the files
            sql = " UNION ALL ".join(selects)
            if evidence is not None:
                con.register("ev", evidence)
                sql = with_evidence_sql(f"({sql})", "ev")
            return con.sql(sql).to_arrow_table()
        finally:
            con.close()
