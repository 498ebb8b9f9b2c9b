"""Pages of the assistance programmes. Thin: a form validates types, one service acts, render.

Every object is read through `selectors` (the user's area scope); out-of-scope objects are 404.
Expected errors (`SafetyNetError`) are shown in the active language and change nothing.
"""

from __future__ import annotations

import datetime as dt
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from safetynet.core.errors import NotFound, SafetyNetError

from . import clocks, forms, rolls, selectors, services
from .models import Application, RollLine
from .procedure import clocks_for, current_step

PAGE_SIZE = 50


def _msg(exc: SafetyNetError) -> str:
    return exc.message(get_language() or "zh-hans")


def _scoped_or_404(fn):
    @wraps(fn)
    def wrapper(request, *args, **kwargs):
        try:
            return fn(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(_msg(exc)) from exc

    return wrapper


def _lines(text: str) -> list[str]:
    return [
        n.strip()
        for n in (text or "").replace("，", "\n").replace(",", "\n").splitlines()
        if n.strip()
    ]


def _today() -> dt.date:
    return timezone.localdate()


# --------------------------------------------------------------------------- overview


@login_required
def index(request):
    user = request.user
    today = _today()
    context = {
        "open_applications": selectors.applications(user, status="in_progress").count(),
        "advance_paid": selectors.applications(user, status="advance_paid").count(),
        "enrolment_counts": {
            p: selectors.enrolments(user, programme=p).exclude(status="stopped").count()
            for p in ("dibao", "single", "tekun")
        },
        "reviews_due": selectors.reviews_due(user, as_of=today).count(),
        "open_deaths": selectors.open_proposals(user).count(),
        "separate": selectors.separate_register(user).count(),
        "changed": list(selectors.changed_since_last_amount(user)[:20]),
        "recent_rolls": list(selectors.rolls(user)[:6]),
    }
    return render(request, "assistance/index.html", context)


# --------------------------------------------------------------------------- applications


@login_required
def application_list(request):
    status = request.GET.get("status", "")
    programme = request.GET.get("programme", "")
    qs = selectors.applications(request.user, status=status, programme=programme)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "assistance/application_list.html",
        {
            "page": page,
            "status": status,
            "programme": programme,
            "statuses": Application.Status.choices,
            "programmes": Application._meta.get_field("programme").choices,
        },
    )


@login_required
def application_new(request):
    initial = {
        "household_id": request.GET.get("household", ""),
        "accepted_on": _today(),
        "source_case_id": request.GET.get("case", ""),
        "programme": request.GET.get("programme", "dibao"),
    }
    form = forms.ApplicationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            app = services.application_create(
                actor=request.user,
                household_id=data["household_id"].strip(),
                programme=data["programme"],
                accepted_on=data["accepted_on"],
                person_id_number=data["person_id_number"] or None,
                temp_type=data["temp_type"],
                need=data["need"],
                event=data["event"],
                source_case_id=data["source_case_id"],
                track=data["track"],
                special_reason=data["special_reason"],
                related_to_staff=data["related_to_staff"],
                related_note=data["related_note"],
            )
        except SafetyNetError as exc:
            messages.error(request, _msg(exc))
        else:
            messages.success(request, _("Application accepted."))
            return redirect("assistance:application", pk=app.pk)
    return render(request, "assistance/application_form.html", {"form": form})


STEP_FORMS = {
    "survey_start": forms.SurveyForm,
    "survey": forms.SurveyForm,
    "check": forms.CheckForm,
    "notice": forms.NoticeForm,
    "county_visit": forms.VisitForm,
    "decision": forms.DecideForm,
    "objection": forms.NoteForm,
    "pay_first": forms.PayFirstForm,
    "documented": forms.DocumentForm,
    "refusal_notice": forms.RefusalNoticeForm,
    "withdraw": forms.NoteForm,
}


