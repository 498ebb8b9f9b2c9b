"""Extension points of the web layer: other apps add navigation entries, household-profile
panels, dashboard panels and timeline sources here from their ``AppConfig.ready()``.

The base template and the profile page read these registries; nothing else needs to change when
an app brings its own pages. Entries are keyed, so registering the same key twice (autoreload,
tests) replaces the earlier entry instead of duplicating it.

Example, in ``monitoring/apps.py``::

    def ready(self):
        from django.utils.translation import gettext_lazy as _
        from safetynet.web import hooks

        hooks.register_nav("monitoring", _("Warnings"), "monitoring:warnings", order=20)
        hooks.register_profile_panel(
            "cases", _("Monitoring cases"), "monitoring/_profile_cases.html",
            context=lambda request, household: {"cases": ...}, order=40,
        )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

# Context functions receive (request, household) or (request,) and return template context.
ProfileContext = Callable[[Any, Any], dict]
DashboardContext = Callable[[Any], dict]


@dataclass(frozen=True)
class NavItem:
    key: str
    label: Any  # str or lazy translation
    url_name: str
    order: int = 100
    roles: frozenset[str] | None = None  # None = every signed-in role
    icon: str = ""  # a short text/emoji shown before the label on phones

    def visible_to(self, user) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return self.roles is None or user.role in self.roles or user.is_superuser


@dataclass(frozen=True)
class Panel:
    key: str
    title: Any
    template: str
    context: Callable[..., dict] | None = None
    order: int = 100
    roles: frozenset[str] | None = None

    def visible_to(self, user) -> bool:
        return self.roles is None or user.role in self.roles or user.is_superuser


@dataclass
class _Registry:
    nav: dict[str, NavItem] = field(default_factory=dict)
    profile_panels: dict[str, Panel] = field(default_factory=dict)
    dashboard_panels: dict[str, Panel] = field(default_factory=dict)
    timeline_sources: dict[str, Callable[[Any], Iterable[tuple[str, Iterable[Any]]]]] = field(
        default_factory=dict
    )


_registry = _Registry()


def _roles(roles: Iterable[str] | None) -> frozenset[str] | None:
    return frozenset(roles) if roles is not None else None


def register_nav(
    key: str,
    label,
    url_name: str,
    *,
    order: int = 100,
    roles: Iterable[str] | None = None,
    icon: str = "",
) -> None:
    """Add an entry to the main navigation. ``url_name`` is reversed without arguments."""
    _registry.nav[key] = NavItem(key, label, url_name, order, _roles(roles), icon)


def register_profile_panel(
    key: str,
    title,
    template: str,
    *,
    context: ProfileContext | None = None,
    order: int = 100,
    roles: Iterable[str] | None = None,
) -> None:
    """Add a section to the household profile.

    ``context(request, household)`` returns the template context of the panel; the household
    has already passed the user's scope check. The template receives that context plus
    ``household``, ``panel`` and ``request``.
    """
    _registry.profile_panels[key] = Panel(key, title, template, context, order, _roles(roles))


def register_dashboard_panel(
    key: str,
    title,
    template: str,
    *,
    context: DashboardContext | None = None,
    order: int = 100,
    roles: Iterable[str] | None = None,
) -> None:
    """Add a card to the area dashboard; ``context(request)`` must scope its own queries."""
    _registry.dashboard_panels[key] = Panel(key, title, template, context, order, _roles(roles))


def register_timeline_source(
    key: str, source: Callable[[Any], Iterable[tuple[str, Iterable[Any]]]]
) -> None:
    """Let the profile timeline include audit rows of an app's objects.

    ``source(household)`` yields ``(object_type, object_ids)`` pairs, e.g.
    ``("monitoring.case", [12, 15])``; audit rows with those types and ids join the timeline.
    """
    _registry.timeline_sources[key] = source


def nav_items(user) -> list[NavItem]:
    return sorted(
        (item for item in _registry.nav.values() if item.visible_to(user)),
        key=lambda i: (i.order, i.key),
    )


def profile_panels(user) -> list[Panel]:
    return sorted(
        (p for p in _registry.profile_panels.values() if p.visible_to(user)),
        key=lambda p: (p.order, p.key),
    )


def dashboard_panels(user) -> list[Panel]:
    return sorted(
        (p for p in _registry.dashboard_panels.values() if p.visible_to(user)),
        key=lambda p: (p.order, p.key),
    )


def timeline_sources() -> list[Callable[[Any], Iterable[tuple[str, Iterable[Any]]]]]:
    return list(_registry.timeline_sources.values())


def unregister(kind: str, key: str) -> None:
    """Remove an entry (tests)."""
    getattr(_registry, kind).pop(key, None)
