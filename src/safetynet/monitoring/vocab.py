"""Vocabularies of monitoring case work (POLICY §1, GLOSSARY): code, Chinese, English.

Risk types keep their Chinese wording as the code, because that is what the rule catalogue
and the national system's data carry (`因病`, `因学` …); everything else uses English codes.
"""

from __future__ import annotations

from safetynet.core.i18n import bilingual

# ---- case states -------------------------------------------------------------------------
CLUE = "clue"
VERIFIED = "verified"
IN_NOTICE = "in_notice"
REVIEWED = "reviewed"
MONITORED = "monitored"
ELIM_VERIFIED = "elim_verified"
ELIM_IN_NOTICE = "elim_in_notice"
ELIM_REVIEWED = "elim_reviewed"
ELIMINATED = "eliminated"
CLOSED = "closed"

STATES: list[tuple[str, str, str]] = [
    (CLUE, "待入户核实", "Awaiting home verification"),
    (VERIFIED, "已核实待公示", "Verified, awaiting notice"),
    (IN_NOTICE, "村级公示中", "Village notice"),
    (REVIEWED, "乡镇已审核待县级认定", "Township reviewed, awaiting county decision"),
    (MONITORED, "监测帮扶中", "Monitored and assisted"),
    (ELIM_VERIFIED, "风险消除已核实待公示", "Elimination verified, awaiting notice"),
    (ELIM_IN_NOTICE, "风险消除公示中", "Elimination notice"),
    (ELIM_REVIEWED, "风险消除乡镇已审核", "Elimination reviewed by the township"),
    (ELIMINATED, "风险已消除", "Risk eliminated"),
    (CLOSED, "已关闭(误报)", "Closed (false alarm)"),
]

# Identification: from the clue to the county decision (the 15-day limit runs here).
IDENTIFICATION_STATES = (CLUE, VERIFIED, IN_NOTICE, REVIEWED)
# A household is a monitoring object from the county decision until elimination.
MONITORING_STATES = (MONITORED, ELIM_VERIFIED, ELIM_IN_NOTICE, ELIM_REVIEWED)
ELIMINATION_STATES = (ELIM_VERIFIED, ELIM_IN_NOTICE, ELIM_REVIEWED)
FINAL_STATES = (ELIMINATED, CLOSED)
OPEN_STATES = IDENTIFICATION_STATES + MONITORING_STATES

# ---- phases (the procedure runs twice: to identify and to eliminate) -----------------------
IDENTIFICATION = "identification"
ELIMINATION = "elimination"
PHASES = [
    (IDENTIFICATION, "识别纳入", "Identification"),
    (ELIMINATION, "风险消除", "Risk elimination"),
]

# ---- clue sources ---------------------------------------------------------------------------
SOURCES = [
    ("self_report", "农户自主申报", "Self-report"),
    ("cadre_survey", "基层干部排查", "Cadre survey"),
    ("department_warning", "部门筛查预警", "Department warning"),
]

CATEGORIES = [
    ("unstable", "脱贫不稳定户", "Unstable (exited poor household)"),
    ("edge", "边缘易致贫户", "Edge household"),
    ("sudden", "突发严重困难户", "Sudden severe hardship"),
]

RISK_TYPES = [
    ("因病", "因病", "Illness"),
    ("因残", "因残", "Disability"),
    ("因学", "因学", "Education cost"),
    ("因自然灾害", "因自然灾害", "Natural disaster"),
    ("因意外事故", "因意外事故", "Accident"),
    ("缺劳动力", "缺劳动力", "Lack of labour"),
    ("因务工就业不稳", "因务工就业不稳", "Unstable employment"),
    ("因产业项目失败", "因产业项目失败", "Failed production project"),
    ("因安全住房", "因安全住房", "Unsafe housing"),
    ("因安全饮水", "因安全饮水", "Unsafe drinking water"),
    ("其他", "其他", "Other"),
]

MEASURE_KINDS = [
    ("industry", "产业帮扶", "Industry support"),
    ("employment", "就业帮扶", "Employment support"),
    ("public_welfare_job", "公益性岗位", "Public-welfare job"),
    ("finance", "金融帮扶", "Finance"),
    ("health", "健康帮扶", "Health"),
    ("education", "教育帮扶", "Education"),
    ("compulsory_education", "义务教育保障", "Compulsory-education guarantee"),
    ("housing", "住房安全保障", "Housing safety"),
    ("drinking_water", "饮水安全保障", "Drinking-water safety"),
    ("relocation", "搬迁", "Relocation"),
    ("fallback", "综合保障", "Social-assistance fallback"),
    ("social_help", "社会帮扶", "Social help"),
    ("living_conditions", "生产生活条件改善", "Living conditions"),
    ("infrastructure", "基础设施建设", "Infrastructure"),
]

# POLICY §1: a household with labour capacity needs at least one of these.
DEVELOPMENT_MEASURES = frozenset({"industry", "employment", "public_welfare_job", "finance"})

# POLICY §1: a risk type is answered by at least one of these measures.
MEASURES_FOR_RISK: dict[str, frozenset[str]] = {
    "因病": frozenset({"health", "social_help"}),
    "因学": frozenset({"education", "compulsory_education", "social_help"}),
    "因残": frozenset({"fallback", "social_help"}),
    "因安全住房": frozenset({"housing", "relocation"}),
    "因安全饮水": frozenset({"drinking_water"}),
}

MEASURE_STATES = [
    ("planned", "计划", "Planned"),
    ("delivered", "已落实", "Delivered"),
]

ELIMINATION_METHODS = [
    ("assistance", "帮扶消除", "Through assistance"),
    ("natural", "自然消除", "Ended naturally"),
]

LABOUR_CAPABLE = frozenset({"normal", "weak"})


def choices(vocabulary: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(code, bilingual(zh, en)) for code, zh, en in vocabulary]


def label(vocabulary: list[tuple[str, str, str]], code: str) -> str:
    for c, zh, en in vocabulary:
        if c == code:
            return bilingual(zh, en)
    return code


def words(vocabulary: list[tuple[str, str, str]], code: str) -> tuple[str, str]:
    """(Chinese, English) of a code, for bilingual error messages."""
    for c, zh, en in vocabulary:
        if c == code:
            return zh, en
    return code, code


def codes(vocabulary: list[tuple[str, str, str]]) -> set[str]:
    return {c for c, _, _ in vocabulary}
