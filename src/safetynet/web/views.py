"""Pages of the web foundation: dashboard, household search and profile, reveal, assess, users.

Views stay thin: read through ``selectors``, write through ``services``, render. Expected errors
(``SafetyNetError``) are shown in the active language; out-of-scope objects are plain 404s.
"""

from __future__ import annotations

import csv
import importlib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from safetynet.accounts.models import User
from safetynet.accounts.permissions import revealable_fields
from safetynet.core import audit, masking
from safetynet.core.errors import PermissionDenied, SafetyNetError

from . import hooks, labels, selectors, services
from .forms import UserForm

PAGE_SIZE = 20
EXPORT_LIMIT = 5000


def _lang_message(exc: SafetyNetError) -> str:
    return exc.message(get_language() or "zh-hans")


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _render_panels(request, panels, household=None) -> list[dict]:
    """Render the panels other apps registered; each gets its own context at the top level."""
    out = []
    for panel in panels:
        if panel.context is None:
            ctx = {}
        elif household is None:
            ctx = panel.context(request)
        else:
            ctx = panel.context(request, household)
        ctx = {**ctx, "panel": panel}
        if household is not None:
            ctx.setdefault("household", household)
        out.append({"panel": panel, "html": render_to_string(panel.template, ctx, request=request)})
    return out


# ---------------------------------------------------------------- dashboard


@login_required
@require_GET
def home(request):
    summary = selectors.dashboard_summary(user=request.user)
    panels = _render_panels(request, hooks.dashboard_panels(request.user))
    return render(request, "web/home.html", {"summary": summary, "panels": panels})


# ---------------------------------------------------------------- households


@login_required
@require_GET
def household_search(request):
    q = request.GET.get("q", "").strip()[:50]
    qs = selectors.household_search(user=request.user, q=q)
    paginator = Paginator(qs, PAGE_SIZE)
    if not q:  # the whole area: reuse the (briefly cached) household count of the dashboard
        paginator.__dict__["count"] = selectors.household_count(user=request.user)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "q": q,
        "kind": selectors.classify_query(q),
        "page": page,
        "rows": selectors.search_rows(list(page.object_list)),
    }
    template = "web/_household_results.html" if _is_htmx(request) else "web/household_search.html"
    return render(request, template, context)


@login_required
@require_GET
def household_export(request):
    """The search results as CSV (personal data masked), audited."""
    q = request.GET.get("q", "").strip()[:50]
    qs = selectors.household_search(user=request.user, q=q)[:EXPORT_LIMIT]
    households = list(qs)
    rows = selectors.search_rows(households)
    audit.record(
        actor=request.user,
        action="export",
        object_type="registry.household",
        object_id="search",
        area_code=request.user.area_id or "",
        after={"q": q, "rows": len(rows)},
        note="户查询结果导出 / household search export",
    )

    def lines():
        yield "\ufeff"
        buf = _Echo()
        writer = csv.writer(buf)
        yield writer.writerow(["户编号 household_id", "户主 head", "户主身份证号 head_id_number",
                               "村 village", "人数 members", "联系电话 phone",
                               "未解除预警 open_warnings"])  # fmt: skip
        for row in rows:
            h = row.household
            yield writer.writerow([
                h.household_id,
                row.head.name if row.head else "",
                masking.mask_id_number(row.head.id_number) if row.head else "",
                h.village.name,
                row.members,
                masking.mask_phone(h.phone),
                row.open_warnings,
            ])  # fmt: skip

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="households.csv"'
    return response


class _Echo:
    def write(self, value):
        return value


@login_required
@require_GET
def household_profile(request, household_id: str):
    profile = selectors.household_profile(user=request.user, household_id=household_id)
    panels = _render_panels(
        request, hooks.profile_panels(request.user), household=profile.household
    )
    return render(
        request,
        "web/household_profile.html",
        {
            "profile": profile,
            "household": profile.household,
            "panels": panels,
            "revealable": revealable_fields(request.user),
            "income_rows": [
                (name, label)
                for name, label in labels.income_rows()
                if any(getattr(inc, name) for inc in profile.incomes)
            ],
            "assess_available": _assess_function() is not None,
        },
    )


@login_required
@require_POST
def household_reveal(request, household_id: str):
    field = request.POST.get("field", "")
    person = request.POST.get("person") or None
    try:
        person_id = int(person) if person else None
    except ValueError as exc:
        raise Http404 from exc
    try:
        revealed = services.personal_data_reveal(
            actor=request.user, household_id=household_id, field=field, person_id=person_id
        )
    except PermissionDenied as exc:
        return HttpResponse(_lang_message(exc), status=403)
    except SafetyNetError as exc:
        return HttpResponse(_lang_message(exc), status=400)
    kind = "p" if person_id else "h"
    return render(
        request,
        "web/_revealed.html",
        {"value": revealed.value, "field": field, "dom_id": f"m-{kind}{revealed.obj.pk}-{field}"},
    )


def _assess_function():
    try:
        module = importlib.import_module("safetynet.engine.assess")
    except ModuleNotFoundError as exc:
        if exc.name and "safetynet.engine.assess".startswith(exc.name):
            return None
        raise
    return getattr(module, "assess_household", None)


@login_required
@require_POST
def household_assess(request, household_id: str):
    household = selectors.household_for_user(user=request.user, household_id=household_id)
    assess = _assess_function()
    context = {"household": household, "result": None, "error": ""}
    if assess is None:
        context["error"] = _("The assessment engine is not installed yet.")
    else:
        try:
            result = assess(household.household_id, as_of=timezone.localdate(), request=None)
        except SafetyNetError as exc:
            context["error"] = _lang_message(exc)
        else:
            members = {p.id_number: p for p in household.members.all()}
            context["result"] = result
            context["tekun_rows"] = [
                {"person": members.get(k), "key": k, **v}
                for k, v in (result.get("tekun") or {}).items()
            ]
            context["single_rows"] = [
                {"person": members.get(k), "key": k, **v}
                for k, v in (result.get("single_person") or {}).items()
            ]
    return render(request, "web/_assess_result.html", context)


# ---------------------------------------------------------------- users (administrators)


def _require_admin(user) -> None:
    if not (user.is_superuser or user.role == User.Role.ADMIN):
        raise DjangoPermissionDenied


@login_required
def user_list(request):
    _require_admin(request.user)
    users = User.objects.select_related("area").order_by("role", "username")
    return render(request, "web/user_list.html", {"users": users})


@login_required
def user_edit(request, user_id: int | None = None):
    from safetynet.accounts import services as account_services

    _require_admin(request.user)
    target = None
    if user_id is not None:
        target = User.objects.filter(pk=user_id).first()
        if target is None:
            raise Http404
    form = UserForm(request.POST or None, instance=target)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if target is None:
                account_services.user_create(
                    actor=request.user,
                    username=data["username"],
                    password=data["password"],
                    role=data["role"],
                    area_code=data["area_code"],
                    finance=data["finance"],
                    display_name=data["display_name"],
                )
            else:
                account_services.user_update(
                    actor=request.user,
                    user=target,
                    role=data["role"],
                    area_code=data["area_code"],
                    finance=data["finance"],
                    display_name=data["display_name"],
                    is_active=data["is_active"],
                )
                if data["password"]:
                    account_services.user_set_password(
                        actor=request.user, user=target, password=data["password"]
                    )
        except SafetyNetError as exc:
            form.add_error(None, _lang_message(exc))
        else:
            messages.success(request, _("Saved."))
            return redirect("user_list")
    return render(request, "web/user_form.html", {"form": form, "target": target})
