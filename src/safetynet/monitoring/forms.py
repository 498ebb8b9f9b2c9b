"""Input forms of case work. They parse and type the input; the rules live in the services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from safetynet.core.i18n import bilingual
from safetynet.web import labels

from . import vocab

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TEXT = forms.Textarea(attrs={"rows": 3})


class StyledForm(forms.Form):
    """Bootstrap classes on every widget (phone-sized touch targets come from the CSS)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            elif not isinstance(widget, forms.HiddenInput):
                widget.attrs.setdefault("class", "form-control")


class VersionForm(StyledForm):
    version = forms.IntegerField(widget=forms.HiddenInput)


class VerifyForm(VersionForm):
    visit_date = forms.DateField(label=_("Visit date"), widget=DATE)
    investigators = forms.CharField(
        label=_("Investigators"),
        help_text=_("At least two people; separate names with commas."),
        max_length=200,
    )
    findings = forms.CharField(label=_("Findings"), widget=TEXT)
    income_year = forms.IntegerField(label=_("Income year"), min_value=2000, max_value=2100)
    net_income = forms.DecimalField(
        label=_("Household net income (yuan/year)"), min_value=0, max_digits=14, decimal_places=2
    )
    members_count = forms.IntegerField(label=_("Members living together"), min_value=0)
    member_changes = forms.CharField(
        label=_("Changes in members"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    household_confirmed = forms.BooleanField(
        label=_("The household has read and signed the verification"), required=False
    )


class EliminationVerifyForm(VerifyForm):
    method = forms.ChoiceField(
        label=_("Elimination method"), choices=vocab.choices(vocab.ELIMINATION_METHODS)
    )


class NoticeForm(VersionForm):
    start = forms.DateField(label=_("Notice from"), widget=DATE)
    end = forms.DateField(label=_("Notice until"), widget=DATE)
    appraisal = forms.CharField(label=_("Village appraisal"), widget=TEXT)


APPROVE = [("yes", _("Approve")), ("no", _("Do not approve"))]


class ReviewForm(VersionForm):
    approve = forms.ChoiceField(label=_("Opinion"), choices=APPROVE, widget=forms.RadioSelect)
    opinion = forms.CharField(label=_("Review opinion"), widget=TEXT)
    objections = forms.CharField(
        label=_("Objections raised during the notice"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class DecideForm(VersionForm):
    approve = forms.ChoiceField(
        label=_("Decision"),
        choices=[("yes", _("Confirm as a monitoring object")), ("no", _("Do not confirm"))],
        widget=forms.RadioSelect,
    )
    category = forms.ChoiceField(
        label=_("Category"),
        choices=[("", "—")] + vocab.choices(vocab.CATEGORIES),
        required=False,
    )
    risk_types = forms.MultipleChoiceField(
        label=_("Risk types"),
        choices=vocab.choices(vocab.RISK_TYPES),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    note = forms.CharField(
        label=_("Note (the reason when not confirming)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class CloseForm(VersionForm):
    reason = forms.CharField(label=_("Why is this a false alarm?"), widget=TEXT)


class MeasureRowForm(StyledForm):
    kind = forms.ChoiceField(
        label=_("Measure"), choices=[("", "—")] + vocab.choices(vocab.MEASURE_KINDS), required=False
    )
    description = forms.CharField(label=_("Description"), max_length=500, required=False)
    responsible = forms.CharField(label=_("Responsible"), max_length=100, required=False)
    planned_on = forms.DateField(label=_("Planned for"), widget=DATE, required=False)


MeasureFormSet = forms.formset_factory(MeasureRowForm, extra=3, max_num=10)


class DeliverForm(VersionForm):
    measure = forms.TypedChoiceField(label=_("Measure"), coerce=int, choices=())
    delivered_on = forms.DateField(label=_("Delivered on"), widget=DATE)
    note = forms.CharField(label=_("What was delivered"), widget=TEXT, required=False)

    def __init__(self, *args, measures=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["measure"].choices = [
            (m.pk, f"{m.kind_label()} · {m.description}".rstrip(" ·")) for m in measures
        ]


class FollowUpForm(VersionForm):
    visit_date = forms.DateField(label=_("Visit date"), widget=DATE)
    visitors = forms.CharField(label=_("Visitors"), max_length=200)
    findings = forms.CharField(label=_("Findings"), widget=TEXT)
    next_visit_on = forms.DateField(label=_("Next visit"), widget=DATE, required=False)


class EliminateForm(VersionForm):
    approve = forms.ChoiceField(
        label=_("Decision"),
        choices=[("yes", _("Confirm the risk is eliminated")), ("no", _("Do not eliminate"))],
        widget=forms.RadioSelect,
    )
    method = forms.ChoiceField(
        label=_("Elimination method"),
        choices=[("", "—")] + vocab.choices(vocab.ELIMINATION_METHODS),
        required=False,
    )
    note = forms.CharField(
        label=_("Note (the reason when not eliminating)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class OpenCaseForm(StyledForm):
    household_id = forms.CharField(label=_("Household number"), max_length=32)
    source = forms.ChoiceField(
        label=_("Source"),
        choices=[(c, lbl) for c, lbl in vocab.choices(vocab.SOURCES) if c != "department_warning"],
    )
    clue_date = forms.DateField(label=_("Clue date"), widget=DATE)
    note = forms.CharField(label=_("What was reported or found"), widget=TEXT)


class WarningFilterForm(forms.Form):
    level = forms.ChoiceField(
        label=_("Level"),
        required=False,
        choices=[("", _("All"))] + [(c, bilingual(*labels.LEVELS[c])) for c in labels.LEVEL_ORDER],
    )
    category = forms.ChoiceField(
        label=_("Category"),
        required=False,
        choices=[("", _("All"))] + vocab.choices(vocab.CATEGORIES),
    )
    rule = forms.ChoiceField(label=_("Rule"), required=False, choices=())
    village = forms.ChoiceField(label=_("Village"), required=False, choices=())
    status = forms.ChoiceField(label=_("Status"), required=False, choices=())

    def __init__(self, *args, rules=(), villages=(), statuses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", _("All"))] + [(r, r) for r in rules]
        self.fields["village"].choices = [("", _("All"))] + [(v.code, v.name) for v in villages]
        self.fields["status"].choices = list(statuses)
