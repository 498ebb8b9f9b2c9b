"""The rule catalogue: coverage of POLICY.md, broken catalogues, SQL smuggling attempts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from safetynet.policy.catalogue import FEATURES_DIR, RULES_DIR, default_catalogue, load_catalogue
from safetynet.policy.yamlsrc import CatalogueError


def test_catalogue_covers_every_rule_of_policy(shared_dir):
    policy = (shared_dir / "domain" / "POLICY.md").read_text(encoding="utf-8")
    ids = set(re.findall(r"^\| ((?:[MYDTAR]|Q)-[A-Z0-9-]+) \|", policy, flags=re.M))
    assert {
        "M-INCOME",
        "Y-JOBLOSS",
        "D-SINGLE",
        "T-AMOUNT",
        "A-AMOUNT",
        "R-HARDSHIP",
        "Q-ID",
        "Q-ELIM",
    } <= ids
    cat = default_catalogue()
    missing = ids - set(cat.rules)
    assert not missing, f"rules of POLICY.md not in the catalogue: {sorted(missing)}"
    computable = {
        "Q-ID",
        "Q-DUP",
        "Q-HEAD",
        "Q-OMIT-MON",
        "Q-SCHOOL",
        "Q-LABOUR",
        "Q-PHONE",
        "Q-NOINCOME",
    }
    for rid in computable:
        assert cat.rules[rid].active, rid
    for rid in ids - computable:
        rule = cat.rules[rid]
        if rid.startswith("Q-"):
            assert rule.status == "planned" and rule.needs_inputs, rid
    assert cat.rules["M-CATEGORY"].kind == "category"
    assert cat.rules["LOW-INCOME"].active


def test_every_rule_is_cited_and_explained_and_every_feature_documented():
    cat = default_catalogue()
    for rule in cat.rules.values():
        assert rule.citation.startswith("POLICY.md"), rule.id
        if rule.active and rule.kind != "quality":
            assert rule.explain is not None and rule.explain.zh and rule.explain.en, rule.id
    for node in cat.nodes.values():
        if node.origin == "feature":
            assert node.description.zh and node.description.en, node.name


def test_levels_and_risk_types_follow_policy():
    cat = default_catalogue()
    levels = {r.id: r.level for r in cat.monitoring_rules()}
    assert levels == {
        "M-INCOME": "red",
        "M-RIGID": "red",
        "M-DISASTER": "red",
        "M-EDU": "orange",
        "M-MEDINS": "orange",
        "M-HOUSING": "orange",
        "M-WATER": "orange",
        "Y-NEAR": "yellow",
        "Y-DROP": "yellow",
        "Y-LABOUR": "yellow",
        "Y-JOBLOSS": "yellow",
    }
    assert cat.rules["M-INCOME"].risk_fallback == "其他"
    assert set(cat.risk_type_names()) == {
        "其他",
        "因病",
        "因学",
        "因自然灾害",
        "因安全住房",
        "因安全饮水",
        "缺劳动力",
        "因残",
        "因务工就业不稳",
    }


# ----------------------------------------------------------------------------- broken catalogues


@pytest.fixture
def dirs(tmp_path):
    rules = tmp_path / "rules"
    features = tmp_path / "features"
    shutil.copytree(RULES_DIR, rules)
    shutil.copytree(FEATURES_DIR, features)
    return rules, features


def _replace(path: Path, old: str, new: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found in {path.name}: {old!r}"
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def _load(dirs):
    rules, features = dirs
    return load_catalogue(rules_dir=rules, features_dir=features)


M_INCOME_WHEN = "    when: has_income AND net_income < monitoring.income_line * n\n"

BROKEN_RULES = [
    (
        "unknown column",
        "monitoring.yaml",
        M_INCOME_WHEN,
        "    when: has_income AND net_incme < monitoring.income_line * n\n",
        "M-INCOME",
        "unknown column net_incme",
    ),
    (
        "unknown parameter",
        "monitoring.yaml",
        M_INCOME_WHEN,
        "    when: has_income AND net_income < monitoring.income_lien * n\n",
        "M-INCOME",
        "unknown parameter or table reference monitoring.income_lien",
    ),
    (
        "syntax error",
        "monitoring.yaml",
        M_INCOME_WHEN,
        "    when: has_income AND (net_income < \n",
        "M-INCOME",
        "syntax error",
    ),
    (
        "undeclared parameter",
        "monitoring.yaml",
        "    parameters: [monitoring.income_line]\n    risk_types:\n      fallback",
        "    parameters: []\n    risk_types:\n      fallback",
        "M-INCOME",
        "reads parameters it does not declare: monitoring.income_line",
    ),
    (
        "declared but unread parameter",
        "monitoring.yaml",
        "    parameters: [monitoring.disaster_loss_ratio]\n",
        "    parameters: [monitoring.disaster_loss_ratio, dibao.standard]\n",
        "M-DISASTER",
        "declares parameters it does not read: dibao.standard",
    ),
    (
        "missing citation",
        "tekun.yaml",
        '    citation: "POLICY.md §3 T-NOSUPPORT; S3 Art. 8"\n',
        "",
        "T-NOSUPPORT",
        "citation: Field required",
    ),
    (
        "unknown kind",
        "tekun.yaml",
        "  - id: T-ELIGIBLE\n    kind: eligibility\n",
        "  - id: T-ELIGIBLE\n    kind: eligible\n",
        "T-ELIGIBLE",
        "field kind",
    ),
    (
        "duplicate rule id",
        "tekun.yaml",
        "  - id: T-NOINCOME\n",
        "  - id: T-NOLABOUR\n",
        "T-NOLABOUR",
        "rule ID T-NOLABOUR is used twice",
    ),
    (
        "unknown placeholder",
        "monitoring.yaml",
        "低于监测收入线 {monitoring.income_line} 元（纯收入",
        "低于监测收入线 {monitoring.income_line} 元（{no_such_value} 纯收入",
        "M-INCOME",
        "explanation refers to an unknown name {no_such_value}",
    ),
    (
        "bad rule id",
        "dibao.yaml",
        "  - id: D-EDGE\n",
        "  - id: d_edge\n",
        None,
        "rule IDs look like M-INCOME",
    ),
    (
        "missing explanation",
        "temporary.yaml",
        """    explain:
      zh: "急难型临时救助""",
        """    explain_unused:
      zh: "急难型临时救助""",
        "A-EMERGENCY",
        "explain_unused",
    ),
    (
        "level on an eligibility rule",
        "dibao.yaml",
        "  - id: D-ELIGIBLE\n    kind: eligibility\n",
        "  - id: D-ELIGIBLE\n    kind: eligibility\n    level: red\n",
        "D-ELIGIBLE",
        "takes no level",
    ),
]


