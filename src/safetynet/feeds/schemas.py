"""One declaration per department feed kind (formats/feeds.md).

Everything that knows about a kind's columns reads this module: the validator builds its SQL from
it, the lake writes Parquet with these types, the linked views expose these columns. Adding a
kind or a column is a change here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from safetynet.core.errors import ValidationFailed
from safetynet.registry.enums import VOCABULARIES

ColumnType = Literal["text", "id", "date", "bool", "money", "int", "enum", "village", "term"]

# The Parquet/DuckDB type of the stored (validated) value of each column type.
SQL_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "id": "VARCHAR",
    "date": "DATE",
    "bool": "BOOLEAN",
    "money": "DECIMAL(14,2)",
    "int": "INTEGER",
    "enum": "VARCHAR",
    "village": "VARCHAR",
    "term": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    type: ColumnType = "text"
    required: bool = False
    # (code, Chinese label, English label); the file may use any of the three spellings.
    values: tuple[tuple[str, str, str], ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int = 200

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    def spellings(self) -> dict[str, str]:
        """Every accepted spelling (lower-cased) mapped to the stored code."""
        table: dict[str, str] = {}
        for code, zh, en in self.values:
            for spelling in (code, zh, en, *zh.split("/")):
                table[spelling.strip().lower()] = code
        return table


@dataclass(frozen=True)
class FeedKind:
    name: str
    zh: str
    en: str
    department_zh: str
    department_en: str
    columns: tuple[Column, ...]
    household_level: bool = False
    used_by: tuple[str, ...] = field(default=())

    @property
    def department(self) -> str:
        """Default department label of a batch of this kind."""
        return self.department_zh

    @property
    def all_columns(self) -> tuple[Column, ...]:
        extra = (HOUSEHOLD_ID,) if self.household_level else ()
        return COMMON_COLUMNS + extra + self.columns

    @property
    def own_column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def label(self, lang: str = "zh") -> str:
        return self.en if lang.startswith("en") else self.zh


BOOL_TRUE = ("y", "yes", "true", "t", "1", "是")
BOOL_FALSE = ("n", "no", "false", "f", "0", "否")

COMMON_COLUMNS: tuple[Column, ...] = (
    Column("record_id", "记录编号", "text", required=True, max_length=64),
    Column("id_number", "身份证号", "id", max_length=32),
    Column("name", "姓名", "text", required=True, max_length=50),
    Column("birth_date", "出生日期", "date"),
    Column("sex", "性别", "enum", values=tuple(VOCABULARIES["sex"])),
    Column("village_code", "村(社区)代码", "village"),
    Column("event_date", "业务日期", "date", required=True),
)
HOUSEHOLD_ID = Column("household_id", "户编号", "text", max_length=32)

_DISABILITY_TYPES = tuple(VOCABULARIES["disability_type"])

KINDS: dict[str, FeedKind] = {
    k.name: k
    for k in (
        FeedKind(
            "medical_claims",
            "医保结算",
            "Medical insurance claims",
            "医疗保障局",
            "Medical insurance bureau",
            (
                Column("total_cost", "医疗总费用", "money", required=True),
                Column("insurance_paid", "医保报销", "money"),
                Column("out_of_pocket", "合规自付", "money", required=True),
                Column("inpatient", "住院", "bool"),
            ),
            used_by=("M-RIGID", "A-EXPENDITURE", "R-HARDSHIP"),
        ),
        FeedKind(
            "medical_insurance",
            "参保",
            "Medical insurance enrolment",
            "医疗保障局",
            "Medical insurance bureau",
            (
                Column("year", "参保年度", "int", required=True, min_value=1990, max_value=2100),
                Column("insured", "已参保", "bool", required=True),
            ),
            used_by=("M-MEDINS",),
        ),
        FeedKind(
            "disability",
            "残疾人证",
            "Disability certificates",
            "残疾人联合会",
            "Disabled persons' federation",
            (
                Column("disability_type", "残疾类别", "enum", values=_DISABILITY_TYPES),
                Column(
                    "disability_grade", "残疾等级", "int", required=True, min_value=1, max_value=4
                ),
            ),
            used_by=("Y-LABOUR", "D-AMOUNT", "T-NOLABOUR"),
        ),
        FeedKind(
            "deaths",
            "死亡",
            "Deaths",
            "公安/民政(殡葬)",
            "Public security / civil affairs (funerals)",
            (),
            used_by=("Q-DEAD-PAID", "Q-DEAD-LATE"),
        ),
        FeedKind(
            "school_enrolment",
            "学籍",
            "School enrolment",
            "教育局",
            "Education bureau",
            (
                Column("term", "学期", "term", required=True),
                Column("school", "学校", "text"),
                Column(
                    "stage",
                    "学段",
                    "enum",
                    required=True,
                    values=(
                        ("primary", "小学", "Primary"),
                        ("junior", "初中", "Junior secondary"),
                        ("senior", "高中", "Senior secondary"),
                        ("vocational", "中职/中专", "Secondary vocational"),
                    ),
                ),
                Column(
                    "status",
                    "学籍状态",
                    "enum",
                    required=True,
                    values=(
                        ("enrolled", "在读/在校", "Enrolled"),
                        ("dropped_out", "辍学", "Dropped out"),
                        ("suspended", "休学", "Suspended"),
                    ),
                ),
            ),
            used_by=("M-EDU", "Q-SCHOOL"),
        ),
        FeedKind(
            "housing",
            "住房安全鉴定",
            "Housing safety appraisal",
            "住房和城乡建设局",
            "Housing and construction bureau",
            (
                Column(
                    "grade",
                    "鉴定等级",
                    "enum",
                    required=True,
                    values=tuple(
                        (code, f"{code}级", en) for code, _zh, en in VOCABULARIES["housing_grade"]
                    ),
                ),
            ),
            household_level=True,
            used_by=("M-HOUSING",),
        ),
        FeedKind(
            "water",
            "饮水安全",
            "Drinking-water safety",
            "水利局",
            "Water resources bureau",
            (Column("secure", "饮水安全", "bool", required=True),),
            household_level=True,
            used_by=("M-WATER",),
        ),
        FeedKind(
            "vehicles",
            "机动车",
            "Motor vehicles",
            "公安交警",
            "Public security traffic police",
            (
                Column(
                    "vehicle_type",
                    "车辆类型",
                    "enum",
                    required=True,
                    values=(
                        ("car", "小型汽车/轿车", "Car"),
                        ("truck", "货车", "Truck"),
                        ("van", "面包车", "Van"),
                        ("motorcycle", "摩托车", "Motorcycle"),
                        ("agricultural", "农用车/拖拉机", "Agricultural vehicle"),
                        ("disabled_mobility", "残疾人机动轮椅车", "Disabled mobility vehicle"),
                    ),
                ),
                Column(
                    "status",
                    "车辆状态",
                    "enum",
                    required=True,
                    values=(
                        ("active", "正常/在用", "Active"),
                        ("scrapped", "报废/注销", "Scrapped"),
                    ),
                ),
            ),
            used_by=("D-ASSETS", "Q-VEHICLE"),
        ),
        FeedKind(
            "businesses",
            "市场主体",
            "Business registrations",
            "市场监督管理局",
            "Market regulation bureau",
            (
                Column("enterprise_name", "企业名称", "text"),
                Column(
                    "role",
                    "身份",
                    "enum",
                    required=True,
                    values=(
                        ("legal_rep", "法定代表人", "Legal representative"),
                        ("shareholder", "股东", "Shareholder"),
                    ),
                ),
                Column("registered_capital", "注册资本", "money"),
                Column(
                    "status",
                    "登记状态",
                    "enum",
                    required=True,
                    values=(
                        ("active", "存续/在业", "Active"),
                        ("revoked", "吊销", "Revoked"),
                        ("cancelled", "注销", "Cancelled"),
                    ),
                ),
            ),
            used_by=("D-ASSETS", "Q-BUSINESS"),
        ),
        FeedKind(
            "payroll",
            "财政供养人员",
            "Public payroll",
            "财政局",
            "Finance bureau",
            (Column("employer", "工作单位", "text", required=True),),
            used_by=("Q-PAYROLL",),
        ),
        FeedKind(
            "employment",
            "就业失业",
            "Employment and unemployment",
            "人力资源和社会保障局",
            "Human resources and social security bureau",
            (
                Column(
                    "event",
                    "事件",
                    "enum",
                    required=True,
                    values=(
                        ("registered_unemployed", "登记失业", "Registered unemployed"),
                        ("returned_migrant", "返乡/返乡务工人员", "Returned migrant worker"),
                        ("employed", "就业/已就业", "Employed"),
                    ),
                ),
            ),
            used_by=("Y-JOBLOSS",),
        ),
        FeedKind(
            "disaster",
            "灾情",
            "Disaster losses",
            "应急管理局",
            "Emergency management bureau",
            (
                Column("disaster_type", "灾害类型", "text"),
                Column("loss_amount", "损失金额", "money", required=True),
            ),
            household_level=True,
            used_by=("M-DISASTER",),
        ),
    )
}

HOUSEHOLD_KINDS = tuple(k for k, v in KINDS.items() if v.household_level)


def get_kind(name: str) -> FeedKind:
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(KINDS)
        raise ValidationFailed(
            f"未知的部门数据类型「{name}」；可用类型：{known}",
            f"unknown feed kind '{name}'; known kinds: {known}",
        ) from None


def resolve_kinds(kinds: list[str] | tuple[str, ...] | str | None) -> list[FeedKind]:
    if kinds is None:
        return list(KINDS.values())
    if isinstance(kinds, str):
        kinds = [kinds]
    return [get_kind(k) for k in kinds]


def header_aliases(kind: FeedKind) -> dict[str, str]:
    """Accepted header spellings (English name or Chinese label, case-insensitive) → column."""
    table: dict[str, str] = {}
    for c in kind.all_columns:
        table[c.name.lower()] = c.name
        table[c.zh.lower()] = c.name
    return table
