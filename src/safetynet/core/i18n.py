"""Bilingual labels for domain words: Chinese by default, English when the active language is en.

Domain vocabularies (relations, health, categories ...) carry both words as data, from
shared/domain/GLOSSARY.md, instead of going through message catalogues.
"""

from __future__ import annotations

from django.utils.functional import lazy
from django.utils.translation import get_language


def _pick(zh: str, en: str) -> str:
    lang = get_language() or "zh-hans"
    return en if lang.startswith("en") else zh


bilingual = lazy(_pick, str)
