"""Input forms of the assistance pages: types and required fields only; rules live in services."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Application, CareAssessment, Enrolment, Programme


class DateInput(forms.DateInput):
    input_type = "date"


class ApplicationForm(forms.Form):
    household_id = forms.CharField(label=_("Household ID"), max_length=32)
    programme = forms.ChoiceField(label=_("Programme"), choices=Programme.choices)
    person_id_number = forms.CharField(
        label=_("Applicant's ID number (single-person dibao, tekun)"), max_length=18, required=False
    )
    temp_type = forms.ChoiceField(
        label=_("Temporary assistance type"),
        required=False,
        choices=[("", "—"), *Application.TempType.choices],
    )
    need = forms.DecimalField(
        label=_("Amount needed (yuan)"),
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
    )
    event = forms.CharField(
        label=_("What happened"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    accepted_on = forms.DateField(label=_("Date accepted"), widget=DateInput)
    track = forms.ChoiceField(
        label=_("Track"), choices=Application.Track.choices, initial=Application.Track.STANDARD
    )
    special_reason = forms.CharField(label=_("Reason for a special case"), required=False)
    related_to_staff = forms.BooleanField(
        label=_("Close relative of assistance staff or a village committee member"), required=False
    )
    related_note = forms.CharField(label=_("The relation"), required=False)
    source_case_id = forms.CharField(label=_("Monitoring case"), required=False, max_length=64)


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class SurveyForm(VersionForm):
    started_on = forms.DateField(label=_("Survey started on"), widget=DateInput)
    completed_on = forms.DateField(label=_("Survey completed on"), widget=DateInput, required=False)
    investigators = forms.CharField(
        label=_("Investigators (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    family_signed = forms.BooleanField(label=_("Visit form signed by the family"), required=False)
    findings = forms.CharField(
        label=_("Findings"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class CheckForm(VersionForm):
    started_on = forms.DateField(label=_("Check started on"), widget=DateInput)
    passed = forms.TypedChoiceField(
        label=_("Result"),
        coerce=lambda v: v == "1",
        choices=[("1", _("Passed")), ("0", _("Failed"))],
    )
    note = forms.CharField(label=_("Note"), required=False)


class NoticeForm(VersionForm):
    start = forms.DateField(label=_("Notice posted on"), widget=DateInput)


class NoteForm(VersionForm):
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}))


class VisitForm(VersionForm):
    visited_on = forms.DateField(label=_("County visit on"), widget=DateInput)


class DecideForm(VersionForm):
    decided_on = forms.DateField(label=_("Decision date"), widget=DateInput)
    approve = forms.TypedChoiceField(
        label=_("Decision"),
        coerce=lambda v: v == "1",
        choices=[("1", _("Approve")), ("0", _("Refuse"))],
    )
    refusal_reason = forms.CharField(
        label=_("Written reasons for a refusal"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    household_type = forms.ChoiceField(
        label=_("Household type (review interval)"),
        choices=Enrolment.HouseholdType.choices,
        required=False,
    )
    rechecked = forms.BooleanField(label=_("Re-checked by the county"), required=False)


class PayFirstForm(VersionForm):
    paid_on = forms.DateField(label=_("Paid on"), widget=DateInput)
    amount = forms.DecimalField(
        label=_("Amount (yuan)"), min_value=0, max_digits=12, decimal_places=2
    )


class DocumentForm(VersionForm):
    documented_on = forms.DateField(label=_("Documented on"), widget=DateInput)
    investigators = forms.CharField(
        label=_("Signatures (one per line)"), widget=forms.Textarea(attrs={"rows": 2})
    )
    note = forms.CharField(
        label=_("Reason and what was done"), widget=forms.Textarea(attrs={"rows": 2})
    )


class RefusalNoticeForm(VersionForm):
    notified_on = forms.DateField(label=_("Applicant told in writing on"), widget=DateInput)


class RecomputeForm(VersionForm):
    as_of = forms.DateField(label=_("As of"), widget=DateInput)
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[
            (k, v)
            for k, v in [
                ("members", _("Members changed")),
                ("income", _("Income changed")),
                ("parameters", _("Parameters changed")),
            ]
        ],
    )
    note = forms.CharField(label=_("Note"), required=False)


class ReviewForm(VersionForm):
    reviewed_on = forms.DateField(label=_("Reviewed on"), widget=DateInput)
    household_type = forms.ChoiceField(
        label=_("Household type"), choices=Enrolment.HouseholdType.choices
    )
    note = forms.CharField(label=_("Note"), required=False)


class GraceForm(VersionForm):
    as_of = forms.DateField(label=_("As of"), widget=DateInput)
    months = forms.IntegerField(label=_("Months"), min_value=1, max_value=24)
    worker_id_number = forms.CharField(
        label=_("ID number of the member who found work"), max_length=18
    )
    note = forms.CharField(label=_("Note"), required=False)


class StopForm(VersionForm):
    decided_on = forms.DateField(label=_("Decided on"), widget=DateInput)
    reason = forms.CharField(label=_("Reason"))


class CareForm(VersionForm):
    assessed_on = forms.DateField(label=_("Assessed on"), widget=DateInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for item in CareAssessment.ITEMS:
            self.fields[item] = forms.BooleanField(
                label=CareAssessment.ITEM_LABELS[item], required=False
            )


class ProcessForm(VersionForm):
    processed_on = forms.DateField(label=_("Processed on"), widget=DateInput)
    note = forms.CharField(label=_("Note"), required=False)


class RollGenerateForm(forms.Form):
    county_code = forms.CharField(label=_("County code"), max_length=6, min_length=6)
    month = forms.CharField(label=_("Month (YYYY-MM)"), max_length=7, min_length=7)


class FailureForm(forms.Form):
    reason = forms.CharField(label=_("Bank's reason"))
    reported_on = forms.DateField(label=_("Reported on"), widget=DateInput)


class AdjustmentForm(forms.Form):
    household_id = forms.CharField(label=_("Household ID"), max_length=32)
    amount = forms.DecimalField(
        label=_("Amount (yuan; negative to recover)"), max_digits=12, decimal_places=2
    )
    reason = forms.CharField(label=_("Reason"))
