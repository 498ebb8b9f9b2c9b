"""Policy parameters: dated, area-scoped values with their sources (POLICY.md §0).

One YAML file per topic in `policy/parameters/`. Every value is keyed by an area code (`CN`
or 2/4/6/9/12 digits) and an effective date, and carries its publication date, tag ([V]/[L]/[D])
and source. Officers' overrides (`policy.models.ParameterOverride`) are more dated entries that
win ties with the files.

Resolution for a village code and an as-of date D: among the entries whose area is `CN` or a
prefix of the village code and whose `from` is on or before D, the longest area code wins, then
the latest `from`, then an override over a file entry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from .yamlsrc import CatalogueError, Located, load_located

PARAMETER_DIR = Path(__file__).resolve().parent / "parameters"

TAGS = {
    "V": ("已核实的国家规定", "verified national rule"),
    "L": ("他地地方规定，作默认值", "local rule seen elsewhere, used as the default"),
    "D": ("演示默认值，待省级文件替换", "demo default, to be replaced by the provincial notice"),
}
TYPES = ("decimal", "integer", "integer_range", "decimal_map", "integer_map", "string_list")
AREA_RE = re.compile(r"^(CN|\d{2}|\d{4}|\d{6}|\d{9}|\d{12})$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_DECIMAL_PLACES = 4

PARAM_KEYS = {"description", "unit", "type", "tag", "source", "values", "keys", "choices", "note"}
ENTRY_KEYS = {"value", "published", "tag", "source", "note"}


def area_length(code: str) -> int:
    return 0 if code == "CN" else len(code)


def area_applies(area: str, village_code: str) -> bool:
    return area == "CN" or village_code.startswith(area)


@dataclass(frozen=True)
class Entry:
    """One dated value of one parameter."""

    parameter: str
    area: str
    start: dt.date
    value: Any
    published: dt.date
    tag: str
    source: str
    origin: str = "file"  # file | override | scenario
    file: str | None = None
    line: int | None = None
    reason: str = ""
    override_id: int | None = None

    @property
    def rank(self) -> int:
        return {"file": 0, "override": 1, "scenario": 2}.get(self.origin, 0)

    def sort_key(self) -> tuple:
        # Scenario values (assess `parameters:`) beat everything; otherwise the longest area,
        # then the latest effective date, then an override over a file entry, newer first.
        scenario = 1 if self.origin == "scenario" else 0
        return (scenario, area_length(self.area), self.start, self.rank, self.override_id or 0)

    def describe(self) -> dict[str, Any]:
        return {
            "value": plain_value(self.value),
            "area": self.area,
            "from": self.start.isoformat(),
            "published": self.published.isoformat(),
            "tag": self.tag,
            "source": self.source,
            "origin": self.origin,
        }


@dataclass
class ParameterDef:
    name: str  # topic.key
    description_zh: str
    description_en: str
    unit: str
    type: str
    tag: str
    source: str
    keys: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    entries: list[Entry] = field(default_factory=list)
    file: str | None = None
    line: int | None = None

    def components(self) -> list[str]:
        """Names usable in SQL expressions: scalars, map keys, range ends, or the list itself."""
        if self.type in ("decimal_map", "integer_map"):
            return [f"{self.name}.{k}" for k in self.keys]
        if self.type == "integer_range":
            return [f"{self.name}.min", f"{self.name}.max"]
        return [self.name]

    def normalize(self, raw: Any) -> Any:
        """Validate and normalize a raw value; raises ValueError with a bilingual reason."""
        return normalize_value(self, raw)


def plain_value(value: Any) -> Any:
    """JSON-friendly copy: Decimal → int or float-like str-free number."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    return value