@pytest.mark.parametrize(
    ("label", "file", "old", "new", "rule", "message"),
    BROKEN_RULES,
    ids=[b[0] for b in BROKEN_RULES],
)
def test_broken_rule_files_are_rejected_with_file_line_and_rule(
    dirs, label, file, old, new, rule, message
):
    path = dirs[0] / file
    line = _replace(path, old, new)
    with pytest.raises(CatalogueError) as info:
        _load(dirs)
    err = info.value
    assert message in err.en, err.en
    assert err.file == str(path), err.en
    assert err.line is not None and abs(err.line - line) <= 12, (err.line, line)
    if rule:
        assert err.rule == rule and f"[{rule}]" in err.en
    assert err.zh != err.en


def test_dependency_cycle_is_named(dirs):
    _replace(
        dirs[0] / "dibao.yaml",
        "    when: has_income AND counted_income < dibao.standard * 12 * n AND d_assets\n",
        "    when: has_income AND counted_income < dibao.standard * 12 * n AND d_assets AND NOT d_edge\n",
    )
    with pytest.raises(
        CatalogueError,
        match="dependency cycle: .*d_eligible.*d_edge|dependency cycle: .*d_edge.*d_eligible",
    ):
        _load(dirs)


def test_feature_over_an_unknown_table(dirs):
    line = _replace(dirs[1] / "person.yaml", "    from: feed_deaths\n", "    from: feed_funerals\n")
    with pytest.raises(CatalogueError) as info:
        _load(dirs)
    assert "unknown input table feed_funerals" in info.value.en and info.value.line == line


@pytest.mark.parametrize(
    "default, lacking",
    [("persons", "village_code"), ("households_old", "household_id, village_code")],
)
def test_an_input_default_must_hold_its_columns(dirs, tmp_path, default, lacking):
    from safetynet.policy.catalogue import INPUTS_FILE

    inputs = tmp_path / "inputs.yaml"
    shutil.copyfile(INPUTS_FILE, inputs)
    line = _replace(inputs, "    defaults_to: households\n", f"    defaults_to: {default}\n")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(rules_dir=dirs[0], features_dir=dirs[1], inputs_file=inputs)
    assert f"the default table {default} of household_villages" in info.value.en
    assert lacking in info.value.en and info.value.line == line


