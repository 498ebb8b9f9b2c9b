"""Department feeds (formats/feeds.md): one table per kind, plus the ground truth.

Each kind is first drawn as facts about registry people or households (and about people who
are not in the registry), consistent with the registry where the department would agree with
it and, for a small share, newer than the registry (a death not yet recorded, a new disability
certificate, a house re-assessed as unsafe): that is what screening must find. Rendering then
numbers the records, decides which identity fields the department filled in, and plants the
identity noise of `noise.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from . import idnumbers
from .areas import AreaTree
from .base import (
    Cat,
    age_at,
    chars_series,
    date_parts,
    day,
    numbered,
    pick,
    random_days,
    stream,
    yes_no,
)
from .names import codepoints
from .noise import id_noise, name_noise
from .population import DISABILITY_TYPES, EDUCATION, HEAD, Population

KINDS = [
    "medical_claims",
    "medical_insurance",
    "disability",
    "deaths",
    "school_enrolment",
    "housing",
    "water",
    "vehicles",
    "businesses",
    "payroll",
    "employment",
    "disaster",
]
HOUSEHOLD_KINDS = {"housing", "water", "disaster"}
RECORD_PREFIX = {
    "medical_claims": "YBJS",
    "medical_insurance": "YBCB",
    "disability": "CLZ",
    "deaths": "SW",
    "school_enrolment": "XJ",
    "housing": "ZFJD",
    "water": "YSAQ",
    "vehicles": "JDC",
    "businesses": "SCZT",
    "payroll": "CZGY",
    "employment": "JYSY",
    "disaster": "ZQ",
}
COMMON_COLUMNS = [
    "record_id",
    "id_number",
    "name",
    "birth_date",
    "sex",
    "village_code",
    "event_date",
]
OWN_COLUMNS = {
    "medical_claims": ["total_cost", "insurance_paid", "out_of_pocket", "inpatient"],
    "medical_insurance": ["year", "insured"],
    "disability": ["disability_type", "disability_grade"],
    "deaths": [],
    "school_enrolment": ["term", "school", "stage", "status"],
    "housing": ["grade"],
    "water": ["secure"],
    "vehicles": ["vehicle_type", "status"],
    "businesses": ["enterprise_name", "role", "registered_capital", "status"],
    "payroll": ["employer"],
    "employment": ["event"],
    "disaster": ["disaster_type", "loss_amount"],
}
GROUND_TRUTH_COLUMNS = ["kind", "record_id", "person_id_number", "household_id", "noise"]
MONEY_CENTS = {"total_cost", "insurance_paid", "out_of_pocket"}  # int cents until written
HOUSEHOLD_ONLY_SHARE = 0.5  # household-level records that give the household number only
SHOW_BIRTH_SEX = 0.6  # records with an ID number that also give birth date and sex
SHOW_VILLAGE = 0.4


def feed_columns(kind: str) -> list[str]:
    cols = list(COMMON_COLUMNS)
    if kind in HOUSEHOLD_KINDS:
        cols.insert(cols.index("event_date"), "household_id")
    return cols + OWN_COLUMNS[kind]


@dataclass
class Facts:
    """Records of one kind before rendering. `person` indexes registry persons followed by
    outsiders; household-level kinds name the household's head as the person."""

    person: np.ndarray
    event_date: np.ndarray
    columns: dict[str, np.ndarray | Cat] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.person)


def _concat(parts: list[Facts]) -> Facts:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Facts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype="datetime64[D]"), {})
    columns = {}
    for k, first in parts[0].columns.items():
        values = [p.columns[k] for p in parts]
        columns[k] = Cat.concat(values) if isinstance(first, Cat) else np.concatenate(values)
    return Facts(
        np.concatenate([p.person for p in parts]),
        np.concatenate([p.event_date for p in parts]),
        columns,
    )


