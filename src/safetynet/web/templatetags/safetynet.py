"""Template filters and tags: Chinese number and date conventions, masking, domain labels.

{% load safetynet %}
{{ amount|yuan }}              12,345.00元      (en: ¥12,345.00)
{{ day|cn_date }}              2024年6月30日    (en: 30 Jun 2024)
{{ moment|cn_datetime }}       2024年6月30日 14:05
{{ count|cn_number }}          123,456
{{ person.id_number|masked:"id_number" }}
{% masked_field person "id_number" household %}   masked value + reveal button if allowed
{{ finding.level|level_label }} {{ finding.category|category_label }}
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.translation import get_language

from safetynet.accounts.permissions import can_reveal
from safetynet.core import masking
from safetynet.web import labels

register = template.Library()

MASKERS = {
    "id_number": masking.mask_id_number,
    "phone": masking.mask_phone,
    "bank_account": masking.mask_account,
    "health": masking.mask_health,
}
EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _is_en() -> bool:
    return (get_language() or "zh-hans").startswith("en")


def _group(value: Decimal, places: int) -> str:
    quant = Decimal(1).scaleb(-places)
    value = value.quantize(quant, rounding=ROUND_HALF_UP)
    return f"{value:,.{places}f}"


@register.filter
def yuan(value, places: int = 2) -> str:
    """Money in yuan, grouped by thousands, half-up rounding; '—' when unknown."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = _group(amount, int(places))
    return f"¥{text}" if _is_en() else f"{text}元"


@register.filter
def cn_number(value, places: int = 0) -> str:
    if value is None or value == "":
        return "—"
    try:
        return _group(Decimal(str(value)), int(places))
    except (InvalidOperation, ValueError):
        return str(value)


@register.filter
def cn_date(value) -> str:
    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    if _is_en():
        return f"{value.day} {EN_MONTHS[value.month - 1]} {value.year}"
    return f"{value.year}年{value.month}月{value.day}日"


@register.filter
def cn_datetime(value) -> str:
    if not value:
        return "—"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{cn_date(value.date())} {value:%H:%M}"


@register.filter
def masked(value, kind: str) -> str:
    return MASKERS[kind](value) if value else ""


@register.filter
def category_label(code) -> str:
    return labels.label(labels.CATEGORIES, code)


@register.filter
def level_label(code) -> str:
    return labels.label(labels.LEVELS, code)


@register.filter
def finding_kind_label(code) -> str:
    return labels.label(labels.FINDING_KINDS, code)


@register.filter
def finding_state_label(code) -> str:
    return labels.label(labels.FINDING_STATES, code)


@register.filter
def audit_action_label(code) -> str:
    return labels.label(labels.AUDIT_ACTIONS, code)


@register.filter
def object_type_label(code) -> str:
    return labels.label(labels.OBJECT_TYPES, code)


@register.filter
def pick_lang(item, prefix: str = "") -> str:
    """From a dict with zh/en keys (e.g. an explanation), the text of the active language."""
    if not isinstance(item, dict):
        return str(item or "")
    key = "en" if _is_en() else "zh"
    return str(item.get(f"{prefix}{key}") or item.get(f"{prefix}zh") or "")


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.inclusion_tag("web/_masked.html", takes_context=True)
def masked_field(context, obj, field: str, household):
    """A masked value, with a reveal button when the user's role allows that field."""
    user = context["request"].user
    raw = getattr(obj, field, "") or ""
    shown = MASKERS[field](raw)  # health too: even "healthy" is masked, so masks leak nothing
    has_value = bool(raw)
    is_person = obj._meta.model_name == "person"
    return {
        "shown": shown,
        "field": field,
        "can_reveal": has_value and can_reveal(user, field),
        "person_id": obj.pk if is_person else "",
        "household": household,
        "dom_id": f"m-{'p' if is_person else 'h'}{obj.pk}-{field}",
    }


@register.filter
def attr_of(obj, name: str):
    return getattr(obj, name, None)


@register.filter
def age_years(birth_date, on=None) -> str:
    """Whole years at ``on`` (today by default); '—' when unknown."""
    if not birth_date:
        return "—"
    on = on or timezone.localdate()
    years = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return str(years)


_ID_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")


@register.filter
def mask_ids(text) -> str:
    """Mask any ID number inside free text (explanations and messages from other contexts)."""
    if text is None:
        return ""
    return _ID_IN_TEXT.sub(lambda m: masking.mask_id_number(m.group(1)), str(text))
