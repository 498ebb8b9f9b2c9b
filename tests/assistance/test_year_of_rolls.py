"""A year of monthly rolls on a small generated region, with the real rule engine.

Each month's roll must pay exactly what the rules give (D-AMOUNT for dibao households, T-AMOUNT
for tekun persons) for the households and persons enrolled that month — through an income
change, an officer's new dibao standard, a death, a new enrolment and a care-level change.
"""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from safetynet.assistance import assessment, clocks, rolls, services
from safetynet.assistance.assessment import programme_result
from safetynet.assistance.models import CareAssessment, ChangeProposal, Enrolment, RollLine

D = dt.date
pytestmark = pytest.mark.django_db


class BatchedEngine:
    """The real engine, evaluated in batches: results are fetched for many households in one
    run and served from the batch; anything not fetched goes to the engine directly."""

    def __init__(self, real):
        self.real = real
        self.cache: dict[tuple[str, dt.date], dict] = {}

    def prefetch(self, household_ids, as_of):
        for hid, result in assessment.assess_many(list(household_ids), as_of=as_of).items():
            self.cache[(hid, as_of)] = result

    def forget(self):
        self.cache.clear()

    def __call__(self, household_id, *, as_of, request=None):
        if request is None and (household_id, as_of) in self.cache:
            return self.cache[(household_id, as_of)]
        return self.real(household_id, as_of=as_of, request=request)


@pytest.fixture
def region(db, tmp_path):
    from safetynet.areas.importer import import_areas
    from safetynet.demo.generator import generate_region
    from safetynet.registry.importer import import_registry

    out = generate_region(households=300, seed=20240101, out_dir=tmp_path / "demo", feeds=False)
    paths = out["paths"]
    import_areas(paths["areas"], actor=None)
    result = import_registry([paths["households"], paths["persons"], paths["incomes"]], actor=None)
    assert result.imported
    return out


def _users(county: str):
    from safetynet.accounts.models import User

    return {
        "maker": User.objects.create(username="maker", role="county", area_id=county),
        "checker": User.objects.create(username="checker", role="county", area_id=county),
    }


def _enrol(actor, engine, hid, programme, *, accepted_on, person=None):
    engine.prefetch([hid], accepted_on)
    app = services.application_create(
        actor=actor,
        household_id=hid,
        programme=programme,
        accepted_on=accepted_on,
        person_id_number=person,
    )
    app = services.survey_record(
        actor=actor,
        application_id=app.pk,
        version=app.version,
        started_on=accepted_on,
        completed_on=accepted_on + dt.timedelta(days=1),
        investigators=["甲", "乙"],
        family_signed=True,
    )
    app = services.check_record(
        actor=actor,
        application_id=app.pk,
        version=app.version,
        started_on=accepted_on + dt.timedelta(days=2),
        passed=True,
    )
    app = services.notice_start(
        actor=actor,
        application_id=app.pk,
        version=app.version,
        start=accepted_on + dt.timedelta(days=3),
    )
    engine.prefetch([hid], app.notice_end)
    app = services.application_decide(
        actor=actor,
        application_id=app.pk,
        version=app.version,
        decided_on=clocks.add_working_days(app.notice_end, 1),
        approve=True,
    )
    return app.enrolment


def _expected(county: str, month: dt.date, withheld: set[int]) -> dict[int, Decimal]:
    """What the rules give, as of the first day of the month, for every enrolment due."""
    due = [
        e
        for e in rolls.due_enrolments(county, month).select_related("household", "person")
        if e.pk not in withheld
    ]
    results = assessment.assess_many([e.household.household_id for e in due], as_of=month)
    out = {}
    for e in due:
        got = programme_result(
            results[e.household.household_id], e.programme, e.person.id_number if e.person else None
        )
        assert got["eligible"], f"enrolment {e.pk} no longer eligible in {month}"
        out[e.pk] = got["amount"]
    return out


