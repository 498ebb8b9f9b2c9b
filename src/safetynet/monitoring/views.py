"""Pages of monitoring case work. Views are thin: parse a form, call one service, render.

Every object comes through an access function of `selectors` (scope-checked: another area's
case, warning or notice is a 404); every action through `services`, whose bilingual errors are
shown on the form in `_action_error`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safetynet.core.errors import Conflict, PermissionDenied, SafetyNetError
from safetynet.core.i18n import bilingual

from . import forms, presentation, selectors, services, vocab

PAGE_SIZE = 50


def _error_status(exc: SafetyNetError) -> int:
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, Conflict):
        return 409
    return 400


def _both(exc: SafetyNetError) -> str:
    return f"{exc.zh} / {exc.en}"


# ---- warnings ----------------------------------------------------------------------------------


@login_required
def warnings(request):
    user = request.user
    statuses = [(c, bilingual(zh, en)) for c, zh, en in selectors.WARNING_STATUSES]
    form = forms.WarningFilterForm(
        request.GET or None,
        rules=selectors.warning_rule_ids(user),
        villages=selectors.villages_for(user),
        statuses=statuses,
    )
    filters = selectors.WarningFilters()
    if form.is_valid():
        filters = selectors.WarningFilters(**{k: v or "" for k, v in form.cleaned_data.items()})
        filters.status = filters.status or "open"
    page = Paginator(selectors.warnings_for(user, filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "can_dispatch": services.role_may(user, "dispatch"),
    }
    template = (
        "monitoring/_warning_list.html"
        if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "warning-list"
        else "monitoring/warnings.html"
    )
    return render(request, template, context)


@login_required
@require_POST
def warnings_dispatch(request):
    ids = request.POST.getlist("finding")
    back = request.POST.get("next") or reverse("monitoring:warnings")
    if not back.startswith("/"):
        back = reverse("monitoring:warnings")
    if not ids:
        messages.warning(request, _("Select at least one warning to dispatch."))
        return redirect(back)
    created = attached = 0
    for finding_id in ids:
        finding = selectors.access_warning(request.user, finding_id)
        try:
            _case, new = services.warning_dispatch(actor=request.user, finding=finding)
        except SafetyNetError as exc:
            if isinstance(exc, PermissionDenied):
                raise DjangoPermissionDenied(_both(exc)) from exc
            messages.error(request, _both(exc))
            return redirect(back)
        created += new
        attached += not new
    messages.success(
        request,
        _("%(created)d case(s) dispatched to the village; %(attached)d attached to open cases.")
        % {"created": created, "attached": attached},
    )
    return redirect(back)


@login_required
def warning_detail(request, finding_id):
    finding = selectors.access_warning(request.user, finding_id)
    links = list(finding.case_links.select_related("case").order_by("-id"))
    return render(
        request,
        "monitoring/warning_detail.html",
        {
            "finding": finding,
            "head": presentation.head_of(finding.household),
            "cases": [link.case for link in links],
            "can_dispatch": services.role_may(request.user, "dispatch") and finding.state == "open",
        },
    )


# ---- work lists -------------------------------------------------------------------------------


@login_required
def my_work(request):
    today = timezone.localdate()
    return render(
        request,
        "monitoring/my_work.html",
        {"items": selectors.my_work(request.user, today), "today": today},
    )


@login_required
def cases(request):
    today = timezone.localdate()
    state = request.GET.get("state", "open")
    valid = {"", "open", "monitoring"} | vocab.codes(vocab.STATES)
    if state not in valid:
        state = "open"
    overdue = request.GET.get("overdue") == "1"
    page = Paginator(
        selectors.case_list(request.user, state=state, overdue=overdue, today=today), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/cases.html",
        {
            "page": page,
            "state": state,
            "overdue": overdue,
            "states": [(c, bilingual(zh, en)) for c, zh, en in vocab.STATES],
            "counts": selectors.state_counts(request.user),
            "today": today,
            "query": query.urlencode(),
            "can_open": services.role_may(request.user, "open"),
        },
    )


@login_required
def case_new(request):
    if not services.role_may(request.user, "open"):
        raise DjangoPermissionDenied
    today = timezone.localdate()
    initial = {"household_id": request.GET.get("household", ""), "clue_date": today}
    form = forms.OpenCaseForm(request.POST or None, initial=initial)
    error = None
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            household = selectors.access_household(request.user, data["household_id"].strip())
        except Http404:
            error = "该户不存在或不在您的管辖范围内 / No such household in your area"
            status = 400
        else:
            try:
                case = services.case_open(
                    actor=request.user,
                    household=household,
                    source=data["source"],
                    clue_date=data["clue_date"],
                    note=data["note"],
                )
            except SafetyNetError as exc:
                error, status = _both(exc), _error_status(exc)
            else:
                messages.success(
                    request, _("Clue recorded; case #%(id)s opened.") % {"id": case.pk}
                )
                return redirect("monitoring:case", case_id=case.pk)
    elif request.method == "POST":
        status = 400
    return render(
        request, "monitoring/case_new.html", {"form": form, "error": error}, status=status
    )


# ---- a case -----------------------------------------------------------------------------------


@login_required
def case_detail(request, case_id):
    case = selectors.access_case(request.user, case_id)
    today = timezone.localdate()
    return render(
        request,
        "monitoring/case_detail.html",
        {
            "case": case,
            "today": today,
            "overdue": case.is_overdue(today),
            "head": presentation.head_of(case.household),
            "actions": [
                presentation.ActionLink(a, case)
                for a in selectors.allowed_actions(request.user, case)
            ],
            "findings": selectors.case_findings(case),
            "verifications": list(case.verifications.all()),
            "notices": list(case.notices.all()),
            "measures": list(case.measures.all()),
            "follow_ups": list(case.follow_ups.all()),
            "timeline": presentation.timeline_rows(selectors.timeline(case)),
            "risk_labels": [vocab.label(vocab.RISK_TYPES, r) for r in case.risk_types],
            "show_readiness": case.state == vocab.MONITORED,
        },
    )


@login_required
def case_readiness(request, case_id):
    """The elimination criteria, asked of the engine (loaded into the case page by htmx)."""
    case = selectors.access_case(request.user, case_id)
    today = timezone.localdate()
    result, error = None, None
    if case.state != vocab.MONITORED:
        error = "仅监测帮扶中的案件可核验风险消除条件 / Only cases being monitored are checked"
        return render(request, "monitoring/_readiness.html", {"case": case, "error": error})
    try:
        result = services.elimination_check(case, as_of=today)
    except SafetyNetError as exc:
        error = _both(exc)
    except ImportError:
        error = "评估引擎不可用 / The assessment engine is not available"
    return render(
        request,
        "monitoring/_readiness.html",
        {"case": case, "result": result, "error": error, "today": today},
    )


ACTION_FORMS = {
    "verify": forms.VerifyForm,
    "publish_notice": forms.NoticeForm,
    "review": forms.ReviewForm,
    "decide": forms.DecideForm,
    "close": forms.CloseForm,
    "plan_measures": forms.VersionForm,
    "deliver_measure": forms.DeliverForm,
    "follow_up": forms.FollowUpForm,
    "propose_elimination": forms.EliminationVerifyForm,
    "eliminate": forms.EliminateForm,
}


def _initial(action: str, case, today) -> dict:
    initial: dict = {"version": case.version}
    if action in ("verify", "propose_elimination"):
        initial.update(visit_date=today, income_year=today.year - 1)
        initial["members_count"] = case.household.members.filter(status="active").count()
    elif action == "publish_notice":
        initial.update(start=today)
    elif action == "follow_up":
        initial.update(visit_date=today)
    elif action == "deliver_measure":
        initial.update(delivered_on=today)
    elif action == "decide":
        initial.update(
            approve="yes",
            category=presentation.suggested_category(case),
            risk_types=presentation.suggested_risk_types(case),
        )
    elif action in ("review", "eliminate"):
        initial.update(approve="yes", method=case.elimination_method)
    return initial


def _run(action: str, *, user, case, data: dict, measures: list[dict] | None):
    common = {"actor": user, "case": case, "expected_version": data["version"]}
    if action == "verify":
        return services.case_verify(**common, **_verification_args(data))
    if action == "propose_elimination":
        return services.case_propose_elimination(
            **common, method=data["method"], **_verification_args(data)
        )
    if action == "publish_notice":
        return services.case_publish_notice(
            **common, start=data["start"], end=data["end"], appraisal=data["appraisal"]
        )
    if action == "review":
        return services.case_review(
            **common,
            approve=data["approve"] == "yes",
            opinion=data["opinion"],
            objections=data["objections"],
        )
    if action == "decide":
        return services.case_decide(
            **common,
            confirm=data["approve"] == "yes",
            category=data["category"],
            risk_types=data["risk_types"],
            note=data["note"],
        )
    if action == "close":
        return services.case_close(**common, reason=data["reason"])
    if action == "plan_measures":
        return services.case_plan_measures(**common, measures=measures or [])
    if action == "deliver_measure":
        return services.case_deliver_measure(
            **common,
            measure_id=data["measure"],
            delivered_on=data["delivered_on"],
            note=data["note"],
        )
    if action == "follow_up":
        return services.case_follow_up(
            **common,
            visit_date=data["visit_date"],
            visitors=data["visitors"],
            findings=data["findings"],
            next_visit_on=data["next_visit_on"],
        )
    if action == "eliminate":
        return services.case_eliminate(
            **common, approve=data["approve"] == "yes", method=data["method"], note=data["note"]
        )
    raise Http404


def _verification_args(data: dict) -> dict:
    return {
        "visit_date": data["visit_date"],
        "investigators": data["investigators"],
        "findings": data["findings"],
        "income_year": data["income_year"],
        "net_income": data["net_income"],
        "members_count": data["members_count"],
        "member_changes": data["member_changes"],
        "household_confirmed": data["household_confirmed"],
    }


@login_required
def case_action(request, case_id, action):
    if action not in ACTION_FORMS:
        raise Http404
    case = selectors.access_case(request.user, case_id)
    if not services.role_may(request.user, action):
        raise DjangoPermissionDenied
    today = timezone.localdate()
    form_class = ACTION_FORMS[action]
    kwargs = {}
    if action == "deliver_measure":
        kwargs["measures"] = list(case.measures.filter(state="planned"))
    post = request.POST if request.method == "POST" else None
    form = form_class(post, initial=_initial(action, case, today), **kwargs)
    formset = None
    if action == "plan_measures":
        formset = forms.MeasureFormSet(post, prefix="m", initial=[{"planned_on": today}] * 3)
    error, status = None, 200
    if request.method == "POST":
        valid = form.is_valid() and (formset is None or formset.is_valid())
        if valid:
            rows = None
            if formset is not None:
                rows = [f.cleaned_data for f in formset.forms if f.cleaned_data.get("kind")]
            try:
                _run(action, user=request.user, case=case, data=form.cleaned_data, measures=rows)
            except SafetyNetError as exc:
                error, status = _both(exc), _error_status(exc)
                case.refresh_from_db()
            else:
                zh, en = services.action_words(action)
                messages.success(request, _("Done: %(action)s") % {"action": bilingual(zh, en)})
                return redirect("monitoring:case", case_id=case.pk)
        else:
            status = 400
    elif not services.state_allows(case.state, action):
        zh, en = services.action_words(action)
        szh, sen = vocab.words(vocab.STATES, case.state)
        error, status = (
            f"案件当前为「{szh}」，不能执行「{zh}」 / '{en}' is not allowed while the case is '{sen}'",
            409,
        )
    return render(
        request,
        "monitoring/case_action.html",
        {
            "case": case,
            "action": presentation.ActionLink(action, case),
            "form": form,
            "formset": formset,
            "error": error,
            "head": presentation.head_of(case.household),
            "measures": list(case.measures.all()) if action == "plan_measures" else [],
            "risk_labels": [vocab.label(vocab.RISK_TYPES, r) for r in case.risk_types],
            "notice": selectors.current_notice(case) if action == "review" else None,
            "verification": case.verifications.order_by("-id").first()
            if action in ("decide", "eliminate", "review")
            else None,
        },
        status=status,
    )


@login_required
def notice_print(request, case_id, notice_id):
    """The printable village notice. It shows names and the period, never an ID number, a
    phone number, a bank account, health or the risk types (POLICY §1)."""
    notice = selectors.access_notice(request.user, case_id, notice_id)
    return render(request, "monitoring/notice_print.html", presentation.notice_context(notice))
