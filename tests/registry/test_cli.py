import json

import pytest
from typer.testing import CliRunner

from safetynet.cli import app
from safetynet.registry.models import Household

from .conftest import files, set_cell

runner = CliRunner()


def test_id_validate_prints_one_json_object_per_number():
    result = runner.invoke(
        app, ["id", "validate", "110105491231002", "11010519491231002x", "360782199902300013"]
    )
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    keys = ["input", "valid", "normalized", "birth_date", "sex", "area_code", "area_name", "errors"]
    assert all(list(obj) == keys for obj in lines)
    assert lines[0]["normalized"] == "11010519491231002X" and lines[0]["valid"]
    assert lines[1]["valid"] and lines[1]["sex"] == "F"
    assert lines[2]["area_name"] == "南康市" and "date" in lines[2]["errors"]


def test_id_validate_reads_stdin():
    result = runner.invoke(
        app, ["id", "validate", "-"], input="360721195001010018\n\n110105491231002\n"
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    assert lines[0]["area_name"] == "赣县"


@pytest.mark.django_db
def test_import_and_export_commands(region, tmp_path):
    set_cell(region / "persons.csv", 0, "labour", "?")
    result = runner.invoke(app, ["import", "registry", *map(str, files(region))])
    assert result.exit_code != 0
    assert "persons.errors.csv" in result.stdout
    assert Household.objects.count() == 0
    result = runner.invoke(
        app, ["import", "registry", "--valid-only", "--json", *map(str, files(region))]
    )
    assert result.exit_code == 0, result.stdout
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["imported"] and payload["errors"] >= 1
    result = runner.invoke(app, ["export", "registry", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert (tmp_path / "out" / "persons.csv").exists()


@pytest.mark.django_db
def test_areas_import_command(tmp_path, reference_areas):
    path = tmp_path / "areas.csv"
    path.write_text("code,name,parent_code\n360703101,唐江镇,360703\n", "utf-8")
    result = runner.invoke(app, ["areas", "import", str(path)])
    assert result.exit_code == 0
    assert "created 1" in result.stdout
