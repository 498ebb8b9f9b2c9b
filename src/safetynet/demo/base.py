"""Shared helpers of the demo generator: seeded random streams, data files, date arithmetic.

Every component draws from its own stream, derived from the seed and the component's name, so
changing how one part draws never shifts the numbers of another part.
"""

from __future__ import annotations

import csv
import zlib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import polars as pl
import yaml

DAYS_PER_YEAR = 365.2425


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random generator for one named component of the generator."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))


def _data_text(name: str) -> str:
    return resources.files("safetynet.demo").joinpath("data", name).read_text("utf-8")


@cache
def load_yaml(name: str) -> Any:
    return yaml.safe_load(_data_text(name))


@cache
def load_csv(name: str) -> tuple[dict[str, str], ...]:
    return tuple(csv.DictReader(_data_text(name).splitlines()))


@cache
def reference_counties() -> tuple[dict[str, str], ...]:
    """The 23 Luoxiao counties (the same reference file `safetynet init` loads)."""
    text = (
        resources.files("safetynet.areas").joinpath("data/luoxiao_counties.csv").read_text("utf-8")
    )
    return tuple(csv.DictReader(text.splitlines()))


def day(value: date) -> np.datetime64:
    return np.datetime64(value.isoformat(), "D")


def date_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of an array of datetime64[D]."""
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    y = years.astype(np.int64) + 1970
    m = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    d = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, d


def age_at(birth: np.ndarray, when: np.datetime64 | np.ndarray, parts=None) -> np.ndarray:
    """Whole years of age at `when` (a birthday counts on the day itself).

    `parts` may give the (year, month, day) of `birth` when the caller already has them."""
    by, bm, bd = parts if parts is not None else date_parts(birth)
    wy, wm, wd = date_parts(np.asarray(when, dtype="datetime64[D]"))
    before_birthday = (wm < bm) | ((wm == bm) & (wd < bd))
    return wy - by - before_birthday.astype(np.int64)


def pick(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights."""
    p = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(p / p.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(size), side="right")


def group_rank(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2 ... within each run of equal consecutive keys (keys must be grouped)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def random_days(
    rng: np.random.Generator, start: np.datetime64, end: np.datetime64, size: int
) -> np.ndarray:
    """Uniform dates in [start, end]."""
    span = int((end - start).astype(np.int64))
    return start + rng.integers(0, span + 1, size).astype("timedelta64[D]")


class Cat:
    """A text column kept as small label list plus integer codes until it is written.

    Building millions of numpy unicode strings and handing them to polars is slow; gathering
    from a short list of labels is not. An empty label becomes an empty (null) cell."""

    def __init__(self, labels, codes: np.ndarray):
        self.labels = np.asarray(labels, dtype=str)
        self.codes = np.asarray(codes, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index) -> Cat:
        return Cat(self.labels, self.codes[index])

    @staticmethod
    def concat(parts: list[Cat]) -> Cat:
        labels, codes, offset = [], [], 0
        for part in parts:
            labels.append(part.labels)
            codes.append(part.codes + offset)
            offset += len(part.labels)
        return Cat(np.concatenate(labels), np.concatenate(codes))

    def series(self, name: str = "") -> pl.Series:
        labels = pl.Series(name, [s if s else None for s in self.labels.tolist()], dtype=pl.String)
        return labels.gather(self.codes)


def yes_no(mask: np.ndarray) -> Cat:
    return Cat(["N", "Y"], np.asarray(mask, dtype=np.int64))


def chars_series(points: np.ndarray, name: str = "") -> pl.Series:
    """Text from an (n, k) matrix of Unicode code points (0 = no character; BMP only)."""
    present = np.zeros(1 << 16, dtype=bool)
    present[points.ravel()] = True
    present[0] = True
    vocab = np.flatnonzero(present)
    index = np.zeros(1 << 16, dtype=np.int64)
    index[vocab] = np.arange(len(vocab))
    chars = pl.Series([chr(c) if c else "" for c in vocab.tolist()], dtype=pl.String)
    idx = index[points]
    parts = pl.DataFrame({f"c{k}": chars.gather(idx[:, k]) for k in range(points.shape[1])})
    return parts.select(pl.concat_str(pl.all()).alias(name)).to_series()


def numbered(prefix: str, n: int, width: int = 10) -> pl.Series:
    """prefix0000000001, prefix0000000002 ..."""
    return pl.select(
        pl.concat_str(
            pl.lit(prefix),
            (pl.int_range(1, n + 1, dtype=pl.Int64)).cast(pl.String).str.zfill(width),
        )
    ).to_series()
