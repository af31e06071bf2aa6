"""Reading a usage file: opening it, decoding it, and splitting it into rows (CSV with a header, or JSONL).

Each row comes out as (line number, raw mapping or None, problem, parsed event or None): a CSV row the fast parser
took is parsed already; any other row is handed on raw for `parse_event` to decide; a line that is not a row at all
carries its problem.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from engine.ingest.events import (
    COLUMNS,
    FAST_PATH_DECLINES,
    ParsedEvent,
    RowError,
    _check_header,
    _csv_fast_parser,
)

Row = tuple[int, Mapping[str, Any] | None, str, ParsedEvent | None]
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


class Position:
    """How many bytes of the file the row readers have consumed (read ahead by a buffer), for progress."""

    def __init__(self) -> None:
        self.handle: Any = None

    def bytes_read(self) -> int:
        handle = self.handle
        return 0 if handle is None or handle.closed else int(handle.buffer.tell())


def _csv_rows(path: Path, delimiter: str = ",", at: Position | None = None) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        if at is not None:
            at.handle = handle
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise RowError("the file is empty (a header line is required)") from None
        _check_header(header, delimiter)
        width = len(header)
        fast = _csv_fast_parser(header)
        for values in reader:
            if not values:
                continue
            if len(values) != width:
                yield reader.line_num, None, f"has {len(values)} fields, the header has {width}", None
                continue
            try:
                yield reader.line_num, None, "", fast(values)
            except FAST_PATH_DECLINES:
                yield reader.line_num, dict(zip(header, values, strict=True)), "", None


def _jsonl_rows(path: Path, at: Position | None = None) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as handle:
        if at is not None:
            at.handle = handle
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON ({exc.msg})", None
                continue
            if not isinstance(obj, dict):
                yield number, None, "must be a JSON object", None
                continue
            unknown = set(obj) - set(COLUMNS)
            if unknown:
                yield number, None, f"unknown key(s) {sorted(unknown)}", None
                continue
            yield number, obj, "", None


def file_rows(path: Path, delimiter: str = ",", at: Position | None = None) -> Iterator[Row]:
    """The rows of a usage file, JSONL or CSV by its name. Raises RowError for a file that is wrong as a whole."""
    if path.suffix.lower() in JSONL_SUFFIXES:
        return _jsonl_rows(path, at)
    return _csv_rows(path, delimiter, at)
