"""Walk a case through the procedure in tests, with explicit dates (never the clock)."""

from __future__ import annotations

import datetime as dt

from safetynet.monitoring import services

CLUE = dt.date(2024, 1, 2)
VISIT = dt.date(2024, 1, 4)
NOTICE_START = dt.date(2024, 1, 5)
NOTICE_END = dt.date(2024, 1, 9)  # five days, both ends included
REVIEW = dt.date(2024, 1, 10)
DECISION = dt.date(2024, 1, 12)


def opened(users, household, *, clue_date=CLUE):
    return services.case_open(
        actor=users["village"],
        household=household,
        source="cadre_survey",
        clue_date=clue_date,
        note="务工收入下降，户主患病",
        today=clue_date,
    )


def verified(users, case, *, visit=VISIT):
    return services.case_verify(
        actor=users["village"],
        case=case,
        expected_version=case.version,
        visit_date=visit,
        investigators=["刘干部", "周干部"],
        findings="户主住院，务工中断",
        income_year=2023,
        net_income="12000",
        members_count=2,
        household_confirmed=True,
        today=visit,
    )


def noticed(users, case, *, start=NOTICE_START, end=NOTICE_END):
    return services.case_publish_notice(
        actor=users["village"],
        case=case,
        expected_version=case.version,
        start=start,
        end=end,
        appraisal="村民代表会议评议同意",
        today=start,
    )


def reviewed(users, case, *, today=REVIEW, approve=True):
    return services.case_review(
        actor=users["township"],
        case=case,
        expected_version=case.version,
        approve=approve,
        opinion="同意" if approve else "收入高于标准，不纳入",
        today=today,
    )


def decided(users, case, *, today=DECISION, category="edge", risk_types=("因病",)):
    return services.case_decide(
        actor=users["county"],
        case=case,
        expected_version=case.version,
        category=category,
        risk_types=list(risk_types),
        today=today,
    )


def monitored(users, household, **kw):
    case = opened(users, household)
    case = verified(users, case)
    case = noticed(users, case)
    case = reviewed(users, case)
    return decided(users, case, **kw)


def with_delivered_measures(users, case, *, kinds=("health", "employment"), on=DECISION):
    case = services.case_plan_measures(
        actor=users["village"],
        case=case,
        expected_version=case.version,
        measures=[{"kind": k, "description": k, "planned_on": on} for k in kinds],
        today=on,
    )
    for measure in case.measures.all():
        case = services.case_deliver_measure(
            actor=users["village"],
            case=case,
            expected_version=case.version,
            measure_id=measure.pk,
            delivered_on=on,
            today=on,
        )
    return case
