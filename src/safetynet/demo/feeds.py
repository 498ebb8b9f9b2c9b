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
from .base import age_at, date_parts, day, pick, random_days, stream
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
COMMON_COLUMNS = ["record_id", "id_number", "name", "birth_date", "sex", "village_code", "event_date"]
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
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.person)


def _concat(parts: list[Facts]) -> Facts:
    parts = [p for p in parts if len(p)]
    if not parts:
        return Facts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype="datetime64[D]"), {})
    keys = parts[0].columns.keys()
    return Facts(
        np.concatenate([p.person for p in parts]),
        np.concatenate([p.event_date for p in parts]),
        {k: np.concatenate([p.columns[k] for p in parts]) for k in keys},
    )


def _yn(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "Y", "N")


def _money(cents: np.ndarray) -> np.ndarray:
    """Decimal strings with two places from integer cents."""
    cents = cents.astype(np.int64)
    whole = (cents // 100).astype(str)
    frac = np.char.zfill((cents % 100).astype(str), 2)
    return np.strings.add(np.strings.add(whole, "."), frac)


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
        heads = np.flatnonzero(pop.relation == HEAD)
        self.head_of = np.empty(pop.n_households, dtype=np.int64)
        self.head_of[pop.hh[heads]] = heads
        county_names = np.array([c.name for c in tree.counties])
        self.county_name = county_names[tree.village_county]  # per village
        self.township_name = tree.township_names[tree.village_township]  # per village
        self.township_stem = np.array([t[:-1] for t in tree.township_names])[tree.village_township]
        self.village_stem = np.array([v[:-1] for v in tree.village_names])

    def rng(self, kind: str) -> np.random.Generator:
        return stream(self.seed, f"feeds.{kind}")

    def days_back(self, rng, lo: int, hi: int, size: int) -> np.ndarray:
        """Dates between `hi` and `lo` days before the as-of date."""
        return random_days(rng, self.d0 - np.timedelta64(hi, "D"), self.d0 - np.timedelta64(lo, "D"), size)

    def not_before_age(self, dates: np.ndarray, person: np.ndarray, years: int = 0) -> np.ndarray:
        """`dates`, moved forward where the person was younger than `years` (never past D)."""
        earliest = self.birth[person] + np.timedelta64(round(years * 365.25), "D")
        return np.minimum(np.maximum(dates, earliest), self.d0)

    def outsiders(self, rng, share: float, adult_only: bool = True) -> np.ndarray:
        pick_ = rng.random(self.O) < share
        if adult_only:
            pick_ &= self.out_age >= 18
        return self.out[pick_]


# --- the twelve kinds -----------------------------------------------------------------------


def _medical_insurance(w: _World) -> Facts:
    rng = w.rng("medical_insurance")
    pop = w.pop
    parts = []
    for year in (w.as_of.year - 1, w.as_of.year):
        start = np.datetime64(f"{year}-01-01")
        people = np.flatnonzero((pop.birth < start) & (pop.status != 4))
        if year == w.as_of.year:
            insured = pop.medical_insured[people].copy()
            lapsed = rng.random(len(people)) < 0.004  # newer than the registry
            insured &= ~lapsed
        else:
            insured = rng.random(len(people)) >= 0.03
        outs = w.outsiders(rng, 0.35)
        people = np.concatenate([people, outs])
        insured = np.concatenate([insured, rng.random(len(outs)) >= 0.03])
        parts.append(
            Facts(
                people,
                np.full(len(people), start),
                {"year": np.full(len(people), year), "insured": _yn(insured)},
            )
        )
    return _concat(parts)


def _medical_claims(w: _World, extra: int) -> Facts:
    rng = w.rng("medical_claims")
    pop = w.pop
    window = 540
    rate = np.select(
        [pop.health == 2, pop.health == 1, pop.health == 3, pop.age < 6, pop.age < 60],
        [10.0, 4.0, 2.0, 0.8, 0.3],
        0.9,
    )
    rate = np.where(pop.active, rate, 0.0)
    count = rng.poisson(rate * window / 365)
    person = np.repeat(np.arange(w.P), count)
    out_count = rng.poisson(0.5, w.O)
    person = np.concatenate([person, np.repeat(w.out, out_count), rng.choice(np.flatnonzero(pop.active), extra)])
    n = len(person)
    health = np.concatenate([pop.health, np.zeros(w.O, dtype=pop.health.dtype)])[person]
    base = len(person) - extra
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
    return Facts(
        person,
        w.not_before_age(w.days_back(rng, 0, window, n), person),
        {
            "total_cost": _money(total_c),
            "insurance_paid": _money(paid_c),
            "out_of_pocket": _money(total_c - paid_c),
            "inpatient": _yn(inpatient),
        },
    )


def _disability(w: _World) -> Facts:
    rng = w.rng("disability")
    pop = w.pop
    disabled = np.flatnonzero((pop.health == 3) & (rng.random(w.P) < 0.92))
    recent = rng.random(len(disabled)) < 0.08
    issued = np.where(
        recent,
        w.days_back(rng, 0, 365, len(disabled)),
        random_days(rng, np.datetime64("2008-01-01"), w.d0 - np.timedelta64(366, "D"), len(disabled)),
    )
    grade = pop.disability_grade[disabled].astype(np.int64)
    reassessed = rng.random(len(disabled)) < 0.05
    grade = np.where(reassessed, np.maximum(grade - 1, 1), grade)
    dtype = pop.disability_type[disabled].astype(np.int64)
    # certificates the registry does not know of yet
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
            "disability_type": DISABILITY_TYPES[np.concatenate([dtype, fresh_type])],
            "disability_grade": np.concatenate([grade, fresh_grade]),
        },
    )


