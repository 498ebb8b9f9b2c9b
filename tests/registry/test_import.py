import datetime as dt
import shutil
from decimal import Decimal

import pytest

from safetynet.core.idnumber import check_char
from safetynet.core.models import AuditEvent
from safetynet.registry.importer import import_registry
from safetynet.registry.models import Household, Income, Person
from safetynet.registry.tabular import ImportRejected

from .conftest import files, read_rows, set_cell, write_rows

pytestmark = pytest.mark.django_db


def counts(result):
    return {k: v.as_dict() for k, v in result.counts.items()}


def test_import_creates_everything_and_audits_each_row(region):
    result = import_registry(files(region), actor=None)
    _, persons = read_rows(region / "persons.csv")
    _, incomes = read_rows(region / "incomes.csv")
    assert result.imported and result.errors == 0
    assert counts(result)["households"]["created"] == 12
    assert Person.objects.count() == len(persons)
    assert Income.objects.count() == len(incomes)
    created = AuditEvent.objects.filter(action="create", note__startswith="import")
    assert created.filter(object_type="registry.household").count() == 12
    assert created.filter(object_type="registry.person").count() == len(persons)
    assert created.filter(object_type="registry.income").count() == len(incomes)
    person = Person.objects.order_by("pk").first()
    event = created.get(object_type="registry.person", object_id=str(person.pk))
    assert event.after["id_number"] == person.id_number
    assert event.area_code == person.household.village_id
    assert event.actor_label.startswith("cli")
    income = Income.objects.order_by("pk").first()
    assert isinstance(income.wage, Decimal)
    assert (
        AuditEvent.objects.get(object_type="registry.income", object_id=str(income.pk)).after[
            "wage"
        ]
        == f"{income.wage:.2f}"
    )


def test_identical_reimport_changes_nothing_and_writes_no_audit(region):
    import_registry(files(region), actor=None)
    before = AuditEvent.objects.count()
    versions = list(Person.objects.order_by("pk").values_list("version", "updated_at"))
    result = import_registry(list(reversed(files(region))), actor=None)  # any order
    c = counts(result)
    assert c["households"]["unchanged"] == 12 and c["households"]["updated"] == 0
    assert c["persons"]["created"] == 0 and c["persons"]["updated"] == 0
    assert AuditEvent.objects.count() == before
    assert list(Person.objects.order_by("pk").values_list("version", "updated_at")) == versions


def test_changed_row_replaces_values_and_is_audited(region):
    import_registry(files(region), actor=None)
    headers, rows = read_rows(region / "persons.csv")
    pid = rows[0][0]
    set_cell(region / "persons.csv", 0, "name", "改名")
    set_cell(region / "incomes.csv", 0, "wage", "123.40")
    result = import_registry(files(region), actor=None)
    assert counts(result)["persons"]["updated"] == 1
    assert counts(result)["incomes"]["updated"] == 1
    person = Person.objects.get(id_number=pid)
    assert person.name == "改名" and person.version == 2
    event = AuditEvent.objects.get(action="update", object_type="registry.person")
    assert event.object_id == str(person.pk)
    assert list(event.after) == ["name"] and event.after["name"] == "改名"
    assert event.before["name"] == rows[0][headers.index("name")]
    income_event = AuditEvent.objects.get(action="update", object_type="registry.income")
    assert income_event.after == {"wage": "123.40"}


def test_awkward_text_goes_in_and_into_the_audit_unchanged(region):
    """Backslashes, tabs, line breaks (CR too), quotes and a literal \\N are values, not COPY syntax."""
    awkward = 'a\\b\tc\nd\r\ne "f" \\N'
    headers, rows = read_rows(region / "households.csv")
    rows[0][headers.index("address")] = awkward
    rows[1][headers.index("address")] = "\\N"
    rows[2][headers.index("bank_account")] = ""
    write_rows(region / "households.csv", headers, rows)
    _, persons = read_rows(region / "persons.csv")
    set_cell(region / "persons.csv", 0, "name", "王\\N")
    import_registry(files(region), actor=None)
    first = Household.objects.get(household_id=rows[0][0])
    assert first.address == awkward
    assert Household.objects.get(household_id=rows[1][0]).address == "\\N"
    assert Household.objects.get(household_id=rows[2][0]).bank_account == ""
    assert Person.objects.get(id_number=persons[0][0]).name == "王\\N"
    event = AuditEvent.objects.get(object_type="registry.household", object_id=str(first.pk))
    assert event.after["address"] == awkward and event.before is None
    assert event.note.startswith("import") and event.action == "create"
    again = import_registry(files(region), actor=None)
    assert counts(again)["households"]["unchanged"] == 12


