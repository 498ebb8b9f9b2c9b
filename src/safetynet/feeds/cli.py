"""Commands: `safetynet feed load|batches|withdraw|link|review|quality|kinds`."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

STEP_LABELS = {
    "check": "检查文件 / checking the file",
    "read": "读取 / reading",
    "validate": "校验 / validating",
    "write": "写入数据湖 / writing to the lake",
    "registry": "读取户籍库 / reading the registry",
    "prepare": "准备比对 / preparing linkage",
    "exact": "身份证号精确比对 / exact ID match",
    "pinyin": "姓名拼音 / name pinyin",
    "typo": "身份证号笔误比对 / ID typo match",
    "probabilistic": "概率比对 (Splink) / probabilistic (Splink)",
    "assemble": "汇总比对结果 / assembling links",
}

BACKEND_HELP = "比对引擎 duckdb 或 spark / linkage backend: duckdb or spark"


@contextmanager
def _steps():
    """A rich status line fed by the services' progress callback (step name)."""
    import sys

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not sys.stderr.isatty():
        yield None
        return

    from rich.console import Console

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("…", total=None)

        def update(step: str) -> None:
            bar.update(task, description=STEP_LABELS.get(step, step))

        yield update


def _setup():
    from safetynet.cli import setup_django

    setup_django()


def _print_link(result) -> None:
    totals: dict[str, int] = {}
    for counts in result.counts.values():
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    if not totals:
        return
    typer.echo(
        "比对 / linkage: "
        f"精确 exact {totals.get('exact', 0)}, 笔误 typo {totals.get('typo', 0)}, "
        f"概率 probabilistic {totals.get('probabilistic', 0)}, "
        f"按户 household {totals.get('household', 0)}, 人工 manual {totals.get('manual', 0)}, "
        f"待复核 review {totals.get('review', 0)}, 未匹配 unlinked {totals.get('unlinked', 0)}"
        f"（共 {totals.get('records', 0)} 条 / of {totals.get('records', 0)} records）"
    )


def _split_record(record: str, kind: str | None) -> tuple[str, str]:
    from safetynet.core.errors import ValidationFailed
    from safetynet.feeds.schemas import KINDS

    if "/" in record:
        head, _, tail = record.partition("/")
        if head in KINDS:
            return head, tail
    if not kind:
        raise ValidationFailed(
            f"请用 --kind 指定类型，或写成 类型/记录编号（{record}）",
            f"give --kind, or write KIND/RECORD_ID ({record})",
        )
    return kind, record


