import pytest

from safetynet.accounts.models import User
from safetynet.areas.models import Area
from safetynet.core.errors import Conflict, NotFound, ValidationFailed
from safetynet.core.idnumber import check_char
from safetynet.core.models import AuditEvent
from safetynet.registry.importer import import_registry
from safetynet.registry.models import Household, Person
from safetynet.registry.selectors import household_profile, household_search
from safetynet.registry.services import household_change_head, household_update, person_update

from .conftest import files

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(region):
    import_registry(files(region), actor=None)
    return region


@pytest.fixture
def officer(loaded):
    return User.objects.create(username="officer", role="county", area_id="360703")


def test_household_update_with_version_and_audit(loaded, officer):
    h = Household.objects.order_by("household_id").first()
    updated = household_update(
        actor=officer,
        household=h,
        expected_version=1,
        address="新地址",
        housing_grade="D级(整栋危房)",
    )
    assert updated.version == 2 and updated.housing_grade == "D"
    event = AuditEvent.objects.filter(action="update", object_type="registry.household").get()
    assert event.actor == officer
    assert event.after == {"address": "新地址", "housing_grade": "D"}
    assert set(event.before) == {"address", "housing_grade"}
    with pytest.raises(Conflict):
        household_update(actor=officer, household=h, expected_version=1, address="stale")
    # No change → no version bump, no audit row.
    household_update(actor=officer, household=h, expected_version=2, address="新地址")
    assert Household.objects.get(pk=h.pk).version == 2
    assert AuditEvent.objects.filter(action="update").count() == 1


def test_household_update_validates(loaded, officer):
    h = Household.objects.order_by("household_id").first()
    with pytest.raises(ValidationFailed) as info:
        household_update(
            actor=officer, household=h, expected_version=1, phone="123", water_secure="?"
        )
    assert set(info.value.details["errors"]) == {"phone", "water_secure"}
    with pytest.raises(ValidationFailed):
        household_update(
            actor=officer, household=h, expected_version=1, village_code="360703101999"
        )
    with pytest.raises(ValidationFailed):
        household_update(actor=officer, household=h, expected_version=1, version=9)
    with pytest.raises(ValidationFailed):
        household_update(
            actor=officer, household=h, expected_version=1, registered_poor=True, exit_year=None
        )
    assert Household.objects.get(pk=h.pk).version == 1


def test_person_update_checks_and_audits(loaded, officer):
    person = Person.objects.exclude(relation="head").order_by("pk").first()
    wrong_sex = "F" if person.sex == "M" else "M"
    with pytest.raises(ValidationFailed):
        person_update(actor=officer, person=person, expected_version=1, sex=wrong_sex)
    with pytest.raises(ValidationFailed):
        person_update(actor=officer, person=person, expected_version=1, relation="head")
    with pytest.raises(ValidationFailed):
        person_update(actor=officer, person=person, expected_version=1, disability_grade=2)
    updated = person_update(
        actor=officer,
        person=person,
        expected_version=1,
        disability_type="肢体",
        disability_grade="2",
    )
    assert updated.version == 2 and updated.disability_type == "physical"
    event = AuditEvent.objects.get(action="update", object_type="registry.person")
    assert event.after == {"disability_type": "physical", "disability_grade": 2}
    with pytest.raises(Conflict):
        person_update(actor=officer, person=person, expected_version=1, name="x")


def test_person_id_number_change(loaded, officer):
    person = Person.objects.exclude(relation="head").order_by("pk").first()
    other = Person.objects.exclude(pk=person.pk).first()
    with pytest.raises(ValidationFailed):
        person_update(actor=officer, person=person, expected_version=1, id_number=other.id_number)
    with pytest.raises(ValidationFailed):
        person_update(
            actor=officer, person=person, expected_version=1, id_number="360703199001010010"
        )
    first17 = "36078219900101002"
    updated = person_update(
        actor=officer,
        person=person,
        expected_version=1,
        id_number=first17.lower() + check_char(first17),
    )
    assert updated.id_number == first17 + check_char(first17)
    assert updated.sex == "F" and str(updated.birth_date) == "1990-01-01"


