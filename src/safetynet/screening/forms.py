from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .services import ENGINES


class ScreenForm(forms.Form):
    as_of = forms.DateField(
        label=_("As-of date"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
        initial=timezone.localdate,
    )
    area_code = forms.CharField(
        label=_("Area code (empty: your whole area)"),
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"class": "form-control", "inputmode": "numeric"}),
    )
    engine = forms.ChoiceField(
        label=_("Engine"),
        choices=[(e, e) for e in ENGINES],
        initial="duckdb",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    incremental = forms.BooleanField(
        label=_("Only households changed since the last run"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
