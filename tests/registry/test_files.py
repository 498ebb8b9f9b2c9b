"""Malformed input, xlsx workbooks, exports and the import → export → import round trip."""

import datetime as dt
import zipfile

import openpyxl
import pytest

from safetynet.areas.models import Area
from safetynet.core.models import AuditEvent
from safetynet.registry.exporter import export_registry
from safetynet.registry.importer import import_registry
from safetynet.registry.models import Household, Income, Person
from safetynet.registry.tabular import FileRejected, ImportRejected

from .conftest import files, read_rows, write_rows

pytestmark = pytest.mark.django_db


def rejected(paths, *fragments):
    with pytest.raises(FileRejected) as info:
        import_registry(paths, actor=None)
    message = f"{info.value.zh} / {info.value.en}"
    for fragment in fragments:
        assert fragment in message, message
    assert Household.objects.count() == 0
    return info.value


def test_gbk_encoded_csv(region):
    path = region / "households.csv"
    text = path.read_text("utf-8").replace("组", "组")
    headers, rows = read_rows(path)
    rows[0][2] = "南康区唐江镇"
    write_rows(path, headers, rows)
    path.write_bytes(path.read_text("utf-8").encode("gbk"))
    assert text  # (the file had Chinese text before)
    error = rejected([path], "不是UTF-8编码", "not UTF-8", "GBK")
    assert "households.csv" in error.en


def test_binary_file(region):
    path = region / "persons.csv"
    path.write_bytes(bytes(range(256)) * 10)
    rejected([path], "binary")


def test_empty_and_whitespace_files(region):
    path = region / "households.csv"
    path.write_bytes(b"")
    rejected([path], "文件为空", "empty")
    path.write_bytes(b"\xef\xbb\xbf  \n\n")
    rejected([path], "empty")


def test_huge_cell_is_refused(region):
    headers, rows = read_rows(region / "households.csv")
    rows[0][2] = "x" * (10 * 1024 * 1024)
    write_rows(region / "households.csv", headers, rows)
    rejected([region / "households.csv"], "line 2", "longer than")


def test_duplicate_unknown_and_missing_headers(region):
    path = region / "households.csv"
    headers, rows = read_rows(path)
    write_rows(path, [*headers, "地址"], [[*r, ""] for r in rows])
    rejected([path], "duplicate columns", "'address'")
    write_rows(path, [*headers, "notes"], [[*r, ""] for r in rows])
    rejected([path], "unknown columns", "notes")
    keep = [i for i, h in enumerate(headers) if h != "registered_poor"]
    write_rows(path, [headers[i] for i in keep], [[r[i] for i in keep] for r in rows])
    rejected([path], "missing required columns: registered_poor")


def test_unrecognisable_file(region):
    path = write_rows(region / "data.csv", ["a", "b"], [["1", "2"]])
    rejected([path], "cannot tell")


def test_cells_beyond_the_header(region):
    path = region / "households.csv"
    text = path.read_text("utf-8").splitlines()
    text[1] += ",surprise"
    path.write_text("\n".join(text) + "\n", "utf-8")
    with pytest.raises(ImportRejected) as info:
        import_registry(files(region), actor=None)
    assert "beyond the header" in info.value.result.first_errors[0]


def test_old_xls_and_fake_xlsx(region):
    xls = region / "registry.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    rejected([xls], ".xls")
    fake = region / "registry.xlsx"
    fake.write_bytes(b"not a zip at all")
    rejected([fake], "not a valid xlsx")
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("hello.txt", "just a zip")
    rejected([fake], "not a valid xlsx")


def test_xlsx_bomb_is_refused_before_parsing(region):
    bomb = region / "registry.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"<" + b"a" * (40 * 1024 * 1024))
    rejected([bomb], "zip bomb")


