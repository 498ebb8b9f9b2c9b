"""Households and their members: family structure, ages, names, ID numbers and attributes.

Everything is drawn for whole arrays at once. A household gets a family type (single elderly,
elderly couple, nuclear family, three generations ...), the type fixes how many spouses,
parents, children, children-in-law and grandchildren it has and the head's age; members' ages
follow from the head's through generation gaps, so children are always younger than their
parents. Health, schooling, labour capacity and work follow from age, sex and a household
economic factor that also drives incomes and the exited-poor flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from . import idnumbers
from .areas import AreaTree
from .base import DAYS_PER_YEAR, age_at, date_parts, day, group_rank, pick, stream
from .names import FLAVOURS, GivenNames, draw_surnames, surname_table

RELATIONS = np.array(["head", "spouse", "parent", "child", "child_in_law", "grandchild", "sibling"])
HEAD, SPOUSE, PARENT, CHILD, CHILD_IN_LAW, GRANDCHILD, SIBLING = range(7)
MAX_MEMBERS = 7

STATUSES = np.array(["active", "deceased", "imprisoned", "missing", "moved_out"])
EDUCATION = np.array(["", "none", "primary", "junior", "senior", "vocational", "college"])
HEALTH = np.array(["healthy", "chronic", "serious", "disabled"])
DISABILITY_TYPES = np.array(
    ["", "visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple"]
)
LABOUR = np.array(["normal", "weak", "lost", "none"])
EMPLOYMENT = np.array(["none", "local", "migrant"])
HOUSING = np.array(["A", "B", "C", "D"])

# Household types: share, head age range (lo, hi, beta a, beta b), share of male heads.
TYPES = {
    "single_elderly": (0.095, (60, 94, 1.4, 2.2), 0.42),
    "elderly_couple": (0.125, (60, 90, 1.4, 2.6), 0.93),
    "single_adult": (0.05, (24, 59, 1.6, 1.4), 0.80),
    "empty_nest": (0.075, (42, 64, 1.5, 1.5), 0.92),
    "nuclear": (0.30, (26, 56, 1.6, 1.8), 0.90),
    "one_parent": (0.045, (27, 58, 1.6, 1.6), 0.45),
    "with_parents": (0.095, (28, 54, 1.6, 1.6), 0.90),
    "three_generation": (0.155, (47, 74, 1.5, 1.8), 0.88),
    "skipped_generation": (0.035, (54, 80, 1.5, 1.8), 0.80),
    "siblings": (0.025, (30, 66, 1.5, 1.5), 0.85),
}
TYPE_NAMES = list(TYPES)


@dataclass
class Population:
    # households
    household_id: pl.Series  # village code + 5-digit number
    hh_village: np.ndarray
    hh_type: np.ndarray
    econ: np.ndarray  # standard-normal-ish economic factor (higher = better off)
    registered_poor: np.ndarray
    exit_year: np.ndarray  # 0 = none
    relocated: np.ndarray
    housing: np.ndarray  # index into HOUSING
    water_secure: np.ndarray
    hh_phone: np.ndarray
    bank_account: np.ndarray
    address_group: np.ndarray
    address_number: np.ndarray
    # persons (grouped by household, head first)
    hh: np.ndarray
    relation: np.ndarray
    male: np.ndarray
    birth: np.ndarray
    age: np.ndarray
    name: np.ndarray  # U4
    id18: np.ndarray  # (n, 18) ASCII
    status: np.ndarray
    education: np.ndarray
    in_school: np.ndarray
    health: np.ndarray
    disability_type: np.ndarray
    disability_grade: np.ndarray  # 0 = none
    labour: np.ndarray
    employment: np.ndarray
    work_months: np.ndarray
    medical_insured: np.ndarray
    pension_insured: np.ndarray  # -1 unknown, 0 N, 1 Y
    adl_failed: np.ndarray
    phone: np.ndarray
    # people who appear in department data but not in the registry
    out_name: np.ndarray
    out_male: np.ndarray
    out_birth: np.ndarray
    out_village: np.ndarray
    out_id18: np.ndarray

    @property
    def n_households(self) -> int:
        return len(self.household_id)

    @property
    def n_persons(self) -> int:
        return len(self.hh)

    @property
    def active(self) -> np.ndarray:
        return self.status == 0


def _beta_range(rng, lo, hi, a, b, n):
    return lo + (hi - lo) * rng.beta(a, b, n)


def _floor(rng, x, lo, spread=4.0):
    """max(x, lo), but values below `lo` spread over [lo, lo + spread) instead of piling up on
    one birth date (which would also exhaust the ID sequence codes of that date)."""
    return np.where(x < lo, lo + rng.uniform(0, spread, len(x)), x)


def _cap(rng, x, hi, spread=4.0):
    return np.where(x > hi, hi - rng.uniform(0, spread, len(x)), x)


def _counts(rng, probs, n):
    return pick(rng, np.array(probs), n)


def _group_cumsum(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Inclusive cumulative sum of `values` within runs of equal `keys`."""
    total = np.cumsum(values)
    rank = group_rank(keys)
    starts = np.flatnonzero(rank == 0)
    before = np.r_[0.0, total][starts]  # cumsum before each group's first row
    lengths = np.diff(np.r_[starts, len(keys)])
    return total - np.repeat(before, lengths)