def test_new_rows_under_stored_and_moved_households(region):
    """New persons and incomes get their household's key and village, whether the household
    is only in the registry or is in the file (created, or moved to another village)."""
    import_registry(files(region), actor=None)
    h_headers, households = read_rows(region / "households.csv")
    p_headers, persons = read_rows(region / "persons.csv")
    i_headers, incomes = read_rows(region / "incomes.csv")
    village = h_headers.index("village_code")
    stored, moved = households[0][0], households[1][0]
    target = next(r[village] for r in households if r[village] != households[1][village])
    households[1][village] = target
    created = list(households[2])
    created[0] = "HNEW001"
    write_rows(region / "households.csv", h_headers, [households[1], created])

    def person(hid: str, serial: int, relation: str) -> list[str]:
        first17 = f"36070319900101{serial:03d}"
        row = [""] * len(p_headers)
        row[p_headers.index("id_number")] = first17 + check_char(first17)
        row[p_headers.index("household_id")] = hid
        row[p_headers.index("name")] = f"新人{serial}"
        row[p_headers.index("relation")] = relation
        row[p_headers.index("labour")] = "normal"
        return row

    new_persons = [person(stored, 901, "child"), person(moved, 902, "child")]
    new_persons.append(person("HNEW001", 903, "head"))
    write_rows(region / "persons.csv", p_headers, new_persons)
    year = i_headers.index("year")
    new_income = list(next(r for r in incomes if r[0] == stored))
    new_income[year] = "2019"
    write_rows(region / "incomes.csv", i_headers, [new_income])
    result = import_registry(files(region), actor=None)
    assert counts(result)["households"]["created"] == 1
    assert counts(result)["households"]["updated"] == 1  # the moved one
    assert counts(result)["persons"]["created"] == 3
    expected = {
        "新人901": (stored, households[0][village]),
        "新人902": (moved, target),
        "新人903": ("HNEW001", created[village]),
    }
    for name, (hid, code) in expected.items():
        p = Person.objects.get(name=name)
        assert p.household.household_id == hid and p.household.village_id == code
        event = AuditEvent.objects.get(object_type="registry.person", object_id=str(p.pk))
        assert event.action == "create" and event.area_code == code
        assert event.after["household_id"] == hid
    income = Income.objects.get(household__household_id=stored, year=2019)
    event = AuditEvent.objects.get(object_type="registry.income", object_id=str(income.pk))
    assert event.area_code == households[0][village]


def test_sex_and_birth_date_are_taken_from_the_id_when_empty(region):
    set_cell(region / "persons.csv", 0, "sex", "")
    set_cell(region / "persons.csv", 0, "birth_date", "")
    import_registry(files(region), actor=None)
    _, rows = read_rows(region / "persons.csv")
    person = Person.objects.get(id_number=rows[0][0])
    number = rows[0][0]
    assert person.birth_date == dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert person.sex == ("M" if int(number[16]) % 2 else "F")


def test_legacy_15_digit_and_lower_case_x_are_normalised(region):
    headers, rows = read_rows(region / "persons.csv")
    first17 = "36070319900101002"  # female, 1990-01-01
    rows[1][0] = "360703900101002"  # the same person in the legacy 15-digit form
    rows[1][headers.index("sex")] = "F"
    rows[1][headers.index("birth_date")] = "1990-01-01"
    with_x = next(
        f"3607031985020300{d}" for d in range(10) if check_char(f"3607031985020300{d}") == "X"
    )
    rows[2][0] = with_x.lower() + "x"
    rows[2][headers.index("sex")] = ""
    rows[2][headers.index("birth_date")] = ""
    write_rows(region / "persons.csv", headers, rows)
    import_registry(files(region), actor=None)
    assert Person.objects.filter(id_number=first17 + check_char(first17)).exists()
    assert Person.objects.filter(id_number=with_x + "X").exists()


def assert_rejected(region, fragment, *, file="persons.csv", row=None):
    with pytest.raises(ImportRejected) as info:
        import_registry(files(region), actor=None)
    result = info.value.result
    assert result.errors >= 1
    assert Household.objects.count() == 0 and Person.objects.count() == 0
    assert Income.objects.count() == 0
    assert not AuditEvent.objects.filter(object_type__startswith="registry").exists()
    report = region / file.replace(".csv", ".errors.csv")
    assert report in result.report_paths and report.exists()
    headers, rows = read_rows(report)
    assert headers[-1] == "errors"
    texts = [r[-1] for r in rows]
    hits = [i for i, t in enumerate(texts) if fragment in t]
    assert hits, texts
    if row is not None:
        assert row in hits
    # Bilingual: each message has Chinese and English parts.
    assert all(" / " in t for t in texts if t)
    return result


