"""Compare an assess result with a scenario's `expected` block (formats/assess.md).

Only keys present in `expected` are compared, at any depth, except under `tekun` and
`single_person`, where the set of people must match exactly. Lists compare as sets. Amounts
compare exactly; measures within 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

EXACT_PEOPLE = ("tekun", "single_person")
TOLERANCE = Decimal("0.01")


@dataclass(frozen=True)
class Difference:
    key: str
    expected: Any
    got: Any

    def line(self, name: str) -> str:
        return f"{name}: {self.key}: expected {self.expected!r}, got {self.got!r}"


def _number(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float | Decimal):
        return Decimal(str(v))
    return None


def _equal(expected: Any, got: Any, *, measure: bool) -> bool:
    e, g = _number(expected), _number(got)
    if e is not None and g is not None:
        return abs(e - g) <= TOLERANCE if measure else e == g
    if isinstance(expected, list) and isinstance(got, list):
        try:
            return set(map(_hashable, expected)) == set(map(_hashable, got))
        except TypeError:
            return expected == got
    return expected == got


def _hashable(v: Any) -> Any:
    return str(v) if isinstance(v, dict | list) else v


def compare(expected: dict[str, Any], got: dict[str, Any]) -> list[Difference]:
    diffs: list[Difference] = []

    def walk(exp: Any, act: Any, path: str, *, measure: bool, people: bool) -> None:
        if isinstance(exp, dict):
            if not isinstance(act, dict):
                diffs.append(Difference(path, exp, act))
                return
            if people:
                missing = sorted(set(exp) - set(act))
                extra = sorted(set(act) - set(exp))
                if missing or extra:
                    diffs.append(Difference(path + " (people)", sorted(exp), sorted(act)))
            for key, value in exp.items():
                sub = f"{path}.{key}" if path else str(key)
                if key not in act:
                    if not people:
                        diffs.append(Difference(sub, value, "(missing)"))
                    continue
                walk(
                    value,
                    act[key],
                    sub,
                    measure=measure or key == "measures",
                    people=(not path and key in EXACT_PEOPLE),
                )
            return
        if not _equal(exp, act, measure=measure):
            diffs.append(Difference(path, exp, act))

    walk(expected, got, "", measure=False, people=False)
    return diffs
