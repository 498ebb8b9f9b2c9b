"""The message catalogues: Chinese complete, compiled, and used by default."""

from __future__ import annotations

from pathlib import Path

from django.utils import translation

import safetynet

LOCALE = Path(safetynet.__file__).resolve().parent / "locale"


def _entries(po: Path):
    """(msgid, msgstr, flags) of every entry of a .po file written with --no-wrap."""
    entry: dict = {"flags": ""}
    for line in [*po.read_text("utf-8").splitlines(), ""]:
        if line.startswith("#,"):
            entry["flags"] = line
        elif line.startswith("msgid "):
            entry["msgid"] = line[6:].strip('"')
        elif line.startswith(("msgstr ", "msgstr[0] ")):
            entry["msgstr"] = line.split(" ", 1)[1].strip('"')
        elif not line.strip():
            if entry.get("msgid"):
                yield entry["msgid"], entry.get("msgstr", ""), entry["flags"]
            entry = {"flags": ""}


def test_every_chinese_message_is_translated_and_none_is_a_fuzzy_guess():
    entries = list(_entries(LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    assert len(entries) > 100
    untranslated = [m for m, s, _ in entries if not s]
    fuzzy = [m for m, _, f in entries if "fuzzy" in f]
    assert not untranslated, untranslated[:10]
    assert not fuzzy, fuzzy[:10]


def test_compiled_catalogues_translate_interface_strings():
    assert (LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.mo").exists(), "run `make messages`"
    with translation.override("zh-hans"):
        assert translation.gettext("Households") == "农户"
        assert translation.gettext("Village cadre") == "村干部"
    with translation.override("en"):
        assert translation.gettext("Households") == "Households"