HOUSEHOLD_CASES = [
    ("village_code", "360703101999", "not a village code"),
    ("village_code", "3607031", "not a village code"),
    ("registered_poor", "maybe", "must be Y/N"),
    ("registered_poor", "", "required"),
    ("phone", "1380013800", "11-digit mobile"),
    ("phone", "23800138000", "11-digit mobile"),
    ("housing_grade", "E", "not one of the accepted values"),
    ("household_id", "H" * 33, "longer than 32"),
    ("water_secure", "perhaps", "must be Y/N"),
    ("address", '=HYPERLINK("x")', "formula"),
]


@pytest.mark.parametrize(("column", "value", "fragment"), HOUSEHOLD_CASES)
def test_household_validations(region, column, value, fragment):
    set_cell(region / "households.csv", 3, column, value)
    assert_rejected(region, fragment, file="households.csv", row=3)


def test_exit_year_rules(region):
    headers, rows = read_rows(region / "households.csv")
    poor = next(i for i, r in enumerate(rows) if r[headers.index("registered_poor")] == "Y")
    other = next(i for i, r in enumerate(rows) if r[headers.index("registered_poor")] == "N")
    rows[poor][headers.index("exit_year")] = "2013"
    write_rows(region / "households.csv", headers, rows)
    assert_rejected(region, "between 2014 and 2020", file="households.csv", row=poor)
    rows[poor][headers.index("exit_year")] = ""
    write_rows(region / "households.csv", headers, rows)
    assert_rejected(
        region, "required for a registered poor household", file="households.csv", row=poor
    )
    rows[poor][headers.index("exit_year")] = "2016"
    rows[other][headers.index("exit_year")] = "2016"
    write_rows(region / "households.csv", headers, rows)
    assert_rejected(region, "only for registered poor", file="households.csv", row=other)


def test_duplicate_household_rows(region):
    headers, rows = read_rows(region / "households.csv")
    write_rows(region / "households.csv", headers, [*rows, rows[0]])
    assert_rejected(region, "duplicates another row", file="households.csv", row=0)


PERSON_CASES = [
    ("relation", "cousin", "not one of the accepted values"),
    ("labour", "", "required"),
    ("name", "", "required"),
    ("work_months", "13", "between 0 and 12"),
    ("work_months", "six", "whole number"),
    ("adl_failed", "7", "between 0 and 6"),
    ("disability_grade", "5", "between 1 and 4"),
    ("disability_grade", "2", "required with a disability grade"),
    ("disability_type", "visual", "required with a disability type"),
    ("phone", "12345", "11-digit mobile"),
    ("in_school", "sometimes", "must be Y/N"),
    ("birth_date", "1990/01/01", "must be a date"),
    ("household_id", "H9999999", "no such household"),
    ("status", "gone", "not one of the accepted values"),
]


@pytest.mark.parametrize(("column", "value", "fragment"), PERSON_CASES)
def test_person_validations(region, column, value, fragment):
    headers, rows = read_rows(region / "persons.csv")
    row = next(i for i, r in enumerate(rows) if r[headers.index("relation")] != "head")
    set_cell(region / "persons.csv", row, column, value)
    assert_rejected(region, fragment, row=row)


def test_id_number_check_character_and_date(region):
    headers, rows = read_rows(region / "persons.csv")
    number = rows[1][0]
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    set_cell(region / "persons.csv", 1, "id_number", wrong)
    assert_rejected(region, "check character is wrong", row=1)
    bad_date = "36070319990230001"
    set_cell(region / "persons.csv", 1, "id_number", bad_date + check_char(bad_date))
    assert_rejected(region, "birth date is not a valid date", row=1)


def test_id_placeholder_and_unknown_area(region):
    set_cell(region / "persons.csv", 1, "id_number", "999999999999999999")
    assert_rejected(region, "placeholder", row=1)
    unknown = "99000019900101001"
    set_cell(region / "persons.csv", 1, "id_number", unknown + check_char(unknown))
    assert_rejected(region, "area code is not a GB/T 2260 code", row=1)