def test_a_year_of_rolls_pays_what_the_rules_give(region, monkeypatch):
    from safetynet.policy.services import parameter_override_create
    from safetynet.registry.models import Household, Income, Person

    engine = BatchedEngine(assessment.assess)
    monkeypatch.setattr("safetynet.assistance.assessment.assess", engine)

    # Who is eligible at the start of 2024, county by county.
    start = D(2024, 1, 3)
    hids = list(Household.objects.values_list("household_id", flat=True))
    first = assessment.assess_many(hids, as_of=start)
    dibao, tekun = Counter(), Counter()
    for hid, r in first.items():
        county = Household.objects.get(household_id=hid).village_id[:6]
        if any(v["eligible"] for v in r["tekun"].values()):
            tekun[county] += 1
        elif r["dibao"]["eligible"]:
            dibao[county] += 1
    county = max(dibao, key=lambda c: (min(dibao[c], 4), tekun[c] > 0, dibao[c], c))
    users = _users(county)
    actor = users["maker"]
    in_county = [h for h in hids if h.startswith(county)]
    dibao_hids = [
        h
        for h in in_county
        if first[h]["dibao"]["eligible"]
        and not any(v["eligible"] for v in first[h]["tekun"].values())
    ]
    tekun_people = [
        (h, pid) for h in in_county for pid, v in first[h]["tekun"].items() if v["eligible"]
    ]
    assert len(dibao_hids) >= 3, "the generated county needs a few dibao households"
    late_joiner = dibao_hids.pop()  # enrolled in October

    enrolments = [_enrol(actor, engine, h, "dibao", accepted_on=start) for h in dibao_hids]
    enrolments += [
        _enrol(actor, engine, h, "tekun", accepted_on=start, person=pid)
        for h, pid in tekun_people[:2]
    ]
    assert all(e.start_month == D(2024, 2, 1) for e in enrolments)

    income_hh = dibao_hids[0]
    multi = [
        h
        for h in dibao_hids[1:]
        if Person.objects.filter(household__household_id=h, status="active").count() >= 2
    ]
    death_hh = multi[0] if multi else None
    totals = {}
    withheld: set[int] = set()
    months = [clocks.add_months(D(2024, 2, 1), i) for i in range(12)]
    for month in months:
        engine.forget()
        if month == D(2024, 5, 1):
            # April: the first household's wage rose; the amount changes from May.
            Income.objects.filter(household__household_id=income_hh, year=2023).update(
                wage=Income.objects.get(household__household_id=income_hh, year=2023).wage + 600
            )
            e = Enrolment.objects.get(household__household_id=income_hh)
            services.enrolment_recompute(
                actor=actor,
                enrolment_id=e.pk,
                version=e.version,
                as_of=D(2024, 4, 10),
                reason="income",
            )
        if month == D(2024, 7, 1):
            # June: the county raises its dibao standard from July; every amount is recomputed.
            parameter_override_create(
                actor=None,
                area_code=county,
                parameter="dibao.standard",
                value=720,
                effective_from=D(2024, 7, 1),
                published_on=D(2024, 6, 20),
                reason="县政府调整低保标准",
            )
            result = services.enrolments_recompute_many(
                actor=actor,
                as_of=D(2024, 7, 1),
                reason="parameters",
                county_code=county,
                effective_month=D(2024, 7, 1),
            )
            assert result["changed"] and not result["not_eligible"]
        if month == D(2024, 9, 1) and death_hh:
            # August: a member dies (registry status); detected when September's roll is made.
            member = Person.objects.filter(household__household_id=death_hh, status="active").last()
            member.status = "deceased"
            member.save()
            services.deaths_detect(actor=actor, as_of=D(2024, 8, 26), county_code=county)
            proposal = ChangeProposal.objects.get(person=member)
            services.death_process(
                actor=actor,
                proposal_id=proposal.pk,
                version=proposal.version,
                processed_on=D(2024, 8, 27),
            )
        if month == D(2024, 11, 1):
            enrolments.append(
                _enrol(actor, engine, late_joiner, "dibao", accepted_on=D(2024, 10, 8))
            )
        if month == D(2024, 12, 1) and tekun_people:
            # November: the tekun person can no longer dress, bathe, walk or use the toilet.
            hid, pid = tekun_people[0]
            items = dict.fromkeys(CareAssessment.ITEMS, False)
            items.update(dressing=True, bathing=True, walking_indoors=True, toilet=True)
            services.care_assess(
                actor=actor, person_id_number=pid, assessed_on=D(2024, 11, 15), items=items
            )

        roll = rolls.roll_generate(actor=actor, county_code=county, month=month, today=month)
        roll = rolls.roll_check(actor=actor, roll_id=roll.pk, version=roll.version)
        roll = rolls.roll_approve(actor=users["checker"], roll_id=roll.pk, version=roll.version)
        assert roll.check_report["check"]["balanced"], month
        withheld = set(roll.check_report["generation"]["withheld"])
        paid = dict(
            RollLine.objects.filter(roll=roll, kind__in=["dibao", "single", "tekun"]).values_list(
                "enrolment_id", "amount"
            )
        )
        assert paid == _expected(county, month, withheld), month
        totals[month] = roll.total_amount

    assert len(totals) == 12 and all(t > 0 for t in totals.values())
    # The changes really happened and show in the amounts.
    income_e = Enrolment.objects.get(household__household_id=income_hh)
    reasons = set(income_e.amounts.values_list("reason", flat=True))
    assert {"approval", "income", "parameters"} <= reasons
    assert Enrolment.objects.get(household__household_id=late_joiner).start_month == D(2024, 11, 1)
    if tekun_people:
        care = Enrolment.objects.get(person__id_number=tekun_people[0][1])
        assert care.care_level == "full" and care.amounts.filter(reason="care").exists()
    if death_hh:
        # The survivors get a recomputed amount, or the enrolment stops if they no longer qualify.
        died = Enrolment.objects.get(household__household_id=death_hh)
        assert died.amounts.filter(reason="death").exists() or (
            died.status == "stopped" and died.end_month == D(2024, 8, 1)
        )
