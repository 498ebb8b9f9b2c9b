"""Forms of the web foundation. They only shape input; services validate the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from safetynet.accounts.models import User


class UserForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    display_name = forms.CharField(label=_("Display name"), max_length=60, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=User.Role.choices)
    area_code = forms.CharField(
        label=_("Area code"),
        max_length=12,
        required=False,
        help_text=_(
            "12 digits for a village, 9 for a township, 6 for a county; empty for administrators."
        ),
    )
    finance = forms.BooleanField(label=_("Finance right (bank accounts)"), required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text=_("At least 8 characters. Leave empty to keep the current password."),
    )

    def __init__(self, *args, instance: User | None = None, **kwargs):
        if instance is not None and not args:
            kwargs.setdefault(
                "initial",
                {
                    "username": instance.username,
                    "display_name": instance.display_name,
                    "role": instance.role,
                    "area_code": instance.area_id or "",
                    "finance": instance.finance,
                    "is_active": instance.is_active,
                },
            )
        super().__init__(*args, **kwargs)
        self.instance = instance
        for f in self.fields.values():
            css = "form-check-input" if isinstance(f, forms.BooleanField) else "form-control"
            if isinstance(f, forms.ChoiceField):
                css = "form-select"
            f.widget.attrs.setdefault("class", css)
        if instance is not None:
            self.fields["username"].disabled = True
            self.fields["username"].initial = instance.username

    def clean(self):
        data = super().clean()
        if self.instance is None and not data.get("password"):
            self.add_error("password", _("A new user needs a password."))
        return data