def _step_forms(app: Application) -> dict:
    """The forms offered on the page for the application's state."""
    v = {"version": app.version}
    today = _today()
    step = current_step(app)
    out = {}
    if app.status == "in_progress":
        if step in ("survey_start", "survey"):
            out["survey"] = forms.SurveyForm(
                initial={**v, "started_on": app.survey_started_on or today}
            )
        elif step == "check":
            out["check"] = forms.CheckForm(initial={**v, "started_on": today})
        elif step == "notice":
            out["notice"] = forms.NoticeForm(initial={**v, "start": today})
        elif step == "county_visit":
            out["county_visit"] = forms.VisitForm(initial={**v, "visited_on": today})
        if app.notice_start and app.notice_end and today <= app.notice_end:
            out["objection"] = forms.NoteForm(initial=v)
        out["decision"] = forms.DecideForm(initial={**v, "decided_on": today})
        if app.programme == "temporary" and app.temp_type == "emergency":
            out["pay_first"] = forms.PayFirstForm(
                initial={**v, "paid_on": today, "amount": app.need}
            )
        out["withdraw"] = forms.NoteForm(initial=v)
    elif app.status == "advance_paid":
        out["documented"] = forms.DocumentForm(initial={**v, "documented_on": today})
    elif app.status == "refused" and not app.refusal_notified_on:
        out["refusal_notice"] = forms.RefusalNoticeForm(initial={**v, "notified_on": today})
    return out


@login_required
@_scoped_or_404
def application_detail(request, pk: int):
    app = selectors.application(request.user, pk)
    result = app.assessment or {}
    return render(
        request,
        "assistance/application_detail.html",
        {
            "app": app,
            "step": current_step(app),
            "clocks": [c.as_dict() for c in clocks_for(app, today=_today())],
            "step_forms": _step_forms(app),
            "explanations": result.get("explanations") or [],
            "dibao": result.get("dibao") or {},
            "tekun": (result.get("tekun") or {}).get(app.person.id_number) if app.person else None,
            "single": (result.get("single_person") or {}).get(app.person.id_number)
            if app.person
            else None,
            "temporary": result.get("temporary"),
            "enrolment": getattr(app, "enrolment", None) if app.status == "approved" else None,
        },
    )


def _call_step(user, app: Application, step: str, data: dict):
    common = {"actor": user, "application_id": app.pk, "version": data["version"]}
    if step in ("survey", "survey_start"):
        return services.survey_record(
            **common,
            started_on=data["started_on"],
            completed_on=data["completed_on"],
            investigators=_lines(data["investigators"]),
            family_signed=data["family_signed"],
            findings=data["findings"],
        )
    if step == "check":
        return services.check_record(
            **common, started_on=data["started_on"], passed=data["passed"], note=data["note"]
        )
    if step == "notice":
        return services.notice_start(**common, start=data["start"])
    if step == "objection":
        return services.notice_objection(**common, note=data["note"])
    if step == "county_visit":
        return services.county_visit_record(**common, visited_on=data["visited_on"])
    if step == "decision":
        return services.application_decide(
            **common,
            decided_on=data["decided_on"],
            approve=data["approve"],
            refusal_reason=data["refusal_reason"],
            household_type=data["household_type"] or "stable",
            rechecked=data["rechecked"],
        )
    if step == "pay_first":
        return services.temporary_pay_first(
            **common, paid_on=data["paid_on"], amount=data["amount"]
        )
    if step == "documented":
        return services.temporary_document(
            **common,
            documented_on=data["documented_on"],
            investigators=_lines(data["investigators"]),
            note=data["note"],
        )
    if step == "refusal_notice":
        return services.refusal_notify(**common, notified_on=data["notified_on"])
    if step == "withdraw":
        return services.application_withdraw(**common, reason=data["note"])
    raise Http404


@login_required
@require_POST
@_scoped_or_404
def application_step(request, pk: int, step: str):
    app = selectors.application(request.user, pk)
    form_class = STEP_FORMS.get(step)
    if form_class is None:
        raise Http404
    form = form_class(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[k].label if k in form.fields else k}: {' '.join(v)}"
            for k, v in form.errors.items()
        )
        messages.error(request, errors)
    else:
        try:
            _call_step(request.user, app, step, form.cleaned_data)
        except SafetyNetError as exc:
            messages.error(request, _msg(exc))
        else:
            messages.success(request, _("Saved."))
    return redirect("assistance:application", pk=app.pk)


@login_required
def separate_register(request):
    qs = selectors.separate_register(request.user)
    return render(
        request,
        "assistance/register.html",
        {"page": Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))},
    )


# --------------------------------------------------------------------------- enrolments


@login_required
def enrolment_list(request):
    programme = request.GET.get("programme", "")
    status = request.GET.get("status", "")
    qs = selectors.enrolments(request.user, programme=programme, status=status)
    return render(
        request,
        "assistance/enrolment_list.html",
        {
            "page": Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page")),
            "programme": programme,
            "status": status,
        },
    )


