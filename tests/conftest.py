"""Shared fixtures. Tests run against the database named by DATABASE_URL (SQLite by default)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, settings):
    """Each test gets its own data directory (lake, exports)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.LAKE_DIR = settings.DATA_DIR / "lake"
    settings.EXPORT_DIR = settings.DATA_DIR / "exports"
    for d in (settings.DATA_DIR, settings.LAKE_DIR, settings.EXPORT_DIR):
        d.mkdir(parents=True, exist_ok=True)
    yield


@pytest.fixture(autouse=True)
def _empty_cache():
    """Django's cache (area summaries of the web layer) starts empty in every test: databases
    roll back between tests, cached figures must not outlive them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_dir() -> Path:
    """The project's shared specification folder (policy cases, formats, reference data)."""
    path = Path(os.environ.get("SAFETYNET_SHARED_DIR", SHARED))
    assert path.is_dir(), f"shared specification folder not found at {path}"
    return path


@pytest.fixture
def reference_areas(db):
    from safetynet.areas.services import load_reference_counties

    load_reference_counties(actor=None)
