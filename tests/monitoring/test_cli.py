"""The `safetynet cases` and `safetynet rectification` commands."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from safetynet.cli import app

from . import flow

pytestmark = pytest.mark.django_db


def test_cases_summary_lists_overdue_cases(users, world):
    flow.opened(users, world.households["A2"], clue_date=dt.date(2024, 1, 2))
    result = CliRunner().invoke(app, ["cases", "summary", "--as-of", "2024-01-20"])
    assert result.exit_code == 0, result.output
    assert "H360827101001002" in result.output and "2024-01-17" in result.output
    result = CliRunner().invoke(
        app, ["cases", "summary", "--area", "360881", "--as-of", "2024-01-20"]
    )
    assert "H360827101001002" not in result.output


def test_cases_attach_uses_the_run(users, world, warning, screen_run):
    case = flow.opened(users, world.households["A2"])
    run = screen_run()
    warning(world.households["A2"], run=run)
    result = CliRunner().invoke(app, ["cases", "attach", "--run", str(run.pk)])
    assert result.exit_code == 0 and "1" in result.output
    assert case.case_findings.count() == 1


def test_unknown_run_is_a_bilingual_error(db):
    from safetynet.core.errors import NotFound

    result = CliRunner().invoke(app, ["cases", "attach", "--run", "999"])
    assert isinstance(result.exception, NotFound)
    assert "不存在" in result.exception.zh and "no screening run" in result.exception.en
    result = CliRunner().invoke(app, ["rectification", "verify", "--run", "999"])
    assert isinstance(result.exception, NotFound)