@login_required
@_scoped_or_404
def enrolment_detail(request, pk: int):
    enrolment = selectors.enrolment(request.user, pk)
    v = {"version": enrolment.version}
    today = _today()
    action_forms = {}
    if enrolment.status != "stopped":
        action_forms["recompute"] = forms.RecomputeForm(initial={**v, "as_of": today})
        action_forms["review"] = forms.ReviewForm(
            initial={**v, "reviewed_on": today, "household_type": enrolment.household_type}
        )
        if enrolment.programme == "dibao" and enrolment.status == "active":
            action_forms["grace"] = forms.GraceForm(initial={**v, "as_of": today, "months": 6})
        if enrolment.programme == "tekun":
            action_forms["care"] = forms.CareForm(initial={**v, "assessed_on": today})
        action_forms["stop"] = forms.StopForm(initial={**v, "decided_on": today})
    return render(
        request,
        "assistance/enrolment_detail.html",
        {
            "enrolment": enrolment,
            "periods": list(enrolment.amounts.order_by("-from_month", "-id")),
            "current_amount": services.current_amount(enrolment, clocks.month_start(today)),
            "members": list(enrolment.members.select_related("person").order_by("-active", "id")),
            "reviews": list(enrolment.reviews.all()[:20]),
            "proposals": list(enrolment.proposals.select_related("person")),
            "action_forms": action_forms,
        },
    )


ENROLMENT_FORMS = {
    "recompute": forms.RecomputeForm,
    "review": forms.ReviewForm,
    "grace": forms.GraceForm,
    "stop": forms.StopForm,
    "care": forms.CareForm,
}


@login_required
@require_POST
@_scoped_or_404
def enrolment_action(request, pk: int, action: str):
    enrolment = selectors.enrolment(request.user, pk)
    form_class = ENROLMENT_FORMS.get(action)
    if form_class is None:
        raise Http404
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(" ".join(v) for v in form.errors.values()))
        return redirect("assistance:enrolment", pk=enrolment.pk)
    d = form.cleaned_data
    common = {"actor": request.user, "enrolment_id": enrolment.pk, "version": d["version"]}
    try:
        if action == "recompute":
            result = services.enrolment_recompute(
                **common, as_of=d["as_of"], reason=d["reason"], note=d["note"]
            )
            if not result["eligible"]:
                messages.warning(
                    request,
                    _(
                        "The rules no longer find this enrolment eligible: "
                        "decide a grace period or a stop."
                    ),
                )
        elif action == "review":
            services.enrolment_review(
                **common,
                reviewed_on=d["reviewed_on"],
                household_type=d["household_type"],
                note=d["note"],
            )
        elif action == "grace":
            services.enrolment_grace_start(
                **common,
                as_of=d["as_of"],
                months=d["months"],
                worker_id_number=d["worker_id_number"],
                note=d["note"],
            )
        elif action == "stop":
            services.enrolment_stop(**common, decided_on=d["decided_on"], reason=d["reason"])
        elif action == "care":
            services.care_assess(
                actor=request.user,
                person_id_number=enrolment.person.id_number,
                assessed_on=d["assessed_on"],
                version=d["version"],
                items={k: d[k] for k in services.CareAssessment.ITEMS},
            )
    except SafetyNetError as exc:
        messages.error(request, _msg(exc))
    else:
        messages.success(request, _("Saved."))
    return redirect("assistance:enrolment", pk=enrolment.pk)


@login_required
def reviews_due(request):
    within = (
        int(request.GET.get("within", "30") or 0)
        if request.GET.get("within", "30").isdigit()
        else 30
    )
    qs = selectors.reviews_due(request.user, as_of=_today(), within_days=within)
    return render(
        request,
        "assistance/reviews.html",
        {
            "page": Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page")),
            "within": within,
            "today": _today(),
        },
    )


@login_required
def proposals(request):
    qs = selectors.open_proposals(request.user)
    return render(
        request,
        "assistance/proposals.html",
        {
            "page": Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page")),
            "today": _today(),
        },
    )


@login_required
@require_POST
@_scoped_or_404
def proposal_process(request, pk: int):
    form = forms.ProcessForm(request.POST)
    if form.is_valid():
        try:
            services.death_process(
                actor=request.user,
                proposal_id=pk,
                version=form.cleaned_data["version"],
                processed_on=form.cleaned_data["processed_on"],
                note=form.cleaned_data["note"],
            )
        except SafetyNetError as exc:
            messages.error(request, _msg(exc))
        else:
            messages.success(request, _("Saved."))
    else:
        messages.error(request, "; ".join(" ".join(v) for v in form.errors.values()))
    return redirect("assistance:proposals")


