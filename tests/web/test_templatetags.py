import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation

from safetynet.web.templatetags import safetynet as tags


@pytest.mark.parametrize(
    ("value", "zh", "en"),
    [
        (Decimal("16000.5"), "16,000.50元", "¥16,000.50"),
        (Decimal("0.005"), "0.01元", "¥0.01"),  # half up
        (1234567, "1,234,567.00元", "¥1,234,567.00"),
        (Decimal("-12.344"), "-12.34元", "¥-12.34"),
        (None, "—", "—"),
    ],
)
def test_yuan_follows_the_language(value, zh, en):
    with translation.override("zh-hans"):
        assert tags.yuan(value) == zh
    with translation.override("en"):
        assert tags.yuan(value) == en


def test_yuan_whole_and_numbers():
    with translation.override("zh-hans"):
        assert tags.yuan(Decimal("407.5"), 0) == "408元"
        assert tags.cn_number(123456) == "123,456"
        assert tags.cn_number("abc") == "abc"


def test_dates_in_chinese_and_english():
    day = dt.date(2024, 6, 30)
    moment = dt.datetime(2024, 6, 30, 6, 5, tzinfo=dt.UTC)  # 14:05 in Asia/Shanghai
    with translation.override("zh-hans"):
        assert tags.cn_date(day) == "2024年6月30日"
        assert tags.cn_date("2024-06-30") == "2024年6月30日"
        assert tags.cn_datetime(moment) == "2024年6月30日 14:05"
        assert tags.cn_date(None) == "—"
    with translation.override("en"):
        assert tags.cn_date(day) == "30 Jun 2024"
        assert tags.cn_datetime(moment) == "30 Jun 2024 14:05"


def test_masks_and_labels():
    assert tags.masked("360827198003150011", "id_number") == "360827********0011"
    assert tags.masked("13907960011", "phone") == "139****0011"
    assert tags.masked("6217995010001234011", "bank_account").endswith("4011")
    assert tags.masked("", "phone") == ""
    with translation.override("zh-hans"):
        assert tags.level_label("red") == "红色预警"
        assert tags.category_label("sudden") == "突发严重困难户"
        assert tags.pick_lang({"zh": "中", "en": "E"}) == "中"
    with translation.override("en"):
        assert tags.category_label("edge") == "Edge household"
        assert tags.pick_lang({"zh": "中", "en": "E"}) == "E"
    assert tags.category_label("unknown") == "unknown"


def test_age_in_whole_years():
    born = dt.date(2012, 6, 1)
    assert tags.age_years(born, dt.date(2024, 5, 31)) == "11"
    assert tags.age_years(born, dt.date(2024, 6, 1)) == "12"
    assert tags.age_years(None) == "—"


def test_id_numbers_inside_free_text_are_masked():
    text = "成员 36082719800315001X 与 360827800315001 死亡；金额 1234567 元"
    masked = tags.mask_ids(text)
    assert "36082719800315001X" not in masked and "360827********001X" in masked
    assert "360827800315001" not in masked
    assert "1234567" in masked  # ordinary numbers stay
