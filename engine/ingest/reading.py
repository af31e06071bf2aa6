"""Reading a usage file: opening it, decoding it, and splitting it into rows (CSV with a header, or JSONL).

Each row comes out as (line number, raw row or None, problem, parsed event or None): a CSV row the fast parser
took is parsed already, its raw row the values alone; any other row is handed on as a raw mapping for
`parse_event` to decide; a line that is not a row at all carries its problem.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from engine.ingest.events import (
    COLUMNS,
    FAST_PATH_DECLINES,
    ParsedEvent,
    RowError,
    _csv_fast_parser,
    check_header,
    shown,
)
from engine.store.bounds import CONTROL

# The raw row: its mapping, or for a CSV row the fast parser took, its values (in the header's order: Position.header).
Row = tuple[int, Mapping[str, Any] | list[str] | None, str, ParsedEvent | None]
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}

_GZIP = b"\x1f\x8b"
# Files that are not text at all, told by their first bytes: what they are and what to do instead.
_NOT_TEXT = (
    (b"PK\x03\x04", "is a zip archive (an Excel workbook?), not CSV or JSONL: save the sheet as 'CSV UTF-8'"),
    (b"BZh", "is compressed with bzip2: decompress it first (bunzip2); gzip files are read as they are"),
    (b"\xfd7zXZ\x00", "is compressed with xz: decompress it first (unxz); gzip files are read as they are"),
    (b"\x28\xb5\x2f\xfd", "is compressed with zstd: decompress it first (unzstd); gzip files are read as they are"),
)
# A gzip stream that breaks off or fails its checksum raises one of these while being read.
_GZIP_DAMAGE = (EOFError, gzip.BadGzipFile, zlib.error)
_SNIFF = 64  # bytes read ahead to choose the encoding
_ESCAPED = re.compile("[\udc80-\udcff]")


def printable(name: str) -> str:
    """A file name as it can be stored and shown: bytes that are not UTF-8 (kept by Python as lone surrogates,
    which no database or terminal takes) become U+FFFD, control characters (a newline in a name) become "?"."""
    if name.isprintable():
        return name
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return CONTROL.sub("?", text)


class FileError(RowError):
    """The file cannot be read past `line`: wrong encoding, damaged compression, not text. Nothing is imported."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


class Position:
    """How many bytes of the file the row readers have consumed (read ahead by a buffer), for progress. For a
    gzip file, compressed bytes: the total it is measured against is the file's size. And a CSV file's header, once
    read: a row the fast parser took comes with its values alone, and one refused later (priced past what one event
    can cost) is written to the rejects as its mapping."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.header: list[str] = []

    def bytes_read(self) -> int:
        handle = self.handle
        return 0 if handle is None or handle.closed else int(handle.tell())


def _encoding(head: bytes) -> str:
    """The encoding a file's first bytes say: a UTF-32 or UTF-16 byte-order mark, UTF-16 without one (every other
    byte NUL: text a Windows tool saved as "Unicode"), else UTF-8 (its byte-order mark skipped if present)."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    pairs = len(head) // 2
    if pairs >= 4:
        if head[1::2].count(0) == pairs and head[0::2].count(0) == 0:
            return "utf-16-le"
        if head[0::2].count(0) == pairs and head[1::2].count(0) == 0:
            return "utf-16-be"
    return "utf-8-sig"


def _binary(path: Path) -> tuple[BinaryIO, BinaryIO, bool]:
    """(the file, the bytes to decode, gzipped?): gzip data is read through gzip, whatever the file's name."""
    raw = path.open("rb")
    head = raw.read(len(_GZIP))
    raw.seek(0)
    if head == _GZIP:
        return raw, cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb")), True
    if path.suffix.lower() == ".gz":
        raw.close()
        name = printable(path.name)
        raise FileError(1, f"{name} is named .gz but is not gzip data: rename it, or compress it with gzip")
    return raw, raw, False


@contextmanager
def open_text(path: Path, at: Position | None = None, *, newline: str | None = None) -> Iterator[TextIO]:
    """`path` as text: gzip data decompressed (by its first bytes, not its name), UTF-8 (with or without a
    byte-order mark) or UTF-16/32 (by its byte-order mark) decoded. Raises FileError for a file that is not text."""
    raw, binary, gzipped = _binary(path)
    try:
        try:
            head = binary.read(_SNIFF)
            binary.seek(0)  # gzip rewinds by decompressing the few bytes again
        except _GZIP_DAMAGE as exc:
            raise FileError(1, _gzip_problem(1, exc)) from None
        if gzipped and head.startswith(_GZIP):  # its text would read as Windows-1252 bytes, with the wrong advice
            raise FileError(1, f"{printable(path.name)} is compressed twice: gunzip it once, and import the .gz left")
        for magic, what in _NOT_TEXT:
            if head.startswith(magic):
                raise FileError(1, f"{printable(path.name)}{' (once gunzipped)' if gzipped else ''} {what}")
        encoding = _encoding(head)
        # UTF-8's undecodable bytes are kept (see `escaped`), and so are UTF-16's unpaired surrogates: either way
        # the one line that holds them is refused (parse_event refuses lone surrogates), not the whole file.
        errors = "surrogateescape" if encoding == "utf-8-sig" else "surrogatepass"
        handle = io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline=newline)
        if at is not None:
            at.handle = raw
        yield handle
    finally:
        binary.close()
        raw.close()


