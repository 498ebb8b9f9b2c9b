"""Reads of the registry for people: search and the household profile, always through the scope."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from safetynet.areas.models import Area
from safetynet.areas.scope import scoped
from safetynet.core import idnumber
from safetynet.core.errors import NotFound

from .models import Household, Income, Person

ID_NUMBER_RE = re.compile(r"^(\d{17}[\dXx]|\d{15})$")
HOUSEHOLD_ID_RE = re.compile(r"^[A-Za-z0-9_\-]+$")
RELATION_ORDER = [
    "head",
    "spouse",
    "child",
    "child_in_law",
    "grandchild",
    "parent",
    "grandparent",
    "sibling",
    "other",
]


def classify_query(q: str) -> str:
    """What a search text looks like: 'id_number', 'household_id', 'name' or '' (empty)."""
    q = q.strip()
    if not q:
        return ""
    if ID_NUMBER_RE.match(q):
        return "id_number"
    if HOUSEHOLD_ID_RE.match(q):
        return "household_id"
    return "name"


def household_search(*, user, q: str) -> QuerySet[Household]:
    """Households in the user's scope matching a household number, an ID number or a name.

    A household number matches as a prefix (any case); an ID number exactly, in any accepted
    spelling (18 characters, lower-case x, or a legacy 15-digit number upgraded to 18); a name
    of a member from its start, else anywhere in it. Digits shaped like an ID number that begin
    household numbers are taken as a household number. An empty query lists every household
    in scope. Ordered by household number; callers page or slice.
    """
    q = (q or "").strip()[:50]
    qs = scoped(user, Household.objects.select_related("village"))
    kind = classify_query(q)
    if kind == "id_number" and qs.filter(household_id__startswith=q).exists():
        kind = "household_id"
    if kind == "id_number":
        members = Person.objects.filter(id_number=idnumber.normalize(q) or q.upper())
        qs = qs.filter(pk__in=members.values("household_id"))
    elif kind == "household_id":
        qs = qs.filter(Q(household_id__startswith=q) | Q(household_id__startswith=q.upper()))
    elif kind == "name":
        # Names from their beginning first (an index range scan); anywhere in the name only
        # when nothing starts with the text (e.g. a given name such as 秀英).
        members = scoped(user, Person.objects.filter(name__startswith=q))
        if not members.exists():
            members = scoped(user, Person.objects.filter(name__contains=q))
        qs = qs.filter(pk__in=members.values("household_id"))
    return qs.order_by("household_id")


def household_profile(*, user, household_id: str) -> dict:
    """One household with its members, incomes and the names of its areas (province → village).

    Raises NotFound for a household outside the user's scope, exactly as for one that does not
    exist: the answer must not tell that it exists elsewhere.
    """
    household = (
        scoped(user, Household.objects.select_related("village"))
        .filter(household_id=household_id)
        .first()
    )
    if household is None:
        raise NotFound(f"找不到户：{household_id}", f"household not found: {household_id}")
    members = list(Person.objects.filter(household=household))
    members.sort(
        key=lambda p: (
            RELATION_ORDER.index(p.relation) if p.relation in RELATION_ORDER else 99,
            p.pk,
        )
    )
    incomes = list(Income.objects.filter(household=household).order_by("-year"))
    code = household.village_id
    prefixes = [code[:n] for n in (2, 4, 6, 9, 12)]
    names = dict(Area.objects.filter(code__in=prefixes).values_list("code", "name"))
    return {
        "household": household,
        "members": members,
        "incomes": incomes,
        "area_path": [(c, names[c]) for c in prefixes if c in names],
    }
