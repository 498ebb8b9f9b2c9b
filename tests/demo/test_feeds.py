"""Department feeds: formats, ground truth and planted identity noise."""

from __future__ import annotations

from collections import defaultdict

import polars as pl
import yaml

from safetynet.demo.feeds import GROUND_TRUTH_COLUMNS, HOUSEHOLD_KINDS, KINDS, feed_columns
from safetynet.demo.noise import LEGACY_BEFORE_YEAR, NOISE_RATES

from .conftest import AS_OF
from .test_registry_files import check_character

OWN = {
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


def test_all_twelve_kinds_with_the_documented_columns(region):
    assert set(region.feeds) == set(KINDS) and len(KINDS) == 12
    for kind, frame in region.feeds.items():
        common = ["record_id", "id_number", "name", "birth_date", "sex", "village_code"]
        if kind in HOUSEHOLD_KINDS:
            common.append("household_id")
        assert frame.columns == feed_columns(kind) == common + ["event_date"] + OWN[kind], kind
        assert frame.height > 0, kind
        assert frame["record_id"].n_unique() == frame.height
        assert frame["name"].null_count() == 0 and frame["event_date"].null_count() == 0
        assert (frame["event_date"] <= AS_OF.isoformat()).all(), kind
        assert set(frame["sex"].drop_nulls()) <= {"M", "F"}


def test_values_are_within_their_vocabularies(region):
    f = region.feeds
    assert set(f["school_enrolment"]["stage"]) <= {"primary", "junior", "senior", "vocational"}
    assert set(f["school_enrolment"]["status"]) == {"enrolled", "dropped_out", "suspended"} or set(
        f["school_enrolment"]["status"]
    ) <= {"enrolled", "dropped_out", "suspended"}
    assert {t[-2:] for t in f["school_enrolment"]["term"]} <= {"-1", "-2"}
    assert set(f["vehicles"]["vehicle_type"]) <= {
        "car",
        "truck",
        "van",
        "motorcycle",
        "agricultural",
        "disabled_mobility",
    }
    assert set(f["businesses"]["role"]) == {"legal_rep", "shareholder"}
    assert set(f["businesses"]["status"]) <= {"active", "revoked", "cancelled"}
    assert set(f["employment"]["event"]) <= {
        "registered_unemployed",
        "returned_migrant",
        "employed",
    }
    assert set(f["housing"]["grade"]) <= {"A", "B", "C", "D"}
    assert set(f["water"]["secure"]) <= {"Y", "N"}
    claims = f["medical_claims"].with_columns(
        [
            pl.col(c).cast(pl.Decimal(14, 2))
            for c in ("total_cost", "insurance_paid", "out_of_pocket")
        ]
    )
    assert (claims["total_cost"] == claims["insurance_paid"] + claims["out_of_pocket"]).all()
    assert (claims["out_of_pocket"] >= 0).all()


def test_realistic_volumes(region):
    f = region.feeds
    persons = region.persons.height
    insured = f["medical_insurance"]
    assert insured.height >= 0.95 * persons  # everybody has an insurance record
    ill = region.persons.filter(pl.col("health").is_in(["chronic", "serious"])).height
    assert f["medical_claims"].height > ill
    disabled = region.persons.filter(pl.col("health") == "disabled").height
    assert 0.8 * disabled <= f["disability"].height <= 1.5 * disabled
    pupils = region.persons.filter(pl.col("in_school") == "Y").height
    assert f["school_enrolment"].height >= pupils
    assert f["deaths"].height >= region.persons.filter(pl.col("status") == "deceased").height * 0.5
    # feeds_per_person=4 in the fixture: at least four records per registry person
    assert sum(fr.height for fr in f.values()) >= 4 * persons


def test_ground_truth_names_every_record_and_real_people(region):
    truth = region.truth
    assert truth.columns == GROUND_TRUTH_COLUMNS
    for kind, frame in region.feeds.items():
        ids = set(truth.filter(pl.col("kind") == kind)["record_id"])
        assert ids == set(frame["record_id"]), kind
    assert truth.height == sum(f.height for f in region.feeds.values())
    people = dict(zip(region.persons["id_number"], region.persons["household_id"], strict=True))
    known = truth.filter(pl.col("person_id_number").is_not_null())
    for pid, hid in zip(known["person_id_number"], known["household_id"], strict=True):
        assert people[pid] == hid
    outsiders = truth.filter(pl.col("person_id_number").is_null())
    assert outsiders.height > 0 and outsiders["household_id"].null_count() == outsiders.height
    # household-level records given by household number point at that household
    for kind in HOUSEHOLD_KINDS:
        frame = region.feeds[kind].join(
            truth.filter(pl.col("kind") == kind), on="record_id", suffix="_true"
        )
        by_household = frame.filter(pl.col("household_id").is_not_null())
        assert by_household.height > 0
        assert (by_household["household_id"] == by_household["household_id_true"]).all()
        assert by_household["id_number"].null_count() == by_household.height


def _variants():
    from importlib import resources

    text = resources.files("safetynet.demo").joinpath("data/variants.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def test_planted_noise_is_what_the_ground_truth_says(region):
    """Every noise tag is checked against the record itself, and clean records are clean."""
    variants = _variants()
    homophones = {k: set(v) for k, v in variants["homophone"].items()}
    traditional = variants["traditional"]
    names = dict(zip(region.persons["id_number"], region.persons["name"], strict=True))
    checked = defaultdict(int)
    for kind, frame in region.feeds.items():
        rows = frame.join(region.truth.filter(pl.col("kind") == kind), on="record_id")
        for r in rows.iter_rows(named=True):
            true = r["person_id_number"]
            if true is None:
                continue
            tags = set((r["noise"] or "").split(";")) - {""}
            got = r["id_number"]
            if kind in HOUSEHOLD_KINDS and r["household_id"] is not None:
                assert got is None
            elif "missing_id" in tags:
                assert got is None and r["birth_date"] and r["sex"] and r["village_code"]
            elif "legacy_15" in tags:
                assert got == true[:6] + true[8:17]
            elif "lowercase_x" in tags:
                assert got == true[:17] + "x"
            elif "id_substitution" in tags:
                diff = [i for i in range(18) if got[i] != true[i]]
                assert len(got) == 18 and len(diff) == 1 and got[:17].isdigit()
                assert got[17] != check_character(got[:17]) or diff == [17]
            elif "id_transposition" in tags:
                diff = [i for i in range(18) if got[i] != true[i]]
                assert len(diff) == 2 and diff[1] == diff[0] + 1
                assert got[diff[0]] == true[diff[1]] and got[diff[1]] == true[diff[0]]
            else:
                assert got == true, (kind, r)
            name, real = r["name"], names[true]
            if "name_homophone" in tags:
                diff = [(a, b) for a, b in zip(real, name, strict=True) if a != b]
                assert len(diff) == 1 and diff[0][1] in homophones[diff[0][0]]
            elif "name_traditional" in tags:
                assert len(name) == len(real) and name != real
                assert all(
                    b == a or traditional.get(a) == b for a, b in zip(real, name, strict=True)
                )
            elif "name_dropped" in tags:
                assert len(name) == len(real) - 1 and name[0] == real[0]
            else:
                assert name == real, (kind, r)
            for tag in tags:
                checked[tag] += 1
    assert set(checked) == set(NOISE_RATES), checked


def test_noise_rates_are_near_their_targets(region):
    """Rates over each kind of noise's eligible records (see safetynet.demo.noise.ELIGIBLE)."""
    variants = _variants()
    hom, trad = set(variants["homophone"]), set(variants["traditional"])
    names = dict(zip(region.persons["id_number"], region.persons["name"], strict=True))
    t = region.truth.filter(pl.col("person_id_number").is_not_null())
    # household-level records given by household number carry no ID to spoil
    by_household = set()
    for kind in HOUSEHOLD_KINDS:
        f = region.feeds[kind]
        by_household |= set(f.filter(pl.col("household_id").is_not_null())["record_id"])
    t = t.filter(~pl.col("record_id").is_in(list(by_household)))
    counts = defaultdict(int)
    eligible = defaultdict(int)
    id_noise = {"missing_id", "id_substitution", "id_transposition", "legacy_15"}
    for pid, noise in zip(t["person_id_number"], t["noise"], strict=True):
        tags = set((noise or "").split(";")) - {""}
        for tag in tags:
            counts[tag] += 1
        for tag in ("missing_id", "id_substitution", "id_transposition"):
            eligible[tag] += 1
        if int(pid[6:10]) < LEGACY_BEFORE_YEAR:
            eligible["legacy_15"] += 1
        if pid.endswith("X") and not tags & id_noise:
            eligible["lowercase_x"] += 1
        name = names[pid]
        eligible["name_homophone"] += any(c in hom for c in name)
        eligible["name_traditional"] += any(c in trad for c in name)
        eligible["name_dropped"] += len(name) == 3 or (
            len(name) == 4 and name[:2] in ("欧阳", "上官")
        )
    for tag, target in NOISE_RATES.items():
        rate = counts[tag] / eligible[tag]
        assert 0.6 * target <= rate <= 1.4 * target, (tag, rate, target, counts[tag], eligible[tag])
    assert len(t) > 8000


def test_feed_facts_are_consistent_with_the_registry(region):
    p = region.persons
    deceased = set(p.filter(pl.col("status") == "deceased")["id_number"])
    truth = region.truth
    deaths = set(truth.filter(pl.col("kind") == "deaths")["person_id_number"].drop_nulls())
    assert len(deceased & deaths) >= 0.7 * len(deceased)
    for kind in ("medical_claims", "medical_insurance"):
        people = truth.filter(pl.col("kind") == kind)["person_id_number"].drop_nulls()
        assert not set(people) & deceased, kind  # nobody is treated or insured after death
    died = dict(
        truth.filter(pl.col("kind") == "deaths")
        .join(region.feeds["deaths"], on="record_id")
        .select("person_id_number", "event_date")
        .drop_nulls()
        .iter_rows()
    )
    claims = region.feeds["medical_claims"].join(truth, on="record_id")
    for pid, when in zip(claims["person_id_number"], claims["event_date"], strict=True):
        assert pid not in died or when < died[pid]
    disabled = set(p.filter(pl.col("health") == "disabled")["id_number"])
    certified = set(truth.filter(pl.col("kind") == "disability")["person_id_number"].drop_nulls())
    assert len(disabled & certified) >= 0.8 * len(disabled)
    school = region.feeds["school_enrolment"].join(truth, on="record_id")
    pupils = school.filter(pl.col("person_id_number").is_not_null())
    born = pupils["person_id_number"].str.slice(6, 8)
    assert (born >= "20000101").all()
