"""`safetynet demo generate` and `safetynet demo setup` (real importers, real database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from safetynet.cli import app


def test_generate_command_writes_the_files(tmp_path):
    out = tmp_path / "region"
    result = CliRunner().invoke(
        app, ["demo", "generate", "--households", "40", "--seed", "9", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Generated 40 households" in result.output and "已生成 40 户" in result.output
    assert (out / "persons.csv").is_file() and (out / "feeds" / "ground_truth.csv").is_file()


def test_generate_command_without_feeds_into_the_data_dir(tmp_path):
    env = {"SAFETYNET_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(
        app, ["demo", "generate", "--households", "30", "--seed", "1", "--no-feeds"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "households.csv").is_file()
    assert not (tmp_path / "demo" / "feeds").exists()


def test_generate_command_refuses_bad_input_in_both_languages(tmp_path):
    env = dict(os.environ, SAFETYNET_DATA_DIR=str(tmp_path))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "safetynet.cli",
            "demo",
            "generate",
            "--households",
            "0",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "户数" in proc.stderr and "households must be" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "demo").exists()


@pytest.mark.django_db
def test_setup_generates_imports_and_is_idempotent(settings):
    from safetynet.areas.models import Area
    from safetynet.core.errors import Conflict
    from safetynet.demo.services import demo_setup
    from safetynet.registry.models import Household, Income, Person

    steps = []
    first = demo_setup(households=25, seed=4, progress=lambda s, d, t: steps.append(s))
    assert first.generated and first.imported
    assert first.steps == [
        "generate",
        "import areas",
        "import registry",
        "load feeds",
        "personas",
        "screen",
    ]
    assert Household.objects.count() == 25
    persons = first.counts["files"]["persons"]
    assert Person.objects.count() == persons
    assert Income.objects.count() == first.counts["files"]["incomes"]
    village = Household.objects.first().village
    assert village.level == Area.Level.VILLAGE and village.parent.parent.code == village.code[:6]
    assert Area.objects.get(code="360703").former_codes == "360782"
    assert "import:households" in steps and "population" in steps
    marker = json.loads((settings.DATA_DIR / "demo" / "setup.json").read_text())
    assert marker["region"]["households"] == 25

    again = demo_setup(households=25, seed=4)
    assert not again.generated and not again.imported
    assert again.steps == [
        "generate (already there)",
        "import (already done)",
        "load feeds (already done)",
        "personas",
        "screen (already done)",
    ]
    assert Household.objects.count() == 25

    # another region would mix with this one: refused, nothing changed
    with pytest.raises(Conflict) as err:
        demo_setup(households=10, seed=5)
    assert "另一套演示数据" in err.value.zh and "another demo region" in err.value.en
    assert Household.objects.count() == 25
    assert json.loads((settings.DATA_DIR / "demo" / "manifest.json").read_text())["seed"] == 4


@pytest.mark.django_db
def test_setup_reimports_files_into_a_fresh_database_and_the_command_reports_steps(settings):
    from safetynet.demo.services import SETUP_MARKER, demo_setup
    from safetynet.registry.models import Household

    demo_setup(households=15, seed=2)
    (settings.DATA_DIR / "demo" / SETUP_MARKER).unlink()  # as if the database were new
    again = demo_setup(households=15, seed=2)
    assert not again.generated and again.imported
    assert again.counts["registry"]["households"]["unchanged"] == 15
    assert Household.objects.count() == 15

    result = CliRunner().invoke(app, ["demo", "setup", "--households", "15", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "数据库中已有此演示数据" in result.output and "import (already done)" in result.output
