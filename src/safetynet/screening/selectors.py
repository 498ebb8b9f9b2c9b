"""Reads of screen runs and findings, limited to what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from safetynet.areas.scope import scoped

from .models import Finding, ScreenRun


def _visible(user, run: ScreenRun) -> bool:
    if user is None:
        return True
    prefix = user.scope_code
    if prefix == "":
        return True
    return bool(run.area_codes) and all(code.startswith(prefix) for code in run.area_codes)


def recent_runs(*, user, limit: int = 20) -> list[ScreenRun]:
    """Latest runs whose whole scope lies inside the user's area (all for administrators)."""
    runs = ScreenRun.objects.order_by("-id")
    if user is not None and user.scope_code != "":
        runs = runs.filter(scope_key__startswith=user.scope_code)
    return [r for r in runs[: limit * 4] if _visible(user, r)][:limit]


def run_for_user(*, user, run_id: int) -> ScreenRun:
    try:
        run = ScreenRun.objects.get(pk=run_id)
    except ScreenRun.DoesNotExist as exc:
        raise Http404 from exc
    if not _visible(user, run):
        raise Http404
    return run


def latest_run(*, scope_key: str = "") -> ScreenRun | None:
    return (
        ScreenRun.objects.filter(scope_key=scope_key, status=ScreenRun.Status.SUCCEEDED)
        .order_by("-id")
        .first()
    )


def findings(*, user, kind: str | None = None, state: str | None = "open") -> QuerySet[Finding]:
    qs = Finding.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    return qs if user is None else scoped(user, qs)


def run_findings(*, user, run: ScreenRun, status: str) -> QuerySet[Finding]:
    """Findings of a run by comparison status: new, open (seen before and again) or resolved."""
    qs = Finding.objects.all() if user is None else scoped(user, Finding.objects.all())
    if status == "new":
        return qs.filter(first_run=run)
    if status == "open":
        return qs.raised_by(run).exclude(first_run=run)
    if status == "resolved":
        return qs.filter(resolved_run=run)
    raise ValueError(status)