def test_sex_and_birth_date_must_agree_with_the_id(region):
    headers, rows = read_rows(region / "persons.csv")
    sex = rows[1][headers.index("sex")]
    set_cell(region / "persons.csv", 1, "sex", "F" if sex == "M" else "M")
    set_cell(region / "persons.csv", 2, "birth_date", "1900-01-01")
    result = assert_rejected(region, "sex: disagrees with the ID number", row=1)
    assert result.error_rows >= 2
    _, report = read_rows(region / "persons.errors.csv")
    assert "birth_date: disagrees with the ID number" in report[2][-1]


def test_duplicate_id_numbers_in_the_file(region):
    headers, rows = read_rows(region / "persons.csv")
    rows[2][0] = rows[1][0]
    rows[2][headers.index("sex")] = rows[1][headers.index("sex")]
    rows[2][headers.index("birth_date")] = rows[1][headers.index("birth_date")]
    write_rows(region / "persons.csv", headers, rows)
    assert_rejected(region, "duplicates another row", row=2)


def test_one_head_per_household(region):
    headers, rows = read_rows(region / "persons.csv")
    rel = headers.index("relation")
    hid = headers.index("household_id")
    household = rows[0][hid]
    second = next(i for i, r in enumerate(rows) if r[hid] == household and r[rel] != "head")
    rows[second][rel] = "户主"
    rows[second][headers.index("status")] = "active"
    write_rows(region / "persons.csv", headers, rows)
    assert_rejected(region, f"household {household} has 2 heads", row=second)
    rows[second][rel] = "spouse"
    rows[0][rel] = "spouse"
    write_rows(region / "persons.csv", headers, rows)
    assert_rejected(region, f"household {household} has no head", file="households.csv")


def test_head_check_uses_the_state_after_the_import(region):
    import_registry(files(region), actor=None)
    headers, rows = read_rows(region / "persons.csv")
    rel, hid = headers.index("relation"), headers.index("household_id")
    household = rows[0][hid]
    others = [i for i, r in enumerate(rows) if r[hid] == household and r[rel] != "head"]
    # A file with only a new head for a household whose stored head stays: two heads.
    new = "36070320000101003"
    extra = rows[others[0]].copy()
    extra[0] = new + check_char(new)
    extra[rel] = "head"
    extra[headers.index("status")] = "active"
    extra[headers.index("sex")] = "M"
    extra[headers.index("birth_date")] = "2000-01-01"
    path = write_rows(region / "more_persons.csv", headers, [extra])
    with pytest.raises(ImportRejected) as info:
        import_registry([path], actor=None)
    assert "2 heads" in info.value.result.first_errors[0]
    # The same file, also making the stored head a spouse: one head after the import.
    old_head = rows[0].copy()
    old_head[rel] = "spouse"
    write_rows(path, headers, [extra, old_head])
    result = import_registry([path], actor=None)
    assert counts(result)["persons"] == {"created": 1, "updated": 1, "unchanged": 0, "skipped": 0}
    assert Person.objects.get(id_number=rows[0][0]).relation == "spouse"


INCOME_CASES = [
    ("wage", "-5", "amount ≥ 0"),
    ("wage", "12.345", "at most 2 decimals"),
    ("property", "lots", "amount ≥ 0"),
    ("year", "twenty", "whole number"),
    ("year", "", "required"),
    ("household_id", "H7777777", "no such household"),
]


@pytest.mark.parametrize(("column", "value", "fragment"), INCOME_CASES)
def test_income_validations(region, column, value, fragment):
    set_cell(region / "incomes.csv", 2, column, value)
    assert_rejected(region, fragment, file="incomes.csv", row=2)


def test_duplicate_income_year(region):
    headers, rows = read_rows(region / "incomes.csv")
    write_rows(region / "incomes.csv", headers, [*rows, rows[0]])
    assert_rejected(region, "duplicates another row", file="incomes.csv", row=0)


def test_one_message_per_bad_cell(region):
    set_cell(region / "persons.csv", 1, "work_months", "13")
    set_cell(region / "persons.csv", 1, "adl_failed", "9")
    set_cell(region / "persons.csv", 1, "phone", "1")
    result = assert_rejected(region, "work_months", row=1)
    assert result.errors == 3 and result.error_rows == 1
    _, rows = read_rows(region / "persons.errors.csv")
    assert rows[1][-1].count(" | ") == 2
    assert "务工时间(月)：应在 0–12 之间" in rows[1][-1]