def _deaths(w: _World) -> Facts:
    rng = w.rng("deaths")
    pop = w.pop
    recorded = np.flatnonzero((pop.status == 1) & (rng.random(w.P) < 0.9))
    u = rng.random(w.P)
    unrecorded = np.flatnonzero(pop.active & (((pop.age >= 70) & (u < 0.006)) | ((pop.age >= 16) & (pop.age < 70) & (u < 0.0005))))
    outs = w.outsiders(rng, 0.02)
    return Facts(
        np.concatenate([recorded, unrecorded, outs]),
        np.concatenate(
            [
                w.days_back(rng, 60, 900, len(recorded)),
                w.days_back(rng, 0, 300, len(unrecorded)),
                w.days_back(rng, 0, 700, len(outs)),
            ]
        ),
    )


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


def _school_enrolment(w: _World) -> Facts:
    rng = w.rng("school_enrolment")
    pop = w.pop
    (prev_term, prev_day), (cur_term, cur_day) = school_terms(w.as_of)
    pupils = np.flatnonzero(pop.active & pop.in_school & (pop.education >= 2) & (pop.education <= 5))
    compulsory = (pop.age[pupils] >= 6) & (pop.age[pupils] <= 15)
    u = rng.random(len(pupils))
    cur_status = np.where(compulsory & (u < 0.0025), "dropped_out", np.where(compulsory & (u < 0.004), "suspended", "enrolled"))
    was_pupil = pupils[age_at(pop.birth[pupils], prev_day) >= 6]
    # children of school age who are not enrolled: some left during the year
    out_of_school = np.flatnonzero(pop.active & ~pop.in_school & (pop.age >= 7) & (pop.age <= 15))
    left = out_of_school[rng.random(len(out_of_school)) < 0.4]
    person = np.concatenate([was_pupil, left, pupils, left])
    term = np.concatenate(
        [np.full(len(was_pupil) + len(left), prev_term), np.full(len(pupils) + len(left), cur_term)]
    )
    status = np.concatenate(
        [np.full(len(was_pupil) + len(left), "enrolled"), cur_status, np.full(len(left), "dropped_out")]
    )
    event = np.where(term == cur_term, cur_day, prev_day)
    edu = pop.education[person]
    edu = np.where(edu >= 2, edu, np.where(pop.age[person] <= 11, 2, 3))
    stage = EDUCATION[edu]
    stage = np.where(stage == "none", "primary", stage)
    v = w.village[person]
    senior_no = np.array(["第一", "第二", "第三"])[rng.integers(0, 3, len(person))]
    school = np.select(
        [stage == "primary", stage == "junior", stage == "senior"],
        [
            np.where(
                rng.random(len(person)) < 0.5,
                np.strings.add(w.township_name[v], "中心小学"),
                np.strings.add(w.village_stem[v], "小学"),
            ),
            np.strings.add(np.strings.add(w.county_name[v], w.township_stem[v]), "中学"),
            np.strings.add(np.strings.add(w.county_name[v], senior_no), "中学"),
        ],
        np.strings.add(w.county_name[v], "职业中等专业学校"),
    )
    return Facts(person, event, {"term": term, "school": school, "stage": stage, "status": status})


