"""The Parquet lake of department feeds: where things live, and reading files into DuckDB.

Layout under ``settings.LAKE_DIR``::

    feeds/records/<kind>/batch=<batch_id>/part-0.parquet   validated records of one batch
    feeds/links/<kind>/batch=<batch_id>/part-0.parquet     identity links of those records
    feeds/rejects/<kind>/<batch_id>.csv                    rows that failed validation
    feeds/linked/<kind>-<fingerprint>.parquet              materialised linked view (for Spark)

A batch directory is written under a temporary name and renamed into place, so a reader never
sees half a batch.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
from django.conf import settings

from safetynet.core.errors import ValidationFailed

from .schemas import FeedKind, header_aliases

BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PARQUET_MAGIC = b"PAR1"


def feeds_root() -> Path:
    return Path(settings.LAKE_DIR) / "feeds"


def records_dir(kind: str, batch_id: str) -> Path:
    return feeds_root() / "records" / kind / f"batch={batch_id}"


def links_dir(kind: str, batch_id: str) -> Path:
    return feeds_root() / "links" / kind / f"batch={batch_id}"


def rejects_path(kind: str, batch_id: str) -> Path:
    return feeds_root() / "rejects" / kind / f"{batch_id}.csv"


def linked_dir() -> Path:
    return feeds_root() / "linked"


def part_file(directory: Path) -> Path:
    return directory / "part-0.parquet"


def sql_str(value: str | os.PathLike) -> str:
    """A SQL string literal (paths and labels we put in generated SQL)."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(*, memory_limit: str | None = None, threads: int | None = None):
    """An in-process DuckDB connection, bounded so feeds work shares the machine politely."""
    con = duckdb.connect()
    limit = memory_limit or os.environ.get("SAFETYNET_DUCKDB_MEMORY", "3GB")
    con.execute(f"SET memory_limit = {sql_str(limit)}")
    con.execute(f"SET threads = {int(threads or os.environ.get('SAFETYNET_DUCKDB_THREADS', 2))}")
    tmp = Path(settings.DATA_DIR) / "tmp" / "duckdb"
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {sql_str(tmp)}")
    con.execute("SET preserve_insertion_order = true")
    return con


def check_batch_id(batch_id: str) -> str:
    if not BATCH_ID_RE.match(batch_id or ""):
        raise ValidationFailed(
            f"批次编号「{batch_id}」无效：只能用字母、数字、点、横线、下划线，最长 64 个字符",
            f"invalid batch id '{batch_id}': letters, digits, '.', '-', '_' only, at most 64",
        )
    return batch_id


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class SourceFile:
    path: Path
    format: str  # csv | parquet
    header: list[str]  # names as written in the file
    columns: list[str]  # canonical column names, same order


