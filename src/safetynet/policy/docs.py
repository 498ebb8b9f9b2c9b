"""Generate the catalogue reference (parameters, input contract, features, rules) as Markdown.

`docs/<lang>/rules.md` keeps hand-written text around a generated block between two markers;
`safetynet policy docs --write` refreshes it, and a test fails when it is out of date.
"""

from __future__ import annotations

from pathlib import Path

from .catalogue import Catalogue, default_catalogue
from .params import TAGS, format_value

BEGIN = "<!-- BEGIN GENERATED: safetynet policy docs --write -->"
END = "<!-- END GENERATED -->"
DOCS_DIR = Path(__file__).resolve().parents[3] / "docs"

LABELS = {
    "zh": {
        "params": "参数",
        "inputs": "输入表",
        "features": "特征",
        "rules": "规则",
        "name": "名称",
        "desc": "说明",
        "unit": "单位",
        "tag": "标记",
        "values": "取值（区划 · 生效日期 → 值）",
        "source": "来源",
        "grain": "粒度",
        "type": "类型",
        "def": "定义",
        "kind": "种类",
        "level": "等级",
        "when": "条件",
        "reads": "读取参数",
        "risk": "风险类型",
        "cite": "依据",
        "explain": "说明模板",
        "table": "表",
        "columns": "列",
        "planned": "待接入输入",
        "workflow": "由业务流程执行",
        "outputs": "输出列",
        "household": "户",
        "person": "人",
        "status": "状态",
    },
    "en": {
        "params": "Parameters",
        "inputs": "Input tables",
        "features": "Features",
        "rules": "Rules",
        "name": "name",
        "desc": "description",
        "unit": "unit",
        "tag": "tag",
        "values": "values (area · from → value)",
        "source": "source",
        "grain": "grain",
        "type": "type",
        "def": "definition",
        "kind": "kind",
        "level": "level",
        "when": "condition",
        "reads": "parameters read",
        "risk": "risk types",
        "cite": "citation",
        "explain": "explanation",
        "table": "table",
        "columns": "columns",
        "planned": "needs inputs",
        "workflow": "enforced by",
        "outputs": "Output columns",
        "household": "household",
        "person": "person",
        "status": "status",
    },
}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: str) -> str:
    return "`" + " ".join(str(text).split()).replace("`", "'").replace("|", "\\|") + "`"


