"""`safetynet assistance ...` commands."""

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from safetynet.assistance.models import Application, Roll
from safetynet.cli import app
from safetynet.core.errors import PermissionDenied, SafetyNetError

from .conftest import COUNTY, approve

D = dt.date
pytestmark = pytest.mark.django_db
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["assistance", *args], catch_exceptions=True)


def test_help_is_bilingual():
    result = run("--help")
    assert result.exit_code == 0
    assert "发放花名册" in result.output and "payment rolls" in result.output
    result = run("roll", "--help")
    assert "审批并锁定" in result.output and "Approve and lock" in result.output


def test_apply_and_show(users, households, engine):
    households("K001")
    engine.set("K001", dibao=(True, 640))
    result = run(
        "apply",
        "--household",
        "K001",
        "--programme",
        "dibao",
        "--accepted-on",
        "2024-09-27",
        "--source-case",
        "CASE-3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["assessment"]["dibao"]["monthly_amount"] == 640
    app_obj = Application.objects.get(pk=data["id"])
    assert app_obj.source_case_id == "CASE-3"
    result = run("show", str(app_obj.pk), "--as-of", "2024-10-09", "--json")
    clocks = {c["step"]: c for c in json.loads(result.output)["clocks"]}
    assert (
        clocks["survey_start"]["due"] == "2024-10-08"
        and clocks["survey_start"]["state"] == "overdue"
    )
    result = run(
        "apply", "--household", "K001", "--programme", "dibao", "--accepted-on", "2024-13-01"
    )
    assert isinstance(result.exception, SafetyNetError) and "YYYY-MM-DD" in str(result.exception)


def test_rolls_from_the_command_line(users, households, engine, tmp_path):
    approve(users, engine, households("K002"), amount=500)
    result = run("roll", "generate", "--county", COUNTY, "--month", "2024-06", "--user", "county")
    assert result.exit_code == 0, result.output
    assert "1 lines" in result.output and "500" in result.output
    ref = f"{COUNTY}:2024-06"
    assert run("roll", "check", ref, "--user", "county").exit_code == 0
    refused = run("roll", "approve", ref, "--user", "county")
    assert isinstance(refused.exception, PermissionDenied)
    assert run("roll", "approve", ref, "--user", "county2").exit_code == 0
    assert Roll.objects.get().locked
    refused = run("roll", "export", ref, "--user", "county", "--out", str(tmp_path))
    assert isinstance(refused.exception, PermissionDenied)
    result = run(
        "roll", "export", ref, "--user", "finance", "--format", "xlsx", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"roll_{COUNTY}_202406_v3.xlsx").exists()
    result = run("roll", "reconcile", ref, "--json")
    assert json.loads(result.output)["balanced"] is True
    result = run("roll", "reconcile", ref)
    assert "平衡 / balanced" in result.output
    assert f"{COUNTY} 2024-06 approved" in run("roll", "list").output
    missing = run("roll", "check", "123456:2024-01", "--user", "county")
    assert "not found" in str(missing.exception)


def test_reviews_deaths_and_checks(users, households, engine):
    hh = households("K003", members=2)
    approve(users, engine, hh, amount=300, household_type="unstable")
    result = run("reviews", "--as-of", "2024-12-01", "--json")
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["household_id"] for r in rows] == ["K003"]
    hh.people[1].status = "deceased"
    hh.people[1].save()
    assert "1 new death proposals" in run("deaths", "--as-of", "2024-07-01").output
    result = run("checks", "--as-of", "2024-12-01", "--json")
    found = {
        (json.loads(x)["check"], json.loads(x)["household_id"]) for x in result.output.splitlines()
    }
    assert ("Q-REVIEW", "K003") in found and ("Q-DEAD-PAID", "K003") in found


def test_errors_are_printed_in_both_languages(users, households, engine, capsys, monkeypatch):
    from safetynet import cli

    monkeypatch.setattr(
        "sys.argv",
        ["safetynet", "assistance", "roll", "approve", "360827:2024-06", "--user", "nobody"],
    )
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "错误：未找到用户 nobody" in err and "Error: no active user nobody" in err
