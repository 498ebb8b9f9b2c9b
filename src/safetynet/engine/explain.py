"""Explanations: which rule, which values, which parameters (with tag and source).

The SQL results carry every value an explanation template names (see the compiler's value
columns); parameters come from the binding the plan was compiled with. Rendering is plain
string substitution of `{name}` placeholders, in Chinese and in English.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from safetynet.policy.catalogue import PLACEHOLDER_RE, Catalogue, Rule
from safetynet.policy.params import Entry, format_value, plain_value

CARE_LABELS = {
    "self_care": ("全自理", "self-care"),
    "partial": ("半失能", "partial"),
    "full": ("全失能", "full"),
}
CATEGORY_LABELS = {
    "unstable": ("脱贫不稳定户", "unstable (exited poor household)"),
    "edge": ("边缘易致贫户", "edge (at risk of poverty)"),
    "sudden": ("突发严重困难户", "sudden severe hardship"),
}
APPROVER_LABELS = {"township": ("乡镇", "township"), "county": ("县级", "county")}


def _display(value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, str):
        for labels in (CARE_LABELS, CATEGORY_LABELS, APPROVER_LABELS):
            if value in labels:
                return labels[value][0 if lang == "zh" else 1]
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    return format_value(value)


def json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and value.as_tuple().exponent >= 0
            else float(value)
        )
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _param_value(
    name: str, entries: dict[str, Entry | None], catalogue: Catalogue
) -> tuple[str, Any, Entry | None]:
    if name in catalogue.params.defs:
        e = entries.get(name)
        return name, (e.value if e else None), e
    pdef, sub = catalogue.params.components[name]
    e = entries.get(pdef.name)
    return pdef.name, (e.value[sub] if e and sub else (e.value if e else None)), e


def _requires_met(rule: Rule, row: dict[str, Any]) -> bool:
    for req in rule.explain_requires:
        name, _, want = req.partition("=")
        value = row.get(name)
        if want:
            if str(value) != want:
                return False
        elif value is None or value is False:
            return False
    return True


def _fired(rule: Rule, value: Any) -> bool:
    if rule.kind == "amount":
        return bool(value)
    if rule.kind in ("classification", "category"):
        return value is not None
    return value is True


def explain_rule(
    rule: Rule, row: dict[str, Any], entries: dict[str, Entry | None], catalogue: Catalogue
) -> dict[str, Any] | None:
    """The explanation of one rule for one result row, or None when there is nothing to say."""
    value = row.get(rule.node)
    fired = _fired(rule, value)
    template = rule.explain if fired else rule.explain_false
    if template is None or not _requires_met(rule, row):
        return None
    values: dict[str, Any] = {}
    parameters: dict[str, Any] = {}

    def lookup(name: str) -> Any:
        if name in row:
            return row[name]
        pname, v, e = _param_value(name, entries, catalogue)
        if e is not None:
            parameters[pname] = e.describe()
        return v

    def render(text: str, lang: str) -> str:
        def sub(m):
            name = m.group(1)
            v = lookup(name)
            values[name] = plain_value(v) if not isinstance(v, Decimal) else json_value(v)
            return _display(v, lang)

        return PLACEHOLDER_RE.sub(sub, text)

    zh = render(template.zh, "zh")
    en = render(template.en, "en")
    # Scalar parameters also under their short name (values["income_line"]), for readers that
    # look a parameter up without its topic; never shadows a feature value.
    for name in list(values):
        if name in catalogue.params.defs:
            short = name.split(".", 1)[1]
            values.setdefault(short, values[name])
    for pname in rule.parameters:
        full = (
            catalogue.params.components[pname][0].name
            if pname in catalogue.params.components
            else pname
        )
        e = entries.get(full)
        if e is not None:
            parameters[full] = e.describe()
    return {
        "rule": rule.id,
        "decision": json_value(value) if not isinstance(value, bool) else value,
        "zh": zh,
        "en": en,
        "values": {k: json_value(v) for k, v in values.items()},
        "parameters": parameters,
        "source": rule.citation,
    }


def explain_household(
    catalogue: Catalogue,
    entries: dict[str, Entry | None],
    household: dict[str, Any],
    persons: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Explanations for a household result row and its person rows, in catalogue order."""
    out: list[dict[str, Any]] = []
    if not household.get("evaluated"):
        return out
    for rule in catalogue.rules.values():
        if not rule.active or rule.kind == "quality":
            continue
        if rule.grain == "household":
            item = explain_rule(rule, household, entries, catalogue)
            if item:
                out.append(item)
        else:
            for person in persons:
                if not person.get("active"):
                    continue
                row = {**household, **person}
                item = explain_rule(rule, row, entries, catalogue)
                if item:
                    item["id_number"] = person.get("id_number")
                    out.append(item)
    return out