def test_head_rules_and_change_head(loaded, officer):
    head = Person.objects.filter(relation="head").order_by("pk").first()
    household = head.household
    member = Person.objects.filter(household=household).exclude(pk=head.pk).first()
    if member is None:  # make sure the household has a second member
        household = Household.objects.filter(members__relation="spouse").first()
        head = household.members.get(relation="head")
        member = household.members.exclude(pk=head.pk).first()
    with pytest.raises(ValidationFailed):
        person_update(actor=officer, person=head, expected_version=head.version, relation="spouse")
    household_change_head(
        actor=officer,
        household=household,
        new_head=member,
        former_head_relation="配偶",
        expected_version=household.version,
    )
    assert Person.objects.get(pk=member.pk).relation == "head"
    assert Person.objects.get(pk=head.pk).relation == "spouse"
    assert Person.objects.filter(household=household, relation="head").count() == 1
    # A head who dies may leave the household without a head (Q-HEAD reports it).
    new_head = Person.objects.get(pk=member.pk)
    person_update(
        actor=officer, person=new_head, expected_version=new_head.version, status="deceased"
    )


def test_search_by_household_name_and_id(loaded, officer):
    person = Person.objects.order_by("pk").first()
    hid = person.household.household_id
    assert [h.household_id for h in household_search(user=officer, q=hid)] == [hid]
    assert hid in [h.household_id for h in household_search(user=officer, q=person.name)]
    assert [h.household_id for h in household_search(user=officer, q=person.id_number.lower())] == [
        hid
    ]
    assert len(household_search(user=officer, q="H00")) == 12
    assert [h.household_id for h in household_search(user=officer, q=hid.lower())] == [hid]
    # An empty query lists every household in scope, ordered by household number.
    everything = [h.household_id for h in household_search(user=officer, q="  ")]
    assert everything == sorted(Household.objects.values_list("household_id", flat=True))
    # A given name: found anywhere in a name when no name starts with it.
    names = set(Person.objects.values_list("name", flat=True))
    other = next(
        p for p in Person.objects.order_by("pk") if not any(n.startswith(p.name[1:]) for n in names)
    )
    found = [h.household_id for h in household_search(user=officer, q=other.name[1:])]
    assert other.household.household_id in found
    assert list(household_search(user=officer, q="不存在的人")) == []


def test_search_by_legacy_15_digit_id_number(loaded, officer):
    person = next(p for p in Person.objects.order_by("pk") if p.id_number[6:8] == "19")
    legacy = person.id_number[:6] + person.id_number[8:17]
    found = household_search(user=officer, q=legacy)
    assert [h.household_id for h in found] == [person.household.household_id]


def test_search_and_profile_stay_in_scope(loaded, officer):
    villages = list(Area.objects.filter(level=Area.Level.VILLAGE).order_by("code"))
    cadre = User.objects.create(username="cadre", role="village", area=villages[0])
    mine = Household.objects.filter(village=villages[0]).first()
    theirs = Household.objects.exclude(village=villages[0]).first()
    assert {h.village_id for h in household_search(user=cadre, q="H00")} == {villages[0].code}
    member = theirs.members.first()
    assert list(household_search(user=cadre, q=member.id_number)) == []
    assert list(household_search(user=cadre, q=theirs.household_id)) == []
    profile = household_profile(user=cadre, household_id=mine.household_id)
    assert profile["household"] == mine
    assert profile["members"][0].relation == "head"
    assert [c for c, _ in profile["area_path"]] == [
        "36",
        "3607",
        "360703",
        "360703101",
        mine.village_id,
    ]
    assert [i.year for i in profile["incomes"]] == [2025, 2024]
    with pytest.raises(NotFound):
        household_profile(user=cadre, household_id=theirs.household_id)
    with pytest.raises(NotFound):
        household_profile(user=cadre, household_id="nope")
    nobody = User.objects.create(username="nobody", role="village", area=None)
    assert list(household_search(user=nobody, q="H00")) == []
