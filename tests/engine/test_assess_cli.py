"""`safetynet assess FILE_OR_DIR [--check] [--json]` as formats/assess.md describes it."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from safetynet.cli import app
from safetynet.core.errors import SafetyNetError

pytestmark = pytest.mark.django_db


@pytest.fixture
def runner():
    return CliRunner()


def test_policy_cases_check_exits_zero(runner, shared_dir):
    result = runner.invoke(app, ["assess", str(shared_dir / "policy-cases"), "--check"])
    assert result.exit_code == 0, result.output
    assert "8 scenarios, 8 checked, 0 differ, 0 failed" in result.output
    assert "防返贫监测：纳入监测（边缘易致贫户，红色预警）" in result.output
    assert "月保障金 758 元" in result.output


def test_json_lines_one_object_per_scenario_in_file_order(runner, shared_dir):
    result = runner.invoke(app, ["assess", str(shared_dir / "policy-cases"), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["name"] for r in lines][:2] == [
        "低保补差：三口之家，务工扣减后低于标准",
        "脱贫户人均纯收入低于监测线：脱贫不稳定户",
    ]
    assert len(lines) == 8
    first = lines[0]
    assert first["measures"]["pc_month_income"] == 450.0
    assert first["monitoring"]["rules"] == ["M-INCOME"] and first["dibao"]["monthly_amount"] == 758


def test_check_prints_every_difference_and_fails(runner, shared_dir, tmp_path):
    data = yaml.safe_load((shared_dir / "policy-cases" / "01.yaml").read_text(encoding="utf-8"))
    data["expected"]["dibao"]["monthly_amount"] = 999
    data["expected"]["monitoring"]["risk_types"] = ["因病"]
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["assess", str(tmp_path), "--check"])
    assert result.exit_code == 1
    assert "dibao.monthly_amount: expected 999, got 758" in result.output
    assert "monitoring.risk_types: expected ['因病'], got ['其他']" in result.output
    assert "1 differ" in result.output


def test_people_under_tekun_must_match_exactly(runner, shared_dir, tmp_path):
    data = yaml.safe_load((shared_dir / "policy-cases" / "06.yaml").read_text(encoding="utf-8"))
    data["expected"]["single_person"] = {}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["assess", str(tmp_path), "--check"])
    assert result.exit_code == 1 and "single_person (people)" in result.output


def test_malformed_scenarios_name_file_and_field_while_others_run(runner, shared_dir, tmp_path):
    shutil.copy(shared_dir / "policy-cases" / "01.yaml", tmp_path / "a_good.yaml")
    bad = yaml.safe_load((shared_dir / "policy-cases" / "02.yaml").read_text(encoding="utf-8"))
    del bad["household"]["members"][1]["labour"]
    (tmp_path / "b_missing.yaml").write_text(
        yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8"
    )
    bad2 = yaml.safe_load((shared_dir / "policy-cases" / "03.yaml").read_text(encoding="utf-8"))
    bad2["household"]["feeds"][0]["kind"] = "medical_bills"
    bad3 = yaml.safe_load((shared_dir / "policy-cases" / "04.yaml").read_text(encoding="utf-8"))
    bad3["as_of"] = "2024-13-45"
    bad4 = yaml.safe_load((shared_dir / "policy-cases" / "05.yaml").read_text(encoding="utf-8"))
    bad4["household"]["incomes"][0]["wage"] = "lots"
    (tmp_path / "c_list.yaml").write_text(
        yaml.safe_dump([bad2, bad3, bad4], allow_unicode=True), encoding="utf-8"
    )
    (tmp_path / "d_broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    result = runner.invoke(app, ["assess", str(tmp_path), "--check"])
    assert result.exit_code == 1
    out = result.output
    assert (
        "b_missing.yaml" in out and "household.members[1].labour" in out and "Field required" in out
    )
    assert (
        "c_list.yaml" in out
        and "household.feeds[0].kind" in out
        and "unknown feed kind 'medical_bills'" in out
    )
    assert "field as_of" in out
    assert "household.incomes[0].wage" in out
    assert "d_broken.yaml" in out and "cannot be read" in out
    assert "Traceback" not in out
    # the good scenario still ran and matched
    assert "━━ 低保补差：三口之家，务工扣减后低于标准" in out
    assert "6 scenarios, 1 checked, 0 differ, 5 failed" in out


def test_unknown_engine_and_missing_path_are_bilingual_errors(runner, tmp_path):
    # SafetyNetError reaches `safetynet.cli.main`, which prints both languages and exits 2
    result = runner.invoke(app, ["assess", str(tmp_path / "nope.yaml")])
    assert isinstance(result.exception, SafetyNetError)
    assert (
        "no such file or directory" in result.exception.en
        and "文件或目录不存在" in result.exception.zh
    )
    result = runner.invoke(app, ["assess", str(tmp_path), "--engine", "oracle"])
    assert (
        isinstance(result.exception, SafetyNetError)
        and "unknown engine oracle" in result.exception.en
    )
