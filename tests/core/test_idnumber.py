import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safetynet.core import gbt2260, idnumber
from safetynet.core.idnumber import (
    check_char,
    is_one_typo_apart,
    normalize,
    typo_variants,
    validate,
)


def make(first17: str) -> str:
    return first17 + check_char(first17)


def test_check_char_follows_gb11643():
    # The example number of GB 11643-1999 (Beijing Chaoyang, 1949-12-31, female).
    assert check_char("11010519491231002") == "X"
    assert check_char("36070319900101001") == make("36070319900101001")[-1]
    with pytest.raises(ValueError):
        check_char("1101051949123100")
    with pytest.raises(ValueError):
        check_char("1101051949123100A")


def test_normalize_strips_uppercases_and_upgrades_15_digits():
    assert normalize(" 11010519491231002x ") == "11010519491231002X"
    assert normalize("110105491231002") == "11010519491231002X"
    assert normalize("１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"
    assert normalize("1101051949123100") is None
    assert normalize("11010519491231002Y") is None
    assert normalize(None) is None
    # A wrong check character is kept, never corrected.
    assert normalize("110105194912310021") == "110105194912310021"


def test_validate_valid_number_fields():
    result = validate("11010519491231002x")
    assert result.valid and result.errors == []
    assert result.normalized == "11010519491231002X"
    assert result.birth_date == dt.date(1949, 12, 31)
    assert result.sex == "F"
    assert result.area_code == "110105"
    assert result.area_name == "朝阳区"
    assert result.as_json()["birth_date"] == "1949-12-31"


def test_fifteen_digit_number_is_upgraded():
    result = validate("110105491231002")
    assert result.valid
    assert result.normalized == "11010519491231002X"
    assert result.birth_date == dt.date(1949, 12, 31)


@pytest.mark.parametrize(
    ("code", "name"), [("360782", "南康市"), ("360721", "赣县"), ("360703", "南康区")]
)
def test_historical_area_codes_validate_with_their_names(code, name):
    result = validate(make(f"{code}19900101001"))
    assert result.valid, result.errors
    assert result.area_name == name
    assert result.sex == "M"


def test_bad_check_character_is_reported_not_corrected():
    good = make("36078219900101001")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    result = validate(wrong)
    assert not result.valid
    assert result.errors == ["check"]
    assert result.normalized == wrong


def test_impossible_birth_date():
    result = validate(make("36078219990230001"))
    assert result.errors == ["date"]
    assert result.birth_date is None
    future = make(f"360782{dt.date.today().year + 1}0101001")
    assert validate(future).errors == ["date"]


def test_unknown_area_length_and_characters():
    assert validate(make("99000019900101001")).errors == ["area"]
    assert validate("3607821990010100").errors == ["length"]
    assert validate("").errors == ["length"]
    result = validate("36078219900101001A")
    assert result.errors == ["characters"]
    assert result.normalized is None
    assert validate("36078219900A010012").errors == ["characters"]


def test_placeholder_numbers():
    result = validate("999999999999999999")
    assert "placeholder" in result.errors and not result.valid
    assert "placeholder" in validate(make("11111111111111111")).errors
    assert "placeholder" in validate(make("00000019900101001")).errors


def test_typo_variants_and_distance():
    number = make("36070319900101001")
    variants = typo_variants(number)
    assert number not in variants
    substituted = number[:5] + ("9" if number[5] != "9" else "8") + number[6:]
    transposed = number[:6] + number[7] + number[6] + number[8:]
    assert substituted in variants and transposed in variants
    assert number[:17] + "X" in variants or number[17] == "X"
    assert all(is_one_typo_apart(number, v) for v in variants)
    # 17 positions x 9 digits + 10 check characters + adjacent transpositions of unequal chars
    swaps = sum(number[i] != number[i + 1] for i in range(17))
    assert len(variants) == 17 * 9 + 10 + swaps
    assert not is_one_typo_apart(number, number)
    two_subs = (
        number[:15] + str((int(number[15]) + 1) % 10) + str((int(number[16]) + 1) % 10) + number[17]
    )
    assert not is_one_typo_apart(number, two_subs)
    assert not is_one_typo_apart(number, number[:-1])


def test_check_chars_vectorised():
    prefixes = ["11010519491231002", "36070319900101001", "43022419850615002"]
    result = idnumber.check_chars(prefixes)
    assert list(result) == [check_char(p) for p in prefixes]
    assert len(idnumber.check_chars(np.array(prefixes))) == 3
    with pytest.raises(ValueError):
        idnumber.check_chars(["123"])


SAMPLES = [
    "11010519491231002x",
    "110105491231002",
    "36078219900101001X",
    "360782199902300012",
    "999999999999999999",
    "abc",
    "",
    None,
    "１１０１０５１９４９１２３１００２ｘ",
    "36078219900101001A",
    "11010549123100A",
    "360782900230001",
]


def _same(raw):
    frame = idnumber.validate_many([raw])
    row = frame.row(0, named=True)
    single = validate(raw).as_json()
    single.pop("area_name")
    row["birth_date"] = row["birth_date"].isoformat() if row["birth_date"] else None
    assert row == single, raw


@pytest.mark.parametrize("raw", SAMPLES)
def test_validate_many_agrees_with_validate(raw):
    _same(raw)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="0123456789Xx ", min_size=13, max_size=19),
        st.builds(
            lambda area, y, m, d, s: make(f"{area}{y:04d}{m:02d}{d:02d}{s:03d}"),
            st.sampled_from(["360782", "360703", "110105", "990000"]),
            st.integers(1880, 2030),
            st.integers(0, 13),
            st.integers(0, 32),
            st.integers(0, 999),
        ),
    )
)
def test_validate_many_agrees_with_validate_on_generated_input(raw):
    _same(raw)


def test_validate_many_empty():
    assert idnumber.validate_many([]).height == 0


def test_area_names_by_date_and_former_codes():
    assert gbt2260.area_name("360704", dt.date(2018, 1, 1)) == "赣县区"
    assert gbt2260.area_name("130502", dt.date(2010, 1, 1)) == "桥东区"
    assert gbt2260.area_name("130502") == "襄都区"
    assert gbt2260.area_name("360721") == "赣县"
    assert gbt2260.area_name("360721", dt.date(2020, 1, 1)) == "赣县"
    assert gbt2260.area_name("360704") == "赣县区"
    assert gbt2260.area_name("000000") is None
    assert gbt2260.is_current("360703") and not gbt2260.is_current("360782")
    assert gbt2260.former_codes("360703")[:2] == ["360782", "362103"]
    assert gbt2260.former_codes("360704")[0] == "360721"
    assert gbt2260.successor_codes("360782") == ["360703"]
    assert gbt2260.display_name("360701") == "赣州市市辖区"
