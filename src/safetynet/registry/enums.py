"""Vocabularies of formats/registry.md: code, Chinese label, English label.

Imports accept the code or either label; the UI shows the label of the active language.
"""

from __future__ import annotations

from django.db import models

from safetynet.core.i18n import bilingual

VOCABULARIES: dict[str, list[tuple[str, str, str]]] = {
    "relation": [
        ("head", "户主", "Head"),
        ("spouse", "配偶", "Spouse"),
        ("child", "子女", "Child"),
        ("child_in_law", "儿媳/女婿", "Child-in-law"),
        ("grandchild", "孙子女", "Grandchild"),
        ("parent", "父母", "Parent"),
        ("grandparent", "祖父母", "Grandparent"),
        ("sibling", "兄弟姐妹", "Sibling"),
        ("other", "其他", "Other"),
    ],
    "sex": [("M", "男", "Male"), ("F", "女", "Female")],
    "status": [
        ("active", "正常", "Active"),
        ("deceased", "死亡", "Deceased"),
        ("imprisoned", "服刑", "Imprisoned"),
        ("missing", "失踪", "Missing"),
        ("moved_out", "迁出", "Moved out"),
    ],
    "education": [
        ("none", "文盲或半文盲", "Illiterate or semi-literate"),
        ("primary", "小学", "Primary"),
        ("junior", "初中", "Junior secondary"),
        ("senior", "高中", "Senior secondary"),
        ("vocational", "中职/中专", "Secondary vocational"),
        ("college", "大专及以上", "College and above"),
    ],
    "health": [
        ("healthy", "健康", "Healthy"),
        ("chronic", "长期慢性病", "Chronic illness"),
        ("serious", "大病/重病", "Serious illness"),
        ("disabled", "残疾", "Disabled"),
    ],
    "disability_type": [
        ("visual", "视力", "Visual"),
        ("hearing", "听力", "Hearing"),
        ("speech", "言语", "Speech"),
        ("physical", "肢体", "Physical"),
        ("intellectual", "智力", "Intellectual"),
        ("mental", "精神", "Mental"),
        ("multiple", "多重", "Multiple"),
    ],
    "labour": [
        ("normal", "普通劳动力", "Normal labour"),
        ("weak", "弱劳动力或半劳动力", "Weak or half labour"),
        ("lost", "丧失劳动力", "Lost labour capacity"),
        ("none", "无劳动力", "No labour capacity"),
    ],
    "employment": [
        ("none", "未务工", "Not working"),
        ("local", "本地务工", "Working locally"),
        ("migrant", "外出务工", "Migrant worker"),
    ],
    "housing_grade": [
        ("A", "A级", "Grade A"),
        ("B", "B级", "Grade B"),
        ("C", "C级(局部危房)", "Grade C (partly unsafe)"),
        ("D", "D级(整栋危房)", "Grade D (unsafe)"),
    ],
}


def choices(vocabulary: str) -> list[tuple[str, str]]:
    return [(code, bilingual(zh, en)) for code, zh, en in VOCABULARIES[vocabulary]]


def lookup(vocabulary: str) -> dict[str, str]:
    """Map every accepted spelling (code, Chinese, English, case-insensitive) to the code."""
    table: dict[str, str] = {}
    for code, zh, en in VOCABULARIES[vocabulary]:
        for spelling in (code, zh, en, *zh.split("/")):
            table[spelling.strip().lower()] = code
    return table


class Relation(models.TextChoices):
    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    CHILD_IN_LAW = "child_in_law"
    GRANDCHILD = "grandchild"
    PARENT = "parent"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER = "other"
