"""The one place that decides what a user may see.

Every queryset of area-bound objects, every export and every API passes through `scoped()`;
single objects are fetched through `get_scoped_or_404()`. A user's scope is the prefix of
area codes under their area (see `User.scope_code`).
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.http import Http404

# For each model label, the path of the 12-digit village code it belongs to. Through a foreign
# key to Area, name the code field (`village__code`, not `village_id`): Django refuses
# `startswith` on a foreign key, and `village__code` reads the key column without a join.
AREA_PATHS: dict[str, str] = {
    "registry.household": "village__code",
    "registry.person": "household__village__code",
    "registry.income": "household__village__code",
    "areas.area": "code",
}


def register(model_label: str, path: str) -> None:
    """Apps register how their area-bound models reach a village code."""
    AREA_PATHS[model_label] = path


def in_scope(user, area_code: str) -> bool:
    prefix = user.scope_code
    return prefix == "" or (area_code or "").startswith(prefix)


def scoped(user, qs: QuerySet) -> QuerySet:
    label = qs.model._meta.label_lower
    try:
        path = AREA_PATHS[label]
    except KeyError as exc:  # a model nobody registered must not leak
        raise LookupError(f"no area path registered for {label}") from exc
    prefix = user.scope_code
    if prefix == "":
        return qs
    return qs.filter(**{f"{path}__startswith": prefix})


def get_scoped_or_404(user, qs: QuerySet, **lookup) -> Model:
    try:
        return scoped(user, qs).get(**lookup)
    except qs.model.DoesNotExist as exc:
        raise Http404 from exc