def json_ready(value: Any) -> Any:
    """For storage in JSON without losing decimals: Decimal → exact string."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def format_value(value: Any) -> str:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


class BadValue(ValueError):
    def __init__(self, zh: str, en: str):
        super().__init__(en)
        self.zh = zh
        self.en = en


def _decimal(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise BadValue(f"应为数值，得到 {raw!r}", f"expected a number, got {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise BadValue(f"应为数值，得到 {raw!r}", f"expected a number, got {raw!r}") from exc
    if not value.is_finite():
        raise BadValue("数值必须有限", "the number must be finite")
    if value < 0:
        raise BadValue(f"数值不能为负：{raw}", f"the number must not be negative: {raw}")
    if value.as_tuple().exponent < -MAX_DECIMAL_PLACES and value != value.quantize(
        Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
    ):
        raise BadValue(
            f"最多 {MAX_DECIMAL_PLACES} 位小数：{raw}",
            f"at most {MAX_DECIMAL_PLACES} decimal places: {raw}",
        )
    return value.normalize() if value != value.to_integral_value() else Decimal(int(value))


def _integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise BadValue(f"应为整数，得到 {raw!r}", f"expected an integer, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    else:
        raise BadValue(f"应为整数，得到 {raw!r}", f"expected an integer, got {raw!r}")
    if value < 0:
        raise BadValue(f"整数不能为负：{raw}", f"the integer must not be negative: {raw}")
    return value


def normalize_value(pdef: ParameterDef, raw: Any) -> Any:
    kind = pdef.type
    if kind == "decimal":
        return _decimal(raw)
    if kind == "integer":
        return _integer(raw)
    if kind in ("decimal_map", "integer_map", "integer_range"):
        if not isinstance(raw, Mapping):
            raise BadValue(f"应为映射，得到 {raw!r}", f"expected a mapping, got {raw!r}")
        keys = ("min", "max") if kind == "integer_range" else pdef.keys
        unknown = [k for k in raw if k not in keys]
        missing = [k for k in keys if k not in raw]
        if unknown or missing:
            raise BadValue(
                f"键应为 {', '.join(keys)}"
                + (f"；未知 {unknown}" if unknown else "")
                + (f"；缺少 {missing}" if missing else ""),
                f"keys must be {', '.join(keys)}"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else ""),
            )
        conv = _decimal if kind == "decimal_map" else _integer
        value = {k: conv(raw[k]) for k in keys}
        if kind == "integer_range" and value["min"] > value["max"]:
            raise BadValue("min 不能大于 max", "min must not exceed max")
        return value
    if kind == "string_list":
        if not isinstance(raw, list | tuple) or not all(isinstance(v, str) for v in raw):
            raise BadValue(
                f"应为文本列表，得到 {raw!r}", f"expected a list of strings, got {raw!r}"
            )
        if pdef.choices:
            bad = [v for v in raw if v not in pdef.choices]
            if bad:
                raise BadValue(
                    f"不允许的取值 {bad}（允许：{', '.join(pdef.choices)}）",
                    f"values not allowed {bad} (allowed: {', '.join(pdef.choices)})",
                )
        if len(set(raw)) != len(raw):
            raise BadValue("列表有重复项", "the list has duplicates")
        return tuple(raw)
    raise BadValue(f"未知类型 {kind}", f"unknown type {kind}")


def _parse_date(raw: Any) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return None
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            return None
    return None


def _text(doc: Located, path: tuple, raw: Any, what: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise doc.error(path, f"{what} 应为非空文本", f"{what} must be non-empty text")
    return raw.strip()


def _load_file(path: Path) -> list[ParameterDef]:
    doc = load_located(path)
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error(
            (),
            "文件应为映射（topic、parameters）",
            "the file must be a mapping (topic, parameters)",
        )
    unknown = sorted(set(data) - {"topic", "parameters", "note"})
    if unknown:
        raise doc.error((unknown[0],), f"未知的键 {unknown[0]!r}", f"unknown key {unknown[0]!r}")
    topic = data.get("topic")
    if not isinstance(topic, str) or not NAME_RE.match(topic):
        raise doc.error(("topic",), "topic 应为小写名称", "topic must be a lower-case name")
    if topic != path.stem:
        raise doc.error(
            ("topic",),
            f"topic {topic!r} 与文件名 {path.stem!r} 不符",
            f"topic {topic!r} does not match the file name {path.stem!r}",
        )
    params = data.get("parameters")
    if not isinstance(params, dict) or not params:
        raise doc.error(
            ("parameters",), "parameters 应为非空映射", "parameters must be a non-empty mapping"
        )
    result = []
    for key, spec in params.items():
        base = ("parameters", key)
        if not isinstance(key, str) or not NAME_RE.match(key):
            raise doc.error(base, f"参数名 {key!r} 无效", f"invalid parameter name {key!r}")
        name = f"{topic}.{key}"
        if not isinstance(spec, dict):
            raise doc.error(base, f"参数 {name} 应为映射", f"parameter {name} must be a mapping")
        unknown = sorted(set(spec) - PARAM_KEYS)
        if unknown:
            raise doc.error(
                base + (unknown[0],),
                f"参数 {name} 有未知的键 {unknown[0]!r}",
                f"parameter {name} has an unknown key {unknown[0]!r}",
            )
        for required in ("description", "unit", "type", "tag", "source", "values"):
            if required not in spec:
                raise doc.error(
                    base, f"参数 {name} 缺少 {required}", f"parameter {name} lacks {required}"
                )
        desc = spec["description"]
        if not isinstance(desc, dict) or set(desc) != {"zh", "en"}:
            raise doc.error(
                base + ("description",),
                "description 应有 zh 和 en 两项",
                "description must have exactly zh and en",
            )
        kind = spec["type"]
        if kind not in TYPES:
            raise doc.error(
                base + ("type",),
                f"未知类型 {kind!r}（允许：{', '.join(TYPES)}）",
                f"unknown type {kind!r} (allowed: {', '.join(TYPES)})",
            )
        tag = spec["tag"]
        if tag not in TAGS:
            raise doc.error(
                base + ("tag",),
                f"未知标记 {tag!r}（允许：V、L、D）",
                f"unknown tag {tag!r} (allowed: V, L, D)",
            )
        keys = spec.get("keys", [])
        if kind in ("decimal_map", "integer_map"):
            if (
                not isinstance(keys, list)
                or not keys
                or not all(isinstance(k, str) and NAME_RE.match(k) for k in keys)
            ):
                raise doc.error(
                    base + ("keys",),
                    f"{kind} 类型需要 keys 名称列表",
                    f"type {kind} needs a list of key names in keys",
                )
        elif "keys" in spec:
            raise doc.error(
                base + ("keys",), f"{kind} 类型不使用 keys", f"type {kind} takes no keys"
            )
        choices = spec.get("choices", [])
        if "choices" in spec and (kind != "string_list" or not isinstance(choices, list)):
            raise doc.error(
                base + ("choices",),
                "choices 仅用于 string_list，应为列表",
                "choices is a list, for string_list only",
            )
        pdef = ParameterDef(
            name=name,
            description_zh=_text(doc, base + ("description", "zh"), desc["zh"], "description.zh"),
            description_en=_text(doc, base + ("description", "en"), desc["en"], "description.en"),
            unit=_text(doc, base + ("unit",), spec["unit"], "unit"),
            type=kind,
            tag=tag,
            source=_text(doc, base + ("source",), spec["source"], "source"),
            keys=tuple(keys),
            choices=tuple(str(c) for c in choices),
            file=str(path),
            line=doc.line(base),
        )
        values = spec["values"]
        if not isinstance(values, dict) or not values:
            raise doc.error(
                base + ("values",),
                f"参数 {name} 的 values 应为非空映射（区划代码 → 日期 → 值）",
                f"values of {name} must be a non-empty mapping (area code → date → entry)",
            )
        for area_raw, dated in values.items():
            area = str(area_raw)
            vpath = base + ("values", area_raw)
            if not AREA_RE.match(area):
                raise doc.error(
                    vpath,
                    f"区划代码 {area_raw!r} 无效（CN 或 2/4/6/9/12 位数字）",
                    f"invalid area code {area_raw!r} (CN or 2/4/6/9/12 digits)",
                )
            if not isinstance(dated, dict) or not dated:
                raise doc.error(
                    vpath,
                    f"{name} 在 {area} 下应为 日期 → 值 的映射",
                    f"{name} under {area} must map effective dates to entries",
                )
            for date_raw, entry in dated.items():
                epath = vpath + (date_raw,)
                start = _parse_date(date_raw)
                if start is None:
                    raise doc.error(
                        epath,
                        f"生效日期 {date_raw!r} 无效（YYYY-MM-DD）",
                        f"invalid effective date {date_raw!r} (YYYY-MM-DD)",
                    )
                if not isinstance(entry, dict):
                    raise doc.error(
                        epath,
                        f"{name} {area} {start}：应为含 value 和 published 的映射",
                        f"{name} {area} {start}: expected a mapping with value and published",
                    )
                unknown = sorted(set(entry) - ENTRY_KEYS)
                if unknown:
                    raise doc.error(
                        epath + (unknown[0],),
                        f"未知的键 {unknown[0]!r}",
                        f"unknown key {unknown[0]!r}",
                    )
                if "value" not in entry:
                    raise doc.error(
                        epath,
                        f"{name} {area} {start}：缺少 value",
                        f"{name} {area} {start}: value is missing",
                    )
                published = _parse_date(entry.get("published"))
                if published is None:
                    raise doc.error(
                        epath + ("published",),
                        f"{name} {area} {start}：缺少或无效的发布日期 published",
                        f"{name} {area} {start}: published date missing or invalid",
                    )
                etag = entry.get("tag", tag)
                if etag not in TAGS:
                    raise doc.error(
                        epath + ("tag",),
                        f"未知标记 {etag!r}（允许：V、L、D）",
                        f"unknown tag {etag!r} (allowed: V, L, D)",
                    )
                esource = entry.get("source", pdef.source)
                if not isinstance(esource, str) or not esource.strip():
                    raise doc.error(
                        epath + ("source",), "source 应为非空文本", "source must be non-empty text"
                    )
                try:
                    value = normalize_value(pdef, entry["value"])
                except BadValue as exc:
                    raise doc.error(
                        epath + ("value",),
                        f"{name} {area} {start}：{exc.zh}",
                        f"{name} {area} {start}: {exc.en}",
                    ) from exc
                pdef.entries.append(
                    Entry(
                        parameter=name,
                        area=area,
                        start=start,
                        value=value,
                        published=published,
                        tag=etag,
                        source=esource.strip(),
                        file=str(path),
                        line=doc.line(epath),
                    )
                )
        result.append(pdef)
    return result


class ParameterCatalogue:
    """All parameter definitions and their file entries."""

    def __init__(self, defs: Iterable[ParameterDef]):
        self.defs: dict[str, ParameterDef] = {}
        for d in defs:
            if d.name in self.defs:
                raise CatalogueError(
                    f"参数 {d.name} 重复定义",
                    f"parameter {d.name} is defined twice",
                    file=d.file,
                    line=d.line,
                )
            self.defs[d.name] = d
        self.components: dict[str, tuple[ParameterDef, str | None]] = {}
        for d in self.defs.values():
            for comp in d.components():
                key = comp[len(d.name) + 1 :] if comp != d.name else None
                self.components[comp] = (d, key)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> ParameterCatalogue:
        directory = Path(directory) if directory else PARAMETER_DIR
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise CatalogueError("没有参数文件", "no parameter files found", file=directory)
        defs: list[ParameterDef] = []
        for path in files:
            defs.extend(_load_file(path))
        return cls(defs)

    def get(self, name: str) -> ParameterDef:
        try:
            return self.defs[name]
        except KeyError:
            raise CatalogueError(f"未知参数 {name}", f"unknown parameter {name}") from None

    def entry(
        self,
        *,
        parameter: str,
        area: str,
        start: dt.date,
        value: Any,
        published: dt.date | None = None,
        origin: str = "override",
        reason: str = "",
        override_id: int | None = None,
        source: str | None = None,
    ) -> Entry:
        """Validate and build one extra entry (override or scenario value)."""
        pdef = self.get(parameter)
        if not AREA_RE.match(area):
            raise CatalogueError(f"区划代码 {area!r} 无效", f"invalid area code {area!r}")
        try:
            norm = normalize_value(pdef, value)
        except BadValue as exc:
            raise CatalogueError(
                f"参数 {parameter}：{exc.zh}", f"parameter {parameter}: {exc.en}"
            ) from exc
        label = {
            "override": ("人工调整", "officer override"),
            "scenario": ("情景设定", "scenario value"),
        }
        zh, en = label.get(origin, ("", ""))
        return Entry(
            parameter=parameter,
            area=area,
            start=start,
            value=norm,
            published=published or start,
            tag=pdef.tag,
            source=source or (f"{en}: {reason}" if reason else en) or pdef.source,
            origin=origin,
            reason=reason,
            override_id=override_id,
        )

    def candidates(self, name: str, extra: Iterable[Entry] = ()) -> list[Entry]:
        return list(self.get(name).entries) + [e for e in extra if e.parameter == name]

    def resolve(
        self,
        name: str,
        village_code: str,
        as_of: dt.date,
        *,
        extra: Iterable[Entry] = (),
        known_on: dt.date | None = None,
    ) -> Entry | None:
        """The entry in force for a village (or any area code) as of a date."""
        best = None
        for e in self.candidates(name, extra):
            if not area_applies(e.area, village_code) or e.start > as_of:
                continue
            if known_on is not None and e.published > known_on:
                continue
            if best is None or e.sort_key() > best.sort_key():
                best = e
        return best

    def in_force(
        self,
        village_code: str,
        as_of: dt.date,
        *,
        extra: Iterable[Entry] = (),
        known_on: dt.date | None = None,
    ) -> dict[str, Entry | None]:
        extra = list(extra)
        return {
            name: self.resolve(name, village_code, as_of, extra=extra, known_on=known_on)
            for name in self.defs
        }

    def mentioned_areas(self, extra: Iterable[Entry] = ()) -> set[str]:
        codes = {"CN"}
        for d in self.defs.values():
            codes.update(e.area for e in d.entries)
        codes.update(e.area for e in extra)
        return codes


def resolve_in_force(name: str, area_code: str, as_of: dt.date) -> Entry | None:
    """The entry in force from the files *and* officers' overrides (needs Django)."""
    from .selectors import parameter_in_force

    return parameter_in_force(name, area_code=area_code, as_of=as_of)


