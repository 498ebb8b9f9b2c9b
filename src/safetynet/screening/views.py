"""Screen runs in the browser: start one (queued for the task worker), watch its progress."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from safetynet.core.errors import SafetyNetError

from . import selectors, services
from .forms import ScreenForm


def _may_start(user) -> bool:
    return user.is_superuser or user.role in services.STARTER_ROLES


def _require_starter(user) -> None:
    if not _may_start(user):
        raise Http404


@login_required
@require_http_methods(["GET", "POST"])
def runs(request):
    _require_starter(request.user)
    form = ScreenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["area_code"].strip()
        try:
            run = services.screen_schedule(
                actor=request.user,
                as_of=form.cleaned_data["as_of"],
                engine=form.cleaned_data["engine"],
                area_codes=[code] if code else [],
                incremental=form.cleaned_data["incremental"],
            )
        except SafetyNetError as exc:
            form.add_error(None, exc.message(get_language() or "zh-hans"))
        else:
            messages.success(request, f"#{run.pk}")
            return redirect("screening:run", run_id=run.pk)
    services.mark_stale_runs()
    return render(
        request,
        "screening/runs.html",
        {"form": form, "runs": selectors.recent_runs(user=request.user, limit=30)},
    )


@login_required
@require_GET
def run_detail(request, run_id: int):
    _require_starter(request.user)
    run = selectors.run_for_user(user=request.user, run_id=run_id)
    return render(request, "screening/run.html", {"run": run})


@login_required
@require_GET
def run_progress(request, run_id: int):
    """The progress partial; htmx polls it while the run is queued or running."""
    _require_starter(request.user)
    run = selectors.run_for_user(user=request.user, run_id=run_id)
    return render(request, "screening/_progress.html", {"run": run})