def _money(cents: pl.Series) -> pl.Series:
    """Decimal text with two places from integer cents."""
    return pl.select(
        pl.concat_str(
            (cents // 100).cast(pl.String), pl.lit("."), (cents % 100).cast(pl.String).str.zfill(2)
        ).alias(cents.name)
    ).to_series()


def _labels_by_village(columns: list[np.ndarray]) -> np.ndarray:
    """Labels laid out village by village: label of (village v, choice j) at v * k + j."""
    return np.stack(columns, axis=1).ravel()


class _World:
    """What every kind needs to know about the people of the region."""

    def __init__(self, seed: int, pop: Population, tree: AreaTree, as_of: date):
        self.seed = seed
        self.pop = pop
        self.tree = tree
        self.as_of = as_of
        self.d0 = day(as_of)
        self.P = pop.n_persons
        self.O = len(pop.out_name)
        self.out = np.arange(self.P, self.P + self.O)
        self.birth = np.concatenate([pop.birth, pop.out_birth])
        self.birth_year = date_parts(self.birth)[0]
        self.village = np.concatenate([pop.hh_village[pop.hh], pop.out_village])
        self.household = np.concatenate([pop.hh, np.full(self.O, -1)])
        self.out_age = age_at(pop.out_birth, self.d0)
        # dates of death found by the death feed (filled in by `_deaths`, which runs first)
        self.died = np.full(self.P + self.O, np.datetime64("NaT"), dtype="datetime64[D]")
        heads = np.flatnonzero(pop.relation == HEAD)
        self.head_of = np.empty(pop.n_households, dtype=np.int64)
        self.head_of[pop.hh[heads]] = heads
        # per-village name parts (a few thousand villages: plain numpy strings are fine here)
        county = np.array([c.name for c in tree.counties])[tree.village_county]
        township = tree.township_names[tree.village_township]
        t_stem = np.array([t[:-1] for t in tree.township_names])[tree.village_township]
        v_stem = np.array([v[:-1] for v in tree.village_names])
        add = np.strings.add
        self.schools = _labels_by_village(
            [
                add(township, "中心小学"),
                add(v_stem, "小学"),
                add(add(county, t_stem), "中学"),
                add(county, "第一中学"),
                add(county, "第二中学"),
                add(county, "第三中学"),
                add(county, "职业中等专业学校"),
            ]
        )
        self.employers = _labels_by_village(
            [
                add(add(county, township), "人民政府"),
                add(add(county, township), "中心小学"),
                add(county, "人民医院"),
                add(county, "公安局"),
                add(add(county, township), "卫生院"),
                add(county, "第一中学"),
                add(county, "农业农村局"),
            ]
        )
        self.enterprises = _labels_by_village(
            [add(add(county, v_stem), ind) for ind in _INDUSTRIES]
        )

    def rng(self, kind: str) -> np.random.Generator:
        return stream(self.seed, f"feeds.{kind}")

    def days_back(self, rng, lo: int, hi: int, size: int) -> np.ndarray:
        """Dates between `hi` and `lo` days before the as-of date."""
        return random_days(
            rng, self.d0 - np.timedelta64(hi, "D"), self.d0 - np.timedelta64(lo, "D"), size
        )

    def not_before_age(self, dates: np.ndarray, person: np.ndarray, years: int = 0) -> np.ndarray:
        """`dates`, moved forward where the person was younger than `years` (never past D)."""
        earliest = self.birth[person] + np.timedelta64(round(years * 365.25), "D")
        return np.minimum(np.maximum(dates, earliest), self.d0)

    def outsiders(self, rng, share: float, adult_only: bool = True) -> np.ndarray:
        chosen = rng.random(self.O) < share
        if adult_only:
            chosen &= self.out_age >= 18
        return self.out[chosen]


_INDUSTRIES = [
    "脐橙专业合作社",
    "油茶专业合作社",
    "养殖专业合作社",
    "种植专业合作社",
    "家庭农场",
    "生猪养殖场",
    "商行",
    "便利店",
    "农家乐",
    "建材店",
    "竹木加工厂",
    "茶业有限公司",
    "电子商务有限公司",
    "运输有限公司",
    "餐饮店",
]


# --- the twelve kinds -----------------------------------------------------------------------


def _medical_insurance(w: _World) -> Facts:
    """One record per person for the current year (the department's enrolment list)."""
    rng = w.rng("medical_insurance")
    pop = w.pop
    year = w.as_of.year
    start = np.datetime64(f"{year}-01-01")
    people = np.flatnonzero((pop.birth < start) & ~np.isin(pop.status, [1, 4]))  # not dead or gone
    insured = pop.medical_insured[people] & (
        rng.random(len(people)) >= 0.004
    )  # lapsed: newer than the registry
    outs = w.outsiders(rng, 0.35)
    person = np.concatenate([people, outs])
    insured = np.concatenate([insured, rng.random(len(outs)) >= 0.03])
    return Facts(
        person,
        np.full(len(person), start),
        {"year": np.full(len(person), year), "insured": yes_no(insured)},
    )


def _medical_claims(w: _World, extra: int) -> Facts:
    """Settlements of the last 18 months: many for the seriously and chronically ill, a few
    for everybody else; `extra` outpatient claims spread over random people on top."""
    rng = w.rng("medical_claims")
    pop = w.pop
    window = 540
    rate = np.select(
        [pop.health == 2, pop.health == 1, pop.health == 3, pop.age < 6, pop.age < 60],
        [10.0, 4.0, 2.0, 0.5, 0.15],
        0.5,
    )
    rate = np.where(pop.active, rate, 0.0)
    count = rng.poisson(rate * window / 365)
    person = np.repeat(np.arange(w.P), count)
    out_count = rng.poisson(0.3, w.O)
    base = len(person) + int(out_count.sum())
    person = np.concatenate(
        [person, np.repeat(w.out, out_count), rng.choice(np.flatnonzero(pop.active), extra)]
    )
    n = len(person)
    health = np.concatenate([pop.health, np.zeros(w.O, dtype=pop.health.dtype)])[person]
    health[base:] = 0
    p_in = np.select([health == 2, health == 1], [0.35, 0.12], 0.05)
    p_in[base:] = 0.0
    inpatient = rng.random(n) < p_in
    inpatient_cost = np.select(
        [health == 2, health == 1],
        [rng.lognormal(np.log(26000), 0.7, n), rng.lognormal(np.log(7000), 0.6, n)],
        rng.lognormal(np.log(5000), 0.7, n),
    )
    total = np.where(inpatient, inpatient_cost, rng.lognormal(np.log(260), 0.8, n))
    poor = np.concatenate([pop.registered_poor[pop.hh], np.zeros(w.O, dtype=bool)])[person]
    ratio = np.where(inpatient, rng.uniform(0.55, 0.8, n) + 0.1 * poor, rng.uniform(0.3, 0.6, n))
    total_c = np.round(total * 100).astype(np.int64)
    paid_c = np.round(total_c * ratio).astype(np.int64)
    dates = w.not_before_age(w.days_back(rng, 0, window, n), person)
    died = w.died[person]
    after_death = died <= dates  # NaT compares False
    dates[after_death] = np.maximum(
        died[after_death] - rng.integers(1, 60, int(after_death.sum())).astype("timedelta64[D]"),
        w.birth[person][after_death],
    )
    return Facts(
        person,
        dates,
        {
            "total_cost": total_c,
            "insurance_paid": paid_c,
            "out_of_pocket": total_c - paid_c,
            "inpatient": yes_no(inpatient),
        },
    )


def _disability(w: _World) -> Facts:
    """Certificates of the registry's disabled members (a few re-assessed), plus certificates
    the registry does not know of yet."""
    rng = w.rng("disability")
    pop = w.pop
    disabled = np.flatnonzero((pop.health == 3) & (rng.random(w.P) < 0.92))
    recent = rng.random(len(disabled)) < 0.08
    issued = np.where(
        recent,
        w.days_back(rng, 0, 365, len(disabled)),
        random_days(
            rng, np.datetime64("2008-01-01"), w.d0 - np.timedelta64(366, "D"), len(disabled)
        ),
    )
    grade = pop.disability_grade[disabled].astype(np.int64)
    reassessed = rng.random(len(disabled)) < 0.05
    grade = np.where(reassessed, np.maximum(grade - 1, 1), grade)
    dtype = pop.disability_type[disabled].astype(np.int64)
    new = np.flatnonzero(pop.active & (pop.health != 3) & (rng.random(w.P) < 0.004))
    outs = w.outsiders(rng, 0.04, adult_only=False)
    fresh = np.concatenate([new, outs])
    fresh_dates = np.where(
        rng.random(len(fresh)) < 0.5,
        w.days_back(rng, 0, 365, len(fresh)),
        random_days(rng, np.datetime64("2010-01-01"), w.d0, len(fresh)),
    )
    fresh_type = 1 + pick(rng, [0.14, 0.2, 0.02, 0.3, 0.08, 0.08, 0.18], len(fresh))
    fresh_grade = 1 + pick(rng, [0.15, 0.25, 0.3, 0.3], len(fresh))
    person = np.concatenate([disabled, fresh])
    return Facts(
        person,
        w.not_before_age(np.concatenate([issued, fresh_dates]), person, 1),
        {
            "disability_type": Cat(DISABILITY_TYPES, np.concatenate([dtype, fresh_type])),
            "disability_grade": np.concatenate([grade, fresh_grade]),
        },
    )


def _deaths(w: _World) -> Facts:
    """Deaths of members the registry already marks deceased, deaths it has not caught up
    with yet, and deaths of people outside the registry."""
    rng = w.rng("deaths")
    pop = w.pop
    recorded = np.flatnonzero((pop.status == 1) & (rng.random(w.P) < 0.9))
    u = rng.random(w.P)
    unrecorded = np.flatnonzero(
        pop.active
        & (((pop.age >= 70) & (u < 0.006)) | ((pop.age >= 16) & (pop.age < 70) & (u < 0.0005)))
    )
    outs = w.outsiders(rng, 0.02)
    person = np.concatenate([recorded, unrecorded, outs])
    dates = np.concatenate(
        [
            w.days_back(rng, 60, 900, len(recorded)),
            w.days_back(rng, 0, 300, len(unrecorded)),
            w.days_back(rng, 0, 700, len(outs)),
        ]
    )
    w.died[person] = dates
    return Facts(person, dates)


def school_terms(as_of: date) -> list[tuple[str, np.datetime64]]:
    """The previous and the current term at `as_of`: `YYYY-1` spring (from March), `YYYY-2`
    autumn (from September)."""
    y, m = as_of.year, as_of.month
    if m >= 9:
        current = (f"{y}-2", f"{y}-09-01")
        previous = (f"{y}-1", f"{y}-03-01")
    elif m >= 3:
        current = (f"{y}-1", f"{y}-03-01")
        previous = (f"{y - 1}-2", f"{y - 1}-09-01")
    else:
        current = (f"{y - 1}-2", f"{y - 1}-09-01")
        previous = (f"{y - 1}-1", f"{y - 1}-03-01")
    return [(t, np.datetime64(d)) for t, d in (previous, current)]


STATUS_LABELS = ["enrolled", "dropped_out", "suspended"]


def _school_enrolment(w: _World) -> Facts:
    """Two terms of enrolment for pupils up to senior secondary; children who left school
    appear enrolled in the previous term and dropped out in the current one."""
    rng = w.rng("school_enrolment")
    pop = w.pop
    (prev_term, prev_day), (cur_term, cur_day) = school_terms(w.as_of)
    pupils = np.flatnonzero(
        pop.active & pop.in_school & (pop.education >= 2) & (pop.education <= 5)
    )
    compulsory = (pop.age[pupils] >= 6) & (pop.age[pupils] <= 15)
    u = rng.random(len(pupils))
    cur_status = np.where(compulsory & (u < 0.0025), 1, np.where(compulsory & (u < 0.004), 2, 0))
    was_pupil = pupils[age_at(pop.birth[pupils], prev_day) >= 6]
    out_of_school = np.flatnonzero(pop.active & ~pop.in_school & (pop.age >= 7) & (pop.age <= 15))
    left = out_of_school[rng.random(len(out_of_school)) < 0.4]
    person = np.concatenate([was_pupil, left, pupils, left])
    n_prev = len(was_pupil) + len(left)
    current = np.arange(len(person)) >= n_prev
    status = np.concatenate(
        [np.zeros(n_prev, dtype=np.int64), cur_status, np.ones(len(left), dtype=np.int64)]
    )
    edu = pop.education[person].astype(np.int64)
    edu = np.where(edu >= 2, edu, np.where(pop.age[person] <= 11, 2, 3))
    # school: 0/1 primary (township centre or village), 2 junior, 3-5 senior, 6 vocational
    choice = np.select(
        [edu == 2, edu == 3, edu == 4],
        [rng.integers(0, 2, len(person)), np.full(len(person), 2), rng.integers(3, 6, len(person))],
        6,
    )
    return Facts(
        person,
        np.where(current, cur_day, prev_day),
        {
            "term": Cat([prev_term, cur_term], current.astype(np.int64)),
            "school": Cat(w.schools, w.village[person] * 7 + choice),
            "stage": Cat(EDUCATION, edu),
            "status": Cat(STATUS_LABELS, status),
        },
    )


GRADES = np.array(["A", "B", "C", "D"])


def _housing(w: _World) -> Facts:
    """Safety appraisals: every unsafe house and a quarter of the others, plus houses found
    unsafe after the registry was last updated."""
    rng = w.rng("housing")
    pop = w.pop
    H = pop.n_households
    unsafe = pop.housing >= 2
    u = rng.random(H)
    surveyed = np.flatnonzero(unsafe | (u < 0.25))
    worse = np.flatnonzero(~unsafe & (u >= 0.25) & (u < 0.254))
    return Facts(
        w.head_of[np.concatenate([surveyed, worse])],
        np.concatenate(
            [
                random_days(rng, np.datetime64("2019-01-01"), w.d0, len(surveyed)),
                w.days_back(rng, 0, 365, len(worse)),
            ]
        ),
        {
            "grade": Cat(
                GRADES,
                np.concatenate(
                    [pop.housing[surveyed], np.where(rng.random(len(worse)) < 0.8, 2, 3)]
                ),
            )
        },
    )


def _water(w: _World) -> Facts:
    rng = w.rng("water")
    pop = w.pop
    H = pop.n_households
    u = rng.random(H)
    surveyed = np.flatnonzero(~pop.water_secure | (u < 0.15))
    worse = np.flatnonzero(pop.water_secure & (u >= 0.15) & (u < 0.153))
    return Facts(
        w.head_of[np.concatenate([surveyed, worse])],
        np.concatenate(
            [
                random_days(rng, np.datetime64("2019-01-01"), w.d0, len(surveyed)),
                w.days_back(rng, 0, 365, len(worse)),
            ]
        ),
        {
            "secure": yes_no(
                np.concatenate([pop.water_secure[surveyed], np.zeros(len(worse), dtype=bool)])
            )
        },
    )


DISASTER_TYPES = np.array(["flood", "landslide", "drought", "hail", "freeze", "fire", "windstorm"])


def _disaster(w: _World) -> Facts:
    rng = w.rng("disaster")
    H = w.pop.n_households
    hit = np.flatnonzero(rng.random(H) < 0.03)
    n = len(hit)
    t = pick(rng, [0.45, 0.15, 0.1, 0.08, 0.07, 0.08, 0.07], n)
    loss = np.where(
        t == 5, rng.lognormal(np.log(30000), 0.8, n), rng.lognormal(np.log(3000), 1.1, n)
    )
    loss = np.clip(np.round(loss, -1), 200, 300000).astype(np.int64)
    dates = np.where(
        rng.random(n) < 0.7, w.days_back(rng, 0, 365, n), w.days_back(rng, 366, 730, n)
    )
    return Facts(
        w.head_of[hit], dates, {"disaster_type": Cat(DISASTER_TYPES, t), "loss_amount": loss}
    )


VEHICLE_TYPES = ["motorcycle", "car", "van", "truck", "agricultural", "disabled_mobility"]


def _vehicles(w: _World) -> Facts:
    """Registered vehicles of household heads (cars more often in better-off households),
    mobility scooters of physically disabled people, and cars of outsiders."""
    rng = w.rng("vehicles")
    pop = w.pop
    H = pop.n_households
    boost = np.clip(1 + 0.5 * pop.econ, 0.2, 2.5)
    shares = [0.28, 0.13, 0.015, 0.015, 0.06]
    owners, vtypes = [], []
    for t, share in enumerate(shares):
        p = share * (boost if t in (1, 2, 3) else 1.0)
        hh = np.flatnonzero(rng.random(H) < p)
        owners.append(w.head_of[hh])
        vtypes.append(np.full(len(hh), t))
    scooter = np.flatnonzero(
        (pop.health == 3) & (pop.disability_type == 4) & pop.active & (rng.random(w.P) < 0.15)
    )
    outs = w.outsiders(rng, 0.3)
    owners += [scooter, outs]
    vtypes += [np.full(len(scooter), 5), np.full(len(outs), 1)]
    person = np.concatenate(owners)
    registered = w.not_before_age(
        random_days(rng, np.datetime64("2006-01-01"), w.d0, len(person)), person, 18
    )
    old = registered < np.datetime64("2014-01-01")
    scrapped = rng.random(len(person)) < np.where(old, 0.35, 0.05)
    return Facts(
        person,
        registered,
        {
            "vehicle_type": Cat(VEHICLE_TYPES, np.concatenate(vtypes)),
            "status": Cat(["active", "scrapped"], scrapped),
        },
    )


def _businesses(w: _World) -> Facts:
    rng = w.rng("businesses")
    pop = w.pop
    p = 0.02 * np.clip(1 + 0.5 * pop.econ[pop.hh], 0.2, 2.5)
    owners = np.flatnonzero(pop.active & (pop.age >= 20) & (pop.age <= 65) & (rng.random(w.P) < p))
    person = np.concatenate([owners, w.outsiders(rng, 0.1)])
    n = len(person)
    industry = rng.integers(0, len(_INDUSTRIES), n)
    capital = np.round(
        np.clip(rng.lognormal(np.log(100_000), 1.2, n), 10_000, 5_000_000), -3
    ).astype(np.int64)
    return Facts(
        person,
        w.not_before_age(random_days(rng, np.datetime64("2008-01-01"), w.d0, n), person, 18),
        {
            "enterprise_name": Cat(w.enterprises, w.village[person] * len(_INDUSTRIES) + industry),
            "role": Cat(["legal_rep", "shareholder"], rng.random(n) >= 0.6),
            "registered_capital": capital,
            "status": Cat(["active", "revoked", "cancelled"], pick(rng, [0.75, 0.1, 0.15], n)),
        },
    )


def _payroll(w: _World) -> Facts:
    """The month's payroll of public employers: a few registry members, mostly outsiders."""
    rng = w.rng("payroll")
    pop = w.pop
    educated = pop.active & (pop.age >= 22) & (pop.age <= 59) & (pop.education >= 4)
    staff = np.flatnonzero(educated & (rng.random(w.P) < 0.08))
    outs = w.out[(w.out_age >= 22) & (w.out_age <= 60) & (rng.random(w.O) < 0.35)]
    person = np.concatenate([staff, outs])
    month = np.datetime64(w.as_of.isoformat()[:7] + "-01")
    employer = Cat(w.employers, w.village[person] * 7 + rng.integers(0, 7, len(person)))
    return Facts(person, np.full(len(person), month), {"employer": employer})


EMPLOYMENT_EVENTS = ["returned_migrant", "registered_unemployed", "employed"]


def _employment(w: _World) -> Facts:
    rng = w.rng("employment")
    pop = w.pop
    u = rng.random(w.P)
    returned = np.flatnonzero(pop.active & (pop.employment == 2) & (u < 0.06))
    idle = (
        pop.active & (pop.employment == 0) & (pop.labour == 0) & (pop.age >= 18) & (pop.age <= 59)
    )
    unemployed = np.flatnonzero(idle & (u < 0.03))
    hired = np.flatnonzero(pop.active & (pop.employment > 0) & (u >= 0.9) & (u < 0.95))
    outs = w.outsiders(rng, 0.03)
    person = np.concatenate([returned, unemployed, hired, outs])
    event = np.concatenate(
        [
            np.zeros(len(returned), dtype=np.int64),
            np.ones(len(unemployed), dtype=np.int64),
            np.full(len(hired), 2),
            rng.integers(1, 3, len(outs)),
        ]
    )
    dates = np.concatenate(
        [
            w.days_back(rng, 0, 180, len(returned)),
            w.days_back(rng, 0, 365, len(unemployed) + len(hired) + len(outs)),
        ]
    )
    return Facts(person, dates, {"event": Cat(EMPLOYMENT_EVENTS, event)})


# --- rendering ----------------------------------------------------------------------------


def _blank(series: pl.Series, mask: np.ndarray) -> pl.Series:
    return series.set(pl.Series(mask), None) if mask.any() else series


def _render(
    w: _World, kind: str, facts: Facts, known: np.ndarray
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = w.rng(f"{kind}.render")
    pop = w.pop
    n = len(facts)
    order = rng.permutation(n)
    order = order[np.argsort(facts.event_date[order], kind="stable")]
    person = facts.person[order]
    record_id = numbered(RECORD_PREFIX[kind], n)

    true_ids = np.concatenate([pop.id18, pop.out_id18])[person]
    names = np.concatenate([pop.name, pop.out_name])[person]
    household = w.household[person]
    in_registry = household >= 0
    household_only = np.zeros(n, dtype=bool)
    if kind in HOUSEHOLD_KINDS:
        household_only = rng.random(n) < HOUSEHOLD_ONLY_SHARE
    ids = id_noise(rng, true_ids, w.birth_year[person], known)
    shown, name_tags = name_noise(rng, codepoints(names))
    for k in ids.tags:
        ids.tags[k] &= ~household_only
    ids.matrix[household_only] = 0
    missing = ids.tags["missing_id"]
    show_person = ~household_only & (missing | (rng.random(n) < SHOW_BIRTH_SEX))
    show_village = household_only | missing | (rng.random(n) < SHOW_VILLAGE)

    sex = Cat(["F", "M"], np.concatenate([pop.male, pop.out_male])[person]).series()
    id_text = pl.Series(idnumbers.as_strings(ids.matrix)).cast(pl.String)
    columns: dict[str, pl.Series | np.ndarray] = {
        "record_id": record_id,
        "id_number": _blank(id_text, ids.matrix[:, 0] == 0),
        "name": chars_series(shown),
        "birth_date": _blank(pl.Series(w.birth[person]), ~show_person),
        "sex": _blank(sex, ~show_person),
        "village_code": _blank(
            pl.Series(w.tree.village_codes).gather(w.village[person]), ~show_village
        ),
        "event_date": facts.event_date[order],
    }
    household_ids = pop.household_id.gather(np.maximum(household, 0))
    if kind in HOUSEHOLD_KINDS:
        columns["household_id"] = _blank(household_ids, ~household_only)
    for col in OWN_COLUMNS[kind]:
        value = facts.columns[col]
        if isinstance(value, Cat):
            columns[col] = value[order].series(col)
        elif col in MONEY_CENTS:
            columns[col] = _money(pl.Series(col, value[order]))
        else:
            columns[col] = value[order]
    frame = pl.DataFrame(columns).select(feed_columns(kind))

    tags = ids.tags | name_tags
    clean = ~np.logical_or.reduce(list(tags.values()))
    noise = (
        pl.DataFrame(tags)
        .select(
            pl.concat_str(
                [pl.when(pl.col(t)).then(pl.lit(t)) for t in tags], separator=";", ignore_nulls=True
            )
        )
        .to_series()
    )
    truth = pl.DataFrame(
        {
            "kind": pl.Series([kind]).gather(np.zeros(n, dtype=np.int64)),
            "record_id": record_id,
            "person_id_number": _blank(
                pl.Series(idnumbers.as_strings(true_ids)).cast(pl.String), ~in_registry
            ),
            "household_id": _blank(household_ids, ~in_registry),
            "noise": _blank(noise, clean),
        }
    )
    return frame, truth


BUILDERS = {  # deaths first: later kinds avoid events after a death
    "deaths": _deaths,
    "medical_insurance": _medical_insurance,
    "disability": _disability,
    "school_enrolment": _school_enrolment,
    "housing": _housing,
    "water": _water,
    "vehicles": _vehicles,
    "businesses": _businesses,
    "payroll": _payroll,
    "employment": _employment,
    "disaster": _disaster,
}


def generate_feeds(
    *,
    seed: int,
    pop: Population,
    tree: AreaTree,
    as_of: date,
    feeds_per_person: float | None = None,
    on_kind: Callable[[str, pl.DataFrame], None],
) -> pl.DataFrame:
    """Render the twelve kinds one after the other, handing each to `on_kind(kind, frame)`;
    returns the ground truth of all of them. With `feeds_per_person`, extra outpatient claims
    bring the total number of records to at least that many per registry person."""
    w = _World(seed, pop, tree, as_of)
    facts = {kind: build(w) for kind, build in BUILDERS.items()}
    extra = 0
    if feeds_per_person:
        have = sum(len(f) for f in facts.values()) + len(_medical_claims(w, 0))
        extra = max(0, int(np.ceil(feeds_per_person * pop.n_persons)) - have)
    facts["medical_claims"] = _medical_claims(w, extra)
    known = np.sort(idnumbers.as_strings(np.concatenate([pop.id18, pop.out_id18])))
    truths = []
    for kind in KINDS:
        frame, truth = _render(w, kind, facts.pop(kind), known)
        on_kind(kind, frame)
        truths.append(truth)
    return pl.concat(truths)
