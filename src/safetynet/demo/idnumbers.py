"""Vectorised GB 11643-1999 identity numbers: generation, check characters and planted typos.

Numbers are handled as an (n, 18) matrix of ASCII bytes, so that building three million of them
or mistyping a few thousand is a handful of array operations.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)
ZERO = ord("0")


# ASCII digits of every number 0000-9999
_QUAD = np.array([[ord(c) for c in f"{i:04d}"] for i in range(10_000)], dtype=np.uint8)


def unique_sequences(
    rng: np.random.Generator, area: np.ndarray, ymd: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """Sequence codes 000-999, odd for men, unique within (area code, birth date)."""
    cell = area.astype(np.int64) * 100_000_000 + ymd
    parity = male.astype(np.int64)
    seq = rng.integers(0, 500, len(area)) * 2 + parity
    for _ in range(100):
        key = cell * 1000 + seq
        order = np.argsort(key)
        sk = key[order]
        todo = order[1:][sk[1:] == sk[:-1]]
        if len(todo) == 0:
            return seq
        seq[todo] = rng.integers(0, 500, len(todo)) * 2 + parity[todo]
    raise RuntimeError("could not find unique ID sequence codes")  # pragma: no cover


def compose(area: np.ndarray, ymd: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The (n, 18) ASCII matrix of complete numbers from area code, YYYYMMDD and sequence.

    Digits come from a lookup table of 4-digit groups, which is much faster than dividing
    millions of numbers digit by digit."""
    area = area.astype(np.int64)
    ymd = ymd.astype(np.int64)
    seq = seq.astype(np.int64)
    out = np.empty((len(area), 18), dtype=np.uint8)
    out[:, 0:2] = _QUAD[area // 10_000][:, 2:]
    out[:, 2:6] = _QUAD[area % 10_000]
    out[:, 6:10] = _QUAD[ymd // 10_000]
    out[:, 10:14] = _QUAD[ymd % 10_000]
    out[:, 14:17] = _QUAD[seq][:, 1:]
    digits = out[:, :17] - np.uint8(ZERO)
    total = np.zeros(len(area), dtype=np.int64)
    for i, w in enumerate(WEIGHTS):
        total += digits[:, i] * np.int64(w)
    out[:, 17] = CHECK_CHARS[total % 11]
    return out


def as_strings(matrix: np.ndarray) -> np.ndarray:
    """numpy bytes strings (dtype S18); shorter rows end in NUL bytes and come out shorter."""
    return np.ascontiguousarray(matrix).view("S18").ravel()


# --- planted typos ------------------------------------------------------------------------


def substitute_digit(rng: np.random.Generator, matrix: np.ndarray) -> np.ndarray:
    """Each row with one digit (positions 1-17) replaced by a different digit."""
    out = matrix.copy()
    rows = np.arange(len(out))
    pos = rng.integers(0, 17, len(out))
    old = out[rows, pos].astype(np.int64) - ZERO
    new = (old + rng.integers(1, 10, len(out))) % 10
    out[rows, pos] = (new + ZERO).astype(np.uint8)
    return out


def swap_adjacent(rng: np.random.Generator, matrix: np.ndarray) -> np.ndarray:
    """Each row with two adjacent, different characters swapped (where such a pair exists)."""
    out = matrix.copy()
    n = len(out)
    differs = out[:, :-1] != out[:, 1:]
    # a random differing pair per row: random scores, masked, argmax
    score = np.where(differs, rng.random((n, 17)), -1.0)
    pos = score.argmax(axis=1)
    ok = differs[np.arange(n), pos]
    rows = np.flatnonzero(ok)
    p = pos[ok]
    a = out[rows, p].copy()
    out[rows, p] = out[rows, p + 1]
    out[rows, p + 1] = a
    return out


def to_legacy(matrix: np.ndarray) -> np.ndarray:
    """The 15-character pre-1999 form (two-digit year, no check character), NUL-padded to 18."""
    out = np.zeros_like(matrix)
    out[:, :6] = matrix[:, :6]
    out[:, 6:15] = matrix[:, 8:17]
    return out
