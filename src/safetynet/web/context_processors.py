"""Template context shared by every page: the navigation and who is signed in."""

from __future__ import annotations

import logging

from django.urls import NoReverseMatch, reverse

from . import hooks

log = logging.getLogger(__name__)


def layout(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_area_name": ""}
    items = []
    path = request.path
    for item in hooks.nav_items(user):
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            log.warning("navigation entry %s points to an unknown URL %s", item.key, item.url_name)
            continue
        active = path == url if url == "/" else path.startswith(url)
        items.append(
            {"key": item.key, "label": item.label, "url": url, "active": active, "icon": item.icon}
        )
    from .selectors import area_name

    return {"nav_items": items, "user_area_name": area_name(user.area_id)}
