"""Reads of the area tree, always through the user's scope."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Area
from .scope import scoped

PREFIX_LENGTHS = (2, 4, 6, 9, 12)


def area_path(code: str) -> list[Area]:
    """The areas from the province down to `code` (those present in the tree)."""
    prefixes = [code[:n] for n in PREFIX_LENGTHS if n <= len(code)]
    found = {a.code: a for a in Area.objects.filter(code__in=prefixes)}
    return [found[p] for p in prefixes if p in found]


def area_children(*, user, code: str | None = None) -> QuerySet[Area]:
    """The areas one level below `code` (provinces when None) that the user may see."""
    qs = Area.objects.filter(parent_id=code) if code else Area.objects.filter(parent__isnull=True)
    return scoped(user, qs).order_by("code")


def villages(*, user, under: str = "") -> QuerySet[Area]:
    """The villages in the user's scope, optionally under an area code."""
    qs = Area.objects.filter(level=Area.Level.VILLAGE, code__startswith=under)
    return scoped(user, qs).order_by("code")
