"""The catalogue reference in docs/<lang>/rules.md is generated and must be current."""

from __future__ import annotations

import pytest

from safetynet.policy.docs import BEGIN, DOCS_DIR, END, render_reference


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_generated_reference_is_up_to_date(lang):
    text = (DOCS_DIR / lang / "rules.md").read_text(encoding="utf-8")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block.strip() == render_reference(lang).strip(), (
        f"docs/{lang}/rules.md is stale: run `safetynet policy docs --lang {lang} --write`"
    )


def test_reference_documents_every_feature_column_and_rule():
    text = render_reference("en")
    for name in (
        "pc_month_income",
        "rigid_12m",
        "enrolled",
        "death_date",
        "id_check_ok",
        "flagged",
    ):
        assert f"| `{name}` |" in text
    for rule in ("M-INCOME", "D-AMOUNT", "T-CARE", "A-AMOUNT", "R-HARDSHIP", "Q-ID", "Q-REVIEW"):
        assert f"| {rule} |" in text
    assert "needs inputs: enrolments" in text
