"""Planted noise of department feeds: how real departments get identity wrong.

ID numbers go missing (the record then carries name, birth date, sex and village instead), get
a digit mistyped or two neighbouring characters swapped, arrive in the 15-character pre-1999
form, or end in a lower-case x. Names arrive with a homophone character (typed by pinyin), in
traditional characters, or with a character dropped. Each record's noise is named in the
ground-truth file so that linkage can be measured against it.

The rates are exact marginal probabilities over their eligible records (see `ELIGIBLE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from . import idnumbers
from .base import load_yaml
from .names import surname_table

NOISE_RATES = {
    "missing_id": 0.04,
    "id_substitution": 0.015,
    "id_transposition": 0.01,
    "legacy_15": 0.05,
    "lowercase_x": 0.35,
    "name_homophone": 0.015,
    "name_traditional": 0.01,
    "name_dropped": 0.006,
}
ELIGIBLE = {
    "missing_id": "every record naming a person",
    "id_substitution": "every record naming a person",
    "id_transposition": "every record naming a person",
    "legacy_15": "records of people born before 1985",
    "lowercase_x": "records whose number ends in X and has no other ID noise",
    "name_homophone": "names with a character that has a listed homophone",
    "name_traditional": "names with a character that has a traditional form",
    "name_dropped": "names of three or more characters with a two-character given name",
}
LEGACY_BEFORE_YEAR = 1985


@dataclass
class IdNoise:
    matrix: np.ndarray  # (n, 18) ASCII, NUL-padded where shorter or missing
    tags: dict[str, np.ndarray]  # noise name -> bool per record


def id_noise(
    rng: np.random.Generator, true_ids: np.ndarray, birth_year: np.ndarray, known: np.ndarray
) -> IdNoise:
    """Apply ID noise to `true_ids` (n, 18). `known` holds every real number (S18, sorted) so a
    typo never turns one person's number into another's."""
    n = len(true_ids)
    out = true_ids.copy()
    u = rng.random(n)
    r = NOISE_RATES
    c1 = r["missing_id"]
    c2 = c1 + r["id_substitution"]
    c3 = c2 + r["id_transposition"]
    missing = u < c1
    subst = (u >= c1) & (u < c2)
    swap = (u >= c2) & (u < c3)
    legacy = (
        (rng.random(n) < r["legacy_15"])
        & (birth_year < LEGACY_BEFORE_YEAR)
        & ~(missing | subst | swap)
    )

    for mask, fn in ((subst, idnumbers.substitute_digit), (swap, idnumbers.swap_adjacent)):
        rows = np.flatnonzero(mask)
        if len(rows):
            typed = fn(rng, out[rows])
            changed = (typed != out[rows]).any(axis=1)
            as_s = idnumbers.as_strings(typed)
            pos = np.searchsorted(known, as_s)
            clash = known[np.minimum(pos, len(known) - 1)] == as_s
            ok = changed & ~clash
            out[rows[ok]] = typed[ok]
            mask[rows[~ok]] = False
    lower = (
        ~(missing | subst | swap | legacy)
        & (out[:, 17] == ord("X"))
        & (rng.random(n) < r["lowercase_x"])
    )
    out[lower, 17] = ord("x")
    out[legacy] = idnumbers.to_legacy(out[legacy])
    out[missing] = 0
    return IdNoise(
        out,
        {
            "missing_id": missing,
            "id_substitution": subst,
            "id_transposition": swap,
            "legacy_15": legacy,
            "lowercase_x": lower,
        },
    )


@cache
def _variant_tables():
    """Dense lookup tables over the Basic Multilingual Plane: code point -> alternatives."""
    data = load_yaml("variants.yaml")
    hom_first = np.full(1 << 16, -1, dtype=np.int64)  # index of the first alternative
    hom_count = np.zeros(1 << 16, dtype=np.int64)
    flat: list[int] = []
    for char, alternatives in sorted(data["homophone"].items()):
        hom_first[ord(char)] = len(flat)
        hom_count[ord(char)] = len(alternatives)
        flat.extend(ord(a) for a in alternatives)
    traditional = np.zeros(1 << 16, dtype=np.uint32)
    for simple, trad in data["traditional"].items():
        traditional[ord(simple)] = ord(trad)
    surnames, _ = surname_table()
    compound = np.array([[ord(c) for c in s] for s in surnames if len(s) == 2], dtype=np.uint32)
    return hom_first, hom_count, np.array(flat, dtype=np.uint32), traditional, compound


def name_noise(
    rng: np.random.Generator, points: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Name variants on an (n, 4) matrix of code points; a dropped character leaves a 0."""
    hom_first, hom_count, flat, traditional, compound = _variant_tables()
    n = len(points)
    cp = points.copy()
    hom_hit = hom_count[cp] > 0
    trad_hit = traditional[cp] > 0
    length = (cp != 0).sum(axis=1)
    two_char_surname = np.zeros(n, dtype=bool)
    for a, b in compound:
        two_char_surname |= (cp[:, 0] == a) & (cp[:, 1] == b)
    surname_len = 1 + two_char_surname
    droppable = length - surname_len == 2

    r = NOISE_RATES
    w = rng.random(n)
    c1 = r["name_homophone"]
    c2 = c1 + r["name_traditional"]
    c3 = c2 + r["name_dropped"]
    homophone = (w < c1) & hom_hit.any(axis=1)
    traditional_rows = (w >= c1) & (w < c2) & trad_hit.any(axis=1)
    dropped = (w >= c2) & (w < c3) & droppable

    rows = np.flatnonzero(homophone)
    if len(rows):
        score = np.where(hom_hit[rows], rng.random((len(rows), cp.shape[1])), -1.0)
        col = score.argmax(axis=1)
        old = cp[rows, col]
        cp[rows, col] = flat[hom_first[old] + rng.integers(0, 1 << 30, len(rows)) % hom_count[old]]
    rows = np.flatnonzero(traditional_rows)
    if len(rows):
        sub = cp[rows]
        cp[rows] = np.where(trad_hit[rows], traditional[sub], sub)
    rows = np.flatnonzero(dropped)
    if len(rows):
        cp[rows, surname_len[rows] + rng.integers(0, 2, len(rows))] = 0
    return cp, {
        "name_homophone": homophone,
        "name_traditional": traditional_rows,
        "name_dropped": dropped,
    }
