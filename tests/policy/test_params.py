"""Parameters: the shipped files, resolution by area and date (POLICY §0), broken files."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from safetynet.policy.params import (
    PARAMETER_DIR,
    ParameterCatalogue,
    bind_areas,
    default_parameters,
    scenario_entries,
)
from safetynet.policy.yamlsrc import CatalogueError

D = dt.date


def test_every_policy_parameter_is_defined_with_tag_and_source():
    params = default_parameters()
    expected = {
        "monitoring.income_line",
        "monitoring.near_line_ratio",
        "monitoring.disaster_loss_ratio",
        "monitoring.income_drop_ratio",
        "monitoring.school_age",
        "monitoring.identification_days",
        "monitoring.notice_days",
        "monitoring.elimination_min_months",
        "dibao.standard",
        "dibao.employment_cost_deduction",
        "dibao.financial_asset_multiple",
        "dibao.exempt_vehicle_types",
        "dibao.extra_rates",
        "dibao.edge_multiple",
        "dibao.edge_financial_asset_multiple",
        "dibao.grace_months",
        "dibao.review_months",
        "dibao.notice_days",
        "dibao.decision_working_days",
        "tekun.elder_age",
        "tekun.minor_age",
        "tekun.basic_multiple",
        "tekun.care_monthly",
        "temporary.cap_multiple",
        "temporary.township_limit",
        "region.rural_disposable_income",
        "rigid.hardship_ratio",
    }
    assert expected <= set(params.defs)
    for p in params.defs.values():
        assert (
            p.tag in ("V", "L", "D")
            and p.source
            and p.description_zh
            and p.description_en
            and p.unit
        )
        for e in p.entries:
            assert e.published is not None and e.source and e.tag in ("V", "L", "D")


@pytest.mark.parametrize(
    ("name", "village", "day", "value"),
    [
        ("monitoring.income_line", "360827101001", D(2021, 6, 1), Decimal(6000)),
        ("monitoring.income_line", "360827101001", D(2023, 12, 31), Decimal(6900)),
        ("monitoring.income_line", "360827101001", D(2024, 1, 1), Decimal(7300)),
        ("dibao.standard", "360827101001", D(2024, 6, 30), Decimal(680)),
        ("dibao.standard", "431027102003", D(2024, 6, 30), Decimal(590)),
        ("dibao.standard", "431027102003", D(2022, 12, 31), Decimal(530)),
        ("region.rural_disposable_income", "430224001001", D(2024, 3, 1), Decimal(20921)),
    ],
)
def test_resolution_by_area_then_date(name, village, day, value):
    assert default_parameters().resolve(name, village, day).value == value


def test_no_value_before_the_first_effective_date_or_outside_the_provinces():
    params = default_parameters()
    assert params.resolve("dibao.standard", "360827101001", D(2021, 12, 31)) is None
    assert params.resolve("dibao.standard", "440000000000", D(2024, 6, 30)) is None


def test_shipped_values_and_tags_follow_policy():
    params = default_parameters()
    line_2020 = params.resolve("monitoring.income_line", "36", D(2020, 6, 1))
    assert line_2020.tag == "V" and "poverty line" in line_2020.source
    assert params.resolve("monitoring.income_line", "36", D(2024, 6, 1)).tag == "D"
    rates = params.resolve("dibao.extra_rates", "36", D(2024, 6, 1)).value
    assert rates == {
        "severe_disability": Decimal("0.2"),
        "serious_illness": Decimal("0.2"),
        "aged_70_plus": Decimal("0.1"),
        "minor_under_16": Decimal("0.1"),
    }
    assert params.resolve("dibao.exempt_vehicle_types", "36", D(2024, 6, 1)).value == (
        "motorcycle",
        "agricultural",
        "disabled_mobility",
    )
    assert params.resolve("monitoring.school_age", "36", D(2024, 6, 1)).value == {
        "min": 6,
        "max": 15,
    }


def test_precedence_village_over_township_county_province_cn_and_date_fallback():
    params = default_parameters()
    extra = [
        params.entry(parameter="dibao.standard", area="CN", start=D(2024, 1, 1), value=500),
        params.entry(parameter="dibao.standard", area="360827", start=D(2024, 1, 1), value=700),
        params.entry(parameter="dibao.standard", area="360827101", start=D(2024, 1, 1), value=710),
        params.entry(
            parameter="dibao.standard", area="360827101001", start=D(2024, 7, 1), value=720
        ),
    ]
    village = "360827101001"
    assert params.resolve("dibao.standard", village, D(2024, 6, 30), extra=extra).value == 710
    assert params.resolve("dibao.standard", village, D(2024, 7, 1), extra=extra).value == 720
    assert (
        params.resolve("dibao.standard", "360827102001", D(2024, 6, 30), extra=extra).value == 700
    )
    assert (
        params.resolve("dibao.standard", "360730101001", D(2024, 6, 30), extra=extra).value == 680
    )
    assert (
        params.resolve("dibao.standard", "440000000000", D(2024, 6, 30), extra=extra).value == 500
    )


def test_override_wins_a_tie_with_the_file_and_newer_override_wins():
    params = default_parameters()
    first = params.entry(
        parameter="dibao.standard", area="36", start=D(2024, 1, 1), value=700, override_id=1
    )
    second = params.entry(
        parameter="dibao.standard", area="36", start=D(2024, 1, 1), value=710, override_id=2
    )
    got = params.resolve("dibao.standard", "360827101001", D(2024, 6, 30), extra=[first, second])
    assert got.value == 710 and got.origin == "override"


def test_known_on_ignores_values_published_later():
    params = default_parameters()
    late = params.entry(
        parameter="dibao.standard",
        area="36",
        start=D(2024, 1, 1),
        value=700,
        published=D(2024, 9, 1),
    )
    assert params.resolve("dibao.standard", "36", D(2024, 6, 30), extra=[late]).value == 700
    assert (
        params.resolve(
            "dibao.standard", "36", D(2024, 6, 30), extra=[late], known_on=D(2024, 8, 1)
        ).value
        == 680
    )


def test_scenario_values_beat_everything_and_components_merge():
    params = default_parameters()
    entries = scenario_entries(
        params,
        {"dibao.standard": 650, "dibao.extra_rates.aged_70_plus": 0.3},
        D(2024, 6, 30),
        "360827101001",
    )
    village_override = params.entry(
        parameter="dibao.standard", area="360827101001", start=D(2024, 1, 1), value=720
    )
    resolved = params.in_force("360827101001", D(2024, 6, 30), extra=[village_override, *entries])
    assert resolved["dibao.standard"].value == 650
    assert resolved["dibao.extra_rates"].value["aged_70_plus"] == Decimal("0.3")
    assert resolved["dibao.extra_rates"].value["minor_under_16"] == Decimal("0.1")
    with pytest.raises(CatalogueError, match="unknown parameter dibao.nonsense"):
        scenario_entries(params, {"dibao.nonsense": 1}, D(2024, 6, 30), "360827101001")


def test_binding_has_one_key_per_area_code_with_values():
    binding = bind_areas(default_parameters(), D(2024, 6, 30))
    assert set(binding.keys) == {"CN", "36", "43"}
    assert binding.keys["36"]["dibao.standard"].value == 680
    assert binding.keys["CN"]["dibao.standard"] is None
    assert binding.keys["43"]["monitoring.income_line"].value == 7300


# ----------------------------------------------------------------------------- broken files


@pytest.fixture
def param_dir(tmp_path) -> Path:
    target = tmp_path / "parameters"
    shutil.copytree(PARAMETER_DIR, target)
    return target


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found: {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


BROKEN = [
    (
        "unknown key",
        "dibao.yaml",
        "    unit: yuan/person/month\n    type: decimal\n    tag: D\n",
        "    unit: yuan/person/month\n    units: yuan\n    type: decimal\n    tag: D\n",
        "units:",
        "unknown key 'units'",
    ),
    (
        "bad date",
        "dibao.yaml",
        "        2023-01-01: {value: 640",
        "        2023-13-01: {value: 640",
        "2023-13-01",
        "invalid effective date '2023-13-01'",
    ),
    (
        "duplicate entry",
        "dibao.yaml",
        "        2023-01-01: {value: 640, published: 2023-01-01}",
        "        2022-01-01: {value: 640, published: 2023-01-01}",
        "2022-01-01: {value: 640",
        "duplicate key",
    ),
    (
        "missing source",
        "rigid.yaml",
        '    source: "POLICY.md §4 rigid.hardship_ratio (demo default); S7 Art. 4 (threshold is local)"\n',
        "",
        "hardship_ratio:",
        "lacks source",
    ),
    (
        "wrong type",
        "temporary.yaml",
        "{value: 2000, published: 2018-01-23}",
        "{value: two thousand, published: 2018-01-23}",
        "two thousand",
        "expected a number",
    ),
    ("unknown tag", "rigid.yaml", "    tag: D\n", "    tag: X\n", "tag: X", "unknown tag 'X'"),
    (
        "bad area code",
        "dibao.yaml",
        '      "43":\n',
        '      "430":\n',
        '"430":',
        "invalid area code '430'",
    ),
    (
        "map key missing",
        "tekun.yaml",
        "{self_care: 160, partial: 270, full: 530}",
        "{self_care: 160, partial: 270}",
        "self_care: 160",
        "missing ['full']",
    ),
    (
        "missing publication date",
        "region.yaml",
        "2024-01-01: {value: 21358, published: 2024-01-01}",
        "2024-01-01: {value: 21358}",
        "2024-01-01: {value: 21358}",
        "published date missing",
    ),
    (
        "yaml syntax",
        "monitoring.yaml",
        "  near_line_ratio:\n",
        "  near_line_ratio: [\n",
        "near_line_ratio: [",
        "YAML syntax error",
    ),
    (
        "negative value",
        "temporary.yaml",
        "{value: 6, published: 2018-01-23}",
        "{value: -6, published: 2018-01-23}",
        "value: -6",
        "must not be negative",
    ),
    (
        "choice not allowed",
        "dibao.yaml",
        "[motorcycle, agricultural, disabled_mobility]",
        "[motorcycle, tractor]",
        "tractor",
        "values not allowed ['tractor']",
    ),
]


@pytest.mark.parametrize(
    ("label", "file", "old", "new", "needle", "message"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_parameter_files_name_file_line_and_problem(
    param_dir, label, file, old, new, needle, message
):
    path = param_dir / file
    _break(path, old, new)
    with pytest.raises(CatalogueError) as info:
        ParameterCatalogue.load(param_dir)
    err = info.value
    assert message in err.en, err.en
    assert err.file == str(path)
    expected_line = _line_of(path, needle)
    # a syntax error is reported where the parser notices it, a line or two later
    assert err.line is not None and 0 <= err.line - expected_line <= 2, (
        err.line,
        expected_line,
        err.en,
    )
    assert err.zh and err.zh != err.en