def workbook(region, path, *, chinese_sheets=False, date_cells=False, formula=None):
    """The three CSV files of the region as one workbook."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    names = {"households": "户", "persons": "人员", "incomes": "收入"}
    for kind in ("households", "persons", "incomes"):
        headers, rows = read_rows(region / f"{kind}.csv")
        ws = wb.create_sheet(names[kind] if chinese_sheets else kind)
        ws.append(headers)
        for row in rows:
            values = list(row)
            if date_cells and kind == "persons":
                i = headers.index("birth_date")
                values[i] = dt.datetime.fromisoformat(values[i]) if values[i] else None
                j = headers.index("work_months")
                values[j] = int(values[j])
            ws.append(values)
    if formula:
        wb["persons" if not chinese_sheets else "人员"]["C3"] = formula
    wb.save(path)
    return path


def test_xlsx_import_with_excel_dates_and_numbers(region):
    path = workbook(region, region / "registry.xlsx", chinese_sheets=True, date_cells=True)
    result = import_registry([path], actor=None)
    assert result.imported
    assert Household.objects.count() == 12
    _, rows = read_rows(region / "persons.csv")
    assert Person.objects.count() == len(rows)
    # The same data from CSV changes nothing.
    again = import_registry(files(region), actor=None)
    assert again.counts["persons"].unchanged == len(rows)


def test_xlsx_formula_cell_is_named(region):
    path = workbook(region, region / "registry.xlsx", formula='=CONCAT("a","b")')
    error = rejected([path], "persons!C3", "formula")
    assert "公式" in error.zh


def test_xlsx_error_report_is_a_workbook(region):
    path = workbook(region, region / "registry.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["persons"]["O2"] = "99"  # work_months
    wb.save(path)
    with pytest.raises(ImportRejected) as info:
        import_registry([path], actor=None)
    report = info.value.result.report_paths[0]
    assert report.name == "registry.errors.xlsx"
    sheet = openpyxl.load_workbook(report)["persons"]
    assert sheet.cell(1, sheet.max_column).value == "errors"
    assert "work_months" in sheet.cell(2, sheet.max_column).value


def test_report_goes_to_the_report_dir(region, tmp_path):
    headers, rows = read_rows(region / "persons.csv")
    rows[0][headers.index("labour")] = "?"
    write_rows(region / "persons.csv", headers, rows)
    with pytest.raises(ImportRejected) as info:
        import_registry(files(region), actor=None, report_dir=tmp_path / "reports")
    assert info.value.result.report_paths == [tmp_path / "reports" / "persons.errors.csv"]


# --- export and round trip ------------------------------------------------------------------------


def test_round_trip_is_lossless_and_byte_stable(region, tmp_path):
    import_registry(files(region), actor=None)
    first = export_registry(tmp_path / "e1", actor=None)
    assert [p.name for p in first] == ["households.csv", "persons.csv", "incomes.csv"]
    audit_rows = AuditEvent.objects.count()
    result = import_registry(first, actor=None)
    assert all(c.created == c.updated == 0 for c in result.counts.values())
    assert AuditEvent.objects.count() == audit_rows
    second = export_registry(tmp_path / "e2", actor=None)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    # Into an empty registry: the same files come out again.
    Income.objects.all().delete()
    Person.objects.all().delete()
    Household.objects.all().delete()
    import_registry(first, actor=None)
    third = export_registry(tmp_path / "e3", actor=None)
    for a, b in zip(first, third, strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_chinese_and_xlsx_exports_read_back(region, tmp_path):
    import_registry(files(region), actor=None)
    zh = export_registry(tmp_path / "zh", actor=None, chinese=True)
    headers, rows = read_rows(zh[1])
    assert headers[0] == "身份证号" and rows[0][headers.index("与户主关系")] in (
        "户主",
        "配偶",
        "子女",
        "父母",
        "孙子女",
    )
    book = export_registry(tmp_path / "x", actor=None, xlsx=True)
    assert book[0].name == "registry.xlsx"
    for paths in (zh, book):
        result = import_registry(paths, actor=None)
        assert all(c.created == c.updated == 0 for c in result.counts.values())
    # ID numbers stay text in the workbook.
    ws = openpyxl.load_workbook(book[0])["persons"]
    assert isinstance(ws["A2"].value, str) and len(ws["A2"].value) == 18


def test_export_is_audited_and_filtered_by_area(region, tmp_path):
    import_registry(files(region), actor=None)
    village = Area.objects.filter(level=Area.Level.VILLAGE).order_by("code").first()
    paths = export_registry(tmp_path / "one", actor=None, area=village.code)
    _, rows = read_rows(paths[0])
    expected = Household.objects.filter(village_id=village.code).count()
    assert len(rows) == expected and 0 < expected < 12
    event = AuditEvent.objects.get(action="export")
    assert event.area_code == village.code
    assert event.after["rows"]["households"] == expected


def test_export_through_a_users_scope(region, tmp_path):
    from safetynet.accounts.models import User

    import_registry(files(region), actor=None)
    village = Area.objects.filter(level=Area.Level.VILLAGE).order_by("code").last()
    cadre = User.objects.create(username="cadre", role="village", area=village)
    paths = export_registry(tmp_path / "scoped", actor=cadre, user=cadre)
    _, households = read_rows(paths[0])
    _, persons = read_rows(paths[1])
    assert {r[1] for r in households} == {village.code}
    ids = set(Household.objects.filter(village=village).values_list("household_id", flat=True))
    assert {r[1] for r in persons} <= ids
    assert AuditEvent.objects.get(action="export").actor == cadre


def test_xlsx_long_cell_is_refused(region):
    path = workbook(region, region / "registry.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["households"]["C3"] = "长" * 5000
    wb.save(path)
    rejected([path], "households!C3", "longer than 1000")