@contextmanager
def _located(line: Callable[[], int]) -> Iterator[None]:
    """Turns damaged gzip data, or UTF-16/32 text cut short (an odd last byte), met while reading into a FileError
    naming the line (UTF-8 never fails here: its undecodable bytes are carried to the row, see `escaped`)."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise FileError(
            line() + 1, f"cannot be decoded as {exc.encoding} ({exc.reason}): re-save the file as 'CSV UTF-8'"
        ) from None
    except _GZIP_DAMAGE as exc:
        raise FileError(line() + 1, _gzip_problem(line() + 1, exc)) from None


def escaped(text: str) -> bool:
    """Whether `text` holds bytes that were not UTF-8. UTF-8 is decoded with `surrogateescape`: each such byte
    becomes a lone surrogate U+DC80–U+DCFF, which valid UTF-8 never yields, so the one bad line is refused (its
    neighbours read on) instead of the decoder stopping the whole file where its buffer happened to end."""
    return _ESCAPED.search(text) is not None


def encoding_problem(path: Path, text: str) -> str:
    """Why a line holding bytes that are not UTF-8 (see `escaped`) is refused, and how to convert the file."""
    line = text.encode("utf-8", "surrogateescape")
    try:
        line.decode("utf-8")
        start = 0
    except UnicodeDecodeError as exc:
        start = exc.start
    bad = line[start : start + 1]
    # The cell holding the byte, as Windows-1252 would read it: "Société" says more than "0xe9".
    seps = (b",", b";", b"\t", b"|", b'"', b":")
    begin = max(line.rfind(sep, 0, start) for sep in seps) + 1
    end = min((i for i in (line.find(sep, start + 1) for sep in seps) if i >= 0), default=len(line))
    try:
        seen = f", {line[begin:end].strip()[:40].decode('cp1252', errors='strict')!r} read as Windows-1252"
    except UnicodeDecodeError:
        seen = ""
    name = printable(path.name)
    gzipped = path.suffix.lower() == ".gz"
    fixed = f"{name[:-3]}.utf8" if gzipped else f"{printable(path.stem)}.utf8{path.suffix}"
    convert = (
        f"zcat {name} | iconv -f cp1252 -t utf-8 > {fixed}" if gzipped else f"iconv -f cp1252 -t utf-8 {name} > {fixed}"
    )
    return (
        f"not UTF-8 text (byte 0x{bad.hex()}{seen}): the file was saved in another encoding, such as Windows-1252 "
        f"or Latin-1 (a spreadsheet's plain 'CSV' export). Re-save it as 'CSV UTF-8', or convert it: {convert}"
    )


def _gzip_problem(line: int, exc: BaseException) -> str:
    return (
        f"the gzip data is damaged or cut short at line {line} ({exc}): copy or download the file "
        "again (gzip -t checks it)"
    )


def read_text(path: Path) -> str:
    """A whole (small) file as text, decoded and decompressed as `open_text` does. Raises FileError."""
    with open_text(path) as handle, _located(lambda: 0):
        text = handle.read()
    if escaped(text):
        for number, line in enumerate(text.splitlines(), start=1):
            if escaped(line):
                raise FileError(number, encoding_problem(path, line))
    return text


def csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {csv.field_size_limit():,} characters (an unclosed quote?)"
    return f"not a valid CSV line ({text})"


def _csv_rows(path: Path, delimiter: str = ",", at: Position | None = None) -> Iterator[Row]:
    """The rows of a CSV file, each named by the line it starts on: a quoted cell may hold line breaks, and the
    reader's `line_num` is the row's last line."""
    with open_text(path, at, newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        with _located(lambda: reader.line_num):
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise RowError("the file is empty (a header line is required)") from None
            except csv.Error as exc:
                raise FileError(1, f"the header: {csv_problem(exc)}") from None
            if escaped("".join(header)):
                raise FileError(1, encoding_problem(path, delimiter.join(header)))
            check_header(header, delimiter)
            if at is not None:
                at.header = header
            width = len(header)
            fast = _csv_fast_parser(header)

            def row(line: int, values: list[str]) -> Row:
                if len(values) != width:
                    return line, None, f"has {len(values)} fields, the header has {width}", None
                try:
                    return line, values, "", fast(values)
                except FAST_PATH_DECLINES:  # it takes no row with a byte that was not UTF-8
                    joined = delimiter.join(values)
                    if escaped(joined):
                        return line, None, encoding_problem(path, joined), None
                    return line, dict(zip(header, values, strict=True)), "", None

            end = reader.line_num  # the line the last record ended on (so far, the header's)
            # A row over several lines, or holding a line break, waits for the next record: an unclosed quote runs to
            # the end of the file, so a record after it shows its quotes closed; the file's last such row is checked.
            held: tuple[int, list[str]] | None = None
            while True:
                # A line the csv module cannot split is one bad line; the loop resumes on the next one (the `for`
                # costs nothing per row, where a `try` around each `next` would).
                try:
                    for values in reader:
                        start, end = end + 1, reader.line_num
                        if held is not None:
                            yield row(*held)
                            held = None
                        if not values:
                            continue
                        if end != start or "\n" in values[-1] or "\r" in values[-1]:
                            held = start, values
                            continue
                        yield row(start, values)
                    break
                except csv.Error as exc:
                    start, end = end + 1, reader.line_num
                    if end > start and "field larger than field limit" in str(exc):
                        # A quoted field ran on over every line up to `end`: what rows those lines held cannot be
                        # told, so skipping it as one bad row (--skip-invalid) would drop them without a word. (A
                        # long field on its one line is one bad row.)
                        raise FileError(
                            start,
                            f"{csv_problem(exc)}: it runs from line {start:,} past line {end:,}, and the rows on "
                            "those lines cannot be read; close the quote and import the file again",
                        ) from None
                    if held is not None:
                        yield row(*held)
                        held = None
                    yield start, None, csv_problem(exc), None
    if held is not None:
        opened = _unclosed_quote(path, held[0], delimiter)
        yield row(*held) if opened is None else (opened, None, UNCLOSED_QUOTE, None)


UNCLOSED_QUOTE = 'a quoted field opens here and is never closed: add its closing quote (")'


def _unclosed_quote(path: Path, start: int, delimiter: str) -> int | None:
    """The line of a quoted field in the file's last row (which starts on line `start`) that is never closed, read
    as the csv module reads it (a field is quoted when its first character is `"`; `""` inside is a quote; after
    the closing quote the field runs on to the delimiter unquoted), or None when every quote closes. Only the
    rest of the file from `start` is scanned, which is one row: an unclosed quote past the field-size limit is
    refused as too long a field instead."""
    with open_text(path, newline="") as handle:
        text = "".join(itertools.islice(handle, start - 1, None))
    ends = re.compile(f"[{re.escape(delimiter)}\r\n]")
    pos, field_start = 0, True
    while pos < len(text):
        if field_start and text[pos] == '"':
            opened, pos = pos, pos + 1
            while True:
                close = text.find('"', pos)
                if close < 0:
                    before = text[:opened]
                    return start + before.count("\n") + before.count("\r") - before.count("\r\n")
                pos = close + 1
                if not text.startswith('"', pos):
                    break
                pos += 1  # "" inside a quoted field: one quote, the field goes on
        found = ends.search(text, pos)
        if found is None:
            return None
        pos, field_start = found.end(), True
    return None


class _RepeatedKey(Exception):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when it gives a key twice: json.loads would keep the last value without a word, as a
    CSV header naming a column twice would (check_header refuses that)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return obj


def record_json(raw: Mapping[str, Any]) -> str:
    """A record as JSON, for the rejects file: a JSON line's numbers as it wrote them (read as Decimals, which
    json.dumps would quote as text, and a text customer is not the number one was), anything else as its text."""
    numbers: dict[str, str] = {}

    def written(value: Any) -> str:
        if isinstance(value, Decimal):
            mark = f"\x00{id(numbers)}:{len(numbers)}\x00"  # an object's id: no row's own text by chance
            numbers[json.dumps(mark)] = str(value)
            return mark
        return str(value)

    text = json.dumps(raw, default=written)
    for mark, number in numbers.items():
        text = text.replace(mark, number)
    return text


def _json_problem(line: str) -> tuple[dict[str, Any] | None, str]:
    """One JSONL line → (the object, "") or (None, why it is not one)."""
    try:
        # Numbers with a point or an exponent as Decimals, as a CSV's text is read: through a float, a cost of
        # 9999999.999999999 would be stored a nano-dollar short.
        obj = json.loads(line, object_pairs_hook=_object, parse_float=Decimal)
    except _RepeatedKey as exc:
        return None, f"the key {shown(exc.args[0])} appears twice in the object (keep one)"
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg})"
    except RecursionError:
        return None, "not a usage event: JSON nested too deeply"
    except ValueError as exc:  # an integer of more digits than Python converts (4,300)
        return None, f"not a usable JSON value ({str(exc).partition(':')[0]})"
    if not isinstance(obj, dict):
        return None, "must be a JSON object"
    unknown = set(obj) - set(COLUMNS)
    if unknown:
        return None, f"unknown key(s) {shown(sorted(unknown))}"
    nested = sorted(k for k, v in obj.items() if isinstance(v, dict | list))
    if nested:
        return None, f"{nested[0]} must be a number or text, not a JSON {type(obj[nested[0]]).__name__}"
    return obj, ""


# How far a first line opening an unfinished JSON object is read ahead for the rest of it (a usage event
# pretty-printed takes a line a key, and there are fewer than 30 keys).
_SPREAD_LINES = 1_000


def _opening(text: str) -> bool | None:
    """`text` (stripped) as the start of JSON: True when it opens with one whole JSON value, None when its end cuts a
    value short (it may go on on the next line: `{` alone, `{"event_id": "e1",`), False when it is broken before."""
    try:
        json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        return None if exc.pos == len(text) else False
    except (ValueError, RecursionError):
        return False
    return True


def _jsonl_rows(path: Path, at: Position | None = None) -> Iterator[Row]:
    with open_text(path, at) as handle:
        number = 0
        with _located(lambda: number):  # reads `number` on an error
            lines: Iterator[tuple[int, str]] = enumerate(handle, start=1)
            for number, line in lines:  # noqa: B007 (`number` is read after the loop, and by _located)
                if line.strip():
                    break
            else:
                return
            # The first line says whether this is JSONL at all. A JSON array of objects (a `.json` export, on one
            # line or pretty-printed over many), or a JSON object pretty-printed over several lines (or several
            # such objects): one line saying so, not a "not valid JSON" for each of its lines, and with
            # --skip-invalid not a reject for each. An array is told by its opening, `[` then `{`, `]` or the
            # line's end (a line of other JSON opening with `[` is one bad line as before); an object by its first
            # line opening one that goes on past the line's end, and the lines after it completing it.
            text = line.strip()
            if text.startswith("[") and text[1:].lstrip()[:1] in ("", "{", "]"):
                raise FileError(number, _array_problem(path))
            held = [(number, line)]
            if text.startswith("{") and _opening(text) is None:
                for number, more in lines:
                    held.append((number, more))
                    whole = _opening("".join(part for _, part in held).strip())
                    if whole:
                        raise FileError(held[0][0], _spread_problem(path))
                    if whole is False or len(held) > _SPREAD_LINES:
                        break
            # Not one: the lines read ahead are read as JSONL lines, each a row or one bad line.
            for number, line in itertools.chain(held, lines):
                if not line.strip():
                    continue
                if escaped(line):
                    yield number, None, encoding_problem(path, line), None
                    continue
                obj, problem = _json_problem(line)
                yield number, obj, problem, None


def _convert(path: Path, jq_filter: str) -> str:
    """The jq command turning `path` into JSONL, one object per line, written beside it."""
    name = printable(path.name)
    stem = name[:-3] if name.lower().endswith(".gz") else name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    fixed = f"{stem}.lines.jsonl" if f"{stem}.jsonl" == name else f"{stem}.jsonl"
    if name.lower().endswith(".gz"):
        return f"zcat {name} | jq -c {jq_filter} > {fixed}"
    return f"jq -c {jq_filter} {name} > {fixed}"


def _array_problem(path: Path) -> str:
    return (
        f"{printable(path.name)} holds a JSON array; JSONL needs one JSON object per line: convert it with "
        + _convert(path, "'.[]'")
    )


def _spread_problem(path: Path) -> str:
    return (
        f"{printable(path.name)} holds a JSON object spread over several lines (pretty-printed); JSONL needs one JSON "
        f"object per line: convert it with {_convert(path, '.')}"
    )


def is_jsonl(path: Path) -> bool:
    """JSONL by its name (`usage.jsonl`, `usage.jsonl.gz`); anything else is read as CSV."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in JSONL_SUFFIXES


def file_rows(path: Path, delimiter: str = ",", at: Position | None = None) -> Iterator[Row]:
    """The rows of a usage file, JSONL or CSV by its name (gzip data read as it is). Raises RowError (a FileError
    naming the line, for a file that cannot be read past it) for a file that is wrong as a whole."""
    return _jsonl_rows(path, at) if is_jsonl(path) else _csv_rows(path, delimiter, at)
