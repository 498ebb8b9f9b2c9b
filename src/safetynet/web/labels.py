"""Bilingual display labels for monitoring words that are not registry vocabularies."""

from __future__ import annotations

from safetynet.core.i18n import bilingual

CATEGORIES = {
    "unstable": ("脱贫不稳定户", "Unstable exited household"),
    "edge": ("边缘易致贫户", "Edge household"),
    "sudden": ("突发严重困难户", "Sudden severe hardship"),
}
LEVELS = {
    "red": ("红色预警", "Red"),
    "orange": ("橙色预警", "Orange"),
    "yellow": ("黄色预警", "Yellow"),
}
LEVEL_ORDER = ["red", "orange", "yellow"]
FINDING_KINDS = {
    "warning": ("监测预警", "Monitoring warning"),
    "quality": ("数据质量", "Data quality"),
}
FINDING_STATES = {"open": ("未解除", "Open"), "resolved": ("已解除", "Resolved")}
AUDIT_ACTIONS = {
    "create": ("新建", "created"),
    "update": ("修改", "changed"),
    "delete": ("删除", "deleted"),
    "reveal": ("查看个人信息", "personal data revealed"),
    "export": ("导出", "exported"),
    "import": ("导入", "imported"),
    "password_set": ("设置密码", "password set"),
}
OBJECT_TYPES = {
    "registry.household": ("户", "household"),
    "registry.person": ("家庭成员", "member"),
    "registry.income": ("收入", "income"),
    "screening.finding": ("预警/问题", "finding"),
    "accounts.user": ("用户", "user"),
}


def label(table: dict[str, tuple[str, str]], code: str | None) -> str:
    if not code:
        return ""
    pair = table.get(code)
    return str(bilingual(*pair)) if pair else code


INCOME_ITEMS = [
    ("wage", "工资性收入", "Wages"),
    ("business_income", "生产经营性收入", "Business income (gross)"),
    ("business_cost", "生产经营性支出", "Business costs"),
    ("property", "财产性收入", "Property income"),
    ("pension_basic", "城乡居民基础养老金", "Residents' basic pension"),
    ("pension_other", "其他养老金", "Other pensions"),
    ("assistance_received", "低保金、特困供养金、临时救助金", "Assistance received"),
    ("policy_subsidies", "政策性补贴", "Policy subsidies"),
    ("exempt_transfers", "不计入收入的转移性收入", "Exempt transfers"),
    ("other_transfers", "其他转移性收入", "Other transfers"),
    ("education_expense", "教育支出", "Education expense"),
    ("financial_assets", "家庭金融资产", "Financial assets"),
]


def income_rows() -> list[tuple[str, str]]:
    return [(name, str(bilingual(zh, en))) for name, zh, en in INCOME_ITEMS]
