"""Attaching a screening run's warnings to open cases: set-based against a per-warning baseline.

    .venv/bin/python bench/casework.py [--households 20000] [--open-cases 5000] [--no-write-doc]

A fresh SQLite database in a temporary data directory (migrated, reference counties loaded)
gets `--households` households, one open red warning each from one screening run, and
`--open-cases` open monitoring cases. Measured in the same run, on the same data:

- baseline: for each warning, look up the household's open case, `get_or_create` the link,
  write a timeline event and an audit row — what a straightforward loop would do (rolled back);
- `monitoring.services.attach_screen_findings(run=...)` — a handful of set-based statements;
- `monitoring.selectors.monitored_household_ids()` — the screen's `already_monitored` input.

Prints a table and writes docs/performance/casework.md with the command that produced it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance" / "casework.md"


def setup(households: int, open_cases: int):
    from django.core.management import call_command
    from django.db import transaction

    from safetynet.areas.services import area_upsert, load_reference_counties
    from safetynet.monitoring import vocab
    from safetynet.monitoring.models import Case
    from safetynet.registry.models import Household
    from safetynet.screening.models import Finding, ScreenRun

    call_command("migrate", interactive=False, verbosity=0)
    load_reference_counties(actor=None)
    area_upsert(actor=None, code="360827101", name="泉江镇", parent_code="360827")
    villages = [f"360827101{i:03d}" for i in range(1, 21)]
    for code in villages:
        area_upsert(actor=None, code=code, name=f"村{code[-3:]}", parent_code="360827101")
    with transaction.atomic():
        Household.objects.bulk_create(
            [
                Household(household_id=f"B{i:08d}", village_id=villages[i % len(villages)])
                for i in range(households)
            ],
            batch_size=5000,
        )
        hh = list(Household.objects.order_by("id").values_list("id", "household_id", "village_id"))
        run = ScreenRun.objects.create(as_of=dt.date(2024, 6, 30), status="succeeded")
        Finding.objects.bulk_create(
            [
                Finding(
                    key=f"warning::{hid}:", kind="warning", household_id=pk, village_code=village,
                    level="red", category="edge", rules=["M-INCOME"], risk_types=["其他"],
                    first_run=run, last_run=run,
                )
                for pk, hid, village in hh
            ],
            batch_size=5000,
        )  # fmt: skip
        Case.objects.bulk_create(
            [
                Case(
                    household_id=pk, source="cadre_survey", state=vocab.MONITORED,
                    clue_date=dt.date(2024, 1, 2), identification_days=15,
                    deadline=dt.date(2024, 1, 17), decided_on=dt.date(2024, 1, 12),
                    category="edge", risk_types=["其他"],
                )
                for pk, _hid, _village in hh[:open_cases]
            ],
            batch_size=5000,
        )  # fmt: skip
    return run


def baseline(run) -> int:
    """One warning at a time, the way a simple loop would attach them."""
    from safetynet.core import audit
    from safetynet.monitoring import vocab
    from safetynet.monitoring.models import Case, CaseEvent, CaseFinding
    from safetynet.screening.models import Finding

    n = 0
    for finding in Finding.objects.filter(kind="warning", last_run=run, state="open"):
        case = Case.objects.filter(
            household_id=finding.household_id, state__in=vocab.OPEN_STATES
        ).first()
        if case is None:
            continue
        link, made = CaseFinding.objects.get_or_create(
            case=case, finding=finding, defaults={"run": run}
        )
        if made:
            CaseEvent.objects.create(
                case=case, action="attach_warning", from_state=case.state, to_state=case.state,
                actor_label="screen", on_date=run.as_of, data={"finding_ids": [finding.pk]},
            )  # fmt: skip
            audit.record(
                actor=None, action="monitoring.attach_finding", obj=case,
                area_code=finding.village_code, after={"findings": [finding.pk]},
            )  # fmt: skip
            n += 1
    return n


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20000)
    parser.add_argument("--open-cases", type=int, default=5000)
    parser.add_argument("--no-write-doc", action="store_true")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="sn-bench-casework-")
    os.environ["SAFETYNET_DATA_DIR"] = tmp
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safetynet.config.settings")
    import django

    django.setup()
    from django.db import transaction

    from safetynet.monitoring.models import CaseFinding
    from safetynet.monitoring.selectors import monitored_household_ids
    from safetynet.monitoring.services import attach_screen_findings

    load = os.getloadavg()[0]
    setup_s, run = timed(lambda: setup(args.households, args.open_cases))

    def rolled_back():
        with transaction.atomic():
            n = baseline(run)
            transaction.set_rollback(True)
        return n

    base_s, base_n = timed(rolled_back)
    assert CaseFinding.objects.count() == 0
    set_s, set_n = timed(lambda: attach_screen_findings(run=run))
    again_s, again_n = timed(lambda: attach_screen_findings(run=run))
    ids_s, ids = timed(monitored_household_ids)
    assert base_n == set_n == args.open_cases and again_n == 0 and len(ids) == args.open_cases

    rows = [
        ("baseline: one warning at a time", base_s, base_n),
        ("attach_screen_findings (set-based)", set_s, set_n),
        ("attach_screen_findings again (nothing new)", again_s, again_n),
        ("monitored_household_ids()", ids_s, len(ids)),
    ]
    command = "  ".join(
        [".venv/bin/python bench/casework.py", f"--households {args.households}",
         f"--open-cases {args.open_cases}"]
    )  # fmt: skip
    lines = [
        "| step | seconds | rows |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {sec:.3f} | {n:,} |" for name, sec, n in rows],
    ]
    speedup = base_s / set_s if set_s else float("inf")
    print(f"SQLite, {args.households:,} warnings, {args.open_cases:,} open cases "
          f"(set-up {setup_s:.1f} s)")  # fmt: skip
    print("\n".join(lines))
    print(f"set-based attach is {speedup:.0f}x faster than the baseline")
    if not args.no_write_doc:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(
            "# Case work: attaching screening warnings to open cases\n\n"
            f"Measured {dt.date.today().isoformat()} on {platform.machine()} "
            f"({os.cpu_count()} cores, Python {platform.python_version()}, SQLite), "
            f"{args.households:,} warnings of one run, {args.open_cases:,} open cases; "
            f"load average {load:.1f} when it started (other jobs shared the machine). "
            "The baseline and the set-based call run in the same process on the same data; "
            "the baseline's writes are rolled back.\n\n"
            + "\n".join(lines)
            + f"\n\nSet-based attach: {speedup:.0f}× the baseline.\n\n```bash\n{command}\n```\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    sys.exit(main())
