"""Turning case data into what pages show: labels, timeline rows, the notice's content."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from safetynet.core.i18n import bilingual
from safetynet.web import labels

from . import services, vocab

# Bilingual labels of the form data kept on timeline events.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "source": ("线索来源", "Source"),
    "note": ("说明", "Note"),
    "deadline": ("认定时限", "Decision due"),
    "level": ("预警等级", "Level"),
    "category": ("类别", "Category"),
    "rules": ("规则", "Rules"),
    "risk_types": ("风险类型", "Risk types"),
    "visit_date": ("核实/回访日期", "Visit date"),
    "investigators": ("核实人员", "Investigators"),
    "visitors": ("回访人员", "Visitors"),
    "findings": ("情况", "Findings"),
    "income_year": ("收入年度", "Income year"),
    "net_income": ("家庭纯收入", "Household net income"),
    "members_count": ("共同生活人口", "Members"),
    "pc_net_income": ("人均纯收入", "Per-capita net income"),
    "member_changes": ("人口变化", "Changes in members"),
    "household_confirmed": ("农户确认", "Confirmed by the household"),
    "start": ("公示开始", "Notice from"),
    "end": ("公示结束", "Notice until"),
    "days": ("公示天数", "Days"),
    "appraisal": ("民主评议", "Village appraisal"),
    "approve": ("意见", "Opinion"),
    "confirm": ("认定", "Confirmed"),
    "opinion": ("审核意见", "Review opinion"),
    "objections": ("异议", "Objections"),
    "on_time": ("在时限内", "On time"),
    "reason": ("理由", "Reason"),
    "measures": ("帮扶措施", "Measures"),
    "kind": ("措施", "Measure"),
    "next_visit_on": ("下次回访", "Next visit"),
    "method": ("消除方式", "Method"),
}
HIDDEN_KEYS = {"verification", "notice", "follow_up", "measure", "finding", "finding_ids", "phase",
               "minimum_days", "check", "levels"}  # fmt: skip
EVENT_LABELS: dict[str, tuple[str, str]] = {
    **{a: (v[0], v[1]) for a, v in services.ACTIONS.items()},
    "attach_warning": ("并入新预警", "New warnings attached"),
}


DATE_KEYS = {
    "deadline",
    "visit_date",
    "start",
    "end",
    "next_visit_on",
    "planned_on",
    "rectified_on",
}
MONEY_KEYS = {"net_income", "pc_net_income"}


def head_of(household):
    return household.members.filter(relation="head").first()


@dataclass
class ActionLink:
    code: str
    case: object

    @property
    def label(self) -> str:
        zh, en = services.action_words(self.code)
        if self.code == "publish_notice" and self.case.phase == vocab.ELIMINATION:
            zh, en = "风险消除公示", "Elimination notice"
        if self.code == "review" and self.case.phase == vocab.ELIMINATION:
            zh, en = "乡镇审核（风险消除）", "Township review (elimination)"
        return bilingual(zh, en)

    @property
    def url(self) -> str:
        return reverse("monitoring:case_action", args=[self.case.pk, self.code])

    @property
    def style(self) -> str:
        return "outline-danger" if self.code == "close" else "primary"


def _value(key: str, value) -> str:
    from safetynet.web.templatetags.safetynet import cn_date, yuan

    if key in DATE_KEYS and isinstance(value, str):
        return cn_date(value)
    if key in MONEY_KEYS:
        return yuan(value)
    if isinstance(value, bool):
        return str(bilingual("是", "yes") if value else bilingual("否", "no"))
    if key == "source":
        return str(vocab.label(vocab.SOURCES, value))
    if key == "category":
        return labels.label(labels.CATEGORIES, value)
    if key == "level":
        return labels.label(labels.LEVELS, value)
    if key == "kind":
        return str(vocab.label(vocab.MEASURE_KINDS, value))
    if key == "method":
        return str(vocab.label(vocab.ELIMINATION_METHODS, value))
    if key == "measures" and isinstance(value, list):
        return "；".join(
            str(vocab.label(vocab.MEASURE_KINDS, m.get("kind", "")))
            + (f"（{m['description']}）" if m.get("description") else "")
            for m in value
        )
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def timeline_rows(events) -> list[dict]:
    rows = []
    for event in events:
        zh, en = EVENT_LABELS.get(event.action, (event.action, event.action))
        details = []
        for key, value in (event.data or {}).items():
            if key in HIDDEN_KEYS or value in ("", None, []):
                continue
            lzh, len_ = FIELD_LABELS.get(key, (key, key))
            details.append((bilingual(lzh, len_), _value(key, value)))
        actor = event.actor
        rows.append(
            {
                "event": event,
                "label": bilingual(zh, en),
                "who": (actor.display_name or actor.username) if actor else event.actor_label,
                "from": vocab.label(vocab.STATES, event.from_state) if event.from_state else "",
                "to": vocab.label(vocab.STATES, event.to_state),
                "details": details,
            }
        )
    return rows


def suggested_risk_types(case) -> list[str]:
    """Risk types the attached warnings named: a starting point for the county's decision."""
    known = vocab.codes(vocab.RISK_TYPES)
    seen: list[str] = []
    for link in case.case_findings.select_related("finding"):
        for risk in link.finding.risk_types or []:
            if risk in known and risk not in seen:
                seen.append(risk)
    return seen


def suggested_category(case) -> str:
    """The category the attached warnings named, when it fits the household."""
    for link in case.case_findings.select_related("finding"):
        category = link.finding.category
        if category == "unstable" and case.household.registered_poor:
            return category
        if category in ("edge", "sudden") and not (
            category == "edge" and case.household.registered_poor
        ):
            return category
    return ""


def notice_context(notice) -> dict:
    """Only what a village notice may show: names, area, size of the household, the period."""
    from safetynet.areas.models import Area

    case = notice.case
    household = case.household
    codes = [household.village_id[:n] for n in (6, 9, 12)]
    names = dict(Area.objects.filter(code__in=codes).values_list("code", "name"))
    head = head_of(household)
    return {
        "notice": notice,
        "is_elimination": notice.phase == vocab.ELIMINATION,
        "county": names.get(codes[0], ""),
        "township": names.get(codes[1], ""),
        "village": names.get(codes[2], ""),
        "head_name": head.name if head else "",
        "members": household.members.filter(status="active").count(),
        "method": vocab.label(vocab.ELIMINATION_METHODS, case.elimination_method)
        if case.elimination_method
        else "",
        "case_id": case.pk,
    }