def _structure(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    shares = np.array([t[0] for t in TYPES.values()])
    htype = pick(rng, shares, n)
    head_age = np.empty(n)
    head_male = np.empty(n, dtype=bool)
    for ti, (_, (lo, hi, a, b), male_share) in enumerate(TYPES.values()):
        idx = np.flatnonzero(htype == ti)
        head_age[idx] = _beta_range(rng, lo, hi, a, b, len(idx))
        head_male[idx] = rng.random(len(idx)) < male_share

    t = {name: htype == i for i, name in enumerate(TYPE_NAMES)}
    u = rng.random(n)
    has_spouse = (
        t["elderly_couple"]
        | t["empty_nest"]
        | t["nuclear"]
        | (t["with_parents"] & (u < 0.95))
        | (t["three_generation"] & (u < 0.86))
        | (t["skipped_generation"] & (u < 0.7))
        | (t["siblings"] & (u < 0.3))
    )
    n_children = np.zeros(n, dtype=np.int64)
    n_children[t["nuclear"]] = 1 + _counts(rng, [0.42, 0.43, 0.15], int(t["nuclear"].sum()))
    n_children[t["one_parent"]] = 1 + _counts(rng, [0.62, 0.38], int(t["one_parent"].sum()))
    n_children[t["with_parents"]] = 1 + _counts(
        rng, [0.45, 0.42, 0.13], int(t["with_parents"].sum())
    )
    n_children[t["three_generation"]] = 1 + _counts(
        rng, [0.72, 0.28], int(t["three_generation"].sum())
    )
    n_parents = np.zeros(n, dtype=np.int64)
    n_parents[t["with_parents"]] = 1 + (rng.random(int(t["with_parents"].sum())) < 0.38)
    sa = t["single_adult"]
    n_parents[sa] = _counts(rng, [0.6, 0.3, 0.1], int(sa.sum()))
    sib = t["siblings"]
    n_parents[sib] = rng.random(int(sib.sum())) < 0.3
    n_grand = np.zeros(n, dtype=np.int64)
    n_grand[t["three_generation"]] = 1 + _counts(
        rng, [0.52, 0.38, 0.10], int(t["three_generation"].sum())
    )
    n_grand[t["skipped_generation"]] = 1 + (rng.random(int(t["skipped_generation"].sum())) < 0.45)
    n_sib = sib.astype(np.int64) + (sib & (rng.random(n) < 0.15))
    return {
        "type": htype,
        "head_age": head_age,
        "head_male": head_male,
        "has_spouse": has_spouse,
        "n_children": n_children,
        "n_parents": n_parents,
        "n_grand": n_grand,
        "n_sib": n_sib,
        "three_gen": t["three_generation"],
        "skipped": t["skipped_generation"],
    }


def _members(rng: np.random.Generator, s: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Expand household structures into member rows (household, relation, rank, age, sex)."""
    n = len(s["type"])
    head_age, head_male = s["head_age"], s["head_male"]
    blocks: list[tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(hh, rel, rank, age, male):
        blocks.append((hh, rel, rank, age, male))

    all_h = np.arange(n)
    add(all_h, HEAD, np.zeros(n, dtype=np.int64), head_age, head_male)

    # spouse: wives a little younger than husbands
    sp = np.flatnonzero(s["has_spouse"])
    d = np.clip(rng.normal(2.5, 2.5, len(sp)), -3, 10)
    spouse_age_h = np.full(n, np.nan)
    spouse_age_h[sp] = _floor(rng, head_age[sp] + np.where(head_male[sp], -d, d), 19)
    add(sp, SPOUSE, np.zeros(len(sp), dtype=np.int64), spouse_age_h[sp], ~head_male[sp])

    # the head's parents
    ph = np.repeat(all_h, s["n_parents"])
    prank = group_rank(ph)
    gap = rng.uniform(22, 33, n)
    mother_younger = np.clip(rng.normal(2.5, 2.0, n), -3, 8)
    two = s["n_parents"][ph] == 2
    p_male = np.where(two, prank == 0, rng.random(len(ph)) < 0.3)
    p_age = head_age[ph] + gap[ph]
    p_age = np.where(p_male, p_age, np.maximum(p_age - mother_younger[ph], head_age[ph] + 19))
    add(ph, PARENT, prank, _cap(rng, p_age, 99.0), p_male)

    # children of the head (and spouse)
    mother_age = np.where(
        ~head_male, head_age, np.where(s["has_spouse"], spouse_age_h, head_age - 2)
    )
    ch = np.repeat(all_h, s["n_children"])
    crank = group_rank(ch)
    first_gap = rng.uniform(21, 31, n)
    spacing = np.where(crank == 0, 0.0, rng.uniform(1.3, 5.0, len(ch)))
    c_age = mother_age[ch] - first_gap[ch] - _group_cumsum(spacing, ch)
    married = s["three_gen"][ch] & (crank == 0)
    c_male = np.where(married, rng.random(len(ch)) < 0.85, rng.random(len(ch)) < 0.535)
    add(ch, CHILD, crank, c_age, c_male)

    # the married child's spouse and their children (three generations)
    married &= c_age >= 20
    mh = ch[married]
    mc_age, mc_male = c_age[married], c_male[married]
    d = np.clip(rng.normal(2.0, 2.0, len(mh)), -3, 8)
    cil_age = _floor(rng, mc_age + np.where(mc_male, -d, d), 19)
    add(mh, CHILD_IN_LAW, np.zeros(len(mh), dtype=np.int64), cil_age, ~mc_male)
    gen2_mother = np.full(n, np.nan)
    gen2_mother[mh] = np.where(mc_male, cil_age, mc_age)
    n_grand = np.where(s["three_gen"] & np.isnan(gen2_mother), 0, s["n_grand"])
    gh = np.repeat(all_h, n_grand)
    grank = group_rank(gh)
    spacing = np.where(grank == 0, 0.0, rng.uniform(1.3, 5.0, len(gh)))
    g_first = np.where(
        s["skipped"][gh],
        rng.uniform(2, 15, len(gh)),
        gen2_mother[gh] - rng.uniform(21, 31, len(gh)),
    )
    # the first draw of each household counts, later ranks add spacing to it
    first_of = np.repeat(g_first[grank == 0], np.diff(np.r_[np.flatnonzero(grank == 0), len(gh)]))
    g_age = first_of - _group_cumsum(spacing, gh)
    add(gh, GRANDCHILD, grank, g_age, rng.random(len(gh)) < 0.535)

    # siblings of the head
    bh = np.repeat(all_h, s["n_sib"])
    b_age = _floor(rng, head_age[bh] + rng.uniform(-12, 12, len(bh)), 18)
    add(bh, SIBLING, group_rank(bh), b_age, rng.random(len(bh)) < 0.6)

    hh = np.concatenate([b[0] for b in blocks])
    rel = np.concatenate([np.full(len(b[0]), b[1], dtype=np.int8) for b in blocks])
    rank = np.concatenate([b[2] for b in blocks])
    age = np.concatenate([b[3] for b in blocks])
    male = np.concatenate([b[4] for b in blocks]).astype(bool)
    born = age >= 0.1
    hh, rel, rank, age, male = hh[born], rel[born], rank[born], age[born], male[born]

    # at most seven members: keep head, spouse, married child, child-in-law, children, parents,
    # grandchildren, siblings in that order of priority
    priority = np.select(
        [
            rel == HEAD,
            rel == SPOUSE,
            (rel == CHILD) & (rank == 0),
            rel == CHILD_IN_LAW,
            rel == CHILD,
            rel == PARENT,
            rel == GRANDCHILD,
        ],
        [0, 1, 2, 3, 4, 5, 6],
        7,
    )
    order = np.lexsort((rank, priority, hh))
    keep = order[group_rank(hh[order]) < MAX_MEMBERS]
    hh, rel, rank, age, male = hh[keep], rel[keep], rank[keep], age[keep], male[keep]
    order = np.lexsort((rank, rel, hh))
    return {
        "hh": hh[order],
        "rel": rel[order],
        "rank": rank[order],
        "age": age[order],
        "male": male[order],
    }


def generate_population(
    *, seed: int, households: int, tree: AreaTree, hh_village: np.ndarray, as_of: date
) -> Population:
    rng = stream(seed, "population")
    d0 = day(as_of)
    H = households
    s = _structure(rng, H)
    m = _members(stream(seed, "population.members"), s)
    hh, rel, male = m["hh"], m["rel"], m["male"]
    P = len(hh)
    # birth dates from the (fractional) ages, then whole ages at the as-of date
    birth = d0 - np.round(m["age"] * DAYS_PER_YEAR).astype("timedelta64[D]")
    parts = date_parts(birth)
    age = age_at(birth, d0, parts)
    birth_year = parts[0]
    is_head = rel == HEAD

    # economic factor: household, village and county parts
    county_of_village = tree.village_county
    econ = (
        rng.normal(0, 0.85, H)
        + rng.normal(0, 0.35, tree.n_villages)[hh_village]
        + rng.normal(0, 0.2, len(tree.counties))[county_of_village[hh_village]]
    )
    pe = econ[hh]

    # --- health and disability ---------------------------------------------------------
    risk = np.exp(-0.3 * pe)
    dis_profile = (
        np.select([age < 16, age < 45, age < 60, age < 70, age < 80], [1.5, 3.5, 6, 10, 15], 25)
        * risk
    )
    ser_profile = (
        np.select([age < 16, age < 45, age < 60, age < 75], [0.3, 0.8, 2.0, 3.0], 3.5) * risk
    )
    chr_profile = (
        np.select([age < 16, age < 45, age < 60, age < 75], [0.5, 3.0, 12.0, 25.0], 30.0) * risk
    )
    u = rng.random(P)
    p_dis = np.clip(dis_profile * (0.06 / dis_profile.mean()), 0, 0.6)
    p_ser = np.clip(ser_profile * (0.015 / ser_profile.mean()), 0, 0.2)
    p_chr = np.clip(chr_profile * (0.10 / chr_profile.mean()), 0, 0.6)
    health = np.select(
        [u < p_dis, u < p_dis + p_ser, u < p_dis + p_ser + p_chr], [3, 2, 1], 0
    ).astype(np.int8)
    disabled = health == 3
    dis_type = np.zeros(P, dtype=np.int8)
    dis_type[disabled] = 1 + pick(
        rng, [0.14, 0.2, 0.02, 0.3, 0.08, 0.08, 0.18], int(disabled.sum())
    )
    dis_grade = np.zeros(P, dtype=np.int8)
    dis_grade[disabled] = 1 + pick(rng, [0.12, 0.2, 0.3, 0.38], int(disabled.sum()))
    severe = disabled & (dis_grade <= 2)

    # --- status: a few members died, moved out, are in prison or missing ------------------
    status = np.zeros(P, dtype=np.int8)
    u = rng.random(P)
    old_weight = np.where(~is_head & (age >= 55), np.exp((age - 55) / 12.0), 0.0)
    p_dead = old_weight * (0.004 * P / max(old_weight.sum(), 1e-9))
    status[u < p_dead] = 1
    young = (
        ~is_head
        & (status == 0)
        & (age >= 18)
        & (age <= 40)
        & np.isin(rel, [CHILD, SIBLING, CHILD_IN_LAW])
    )
    v = rng.random(P)
    status[young & (v < 0.003 * P / max(young.sum(), 1))] = 4
    status[young & (status == 0) & male & (v > 0.9995)] = 2
    status[~is_head & (status == 0) & (age >= 16) & (v > 0.9990) & (v <= 0.9992)] = 3

    # --- schooling and education ---------------------------------------------------------
    in_school = np.zeros(P, dtype=bool)
    u = rng.random(P)
    compulsory = (age >= 6) & (age <= 15)
    exempt = severe | (health == 2)
    in_school[compulsory] = u[compulsory] > np.where(exempt[compulsory], 0.35, 0.01)
    upper = (age >= 16) & (age <= 18)
    in_school[upper] = u[upper] < 0.8
    college = (age >= 19) & (age <= 22)
    in_school[college] = u[college] < 0.33
    education = np.zeros(P, dtype=np.int8)  # '' for young children
    education[compulsory] = np.where(age[compulsory] <= 11, 2, 3)
    voc = rng.random(P) < 0.45
    education[upper & in_school] = np.where(voc[upper & in_school], 5, 4)
    education[upper & ~in_school] = 3
    education[college & in_school] = 6
    adult = (age >= 19) & ~(college & in_school)
    cohort_mix = [
        (birth_year < 1950, [0.42, 0.45, 0.11, 0.02, 0.0, 0.0]),
        ((birth_year >= 1950) & (birth_year < 1965), [0.18, 0.5, 0.26, 0.05, 0.01, 0.0]),
        ((birth_year >= 1965) & (birth_year < 1980), [0.05, 0.33, 0.46, 0.1, 0.04, 0.02]),
        ((birth_year >= 1980) & (birth_year < 1995), [0.01, 0.12, 0.5, 0.14, 0.13, 0.1]),
        (birth_year >= 1995, [0.0, 0.03, 0.3, 0.2, 0.25, 0.22]),
    ]
    for mask, mix in cohort_mix:
        idx = np.flatnonzero(adult & mask)
        w = np.array(mix)
        education[idx] = 1 + pick(rng, w, len(idx))
    # older women had less schooling
    older_women = adult & ~male & (birth_year < 1970) & (education > 1) & (rng.random(P) < 0.25)
    education[older_women] -= 1

    # --- labour capacity ---------------------------------------------------------------
    u = rng.random(P)
    labour = np.full(P, 3, dtype=np.int8)  # none
    working_age = (age >= 16) & (age <= 59) & ~in_school
    healthy = health == 0
    labour[working_age & healthy] = 0
    labour[working_age & (health == 1)] = np.where(u[working_age & (health == 1)] < 0.6, 0, 1)
    labour[working_age & (health == 2)] = np.where(u[working_age & (health == 2)] < 0.8, 2, 1)
    wd = working_age & disabled
    labour[wd] = np.select([dis_grade[wd] <= 2, dis_grade[wd] == 3, u[wd] < 0.5], [2, 1, 0], 1)
    y60 = (age >= 60) & (age <= 64)
    labour[y60 & healthy] = np.where(u[y60 & healthy] < 0.55, 0, 1)
    labour[y60 & ~healthy] = np.where(u[y60 & ~healthy] < 0.5, 1, 2)
    y65 = (age >= 65) & (age <= 74)
    labour[y65 & healthy] = np.where(u[y65 & healthy] < 0.6, 1, 3)
    labour[y65 & ~healthy] = np.where(u[y65 & ~healthy] < 0.5, 2, 3)
    y75 = age >= 75
    labour[y75 & healthy] = np.where(u[y75 & healthy] < 0.15, 1, 3)
    labour[y75 & (severe | (health == 2))] = 2

    # --- work ------------------------------------------------------------------------
    can_work = (age >= 16) & (age <= 64) & ~in_school & (labour <= 1) & (status == 0)
    boost = np.clip(1 + 0.15 * pe, 0.5, 1.5)
    p_mig = (
        np.select(
            [(age <= 49) & male, age <= 49, (age <= 59) & male, age <= 59],
            [0.66, 0.48, 0.38, 0.2],
            0.08,
        )
        * np.where(labour == 1, 0.5, 1.0)
        * boost
    )
    u = rng.random(P)
    employment = np.zeros(P, dtype=np.int8)
    employment[can_work & (u < p_mig)] = 2
    local = can_work & (employment == 0) & (rng.random(P) < 0.5 * np.where(age >= 60, 0.5, 1.0))
    employment[local] = 1
    work_months = np.zeros(P, dtype=np.int8)
    mig = employment == 2
    work_months[mig] = 6 + pick(rng, [1, 2, 4, 8, 18, 30, 37], int(mig.sum()))
    work_months[local] = 2 + pick(rng, [2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 8], int(local.sum()))

    # --- ADL (daily-living items failed) --------------------------------------------------
    adl = np.zeros(P, dtype=np.int8)
    u = rng.random(P)
    very_old = age >= 80
    adl[very_old & (u < 0.17)] = 1 + rng.integers(0, 3, P)[very_old & (u < 0.17)]
    adl[very_old & (u >= 0.17) & (u < 0.25)] = (
        4 + rng.integers(0, 3, P)[very_old & (u >= 0.17) & (u < 0.25)]
    )
    g1 = disabled & (dis_grade == 1) & np.isin(dis_type, [4, 5, 6, 7])
    adl[g1] = np.maximum(adl[g1], 2 + rng.integers(0, 5, P)[g1])
    g2 = disabled & (dis_grade == 2) & np.isin(dis_type, [4, 7])
    adl[g2] = np.maximum(adl[g2], rng.integers(0, 4, P)[g2])

    # --- exited poor households and housing --------------------------------------------
    hh_severe = np.bincount(hh, weights=(severe | (health == 2)).astype(float), minlength=H) > 0
    hh_young = np.bincount(hh, weights=(age < 60).astype(float), minlength=H) > 0
    score = -econ + 0.9 * hh_severe + 0.4 * ~hh_young + rng.normal(0, 0.6, H)
    registered_poor = score >= np.quantile(score, 1 - 0.12)
    exit_year = np.zeros(H, dtype=np.int64)
    exit_year[registered_poor] = 2014 + pick(
        rng, [0.03, 0.06, 0.12, 0.2, 0.25, 0.22, 0.12], int(registered_poor.sum())
    )
    relocated = registered_poor & (rng.random(H) < 0.1)
    housing = pick(rng, [0.58, 0.405, 0.012, 0.003], H).astype(np.int8)
    water_secure = rng.random(H) >= 0.005

    # --- medical and pension insurance ----------------------------------------------------
    u = rng.random(P)
    p_uninsured = np.where(registered_poor[hh], 0.004, np.where(mig, 0.05, 0.03))
    medical_insured = u >= p_uninsured
    pension_insured = np.full(P, -1, dtype=np.int8)
    grown = (age >= 16) & ~in_school
    pension_insured[grown] = (rng.random(P) < np.where(age >= 60, 0.95, 0.86))[grown]

    # --- phones -----------------------------------------------------------------------
    u = rng.random(P)
    has_phone = (status == 0) & (age >= 16) & (age <= 75) & (u < np.where(is_head, 0.9, 0.6))
    phone = np.zeros(P, dtype=np.int64)
    prefixes = np.array(
        [
            134,
            135,
            136,
            137,
            138,
            139,
            150,
            151,
            152,
            157,
            158,
            159,
            182,
            183,
            187,
            188,
            130,
            131,
            132,
            155,
            156,
            185,
            186,
            133,
            153,
            180,
            181,
            189,
            177,
            199,
        ]
    )
    phone[has_phone] = prefixes[
        rng.integers(0, len(prefixes), int(has_phone.sum()))
    ] * 10**8 + rng.integers(0, 10**8, int(has_phone.sum()))
    first_phone = np.full(H, 0, dtype=np.int64)
    # the household phone: the head's, otherwise the first member with a phone
    order = np.lexsort((~has_phone, hh))
    firsts = order[group_rank(hh[order]) == 0]
    first_phone[hh[firsts]] = phone[firsts]
    hh_phone = np.where(rng.random(H) < 0.92, first_phone, 0)

    # one-card bank account: 19 digits with a Luhn check digit
    bank = _bank_accounts(rng, H)
    bank[~registered_poor & (rng.random(H) < 0.05)] = b""

    # --- names ---------------------------------------------------------------------------
    name = _names(stream(seed, "population.names"), tree, hh_village, s, m, birth_year)

    # --- ID numbers (registry persons and outsiders together, so all are unique) -----------
    out = _outsiders(stream(seed, "population.outsiders"), tree, P, d0)
    wives = ~male & np.isin(rel, [SPOUSE, CHILD_IN_LAW])
    out_parts = date_parts(out["birth"])
    id_all = _id_numbers(
        stream(seed, "population.ids"),
        tree,
        county=np.concatenate(
            [tree.village_county[hh_village][hh], tree.village_county[out["village"]]]
        ),
        parts=[np.concatenate([a, b]) for a, b in zip(parts, out_parts, strict=True)],
        male=np.concatenate([male, out["male"]]),
        married_in=np.concatenate([wives, np.zeros(len(out["male"]), dtype=bool)]),
    )
    # household numbers start at 1 within each village
    household_id = pl.select(
        pl.concat_str(
            pl.Series(tree.village_codes).gather(hh_village),
            pl.Series(group_rank(hh_village) + 1).cast(pl.String).str.zfill(5),
        )
    ).to_series()
    return Population(
        household_id=household_id,
        hh_village=hh_village,
        hh_type=s["type"],
        econ=econ,
        registered_poor=registered_poor,
        exit_year=exit_year,
        relocated=relocated,
        housing=housing,
        water_secure=water_secure,
        hh_phone=hh_phone,
        bank_account=bank,
        address_group=rng.integers(1, 13, H),
        address_number=rng.integers(1, 120, H),
        hh=hh,
        relation=rel,
        male=male,
        birth=birth,
        age=age,
        name=name,
        id18=id_all[:P],
        status=status,
        education=education,
        in_school=in_school,
        health=health,
        disability_type=dis_type,
        disability_grade=dis_grade,
        labour=labour,
        employment=employment,
        work_months=work_months,
        medical_insured=medical_insured,
        pension_insured=pension_insured,
        adl_failed=adl,
        phone=phone,
        out_name=out["name"],
        out_male=out["male"],
        out_birth=out["birth"],
        out_village=out["village"],
        out_id18=id_all[P:],
    )


def _bank_accounts(rng: np.random.Generator, n: int) -> np.ndarray:
    # issuer prefixes of banks that pay benefits in rural Jiangxi and Hunan
    bins = np.array(
        [[int(c) for c in b] for b in ("622848", "621799", "623059", "621700", "622188", "623506")],
        dtype=np.uint8,
    )
    body = np.empty((n, 18), dtype=np.uint8)
    body[:, :6] = bins[rng.integers(0, len(bins), n)]
    body[:, 6:] = rng.integers(0, 10, (n, 12), dtype=np.uint8)
    # Luhn: double every second digit from the right of the full number (check digit excluded)
    doubled = body[:, ::-1].astype(np.int16)
    doubled[:, 0::2] *= 2
    doubled[doubled > 9] -= 9
    check = (10 - doubled.sum(axis=1) % 10) % 10
    digits = np.empty((n, 19), dtype=np.uint8)
    digits[:, :18] = body + np.uint8(idnumbers.ZERO)
    digits[:, 18] = check + idnumbers.ZERO
    return digits.view("S19").ravel()


def _names(rng, tree: AreaTree, hh_village, s, m, birth_year) -> np.ndarray:
    hh, rel, rank, male = m["hh"], m["rel"], m["rank"], m["male"]
    surnames, _ = surname_table()
    flavour_of_county = np.array([FLAVOURS.index(c.flavour) for c in tree.counties])
    v_flavour = flavour_of_county[tree.village_county]
    H = len(hh_village)
    # each village has one or two dominant lineages (同姓村)
    clan1 = draw_surnames(rng, v_flavour)
    clan2 = draw_surnames(rng, v_flavour)
    u = rng.random(H)
    head_surname = np.where(
        u < 0.35,
        clan1[hh_village],
        np.where(u < 0.5, clan2[hh_village], draw_surnames(rng, v_flavour[hh_village])),
    )
    own = draw_surnames(rng, v_flavour[hh_village][hh])  # for those who married in
    hs = head_surname[hh]
    spouse_surname = np.full(H, -1)
    spouse_surname[hh[rel == SPOUSE]] = own[rel == SPOUSE]
    father = np.where(s["head_male"], head_surname, spouse_surname)
    mother = np.where(s["head_male"], spouse_surname, head_surname)
    # children take the father's surname; some the mother's; unknown father: the mother's
    # or one never recorded
    u = rng.random(len(hh))
    child_surname = np.where(
        (father[hh] >= 0) & ((u >= 0.06) | (mother[hh] < 0)),
        father[hh],
        np.where((mother[hh] >= 0) & (u < 0.6), mother[hh], own),
    )
    # grandchildren: the surname of the married son, or of the son-in-law
    gen2_father = np.full(H, -1)
    son = (rel == CHILD) & (rank == 0) & male
    gen2_father[hh[son]] = child_surname[son]
    son_in_law = (rel == CHILD_IN_LAW) & male
    gen2_father[hh[son_in_law]] = own[son_in_law]
    g = gen2_father[hh]
    grand_surname = np.where(g >= 0, g, np.where(rng.random(len(hh)) < 0.75, hs, own))
    surname_idx = np.select(
        [rel == HEAD, rel == SIBLING, (rel == PARENT) & male, rel == CHILD, rel == GRANDCHILD],
        [hs, hs, hs, child_surname, grand_surname],
        own,
    )
    given = GivenNames().draw(rng, male, birth_year)
    # brothers often share a generation character (字辈)
    gp = np.ascontiguousarray(given.astype("U2")).view(np.uint32).reshape(-1, 2).copy()
    boys = np.flatnonzero((rel == CHILD) & male & (gp[:, 1] != 0))
    if len(boys):
        first_boy = boys[group_rank(hh[boys]) == 0]
        lead = np.zeros(H, dtype=np.uint32)
        lead[hh[first_boy]] = gp[first_boy, 0]
        share = boys[(rng.random(len(boys)) < 0.4) & (lead[hh[boys]] != gp[boys, 1])]
        gp[share, 0] = lead[hh[share]]
        given = gp.view("U2").ravel()
    return np.strings.add(surnames[surname_idx], given).astype("U4")


def _outsiders(
    rng: np.random.Generator, tree: AreaTree, n_registry: int, d0: np.datetime64
) -> dict[str, np.ndarray]:
    """People of the same counties who are not in the registry (civil servants, townspeople ...)."""
    n = max(40, int(n_registry * 0.04))
    age = _cap(rng, _floor(rng, rng.normal(45, 15, n), 18, 10), 95)
    birth = d0 - np.round(age * DAYS_PER_YEAR).astype("timedelta64[D]")
    male = rng.random(n) < 0.52
    village = rng.integers(0, tree.n_villages, n)
    surnames, _ = surname_table()
    flavour_of_county = np.array([FLAVOURS.index(c.flavour) for c in tree.counties])
    sidx = draw_surnames(rng, flavour_of_county[tree.village_county[village]])
    given = GivenNames().draw(rng, male, date_parts(birth)[0])
    return {
        "birth": birth,
        "male": male,
        "village": village,
        "name": np.strings.add(surnames[sidx], given).astype("U4"),
    }


def _id_numbers(rng, tree: AreaTree, *, county, parts, male, married_in) -> np.ndarray:
    codes = np.array([int(c.code) for c in tree.counties])
    former = np.array([int(c.former_code or 0) for c in tree.counties])
    until = np.array([c.former_code_until or 0 for c in tree.counties])
    pops = np.array([c.population for c in tree.counties])
    # about a quarter of in-married wives and daughters-in-law come from another county
    moved = married_in & (rng.random(len(county)) < 0.25)
    county = county.copy()
    county[moved] = pick(rng, pops, int(moved.sum()))
    y, m, d = parts
    use_former = (former[county] > 0) & (y <= until[county]) & (rng.random(len(county)) < 0.92)
    area = np.where(use_former, former[county], codes[county])
    ymd = y * 10_000 + m * 100 + d
    seq = idnumbers.unique_sequences(rng, area, ymd, male)
    return idnumbers.compose(area, ymd, seq)