def _fail_file(path: Path, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(f"文件 {path.name}：{zh}", f"file {path.name}: {en}", file=str(path))


def _check_utf8(path: Path) -> None:
    """Stream the whole file through a strict UTF-8 decoder (cheap next to parsing it)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            if b"\x00" in chunk:
                raise _fail_file(
                    path,
                    "看起来是二进制文件，不是 CSV 或 Parquet",
                    "looks like a binary file, not CSV or Parquet",
                )
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                position = offset + exc.start
                raise _fail_file(
                    path,
                    f"不是 UTF-8 编码（第 {position} 字节）；请另存为 UTF-8（例如从 GBK 转换）",
                    f"is not UTF-8 encoded (byte {position}); save it as UTF-8 (e.g. from GBK)",
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _fail_file(
                path, "结尾的字符不完整，不是有效的 UTF-8", "ends in a truncated UTF-8 character"
            ) from None


def _map_header(path: Path, kind: FeedKind, header: list[str]) -> list[str]:
    aliases = header_aliases(kind)
    columns: list[str] = []
    unknown: list[str] = []
    for raw in header:
        name = aliases.get(raw.strip().lstrip("\ufeff").lower())
        if name is None:
            unknown.append(raw)
        columns.append(name or raw)
    if unknown:
        allowed = ", ".join(c.name for c in kind.all_columns)
        raise _fail_file(
            path,
            f"有未知的列：{', '.join(unknown)}（{kind.zh} 可用的列：{allowed}）",
            f"unknown columns: {', '.join(unknown)} (columns of {kind.name}: {allowed})",
        )
    seen: set[str] = set()
    dupes = sorted({c for c in columns if c in seen or seen.add(c)})
    if dupes:
        raise _fail_file(
            path, f"列重复：{', '.join(dupes)}", f"duplicate columns: {', '.join(dupes)}"
        )
    required = [c.name for c in kind.all_columns if c.required]
    if kind.household_level:
        required = [c for c in required if c != "name"]
        if "name" not in columns and "household_id" not in columns:
            required.append("name")
    missing = [c for c in required if c not in columns]
    if missing:
        raise _fail_file(
            path,
            f"缺少必需的列：{', '.join(missing)}",
            f"missing required columns: {', '.join(missing)}",
        )
    return columns


def inspect_file(path: Path, kind: FeedKind) -> SourceFile:
    """Recognise the format and check the header; raise a bilingual error on a malformed file."""
    if not path.exists() or not path.is_file():
        raise ValidationFailed(f"找不到文件 {path}", f"file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if not head:
        raise _fail_file(path, "是空文件", "is empty")
    if head[:4] == PARQUET_MAGIC or path.suffix.lower() == ".parquet":
        con = connect()
        try:
            described = con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({sql_str(path)})"
            ).fetchall()
        except duckdb.Error:
            raise _fail_file(
                path, "不是有效的 Parquet 文件", "is not a valid Parquet file"
            ) from None
        finally:
            con.close()
        header = [row[0] for row in described]
        return SourceFile(path, "parquet", header, _map_header(path, kind, header))
    _check_utf8(path)
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    first_line = next(csv.reader(io.StringIO(text)), None)
    if not first_line or all(not h.strip() for h in first_line):
        raise _fail_file(path, "没有表头行", "has no header row")
    if len(first_line) == 1 and ("\t" in first_line[0] or ";" in first_line[0]):
        raise _fail_file(
            path, "应以逗号分隔（发现制表符或分号）", "must be comma-separated (found tabs or ';')"
        )
    return SourceFile(path, "csv", first_line, _map_header(path, kind, first_line))


_CSV_LINE_RE = re.compile(r"CSV Error on Line: (\d+)")
_CSV_COLS_RE = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def stage(con, source: SourceFile, table: str = "src") -> int:
    """Load the file into a DuckDB table of VARCHAR columns plus `_row` (1-based data row)."""
    if source.format == "csv":
        cols = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in source.columns) + "}"
        read = (
            f"read_csv({sql_str(source.path)}, header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {cols}, "
            "strict_mode = true, max_line_size = 1048576)"
        )
        select = ", ".join(ident(c) for c in source.columns)
    else:
        described = {
            r[0]: r[1]
            for r in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({sql_str(source.path)})"
            ).fetchall()
        }
        parts = []
        for raw, name in zip(source.header, source.columns, strict=True):
            typ = described[raw].upper()
            col = ident(raw)
            if typ == "DATE" or typ.startswith("TIMESTAMP"):
                expr = f"strftime(CAST({col} AS DATE), '%Y-%m-%d')"
            elif typ == "BOOLEAN":
                expr = f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
            else:
                expr = f"CAST({col} AS VARCHAR)"
            parts.append(f"{expr} AS {ident(name)}")
        read = f"read_parquet({sql_str(source.path)})"
        select = ", ".join(parts)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT CAST(row_number() OVER () AS INTEGER) AS _row, {select} FROM {read}"
        )
    except duckdb.Error as exc:
        message = str(exc)
        line = _CSV_LINE_RE.search(message)
        cols = _CSV_COLS_RE.search(message)
        if line and cols:
            raise _fail_file(
                source.path,
                f"第 {line.group(1)} 行有 {cols.group(2)} 个字段，表头有 {cols.group(1)} 个",
                f"line {line.group(1)} has {cols.group(2)} fields, the header has {cols.group(1)}",
            ) from None
        if "utf-8" in message.lower() or "unicode" in message.lower():
            raise _fail_file(source.path, "不是 UTF-8 编码", "is not UTF-8 encoded") from None
        where = f"（第 {line.group(1)} 行）" if line else ""
        where_en = f" (line {line.group(1)})" if line else ""
        raise _fail_file(
            source.path,
            f"无法解析{where}：{message.splitlines()[0]}",
            f"cannot be parsed{where_en}: {message.splitlines()[0]}",
        ) from None
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def temp_sibling(final: Path) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished temporary directory into place, replacing an older one."""
    if final.exists():
        old = final.parent / f".old-{final.name}-{uuid.uuid4().hex[:8]}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