def test_a_missing_input_is_read_from_its_default():
    """`household_villages` (county-wide aggregates) reads the households table when not
    given, so a caller that evaluates every household need not pass it; one given must hold
    its columns."""
    import datetime as dt

    import pyarrow as pa

    from safetynet.engine.adapters import EngineError, get_engine, input_schema
    from safetynet.policy.compiler import compile_plan
    from safetynet.policy.params import bind_areas

    cat = default_catalogue()
    assert cat.inputs["household_villages"].defaults_to == "households"
    plan = compile_plan(cat, bind_areas(cat.params, dt.date(2024, 6, 30)), dialect="duckdb")
    assert "household_villages" in plan.script()

    def table(name, rows):
        return pa.Table.from_pylist(rows, schema=input_schema(cat.inputs[name]))

    inputs = {
        "households": table(
            "households",
            [{"household_id": h, "village_code": "360000000001"} for h in ("H1", "H2")],
        ),
        "persons": table(
            "persons",
            [{"id_number": "P1", "household_id": "H1", "relation": "head", "status": "active"}],
        ),
        "incomes": table("incomes", []),
    }
    engine = get_engine("duckdb")
    out = engine.run(plan, inputs)
    assert sorted(out.households.column("household_id").to_pylist()) == ["H1", "H2"]
    with pytest.raises(EngineError) as info:
        engine.run(plan, {**inputs, "household_villages": pa.table({"household_id": ["H1"]})})
    assert "household_villages lacks columns: village_code" in info.value.en


def test_feature_name_clash_across_files(dirs):
    _replace(
        dirs[1] / "person.yaml",
        "  seriously_ill:\n",
        '  net_income:\n    type: money\n    description: {zh: 重名, en: clash}\n    sql: "0"\n  seriously_ill:\n',
    )
    with pytest.raises(CatalogueError, match="name net_income is defined twice"):
        _load(dirs)


def test_duplicate_key_in_one_file(dirs):
    _replace(
        dirs[1] / "household.yaml",
        "  rigid_12m:\n",
        '  n:\n    type: int\n    description: {zh: 重复, en: dup}\n    sql: "1"\n  rigid_12m:\n',
    )
    with pytest.raises(CatalogueError, match="duplicate key 'n'"):
        _load(dirs)


# ----------------------------------------------------------------------------- SQL smuggling

SMUGGLING = [
    (
        "subquery",
        "has_income AND net_income < (SELECT MAX(wage) FROM incomes)",
        "subqueries are not allowed",
    ),
    (
        "in-subquery",
        "household_id IN (SELECT household_id FROM households)",
        "subqueries are not allowed",
    ),
    ("drop table", "DROP TABLE persons", "SQL statements are not allowed"),
    (
        "second statement",
        "has_income; DELETE FROM persons",
        "single expression (found 2 statements)",
    ),
    (
        "table reference",
        "has_income AND persons.name = 'x'",
        "unknown parameter or table reference persons.name",
    ),
    (
        "unknown function",
        "has_income AND read_csv_auto('/etc/passwd') IS NULL",
        "function not allowed: read_csv_auto",
    ),
    ("non-whitelisted builtin", "has_income AND CURRENT_DATE > AS_OF()", "function not allowed"),
    ("aggregate", "SUM(net_income) > 0", "aggregate functions are not allowed"),
    ("window", "ROW_NUMBER() OVER (ORDER BY n) = 1", "window functions are not allowed"),
    ("division", "net_income / n < monitoring.income_line", "division only through ROUND_DIV"),
    ("star", "COALESCE(*) IS NULL", "is not allowed"),
    ("macro misuse", "AS_OF_MINUS_MONTHS(n) < AS_OF()", "must be an integer literal"),
]


@pytest.mark.parametrize(
    ("label", "expression", "message"), SMUGGLING, ids=[s[0] for s in SMUGGLING]
)
def test_sql_smuggling_is_rejected_at_load(dirs, label, expression, message):
    line = _replace(
        dirs[0] / "monitoring.yaml", M_INCOME_WHEN, f"    when: {json.dumps(expression)}\n"
    )
    with pytest.raises(CatalogueError) as info:
        _load(dirs)
    err = info.value
    assert message in err.en, err.en
    assert err.rule == "M-INCOME" and err.line == line
