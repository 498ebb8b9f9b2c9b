"""The synthetic division tree: real provinces, prefectures and the 23 real counties, with
synthetic townships (county code + 3 digits) and villages (township code + 3 digits).

A county at full size has 10-25 townships of 8-20 villages each. Smaller demo regions keep the
same proportions but fewer townships and villages, so that households per village stay in a
realistic range (one to several hundred) instead of spreading a few households over thousands
of villages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .base import load_csv, load_yaml, pick, reference_counties, stream

# Households per village when the tree is at full size (about 5,500 villages).
FULL_SIZE_HOUSEHOLDS_PER_VILLAGE = 180
MIN_VILLAGES_PER_TOWNSHIP = 2


@dataclass
class County:
    code: str
    name: str
    prefecture_code: str
    prefecture: str
    province_code: str
    province: str
    flavour: str
    population: float
    former_code: str
    former_code_until: int | None


@dataclass
class AreaTree:
    counties: list[County]
    frame: pl.DataFrame  # areas.csv: code, name, parent_code, former_codes
    township_names: np.ndarray  # str, per township
    township_county: np.ndarray  # county index per township
    village_codes: np.ndarray  # str, per village (sorted)
    village_names: np.ndarray  # str
    village_township: np.ndarray  # township index per village
    village_county: np.ndarray  # county index per village

    @property
    def n_villages(self) -> int:
        return len(self.village_codes)


def load_counties() -> list[County]:
    profile = {row["code"]: row for row in load_csv("counties.csv")}
    counties = []
    for row in reference_counties():
        p = profile[row["code"]]
        counties.append(
            County(
                code=row["code"],
                name=row["name"],
                prefecture_code=row["prefecture_code"][:4],
                prefecture=row["prefecture"],
                province_code=row["province_code"][:2],
                province=row["province"],
                flavour=p["flavour"],
                population=float(p["population_10k"]),
                former_code=p["former_code"],
                former_code_until=int(p["former_code_until"]) if p["former_code_until"] else None,
            )
        )
    return counties


class _PlaceNames:
    def __init__(self, rng: np.random.Generator):
        data = load_yaml("places.yaml")
        self.rng = rng
        self.mod = np.array(list(data["modifier"]))
        self.mod_w = np.array(list(data["modifier"].values()), dtype=float)
        self.land = np.array(list(data["landform"]))
        self.land_w = np.array(list(data["landform"].values()), dtype=float)
        self.town_share = float(data["town_share"])

    def stems(self, count: int, taken: set[str]) -> list[str]:
        """`count` distinct two-character stems not in `taken` (which is updated)."""
        out: list[str] = []
        while len(out) < count:
            k = (count - len(out)) * 2 + 4
            a = self.mod[pick(self.rng, self.mod_w, k)]
            b = self.land[pick(self.rng, self.land_w, k)]
            for x, y in zip(a, b, strict=True):
                stem = x + y
                if x != y and stem not in taken:
                    taken.add(stem)
                    out.append(stem)
                    if len(out) == count:
                        break
        return out


def build_tree(*, seed: int, households: int) -> AreaTree:
    rng = stream(seed, "areas")
    names = _PlaceNames(stream(seed, "areas.names"))
    counties = load_counties()
    pops = np.array([c.population for c in counties])

    # full-size tree: townships by population, villages per township 8-20
    full_towns = np.clip(np.round(8 + pops / 6 + rng.normal(0, 2, len(counties))), 10, 25).astype(
        int
    )
    full_villages = [rng.integers(8, 21, t) for t in full_towns]
    total_full = sum(int(v.sum()) for v in full_villages)
    scale = min(1.0, households / (total_full * FULL_SIZE_HOUSEHOLDS_PER_VILLAGE))
    keep = np.sqrt(scale)

    rows: list[tuple[str, str, str, str]] = []
    seen_parents: set[str] = set()
    town_names: list[str] = []
    town_county: list[int] = []
    v_codes: list[str] = []
    v_names: list[str] = []
    v_town: list[int] = []
    v_county: list[int] = []
    for ci, county in enumerate(counties):
        if county.province_code not in seen_parents:
            seen_parents.add(county.province_code)
            rows.append((county.province_code, county.province, "", ""))
        if county.prefecture_code not in seen_parents:
            seen_parents.add(county.prefecture_code)
            rows.append((county.prefecture_code, county.prefecture, county.province_code, ""))
        rows.append((county.code, county.name, county.prefecture_code, county.former_code))

        n_towns = max(1, round(full_towns[ci] * keep))
        per_town = np.maximum(
            MIN_VILLAGES_PER_TOWNSHIP, np.round(full_villages[ci][:n_towns] * keep)
        ).astype(int)
        is_town = rng.random(n_towns) < names.town_share
        is_town[0] = True  # the county seat's neighbour is always a town
        taken: set[str] = set()
        stems = names.stems(n_towns, taken)
        next_code = {True: 101, False: 201}
        order = np.argsort(~is_town, kind="stable")  # towns first, then rural townships
        for ti in order:
            t_code = f"{county.code}{next_code[bool(is_town[ti])]:03d}"
            next_code[bool(is_town[ti])] += 1
            t_name = stems[ti] + ("镇" if is_town[ti] else "乡")
            rows.append((t_code, t_name, county.code, ""))
            t_index = len(town_names)
            town_names.append(t_name)
            town_county.append(ci)
            v_taken = set(taken)
            for vi, stem in enumerate(names.stems(int(per_town[ti]), v_taken), start=1):
                code = f"{t_code}{vi:03d}"
                rows.append((code, stem + "村", t_code, ""))
                v_codes.append(code)
                v_names.append(stem + "村")
                v_town.append(t_index)
                v_county.append(ci)

    frame = pl.DataFrame(
        rows, schema=["code", "name", "parent_code", "former_codes"], orient="row"
    ).sort("code")
    order = np.argsort(np.array(v_codes))
    return AreaTree(
        counties=counties,
        frame=frame,
        township_names=np.array(town_names),
        township_county=np.array(town_county),
        village_codes=np.array(v_codes)[order],
        village_names=np.array(v_names)[order],
        village_township=np.array(v_town)[order],
        village_county=np.array(v_county)[order],
    )


def spread_households(*, seed: int, tree: AreaTree, households: int) -> np.ndarray:
    """Village index of every household (sorted), by county population and village size."""
    rng = stream(seed, "areas.households")
    pops = np.array([c.population for c in tree.counties])
    per_county = np.bincount(tree.village_county, minlength=len(pops))
    size = rng.lognormal(0.0, 0.45, tree.n_villages)
    weight = size * (pops / per_county)[tree.village_county]
    counts = rng.multinomial(households, weight / weight.sum())
    return np.repeat(np.arange(tree.n_villages), counts)
