"""Fixtures of the rule-engine tests: scenario sets and one session-scoped SparkSession."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="session")
def catalogue():
    from safetynet.policy.catalogue import default_catalogue

    return default_catalogue()


def load_dir(path: Path, catalogue):
    from safetynet.engine.scenario import load_scenarios

    items = load_scenarios(path, catalogue.inputs)
    errors = [i.error for i in items if i.error is not None]
    assert not errors, errors
    return [i.scenario for i in items]


@pytest.fixture(scope="session")
def policy_cases(catalogue):
    from tests.conftest import SHARED

    path = Path(os.environ.get("SAFETYNET_SHARED_DIR", SHARED)) / "policy-cases"
    return load_dir(path, catalogue)


@pytest.fixture(scope="session")
def boundary_scenarios(catalogue):
    return load_dir(SCENARIO_DIR, catalogue)


@pytest.fixture(scope="session")
def spark_engine():
    """One local Spark session for every Spark test (local[1], loopback only)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    from safetynet.engine.adapters import RuleEngine, SparkBackend

    session = (
        SparkSession.builder.master("local[1]")
        .appName("safetynet-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return RuleEngine(SparkBackend(session=session))