def register(app: typer.Typer) -> None:
    feed = typer.Typer(
        help="部门数据：载入、比对、复核 / department feeds: load, link, review",
        no_args_is_help=True,
    )
    app.add_typer(feed, name="feed")

    @feed.command("kinds")
    def kinds() -> None:
        """列出数据类型及其列 / List the feed kinds and their columns."""
        from safetynet.feeds.schemas import COMMON_COLUMNS, KINDS

        typer.echo("通用列 / common: " + ", ".join(c.name for c in COMMON_COLUMNS))
        for k in KINDS.values():
            extra = (["household_id"] if k.household_level else []) + k.own_column_names
            typer.echo(f"{k.name:<18} {k.zh} / {k.en} — {k.department_zh}: {', '.join(extra)}")

    @feed.command("load")
    def load(
        kind: str = typer.Argument(..., help="数据类型，如 medical_claims / feed kind"),
        file: Path = typer.Argument(..., help="CSV (UTF-8) 或 Parquet 文件 / CSV or Parquet file"),  # noqa: B008
        department: str = typer.Option(None, "--department", help="报送部门 / sending department"),
        batch: str = typer.Option(None, "--batch", help="批次编号（默认文件 SHA-256）/ batch id"),
        link: bool = typer.Option(True, "--link/--no-link", help="载入后比对 / link after loading"),
        backend: str = typer.Option("duckdb", "--backend", help=BACKEND_HELP),
    ) -> None:
        """校验并载入一个部门文件 / Validate and load one department file as a batch."""
        _setup()
        from safetynet.feeds.services import feed_load

        with _steps() as progress:
            result = feed_load(
                actor=None,
                kind=kind,
                path=file,
                department=department,
                batch_id=batch,
                link=link,
                backend=backend,
                progress=progress,
            )
        zh, en = result.message
        typer.echo(f"{zh}\n{en}")
        if result.created:
            typer.echo(f"批次 / batch: {result.batch.batch_id}")
        if result.reject_path:
            typer.echo(f"退回行及原因 / rejected rows with reasons: {result.reject_path}")
        if result.link:
            _print_link(result.link)

    @feed.command("batches")
    def batches(
        kind: str = typer.Option(None, "--kind", help="只看此类型 / only this kind"),
        status: str = typer.Option(None, "--status", help="active 或 withdrawn / status"),
        as_json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON Lines output"),
    ) -> None:
        """列出已载入的批次 / List loaded batches."""
        _setup()
        from django.utils.timezone import localtime

        from safetynet.feeds.selectors import batch_list

        rows = batch_list(kind=kind, status=status)
        if as_json:
            for b in rows:
                typer.echo(
                    json.dumps(
                        {
                            "batch_id": b.batch_id,
                            "kind": b.kind,
                            "department": b.department,
                            "file_name": b.file_name,
                            "file_hash": b.file_hash,
                            "rows_total": b.rows_total,
                            "rows_loaded": b.rows_loaded,
                            "rows_rejected": b.rows_rejected,
                            "status": b.status,
                            "loaded_by": b.loaded_by_label,
                            "loaded_at": b.loaded_at.isoformat(),
                            "linked_at": b.linked_at.isoformat() if b.linked_at else None,
                            "links": {
                                "exact": b.links_exact,
                                "typo": b.links_typo,
                                "probabilistic": b.links_probabilistic,
                                "household": b.links_household,
                                "review": b.links_review,
                                "unlinked": b.links_unlinked,
                            },
                            "withdraw_reason": b.withdraw_reason or None,
                        },
                        ensure_ascii=False,
                    )
                )
            return
        if not rows:
            typer.echo("没有批次 / no batches")
            return
        typer.echo(
            "批次 batch      类型 kind          部门 department   行 rows  有效 valid  退回 rejected  "
            "状态 status  载入 loaded            比对 exact/typo/prob/hh/review/unlinked"
        )
        for b in rows:
            typer.echo(
                f"{b.batch_id[:12]:<14} {b.kind:<18} {b.department[:12]:<14} {b.rows_total:>7} "
                f"{b.rows_loaded:>10} {b.rows_rejected:>13}  {b.status:<11} "
                f"{localtime(b.loaded_at):%Y-%m-%d %H:%M}  {b.links_exact}/{b.links_typo}/"
                f"{b.links_probabilistic}/{b.links_household}/{b.links_review}/{b.links_unlinked}"
            )

    @feed.command("withdraw")
    def withdraw(
        batch: str = typer.Argument(..., help="批次编号（可用前 12 位）/ batch id (prefix ok)"),
        reason: str = typer.Option(..., "--reason", help="撤回原因 / reason"),
    ) -> None:
        """撤回一个批次：其记录不再计入 / Withdraw a batch: its records stop counting."""
        _setup()
        from safetynet.feeds.services import batch_withdraw

        b = batch_withdraw(actor=None, batch_id=batch, reason=reason)
        typer.echo(f"已撤回批次 {b.batch_id[:12]} / withdrew batch {b.batch_id[:12]}")

    @feed.command("link")
    def link(
        kind: list[str] = typer.Option(None, "--kind", help="只比对这些类型 / only these kinds"),  # noqa: B008
        backend: str = typer.Option("duckdb", "--backend", help=BACKEND_HELP),
    ) -> None:
        """按当前户籍库重新比对 / (Re-)link active batches against the registry as it is now."""
        _setup()
        from safetynet.feeds.services import feed_link

        with _steps() as progress:
            result = feed_link(actor=None, kinds=kind or None, backend=backend, progress=progress)
        if not result.counts:
            typer.echo("没有需要比对的批次 / no batches to link")
            return
        _print_link(result)
        if result.model is not None:
            typer.echo(
                f"概率模型 / model: {result.model.source}（标注对 labelled pairs {result.model.labels}）"
            )

    review = typer.Typer(
        help="复核待确认的比对 / review uncertain links", invoke_without_command=True
    )
    feed.add_typer(review, name="review")

    @review.callback()
    def review_list(
        ctx: typer.Context,
        kind: str = typer.Option(None, "--kind", help="只看此类型 / only this kind"),
        limit: int = typer.Option(20, "--limit", help="最多条数 / at most N items"),
        unmask: bool = typer.Option(
            False, "--unmask", help="显示完整身份证号（留痕）/ show full ID numbers (audited)"
        ),
    ) -> None:
        """列出待复核的比对（左：部门记录，右：候选人员）/ List links awaiting review, side by side."""
        if ctx.invoked_subcommand:
            return
        _setup()
        from safetynet.feeds.selectors import review_queue
        from safetynet.feeds.services import review_unmask_audit

        items = review_queue(user=None, kind=kind, limit=limit, unmask=unmask)
        if unmask and items:
            review_unmask_audit(actor=None, items=items, kind=kind)
        if not items:
            typer.echo("没有待复核的比对 / nothing to review")
            return
        for it in items:
            reason = (
                "身份证号笔误，待确认 / ID typo, to confirm"
                if it["to_confirm"]
                else (
                    "多个候选 / several candidates"
                    if it["method"] == "typo"
                    else "概率比对复核区间 / probabilistic review band"
                )
            )
            typer.echo(
                f"\n{it['kind']}/{it['record_id']}  [{it['department']}]  {reason}  "
                f"得分 score {it['score']:.3f}"
            )
            typer.echo(
                f"  部门记录 record : {it['record_name'] or '':<6} "
                f"{it['record_id_number_display'] or '(无身份证号 no ID)':<20} "
                f"{it['record_birth_date'] or '':<10} {it['record_sex'] or '':<2} "
                f"{it['record_village'] or ''}"
            )
            for c in it["candidates"]:
                typer.echo(
                    f"  候选 candidate  : {c['name'] or '?':<6} {c['id_number_display']:<20} "
                    f"{c['birth_date'] or '':<10} {c['sex'] or '':<2} {c['village_code'] or ''} "
                    f"户 {c['household_id'] or ''}  得分 {c['score']:.3f}"
                )
        typer.echo(
            "\n确认 / confirm: safetynet feed review confirm KIND/RECORD_ID [--id-number N]\n"
            "否决 / reject:  safetynet feed review reject KIND/RECORD_ID"
        )

    def _decide(action: str, records: list[str], kind, department, id_number, note) -> None:
        _setup()
        from safetynet.feeds.services import link_confirm, link_reject

        fn = link_confirm if action == "confirm" else link_reject
        for record in records:
            k, rid = _split_record(record, kind)
            d = fn(
                actor=None,
                kind=k,
                record_id=rid,
                department=department,
                id_number=id_number,
                note=note or "",
            )
            word = ("已确认", "confirmed") if action == "confirm" else ("已否决", "rejected")
            from safetynet.core.masking import mask_id_number

            typer.echo(
                f"{word[0]} {k}/{rid} → {mask_id_number(d.id_number)} / "
                f"{word[1]} {k}/{rid} → {mask_id_number(d.id_number)}"
            )

    @review.command("confirm")
    def confirm(
        records: list[str] = typer.Argument(..., help="KIND/RECORD_ID 或 RECORD_ID（配合 --kind）"),  # noqa: B008
        kind: str = typer.Option(None, "--kind", help="数据类型 / feed kind"),
        department: str = typer.Option(None, "--department", help="报送部门 / department"),
        id_number: str = typer.Option(
            None, "--id-number", help="确认为此人（默认为候选人）/ this person"
        ),
        note: str = typer.Option(None, "--note", help="备注 / note"),
    ) -> None:
        """确认比对结果 / Confirm a record's link to the candidate (or the given person)."""
        _decide("confirm", records, kind, department, id_number, note)

    @review.command("reject")
    def reject(
        records: list[str] = typer.Argument(..., help="KIND/RECORD_ID 或 RECORD_ID（配合 --kind）"),  # noqa: B008
        kind: str = typer.Option(None, "--kind", help="数据类型 / feed kind"),
        department: str = typer.Option(None, "--department", help="报送部门 / department"),
        id_number: str = typer.Option(
            None, "--id-number", help="否决此人（默认为候选人）/ this person"
        ),
        note: str = typer.Option(None, "--note", help="备注 / note"),
    ) -> None:
        """否决比对结果 / Reject a record's proposed link; it is never proposed again."""
        _decide("reject", records, kind, department, id_number, note)

    @feed.command("quality")
    def quality(
        ground_truth: Path = typer.Option(  # noqa: B008
            ..., "--ground-truth", help="真值文件 / ground-truth CSV"
        ),
        kind: list[str] = typer.Option(None, "--kind", help="只评估这些类型 / only these kinds"),  # noqa: B008
        as_json: bool = typer.Option(False, "--json", help="JSON 输出 / JSON output"),
    ) -> None:
        """按真值评估比对的查准率与查全率 / Precision and recall of the links against ground truth."""
        _setup()
        from safetynet.feeds.selectors import link_quality

        report = link_quality(ground_truth, kinds=kind or None)
        if as_json:
            typer.echo(json.dumps(report, ensure_ascii=False, indent=1))
            return
        if report["overall"] is None:
            typer.echo(
                "真值文件与已载入记录没有交集 / no loaded record appears in the ground truth"
            )
            return

        def pct(v):
            return "—" if v is None else f"{v:.4f}"

        for title, rows in (
            ("总体 / overall", [report["overall"]]),
            ("按比对方法 / by method", report["by_method"]),
            ("按噪声类型 / by noise", report["by_noise"]),
            ("按数据类型 / by kind", report["by_kind"]),
        ):
            typer.echo(f"\n{title}")
            typer.echo(
                f"  {'':<22} {'记录 records':>12} {'已匹配 linked':>14} {'正确 correct':>13} "
                f"{'复核 review':>11} {'查准 precision':>15} {'查全 recall':>12}"
            )
            for r in rows:
                typer.echo(
                    f"  {str(r['key']):<22} {r['records']:>12} {r['linked']:>14} "
                    f"{r['correct']:>13} {r['review']:>11} {pct(r['precision']):>15} "
                    f"{pct(r['recall']):>12}"
                )