@lru_cache(maxsize=4)
def _cached(directory: str) -> ParameterCatalogue:
    return ParameterCatalogue.load(directory)


def default_parameters() -> ParameterCatalogue:
    return _cached(str(PARAMETER_DIR))


# --------------------------------------------------------------------------- binding


@dataclass(frozen=True)
class ParameterBinding:
    """Parameter values fixed for one compilation: per area key, every parameter's entry.

    `mode` says how a household finds its key: `prefix` (the longest of `keys` that prefixes
    its village code, `CN` otherwise) or `column` (the households input carries `param_key`).
    """

    as_of: dt.date
    keys: dict[str, dict[str, Entry | None]]
    mode: str = "prefix"

    def values(self, component: str, catalogue: ParameterCatalogue) -> dict[str, Any]:
        pdef, sub = catalogue.components[component]
        out = {}
        for key, entries in self.keys.items():
            e = entries.get(pdef.name)
            if e is None:
                out[key] = None
            elif sub is None:
                out[key] = e.value
            else:
                out[key] = e.value[sub]
        return out

    def fingerprint(self) -> tuple:
        return (
            self.as_of,
            self.mode,
            tuple(
                (
                    k,
                    tuple(
                        (
                            n,
                            e.value if not isinstance(e.value, dict) else tuple(e.value.items()),
                            e.area,
                            e.start,
                            e.origin,
                        )
                        if e
                        else (n, None)
                        for n, e in sorted(v.items())
                    ),
                )
                for k, v in sorted(self.keys.items())
            ),
        )