def _housing(w: _World) -> Facts:
    rng = w.rng("housing")
    pop = w.pop
    H = pop.n_households
    unsafe = pop.housing >= 2
    u = rng.random(H)
    surveyed = np.flatnonzero(unsafe | (u < 0.25))
    grade = np.array(["A", "B", "C", "D"])[pop.housing[surveyed]]
    dates = random_days(rng, np.datetime64("2019-01-01"), w.d0, len(surveyed))
    # houses re-assessed as unsafe after the registry was last updated
    worse = np.flatnonzero(~unsafe & (u >= 0.25) & (u < 0.254))
    return Facts(
        w.head_of[np.concatenate([surveyed, worse])],
        np.concatenate([dates, w.days_back(rng, 0, 365, len(worse))]),
        {"grade": np.concatenate([grade, np.where(rng.random(len(worse)) < 0.8, "C", "D")])},
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
        {"secure": np.concatenate([_yn(pop.water_secure[surveyed]), np.full(len(worse), "N")])},
    )


def _disaster(w: _World) -> Facts:
    rng = w.rng("disaster")
    H = w.pop.n_households
    hit = np.flatnonzero(rng.random(H) < 0.03)
    n = len(hit)
    types = np.array(["flood", "landslide", "drought", "hail", "freeze", "fire", "windstorm"])
    t = pick(rng, [0.45, 0.15, 0.1, 0.08, 0.07, 0.08, 0.07], n)
    loss = np.where(types[t] == "fire", rng.lognormal(np.log(30000), 0.8, n), rng.lognormal(np.log(3000), 1.1, n))
    loss = np.clip(np.round(loss, -1), 200, 300000).astype(np.int64)
    dates = np.where(rng.random(n) < 0.7, w.days_back(rng, 0, 365, n), w.days_back(rng, 366, 730, n))
    return Facts(w.head_of[hit], dates, {"disaster_type": types[t], "loss_amount": loss})


def _vehicles(w: _World) -> Facts:
    rng = w.rng("vehicles")
    pop = w.pop
    H = pop.n_households
    boost = np.clip(1 + 0.5 * pop.econ, 0.2, 2.5)
    shares = {"motorcycle": 0.28, "car": 0.13, "van": 0.015, "truck": 0.015, "agricultural": 0.06}
    owners, vtypes = [], []
    for vtype, share in shares.items():
        p = share * (boost if vtype in ("car", "van", "truck") else 1.0)
        hh = np.flatnonzero(rng.random(H) < p)
        owners.append(w.head_of[hh])
        vtypes.append(np.full(len(hh), vtype))
    wheelchair = np.flatnonzero((pop.health == 3) & (pop.disability_type == 4) & pop.active & (rng.random(w.P) < 0.15))
    outs = w.outsiders(rng, 0.3)
    owners += [wheelchair, outs]
    vtypes += [np.full(len(wheelchair), "disabled_mobility"), np.full(len(outs), "car")]
    person = np.concatenate(owners)
    vtype = np.concatenate(vtypes)
    registered = w.not_before_age(random_days(rng, np.datetime64("2006-01-01"), w.d0, len(person)), person, 18)
    old = registered < np.datetime64("2014-01-01")
    scrapped = rng.random(len(person)) < np.where(old, 0.35, 0.05)
    return Facts(person, registered, {"vehicle_type": vtype, "status": np.where(scrapped, "scrapped", "active")})


