"""Reading and writing tables (CSV and xlsx) defensively.

Files come from village offices and other departments: GBK-encoded CSV saved by an old Excel,
a workbook with formulas, a 10 MB cell, a zip bomb renamed to .xlsx. Every such case ends in a
`FileRejected` with a bilingual message naming the file (and the cell where there is one) —
never a traceback, never a half-read table.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from safetynet.core.errors import ValidationFailed

from .columns import MAX_CELL_CHARS

MAX_FILE_BYTES = 1 << 30  # 1 GiB of CSV
MAX_XLSX_UNCOMPRESSED = 1 << 30  # sum of the members of a workbook
MAX_XLSX_RATIO = 200  # a member inflating more than this (and > 10 MB) is a bomb
MAX_XLSX_MEMBERS = 10_000
MAX_ROWS = 2_000_000
MAX_CELLS = 60_000_000
BINARY_PROBE = 65536
ZIP_MAGIC = b"PK\x03\x04"


class FileRejected(ValidationFailed):
    code = "file_rejected"


@dataclass
class Sheet:
    """One table as read: header texts and the cell texts of every non-empty row."""

    name: str
    source: Path
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)  # 1-based, header row = 1
    extra_cells: dict[int, int] = field(default_factory=dict)  # row index -> cells past header

    @property
    def label(self) -> str:
        return (
            self.source.name
            if self.source.suffix.lower() == ".csv"
            else f"{self.source.name}[{self.name}]"
        )


def _reject(path: Path, zh: str, en: str) -> FileRejected:
    return FileRejected(f"{path.name}：{zh}", f"{path.name}: {en}", path=str(path))


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (for naming cells in messages)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def read_tables(path: Path) -> list[Sheet]:
    """The tables of a CSV file (one) or an xlsx workbook (one per non-empty sheet)."""
    path = Path(path)
    if not path.is_file():
        raise FileRejected(f"找不到文件 {path}", f"file not found: {path}", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise _reject(path, "文件为空", "the file is empty")
    with open(path, "rb") as fh:
        head = fh.read(BINARY_PROBE)
    if head.startswith(ZIP_MAGIC):
        return read_xlsx(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise _reject(path, "不是有效的xlsx工作簿", "not a valid xlsx workbook")
    if path.suffix.lower() == ".xls":
        raise _reject(
            path,
            "不支持旧版.xls格式，请另存为.xlsx或CSV",
            "old .xls files are not supported; save as .xlsx or CSV",
        )
    return [read_csv(path, head=head)]


def _cells_ok(path: Path, sheet: str, row_number: int, cells: Sequence[str]) -> None:
    for i, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            where = f"{sheet + '!' if sheet else ''}{column_letter(i)}{row_number}"
            raise _reject(
                path,
                f"单元格 {where} 超过 {MAX_CELL_CHARS} 个字符",
                f"cell {where} is longer than {MAX_CELL_CHARS} characters",
            )


def read_csv(path: Path, head: bytes | None = None) -> Sheet:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _reject(path, "文件超过 1 GiB", "the file is larger than 1 GiB")
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(BINARY_PROBE)
    if b"\x00" in head:
        raise _reject(path, "不是文本文件（含二进制内容）", "not a text file (binary content)")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint_zh = hint_en = ""
        try:
            data.decode("gb18030")
            hint_zh, hint_en = "，看起来是GBK/GB18030编码", "; it looks like GBK/GB18030"
        except UnicodeDecodeError:
            pass
        raise _reject(
            path,
            f"不是UTF-8编码（第 {exc.start} 字节）{hint_zh}；请在Excel中另存为“CSV UTF-8”",
            f"not UTF-8 encoded (byte {exc.start}){hint_en}; save it as 'CSV UTF-8'",
        ) from None
    if "\x00" in text:
        raise _reject(path, "不是文本文件（含二进制内容）", "not a text file (binary content)")
    if not text.strip():
        raise _reject(path, "文件为空", "the file is empty")
    previous = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL_CHARS + 2)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            headers = next(reader)
            sheet = Sheet(name=path.stem, source=path, headers=[h.strip() for h in headers])
            _cells_ok(path, "", 1, headers)
            width = len(headers)
            for cells in reader:
                line = reader.line_num
                _collect(path, sheet, cells, line, width, check_length=False)
        except csv.Error as exc:
            line = reader.line_num
            if "field larger" in str(exc):
                raise _reject(
                    path,
                    f"第 {line} 行有单元格超过 {MAX_CELL_CHARS} 个字符",
                    f"line {line} has a cell longer than {MAX_CELL_CHARS} characters",
                ) from None
            raise _reject(
                path, f"第 {line} 行不是有效的CSV：{exc}", f"line {line} is not valid CSV: {exc}"
            ) from None
    finally:
        csv.field_size_limit(previous)
    _drop_empty_columns(path, sheet)
    return sheet


def _collect(
    path: Path,
    sheet: Sheet,
    cells: list[str],
    row_number: int,
    width: int,
    check_length: bool = True,
) -> None:
    """Keep one row: blank rows are skipped, short rows padded, cells past the header noted.

    Cells are kept as read (the importer strips them, column by column); CSV cell length is
    already bounded by the csv module's field limit.
    """
    if not any(cells) or not "".join(cells).strip():
        return
    if len(sheet.rows) >= MAX_ROWS:
        raise _reject(path, f"超过 {MAX_ROWS} 行", f"more than {MAX_ROWS} rows")
    if check_length and max(map(len, cells)) > MAX_CELL_CHARS:
        _cells_ok(path, sheet.name, row_number, cells)
    n = len(cells)
    if n != width:
        if n > width:
            if "".join(cells[width:]).strip():
                sheet.extra_cells[len(sheet.rows)] = n - width
            cells = cells[:width]
        else:
            cells = cells + [""] * (width - n)
    sheet.rows.append(cells)
    sheet.row_numbers.append(row_number)


def _drop_empty_columns(path: Path, sheet: Sheet) -> None:
    """Columns without a header are dropped when empty (Excel leaves them) and rejected otherwise."""
    keep = []
    for i, header in enumerate(sheet.headers):
        if header:
            keep.append(i)
            continue
        if any(row[i] for row in sheet.rows):
            raise _reject(
                path,
                f"第 {column_letter(i)} 列有数据但没有列名",
                f"column {column_letter(i)} has data but no header",
            )
    if len(keep) != len(sheet.headers):
        sheet.headers = [sheet.headers[i] for i in keep]
        sheet.rows = [[row[i] for i in keep] for row in sheet.rows]
    if not sheet.headers:
        raise _reject(path, "没有表头", "no header row")


def _xlsx_guard(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _reject(path, "不是有效的xlsx工作簿", f"not a valid xlsx workbook ({exc})") from None
    if len(members) > MAX_XLSX_MEMBERS:
        raise _reject(path, "工作簿结构异常（文件过多）", "workbook has too many parts")
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 10 * 1024 * 1024 and ratio > MAX_XLSX_RATIO:
            raise _reject(
                path,
                f"工作簿解压后异常膨胀（{member.filename}，压缩比 {ratio:.0f}），疑似压缩炸弹",
                f"workbook inflates abnormally ({member.filename}, ratio {ratio:.0f}): a zip bomb?",
            )
    if total > MAX_XLSX_UNCOMPRESSED:
        raise _reject(
            path,
            f"工作簿解压后超过 {MAX_XLSX_UNCOMPRESSED >> 20} MiB",
            f"workbook is larger than {MAX_XLSX_UNCOMPRESSED >> 20} MiB uncompressed",
        )
    names = {m.filename for m in members}
    if "xl/workbook.xml" not in names:
        raise _reject(
            path, "不是有效的xlsx工作簿", "not a valid xlsx workbook (no xl/workbook.xml)"
        )


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return str(value).strip()


def read_xlsx(path: Path) -> list[Sheet]:
    _xlsx_guard(path)
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on broken files
        raise _reject(
            path, "无法读取工作簿", f"cannot read the workbook ({type(exc).__name__})"
        ) from None
    sheets: list[Sheet] = []
    cells_seen = 0
    try:
        for ws in workbook.worksheets:
            sheet: Sheet | None = None
            width = 0
            for row_number, row in enumerate(ws.iter_rows(), start=1):
                texts = []
                for col_index, cell in enumerate(row):
                    if getattr(cell, "data_type", None) == "f":
                        ref = f"{ws.title}!{column_letter(col_index)}{row_number}"
                        raise _reject(
                            path,
                            f"单元格 {ref} 含公式，请粘贴为数值后再导入",
                            f"cell {ref} holds a formula; paste values only before importing",
                        )
                    texts.append(cell_text(cell.value))
                cells_seen += len(texts)
                if cells_seen > MAX_CELLS:
                    raise _reject(
                        path, f"超过 {MAX_CELLS} 个单元格", f"more than {MAX_CELLS} cells"
                    )
                if sheet is None:
                    if not any(texts):
                        continue
                    while texts and not texts[-1]:
                        texts.pop()
                    _cells_ok(path, ws.title, row_number, texts)
                    sheet = Sheet(name=ws.title, source=path, headers=texts)
                    width = len(texts)
                    continue
                _collect(path, sheet, texts, row_number, width)
            if sheet is not None:
                _drop_empty_columns(path, sheet)
                sheets.append(sheet)
    except FileRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed XML inside the zip
        raise _reject(
            path, "工作簿内容损坏", f"the workbook is damaged ({type(exc).__name__})"
        ) from None
    finally:
        workbook.close()
    if not sheets:
        raise _reject(path, "工作簿为空", "the workbook is empty")
    return sheets


# --- writing -----------------------------------------------------------------------------------


def write_csv(path: Path, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    """UTF-8 with BOM (so Excel shows Chinese), LF line ends, minimal quoting: deterministic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def write_xlsx(
    path: Path, sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[str]]]]
) -> Path:
    """Every cell as text: ID numbers must not become numbers, nor text starting '=' formulas."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook(write_only=True)

    def text_cells(ws, values):
        cells = []
        for value in values:
            cell = WriteOnlyCell(ws, value=value or "")
            cell.data_type = "s"
            cells.append(cell)
        return cells

    for name, headers, rows in sheets:
        ws = workbook.create_sheet(title=name)
        ws.append(text_cells(ws, headers))
        for row in rows:
            ws.append(text_cells(ws, row))
    workbook.save(path)
    return path


# --- import results and error reports ----------------------------------------------------------


@dataclass
class TableCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # rows left out by --valid-only

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


@dataclass
class ImportResult:
    """What an import did: counts per table, the errors found, where the reports are."""

    counts: dict[str, TableCounts] = field(default_factory=dict)
    errors: int = 0  # messages (one per bad cell, or per bad row where no cell is to blame)
    error_rows: int = 0
    imported: bool = False
    report_paths: list[Path] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)  # a few messages, for the terminal

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def as_dict(self) -> dict:
        return {
            "imported": self.imported,
            "counts": {k: v.as_dict() for k, v in self.counts.items()},
            "errors": self.errors,
            "error_rows": self.error_rows,
            "report_paths": [str(p) for p in self.report_paths],
        }


class ImportRejected(ValidationFailed):
    """Some rows are invalid: nothing was imported; the report says which and why."""

    code = "import_rejected"

    def __init__(self, result: ImportResult):
        paths = "、".join(str(p) for p in result.report_paths)
        super().__init__(
            f"{result.error_rows} 行有 {result.errors} 处错误，未导入任何数据；错误报告：{paths}",
            f"{result.errors} errors in {result.error_rows} rows; nothing was imported; "
            f"error report: {', '.join(str(p) for p in result.report_paths)}",
            result=result,
        )
        self.result = result


class ErrorLog:
    """Messages per row of the sheets being imported, for the report and the counts."""

    def __init__(self, sheets: list[Sheet]):
        self.sheets = sheets
        self.rows: dict[tuple[int, int], list[tuple[str, str]]] = {}
        self._seen: set[tuple[int, int, str, str]] = set()
        self._cells: set[tuple[int, int, str]] = set()

    def add(self, src: int, idx: int, zh: str, en: str) -> None:
        key = (src, idx, zh, en)
        if key in self._seen:
            return
        self._seen.add(key)
        self.rows.setdefault((src, idx), []).append((zh, en))

    def add_cell(
        self, src: int, idx: int, column_zh: str, column_en: str, zh: str, en: str
    ) -> None:
        """One message per bad cell: the first problem found in a cell is the one reported."""
        if (src, idx, column_en) in self._cells:
            return
        self._cells.add((src, idx, column_en))
        self.add(src, idx, f"{column_zh}：{zh}", f"{column_en}: {en}")

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.rows.values())

    def bad(self, src: int, idx: int) -> bool:
        return (src, idx) in self.rows

    def bad_keys(self) -> set[tuple[int, int]]:
        return set(self.rows)

    def text(self, src: int, idx: int) -> str:
        return " | ".join(f"{zh} / {en}" for zh, en in self.rows.get((src, idx), []))

    def first(self, n: int = 10) -> list[str]:
        out = []
        for (src, idx), messages in sorted(self.rows.items())[:n]:
            sheet = self.sheets[src]
            where = f"{sheet.label} 第{sheet.row_numbers[idx]}行 / row {sheet.row_numbers[idx]}"
            out.append(f"{where}: " + " | ".join(f"{zh} / {en}" for zh, en in messages))
        return out

    def _report_rows(self, src: int):
        for idx, row in enumerate(self.sheets[src].rows):
            yield [*row, self.text(src, idx)]

    def write_reports(self, report_dir: Path | None) -> list[Path]:
        """The input files again with an `errors` column, for every file that has errors."""
        from django.conf import settings

        by_file: dict[Path, list[int]] = {}
        for src, sheet in enumerate(self.sheets):
            by_file.setdefault(sheet.source, []).append(src)
        written: list[Path] = []
        for source, srcs in by_file.items():
            if not any(key[0] in srcs for key in self.rows):
                continue
            if report_dir is not None:
                target_dir = Path(report_dir)
            elif _writable(source.parent):
                target_dir = source.parent
            else:  # a read-only upload folder: reports go under the export directory
                target_dir = Path(settings.EXPORT_DIR) / "reports"
            target_dir.mkdir(parents=True, exist_ok=True)
            target_dir = target_dir.resolve()
            suffix = ".xlsx" if self.sheets[srcs[0]].source.suffix.lower() != ".csv" else ".csv"
            with open(source, "rb") as fh:
                if fh.read(4) == ZIP_MAGIC:
                    suffix = ".xlsx"
            target = target_dir / f"{source.stem}.errors{suffix}"
            tables = []
            for src in srcs:
                sheet = self.sheets[src]
                tables.append((sheet.name, [*sheet.headers, "errors"], self._report_rows(src)))
            if suffix == ".csv":
                write_csv(target, tables[0][1], tables[0][2])
            else:
                write_xlsx(target, tables)
            written.append(target)
        return written


def _writable(directory: Path) -> bool:
    import os

    return directory.is_dir() and os.access(directory, os.W_OK)