def render_reference(lang: str = "zh", catalogue: Catalogue | None = None) -> str:
    cat = catalogue or default_catalogue()
    L = LABELS[lang]
    out: list[str] = []
    # parameters
    out.append(f"### {L['params']}\n")
    out.append(" ".join(f"[{k}] {v[0] if lang == 'zh' else v[1]}." for k, v in TAGS.items()) + "\n")
    out.append(
        f"| {L['name']} | {L['desc']} | {L['unit']} | {L['tag']} | {L['values']} | {L['source']} |"
    )
    out.append("| --- | --- | --- | --- | --- | --- |")
    for name, p in cat.params.defs.items():
        values = "<br>".join(
            f"{e.area} · {e.start.isoformat()} → {format_value(e.value)}"
            + (f" [{e.tag}]" if e.tag != p.tag else "")
            for e in sorted(
                p.entries, key=lambda e: (len(e.area) if e.area != "CN" else 0, e.area, e.start)
            )
        )
        desc = p.description_zh if lang == "zh" else p.description_en
        out.append(
            f"| `{name}` | {_cell(desc)} | {_cell(p.unit)} | [{p.tag}] | {values} | {_cell(p.source)} |"
        )
    # inputs
    out.append(f"\n### {L['inputs']}\n")
    out.append(f"| {L['table']} | {L['desc']} | {L['columns']} |")
    out.append("| --- | --- | --- |")
    for name, t in cat.inputs.items():
        desc = t.description.zh if lang == "zh" else t.description.en
        cols = ", ".join(f"{c} ({typ})" for c, typ in t.columns.items())
        out.append(f"| `{name}` | {_cell(desc)} | {cols} |")
    # features
    out.append(f"\n### {L['features']}\n")
    for grain in ("household", "person"):
        out.append(f"\n#### {L[grain]}\n")
        out.append(f"| {L['name']} | {L['type']} | {L['desc']} | {L['def']} |")
        out.append("| --- | --- | --- | --- |")
        for name, n in cat.nodes.items():
            if n.grain != grain or n.origin not in ("feature", "builtin", "summary"):
                continue
            desc = n.description.zh if lang == "zh" else n.description.en
            if n.expr is not None:
                definition = _code(n.expr.text)
            elif n.agg is not None:
                a = n.agg
                parts = [f"{a.fn}({a.of.text if a.of else '*'})", f"from {a.source}"]
                if a.where is not None:
                    parts.append(f"where {a.where.text}")
                if a.key not in ("default",):
                    parts.append(
                        f"key {a.key}"
                        + (f" {a.key_column} = {a.key_match.text}" if a.key_match else "")
                    )
                if a.fn == "latest":
                    parts.append(
                        f"order by {', '.join(a.order_by)} desc"
                        + (f", rank {a.rank}" if a.rank != 1 else "")
                    )
                definition = _code(" ".join(parts))
            elif n.origin == "summary":
                definition = (
                    "(generated from the monitoring rules)"
                    if lang == "en"
                    else "（由监测规则生成）"
                )
            else:
                definition = "(built in)" if lang == "en" else "（内置）"
            out.append(f"| `{name}` | {n.type} | {_cell(desc)} | {definition} |")
    # rules
    out.append(f"\n### {L['rules']}\n")
    for topic in dict.fromkeys(r.topic for r in cat.rules.values()):
        out.append(f"\n#### {topic}\n")
        out.append(
            f"| ID | {L['kind']} | {L['grain']} | {L['level']} | {L['when']} | {L['reads']} | "
            f"{L['risk']} | {L['cite']} | {L['explain']} |"
        )
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in (r for r in cat.rules.values() if r.topic == topic):
            if r.kind == "procedure":
                cond = f"{L['workflow']}: {r.enforced_by}"
            elif r.status == "planned":
                cond = f"{L['planned']}: {', '.join(r.needs_inputs)}"
            elif r.kind == "amount":
                cond = _code(r.value.text) + (
                    f" ÷ {_code(r.denominator.text)}" if r.denominator else ""
                )
                if r.when is not None:
                    cond += f" when {_code(r.when.text)}"
            elif r.kind in ("classification", "category"):
                cond = (
                    "; ".join(f"{_code(c.text)} → {v}" for c, v in r.cases) + f"; else {r.default}"
                )
            else:
                cond = _code(r.when.text)
            risks = ", ".join(t + (f" ({_cell(c.text)})" if c else "") for t, c in r.risk_types)
            if r.risk_fallback:
                risks = (risks + ", " if risks else "") + f"{r.risk_fallback} (fallback)"
            explain = ""
            if r.explain is not None:
                explain = _cell(r.explain.zh if lang == "zh" else r.explain.en)
            elif r.messages:
                explain = _cell("; ".join(m.zh if lang == "zh" else m.en for _, m in r.messages))
            out.append(
                f"| {r.id} | {r.kind} | {r.grain} | {r.level or ''} | {cond} | "
                f"{', '.join(r.parameters)} | {risks} | {_cell(r.citation)} | {explain} |"
            )
    # outputs
    out.append(f"\n### {L['outputs']}\n")
    for rel, cols in cat.outputs.items():
        out.append(f"- `{rel}`: " + ", ".join(f"{c} ({t})" for c, (_, t) in cols.items()))
    out.append("- `quality`: check, household_id, id_number, message, severity, owner, rule")
    return "\n".join(out) + "\n"


def update_doc(lang: str, path: Path | None = None) -> Path:
    path = path or DOCS_DIR / lang / "rules.md"
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} lacks the generated-block markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{render_reference(lang)}\n{END}{tail}", encoding="utf-8")
    return path