_INDUSTRIES = np.array(
    [
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
)


def _businesses(w: _World) -> Facts:
    rng = w.rng("businesses")
    pop = w.pop
    p = 0.02 * np.clip(1 + 0.5 * pop.econ[pop.hh], 0.2, 2.5)
    owners = np.flatnonzero(pop.active & (pop.age >= 20) & (pop.age <= 65) & (rng.random(w.P) < p))
    person = np.concatenate([owners, w.outsiders(rng, 0.1)])
    n = len(person)
    v = w.village[person]
    name = np.strings.add(
        np.strings.add(w.county_name[v], w.village_stem[v]), _INDUSTRIES[rng.integers(0, len(_INDUSTRIES), n)]
    )
    capital = np.round(np.clip(rng.lognormal(np.log(100_000), 1.2, n), 10_000, 5_000_000), -3).astype(np.int64)
    status = np.array(["active", "revoked", "cancelled"])[pick(rng, [0.75, 0.1, 0.15], n)]
    return Facts(
        person,
        w.not_before_age(random_days(rng, np.datetime64("2008-01-01"), w.d0, n), person, 18),
        {
            "enterprise_name": name,
            "role": np.where(rng.random(n) < 0.6, "legal_rep", "shareholder"),
            "registered_capital": capital,
            "status": status,
        },
    )


def _payroll(w: _World) -> Facts:
    rng = w.rng("payroll")
    pop = w.pop
    educated = pop.active & (pop.age >= 22) & (pop.age <= 59) & (pop.education >= 4)
    staff = np.flatnonzero(educated & (rng.random(w.P) < 0.08))
    outs = w.out[(w.out_age >= 22) & (w.out_age <= 60) & (rng.random(w.O) < 0.35)]
    person = np.concatenate([staff, outs])
    n = len(person)
    v = w.village[person]
    c, t = w.county_name[v], w.township_name[v]
    kind = rng.integers(0, 7, n)
    employer = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4, kind == 5],
        [
            np.strings.add(np.strings.add(c, t), "人民政府"),
            np.strings.add(np.strings.add(c, t), "中心小学"),
            np.strings.add(c, "人民医院"),
            np.strings.add(c, "公安局"),
            np.strings.add(np.strings.add(c, t), "卫生院"),
            np.strings.add(c, "第一中学"),
        ],
        np.strings.add(c, "农业农村局"),
    )
    month = np.datetime64(w.as_of.isoformat()[:7] + "-01")
    return Facts(person, np.full(n, month), {"employer": employer})


def _employment(w: _World) -> Facts:
    rng = w.rng("employment")
    pop = w.pop
    u = rng.random(w.P)
    migrants = pop.active & (pop.employment == 2)
    returned = np.flatnonzero(migrants & (u < 0.06))
    idle = pop.active & (pop.employment == 0) & (pop.labour == 0) & (pop.age >= 18) & (pop.age <= 59)
    unemployed = np.flatnonzero(idle & (u < 0.03))
    hired = np.flatnonzero(pop.active & (pop.employment > 0) & (u >= 0.9) & (u < 0.95))
    outs = w.outsiders(rng, 0.03)
    person = np.concatenate([returned, unemployed, hired, outs])
    event = np.concatenate(
        [
            np.full(len(returned), "returned_migrant"),
            np.full(len(unemployed), "registered_unemployed"),
            np.full(len(hired), "employed"),
            np.array(["registered_unemployed", "employed"])[rng.integers(0, 2, len(outs))],
        ]
    )
    dates = np.concatenate(
        [
            w.days_back(rng, 0, 180, len(returned)),
            w.days_back(rng, 0, 365, len(unemployed) + len(hired) + len(outs)),
        ]
    )
    return Facts(person, dates, {"event": event})


