"""BASELINE ONLY — the monitoring rules (POLICY §1) as a data analyst would write them in pandas:
read the Parquet tables, merge and group by. It exists to measure SafetyNet's screen against,
in bench/screen.py; the product never uses it (the rules live once, in the rule catalogue).

Parameter values are the 2024 national defaults, written here as constants like an analyst's
notebook would; the catalogue reads them from the dated parameter files instead.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

INCOME_LINE = 7300.0
NEAR_RATIO = 1.1
DISASTER_RATIO = 0.5
DROP_RATIO = 0.3
NET_PARTS_PLUS = [
    "wage",
    "business_income",
    "property",
    "pension_basic",
    "pension_other",
    "assistance_received",
    "policy_subsidies",
    "exempt_transfers",
    "other_transfers",
]


def _months_back(d: dt.date, months: int) -> pd.Timestamp:
    return pd.Timestamp(d) - pd.DateOffset(months=months)


def _latest(df: pd.DataFrame, key: str, as_of: pd.Timestamp) -> pd.DataFrame:
    df = df[df["event_date"] <= as_of]
    return df.sort_values([key, "event_date", "record_id"]).drop_duplicates(key, keep="last")


def screen(data_dir: Path, as_of: dt.date) -> pd.DataFrame:
    """household_id, rules (sorted, ';'-joined), level, category for households with warnings."""
    D = pd.Timestamp(as_of)
    d12 = _months_back(as_of, 12)
    d6 = _months_back(as_of, 6)

    def read(name):
        return pd.read_parquet(data_dir / f"{name}.parquet")

    hh = read("households")
    p = read("persons")
    inc = read("incomes")
    for df in (p,):
        df["birth_date"] = pd.to_datetime(df["birth_date"])

    deaths = read("feed_deaths")
    deaths["event_date"] = pd.to_datetime(deaths["event_date"])
    dead = set(deaths.loc[deaths["event_date"] <= D, "id_number"])
    p["active"] = (p["status"] == "active") & ~p["id_number"].isin(dead)
    p["age"] = (
        D.year
        - p["birth_date"].dt.year
        - (
            (p["birth_date"].dt.month > D.month)
            | ((p["birth_date"].dt.month == D.month) & (p["birth_date"].dt.day > D.day))
        ).astype(int)
    )
    act = p[p["active"]].copy()
    n = act.groupby("household_id").size().rename("n")

    # income of year Y and Y-1
    for c in NET_PARTS_PLUS + ["business_cost", "education_expense"]:
        inc[c] = inc[c].astype(float)
    inc = inc[inc["year"] <= as_of.year]
    inc["net_income"] = inc[NET_PARTS_PLUS].sum(axis=1) - inc["business_cost"]
    latest = inc.sort_values(["household_id", "year"]).drop_duplicates("household_id", keep="last")
    prev = inc.merge(
        latest[["household_id", "year"]].rename(columns={"year": "y"}), on="household_id"
    )
    prev = prev[prev["year"] == prev["y"] - 1][["household_id", "net_income"]].rename(
        columns={"net_income": "net_prev"}
    )

    h = hh.merge(n, left_on="household_id", right_index=True, how="inner")
    h = h.merge(
        latest[["household_id", "net_income", "education_expense"]], on="household_id", how="left"
    )
    h = h.merge(prev, on="household_id", how="left")
    h["has_income"] = h["net_income"].notna()
    h["pc"] = h["net_income"] / h["n"]

    claims = read("feed_medical_claims")
    claims["event_date"] = pd.to_datetime(claims["event_date"])
    claims = claims[(claims["event_date"] > d12) & (claims["event_date"] <= D)]
    claims = claims[claims["id_number"].isin(act["id_number"])]
    claims["out_of_pocket"] = claims["out_of_pocket"].astype(float)
    medical = claims.groupby("household_id")["out_of_pocket"].sum().rename("medical")
    h = h.merge(medical, left_on="household_id", right_index=True, how="left")
    h["medical"] = h["medical"].fillna(0.0)
    h["rigid"] = h["medical"] + h["education_expense"].fillna(0.0)

    dis = read("feed_disaster")
    dis["event_date"] = pd.to_datetime(dis["event_date"])
    dis = dis[(dis["event_date"] > d12) & (dis["event_date"] <= D)]
    dis["loss_amount"] = dis["loss_amount"].astype(float)
    h = h.merge(
        dis.groupby("household_id")["loss_amount"].sum().rename("disaster"),
        left_on="household_id",
        right_index=True,
        how="left",
    )
    h["disaster"] = h["disaster"].fillna(0.0)

    rules: dict[str, pd.Series] = {}
    inc_ok = h["has_income"]
    rules["M-INCOME"] = inc_ok & (h["pc"] < INCOME_LINE)
    rules["M-RIGID"] = (
        inc_ok & (h["rigid"] > 0) & ((h["net_income"] - h["rigid"]) / h["n"] < INCOME_LINE)
    )
    rules["M-DISASTER"] = (
        inc_ok
        & (h["disaster"] > 0)
        & (h["disaster"] >= DISASTER_RATIO * h["net_income"].clip(lower=0))
    )
    rules["Y-NEAR"] = inc_ok & (h["pc"] >= INCOME_LINE) & (h["pc"] < NEAR_RATIO * INCOME_LINE)
    rules["Y-DROP"] = (
        inc_ok
        & (h["net_prev"] > 0)
        & (h["net_income"] / h["n"] <= (1 - DROP_RATIO) * h["net_prev"] / h["n"])
    )

    # evidence from feeds overrides the registry
    housing = read("feed_housing")
    housing["event_date"] = pd.to_datetime(housing["event_date"])
    g = _latest(housing, "household_id", D)[["household_id", "grade"]]
    h = h.merge(g, on="household_id", how="left")
    rules["M-HOUSING"] = h["grade"].fillna(h["housing_grade"]).isin(["C", "D"])
    water = read("feed_water")
    water["event_date"] = pd.to_datetime(water["event_date"])
    w = _latest(water, "household_id", D)[["household_id", "secure"]]
    h = h.merge(w, on="household_id", how="left")
    rules["M-WATER"] = ~h["secure"].astype("boolean").fillna(h["water_secure"]).astype(bool)

    ins = read("feed_medical_insurance")
    ins["event_date"] = pd.to_datetime(ins["event_date"])
    li = _latest(ins, "id_number", D)[["id_number", "insured"]]
    a = act.merge(li, on="id_number", how="left")
    a["insured_now"] = a["insured"].astype("boolean").fillna(a["medical_insured"]).astype(bool)
    rules["M-MEDINS"] = h["household_id"].isin(a.loc[~a["insured_now"], "household_id"])

    # school: latest term per county among records up to D
    sch = read("feed_school_enrolment")
    sch["event_date"] = pd.to_datetime(sch["event_date"])
    sch = sch[sch["event_date"] <= D]
    sch["county"] = sch["id_number"].str[:6]
    a["county"] = a["household_id"].map(hh.set_index("household_id")["village_code"]).str[:6]
    term = sch.groupby("county")["term"].max().rename("current_term")
    enrolled = sch.merge(term, left_on="county", right_index=True)
    enrolled = set(
        enrolled.loc[
            (enrolled["term"] == enrolled["current_term"]) & (enrolled["status"] == "enrolled"),
            "id_number",
        ]
    )
    disab = read("feed_disability")
    disab["event_date"] = pd.to_datetime(disab["event_date"])
    ld = _latest(disab, "id_number", D)[["id_number", "disability_grade"]].rename(
        columns={"disability_grade": "fgrade"}
    )
    a = a.merge(ld, on="id_number", how="left")
    a["grade_now"] = a["fgrade"].fillna(a["disability_grade"])
    kid = (a["age"] >= 6) & (a["age"] <= 15)
    has_feed = a["county"].isin(term.index)
    in_school = np.where(has_feed, a["id_number"].isin(enrolled), a["in_school"].astype(bool))
    exempt = a["grade_now"].isin([1, 2]) | (a["health"] == "serious")
    rules["M-EDU"] = h["household_id"].isin(a.loc[kid & ~in_school & ~exempt, "household_id"])

    # Y-LABOUR: deaths / severe disability certificates of members aged 16-59 in the last 12 months
    members = p[["id_number", "household_id", "birth_date"]]
    ev = pd.concat(
        [
            deaths[(deaths["event_date"] > d12) & (deaths["event_date"] <= D)][
                ["id_number", "event_date"]
            ],
            disab[
                (disab["event_date"] > d12)
                & (disab["event_date"] <= D)
                & disab["disability_grade"].isin([1, 2])
            ][["id_number", "event_date"]],
        ]
    ).merge(members, on="id_number")
    age_at = (ev["event_date"] - ev["birth_date"]).dt.days // 365.25
    rules["Y-LABOUR"] = h["household_id"].isin(
        ev.loc[(age_at >= 16) & (age_at <= 59), "household_id"]
    )

    emp = read("feed_employment")
    emp["event_date"] = pd.to_datetime(emp["event_date"])
    emp = emp[
        (emp["event_date"] > d6)
        & (emp["event_date"] <= D)
        & emp["event"].isin(["registered_unemployed", "returned_migrant"])
    ]
    rules["Y-JOBLOSS"] = h["household_id"].isin(
        emp.loc[emp["id_number"].isin(act["id_number"]), "household_id"]
    )

    fired = pd.DataFrame({k: v.to_numpy() for k, v in rules.items()}, index=h["household_id"])
    names = np.array(sorted(fired.columns))
    fired = fired[names]
    mask = fired.to_numpy()
    any_rule = mask.any(axis=1)
    red = fired[["M-INCOME", "M-RIGID", "M-DISASTER"]].any(axis=1).to_numpy()
    orange = fired[["M-EDU", "M-MEDINS", "M-HOUSING", "M-WATER"]].any(axis=1).to_numpy()
    level = np.where(red, "red", np.where(orange, "orange", "yellow"))
    category = np.where(
        ~(red | orange),
        "",
        np.where(
            h["registered_poor"].to_numpy(),
            "unstable",
            np.where(
                ~fired["M-INCOME"].to_numpy() & (fired["M-RIGID"] | fired["M-DISASTER"]).to_numpy(),
                "sudden",
                "edge",
            ),
        ),
    )
    rule_lists = [";".join(names[row]) for row in mask[any_rule]]
    return pd.DataFrame(
        {
            "household_id": h["household_id"].to_numpy()[any_rule],
            "rules": rule_lists,
            "level": level[any_rule],
            "category": category[any_rule],
        }
    ).sort_values("household_id")