def test_valid_only_imports_the_good_rows_and_reports_the_rest(region):
    headers, rows = read_rows(region / "persons.csv")
    hid = headers.index("household_id")
    bad_household = rows[0][hid]
    set_cell(region / "persons.csv", 0, "labour", "")  # the head of the first household
    set_cell(region / "incomes.csv", 5, "wage", "-1")
    result = import_registry(files(region), actor=None, valid_only=True)
    assert result.imported and result.errors >= 2
    assert (region / "persons.errors.csv") in result.report_paths
    assert not Household.objects.filter(household_id=bad_household).exists()
    assert Household.objects.count() == 11
    c = counts(result)
    assert c["households"]["skipped"] == 1
    assert c["incomes"]["skipped"] >= 1
    expected = sum(1 for r in rows if r[hid] != bad_household)
    assert Person.objects.count() == expected
    _, report = read_rows(region / "households.errors.csv")
    assert "has no head" in report[0][-1]


def test_chinese_headers_labels_any_order_and_bom(region):
    from safetynet.registry.columns import TABLES
    from safetynet.registry.enums import VOCABULARIES

    for kind in ("households", "persons", "incomes"):
        headers, rows = read_rows(region / f"{kind}.csv")
        cols = {c.name: c for c in TABLES[kind]}
        zh_headers = [cols[h].zh for h in headers]
        out = []
        for row in rows:
            new = []
            for h, v in zip(headers, row, strict=True):
                col = cols[h]
                if col.kind == "bool" and v:
                    v = {"Y": "是", "N": "否"}[v]
                elif col.kind == "enum" and v:
                    v = {code: zh for code, zh, _ in VOCABULARIES[col.vocabulary]}[v]
                new.append(v)
            out.append(list(reversed(new)))
        write_rows(region / f"{kind}.csv", list(reversed(zh_headers)), out, bom=True)
    # income headers may also carry their explanation in brackets
    headers, rows = read_rows(region / "incomes.csv")
    headers = [h if h != "政策性补贴" else "政策性补贴 (生态补偿、耕地地力补贴等)" for h in headers]
    write_rows(region / "incomes.csv", headers, rows, bom=True)
    result = import_registry(files(region), actor=None)
    assert result.imported and counts(result)["households"]["created"] == 12
    head = Person.objects.filter(relation="head").count()
    assert head == 12


def test_files_recognised_by_headers_whatever_their_names(region):
    renamed = []
    for i, path in enumerate(files(region)):
        target = region / f"upload_{i}.csv"
        shutil.copy(path, target)
        renamed.append(target)
    result = import_registry(list(reversed(renamed)), actor=None)
    assert counts(result)["households"]["created"] == 12


def test_booleans_in_every_spelling(region):
    headers, rows = read_rows(region / "households.csv")
    spellings = ["Y", "N", "是", "否", "1", "0", "true", "false", "TRUE", "y"]
    col = headers.index("relocated")
    for i, row in enumerate(rows):
        row[col] = spellings[i % len(spellings)]
    write_rows(region / "households.csv", headers, rows)
    import_registry(files(region), actor=None)
    relocated = dict(Household.objects.values_list("household_id", "relocated"))
    expected = {True: {"Y", "是", "1", "true", "TRUE", "y"}}
    for row in rows:
        assert relocated[row[0]] == (row[col] in expected[True])


def test_a_person_moving_to_another_household(region):
    import_registry(files(region), actor=None)
    headers, rows = read_rows(region / "persons.csv")
    rel, hid = headers.index("relation"), headers.index("household_id")
    mover = next(i for i, r in enumerate(rows) if r[rel] != "head")
    source = rows[mover][hid]
    target = next(r[hid] for r in rows if r[hid] != source)
    rows[mover][hid] = target
    write_rows(region / "persons.csv", headers, rows)
    result = import_registry(files(region), actor=None)
    assert counts(result)["persons"]["updated"] == 1
    person = Person.objects.get(id_number=rows[mover][0])
    assert person.household.household_id == target
    event = AuditEvent.objects.get(action="update", object_type="registry.person")
    assert event.before == {"household_id": source} and event.after == {"household_id": target}


def test_too_long_village_code_gets_one_message(region):
    set_cell(region / "households.csv", 0, "village_code", "3607031010011")
    result = assert_rejected(region, "longer than 12", file="households.csv", row=0)
    assert result.errors == 1


def test_bad_exit_year_gets_one_message(region):
    headers, rows = read_rows(region / "households.csv")
    poor = next(i for i, r in enumerate(rows) if r[headers.index("registered_poor")] == "Y")
    set_cell(region / "households.csv", poor, "exit_year", "abc")
    result = assert_rejected(region, "whole number", file="households.csv", row=poor)
    assert result.errors == 1
