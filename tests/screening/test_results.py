"""The result tables an incremental run carries over from its base run's files."""

from __future__ import annotations

import pyarrow as pa

from safetynet.screening.results import ScreenResults


def _base(tmp_path):
    results = ScreenResults.from_tables(
        households=pa.table(
            {"household_id": ["H1", "H2", "H3", "H4"], "village_code": ["V1", "V1", "V2", "V2"]}
        ),
        tekun=pa.table(
            {"id_number": ["P1", "P2", "P3", "P4"], "household_id": ["H1", "H2", "H3", "H4"]}
        ),
        quality=pa.table(
            {
                "check": ["Q-ID", "Q-ID", "P-ROLL", "Q-X"],
                "household_id": ["H1", "H3", "H1", None],
                "source": ["engine", "engine", "programmes", "engine"],
            }
        ),
    )
    results.write(tmp_path)
    return results


def test_carried_rows_leave_out_changed_and_gone_households(tmp_path):
    _base(tmp_path)
    carried = ScreenResults.read_carried(
        tmp_path,
        changed=pa.array(["H2", None], pa.string()),  # a NULL id drops nothing else
        current=pa.array(["H1", "H2", "H3"], pa.string()),  # H4 is gone
    )
    assert sorted(carried.households.column("household_id").to_pylist()) == ["H1", "H3"]
    assert sorted(carried.tekun.column("id_number").to_pylist()) == ["P1", "P3"]
    # programme checks are made again by every run; a finding without household stays
    quality = sorted(
        zip(
            carried.quality.column("check").to_pylist(),
            carried.quality.column("household_id").to_pylist(),
            strict=True,
        ),
        key=str,
    )
    assert quality == [("Q-ID", "H1"), ("Q-ID", "H3"), ("Q-X", None)]
    assert carried.households.schema == ScreenResults.from_tables().households.schema


def test_nothing_changed_carries_everything(tmp_path):
    base = _base(tmp_path)
    carried = ScreenResults.read_carried(
        tmp_path, changed=pa.array([], pa.string()), current=pa.array(["H1", "H2", "H3", "H4"])
    )
    assert carried.households.sort_by("household_id").equals(
        base.households.sort_by("household_id")
    )
    assert carried.quality.num_rows == 3