def bind_areas(
    catalogue: ParameterCatalogue,
    as_of: dt.date,
    *,
    extra: Iterable[Entry] = (),
    known_on: dt.date | None = None,
) -> ParameterBinding:
    """A binding with one key per area code that carries any value (CN always)."""
    extra = list(extra)
    keys = {}
    for code in sorted(catalogue.mentioned_areas(extra), key=lambda c: (area_length(c), c)):
        keys[code] = catalogue.in_force(code, as_of, extra=extra, known_on=known_on)
    return ParameterBinding(as_of=as_of, keys=keys, mode="prefix")


def bind_explicit(
    catalogue: ParameterCatalogue,
    as_of: dt.date,
    groups: Mapping[str, tuple[str, list[Entry]]],
    *,
    extra: Iterable[Entry] = (),
) -> ParameterBinding:
    """A binding keyed by caller-chosen keys: key → (village code, scenario entries)."""
    extra = list(extra)
    keys = {}
    for key, (village, entries) in groups.items():
        keys[key] = catalogue.in_force(village, as_of, extra=extra + list(entries))
    return ParameterBinding(as_of=as_of, keys=keys, mode="column")


def scenario_entries(
    catalogue: ParameterCatalogue, values: Mapping[str, Any], as_of: dt.date, village_code: str
) -> list[Entry]:
    """Scenario `parameters:` (name → value) as entries that win over everything."""
    out = []
    grouped: dict[str, dict[str, Any]] = {}
    for name, raw in values.items():
        if name in catalogue.defs:
            out.append(
                catalogue.entry(
                    parameter=name,
                    area=village_code,
                    start=dt.date.min,
                    value=raw,
                    origin="scenario",
                    source="scenario",
                )
            )
            continue
        if name in catalogue.components:
            pdef, sub = catalogue.components[name]
            grouped.setdefault(pdef.name, {})[sub] = raw
            continue
        raise CatalogueError(f"未知参数 {name}", f"unknown parameter {name}")
    for pname, parts in grouped.items():
        current = catalogue.resolve(pname, village_code, as_of)
        base = dict(current.value) if current else {}
        if catalogue.defs[pname].type == "integer_range" and current:
            base = dict(current.value)
        base.update(parts)
        out.append(
            catalogue.entry(
                parameter=pname,
                area=village_code,
                start=dt.date.min,
                value=base,
                origin="scenario",
                source="scenario",
            )
        )
    return [replace(e, area=village_code) for e in out]
