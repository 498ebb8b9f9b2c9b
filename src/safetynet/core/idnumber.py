"""Citizen identity numbers (GB 11643-1999), POLICY §7 and the Q-ID check.

18 characters: 6-digit area code (GB/T 2260, the code in force when the number was issued, so
historical codes stay valid), 8-digit birth date, 3-digit sequence (odd = male), check
character. Legacy 15-digit numbers (YYMMDD, 19YY) are upgraded to 18. A number that fails is
never corrected silently: a wrong check character stays wrong; one-character typos are offered
as linkage candidates (`typo_variants`), for a person to confirm.

Scalar functions serve forms and the CLI; `check_chars` and `validate_many` serve bulk work
(imports of hundreds of thousands of persons) without a Python loop per check.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from . import gbt2260

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = dt.date(1890, 1, 1)

# Error codes, in the order they are reported.
ERROR_CODES = ("length", "characters", "area", "date", "check", "placeholder")
ERROR_MESSAGES = {
    "length": ("长度应为18位（或旧15位）", "must have 18 characters (or legacy 15)"),
    "characters": (
        "含非法字符（前17位须为数字，末位为数字或X）",
        "bad characters (17 digits, then a digit or X)",
    ),
    "area": ("地址码不是有效的行政区划代码", "area code is not a GB/T 2260 code"),
    "date": ("出生日期无效", "birth date is not a valid date"),
    "check": ("校验码错误", "check character is wrong"),
    "placeholder": ("疑似占位号码（如999999…）", "placeholder number (e.g. 999999…)"),
}

_RE18 = re.compile(r"[0-9]{17}[0-9X]")
_RE15 = re.compile(r"[0-9]{15}")
_WEIGHTS_NP = np.array(WEIGHTS, dtype=np.int64)
_CHECK_NP = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_PLACEHOLDER_AREAS = frozenset({"000000", "999999"})


@dataclass
class IdCheck:
    input: str
    valid: bool
    normalized: str | None
    birth_date: dt.date | None
    sex: str | None  # 'M' or 'F'
    area_code: str | None
    area_name: str | None
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        """The shape of `safetynet id validate`: dates as ISO strings."""
        data = asdict(self)
        data["birth_date"] = self.birth_date.isoformat() if self.birth_date else None
        return data

    def messages(self) -> list[tuple[str, str]]:
        """(Chinese, English) message of each error."""
        return [ERROR_MESSAGES[code] for code in self.errors]


def check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    if len(first17) != 17 or not _digits(first17):
        raise ValueError(f"need 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def _clean(raw: str | None) -> str:
    if raw is None:
        return ""
    text = str(raw)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width digits and Ｘ from Chinese input
    return text.strip().upper()


def normalize(raw: str | None) -> str | None:
    """The 18-character form of a syntactically valid number, else None.

    Strips spaces, upper-cases x, upgrades 15-digit numbers (19YY, computed check character).
    Area, date and check character are not judged here, and a wrong check character is kept.
    """
    text = _clean(raw)
    if len(text) == 18 and _RE18.fullmatch(text):
        return text
    if len(text) == 15 and _RE15.fullmatch(text):
        first17 = text[:6] + "19" + text[6:]
        return first17 + check_char(first17)
    return None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _birth(digits8: str) -> dt.date | None:
    try:
        born = dt.date(int(digits8[:4]), int(digits8[4:6]), int(digits8[6:8]))
    except ValueError:
        return None
    if born < EARLIEST_BIRTH or born > dt.date.today():
        return None
    return born


def is_placeholder(number: str) -> bool:
    """999999…-style numbers entered to fill a required field (POLICY Q-ID)."""
    head = number[:17]
    return len(set(head)) == 1 or number[:6] in _PLACEHOLDER_AREAS or head.startswith("12345678")


def validate(raw: str | None) -> IdCheck:
    text = _clean(raw)
    errors: list[str] = []
    normalized: str | None = None
    if len(text) == 18:
        body = text
        if not _RE18.fullmatch(text):
            errors.append("characters")
        else:
            normalized = text
    elif len(text) == 15:
        if _RE15.fullmatch(text):
            normalized = normalize(text)
            body = normalized
        else:
            errors.append("characters")
            body = text[:6] + "19" + text[6:] + "?"
    else:
        errors.append("length")
        body = ""

    area_code = birth_date = sex = area_name = None
    if body:
        if _digits(body[:6]):
            area_code = body[:6]
            if gbt2260.is_known(area_code):
                area_name = gbt2260.display_name(area_code)
            else:
                errors.append("area")
        else:
            # characters already reported
            pass
        if _digits(body[6:14]):
            birth_date = _birth(body[6:14])
            if birth_date is None:
                errors.append("date")
        if _digits(body[16]):
            sex = "M" if int(body[16]) % 2 else "F"
        if normalized is not None and check_char(normalized[:17]) != normalized[17]:
            errors.append("check")
        if _digits(body[:17]) and is_placeholder(body):
            errors.append("placeholder")
    errors.sort(key=ERROR_CODES.index)
    return IdCheck(
        input="" if raw is None else str(raw),
        valid=not errors,
        normalized=normalized,
        birth_date=birth_date,
        sex=sex,
        area_code=area_code,
        area_name=area_name,
        errors=errors,
    )


def is_valid(raw: str | None) -> bool:
    return validate(raw).valid


# --- typos, for linkage candidates ---------------------------------------------------------


def typo_variants(number18: str) -> set[str]:
    """Every number one substituted character or one adjacent transposition away.

    Position 18 may take X; the others take digits. The number itself is not included.
    """
    variants: set[str] = set()
    chars = list(number18)
    for i, original in enumerate(chars):
        alphabet = "0123456789X" if i == 17 else "0123456789"
        for c in alphabet:
            if c != original:
                variants.add("".join(chars[:i]) + c + "".join(chars[i + 1 :]))
    for i in range(len(chars) - 1):
        if chars[i] != chars[i + 1]:
            swapped = chars.copy()
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            variants.add("".join(swapped))
    return variants


def is_one_typo_apart(a: str, b: str) -> bool:
    """True when b is one substitution or one adjacent transposition from a (a != b)."""
    if len(a) != len(b) or a == b:
        return False
    diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diffs) == 1:
        return True
    return (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and a[diffs[0]] == b[diffs[1]]
        and a[diffs[1]] == b[diffs[0]]
    )


# --- bulk ------------------------------------------------------------------------------------


def check_chars(first17: Sequence[str] | np.ndarray | pl.Series) -> np.ndarray:
    """Check characters of many 17-digit prefixes at once (array of 1-character strings).

    Every element must be exactly 17 ASCII digits; use `validate_many` for raw input.
    """
    values = list(first17) if not isinstance(first17, list) else first17
    if not values:
        return np.array([], dtype="<U1")
    blob = "".join(values).encode("ascii")
    if len(blob) != 17 * len(values):
        raise ValueError("every prefix must have 17 characters")
    digits = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 17).astype(np.int64) - 48
    if digits.min() < 0 or digits.max() > 9:
        raise ValueError("prefixes must be digits")
    codes = _CHECK_NP[(digits @ _WEIGHTS_NP) % 11]
    return codes.view("S1").astype("<U1")


def _known_list() -> list[str]:
    return sorted(gbt2260.known_codes())


def validate_many(values: Iterable[str | None]) -> pl.DataFrame:
    """Validate many numbers at once; the same verdicts as `validate`, as a DataFrame.

    Columns: input, normalized, valid, birth_date (Date), sex, area_code, errors (list of codes,
    in the order of ERROR_CODES). Area names are left to `gbt2260.display_name` on demand.
    """
    raw = ["" if v is None else str(v) for v in values]
    cleaned = [_clean(v) for v in raw]
    n = len(cleaned)
    df = pl.DataFrame(
        {"input": raw, "text": cleaned}, schema={"input": pl.String, "text": pl.String}
    )
    if n == 0:
        return df.drop("text").with_columns(
            pl.lit(None, pl.String).alias("normalized"),
            pl.lit(None, pl.Boolean).alias("valid"),
            pl.lit(None, pl.Date).alias("birth_date"),
            pl.lit(None, pl.String).alias("sex"),
            pl.lit(None, pl.String).alias("area_code"),
            pl.lit(None, pl.List(pl.String)).alias("errors"),
        )
    text = pl.col("text")
    length = text.str.len_chars()
    df = df.with_columns(
        is18=(length == 18) & text.str.contains(r"^[0-9]{17}[0-9X]$"),
        is15=(length == 15) & text.str.contains(r"^[0-9]{15}$"),
        bad_len=~length.is_in([15, 18]),
    )
    df = df.with_columns(
        first17=pl.when(pl.col("is18"))
        .then(text.str.slice(0, 17))
        .when(pl.col("is15"))
        .then(text.str.slice(0, 6) + pl.lit("19") + text.str.slice(6, 9))
        .otherwise(pl.lit("0" * 17)),
        # The 18-character layout of whatever was given (15-digit input gets its century).
        body=pl.when(length == 15)
        .then(text.str.slice(0, 6) + pl.lit("19") + text.str.slice(6, 9) + pl.lit("?"))
        .otherwise(text),
    )
    computed = pl.Series("computed", check_chars(df["first17"].to_list()), dtype=pl.String)
    df = df.with_columns(computed)
    body = pl.col("body")
    today = dt.date.today()
    df = df.with_columns(
        normalized=pl.when(pl.col("is18"))
        .then(text)
        .when(pl.col("is15"))
        .then(pl.col("first17") + pl.col("computed")),
        area_code=pl.when(
            ~pl.col("bad_len") & body.str.slice(0, 6).str.contains(r"^[0-9]{6}$")
        ).then(body.str.slice(0, 6)),
        birth_date=pl.when(~pl.col("bad_len") & body.str.slice(6, 8).str.contains(r"^[0-9]{8}$"))
        .then(body.str.slice(6, 8).str.to_date("%Y%m%d", strict=False))
        .otherwise(None),
        date_digits=~pl.col("bad_len") & body.str.slice(6, 8).str.contains(r"^[0-9]{8}$"),
        sex=pl.when(~pl.col("bad_len") & body.str.slice(16, 1).str.contains(r"^[0-9]$")).then(
            pl.when(body.str.slice(16, 1).cast(pl.Int32, strict=False) % 2 == 1)
            .then(pl.lit("M"))
            .otherwise(pl.lit("F"))
        ),
    )
    df = df.with_columns(
        birth_date=pl.when(
            (pl.col("birth_date") >= EARLIEST_BIRTH) & (pl.col("birth_date") <= today)
        ).then(pl.col("birth_date"))
    )
    head17 = body.str.slice(0, 17)
    digits17 = ~pl.col("bad_len") & head17.str.contains(r"^[0-9]{17}$")
    same_digit = pl.lit(False)
    for d in "0123456789":
        same_digit = same_digit | (head17 == d * 17)
    flags = {
        "length": pl.col("bad_len"),
        "characters": ~pl.col("bad_len") & ~pl.col("is18") & ~pl.col("is15"),
        "area": pl.col("area_code").is_not_null() & ~pl.col("area_code").is_in(_known_list()),
        "date": pl.col("date_digits") & pl.col("birth_date").is_null(),
        "check": pl.col("is18") & (text.str.slice(17, 1) != pl.col("computed")),
        "placeholder": digits17
        & (
            same_digit
            | body.str.slice(0, 6).is_in(list(_PLACEHOLDER_AREAS))
            | head17.str.starts_with("12345678")
        ),
    }
    df = df.with_columns(
        errors=pl.concat_list(
            [
                pl.when(flag).then(pl.lit([code])).otherwise(pl.lit([], pl.List(pl.String)))
                for code, flag in flags.items()
            ]
        )
    )
    df = df.with_columns(valid=pl.col("errors").list.len() == 0)
    return df.select("input", "normalized", "valid", "birth_date", "sex", "area_code", "errors")
