"""The rule catalogue: input contract, features and rules, loaded from YAML and vetted.

Three kinds of file feed one namespace of *nodes* (named columns at household or person grain):

- `engine/inputs.yaml`: the input tables and their columns (households and persons columns are
  nodes; the other tables are only reachable through aggregates);
- `engine/features/*.yaml`: features, SQL expressions or aggregates over an input table or over
  the household's members;
- `policy/rules/*.yaml`: rules, each with its POLICY.md ID, kind, expression(s), parameters read,
  citation and explanation templates (plus helper features of their own).

Loading parses every expression (`sqlcheck`), resolves every name, checks the declared
parameters against those read, checks explanation placeholders and rejects cycles. Any problem
raises CatalogueError naming the file, line and rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .params import ParameterCatalogue, default_parameters
from .sqlcheck import Checked, Scope, check_expression
from .yamlsrc import CatalogueError, Located, load_located, pydantic_error

PACKAGE_DIR = Path(__file__).resolve().parent.parent
RULES_DIR = PACKAGE_DIR / "policy" / "rules"
FEATURES_DIR = PACKAGE_DIR / "engine" / "features"
INPUTS_FILE = PACKAGE_DIR / "engine" / "inputs.yaml"
OUTPUTS_FILE = PACKAGE_DIR / "engine" / "outputs.yaml"

HOUSEHOLD, PERSON = "household", "person"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_ID_RE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
LEVELS = ("red", "orange", "yellow")
FEED_COMMON = {
    "record_id": "text",
    "event_date": "date",
    "id_number": "text",
    "household_id": "text",
}
BUILTINS = {
    "area_key": (
        "text",
        "参数适用的区划键（最长前缀）",
        "Parameter area key (longest matching prefix)",
    ),
    "county_code": (
        "text",
        "县级代码（村代码前六位）",
        "County code (first six digits of the village code)",
    ),
}
SUMMARY_NODES = {
    "flagged": (
        "bool",
        "纳入监测：触发任一红色或橙色规则",
        "Flagged: any red or orange rule fired",
    ),
    "monitoring_level": (
        "text",
        "最高预警等级（red、orange、yellow）",
        "Highest fired level (red, orange, yellow)",
    ),
    "monitoring_rules": (
        "text",
        "触发的监测规则编号（按编号排序，分号分隔）",
        "Fired monitoring rule IDs, sorted, ;-separated",
    ),
    "risk_types": ("text", "风险类型（分号分隔）", "Risk types, ;-separated"),
}


# ----------------------------------------------------------------------------- YAML shapes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TextSpec(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


NodeType = Literal["bool", "int", "money", "decimal", "text", "date"]
InputType = Literal["text", "int", "bool", "date", "money"]
AggName = Literal["count", "sum", "min", "max", "any", "latest"]


class KeyMatch(_Strict):
    column: str
    match: str


class ColumnSpec(_Strict):
    type: NodeType
    of: str
    description: TextSpec


class FeatureSpec(_Strict):
    type: NodeType | None = None
    description: TextSpec | None = None
    grain: Literal["household", "person"] | None = None
    sql: str | None = None
    from_: str | None = Field(default=None, alias="from")
    aggregate: AggName | None = None
    of: str | None = None
    where: str | None = None
    key: Literal["county", "none"] | KeyMatch | None = None
    order_by: list[str] | None = None
    rank: int = Field(default=1, ge=1, le=9)
    columns: dict[str, ColumnSpec] | None = None
    note: str | None = None


class FeatureFile(_Strict):
    grain: Literal["household", "person"]
    features: dict[str, Any]
    note: str | None = None


class InputTableSpec(_Strict):
    grain: Literal["household", "person"] | None = None
    key: str | None = None
    optional: bool = False
    feed: bool = False
    # when the table is not given, the engine reads these columns of another input table
    defaults_to: str | None = None
    description: TextSpec
    columns: dict[str, InputType]
    optional_columns: dict[str, InputType] = Field(default_factory=dict)


class InputsFile(_Strict):
    tables: dict[str, InputTableSpec]


class RiskSpec(_Strict):
    type: str = Field(min_length=1)
    when: str | None = None


class RiskFallback(_Strict):
    fallback: str = Field(min_length=1)


class CaseSpec(_Strict):
    when: str
    value: str


class MessageSpec(_Strict):
    when: str | None = None
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class RuleSpec(_Strict):
    id: str
    kind: Literal[
        "monitoring", "eligibility", "amount", "classification", "category", "quality", "procedure"
    ]
    grain: Literal["household", "person"] = HOUSEHOLD
    level: Literal["red", "orange", "yellow"] | None = None
    when: str | None = None
    value: str | None = None
    denominator: str | None = None
    cases: list[CaseSpec] | None = None
    default: str | None = None
    parameters: list[str]
    risk_types: list[RiskSpec] | RiskFallback | None = None
    citation: str = Field(min_length=1)
    explain: TextSpec | None = None
    explain_false: TextSpec | None = None
    explain_requires: list[str] | None = None
    check: str | None = None
    severity: Literal["high", "medium", "low"] | None = None
    owner: Literal["village", "township", "county", "region"] | None = None
    messages: list[MessageSpec] | None = None
    status: Literal["active", "planned"] = "active"
    needs_inputs: list[str] | None = None
    enforced_by: str | None = None
    note: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not RULE_ID_RE.match(v):
            raise ValueError("rule IDs look like M-INCOME (capitals, digits and dashes)")
        return v


class RuleFile(_Strict):
    topic: str
    features: dict[str, Any] | None = None
    rules: list[dict[str, Any]]
    note: str | None = None


class OutputColumn(_Strict):
    node: str
    type: NodeType


class OutputsFile(_Strict):
    households: dict[str, OutputColumn | NodeType]
    persons: dict[str, OutputColumn | NodeType]


# ----------------------------------------------------------------------------- model


@dataclass
class InputTable:
    name: str
    grain: str | None
    key: str | None
    columns: dict[str, str]
    optional: bool
    feed: bool
    description: TextSpec
    optional_columns: dict[str, str] = field(default_factory=dict)
    defaults_to: str | None = None  # the input table read when this one is not given

    def all_columns(self) -> dict[str, str]:
        return {**self.columns, **self.optional_columns}


@dataclass
class AggSpec:
    source: str  # input table name, or "members"
    fn: str
    of: Checked | None
    where: Checked | None
    key: str  # default | county | none | match
    key_column: str | None = None
    key_match: Checked | None = None
    order_by: tuple[str, ...] = ()
    rank: int = 1
    group: str = ""  # nodes with the same group share one subquery


@dataclass
class Rule:
    id: str
    node: str
    kind: str
    grain: str
    citation: str
    parameters: list[str]
    file: str
    line: int | None
    level: str | None = None
    when: Checked | None = None
    value: Checked | None = None
    denominator: Checked | None = None
    cases: list[tuple[Checked, str]] = field(default_factory=list)
    default: str | None = None
    risk_types: list[tuple[str, Checked | None]] = field(default_factory=list)
    risk_fallback: str | None = None
    explain: TextSpec | None = None
    explain_false: TextSpec | None = None
    explain_requires: list[str] = field(default_factory=list)
    check: str | None = None
    severity: str | None = None
    owner: str | None = None
    messages: list[tuple[Checked | None, TextSpec]] = field(default_factory=list)
    status: str = "active"
    needs_inputs: list[str] = field(default_factory=list)
    enforced_by: str | None = None
    topic: str = ""

    @property
    def active(self) -> bool:
        return self.status == "active" and self.kind != "procedure"

    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for text in (self.explain, self.explain_false):
            if text is not None:
                names.update(PLACEHOLDER_RE.findall(text.zh))
                names.update(PLACEHOLDER_RE.findall(text.en))
        return names


@dataclass
class Node:
    name: str
    grain: str
    type: str
    description: TextSpec
    origin: str  # input | builtin | feature | rule | summary
    file: str | None = None
    line: int | None = None
    expr: Checked | None = None
    agg: AggSpec | None = None
    rule: Rule | None = None
    # rules and summaries: the expression as built (guards and wrappers included)
    built: Any = None

    def node_deps(self) -> set[str]:
        """Names of other nodes this one reads (table columns excluded)."""
        deps: set[str] = set()
        if self.expr is not None:
            deps |= self.expr.columns
        if self.agg is not None:
            if self.agg.source == "members":
                for part in (self.agg.of, self.agg.where):
                    if part is not None:
                        deps |= part.columns
            if self.agg.key_match is not None:
                deps |= self.agg.key_match.columns
        return deps

    def param_refs(self) -> set[str]:
        refs: set[str] = set()
        for part in (self.expr, *(self._agg_parts())):
            if part is not None:
                refs |= part.params
        return refs

    def _agg_parts(self):
        if self.agg is None:
            return ()
        return (self.agg.of, self.agg.where, self.agg.key_match)


@dataclass
class Catalogue:
    inputs: dict[str, InputTable]
    nodes: dict[str, Node]
    rules: dict[str, Rule]
    params: ParameterCatalogue
    outputs: dict[str, dict[str, tuple[str, str]]]
    order: list[str]  # topological order of nodes

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def active_rules(self, *, kind: str | None = None, grain: str | None = None) -> list[Rule]:
        return [
            r
            for r in self.rules.values()
            if r.active and (kind is None or r.kind == kind) and (grain is None or r.grain == grain)
        ]

    def monitoring_rules(self) -> list[Rule]:
        return sorted(self.active_rules(kind="monitoring"), key=lambda r: r.id)

    def risk_type_names(self) -> list[str]:
        names = set()
        for r in self.monitoring_rules():
            names.update(t for t, _ in r.risk_types)
            if r.risk_fallback:
                names.add(r.risk_fallback)
        return sorted(names)


# ----------------------------------------------------------------------------- loading


def _validate(
    model, doc: Located, base: tuple, data: Any, what_zh: str, what_en: str, rule: str | None = None
):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(doc, base, exc, what_zh, what_en, rule=rule) from exc


def _load_inputs(path: Path) -> dict[str, InputTable]:
    doc = load_located(path)
    spec = _validate(InputsFile, doc, (), doc.data, "输入定义", "input contract")
    tables = {}
    for name, t in spec.tables.items():
        columns = dict(t.columns)
        if t.feed:
            if not name.startswith("feed_"):
                raise doc.error(
                    ("tables", name),
                    "部门数据表名应以 feed_ 开头",
                    "feed table names start with feed_",
                )
            columns = {**FEED_COMMON, **columns}
        tables[name] = InputTable(
            name=name,
            grain=t.grain,
            key=t.key,
            columns=columns,
            optional=t.optional or t.feed,
            feed=t.feed,
            description=t.description,
            optional_columns=t.optional_columns,
            defaults_to=t.defaults_to,
        )
    for required in ("households", "persons"):
        if required not in tables or tables[required].grain is None:
            raise doc.error(("tables",), f"缺少 {required} 表", f"the {required} table is missing")
    for name, table in tables.items():
        if table.defaults_to is None:
            continue
        target = tables.get(table.defaults_to)
        lacking = [
            c for c, typ in table.columns.items() if target is None or target.columns.get(c) != typ
        ]
        if target is None or target.defaults_to is not None or lacking:
            raise doc.error(
                ("tables", name, "defaults_to"),
                f"{name} 的默认表 {table.defaults_to} 不存在或缺少同类型的列：{', '.join(lacking)}",
                f"the default table {table.defaults_to} of {name} is missing or lacks columns of "
                f"the same type: {', '.join(lacking)}",
            )
    return tables


class _Loader:
    def __init__(self, params: ParameterCatalogue, inputs: dict[str, InputTable]):
        self.params = params
        self.inputs = inputs
        self.nodes: dict[str, Node] = {}
        self.rules: dict[str, Rule] = {}
        # raw expression texts, checked once all names are known
        self.pending: list[tuple[str, str, Any]] = []
        for grain, table in ((HOUSEHOLD, "households"), (PERSON, "persons")):
            for col, typ in inputs[table].all_columns().items():
                if col in self.nodes:
                    continue  # household_id exists at both grains; person frames keep their own copy
                self.nodes[col] = Node(
                    name=col,
                    grain=grain,
                    type=typ,
                    description=TextSpec(
                        zh=f"输入列 {table}.{col}", en=f"input column {table}.{col}"
                    ),
                    origin="input",
                )
        for col, (typ, zh, en) in BUILTINS.items():
            self.nodes[col] = Node(
                name=col,
                grain=HOUSEHOLD,
                type=typ,
                description=TextSpec(zh=zh, en=en),
                origin="builtin",
            )
        self.person_columns = set(inputs["persons"].all_columns())

    # --- names -------------------------------------------------------------------

    def _add(self, node: Node, doc: Located, path: tuple, rule: str | None = None) -> None:
        if not NAME_RE.match(node.name):
            raise doc.error(
                path,
                f"名称 {node.name!r} 无效（小写字母、数字、下划线）",
                f"invalid name {node.name!r} (lower-case letters, digits, underscores)",
                rule=rule,
            )
        if node.name in self.nodes:
            other = self.nodes[node.name]
            where = f"{other.file}:{other.line}" if other.file else other.origin
            raise doc.error(
                path,
                f"名称 {node.name} 重复（已在 {where} 定义）",
                f"name {node.name} is defined twice (already at {where})",
                rule=rule,
            )
        self.nodes[node.name] = node

    def scope_for(
        self,
        grain: str,
        *,
        table: str | None = None,
        members: bool = False,
        what: tuple[str, str] = ("表达式", "expression"),
    ) -> Scope:
        if table is not None:
            cols = self.inputs[table].all_columns()
            columns = {c: t for c, t in cols.items()}
        elif members:
            columns = {n: x.type for n, x in self.nodes.items() if x.grain == PERSON}
        elif grain == HOUSEHOLD:
            columns = {n: x.type for n, x in self.nodes.items() if x.grain == HOUSEHOLD}
        else:
            columns = {n: x.type for n, x in self.nodes.items()}
        params = self.params

        def is_param(name: str) -> bool:
            return name in params.components

        def is_list(name: str) -> bool:
            return name in params.components and params.components[name][0].type == "string_list"

        return Scope(
            columns=columns,
            is_param=is_param,
            is_list_param=is_list,
            where_zh=what[0],
            where_en=what[1],
        )

    # --- features ----------------------------------------------------------------

    def load_feature_map(
        self, doc: Located, base: tuple, features: dict, default_grain: str | None
    ):
        for name, raw in features.items():
            path = base + (name,)
            spec: FeatureSpec = _validate(
                FeatureSpec, doc, path, raw, f"特征 {name} ", f"feature {name}"
            )
            grain = spec.grain or default_grain
            if grain is None:
                raise doc.error(
                    path,
                    f"特征 {name} 需要 grain（household 或 person）",
                    f"feature {name} needs a grain (household or person)",
                )
            if spec.grain and default_grain and spec.grain != default_grain:
                raise doc.error(
                    path + ("grain",),
                    "特征的 grain 与文件不符",
                    "the feature's grain differs from the file's",
                )
            if spec.columns is not None:
                self._feature_group(doc, path, name, spec, grain)
                continue
            if spec.type is None or spec.description is None:
                raise doc.error(
                    path,
                    f"特征 {name} 需要 type 和 description",
                    f"feature {name} needs type and description",
                )
            if (spec.sql is None) == (spec.from_ is None):
                raise doc.error(
                    path,
                    f"特征 {name} 需要 sql 或 from（二选一）",
                    f"feature {name} needs exactly one of sql or from",
                )
            node = Node(
                name=name,
                grain=grain,
                type=spec.type,
                description=spec.description,
                origin="feature",
                file=doc.file,
                line=doc.line(path),
            )
            self._add(node, doc, path)
            if spec.sql is not None:
                for k in ("aggregate", "of", "where", "key", "order_by"):
                    if getattr(spec, k) is not None:
                        raise doc.error(
                            path + (k,), f"sql 特征不使用 {k}", f"an sql feature takes no {k}"
                        )
                self.pending.append(("expr", name, (doc, path + ("sql",), spec.sql)))
            else:
                self._agg_spec(doc, path, node, spec, spec.of, group=f"{name}")

    def _feature_group(self, doc: Located, path: tuple, name: str, spec: FeatureSpec, grain: str):
        if spec.from_ is None or spec.aggregate is None:
            raise doc.error(
                path,
                f"特征组 {name} 需要 from 和 aggregate",
                f"feature group {name} needs from and aggregate",
            )
        for k in ("sql", "of", "type", "description"):
            if getattr(spec, k) is not None:
                raise doc.error(
                    path + (k,),
                    f"特征组的 {k} 应写在各列中",
                    f"a feature group gives {k} per column",
                )
        assert spec.columns is not None
        for col, cspec in spec.columns.items():
            cpath = path + ("columns", col)
            node = Node(
                name=col,
                grain=grain,
                type=cspec.type,
                description=cspec.description,
                origin="feature",
                file=doc.file,
                line=doc.line(cpath),
            )
            self._add(node, doc, cpath)
            self._agg_spec(doc, cpath, node, spec, cspec.of, group=name, group_path=path)

    def _agg_spec(
        self,
        doc: Located,
        path: tuple,
        node: Node,
        spec: FeatureSpec,
        of: str | None,
        *,
        group: str,
        group_path: tuple | None = None,
    ):
        gpath = group_path or path
        source = spec.from_
        fn = spec.aggregate
        if fn is None:
            raise doc.error(
                gpath, f"{node.name}：from 需要 aggregate", f"{node.name}: from needs aggregate"
            )
        if source != "members" and source not in self.inputs:
            raise doc.error(
                gpath + ("from",),
                f"未知的输入表 {source}（或 members）",
                f"unknown input table {source} (or members)",
            )
        if source == "members" and node.grain != HOUSEHOLD:
            raise doc.error(
                gpath + ("from",),
                "members 聚合只能用于户级特征",
                "members aggregates are household features",
            )
        if fn != "count" and of is None:
            raise doc.error(path, f"{node.name}：{fn} 需要 of", f"{node.name}: {fn} needs of")
        if fn == "latest":
            order = tuple(spec.order_by or ())
            if not order:
                table = self.inputs.get(source)
                if table is None or not table.feed:
                    raise doc.error(
                        gpath,
                        "latest 需要 order_by（部门数据默认按 event_date、record_id）",
                        "latest needs order_by (feeds default to event_date, record_id)",
                    )
                order = ("event_date", "record_id")
        else:
            if spec.order_by is not None or spec.rank != 1:
                raise doc.error(
                    gpath, "order_by 和 rank 只用于 latest", "order_by and rank are for latest only"
                )
            order = ()
        key = "default"
        key_column = None
        if isinstance(spec.key, KeyMatch):
            key = "match"
            key_column = spec.key.column
        elif spec.key is not None:
            key = spec.key
        if source == "members" and key != "default":
            raise doc.error(
                gpath + ("key",), "members 聚合不使用 key", "members aggregates take no key"
            )
        if key == "county" and node.grain != HOUSEHOLD:
            raise doc.error(
                gpath + ("key",),
                "key: county 只用于户级特征",
                "key: county is for household features",
            )
        if key == "default" and source != "members":
            table = self.inputs[source]
            want = "id_number" if node.grain == PERSON else "household_id"
            if want not in table.all_columns():
                raise doc.error(
                    gpath + ("from",),
                    f"表 {source} 没有 {want}，请指定 key",
                    f"table {source} has no {want}; give a key",
                )
        if key == "match" and key_column not in self.inputs[source].all_columns():
            raise doc.error(
                gpath + ("key",),
                f"表 {source} 没有列 {key_column}",
                f"table {source} has no column {key_column}",
            )
        node.agg = AggSpec(
            source=source,
            fn=fn,
            of=None,
            where=None,
            key=key,
            key_column=key_column,
            order_by=order,
            rank=spec.rank,
            group=group,
        )
        self.pending.append(
            (
                "agg",
                node.name,
                (doc, path, gpath, of, spec.where, spec.key.match if key == "match" else None),
            )
        )

    # --- rules -------------------------------------------------------------------

    def load_rule_file(self, path: Path):
        doc = load_located(path)
        spec: RuleFile = _validate(RuleFile, doc, (), doc.data, "规则文件", "rule file")
        if spec.topic != path.stem:
            raise doc.error(
                ("topic",),
                f"topic {spec.topic!r} 与文件名不符",
                f"topic {spec.topic!r} does not match the file name",
            )
        if spec.features:
            self.load_feature_map(doc, ("features",), spec.features, None)
        for i, raw in enumerate(spec.rules):
            rid = raw.get("id") if isinstance(raw, dict) else None
            rspec: RuleSpec = _validate(RuleSpec, doc, ("rules", i), raw, "规则", "rule", rule=rid)
            self._rule(doc, ("rules", i), rspec, spec.topic)

    def _rule(self, doc: Located, path: tuple, spec: RuleSpec, topic: str):
        rid = spec.id
        if rid in self.rules:
            raise doc.error(
                path + ("id",), f"规则编号 {rid} 重复", f"rule ID {rid} is used twice", rule=rid
            )
        rule = Rule(
            id=rid,
            node=rid.lower().replace("-", "_"),
            kind=spec.kind,
            grain=spec.grain,
            citation=spec.citation,
            parameters=list(spec.parameters),
            file=doc.file,
            line=doc.line(path),
            level=spec.level,
            default=spec.default,
            explain=spec.explain,
            explain_false=spec.explain_false,
            explain_requires=list(spec.explain_requires or []),
            check=spec.check or rid,
            severity=spec.severity,
            owner=spec.owner,
            status=spec.status,
            needs_inputs=list(spec.needs_inputs or []),
            enforced_by=spec.enforced_by,
            topic=topic,
        )
        self.rules[rid] = rule
        for pname in spec.parameters:
            if pname not in self.params.defs and pname not in self.params.components:
                raise doc.error(
                    path + ("parameters",),
                    f"未知参数 {pname}",
                    f"unknown parameter {pname}",
                    rule=rid,
                )

        def need(field_name: str, ok: bool):
            if not ok:
                raise doc.error(
                    path,
                    f"{spec.kind} 规则需要 {field_name}",
                    f"a {spec.kind} rule needs {field_name}",
                    rule=rid,
                )

        def forbid(*names: str):
            for n in names:
                if getattr(spec, n) not in (None, [], False):
                    raise doc.error(
                        path + (n,),
                        f"{spec.kind} 规则不使用 {n}",
                        f"a {spec.kind} rule takes no {n}",
                        rule=rid,
                    )

        if spec.kind == "procedure":
            need("enforced_by", bool(spec.enforced_by))
            forbid("when", "value", "cases", "explain", "messages", "level", "risk_types")
            return
        if spec.status == "planned":
            need("needs_inputs", bool(spec.needs_inputs))
            forbid("when", "value", "cases", "explain")
            return
        if spec.kind == "monitoring":
            need("when", spec.when is not None)
            need("level", spec.level is not None)
            if spec.grain != HOUSEHOLD:
                raise doc.error(
                    path + ("grain",),
                    "监测规则是户级规则",
                    "monitoring rules are household rules",
                    rule=rid,
                )
            forbid("value", "cases", "messages")
        else:
            forbid("level", "risk_types")
        if spec.kind == "eligibility":
            need("when", spec.when is not None)
            forbid("value", "cases", "messages")
        if spec.kind == "amount":
            need("value", spec.value is not None)
            forbid("cases", "messages")
        if spec.kind in ("classification", "category"):
            need("cases", bool(spec.cases))
            need("default", spec.default is not None)
            forbid("value", "messages")
            if spec.kind == "category":
                if spec.grain != HOUSEHOLD:
                    raise doc.error(
                        path,
                        "类别规则是户级规则",
                        "the category rule is a household rule",
                        rule=rid,
                    )
                if any(r.kind == "category" and r.id != rid for r in self.rules.values()):
                    raise doc.error(
                        path,
                        "只能有一条 category 规则",
                        "only one category rule is allowed",
                        rule=rid,
                    )
        if spec.kind == "quality":
            need("when", spec.when is not None)
            need("messages", bool(spec.messages))
            need("severity", spec.severity is not None)
            need("owner", spec.owner is not None)
            assert spec.messages is not None
            if spec.messages[-1].when is not None:
                raise doc.error(
                    path + ("messages",),
                    "最后一条 message 不应有 when（作为默认）",
                    "the last message must have no when (it is the default)",
                    rule=rid,
                )
        if spec.kind != "quality" and spec.explain is None:
            raise doc.error(
                path,
                "规则需要 explain（zh、en 说明模板）",
                "a rule needs explain (zh and en templates)",
                rule=rid,
            )
        node_type = {"amount": "int", "classification": "text", "category": "text"}.get(
            spec.kind, "bool"
        )
        node = Node(
            name=rule.node,
            grain=spec.grain,
            type=node_type,
            description=TextSpec(zh=f"规则 {rid}", en=f"rule {rid}"),
            origin="rule",
            file=doc.file,
            line=doc.line(path),
            rule=rule,
        )
        self._add(node, doc, path + ("id",), rule=rid)
        self.pending.append(("rule", rule.node, (doc, path, spec)))

    # --- checking ----------------------------------------------------------------

    def check_all(self):
        for kind, name, payload in self.pending:
            node = self.nodes[name]
            if kind == "expr":
                doc, path, text = payload
                scope = self.scope_for(
                    node.grain, what=(f"特征 {name} 的 sql", f"sql of feature {name}")
                )
                node.expr = check_expression(
                    text, scope, file=doc.file, line=doc.line(path), rule=name
                )
            elif kind == "agg":
                doc, path, gpath, of, where, match = payload
                agg = node.agg
                assert agg is not None
                if agg.source == "members":
                    scope = self.scope_for(
                        PERSON,
                        members=True,
                        what=(f"{name} 的成员聚合", f"members aggregate of {name}"),
                    )
                else:
                    scope = self.scope_for(
                        node.grain,
                        table=agg.source,
                        what=(
                            f"{name} 对 {agg.source} 的聚合",
                            f"aggregate of {name} over {agg.source}",
                        ),
                    )
                if of is not None:
                    agg.of = check_expression(
                        of, scope, file=doc.file, line=doc.line(path + ("of",)), rule=name
                    )
                if where is not None:
                    agg.where = check_expression(
                        where, scope, file=doc.file, line=doc.line(gpath + ("where",)), rule=name
                    )
                for col in agg.order_by:
                    if agg.source == "members" or col not in self.inputs[agg.source].all_columns():
                        raise doc.error(
                            gpath + ("order_by",),
                            f"order_by 的列 {col} 不在表中",
                            f"order_by column {col} is not in the table",
                            rule=name,
                        )
                if match is not None:
                    mscope = self.scope_for(
                        node.grain, what=(f"{name} 的 key.match", f"key.match of {name}")
                    )
                    agg.key_match = check_expression(
                        match, mscope, file=doc.file, line=doc.line(gpath + ("key",)), rule=name
                    )
            else:
                doc, path, spec = payload
                self._check_rule(node, doc, path, spec)

    def _check_rule(self, node: Node, doc: Located, path: tuple, spec: RuleSpec):
        rule = node.rule
        assert rule is not None
        rid = rule.id
        scope = self.scope_for(rule.grain, what=(f"规则 {rid}", f"rule {rid}"))

        def chk(text: str, sub: tuple) -> Checked:
            return check_expression(text, scope, file=doc.file, line=doc.line(path + sub), rule=rid)

        if spec.when is not None:
            rule.when = chk(spec.when, ("when",))
        if spec.value is not None:
            rule.value = chk(spec.value, ("value",))
        if spec.denominator is not None:
            rule.denominator = chk(spec.denominator, ("denominator",))
        for i, case in enumerate(spec.cases or []):
            rule.cases.append((chk(case.when, ("cases", i, "when")), case.value))
        if isinstance(spec.risk_types, RiskFallback):
            rule.risk_fallback = spec.risk_types.fallback
        else:
            for i, r in enumerate(spec.risk_types or []):
                rule.risk_types.append(
                    (r.type, chk(r.when, ("risk_types", i, "when")) if r.when else None)
                )
        for i, m in enumerate(spec.messages or []):
            rule.messages.append(
                (
                    chk(m.when, ("messages", i, "when")) if m.when else None,
                    TextSpec(zh=m.zh, en=m.en),
                )
            )
        # parameters read must equal parameters declared (whole parameter names)
        used = set()
        for part in self._rule_parts(rule):
            for comp in part.params:
                used.add(self.params.components[comp][0].name)
        declared = {
            self.params.components[p][0].name if p in self.params.components else p
            for p in rule.parameters
        }
        if used - declared:
            missing = ", ".join(sorted(used - declared))
            raise doc.error(
                path + ("parameters",),
                f"读取了未声明的参数 {missing}",
                f"reads parameters it does not declare: {missing}",
                rule=rid,
            )
        if declared - used:
            extra = ", ".join(sorted(declared - used))
            raise doc.error(
                path + ("parameters",),
                f"声明了未读取的参数 {extra}",
                f"declares parameters it does not read: {extra}",
                rule=rid,
            )
        for name in rule.placeholders() | {r.partition("=")[0] for r in rule.explain_requires}:
            if name in scope.columns or name in self.params.components or name in self.params.defs:
                continue
            raise doc.error(
                path + ("explain",),
                f"说明模板引用了未知的名称 {{{name}}}",
                f"explanation refers to an unknown name {{{name}}}",
                rule=rid,
            )

    @staticmethod
    def _rule_parts(rule: Rule) -> Iterable[Checked]:
        for part in (rule.when, rule.value, rule.denominator):
            if part is not None:
                yield part
        for c, _ in rule.cases:
            yield c
        for _, c in rule.risk_types:
            if c is not None:
                yield c
        for c, _ in rule.messages:
            if c is not None:
                yield c


def _summary_nodes(loader: _Loader) -> None:
    """Flag, level, fired-rule list and risk types, generated from the monitoring rules."""
    for name, (typ, zh, en) in SUMMARY_NODES.items():
        if name in loader.nodes:
            raise CatalogueError(
                f"名称 {name} 保留给监测汇总", f"name {name} is reserved for the monitoring summary"
            )
        loader.nodes[name] = Node(
            name=name,
            grain=HOUSEHOLD,
            type=typ,
            description=TextSpec(zh=zh, en=en),
            origin="summary",
        )


def _topo(nodes: dict[str, Node]) -> list[str]:
    from .build import node_dependencies

    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, stack: list[str]):
        s = state.get(name, 0)
        if s == 2:
            return
        if s == 1:
            cycle = stack[stack.index(name) :] + [name]
            node = nodes[name]
            raise CatalogueError(
                f"循环依赖：{' → '.join(cycle)}",
                f"dependency cycle: {' → '.join(cycle)}",
                file=node.file,
                line=node.line,
                rule=node.rule.id if node.rule else name,
            )
        state[name] = 1
        stack.append(name)
        for dep in sorted(node_dependencies(nodes[name])):
            visit(dep, stack)
        stack.pop()
        state[name] = 2
        order.append(name)

    for name in nodes:
        visit(name, [])
    return order


def _load_outputs(path: Path, nodes: dict[str, Node]) -> dict[str, dict[str, tuple[str, str]]]:
    doc = load_located(path)
    spec: OutputsFile = _validate(OutputsFile, doc, (), doc.data, "输出定义", "output definition")
    result: dict[str, dict[str, tuple[str, str]]] = {}
    for rel in ("households", "persons"):
        cols: dict[str, tuple[str, str]] = {}
        for out, raw in getattr(spec, rel).items():
            if isinstance(raw, OutputColumn):
                node_name, typ = raw.node, raw.type
            else:
                node_name, typ = out, raw
            if node_name not in nodes:
                raise doc.error(
                    (rel, out),
                    f"输出列 {out} 引用了未知的名称 {node_name}",
                    f"output column {out} refers to an unknown name {node_name}",
                )
            node = nodes[node_name]
            if rel == "households" and node.grain != HOUSEHOLD:
                raise doc.error(
                    (rel, out), f"{node_name} 不是户级名称", f"{node_name} is not a household name"
                )
            cols[out] = (node_name, typ)
        result[rel] = cols
    return result


def load_catalogue(
    *,
    rules_dir: str | Path | None = None,
    features_dir: str | Path | None = None,
    inputs_file: str | Path | None = None,
    outputs_file: str | Path | None = None,
    params: ParameterCatalogue | None = None,
    parameters_dir: str | Path | None = None,
) -> Catalogue:
    """Load and vet the whole catalogue. Raises CatalogueError on the first problem."""
    if params is None:
        params = ParameterCatalogue.load(parameters_dir) if parameters_dir else default_parameters()
    inputs = _load_inputs(Path(inputs_file or INPUTS_FILE))
    loader = _Loader(params, inputs)
    fdir = Path(features_dir or FEATURES_DIR)
    for path in sorted(fdir.glob("*.yaml")):
        doc = load_located(path)
        spec: FeatureFile = _validate(FeatureFile, doc, (), doc.data, "特征文件", "feature file")
        loader.load_feature_map(doc, ("features",), spec.features, spec.grain)
    rdir = Path(rules_dir or RULES_DIR)
    rule_files = sorted(rdir.glob("*.yaml"))
    if not rule_files:
        raise CatalogueError("没有规则文件", "no rule files found", file=rdir)
    for path in rule_files:
        loader.load_rule_file(path)
    _summary_nodes(loader)
    loader.check_all()
    from .build import build_rule_nodes

    build_rule_nodes(loader.nodes, loader.rules)
    order = _topo(loader.nodes)
    outputs = _load_outputs(Path(outputs_file or OUTPUTS_FILE), loader.nodes)
    return Catalogue(
        inputs=inputs,
        nodes=loader.nodes,
        rules=loader.rules,
        params=params,
        outputs=outputs,
        order=order,
    )


@lru_cache(maxsize=2)
def _default_catalogue() -> Catalogue:
    return load_catalogue()


def default_catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process."""
    return _default_catalogue()
