"""Every scenario of shared/policy-cases and tests/scenarios, on DuckDB, in one engine run each."""

from __future__ import annotations

import pytest

from safetynet.engine.assess import assess_many
from safetynet.engine.compare import compare


@pytest.fixture(scope="module")
def policy_results(policy_cases, catalogue):
    return {
        o.scenario.name: o for o in assess_many(policy_cases, catalogue=catalogue, overrides=[])
    }


@pytest.fixture(scope="module")
def boundary_results(boundary_scenarios, catalogue):
    return {
        o.scenario.name: o
        for o in assess_many(boundary_scenarios, catalogue=catalogue, overrides=[])
    }


def _check(outcome):
    assert outcome.error is None, outcome.error
    assert outcome.scenario.spec.expected, "every scenario states what it expects"
    diffs = compare(outcome.scenario.spec.expected, outcome.result)
    assert not diffs, "\n".join(d.line(outcome.scenario.name) for d in diffs)


def test_policy_cases_pass_on_duckdb(policy_results):
    assert len(policy_results) == 8
    for outcome in policy_results.values():
        _check(outcome)


def test_boundary_scenarios_pass_on_duckdb(boundary_results):
    assert len(boundary_results) >= 90
    failures = []
    for outcome in boundary_results.values():
        try:
            _check(outcome)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)


def test_explanations_carry_values_parameters_and_sources(policy_results):
    result = policy_results["低保补差：三口之家，务工扣减后低于标准"].result
    by_rule = {e["rule"]: e for e in result["explanations"] if "id_number" not in e}
    income = by_rule["M-INCOME"]
    assert income["values"]["pc_net_income"] == 6200
    assert income["values"]["monitoring.income_line"] == 7300
    assert "6200.00" in income["zh"] and "7300" in income["zh"] and "7300" in income["en"]
    line = income["parameters"]["monitoring.income_line"]
    assert (
        line["tag"] == "D"
        and line["area"] == "CN"
        and line["from"] == "2024-01-01"
        and line["source"]
    )
    assert income["source"].startswith("POLICY.md §1 M-INCOME")
    amount = by_rule["D-AMOUNT"]
    assert (
        amount["decision"] == 758
        and "758" in amount["zh"]
        and amount["values"]["dibao.standard"] == 680
    )
    assert amount["parameters"]["dibao.standard"]["area"] == "36"
    assert by_rule["D-ELIGIBLE"]["decision"] is True
    tekun = [e for e in result["explanations"] if e["rule"] == "T-ELIGIBLE"]
    assert {e["id_number"] for e in tekun} == set(result["tekun"])
    assert all(e["decision"] is False and e["zh"].startswith("不符合特困供养") for e in tekun)


def test_negative_decisions_are_explained(boundary_results):
    result = boundary_results["D-ASSETS 边界：多1元不通过，但在边缘家庭资产限额内"].result
    rules = {e["rule"]: e for e in result["explanations"] if "id_number" not in e}
    assert rules["D-ASSETS"]["decision"] is False and "16321.00" in rules["D-ASSETS"]["zh"]
    assert rules["D-ELIGIBLE"]["decision"] is False
    assert rules["D-EDGE"]["decision"] is True
    emergency = boundary_results["A-EXPENDITURE 边界：刚性支出少1元不符合"].result
    assert any(
        e["rule"] == "A-EXPENDITURE" and e["decision"] is False for e in emergency["explanations"]
    )


def test_result_shape(policy_results):
    result = policy_results["临时救助：急难型，火灾，乡镇审批"].result
    assert set(result) >= {
        "name",
        "as_of",
        "measures",
        "monitoring",
        "dibao",
        "single_person",
        "tekun",
        "temporary",
        "rigid_hardship",
        "low_income",
        "explanations",
        "quality",
    }
    assert result["as_of"] == "2024-06-30"
    assert result["temporary"] == {
        "eligible": True,
        "type": "emergency",
        "need": 1500.0,
        "amount": 1500,
        "approver": "township",
        "case_by_case": False,
    }
    assert policy_results["特困：独居老人，无劳动能力，部分失能"].result["temporary"] is None