# --- rendering ----------------------------------------------------------------------------


def _render(w: _World, kind: str, facts: Facts, known: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = w.rng(f"{kind}.render")
    pop = w.pop
    n = len(facts)
    order = rng.permutation(n)
    order = order[np.argsort(facts.event_date[order], kind="stable")]
    person = facts.person[order]
    event = facts.event_date[order]
    record_id = np.strings.add(RECORD_PREFIX[kind], np.char.zfill((np.arange(n) + 1).astype(str), 10))

    true_ids = np.concatenate([pop.id18, pop.out_id18])[person]
    names = np.concatenate([pop.name, pop.out_name])[person]
    male = np.concatenate([pop.male, pop.out_male])[person]
    household = w.household[person]
    in_registry = household >= 0

    household_only = np.zeros(n, dtype=bool)
    if kind in HOUSEHOLD_KINDS:
        household_only = rng.random(n) < HOUSEHOLD_ONLY_SHARE
    ids = id_noise(rng, true_ids, w.birth_year[person], known)
    shown, name_tags = name_noise(rng, names)
    for k in ids.tags:
        ids.tags[k] &= ~household_only
    id_matrix = ids.matrix
    id_matrix[household_only] = 0
    missing = ids.tags["missing_id"]
    show_person = ~household_only & (missing | (rng.random(n) < SHOW_BIRTH_SEX))
    show_village = household_only | missing | (rng.random(n) < SHOW_VILLAGE)

    id_strings = pl.Series("id_number", idnumbers.as_strings(id_matrix)).cast(pl.String)
    columns: dict[str, pl.Series | np.ndarray] = {
        "record_id": record_id,
        "id_number": pl.select(pl.when(id_strings != "").then(id_strings)).to_series(),
        "name": shown,
        "birth_date": pl.Series(np.where(show_person, w.birth[person], np.datetime64("NaT"))),
        "sex": pl.Series(np.where(male, "M", "F")).set(pl.Series(~show_person), None),
        "village_code": pl.Series(w.tree.village_codes[w.village[person]]).set(pl.Series(~show_village), None),
    }
    if kind in HOUSEHOLD_KINDS:
        hid = pl.Series(pop.household_id[np.maximum(household, 0)])
        columns["household_id"] = hid.set(pl.Series(~household_only), None)
    columns["event_date"] = event
    for col in OWN_COLUMNS[kind]:
        columns[col] = facts.columns[col][order]
    frame = pl.DataFrame(columns).select(feed_columns(kind))

    tag_names = [*ids.tags, *name_tags]
    tag_masks = [*ids.tags.values(), *name_tags.values()]
    noise_cols = [pl.when(pl.Series(m)).then(pl.lit(t)) for t, m in zip(tag_names, tag_masks, strict=True)]
    truth = pl.DataFrame(
        {
            "kind": np.full(n, kind),
            "record_id": record_id,
            "person_id_number": pl.Series(idnumbers.as_strings(true_ids)).cast(pl.String).set(pl.Series(~in_registry), None),
            "household_id": pl.Series(pop.household_id[np.maximum(household, 0)]).set(pl.Series(~in_registry), None),
        }
    ).with_columns(noise=pl.concat_str(noise_cols, separator=";", ignore_nulls=True))
    truth = truth.with_columns(noise=pl.when(pl.col("noise") != "").then(pl.col("noise")))
    return frame, truth


BUILDERS = {
    "medical_insurance": _medical_insurance,
    "disability": _disability,
    "deaths": _deaths,
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
