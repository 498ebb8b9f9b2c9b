from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

DATE = forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d")


class AssignForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    assignee = forms.TypedChoiceField(
        label=_("Assign to"),
        coerce=int,
        choices=(),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    due_on = forms.DateField(label=_("Due"), widget=DATE, required=False)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=500,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )  # fmt: skip

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            (u.pk, f"{u.display_name or u.username} ({u.get_role_display()})") for u in users
        ]


class RectifyForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    action_taken = forms.CharField(
        label=_("What was done"), widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"})
    )
    rectified_on = forms.DateField(label=_("Rectified on"), widget=DATE)
