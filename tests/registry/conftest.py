from __future__ import annotations

import csv
from pathlib import Path

import pytest

from .synth import write_region


@pytest.fixture
def region(tmp_path, reference_areas) -> Path:
    """A small synthetic region on disk (areas, households, persons, incomes), areas imported."""
    from safetynet.areas.importer import import_areas

    folder = tmp_path / "in"
    write_region(folder, households=12, seed=7)
    import_areas(folder / "areas.csv", actor=None)
    return folder


def files(folder: Path) -> list[Path]:
    return [folder / "households.csv", folder / "persons.csv", folder / "incomes.csv"]


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, headers: list[str], rows: list[list[str]], bom: bool = False) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def set_cell(path: Path, row: int, column: str, value: str) -> None:
    """Change one cell (row counts data rows from 0) in place."""
    headers, rows = read_rows(path)
    rows[row][headers.index(column)] = value
    write_rows(path, headers, rows)
