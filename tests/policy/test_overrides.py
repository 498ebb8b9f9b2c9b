"""Officers' overrides: validated, audited, winning over the files in the engine and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from safetynet.cli import app
from safetynet.core.errors import ValidationFailed
from safetynet.core.models import AuditEvent
from safetynet.engine.assess import assess_scenario
from safetynet.policy.models import ParameterOverride
from safetynet.policy.params import resolve_in_force
from safetynet.policy.selectors import override_entries, parameters_in_force
from safetynet.policy.services import parameter_override_create

pytestmark = pytest.mark.django_db
D = dt.date


@pytest.fixture
def village(reference_areas):
    from safetynet.areas.services import area_upsert

    area_upsert(actor=None, code="360827101", name="测试镇", parent_code="360827")
    area_upsert(actor=None, code="360827101001", name="测试村", parent_code="360827101")
    return "360827101001"


def test_override_is_validated_stored_exactly_and_audited(village):
    o = parameter_override_create(
        actor=None,
        area_code="360827",
        parameter="dibao.extra_rates",
        value={
            "severe_disability": "0.25",
            "serious_illness": 0.2,
            "aged_70_plus": 0.1,
            "minor_under_16": 0.1,
        },
        effective_from=D(2024, 3, 1),
        reason="县政府2024年3号文",
    )
    assert o.value["severe_disability"] == "0.25" and o.published_on == D(2024, 3, 1)
    event = AuditEvent.objects.get(object_type="policy.parameteroverride", object_id=str(o.pk))
    assert event.action == "policy.override" and event.after["parameter"] == "dibao.extra_rates"
    assert event.note == "县政府2024年3号文" and event.area_code == "360827"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parameter": "dibao.nonsense", "value": 1}, "unknown parameter dibao.nonsense"),
        ({"parameter": "dibao.standard", "value": "abc"}, "expected a number"),
        (
            {"parameter": "monitoring.school_age", "value": {"min": 9, "max": 6}},
            "min must not exceed max",
        ),
        ({"parameter": "dibao.standard", "value": 700, "area_code": "36081"}, "invalid area code"),
        (
            {"parameter": "dibao.standard", "value": 700, "area_code": "360899"},
            "area 360899 does not exist",
        ),
        ({"parameter": "dibao.standard", "value": 700, "reason": "  "}, "a reason is required"),
    ],
)
def test_bad_overrides_change_nothing(village, kwargs, message):
    args = {
        "actor": None,
        "area_code": "360827",
        "effective_from": D(2024, 1, 1),
        "reason": "r",
        **kwargs,
    }
    with pytest.raises(ValidationFailed, match=message):
        parameter_override_create(**args)
    assert ParameterOverride.objects.count() == 0
    assert not AuditEvent.objects.filter(object_type="policy.parameteroverride").exists()


def test_overrides_win_in_resolution_and_in_assess(village):
    parameter_override_create(
        actor=None,
        area_code="360827",
        parameter="dibao.standard",
        value=700,
        effective_from=D(2024, 1, 1),
        reason="县级提标",
    )
    parameter_override_create(
        actor=None,
        area_code="36",
        parameter="dibao.standard",
        value=690,
        effective_from=D(2024, 1, 1),
        reason="省级同日调整",
    )
    assert len(override_entries()) == 2
    in_force = parameters_in_force(area_code=village, as_of=D(2024, 6, 30))
    assert (
        in_force["dibao.standard"].value == 700 and in_force["dibao.standard"].origin == "override"
    )
    assert resolve_in_force("dibao.standard", "360730101001", D(2024, 6, 30)).value == 690
    assert resolve_in_force("dibao.standard", "431027102003", D(2024, 6, 30)).value == 590
    result = assess_scenario(
        {
            "name": "调整后的低保标准",
            "as_of": "2024-06-30",
            "village_code": village,
            "household": {
                "members": [
                    {"id_number": "360827198003150111", "relation": "head", "labour": "normal"}
                ],
                "incomes": [{"year": 2023}],
            },
        }
    )
    assert result["dibao"]["monthly_amount"] == 700
    assert result["parameters"]["dibao.standard"]["origin"] == "override"


def test_cli_params_and_override(village, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(
        app, ["policy", "params", "--area", village, "--date", "2024-06-30", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    standard = data["parameters"]["dibao.standard"]
    assert (
        standard["value"] == 680
        and standard["tag"] == "D"
        and standard["area"] == "36"
        and standard["source"]
    )
    result = runner.invoke(
        app,
        [
            "policy",
            "override",
            "--area",
            "360827",
            "--parameter",
            "dibao.standard",
            "--value",
            "705",
            "--from",
            "2024-04-01",
            "--reason",
            "县民政局通知",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "override #" in result.output
    result = runner.invoke(
        app, ["policy", "params", "--area", village, "--date", "2024-06-30", "--json"]
    )
    standard = json.loads(result.output)["parameters"]["dibao.standard"]
    assert (
        standard["value"] == 705
        and standard["origin"] == "override"
        and standard["area"] == "360827"
    )
    result = runner.invoke(app, ["policy", "params", "--area", village, "--date", "2024-06-30"])
    assert result.exit_code == 0
    assert "705" in result.output and "人工调整" in result.output and "[D]" in result.output
    result = runner.invoke(
        app,
        [
            "policy",
            "override",
            "--area",
            "360827",
            "--parameter",
            "monitoring.school_age",
            "--value",
            "{min: 6, max: 16}",
            "--from",
            "2024-04-01",
            "--reason",
            "试点",
        ],
    )
    assert result.exit_code == 0, result.output
    assert ParameterOverride.objects.get(parameter="monitoring.school_age").value == {
        "min": 6,
        "max": 16,
    }
    result = runner.invoke(app, ["policy", "params", "--date", "2024-99-01"])
    assert isinstance(result.exception, ValidationFailed) and "YYYY-MM-DD" in result.exception.en


def test_cli_rules_check_sql_and_docs():
    runner = CliRunner()
    result = runner.invoke(app, ["policy", "rules", "--json"])
    assert result.exit_code == 0
    rules = {r["id"]: r for r in json.loads(result.output)}
    assert rules["M-INCOME"]["parameters"] == ["monitoring.income_line"]
    assert rules["Q-AMOUNT"]["status"] == "planned" and rules["D-GRACE"]["status"] == "workflow"
    result = runner.invoke(app, ["policy", "check", "--date", "2024-06-30"])
    assert result.exit_code == 0 and "all valid" in result.output
    result = runner.invoke(app, ["policy", "sql", "--dialect", "spark", "--date", "2024-06-30"])
    assert result.exit_code == 0 and " DIV " in result.output
    result = runner.invoke(app, ["policy", "docs", "--lang", "en"])
    assert result.exit_code == 0 and "| M-INCOME | monitoring |" in result.output
