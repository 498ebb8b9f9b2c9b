"""The screen's one contact with the rule engine (`safetynet.engine`, `safetynet.policy`).

The screen never evaluates a rule itself: it compiles the catalogue through the engine's public
API, hands it the snapshot tables and the linked department feeds, and brings the engine's output
relations into the neutral result schemas of `results.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from safetynet.core.errors import SafetyNetError

from .results import ScreenResults
from .snapshot import Snapshot

Evaluate = Callable[[Snapshot, Path], ScreenResults]


class EngineUnavailable(SafetyNetError):
    code = "engine_unavailable"


@dataclass
class Prepared:
    """A compiled catalogue, ready to evaluate the snapshot of one run."""

    engine: str
    as_of: date
    catalogue_hash: str
    parameters: dict
    run: Evaluate = field(repr=False)

    def evaluate(self, snap: Snapshot, *, work_dir: Path) -> ScreenResults:
        work_dir.mkdir(parents=True, exist_ok=True)
        return self.run(snap, work_dir)


# Tests and benchmarks may substitute how a catalogue is prepared (e.g. to inject a failure);
# production code always goes through `_prepare_engine`.
_override: Callable[..., Prepared] | None = None


def prepare(*, engine: str, as_of: date, area_codes: list[str]) -> Prepared:
    if _override is not None:
        return _override(engine=engine, as_of=as_of, area_codes=area_codes)
    return _prepare_engine(engine=engine, as_of=as_of, area_codes=area_codes)


def duckdb_settings() -> dict[str, str]:
    """Memory and threads of the screen's DuckDB connection (other work shares the machine)."""
    return {
        "memory_limit": os.environ.get("SAFETYNET_SCREEN_MEMORY", "4GB"),
        "threads": os.environ.get("SAFETYNET_SCREEN_THREADS", "2"),
    }


def _prepare_engine(*, engine: str, as_of: date, area_codes: list[str]) -> Prepared:
    try:
        from safetynet.engine import screen as engine_screen  # noqa: F401
    except ImportError:
        raise EngineUnavailable(
            "规则引擎尚未安装（safetynet.engine）",
            "the rule engine (safetynet.engine) is not installed",
        ) from None
    raise EngineUnavailable("规则引擎接口不匹配", "the rule engine's interface does not match")
