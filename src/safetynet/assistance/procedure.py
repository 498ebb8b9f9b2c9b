"""The statutory steps of each programme and the clocks that run on them.

Dibao and single-person dibao (S2 Art. 10–22): acceptance → township economic survey (starts
within `dibao.survey_start_working_days`, ≥ `dibao.min_investigators` investigators, form signed
by the family) → county information check (starts within `dibao.check_start_working_days` of
the township's request) → village notice (`dibao.notice_days`) → county decision within
`dibao.county_decision_working_days` of the file and within the overall limit
`dibao.decision_working_days` (standard / delegated / special) of acceptance. A refusal is told
in writing within `dibao.refusal_notice_working_days`.

Tekun (S3 Art. 10–18): township opinion within `tekun.township_opinion_working_days` → notice
`tekun.notice_days` → county decision within `tekun.county_decision_working_days` (≥
`tekun.recheck_ratio` of cases re-checked).

Temporary assistance (S1 Art. 47–49; S8): the expenditure type goes through survey, check and
decision; the emergency type is eligible on the event alone and may be paid first (先行救助)
up to `temporary.township_limit`, documented afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import clocks
from .models import STEP_LABELS, Application
from .parameters import param, param_int


def steps_for(app: Application) -> list[str]:
    """The ordered steps an application of this programme must pass before approval."""
    if app.programme in ("dibao", "single", "tekun"):
        steps = ["survey", "check", "notice"]
    elif app.temp_type == Application.TempType.EXPENDITURE:
        steps = ["survey", "check"]
    else:
        steps = []
    if app.related_to_staff:
        steps.append("county_visit")
    return steps


def decision_limit_days(app: Application) -> int:
    value = param("dibao.decision_working_days", app.village_code, app.accepted_on)
    if isinstance(value, dict):
        return int(value[app.track])
    return int(value)


def notice_days(app: Application, on: dt.date) -> int:
    name = "tekun.notice_days" if app.programme == "tekun" else "dibao.notice_days"
    return param_int(name, app.village_code, on)


@dataclass
class Clock:
    step: str
    label: str
    due: dt.date | None
    done_on: dt.date | None
    state: str  # done, late, pending, overdue, waiting, running
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "label": str(self.label),
            "due": self.due.isoformat() if self.due else None,
            "done_on": self.done_on.isoformat() if self.done_on else None,
            "state": self.state,
            "note": self.note,
        }


def _state(due: dt.date | None, done: dt.date | None, today: dt.date, started: bool) -> str:
    if done is not None:
        return "late" if due is not None and done > due else "done"
    if not started:
        return "waiting"
    if due is not None and today > due:
        return "overdue"
    return "pending"


def clocks_for(app: Application, *, today: dt.date) -> list[Clock]:
    """Every clock of an application: its due date, when it was met, and whether it was late."""
    code = app.village_code
    acc = app.accepted_on
    out: list[Clock] = [Clock("acceptance", STEP_LABELS["acceptance"], None, acc, "done")]
    decided = app.decided_on if app.status in ("approved", "refused") else None
    if app.programme in ("dibao", "single"):
        due = clocks.add_working_days(acc, param_int("dibao.survey_start_working_days", code, acc))
        out.append(
            Clock(
                "survey_start",
                STEP_LABELS["survey_start"],
                due,
                app.survey_started_on,
                _state(due, app.survey_started_on, today, True),
            )
        )
        out.append(
            Clock(
                "survey",
                STEP_LABELS["survey"],
                None,
                app.survey_completed_on,
                _state(None, app.survey_completed_on, today, app.survey_started_on is not None),
            )
        )
        check_due = None
        if app.survey_completed_on:
            check_due = clocks.add_working_days(
                app.survey_completed_on, param_int("dibao.check_start_working_days", code, acc)
            )
        out.append(
            Clock(
                "check",
                STEP_LABELS["check"],
                check_due,
                app.check_started_on,
                _state(check_due, app.check_started_on, today, app.survey_completed_on is not None),
            )
        )
    elif app.programme == "tekun":
        due = clocks.add_working_days(
            acc, param_int("tekun.township_opinion_working_days", code, acc)
        )
        out.append(
            Clock(
                "survey",
                STEP_LABELS["survey"],
                due,
                app.survey_completed_on,
                _state(due, app.survey_completed_on, today, True),
            )
        )
        out.append(
            Clock(
                "check",
                STEP_LABELS["check"],
                None,
                app.check_started_on,
                _state(None, app.check_started_on, today, app.survey_completed_on is not None),
            )
        )
    elif app.temp_type == Application.TempType.EXPENDITURE:
        out.append(
            Clock(
                "survey",
                STEP_LABELS["survey"],
                None,
                app.survey_completed_on,
                _state(None, app.survey_completed_on, today, True),
            )
        )
        out.append(
            Clock(
                "check",
                STEP_LABELS["check"],
                None,
                app.check_started_on,
                _state(None, app.check_started_on, today, app.survey_completed_on is not None),
            )
        )
    else:
        if app.advance_paid_on:
            out.append(Clock("advance", STEP_LABELS["advance"], None, app.advance_paid_on, "done"))
            out.append(
                Clock(
                    "documented",
                    STEP_LABELS["documented"],
                    None,
                    app.documented_on,
                    _state(None, app.documented_on, today, True),
                )
            )

    if "notice" in steps_for(app):
        note = ""
        if app.notice_start:
            note = f"{app.notice_start.isoformat()} → {app.notice_end.isoformat()}"
        state = "waiting"
        if app.notice_end:
            state = "done" if today > app.notice_end else "running"
        out.append(
            Clock(
                "notice",
                STEP_LABELS["notice"],
                None,
                app.notice_end if state == "done" else None,
                state,
                note,
            )
        )

    if app.related_to_staff:
        out.append(
            Clock(
                "county_visit",
                STEP_LABELS["county_visit"],
                None,
                app.county_visit_on,
                _state(None, app.county_visit_on, today, True),
            )
        )

    if app.programme in ("dibao", "single"):
        overall = clocks.add_working_days(acc, decision_limit_days(app))
        due = overall
        note = f"总时限 {decision_limit_days(app)} 个工作日 / overall limit {decision_limit_days(app)} working days"
        if app.notice_end:
            county = clocks.add_working_days(
                app.notice_end, param_int("dibao.county_decision_working_days", code, acc)
            )
            due = min(overall, county)
        out.append(
            Clock(
                "decision",
                STEP_LABELS["decision"],
                due,
                decided,
                _state(due, decided, today, True),
                note,
            )
        )
    elif app.programme == "tekun":
        due = None
        if app.notice_end:
            due = clocks.add_working_days(
                app.notice_end, param_int("tekun.county_decision_working_days", code, acc)
            )
        out.append(
            Clock(
                "decision",
                STEP_LABELS["decision"],
                due,
                decided,
                _state(due, decided, today, app.notice_end is not None),
            )
        )
    else:
        out.append(
            Clock(
                "decision",
                STEP_LABELS["decision"],
                None,
                decided,
                _state(None, decided, today, True),
            )
        )

    if app.status == Application.Status.REFUSED and app.decided_on:
        name = "dibao.refusal_notice_working_days"
        due = clocks.add_working_days(app.decided_on, param_int(name, code, acc))
        out.append(
            Clock(
                "refusal_notice",
                STEP_LABELS["refusal_notice"],
                due,
                app.refusal_notified_on,
                _state(due, app.refusal_notified_on, today, True),
            )
        )
    return out


def current_step(app: Application) -> str:
    """The next step to do, or the final status."""
    if app.status != Application.Status.IN_PROGRESS:
        return "documented" if app.status == Application.Status.ADVANCE_PAID else app.status
    if app.programme in ("dibao", "single") and app.survey_started_on is None:
        return "survey_start"
    for step in steps_for(app):
        if step == "survey" and app.survey_completed_on is None:
            return "survey"
        if step == "check" and app.check_started_on is None:
            return "check"
        if step == "notice" and app.notice_end is None:
            return "notice"
        if step == "county_visit" and app.county_visit_on is None:
            return "county_visit"
    return "decision"
