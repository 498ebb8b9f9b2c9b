"""YAML that remembers where each value came from.

Parameter and rule files are edited by hand, so every error must name the file and the line.
PyYAML's composer keeps a mark on every node; we build plain Python values from the node tree
and keep a map from each value's path (tuple of keys/indexes) to its line. Duplicate keys,
which PyYAML would silently collapse, are rejected here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from safetynet.core.errors import ValidationFailed


class CatalogueError(ValidationFailed):
    """A parameter or rule file is wrong. Carries the file and line to fix."""

    code = "catalogue"

    def __init__(
        self,
        zh: str,
        en: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        rule: str | None = None,
        position: int | None = None,
    ):
        where = ""
        if file is not None:
            where = f"{file}" + (f":{line}" if line else "")
        prefix_zh = f"{where}：" if where else ""
        prefix_en = f"{where}: " if where else ""
        if rule:
            prefix_zh += f"[{rule}] "
            prefix_en += f"[{rule}] "
        super().__init__(
            prefix_zh + zh,
            prefix_en + en,
            file=str(file) if file else None,
            line=line,
            rule=rule,
            position=position,
        )
        self.file = str(file) if file else None
        self.line = line
        self.rule = rule
        self.position = position


Path_ = tuple[Any, ...]


@dataclass
class Located:
    """Values of one YAML document plus the line of every value, by path."""

    data: Any
    file: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Sequence[Any]) -> int | None:
        """Line of the value at `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, path: Sequence[Any], zh: str, en: str, **kw) -> CatalogueError:
        return CatalogueError(zh, en, file=self.file, line=self.line(path), **kw)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe loader (libyaml when available); we use its composer and scalar resolution."""


def _build(node: yaml.Node, path: Path_, lines: dict, file: str, loader: _Loader) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, path + ("<key>",), {}, file, loader)
            if isinstance(key, list | dict):
                raise CatalogueError(
                    "键必须是简单值",
                    "mapping keys must be plain values",
                    file=file,
                    line=key_node.start_mark.line + 1,
                )
            if key in result:
                raise CatalogueError(
                    f"重复的键 {key!r}",
                    f"duplicate key {key!r}",
                    file=file,
                    line=key_node.start_mark.line + 1,
                )
            result[key] = _build(value_node, path + (key,), lines, file, loader)
            lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, file, loader) for i, item in enumerate(node.value)]
    try:
        return loader.construct_object(node, deep=True)
    except ValueError:
        # e.g. a "timestamp" like 2023-13-01: keep the text, the validators say what is wrong
        return node.value


def load_located(path: str | Path, text: str | None = None) -> Located:
    """Parse one YAML file. Syntax errors become CatalogueError with the line."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogueError(
                f"无法读取文件：{exc}", f"cannot read file: {exc}", file=path
            ) from exc
        except UnicodeDecodeError as exc:
            raise CatalogueError("文件不是 UTF-8 编码", "file is not UTF-8", file=path) from exc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        data = None if node is None else _build(node, (), lines, str(path), loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise CatalogueError(
            f"YAML 语法错误：{exc.problem or exc}",
            f"YAML syntax error: {exc.problem or exc}",
            file=path,
            line=line,
        ) from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"YAML 错误：{exc}", f"YAML error: {exc}", file=path) from exc
    finally:
        loader.dispose()
    return Located(data=data, file=str(path), lines=lines)


def pydantic_error(
    doc: Located, base: Sequence[Any], exc, what_zh: str, what_en: str, rule: str | None = None
) -> CatalogueError:
    """Turn the first pydantic validation error into a CatalogueError at the right line."""
    first = exc.errors()[0]
    loc = tuple(first.get("loc", ()))
    field_name = ".".join(str(p) for p in loc) or "(root)"
    msg = first.get("msg", "invalid")
    line = doc.line(tuple(base) + loc)
    return CatalogueError(
        f"{what_zh}字段 {field_name}：{_zh_pydantic(first)}",
        f"{what_en} field {field_name}: {msg}",
        file=doc.file,
        line=line,
        rule=rule,
    )


def _zh_pydantic(err: dict) -> str:
    kind = err.get("type", "")
    table = {
        "missing": "缺少必填项",
        "extra_forbidden": "未知的键",
        "string_type": "应为文本",
        "int_type": "应为整数",
        "int_parsing": "应为整数",
        "bool_type": "应为布尔值",
        "date_type": "应为日期 YYYY-MM-DD",
        "date_from_datetime_parsing": "应为日期 YYYY-MM-DD",
        "date_parsing": "应为日期 YYYY-MM-DD",
        "literal_error": "取值不在允许范围内",
        "dict_type": "应为映射",
        "list_type": "应为列表",
        "value_error": "取值无效",
        "string_pattern_mismatch": "格式不符",
    }
    base = table.get(kind, "取值无效")
    return f"{base}（{err.get('msg', '')}）"
