"""Household scenarios (formats/assess.md): reading, validating, and turning them into the
engine's input tables.

A scenario is one household described in full. It becomes exactly the input contract the bulk
screen uses (households, persons, incomes, feed_<kind>, requests), with one household, so the
same compiled SQL evaluates it. Validation errors name the file and the field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from safetynet.core.errors import ValidationFailed
from safetynet.policy.catalogue import InputTable
from safetynet.registry.enums import VOCABULARIES

from .adapters import ARROW_TYPES

TRUE_WORDS = {"y", "yes", "true", "1", "是", "t"}
FALSE_WORDS = {"n", "no", "false", "0", "否", "f"}


class ScenarioError(ValidationFailed):
    code = "scenario"

    def __init__(
        self,
        zh: str,
        en: str,
        *,
        file: str | None = None,
        field: str | None = None,
        name: str | None = None,
    ):
        where = file or ""
        if name:
            where = f"{where} [{name}]" if where else f"[{name}]"
        f_zh = f" 字段 {field}" if field else ""
        f_en = f" field {field}" if field else ""
        super().__init__(f"{where}{f_zh}：{zh}", f"{where}{f_en}: {en}", file=file, field=field)
        self.file = file
        self.field = field


def _vocab(name: str):
    table: dict[str, str] = {}
    for code, zh, en in VOCABULARIES[name]:
        for spelling in (code, zh, en, *zh.split("/")):
            table[spelling.strip().lower()] = code
    return table


_VOCABS = {name: _vocab(name) for name in VOCABULARIES}


def _enum(name: str):
    def check(v: Any) -> Any:
        if v is None or v == "":
            return None
        key = str(v).strip().lower()
        if key not in _VOCABS[name]:
            allowed = ", ".join(code for code, _, _ in VOCABULARIES[name])
            raise ValueError(f"'{v}' is not one of {allowed}")
        return _VOCABS[name][key]

    return check


def _boolish(v: Any) -> Any:
    if isinstance(v, str):
        key = v.strip().lower()
        if key in TRUE_WORDS:
            return True
        if key in FALSE_WORDS:
            return False
        if key == "":
            return None
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MemberIn(_Strict):
    id_number: str = Field(min_length=1)
    name: str = ""
    relation: str
    sex: str | None = None
    birth_date: dt.date | None = None
    status: str = "active"
    education: str | None = None
    in_school: bool = False
    health: str = "healthy"
    disability_type: str | None = None
    disability_grade: int | None = Field(default=None, ge=1, le=4)
    labour: str
    employment: str = "none"
    work_months: int = Field(default=0, ge=0, le=12)
    medical_insured: bool = True
    pension_insured: bool | None = None
    adl_failed: int = Field(default=0, ge=0, le=6)
    supporter_capable: bool | None = None
    phone: str | None = None

    @field_validator("id_number", mode="before")
    @classmethod
    def _id(cls, v):
        return str(v).strip().upper() if v is not None else v

    @field_validator(
        "in_school", "medical_insured", "pension_insured", "supporter_capable", mode="before"
    )
    @classmethod
    def _bool(cls, v):
        return _boolish(v)

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, v):
        return None if v is None else str(v)

    _relation = field_validator("relation", mode="before")(
        classmethod(lambda cls, v: _enum("relation")(v))
    )
    _sex = field_validator("sex", mode="before")(classmethod(lambda cls, v: _enum("sex")(v)))
    _status = field_validator("status", mode="before")(
        classmethod(lambda cls, v: _enum("status")(v) or "active")
    )
    _education = field_validator("education", mode="before")(
        classmethod(lambda cls, v: _enum("education")(v))
    )
    _health = field_validator("health", mode="before")(
        classmethod(lambda cls, v: _enum("health")(v) or "healthy")
    )
    _dtype = field_validator("disability_type", mode="before")(
        classmethod(lambda cls, v: _enum("disability_type")(v))
    )
    _labour = field_validator("labour", mode="before")(
        classmethod(lambda cls, v: _enum("labour")(v))
    )
    _employment = field_validator("employment", mode="before")(
        classmethod(lambda cls, v: _enum("employment")(v) or "none")
    )

    @model_validator(mode="after")
    def _grade_needs_type(self):
        if self.disability_grade is not None and self.disability_type is None:
            raise ValueError("disability_grade needs disability_type")
        return self


MONEY_FIELDS = (
    "wage",
    "business_income",
    "business_cost",
    "property",
    "pension_basic",
    "pension_other",
    "assistance_received",
    "policy_subsidies",
    "exempt_transfers",
    "other_transfers",
    "education_expense",
    "financial_assets",
)


class IncomeIn(_Strict):
    year: int = Field(ge=1990, le=2100)
    wage: Decimal = Field(default=Decimal(0), ge=0)
    business_income: Decimal = Field(default=Decimal(0), ge=0)
    business_cost: Decimal = Field(default=Decimal(0), ge=0)
    property: Decimal = Field(default=Decimal(0), ge=0)
    pension_basic: Decimal = Field(default=Decimal(0), ge=0)
    pension_other: Decimal = Field(default=Decimal(0), ge=0)
    assistance_received: Decimal = Field(default=Decimal(0), ge=0)
    policy_subsidies: Decimal = Field(default=Decimal(0), ge=0)
    exempt_transfers: Decimal = Field(default=Decimal(0), ge=0)
    other_transfers: Decimal = Field(default=Decimal(0), ge=0)
    education_expense: Decimal = Field(default=Decimal(0), ge=0)
    financial_assets: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator(*MONEY_FIELDS, mode="before")
    @classmethod
    def _money(cls, v):
        if isinstance(v, float):
            return Decimal(str(v))
        return v

    @field_validator(*MONEY_FIELDS)
    @classmethod
    def _cents(cls, v: Decimal) -> Decimal:
        if v != v.quantize(Decimal("0.01")):
            raise ValueError("at most 2 decimal places (fen)")
        return v


class HouseholdIn(_Strict):
    household_id: str | None = None
    address: str | None = None
    registered_poor: bool = False
    exit_year: int | None = Field(default=None, ge=2014, le=2020)
    relocated: bool = False
    housing_grade: str | None = None
    water_secure: bool = True
    already_monitored: bool = False
    phone: str | None = None
    bank_account: str | None = None
    members: list[MemberIn] = Field(default_factory=list)
    incomes: list[IncomeIn] = Field(default_factory=list)
    feeds: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator(
        "registered_poor", "relocated", "water_secure", "already_monitored", mode="before"
    )
    @classmethod
    def _bool(cls, v):
        return _boolish(v)

    _grade = field_validator("housing_grade", mode="before")(
        classmethod(lambda cls, v: _enum("housing_grade")(v))
    )

    @field_validator("household_id", "phone", "bank_account", mode="before")
    @classmethod
    def _text(cls, v):
        return None if v is None else str(v)


class RequestIn(_Strict):
    type: Literal["emergency", "expenditure"]
    need: Decimal = Field(ge=0)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v):
        words = {
            "急难型": "emergency",
            "急难": "emergency",
            "支出型": "expenditure",
            "支出": "expenditure",
        }
        return words.get(str(v).strip(), str(v).strip().lower()) if v is not None else v

    @field_validator("need", mode="before")
    @classmethod
    def _money(cls, v):
        return Decimal(str(v)) if isinstance(v, float) else v


class OverrideIn(_Strict):
    parameter: str
    area: str
    from_: dt.date = Field(alias="from")
    value: Any
    published: dt.date | None = None
    reason: str = ""

    @field_validator("area", mode="before")
    @classmethod
    def _area(cls, v):
        return str(v)


class ScenarioIn(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    as_of: dt.date
    village_code: str = Field(pattern=r"^\d{12}$")
    parameters: dict[str, Any] = Field(default_factory=dict)
    overrides: list[OverrideIn] = Field(default_factory=list)
    household: HouseholdIn
    request: RequestIn | None = None
    expected: dict[str, Any] | None = None

    @field_validator("village_code", mode="before")
    @classmethod
    def _village(cls, v):
        return str(v) if v is not None else v

    @model_validator(mode="after")
    def _unique_members(self):
        seen = set()
        for m in self.household.members:
            if m.id_number in seen:
                raise ValueError(f"member id_number {m.id_number} appears twice")
            seen.add(m.id_number)
        years = [i.year for i in self.household.incomes]
        if len(years) != len(set(years)):
            raise ValueError("two income records for the same year")
        return self


@dataclass
class Scenario:
    """A validated scenario plus where it came from."""

    spec: ScenarioIn
    file: str | None = None
    index: int = 0
    feeds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name


def _field_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(scenario)"


def _zh_error(err: dict) -> str:
    kind = err.get("type", "")
    table = {
        "missing": "缺少必填项",
        "extra_forbidden": "未知的字段",
        "bool_parsing": "应为布尔值（Y/N、是/否、true/false）",
        "bool_type": "应为布尔值",
        "int_parsing": "应为整数",
        "int_type": "应为整数",
        "decimal_parsing": "应为数值",
        "date_from_datetime_parsing": "应为日期 YYYY-MM-DD",
        "date_parsing": "应为日期 YYYY-MM-DD",
        "date_type": "应为日期 YYYY-MM-DD",
        "greater_than_equal": "数值过小",
        "less_than_equal": "数值过大",
        "string_pattern_mismatch": "格式不符",
        "literal_error": "取值不在允许范围内",
        "string_too_short": "不能为空",
    }
    return table.get(kind, "取值无效")


def _feed_error(file, name, path, zh, en):
    return ScenarioError(zh, en, file=file, field=path, name=name)


def _typed(value: Any, typ: str, path: str, file, name) -> Any:
    if value is None or value == "":
        return None
    try:
        if typ == "text":
            return str(value)
        if typ == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(str(value))
        if typ == "bool":
            b = _boolish(value)
            if not isinstance(b, bool):
                raise ValueError
            return b
        if typ == "date":
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            return dt.date.fromisoformat(str(value))
        if typ == "money":
            d = Decimal(str(value))
            if not d.is_finite() or d < 0 or d != d.quantize(Decimal("0.01")):
                raise ValueError
            return d
    except (ValueError, ArithmeticError):
        pass
    labels = {
        "text": "文本",
        "int": "整数",
        "bool": "布尔值",
        "date": "日期 YYYY-MM-DD",
        "money": "非负金额（最多两位小数）",
    }
    raise _feed_error(
        file, name, path, f"应为{labels[typ]}，得到 {value!r}", f"expected {typ}, got {value!r}"
    )


FEED_EXTRA = {"name": "text", "birth_date": "date", "sex": "text", "village_code": "text"}


def _feeds(spec: ScenarioIn, inputs: dict[str, InputTable], file, name) -> list[dict[str, Any]]:
    out = []
    for i, raw in enumerate(spec.household.feeds):
        base = f"household.feeds[{i}]"
        if not isinstance(raw, dict):
            raise _feed_error(file, name, base, "应为映射", "must be a mapping")
        kind = raw.get("kind")
        table = inputs.get(f"feed_{kind}") if isinstance(kind, str) else None
        if table is None or not table.feed:
            kinds = ", ".join(sorted(k[5:] for k, t in inputs.items() if t.feed))
            raise _feed_error(
                file,
                name,
                base + ".kind",
                f"未知的部门数据类型 {kind!r}（允许：{kinds}）",
                f"unknown feed kind {kind!r} (allowed: {kinds})",
            )
        allowed = {**table.columns, **FEED_EXTRA}
        record: dict[str, Any] = {"kind": kind}
        for key, value in raw.items():
            if key == "kind":
                continue
            if key not in allowed:
                raise _feed_error(
                    file,
                    name,
                    f"{base}.{key}",
                    f"{kind} 没有字段 {key}",
                    f"{kind} has no field {key}",
                )
            record[key] = _typed(value, allowed[key], f"{base}.{key}", file, name)
        if record.get("event_date") is None:
            raise _feed_error(
                file, name, f"{base}.event_date", "缺少 event_date", "event_date is missing"
            )
        if record.get("id_number"):
            record["id_number"] = str(record["id_number"]).strip().upper()
        record.setdefault("record_id", f"{kind}-{i + 1}")
        if record["record_id"] is None:
            record["record_id"] = f"{kind}-{i + 1}"
        out.append(record)
    return out


def parse_scenario(
    data: Any, inputs: dict[str, InputTable], *, file: str | None = None, index: int = 0
) -> Scenario:
    """Validate one scenario mapping. Raises ScenarioError naming the file and field."""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise ScenarioError(
            "情景应为映射", "a scenario must be a mapping", file=file, name=f"#{index + 1}"
        )
    try:
        spec = ScenarioIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = _field_path(err.get("loc", ()))
        raise ScenarioError(
            f"{_zh_error(err)}（{err.get('msg')}）",
            err.get("msg", "invalid"),
            file=file,
            field=path,
            name=name or f"#{index + 1}",
        ) from exc
    feeds = _feeds(spec, inputs, file, spec.name)
    return Scenario(spec=spec, file=file, index=index, feeds=feeds)


@dataclass
class LoadedItem:
    """A scenario, or the error that stopped it (other scenarios still run)."""

    scenario: Scenario | None
    error: ScenarioError | None
    file: str
    index: int


def _read_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def load_scenarios(target: str | Path, inputs: dict[str, InputTable]) -> list[LoadedItem]:
    """Read a scenario file or a directory of them, in file order; keep per-scenario errors."""
    target = Path(target)
    if target.is_dir():
        files = sorted(
            p
            for p in target.iterdir()
            if p.suffix.lower() in (".yaml", ".yml", ".json") and p.is_file()
        )
        if not files:
            raise ScenarioError(
                "目录中没有 YAML 或 JSON 情景文件",
                "no YAML or JSON scenario files in the directory",
                file=str(target),
            )
    elif target.is_file():
        files = [target]
    else:
        raise ScenarioError("文件或目录不存在", "no such file or directory", file=str(target))
    items: list[LoadedItem] = []
    for path in files:
        try:
            data = _read_file(path)
        except (yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            items.append(
                LoadedItem(
                    None,
                    ScenarioError(
                        f"无法读取：{detail}", f"cannot be read: {detail}", file=str(path)
                    ),
                    str(path),
                    0,
                )
            )
            continue
        entries = data if isinstance(data, list) else [data]
        for i, entry in enumerate(entries):
            try:
                items.append(
                    LoadedItem(
                        parse_scenario(entry, inputs, file=str(path), index=i), None, str(path), i
                    )
                )
            except ScenarioError as exc:
                items.append(LoadedItem(None, exc, str(path), i))
    return items


def scenario_tables(
    batch: list[tuple[str, str, Scenario]],
    inputs: dict[str, InputTable],
    months: set[int] | None = None,
) -> dict[str, pa.Table]:
    """Input tables for scenarios: (internal household id, parameter key, scenario) each.

    With `months` (the catalogue's AS_OF_MINUS_MONTHS offsets) each household also carries its
    own as-of date columns, so scenarios of different dates run together.
    """
    from safetynet.policy.compiler import as_of_values

    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in inputs}
    for hid, key, sc in batch:
        h = sc.spec.household
        row = {
            "household_id": hid,
            "village_code": sc.spec.village_code,
            "registered_poor": h.registered_poor,
            "exit_year": h.exit_year,
            "relocated": h.relocated,
            "housing_grade": h.housing_grade,
            "water_secure": h.water_secure,
            "already_monitored": h.already_monitored,
            "param_key": key,
        }
        if months is not None:
            row.update(as_of_values(sc.spec.as_of, months))
        rows["households"].append(row)
        for m in h.members:
            row = m.model_dump()
            row["household_id"] = hid
            rows["persons"].append(row)
        for inc in h.incomes:
            row = inc.model_dump()
            row["household_id"] = hid
            rows["incomes"].append(row)
        for rec in sc.feeds:
            row = {k: v for k, v in rec.items() if k != "kind"}
            # Every record of a scenario belongs to the scenario (isolated evaluation).
            row["household_id"] = hid
            rows[f"feed_{rec['kind']}"].append(row)
        if sc.spec.request is not None:
            rows["requests"].append(
                {"household_id": hid, "type": sc.spec.request.type, "need": sc.spec.request.need}
            )
    tables = {}
    for name, spec in inputs.items():
        cols = dict(spec.all_columns() if name == "households" else spec.columns)
        if name == "households" and months is not None:
            for c, v in as_of_values(dt.date(2000, 1, 1), months).items():
                cols[c] = "date" if isinstance(v, dt.date) else "int"
        schema = pa.schema([(c, ARROW_TYPES[t]) for c, t in cols.items()])
        data = rows.get(name, [])
        if not data and spec.optional:
            continue
        tables[name] = pa.Table.from_pylist(
            [{c: r.get(c) for c in cols} for r in data], schema=schema
        )
    return tables
