"""`safetynet assistance ...`: applications, due reviews, deaths, payment rolls and checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from safetynet.core.errors import NotFound, ValidationFailed


def _setup():
    from safetynet.cli import setup_django

    setup_django()


def _date(text: str | None, *, default_today: bool = True) -> dt.date | None:
    if not text:
        if not default_today:
            return None
        from django.utils import timezone

        return timezone.localdate()
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(
            f"日期格式应为 YYYY-MM-DD：{text!r}", f"dates are YYYY-MM-DD: {text!r}"
        ) from exc


def _user(username: str | None):
    if not username:
        return None
    from safetynet.accounts.models import User

    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"未找到用户 {username}", f"no active user {username}")
    return user


def _roll(ref: str, actor):
    """A roll by id, or by COUNTY:YYYY-MM."""
    from . import clocks
    from .models import Roll

    if ":" in ref:
        county, month = ref.split(":", 1)
        roll = Roll.objects.filter(county_code=county, month=clocks.parse_month(month)).first()
    elif ref.isdigit():
        roll = Roll.objects.filter(pk=int(ref)).first()
    else:
        raise ValidationFailed(
            f"花名册应写作编号或 县代码:YYYY-MM：{ref!r}",
            f"give a roll as its id or COUNTY:YYYY-MM: {ref!r}",
        )
    if roll is None:
        raise NotFound(f"未找到发放花名册 {ref}", f"payment roll {ref} not found")
    if actor is not None:
        from . import selectors

        roll = selectors.roll(actor, roll.pk)
    return roll


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, default=str, sort_keys=True))


USER_HELP = "以该用户身份操作（审批、导出必填）/ act as this user (required to approve and export)"


def register(app: typer.Typer) -> None:
    assistance = typer.Typer(
        help="社会救助：低保、特困、临时救助与发放花名册 / safety-net programmes and payment rolls",
        no_args_is_help=True,
    )
    roll_app = typer.Typer(help="月度发放花名册 / monthly payment rolls", no_args_is_help=True)
    assistance.add_typer(roll_app, name="roll")
    app.add_typer(assistance, name="assistance")

    @assistance.command("apply")
    def apply(
        household: str = typer.Option(..., "--household", help="户编号 / household ID"),
        programme: str = typer.Option(
            ...,
            "--programme",
            help="dibao 低保 | single 单人户施保 | tekun 特困 | temporary 临时救助",
        ),
        person: str = typer.Option(
            "", "--person", help="申请人身份证号（单人户、特困）/ applicant's ID number"
        ),
        temp_type: str = typer.Option("", "--type", help="emergency 急难型 | expenditure 支出型"),
        need: str = typer.Option("", "--need", help="救助需求金额（元）/ amount needed (yuan)"),
        event: str = typer.Option("", "--event", help="事由 / what happened"),
        accepted_on: str = typer.Option(
            "", "--accepted-on", help="受理日期，默认今天 / date accepted (default today)"
        ),
        source_case: str = typer.Option(
            "", "--source-case", help="来源监测案件编号 / monitoring case it came from"
        ),
        track: str = typer.Option(
            "standard", "--track", help="standard 一般 | delegated 委托乡镇 | special 特殊情况"
        ),
        special_reason: str = typer.Option(
            "", "--special-reason", help="特殊情况原因 / reason for a special case"
        ),
        related: bool = typer.Option(
            False,
            "--related-to-staff",
            help="近亲属为经办人员或村委会成员（单独登记备案）/ relative of staff",
        ),
        related_note: str = typer.Option("", "--related-note", help="亲属关系说明 / the relation"),
        user: str = typer.Option("", "--user", help=USER_HELP),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON / JSON output"),
    ) -> None:
        """受理救助申请并保存规则评估结果 / Accept an application and store the rule assessment."""
        _setup()
        from . import services

        app_obj = services.application_create(
            actor=_user(user),
            household_id=household,
            programme=programme,
            accepted_on=_date(accepted_on),
            person_id_number=person or None,
            temp_type=temp_type,
            need=need or None,
            event=event,
            source_case_id=source_case,
            track=track,
            special_reason=special_reason,
            related_to_staff=related,
            related_note=related_note,
        )
        if as_json:
            _echo_json(
                {
                    "id": app_obj.pk,
                    "programme": app_obj.programme,
                    "status": app_obj.status,
                    "assessment": app_obj.assessment,
                }
            )
            return
        typer.echo(
            f"已受理申请 #{app_obj.pk}（{app_obj.get_programme_display()}）/ "
            f"application #{app_obj.pk} accepted ({app_obj.programme})"
        )

    @assistance.command("show")
    def show(
        application_id: int = typer.Argument(..., help="申请编号 / application id"),
        as_of: str = typer.Option(
            "", "--as-of", help="计时参照日期 / clocks as of (default today)"
        ),
        user: str = typer.Option("", "--user", help=USER_HELP),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON / JSON output"),
    ) -> None:
        """显示申请及其法定时限 / Show an application and its statutory clocks."""
        _setup()
        from . import selectors
        from .procedure import clocks_for, current_step

        app_obj = selectors.application(_user(user), application_id)
        rows = [c.as_dict() for c in clocks_for(app_obj, today=_date(as_of))]
        if as_json:
            _echo_json(
                {
                    "id": app_obj.pk,
                    "status": app_obj.status,
                    "step": current_step(app_obj),
                    "clocks": rows,
                }
            )
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=f"申请 #{app_obj.pk} {app_obj.get_programme_display()} · {app_obj.get_status_display()}"
        )
        for col in ("步骤 / step", "期限 / due", "完成 / done", "状态 / state"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["label"], r["due"] or "", r["done_on"] or "", r["state"])
        Console().print(table)

    @assistance.command("reviews")
    def reviews(
        as_of: str = typer.Option("", "--as-of", help="参照日期 / as of (default today)"),
        within: int = typer.Option(
            0, "--within", help="含未来若干天内到期 / include reviews due within N days"
        ),
        area: str = typer.Option("", "--area", help="区划代码前缀 / area code"),
        user: str = typer.Option("", "--user", help=USER_HELP),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON / JSON output"),
    ) -> None:
        """到期应复核的救助对象 / Enrolments due for review."""
        _setup()
        from . import selectors

        rows = [
            {
                "enrolment": e.pk,
                "programme": e.programme,
                "household_id": e.household.household_id,
                "village_code": e.village_code,
                "household_type": e.household_type,
                "next_review_on": e.next_review_on.isoformat(),
            }
            for e in selectors.reviews_due(
                _user(user), as_of=_date(as_of), within_days=within, area_code=area
            )
        ]
        if as_json:
            for r in rows:
                _echo_json(r)
            return
        for r in rows:
            typer.echo(
                f"{r['next_review_on']}  #{r['enrolment']}  {r['programme']:<6} {r['household_id']}  "
                f"{r['village_code']}  {r['household_type']}"
            )
        typer.echo(f"共 {len(rows)} 个 / {len(rows)} due")

    @assistance.command("deaths")
    def deaths(
        as_of: str = typer.Option("", "--as-of", help="参照日期 / as of (default today)"),
        county: str = typer.Option("", "--county", help="县代码 / county code"),
        user: str = typer.Option("", "--user", help=USER_HELP),
    ) -> None:
        """比对死亡数据，生成待处理的变更提示 / Match deaths against enrolments and propose the changes."""
        _setup()
        from . import services

        n = services.deaths_detect(actor=_user(user), as_of=_date(as_of), county_code=county)
        typer.echo(f"新增死亡变更提示 {n} 条 / {n} new death proposals")

    @assistance.command("checks")
    def checks(
        as_of: str = typer.Option("", "--as-of", help="参照日期 / as of (default today)"),
        area: str = typer.Option("", "--area", help="区划代码前缀 / area code"),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON Lines / JSON Lines output"),
    ) -> None:
        """救助对象与发放的质量核查 / Quality checks of enrolments and payments."""
        _setup()
        from .checks import run_checks

        findings = run_checks(as_of=_date(as_of), area_code=area)
        for f in findings:
            if as_json:
                _echo_json(f)
            else:
                typer.echo(f"{f['check']:<14} {f['household_id']:<20} {f['message_zh']}")
        if not as_json:
            typer.echo(f"共 {len(findings)} 条 / {len(findings)} findings")

    @roll_app.command("generate")
    def roll_generate(
        county: str = typer.Option(..., "--county", help="县代码 / county code"),
        month: str = typer.Option(..., "--month", help="发放月份 YYYY-MM / month paid"),
        user: str = typer.Option("", "--user", help=USER_HELP),
    ) -> None:
        """生成（或在审批前重新生成）县级月度花名册 / Generate (or regenerate before approval) a county's roll."""
        _setup()
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from . import clocks, rolls

        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
        ) as progress:
            progress.add_task(f"生成 {county} {month} 花名册 / generating the roll", total=None)
            roll = rolls.roll_generate(
                actor=_user(user), county_code=county, month=clocks.parse_month(month)
            )
        withheld = len(roll.check_report.get("generation", {}).get("withheld", []))
        typer.echo(
            f"花名册 #{roll.pk} {roll.county_code} {roll.month:%Y-%m}：{roll.line_count} 笔，"
            f"合计 {roll.total_amount} 元，因死亡暂停 {withheld} 户 / roll #{roll.pk}: "
            f"{roll.line_count} lines, {roll.total_amount} yuan, {withheld} withheld (deaths)"
        )

    @roll_app.command("check")
    def roll_check(
        roll_ref: str = typer.Argument(
            ..., help="花名册编号或 县代码:YYYY-MM / roll id or COUNTY:YYYY-MM"
        ),
        user: str = typer.Option(..., "--user", help=USER_HELP),
    ) -> None:
        """核对并提交审批（制单人）/ Check the roll and submit it (maker)."""
        _setup()
        from . import rolls

        actor = _user(user)
        roll = _roll(roll_ref, actor)
        roll = rolls.roll_check(actor=actor, roll_id=roll.pk, version=roll.version)
        check = roll.check_report["check"]
        typer.echo(
            f"已核对 #{roll.pk}；无账号 {check['households_without_account']} 户；"
            f"对账{'平衡' if check['balanced'] else '不平衡'} / checked; "
            f"{check['households_without_account']} without account; "
            f"{'balanced' if check['balanced'] else 'NOT balanced'}"
        )

    @roll_app.command("approve")
    def roll_approve(
        roll_ref: str = typer.Argument(
            ..., help="花名册编号或 县代码:YYYY-MM / roll id or COUNTY:YYYY-MM"
        ),
        user: str = typer.Option(..., "--user", help=USER_HELP),
    ) -> None:
        """审批并锁定（复核人，须不同于核对人）/ Approve and lock (checker, not the maker)."""
        _setup()
        from . import rolls

        actor = _user(user)
        roll = _roll(roll_ref, actor)
        roll = rolls.roll_approve(actor=actor, roll_id=roll.pk, version=roll.version)
        typer.echo(f"已审批并锁定 #{roll.pk} / roll #{roll.pk} approved and locked")

    @roll_app.command("export")
    def roll_export(
        roll_ref: str = typer.Argument(
            ..., help="花名册编号或 县代码:YYYY-MM / roll id or COUNTY:YYYY-MM"
        ),
        user: str = typer.Option(
            ..., "--user", help="本县财务人员 / a finance officer of the county"
        ),
        fmt: str = typer.Option("csv", "--format", help="csv | xlsx"),
        out: Path = typer.Option(None, "--out", help="输出目录 / output folder"),  # noqa: B008
    ) -> None:
        """导出银行发放文件（含完整账号，留痕）/ Export the bank file (full accounts; audited)."""
        _setup()
        from . import rolls

        actor = _user(user)
        roll = _roll(roll_ref, actor)
        result = rolls.roll_export(actor=actor, roll_id=roll.pk, fmt=fmt, out_dir=out)
        typer.echo(
            f"{result['path']}：{result['rows']} 户，合计 {result['total']} 元，"
            f"未导出 {len(result['excluded'])} 户 / {result['rows']} rows, {result['total']} yuan, "
            f"{len(result['excluded'])} not exported"
        )

    @roll_app.command("reconcile")
    def roll_reconcile(
        roll_ref: str = typer.Argument(
            ..., help="花名册编号或 县代码:YYYY-MM / roll id or COUNTY:YYYY-MM"
        ),
        user: str = typer.Option("", "--user", help=USER_HELP),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON / JSON output"),
    ) -> None:
        """对账：与在保对象和上月花名册比较 / Reconcile with enrolments and the previous month."""
        _setup()
        from . import rolls

        roll = _roll(roll_ref, _user(user))
        result = rolls.roll_reconcile(roll)
        if as_json:
            _echo_json(result)
            return
        s = result["summary"]
        typer.echo(
            f"{roll.county_code} {s['month']}（上月 / previous {s['previous_month'] or '—'}）"
        )
        typer.echo(f"  应发对象 / enrolments due  {s['enrolments_due']}")
        typer.echo(f"  延续 / carried   {s['carried']['count']:>6}  {s['carried']['total']}")
        typer.echo(f"  新增 / new       {s['new']['count']:>6}  {s['new']['total']}")
        typer.echo(f"  停发 / stopped   {s['stopped']['count']:>6}  {s['stopped']['total']}")
        typer.echo(f"  调整 / changed   {s['changed']['count']:>6}  {s['changed']['delta']}")
        typer.echo(f"  因死亡暂停 / withheld  {s['withheld_deaths']}")
        for kind, v in s["other"].items():
            typer.echo(f"  {kind:<10} {v['count']:>6}  {v['total']}")
        typer.echo(
            f"  合计 / total {s['roll_total']}  {'平衡 / balanced' if result['balanced'] else '不平衡 / NOT balanced'}"
        )

    @roll_app.command("list")
    def roll_list(
        county: str = typer.Option("", "--county", help="县代码 / county code"),
        user: str = typer.Option("", "--user", help=USER_HELP),
    ) -> None:
        """列出花名册 / List payment rolls."""
        _setup()
        from . import selectors

        for r in selectors.rolls(_user(user), county_code=county):
            typer.echo(
                f"#{r.pk:<5} {r.county_code} {r.month:%Y-%m} {r.status:<9} v{r.version} "
                f"{r.line_count:>7} {r.total_amount:>14}"
            )
