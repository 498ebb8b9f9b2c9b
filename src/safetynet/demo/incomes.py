"""Household income records (one per household and year), whole yuan.

Wages come from the members who work (months worked times a monthly wage that depends on
migrant or local work and on the household's economic factor); farming and small business,
property income, the residents' basic pension for members aged 60+, other pensions, policy
subsidies, exempt transfers (disability subsidies, school grants), support from relatives,
education expenses of pupils and year-end financial assets are added per household. Dibao
payments are computed last for part of the households whose counted income is below the
standard, the way they would appear in a household survey.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from .base import load_yaml, stream
from .population import PARENT, TYPE_NAMES, Population

MONEY_COLUMNS = [
    "wage",
    "business_income",
    "business_cost",
    "property",
    "pension_basic",
    "pension_other",
    "assistance_received",
    "policy_subsidies",
    "exempt_transfers",
    "other_transfers",
    "education_expense",
    "financial_assets",
]
NO_INCOME_SHARE = 0.003  # households with no income record at all (data-quality finding)


def income_years(as_of: date) -> list[int]:
    return [as_of.year - 2, as_of.year - 1]


def _sum_by(hh: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(hh, weights=values, minlength=n)


def generate_incomes(
    *, seed: int, pop: Population, province: np.ndarray, as_of: date
) -> pl.DataFrame:
    """`province` is the two-digit province code (int) of every household."""
    cal = load_yaml("calibration.yaml")
    rng = stream(seed, "incomes")
    H, P = pop.n_households, pop.n_persons
    hh = pop.hh
    active = pop.active
    n_active = np.maximum(_sum_by(hh, active.astype(float), H), 1)
    econ_h = pop.econ
    econ_p = econ_h[hh]
    years = income_years(as_of)
    last = years[-1]

    wage_cal = cal["wage"]
    employed = active & (pop.employment > 0)
    rate = np.where(
        pop.employment == 2, wage_cal["migrant_median"], wage_cal["local_median"]
    ) * np.exp(rng.normal(0, wage_cal["sigma"], P) + 0.18 * econ_p)
    job_loss = employed & (pop.employment == 2) & (rng.random(P) < 0.03)
    labourers = active & (pop.labour <= 1) & (pop.age >= 16) & (pop.age <= 74)
    n_labour = _sum_by(hh, labourers.astype(float), H)
    elderly_only = _sum_by(hh, (active & (pop.age < 60)).astype(float), H) == 0
    has_parent = _sum_by(hh, (pop.relation == PARENT).astype(float), H) > 0
    severe = active & (pop.disability_grade >= 1) & (pop.disability_grade <= 2)
    mild = active & (pop.disability_grade >= 3)
    pupils = active & pop.in_school
    poor = pop.registered_poor

    # household traits that stay from year to year
    # members who do not work for a wage farm (rice, navel oranges, tea, pigs, poultry)
    n_farmers = _sum_by(hh, (labourers & (pop.employment == 0)).astype(float), H)
    farms = rng.random(H) < np.where(n_labour > 0, 0.85, 0.35)
    farm_scale = np.exp(rng.normal(np.log(4000), 0.6, H) + 0.2 * econ_h) * (1 + 2.5 * n_farmers)
    business = rng.random(H) < 0.04 * np.clip(1 + 0.5 * econ_h, 0.2, 2.5)
    business_scale = np.exp(rng.normal(np.log(60000), 0.6, H))
    rents = rng.random(H)
    rent_scale = np.where(
        rents < 0.03,
        np.exp(rng.normal(np.log(9000), 0.6, H)),
        np.exp(rng.normal(np.log(700), 0.8, H)),
    )
    has_rent = rents < 0.45
    other_pension = active & (pop.age >= 60) & ~poor[hh] & (rng.random(P) < 0.03)
    other_pension_amount = np.exp(rng.normal(np.log(32000), 0.3, P))
    # support from relatives outside the household: children of elderly couples, migrant
    # parents of left-behind grandchildren
    u = rng.random(H)
    skipped = pop.hh_type == TYPE_NAMES.index("skipped_generation")
    support = np.select(
        [skipped & (u < 0.95), elderly_only & (u < 0.9), has_parent & (u < 0.2)],
        [
            np.exp(rng.normal(np.log(12000), 0.5, H)),
            np.exp(rng.normal(np.log(10000), 0.5, H)),
            np.exp(rng.normal(np.log(1500), 0.6, H)),
        ],
        0.0,
    )
    school_cost = {
        2: (400, 1200),
        3: (800, 2000),
        4: (3000, 7000),
        5: (2000, 6000),
        6: (8000, 16000),
    }
    deduction = float(cal["dibao_employment_deduction"])
    takeup = rng.random(H) < float(cal["dibao_takeup"])

    frames = []
    for year in years:
        shift = last - year
        growth = (1 + wage_cal["growth_per_year"]) ** (-shift)
        months = np.clip(np.round(pop.work_months + rng.normal(0, 1.0, P)), 1, 12)
        if year == last:
            months = np.where(job_loss, rng.integers(1, 5, P), months)
        months = np.where(employed, months, 0)
        wage = _sum_by(hh, rate * months * growth, H)
        year_noise = np.exp(rng.normal(0, 0.12, H))
        gross_farm = np.where(farms, farm_scale * year_noise, 0.0)
        gross_biz = np.where(business, business_scale * year_noise, 0.0)
        business_income = gross_farm + gross_biz
        business_cost = gross_farm * rng.uniform(0.35, 0.6, H) + gross_biz * rng.uniform(
            0.6, 0.8, H
        )
        prop = np.where(has_rent, rent_scale * year_noise, 0.0)
        age_y = pop.age - shift
        basic = float(cal["basic_pension_monthly"][year]) * 12
        pension_basic = _sum_by(
            hh, (active & (age_y >= 60) & (pop.pension_insured != 0)) * basic, H
        )
        pension_other = _sum_by(hh, other_pension * other_pension_amount * growth, H)
        subsidies = np.where(rng.random(H) < 0.85, rng.uniform(150, 1200, H), 0.0)
        subsidies += np.where(poor & (rng.random(H) < 0.5), rng.uniform(500, 3000, H), 0.0)
        exempt = _sum_by(hh, severe * 12 * (rng.uniform(60, 100, P) + rng.uniform(60, 100, P)), H)
        exempt += _sum_by(hh, (mild & poor[hh]) * 12 * 60.0, H)
        exempt += _sum_by(hh, (pupils & poor[hh]) * rng.uniform(1000, 2500, P), H)
        other = support * year_noise
        edu = np.zeros(P)
        for level, (lo, hi) in school_cost.items():
            sel = pupils & (pop.education == level)
            edu[sel] = rng.uniform(lo, hi, int(sel.sum()))
        education_expense = _sum_by(hh, edu, H)

        # dibao for most households under the standard (counted income, POLICY §0); the paid
        # top-up is often below the full gap (income assessed higher than declared), which
        # leaves some recipients near the monitoring line, as in practice
        standard = np.array([cal["dibao_standard_monthly"][str(p)][year] for p in (36, 43)])
        std_h = np.where(province == 36, standard[0], standard[1])
        worked = _sum_by(hh, months, H)
        counted = np.maximum(
            0.0,
            wage
            - np.minimum(wage, deduction * worked)
            + business_income
            - business_cost
            + prop
            + pension_other
            + subsidies
            + other,
        )
        pc_month = counted / 12 / n_active
        gets_dibao = (pc_month < std_h) & takeup
        assistance = np.where(
            gets_dibao, (std_h - pc_month) * n_active * 12 * rng.uniform(0.55, 1.0, H), 0.0
        )

        net = (
            wage
            + business_income
            - business_cost
            + prop
            + pension_basic
            + pension_other
            + assistance
            + subsidies
            + exempt
            + other
        )
        assets = np.where(
            rng.random(H) < 0.06, 0.0, np.maximum(net, 0) * np.exp(rng.normal(np.log(0.6), 1.0, H))
        )
        values = {
            "wage": wage,
            "business_income": business_income,
            "business_cost": business_cost,
            "property": prop,
            "pension_basic": pension_basic,
            "pension_other": pension_other,
            "assistance_received": assistance,
            "policy_subsidies": subsidies,
            "exempt_transfers": exempt,
            "other_transfers": other,
            "education_expense": education_expense,
            "financial_assets": np.round(assets, -2),
        }
        frames.append(
            pl.DataFrame(
                {"household_id": pop.household_id, "year": np.full(H, year, dtype=np.int64)}
                | {k: np.round(v).astype(np.int64) for k, v in values.items()}
            ).with_row_index("_h")
        )
    # a few households have no income record at all
    keep = pl.Series(stream(seed, "incomes.missing").random(H) >= NO_INCOME_SHARE)
    out = pl.concat([f.filter(keep) for f in frames])
    return out.sort(["_h", "year"]).drop("_h")
