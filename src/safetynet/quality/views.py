"""Pages of rectification work: the scoped list of quality findings, a finding with its
rectification history, and the assign and rectify forms."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safetynet.core.errors import Conflict, PermissionDenied, SafetyNetError
from safetynet.core.i18n import bilingual

from . import forms, selectors, services

PAGE_SIZE = 50


def _status(exc: SafetyNetError) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 409 if isinstance(exc, Conflict) else 400


@login_required
def findings(request):
    user = request.user
    filters = selectors.QualityFilters(
        check=request.GET.get("check", "")[:20],
        state=request.GET.get("state", ""),
        village=request.GET.get("village", "")[:12],
        mine=request.GET.get("mine") == "1",
    )
    page = Paginator(selectors.quality_findings(user, filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "quality/findings.html",
        {
            "page": page,
            "filters": filters,
            "checks": selectors.check_ids(user),
            "states": [(c, bilingual(zh, en)) for c, zh, en in selectors.FILTER_STATES],
            "query": query.urlencode(),
        },
    )


def _detail(request, finding, *, assign_form=None, rectify_form=None, error=None, status=200):
    rect = selectors.rectification_of(finding)
    user = request.user
    if (
        assign_form is None
        and selectors.may_assign(user)
        and (rect is None or rect.state != "verified")
    ):
        assign_form = forms.AssignForm(
            initial={"version": rect.version if rect else None},
            users=selectors.assignable_users(user, finding),
        )
    if rectify_form is None and selectors.may_rectify(user, rect):
        rectify_form = forms.RectifyForm(
            initial={"version": rect.version, "rectified_on": timezone.localdate()}
        )
    return render(
        request,
        "quality/finding.html",
        {
            "finding": finding,
            "rect": rect,
            "events": list(rect.events.select_related("actor")) if rect else [],
            "assign_form": assign_form,
            "rectify_form": rectify_form,
            "error": error,
        },
        status=status,
    )


@login_required
def finding_detail(request, finding_id):
    finding = selectors.access_quality_finding(request.user, finding_id)
    return _detail(request, finding)


@login_required
@require_POST
def finding_assign(request, finding_id):
    finding = selectors.access_quality_finding(request.user, finding_id)
    if not selectors.may_assign(request.user):
        raise DjangoPermissionDenied
    users = selectors.assignable_users(request.user, finding)
    form = forms.AssignForm(request.POST, users=users)
    if not form.is_valid():
        return _detail(request, finding, assign_form=form, status=400)
    assignee = users.filter(pk=form.cleaned_data["assignee"]).first()
    try:
        services.finding_assign(
            actor=request.user,
            finding=finding,
            assignee=assignee,
            expected_version=form.cleaned_data["version"],
            due_on=form.cleaned_data["due_on"],
            note=form.cleaned_data["note"],
        )
    except SafetyNetError as exc:
        return _detail(request, finding, assign_form=form, error=f"{exc.zh} / {exc.en}",
                       status=_status(exc))  # fmt: skip
    messages.success(request, _("Assigned."))
    return redirect("quality:finding", finding_id=finding.pk)


@login_required
@require_POST
def finding_rectify(request, finding_id):
    finding = selectors.access_quality_finding(request.user, finding_id)
    rect = selectors.rectification_of(finding)
    if rect is None:
        return _detail(
            request, finding, error="该问题尚未分派 / The finding is not assigned yet", status=409
        )
    form = forms.RectifyForm(request.POST)
    if not form.is_valid():
        return _detail(request, finding, rectify_form=form, status=400)
    try:
        services.finding_rectify(
            actor=request.user,
            rectification=rect,
            expected_version=form.cleaned_data["version"],
            action_taken=form.cleaned_data["action_taken"],
            rectified_on=form.cleaned_data["rectified_on"],
        )
    except SafetyNetError as exc:
        return _detail(request, finding, rectify_form=form, error=f"{exc.zh} / {exc.en}",
                       status=_status(exc))  # fmt: skip
    messages.success(request, _("Rectification recorded; the next screening run will verify it."))
    return redirect("quality:finding", finding_id=finding.pk)
