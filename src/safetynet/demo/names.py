"""Chinese names: surnames by regional frequency, given names by sex and birth cohort.

Data: `data/surnames.csv` (national shares with regional factors for southern Jiangxi, Ji'an
and eastern Hunan) and `data/names.yaml` (character pools per cohort); see their headers for
sources. Names are handled as numpy unicode arrays (surname up to two characters, given name up
to two), so a population of millions is named with array operations.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .base import load_csv, load_yaml, pick

FLAVOURS = ("gan", "ji", "xiang")


@cache
def surname_table() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rows = load_csv("surnames.csv")
    names = np.array([r["surname"] for r in rows], dtype="U2")
    national = np.array([float(r["national_pct"]) for r in rows])
    weights = {f: national * np.array([float(r[f]) for r in rows]) for f in FLAVOURS}
    return names, weights


class GivenNames:
    """Draws given names for (sex, birth year) from the cohort pools of `names.yaml`."""

    def __init__(self) -> None:
        data = load_yaml("names.yaml")
        self.bounds = np.array(data["cohorts"])
        self.wide_single = float(data["wide_single"])
        self.wide_double = float(data["wide_double"])
        self.wide = {
            male: np.array(
                sorted(
                    {
                        c
                        for spec in data[key]
                        for pool in ("first", "second", "single")
                        for c in spec[pool]
                    }
                ),
                dtype="U1",
            )
            for key, male in (("M", True), ("F", False))
        }
        power = float(data["weight_power"])
        self.pools: dict[tuple[bool, int], dict] = {}
        for sex_key, male in (("M", True), ("F", False)):
            for cohort, spec in enumerate(data[sex_key]):
                self.pools[(male, cohort)] = {
                    key: (
                        np.array(list(spec[key]), dtype="U2"),
                        np.array(list(spec[key].values()), dtype=float) ** power,
                    )
                    for key in ("popular", "single", "first", "second")
                } | {"single_share": spec["single_share"], "popular_share": spec["popular_share"]}

    def draw(
        self, rng: np.random.Generator, male: np.ndarray, birth_year: np.ndarray
    ) -> np.ndarray:
        n = len(male)
        out = np.empty(n, dtype="U2")
        cohort = np.searchsorted(self.bounds, birth_year, side="right")
        for (is_male, c), pool in self.pools.items():
            idx = np.flatnonzero((male == is_male) & (cohort == c))
            if len(idx) == 0:
                continue
            u = rng.random(len(idx))
            popular = u < pool["popular_share"]
            single = ~popular & (u < pool["popular_share"] + pool["single_share"])
            double = ~popular & ~single
            chars, w = pool["popular"]
            out[idx[popular]] = chars[pick(rng, w, int(popular.sum()))]
            # one-character names: the `single` pool or, as often, any second-position character
            wide = single & (rng.random(len(idx)) < self.wide_single)
            for mask, key in ((single & ~wide, "single"), (wide, "second")):
                chars, w = pool[key]
                out[idx[mask]] = chars[pick(rng, w, int(mask.sum()))]
            k = int(double.sum())
            first_chars, fw = pool["first"]
            second_chars, sw = pool["second"]
            a = first_chars[pick(rng, fw, k)]
            b = second_chars[pick(rng, sw, k)]
            # some characters come from any cohort's pool of the same sex
            wide_chars = self.wide[is_male]
            wa = rng.random(k) < self.wide_double
            a[wa] = wide_chars[rng.integers(0, len(wide_chars), int(wa.sum()))]
            wb = rng.random(k) < self.wide_double
            b[wb] = wide_chars[rng.integers(0, len(wide_chars), int(wb.sum()))]
            # avoid doubled characters that were not chosen as such (婷婷 comes from `popular`)
            same = a == b
            b[same] = second_chars[rng.integers(0, len(second_chars), int(same.sum()))]
            out[idx[double]] = np.strings.add(a, b)
        return out


def draw_surnames(rng: np.random.Generator, flavour: np.ndarray) -> np.ndarray:
    """Surname indices (into `surname_table()[0]`) for an array of flavour codes (0, 1, 2)."""
    _, weights = surname_table()
    out = np.empty(len(flavour), dtype=np.int64)
    for fi, f in enumerate(FLAVOURS):
        idx = np.flatnonzero(flavour == fi)
        out[idx] = pick(rng, weights[f], len(idx))
    return out


def codepoints(names: np.ndarray) -> np.ndarray:
    """(n, 4) uint32 code points of a U4 name array (0 = no character)."""
    return np.ascontiguousarray(names.astype("U4")).view(np.uint32).reshape(-1, 4)
