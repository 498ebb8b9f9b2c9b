"""Who may reveal which masked personal field (see docs/operator/web.md).

Personal data is masked on every page. A user may reveal one field of one person or household
with an explicit action, which is audited (``safetynet.web.services.personal_data_reveal``), only
when the table below allows it *and* the household is inside the user's area scope:

| field         | who may reveal                                   | why                               |
| ------------- | ------------------------------------------------ | --------------------------------- |
| id_number     | county officers                                  | confirm identity, link records    |
| phone         | village cadres, township and county officers     | arrange visits and verification   |
| bank_account  | users with the finance right (county finance)    | payment files and corrections     |
| health        | township and county officers                     | review and confirm cases          |

Administrators and regional analysts manage the system and read aggregates: they reveal nothing.
Department-feed accounts see no household at all.
"""

from __future__ import annotations

PERSON_FIELDS = ("id_number", "phone", "health")
HOUSEHOLD_FIELDS = ("phone", "bank_account")
REVEALABLE_FIELDS = frozenset(PERSON_FIELDS + HOUSEHOLD_FIELDS)

_ROLE_RULES: dict[str, frozenset[str]] = {
    "id_number": frozenset({"county"}),
    "phone": frozenset({"village", "township", "county"}),
    "health": frozenset({"township", "county"}),
}


def can_reveal(user, field: str) -> bool:
    """Whether the user's role allows revealing ``field`` at all (scope is checked separately)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if field == "bank_account":
        return bool(user.finance) and user.role == "county"
    return user.role in _ROLE_RULES.get(field, frozenset())


def revealable_fields(user) -> frozenset[str]:
    return frozenset(f for f in REVEALABLE_FIELDS if can_reveal(user, f))
