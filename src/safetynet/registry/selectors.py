"""Reads of the registry for people: search and the household profile, always through the scope."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from safetynet.areas.models import Area
from safetynet.areas.scope import scoped
from safetynet.core import idnumber
from safetynet.core.errors import NotFound

from .models import Household, Income, Person

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


def household_search(*, user, q: str, limit: int = 50) -> QuerySet[Household]:
    """Households in the user's scope matching a household number, a member's name or ID number.

    A household number matches exactly or as a prefix; a name as a substring; an ID number in
    any accepted spelling (15 digits, lower-case x), exactly.
    """
    q = (q or "").strip()
    qs = scoped(user, Household.objects.select_related("village"))
    if not q:
        return qs.none()
    condition = (
        Q(household_id__iexact=q) | Q(household_id__istartswith=q) | Q(members__name__contains=q)
    )
    normalized = idnumber.normalize(q)
    if normalized:
        condition |= Q(members__id_number=normalized)
    ids = scoped(user, Household.objects.filter(condition)).values("pk").distinct()
    return qs.filter(pk__in=ids).order_by("household_id")[:limit]


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
