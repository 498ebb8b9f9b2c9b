import openpyxl
import pytest

from safetynet.areas.importer import import_areas
from safetynet.areas.models import Area
from safetynet.areas.services import load_reference_counties
from safetynet.core.models import AuditEvent
from safetynet.registry.tabular import FileRejected, ImportRejected

pytestmark = pytest.mark.django_db

GOOD = """code,name,parent_code,former_codes
360703101,唐江镇,360703,
360703101001,南屏村,360703101,
360703101002,东山村,360703101,
360703102,镜坝镇,360703,
360703102001,镜坝村,360703102,
"""


def write(tmp_path, text, name="areas.csv"):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_reference_counties_carry_their_former_codes(db):
    load_reference_counties(actor=None)
    nankang = Area.objects.get(code="360703")
    assert nankang.former_code_list()[:2] == ["360782", "362103"]
    assert Area.objects.get(code="360704").former_code_list()[0] == "360721"
    assert "432124" in Area.objects.get(code="430225").former_code_list()  # 酃县 → 炎陵县


def test_import_is_audited_and_idempotent(tmp_path, reference_areas):
    path = write(tmp_path, GOOD)
    result = import_areas(path, actor=None)
    assert result.counts["areas"].created == 5
    assert Area.objects.get(code="360703101001").parent_id == "360703101"
    assert Area.objects.get(code="360703101001").level == Area.Level.VILLAGE
    events = AuditEvent.objects.count()
    again = import_areas(path, actor=None)
    assert again.counts["areas"].unchanged == 5 and again.counts["areas"].created == 0
    assert AuditEvent.objects.count() == events
    write(tmp_path, GOOD.replace("南屏村", "南屏社区"))
    changed = import_areas(path, actor=None)
    assert changed.counts["areas"].updated == 1
    event = AuditEvent.objects.filter(action="update", object_type="areas.area").get()
    assert event.before == {"name": "南屏村"} and event.after == {"name": "南屏社区"}


def test_chinese_headers_in_xlsx(tmp_path, reference_areas):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "区划"
    ws.append(["名称", "区划代码", "上级代码"])
    ws.append(["唐江镇", "360703101", "360703"])
    ws.append(["南屏村", "360703101001", "360703101"])
    path = tmp_path / "areas.xlsx"
    wb.save(path)
    result = import_areas(path, actor=None)
    assert result.counts["areas"].created == 2


def test_county_rows_get_former_codes_from_gbt2260(tmp_path, db):
    path = write(
        tmp_path, "code,name,parent_code\n36,江西省,\n3607,赣州市,36\n360704,赣县区,3607\n"
    )
    import_areas(path, actor=None)
    assert Area.objects.get(code="360704").former_code_list()[0] == "360721"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("3607031010,太长,360703,", "2, 4, 6, 9 or 12 digits"),
        ("360703103,某镇,360704,", "first 6 digits"),
        ("360703103001,某村,360703103,", "no such parent"),
        ("360703101001,重复,360703101,", "duplicates"),
        ("360703104,,360703,", "required"),
        ("360703105,某镇,360703,abc", "';'-separated"),
        ("36,江西省,3607,", "a province has no parent"),
    ],
)
def test_bad_rows_change_nothing(tmp_path, reference_areas, line, fragment):
    before = Area.objects.count()
    path = write(tmp_path, GOOD + line + "\n")
    with pytest.raises(ImportRejected) as info:
        import_areas(path, actor=None)
    assert Area.objects.count() == before
    report = info.value.result.report_paths[0]
    text = report.read_text("utf-8-sig")
    assert text.splitlines()[0].endswith(",errors")
    assert fragment in text


def test_valid_only_skips_bad_rows_and_their_children(tmp_path, reference_areas):
    path = write(tmp_path, GOOD.replace("360703102,镜坝镇,360703,", "360703102,镜坝镇,360799,"))
    result = import_areas(path, actor=None, valid_only=True)
    assert result.counts["areas"].created == 3
    assert result.counts["areas"].skipped == 2
    assert not Area.objects.filter(code="360703102001").exists()
    assert (tmp_path / "areas.errors.csv").exists()


def test_malformed_area_files(tmp_path, reference_areas):
    with pytest.raises(FileRejected):
        import_areas(write(tmp_path, "code,name,parent_code,extra\n"), actor=None)
    with pytest.raises(FileRejected):
        import_areas(write(tmp_path, "name,parent_code\n唐江镇,360703\n"), actor=None)
    path = tmp_path / "gbk.csv"
    path.write_bytes(GOOD.encode("gbk"))
    with pytest.raises(FileRejected) as info:
        import_areas(path, actor=None)
    assert "UTF-8" in info.value.en


def test_area_selectors_follow_the_scope(tmp_path, reference_areas):
    from safetynet.accounts.models import User
    from safetynet.areas.selectors import area_children, area_path, villages

    import_areas(write(tmp_path, GOOD), actor=None)
    assert [a.code for a in area_path("360703101001")] == [
        "36",
        "3607",
        "360703",
        "360703101",
        "360703101001",
    ]
    admin = User.objects.create(username="admin", role="admin")
    cadre = User.objects.create(username="cadre", role="village", area_id="360703101001")
    assert [a.code for a in area_children(user=admin, code="360703101")] == [
        "360703101001",
        "360703101002",
    ]
    assert [a.code for a in area_children(user=cadre, code="360703101")] == ["360703101001"]
    assert [a.code for a in villages(user=cadre)] == ["360703101001"]
    assert len(villages(user=admin, under="360703")) == 3
