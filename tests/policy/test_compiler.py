"""The compiler: exact arithmetic, date windows, parameter binding, one plan per dialect."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from safetynet.policy.catalogue import default_catalogue
from safetynet.policy.compiler import _Compiler, compile_plan, months_before
from safetynet.policy.params import bind_areas, default_parameters

D = dt.date


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2024, 6, 30), 12, D(2023, 6, 30)),
        (D(2024, 6, 30), 6, D(2023, 12, 30)),
        (D(2024, 2, 29), 12, D(2023, 2, 28)),
        (D(2024, 3, 31), 1, D(2024, 2, 29)),
        (D(2024, 8, 31), 6, D(2024, 2, 29)),
        (D(2024, 1, 15), 6, D(2023, 7, 15)),
    ],
)
def test_months_before_clamps_to_month_end(day, months, expected):
    assert months_before(day, months) == expected


def round_div_sql(cases: list[tuple[Decimal, int, int]], dialect: str) -> str:
    parts = []
    for a, b, k in cases:
        expr = _Compiler.round_div(
            exp.Cast(
                this=exp.Literal.number(format(a, "f")), to=exp.DataType.build("DECIMAL(18, 4)")
            ),
            exp.Literal.number(b),
            k,
        )
        text = "STRING" if dialect == "spark" else "VARCHAR"
        parts.append(f"SELECT CAST({expr.sql(dialect=dialect)} AS {text}) AS r")
    return " UNION ALL ".join(parts)


def expected_round(a: Decimal, b: int, k: int) -> Decimal:
    return (a / Decimal(b)).quantize(Decimal(1).scaleb(-k), rounding=ROUND_HALF_UP)


CASES = [
    (Decimal("1"), 2, 0),
    (Decimal("3"), 2, 0),
    (Decimal("-1"), 2, 0),
    (Decimal("0.005"), 1, 2),
    (Decimal("1.015"), 1, 2),
    (Decimal("-1.015"), 1, 2),
    (Decimal("8154"), 12, 0),
    (Decimal("22000"), 3, 2),
    (Decimal("16800"), 36, 2),
    (Decimal("0"), 7, 2),
    (Decimal("9999999.9999"), 7, 4),
    (Decimal("-2.5"), 1, 0),
    (Decimal("1234.5678"), 240, 3),
    # beyond 10^9 the DECIMAL path, exact to the last digit as well
    (Decimal("999999999.9999"), 1, 3),
    (Decimal("1000000000.0005"), 1, 3),
    (Decimal("-1000000000.0005"), 1, 3),
    (Decimal("4000000000.5"), 1, 0),
    (Decimal("-3999999999.25"), 2, 1),
]


def assert_round_div_exact(cases) -> None:
    rows = duckdb.sql(round_div_sql(cases, "duckdb")).fetchall()
    for (a, b, k), (got,) in zip(cases, rows, strict=True):
        assert Decimal(got) == expected_round(a, b, k), (a, b, k, got)


def round_div_cases(bound: str, max_places: int):
    """Lists of (a, b, places): |a| ≤ bound with 4 decimals, b in 1..240."""
    return st.lists(
        st.tuples(
            st.decimals(
                min_value=Decimal(f"-{bound}"),
                max_value=Decimal(bound),
                places=4,
                allow_nan=False,
                allow_infinity=False,
            ),
            st.integers(min_value=1, max_value=240),
            st.integers(min_value=0, max_value=max_places),
        ),
        min_size=1,
        max_size=25,
    )


def test_round_div_half_up_on_exact_halves():
    assert_round_div_exact(CASES)


@settings(max_examples=40, deadline=None)
@given(round_div_cases("9999999", 4))
def test_round_div_is_exact_half_up(cases):
    assert_round_div_exact(cases)


@settings(max_examples=40, deadline=None)
@given(round_div_cases("400000000000", 1))
def test_round_div_is_exact_on_both_sides_of_the_double_path(cases):
    """Below 10^9 the scaling runs in double precision, above in DECIMAL: both exact (the
    bound keeps 2 × a × 10^6 × 10^places within BIGINT)."""
    assert_round_div_exact(cases)


def test_parameters_bind_as_literals_or_case_on_area_key():
    cat = default_catalogue()
    plan = compile_plan(
        cat, bind_areas(default_parameters(), D(2024, 6, 30)), dialect="duckdb", cache=False
    )
    script = " ".join(plan.script().split())
    # the household's key: longest matching prefix, CN otherwise
    assert "SUBSTRING(t.village_code, 1, 2) IN ('36', '43')" in script
    # dibao.standard differs by province → CASE on the area key; the income line is national → a literal
    assert (
        "WHEN t.area_key IN ('36') THEN 680" in script
        and "WHEN t.area_key IN ('43') THEN 590" in script
    )
    assert "t.net_income < 7300 * t.n" in script
    # dates are literals of the as-of date and its windows
    assert "CAST('2023-06-30' AS DATE)" in script and "CAST('2023-12-30' AS DATE)" in script


def test_same_plan_for_both_dialects_without_engine_specific_syntax():
    cat = default_catalogue()
    binding = bind_areas(default_parameters(), D(2024, 6, 30))
    duck = compile_plan(cat, binding, dialect="duckdb", cache=False)
    spark = compile_plan(cat, binding, dialect="spark", cache=False)
    assert [s.name for s in duck.steps] == [s.name for s in spark.steps]
    assert list(duck.outputs) == list(spark.outputs) == ["households", "persons", "quality"]
    assert " DIV " in spark.script() and " // " not in spark.script()
    assert " // " in duck.script() and " DIV " not in duck.script()
    for text in (duck.script(), spark.script()):
        assert "QUALIFY" not in text and "AGE(" not in text.upper() and "HASH(" not in text.upper()
        assert "INTERVAL" not in text.upper()


def test_plans_are_cached_per_binding_and_dialect():
    cat = default_catalogue()
    binding = bind_areas(default_parameters(), D(2024, 6, 30))
    assert compile_plan(cat, binding) is compile_plan(cat, binding)
    assert compile_plan(cat, binding) is not compile_plan(cat, binding, dialect="spark")
    other = bind_areas(default_parameters(), D(2024, 7, 1))
    assert compile_plan(cat, other) is not compile_plan(cat, binding)


def test_unknown_dialect_is_refused():
    from safetynet.policy.compiler import CompileError

    with pytest.raises(CompileError, match="unsupported dialect"):
        compile_plan(
            default_catalogue(), bind_areas(default_parameters(), D(2024, 6, 30)), dialect="oracle"
        )
