"""Linkage on a small generated region: the trained model, its reuse, and quality targets."""

from __future__ import annotations

import duckdb
import pytest

from safetynet.feeds import linkage, model, selectors, services


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from safetynet.demo.generator import generate_region

    out = tmp_path_factory.mktemp("region")
    generate_region(households=250, seed=5, out_dir=out)
    return out


def _registry(region) -> linkage.RegistryTables:
    con = duckdb.connect()
    persons = con.sql(
        f"""
        SELECT p.id_number, p.name, p.sex, CAST(p.birth_date AS DATE) AS birth_date,
               p.household_id, h.village_code
        FROM read_csv('{region}/persons.csv', all_varchar = true) p
        JOIN read_csv('{region}/households.csv', all_varchar = true) h USING (household_id)
        """
    ).to_arrow_table()
    households = con.sql(
        f"SELECT household_id, village_code "
        f"FROM read_csv('{region}/households.csv', all_varchar = true)"
    ).to_arrow_table()
    return linkage.RegistryTables(persons, households)


@pytest.mark.django_db
def test_trained_model_links_generated_feeds(region, monkeypatch, tmp_path):
    # The region is small: let it train anyway (production needs 200 pairs, 2,000 persons).
    monkeypatch.setattr(model, "MIN_LABELS", 50)
    monkeypatch.setattr(model, "MIN_REGISTRY", 500)
    monkeypatch.setattr(model, "U_MAX_PAIRS", 50_000)
    registry = _registry(region)
    first = services.feed_load(
        actor=None,
        kind="medical_insurance",
        path=region / "feeds" / "medical_insurance.csv",
        registry=registry,
    )
    assert first.link.model.source == "trained" and first.link.model.labels >= 50
    trained = first.link.model.settings["comparisons"]
    name_levels = [lv for lv in trained[0]["comparison_levels"] if not lv.get("is_null_level")]
    # exact name agreement is far likelier among matches than among random pairs
    assert name_levels[0]["m_probability"] > 0.5 > name_levels[0]["u_probability"]

    # A department that sends no ID numbers at all reuses the model trained before.
    no_ids = tmp_path / "claims-no-id.csv"
    duckdb.execute(
        f"""
        COPY (SELECT * REPLACE (NULL AS id_number)
              FROM read_csv('{region}/feeds/medical_claims.csv', all_varchar = true)
              WHERE birth_date IS NOT NULL AND village_code IS NOT NULL LIMIT 300)
        TO '{no_ids}' (FORMAT csv, HEADER true)
        """
    )
    second = services.feed_load(actor=None, kind="medical_claims", path=no_ids, registry=registry)
    assert second.link.model.source == "previous"

    report = selectors.link_quality(region / "feeds" / "ground_truth.csv")
    by_kind = {r["key"]: r for r in report["by_kind"]}
    insurance = by_kind["medical_insurance"]
    assert insurance["precision"] >= 0.995 and insurance["recall"] >= 0.98
    claims = by_kind["medical_claims"]
    assert claims["records"] == 300
    assert claims["precision"] >= 0.995 and claims["recall"] >= 0.95
    by_method = {r["key"]: r for r in report["by_method"]}
    assert by_method["exact"]["precision"] == 1.0
    assert by_method["typo"]["precision"] == 1.0
