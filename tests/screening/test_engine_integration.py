"""The screen with the real rule engine: findings equal `assess`, CSV files, DuckDB = Spark."""

from __future__ import annotations

import datetime as dt

import pytest

from safetynet.screening import services
from safetynet.screening.models import Finding, ScreenRun

AS_OF = dt.date(2024, 6, 30)
pytestmark = pytest.mark.django_db


def test_screen_small_registry_with_the_engine(small_registry, tmp_path):
    run = services.screen_run(actor=None, as_of=AS_OF, out_dir=tmp_path / "out")
    assert run.status == ScreenRun.Status.SUCCEEDED
    print(run.counts)
    for name in ("warnings.csv", "eligibility.csv", "quality.csv"):
        print((tmp_path / "out" / name).read_text()[:800])
    print(list(Finding.objects.filter(kind="warning").values("key", "rules", "explanations")[:2]))