# --------------------------------------------------------------------------- rolls


@login_required
def roll_list(request):
    form = forms.RollGenerateForm(
        request.POST or None,
        initial={
            "county_code": (request.user.area_id or "")[:6],
            "month": clocks.next_month(_today()).strftime("%Y-%m"),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            roll = rolls.roll_generate(
                actor=request.user,
                county_code=form.cleaned_data["county_code"],
                month=clocks.parse_month(form.cleaned_data["month"]),
            )
        except SafetyNetError as exc:
            messages.error(request, _msg(exc))
        else:
            messages.success(request, _("Roll generated."))
            return redirect("assistance:roll", pk=roll.pk)
    return render(
        request,
        "assistance/roll_list.html",
        {"rolls": selectors.rolls(request.user)[:60], "form": form},
    )


@login_required
@_scoped_or_404
def roll_detail(request, pk: int):
    roll = selectors.roll(request.user, pk)
    kind = request.GET.get("kind", "")
    lines = selectors.roll_lines(request.user, roll, kind=kind)
    return render(
        request,
        "assistance/roll_detail.html",
        {
            "roll": roll,
            "totals": selectors.roll_totals(roll),
            "recon": rolls.roll_reconcile(roll),
            "page": Paginator(lines, PAGE_SIZE).get_page(request.GET.get("page")),
            "kind": kind,
            "kinds": RollLine.Kind.choices,
            "can_export": roll.locked
            and request.user.finance
            and request.user.area_id == roll.county_code,
            "failure_form": forms.FailureForm(initial={"reported_on": _today()}),
        },
    )


@login_required
@require_POST
@_scoped_or_404
def roll_action(request, pk: int, action: str):
    roll = selectors.roll(request.user, pk)
    form = forms.VersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The page was out of date; reload it."))
        return redirect("assistance:roll", pk=roll.pk)
    version = form.cleaned_data["version"]
    try:
        if action == "check":
            rolls.roll_check(actor=request.user, roll_id=roll.pk, version=version)
        elif action == "approve":
            rolls.roll_approve(actor=request.user, roll_id=roll.pk, version=version)
        elif action == "regenerate":
            rolls.roll_generate(
                actor=request.user, county_code=roll.county_code, month=roll.month, version=version
            )
        else:
            raise Http404
    except SafetyNetError as exc:
        messages.error(request, _msg(exc))
    else:
        messages.success(request, _("Saved."))
    return redirect("assistance:roll", pk=roll.pk)


@login_required
@require_POST
@_scoped_or_404
def roll_export(request, pk: int):
    roll = selectors.roll(request.user, pk)
    fmt = request.POST.get("format", "csv")
    try:
        result = rolls.roll_export(actor=request.user, roll_id=roll.pk, fmt=fmt)
    except SafetyNetError as exc:
        messages.error(request, _msg(exc))
        return redirect("assistance:roll", pk=roll.pk)
    return FileResponse(result["path"].open("rb"), as_attachment=True, filename=result["path"].name)


@login_required
@require_POST
@_scoped_or_404
def line_fail(request, pk: int):
    line = RollLine.objects.select_related("roll").filter(pk=pk).first()
    if line is None or not selectors.roll_lines(request.user, line.roll).filter(pk=pk).exists():
        raise Http404
    form = forms.FailureForm(request.POST)
    if form.is_valid():
        try:
            rolls.payment_failure_record(
                actor=request.user,
                line_id=line.pk,
                reason=form.cleaned_data["reason"],
                reported_on=form.cleaned_data["reported_on"],
            )
        except SafetyNetError as exc:
            messages.error(request, _msg(exc))
        else:
            messages.success(
                request, _("Failed payment recorded; it will be reissued in the next roll.")
            )
    return redirect(reverse("assistance:roll", kwargs={"pk": line.roll_id}))


@login_required
def adjustment_new(request):
    form = forms.AdjustmentForm(
        request.POST or None, initial={"household_id": request.GET.get("household", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            rolls.adjustment_create(
                actor=request.user,
                household_id=form.cleaned_data["household_id"],
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
            )
        except SafetyNetError as exc:
            messages.error(request, _msg(exc))
        else:
            messages.success(request, _("Adjustment recorded; it will be paid in the next roll."))
            return redirect("assistance:rolls")
    return render(request, "assistance/adjustment_form.html", {"form": form})
