"""`safetynet assess FILE_OR_DIR [--check] [--json] [--engine duckdb|spark]` (formats/assess.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from safetynet.core.errors import ValidationFailed

CATEGORY = {"unstable": "脱贫不稳定户", "edge": "边缘易致贫户", "sudden": "突发严重困难户"}
LEVEL = {"red": "红色", "orange": "橙色", "yellow": "黄色"}
CARE = {"self_care": "全自理", "partial": "半失能", "full": "全失能"}
APPROVER = {"township": "乡镇审批", "county": "县级审批"}
TEMP_TYPE = {"emergency": "急难型", "expenditure": "支出型"}


def _yes(v: Any) -> str:
    return "是" if v else "否"


def _money(v: Any) -> str:
    return "—" if v is None else f"{v:.2f}"


def human(result: dict[str, Any]) -> str:
    """The result of one scenario with Chinese labels."""
    m = result["measures"]
    mon = result["monitoring"]
    lines = [f"━━ {result['name']}（评估日 {result['as_of']}，村 {result['village_code']}）"]
    if not result.get("evaluated"):
        lines.append("  无在册成员，不评估")
    lines.append(
        f"  人口 {m['n']} 人 · 收入年度 {m['income_year'] or '—'} · 纯收入 {_money(m['net_income'])} 元 · "
        f"人均纯收入 {_money(m['pc_net_income'])} 元 · 低保计算收入 {_money(m['counted_income'])} 元 · "
        f"人均月收入 {_money(m['pc_month_income'])} 元 · 刚性支出 {_money(m['rigid_12m'])} 元 · "
        f"灾害损失 {_money(m['disaster_12m'])} 元"
    )
    if mon["flagged"]:
        status = f"纳入监测（{CATEGORY.get(mon['category'], mon['category'])}，{LEVEL.get(mon['level'], '')}预警）"
    elif mon["rules"]:
        status = f"未纳入监测（{LEVEL.get(mon['level'], '')}提示）"
    else:
        status = "未触发监测规则"
    rules = "、".join(mon["rules"]) or "—"
    risks = "、".join(mon["risk_types"]) or "—"
    lines.append(f"  防返贫监测：{status} · 规则 {rules} · 风险类型 {risks}")
    d = result["dibao"]
    lines.append(
        f"  低保：{'符合' if d['eligible'] else '不符合'} · 月保障金 {d['monthly_amount']} 元 · "
        f"低保边缘家庭 {_yes(d['edge'])}"
    )
    singles = (
        "、".join(f"{k}（{v['monthly_amount']} 元）" for k, v in result["single_person"].items())
        or "无"
    )
    lines.append(f"  单人户施保：{singles}")
    for pid, t in result["tekun"].items():
        lines.append(
            f"  特困 {pid}：{'符合' if t['eligible'] else '不符合'} · 护理等级 {CARE.get(t['care_level'], '—')} · "
            f"月供养金 {t['monthly_amount']} 元"
        )
    temp = result["temporary"]
    if temp is None:
        lines.append("  临时救助：无申请")
    else:
        lines.append(
            f"  临时救助：{TEMP_TYPE.get(temp['type'], temp['type'])} · {'符合' if temp['eligible'] else '不符合'} · "
            f"金额 {temp['amount']} 元 · {APPROVER.get(temp['approver'], '—')} · 一事一议 {_yes(temp['case_by_case'])}"
        )
    lines.append(
        f"  刚性支出困难家庭：{_yes(result['rigid_hardship'])} · 低收入人口：{_yes(result['low_income'])}"
    )
    for q in result.get("quality", []):
        who = f" {q['id_number']}" if q.get("id_number") else ""
        lines.append(f"  数据质量 {q['check']}{who}：{q['message'].split(' / ')[0]}")
    if result.get("explanations"):
        lines.append("  依据：")
        for e in result["explanations"]:
            who = f" {e['id_number']}" if e.get("id_number") else ""
            lines.append(f"    · [{e['rule']}{who}] {e['zh']}（{e['source']}）")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("assess")
    def assess(
        target: Annotated[
            Path, typer.Argument(help="情景文件或目录（YAML/JSON）/ scenario file or directory")
        ],
        check: bool = typer.Option(
            False, "--check", help="与 expected 比较，有差异时非零退出 / compare with expected"
        ),
        as_json: bool = typer.Option(False, "--json", help="每个情景输出一行 JSON / JSON Lines"),
        engine: str = typer.Option("duckdb", "--engine", help="duckdb 或 spark / duckdb or spark"),
    ) -> None:
        """评估户情景：资格、金额、预警及依据 / Evaluate household scenarios: eligibility, amounts, warnings, reasons."""
        if engine not in ("duckdb", "spark"):
            raise ValidationFailed(
                f"未知引擎 {engine}（duckdb 或 spark）",
                f"unknown engine {engine} (duckdb or spark)",
            )
        from safetynet.cli import setup_django

        setup_django()
        from safetynet.policy.catalogue import default_catalogue

        from .assess import assess_many
        from .compare import compare
        from .scenario import load_scenarios

        cat = default_catalogue()
        items = load_scenarios(target, cat.inputs)
        scenarios = [i.scenario for i in items if i.scenario is not None]
        outcomes = iter(assess_many(scenarios, engine=engine, catalogue=cat))
        failed = 0
        differing = 0
        checked = 0
        for item in items:
            if item.error is not None:
                failed += 1
                typer.secho(
                    f"错误：{item.error.zh}\nError: {item.error.en}", fg=typer.colors.RED, err=True
                )
                continue
            outcome = next(outcomes)
            if outcome.error is not None:
                failed += 1
                typer.secho(
                    f"错误：{outcome.error.zh}\nError: {outcome.error.en}",
                    fg=typer.colors.RED,
                    err=True,
                )
                continue
            result = outcome.result
            if as_json:
                typer.echo(json.dumps(result, ensure_ascii=False, default=str))
            else:
                typer.echo(human(result))
            if check:
                expected = outcome.scenario.spec.expected
                if expected is None:
                    continue
                checked += 1
                diffs = compare(expected, result)
                if diffs:
                    differing += 1
                    for d in diffs:
                        typer.secho(
                            "差异 / difference: " + d.line(outcome.scenario.name),
                            fg=typer.colors.RED,
                            err=True,
                        )
        total = len(items)
        if check:
            summary = (
                f"{total} 个情景，核对 {checked} 个，差异 {differing} 个，出错 {failed} 个 / "
                f"{total} scenarios, {checked} checked, {differing} differ, {failed} failed"
            )
            typer.secho(
                summary,
                fg=typer.colors.RED if (differing or failed) else typer.colors.GREEN,
                err=True,
            )
        if failed or differing:
            sys.exit(1)
