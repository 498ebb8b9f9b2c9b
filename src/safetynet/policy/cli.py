"""`safetynet policy ...`: parameters in force, officers' overrides, the rule catalogue."""

from __future__ import annotations

import datetime as dt
import json
import sys

import typer

from safetynet.core.errors import ValidationFailed


def _date(text: str | None, what: str = "--date") -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed(
            f"{what} 应为日期 YYYY-MM-DD：{text}", f"{what} must be a date YYYY-MM-DD: {text}"
        ) from None


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def _overrides_or_warn(params):
    from django.db import DatabaseError

    from .selectors import override_entries

    try:
        return override_entries(params=params)
    except DatabaseError:
        typer.secho(
            "提示：数据库尚未初始化，只显示参数文件中的值（先运行 safetynet init）/ "
            "Note: the database is not initialised; showing file values only (run safetynet init)",
            fg=typer.colors.YELLOW,
            err=True,
        )
        return []


def register(app: typer.Typer) -> None:
    policy = typer.Typer(
        help="政策参数与规则目录 / Policy parameters and the rule catalogue", no_args_is_help=True
    )
    app.add_typer(policy, name="policy")

    @policy.command("params")
    def params_cmd(
        area: str = typer.Option(
            "CN", "--area", help="区划代码（CN 或 2–12 位）/ area code (CN or 2–12 digits)"
        ),
        date: str = typer.Option(
            None, "--date", help="生效日期，默认今天 / as-of date, default today"
        ),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON / print JSON"),
    ) -> None:
        """显示某区划某日生效的参数值、标记和来源 / Show the parameter values in force, with tag and source."""
        from safetynet.cli import setup_django

        setup_django()
        from .params import AREA_RE, TAGS, default_parameters, format_value

        if not AREA_RE.match(area):
            raise ValidationFailed(f"区划代码 {area!r} 无效", f"invalid area code {area!r}")
        as_of = _date(date)
        catalogue = default_parameters()
        extra = _overrides_or_warn(catalogue)
        in_force = catalogue.in_force(area, as_of, extra=extra)
        if as_json:
            out = {name: (e.describe() if e else None) for name, e in in_force.items()}
            typer.echo(
                json.dumps(
                    {"area": area, "as_of": as_of.isoformat(), "parameters": out},
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        from rich.table import Table

        table = Table(title=f"参数 / Parameters — {area} @ {as_of.isoformat()}", show_lines=False)
        for col in (
            "参数 parameter",
            "取值 value",
            "单位 unit",
            "标记 tag",
            "区划 area",
            "生效 from",
            "发布 published",
            "类别 origin",
            "来源 source",
        ):
            table.add_column(col, overflow="fold")
        for name, e in in_force.items():
            pdef = catalogue.defs[name]
            if e is None:
                table.add_row(
                    name,
                    "—",
                    pdef.unit,
                    f"[{pdef.tag}]",
                    "",
                    "",
                    "",
                    "",
                    "无生效值 / no value in force",
                )
                continue
            origin = {"override": "人工调整 override", "scenario": "情景 scenario"}.get(
                e.origin, "文件 file"
            )
            table.add_row(
                name,
                format_value(e.value),
                pdef.unit,
                f"[{e.tag}]",
                e.area,
                e.start.isoformat(),
                e.published.isoformat(),
                origin,
                e.source,
            )
        _console().print(table)
        legend = "  ".join(f"[{k}] {zh} / {en}" for k, (zh, en) in TAGS.items())
        typer.echo(legend)

    @policy.command("override")
    def override_cmd(
        area: str = typer.Option(..., "--area", help="区划代码 / area code"),
        parameter: str = typer.Option(
            ..., "--parameter", help="参数名，如 dibao.standard / parameter name"
        ),
        value: str = typer.Option(
            ..., "--value", help="取值（数值、{min: 6, max: 15}、[a, b]）/ value (YAML)"
        ),
        effective: str = typer.Option(..., "--from", help="生效日期 / effective date"),
        published: str = typer.Option(
            None, "--published", help="发布日期，默认同生效日期 / publication date"
        ),
        reason: str = typer.Option(..., "--reason", help="调整理由 / reason"),
    ) -> None:
        """新增一条按区划、日期生效的参数调整（记入审计）/ Add a dated, area-scoped parameter override (audited)."""
        from safetynet.cli import setup_django

        setup_django()
        import yaml

        from .services import parameter_override_create

        try:
            raw = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValidationFailed(
                f"取值无法解析：{exc}", f"the value cannot be parsed: {exc}"
            ) from exc
        o = parameter_override_create(
            actor=None,
            area_code=area,
            parameter=parameter,
            value=raw,
            effective_from=_date(effective, "--from"),
            published_on=_date(published, "--published") if published else None,
            reason=reason,
        )
        typer.echo(
            f"已记录参数调整 #{o.pk}：{o.parameter} @ {o.area_code} 自 {o.effective_from} = {o.value} / "
            f"override #{o.pk} recorded"
        )

    @policy.command("rules")
    def rules_cmd(
        as_json: bool = typer.Option(False, "--json", help="输出 JSON / print JSON"),
    ) -> None:
        """列出规则目录 / List the rule catalogue."""
        from .catalogue import default_catalogue

        cat = default_catalogue()
        rows = []
        for r in cat.rules.values():
            rows.append(
                {
                    "id": r.id,
                    "kind": r.kind,
                    "grain": r.grain,
                    "level": r.level,
                    "status": ("workflow" if r.kind == "procedure" else r.status),
                    "parameters": r.parameters,
                    "citation": r.citation,
                }
            )
        if as_json:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        from rich.table import Table

        table = Table(title="规则目录 / Rule catalogue")
        for col in ("ID", "kind", "grain", "level", "status", "parameters", "citation"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(
                r["id"],
                r["kind"],
                r["grain"],
                r["level"] or "",
                r["status"],
                ", ".join(r["parameters"]),
                r["citation"],
            )
        _console().print(table)

    @policy.command("check")
    def check_cmd(
        date: str = typer.Option(None, "--date", help="编译用日期 / as-of date for compiling"),
    ) -> None:
        """校验参数文件和规则目录，并为 DuckDB 与 Spark 编译 / Validate parameters and rules; compile for both engines."""
        from .catalogue import load_catalogue
        from .compiler import compile_plan
        from .params import ParameterCatalogue, bind_areas

        params = ParameterCatalogue.load()
        cat = load_catalogue(params=params)
        binding = bind_areas(params, _date(date))
        for dialect in ("duckdb", "spark"):
            plan = compile_plan(cat, binding, dialect=dialect, cache=False)
            typer.echo(f"{dialect}: {len(plan.steps)} 个步骤 / steps")
        active = sum(1 for r in cat.rules.values() if r.active)
        typer.echo(
            f"参数 {len(params.defs)} 个，规则 {len(cat.rules)} 条（可执行 {active} 条），特征 "
            f"{sum(1 for n in cat.nodes.values() if n.origin == 'feature')} 个：全部通过 / "
            f"{len(params.defs)} parameters, {len(cat.rules)} rules ({active} executable): all valid"
        )

    @policy.command("sql")
    def sql_cmd(
        dialect: str = typer.Option(
            "duckdb", "--dialect", help="duckdb 或 spark / duckdb or spark"
        ),
        date: str = typer.Option(None, "--date", help="评估日期 / as-of date"),
    ) -> None:
        """打印编译后的 SQL / Print the compiled SQL."""
        from .catalogue import default_catalogue
        from .compiler import compile_plan
        from .params import bind_areas

        cat = default_catalogue()
        plan = compile_plan(cat, bind_areas(cat.params, _date(date)), dialect=dialect)
        typer.echo(plan.script())

    @policy.command("docs")
    def docs_cmd(
        lang: str = typer.Option("zh", "--lang", help="zh 或 en / zh or en"),
        write: bool = typer.Option(
            False, "--write", help="写入 docs/<lang>/rules.md 的生成部分 / update docs"
        ),
    ) -> None:
        """生成规则、特征与参数目录文档 / Generate the catalogue reference (rules, features, parameters)."""
        from .docs import render_reference, update_doc

        if lang not in ("zh", "en"):
            raise ValidationFailed("--lang 应为 zh 或 en", "--lang must be zh or en")
        if write:
            path = update_doc(lang)
            typer.echo(f"已更新 {path} / updated")
        else:
            typer.echo(render_reference(lang))
