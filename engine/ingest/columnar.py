"""The columnar path for CSV usage files: large chunks read, validated and priced as columns (polars).

Only rows that are unambiguously valid under narrow rules are handled here; `parse_event` stays the one authority
on validity and its messages. So:

- a file is taken only when every byte of it is plain (`plain_header`, `plain_body`): UTF-8, no quote character,
  no NUL, no blank line, no lone carriage return, every line with the header's number of fields and none absurdly
  long; with those, a CSV line is exactly its fields split on the delimiter, so line numbers are line counts. Any
  doubt and the caller reads the file row by row as before;
- inside a chunk, a row is taken as a column row only when each field has a fixed, plain shape (timestamps of one
  ISO form or 10-digit Unix seconds, integers of at most 15 digits, text without control characters within its
  length limit, provider and model in printable ASCII, known tier words, no `cost_usd`); every other row is
  handed to `parse_event` and the row builder, which decide and explain exactly as on the row-by-row path;
- prices come from `PriceBook.daily_rates` per (provider, model, tier, UTC day), kept for the import, joined in; the
  cost of each component is the same integer formula as `PriceBook.price` (femto-USD per token × tokens, half up
  to the nano-dollar), computed in 128-bit integers; a model whose price changes within a day (time-of-day
  prices) or a cost past a BIGINT goes to the row path.

Each chunk comes out as one frame of `usage_event` rows (EVENT_COLUMNS, file order, ids unique within the chunk),
with its rollups pre-aggregated, so the writer can fold them without reading the events back.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import polars as pl

from engine.ingest.customers import RowMapper
from engine.ingest.events import (
    BIGINT_MAX,
    COLUMNS,
    COST_MAX_NANO,
    FALSE_WORDS,
    TEXT_LIMITS,
    TIER_WORDS,
    TRUE_WORDS,
    RowError,
    check_header,
    parse_event,
)
from engine.ingest.reading import FileError, csv_problem, is_jsonl
from engine.ingest.rollups import MEASURES, ROLLUPS, SUM_TOO_LARGE, narrow
from engine.ingest.sqlite_image import EventImage
from engine.ingest.writer import EVENT_COLUMNS, INPUT_COLUMNS, TEXT_COLUMNS, RowBuilder
from engine.pricing.book import FEMTO_PER_NANO, UNIT_PARTS, Price, PriceBook
from engine.store.bounds import INVISIBLE
from engine.store.columns import COST_COLUMNS

T = TypeVar("T")
# ~14k rows of a typical file: large enough for columns to pay; polars' intermediates for a chunk take some 30× its
# bytes at their peak, so larger chunks cost memory. 1.5 MB, not 2 MB, since each stage's queue holds chunks only
# (engine.ingest.files._AHEAD): the 1.37M-event bench import peaked at 396-410 MB with 2 MB chunks, 365-372 MB with
# 1.5 MB, in the same time; 4 MB saved 0.7 s of CPU but peaked at ~495 MB.
CHUNK_BYTES = 3 * 512 * 1024
# A blank line, as the scan looks for it: `re` finds a two-byte run ~2.5× faster than `bytes in` (0.05 s against 0.11 s
# for the bench's 147 MB file, all of it before the import can start).
_BLANK = {b"\n": re.compile(b"\n\n"), b"\r\n": re.compile(b"\n\r\n")}
# A line longer than this is left to the row path, whose CSV reader has its own field-size limit and message.
_MAX_LINE = 65_536
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark
_INT = pl.Int64
_WIDE = pl.Int128  # where a chunk's costs or sums may pass 2⁶³ (tokens, ≤ 15 digits, × femto-USD per token can)
# The rate (femto-USD a unit) at and past which one unit costs more than one event may (COST_MAX_NANO). A rate past
# it is priced as this one: each row using it (a count of 1 or more) still comes to more than an event may cost, so
# the row builder refuses it with its message, at its line, as on the row path, while the rows not using it are
# priced here as usual; and a count (≤ 15 digits) times it stays well within 128 bits, where a price book built by
# hand (or loaded before the price file capped prices) may hold 10⁴⁵, which no polars integer holds.
_RATE_MAX = (COST_MAX_NANO + 1) * FEMTO_PER_NANO
_TEXT_KEYS = ("event_id", "customer", "product", "feature", "task_id", "prompt_hash")
_ASCII_KEYS = ("provider", "model")
_COUNTS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "retrieval_queries",
    "rerank_calls",
    "cache_write_1h_tokens",
    "web_searches",
)
# ISO 8601 in UTC, one shape: date, T or space, a valid-looking time, 0/3/6 decimals, Z or +00:00 or nothing.
_ISO = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{3}|\.[0-9]{6})?(?:Z|\+00:00)?$"
)
_UNIX = r"^[0-9]{10}$"
_NOT_TEXT = r"\x00-\x1f\x7f-\x9f" + INVISIBLE  # what no stored text holds (engine.store.bounds.CONTROL)
_PLAIN_TEXT = rf"^(?:[^{_NOT_TEXT}\s](?:[^{_NOT_TEXT}]*[^{_NOT_TEXT}\s])?)?$"
_PLAIN_ASCII = r"^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$"
_MIN_EPOCH = 946_684_800  # 2000-01-01, engine.timeutil.MIN_TS
_MAX_EPOCH = 4_102_444_800  # 2100-01-01, engine.timeutil.MAX_TS

EVENT_SCHEMA: dict[str, Any] = {
    # ts and day are text as SQLite stores them (PostgreSQL's COPY reads the same text into its typed columns)
    c: pl.Boolean if c in ("cache_hit", "priced") else pl.String if c in {*TEXT_COLUMNS, "ts", "day"} else _INT
    for c in EVENT_COLUMNS
}


@dataclass
class FrameChunk:
    """One chunk of a file as columns: its valid events in file order (for PostgreSQL each id once: `repeats` were
    dropped; SQLite's primary key drops them), the rollups pre-aggregated from them, their unpriced count and cost."""

    events: pl.DataFrame
    repeats: int
    rollups: dict[str, pl.DataFrame]
    tasks: pl.DataFrame
    unpriced_events: int
    cost_nano: int
    by_rows: int = 0  # rows of the chunk that went through parse_event and the row builder instead
    # SQLite: the chunk as a database image (engine.ingest.rollups.sqlite_image_of); once it is made, `events` keeps
    # only the customer column, and the rollups are dropped (engine.ingest.files._imaged).
    image: EventImage | None = None
    # With ColumnarChunks' `step`: the progress to announce before the chunk's own, (rows of the chunk read, bytes
    # of the file read, estimated in proportion) at each multiple of `step`. Carried by the chunk, not queued as items
    # of their own: each stage's queue then holds chunks only (three or four progress items came with each).
    marks: list[tuple[int, int]] = field(default_factory=list)
    # False while the rollups, unpriced count and cost are still to be worked out (`add_sums`): ColumnarChunks'
    # `sums` leaves them to the stage after it.
    summed: bool = True
    last_line: int = 0  # the file's line number of the chunk's last row (set by ColumnarChunks)
    # PostgreSQL: ids of the repeats dropped whose copies differ (EventWriter.suspects: the file may be wrong).
    suspects: list[str] = field(default_factory=list)


@dataclass
class PlainFile:
    header: list[str]
    body_start: int  # byte offset of the first line after the header


def plain_header(path: Path, delimiter: str) -> PlainFile | None:
    """The file's header and where its rows start when its header line is plain enough for the columnar path (see
    the module's doc; a line read): None when it is not, or when the header is wrong (the row path says why). The
    whole file is for the columnar path if `plain_body` says so of its rows too."""
    if len(delimiter) != 1 or delimiter in '"\r\n' or ord(delimiter) > 127:
        return None
    if path.suffix.lower() == ".gz" or is_jsonl(path):  # engine.ingest.reading reads (or refuses) those
        return None
    with path.open("rb") as handle:
        first = handle.readline(_MAX_LINE)
    if not first.endswith(b"\n"):
        return None
    body_start = len(first)
    if first.startswith(_BOM):
        first = first[3:]
    try:
        line = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    line = line.removesuffix("\n").removesuffix("\r")
    # A CR inside the line ends it for the row path's CSV reader (a lone CR is a line break there), not for polars.
    if '"' in line or "\x00" in line or "\r" in line:
        return None
    header = [h.strip() for h in line.split(delimiter)]
    try:
        check_header(header, delimiter)
    except RowError:
        return None
    return PlainFile(header=header, body_start=body_start)


def plain_body(path: Path, plain: PlainFile, delimiter: str) -> bool:
    """Whether every line after `plain_header`'s is plain (see the module's doc): the whole file is read."""
    sep = delimiter.encode()
    fields = len(plain.header) - 1
    with path.open("rb") as handle:
        handle.seek(plain.body_start)
        carry = b""
        while True:
            # The chunks' own blocks (`_blocks`: CHUNK_BYTES read, cut after the last line break), so that the count
            # below holds in each chunk: a line short of fields (which polars reads with the fields it lacks empty,
            # where the row path refuses it) can only make up the count with a long one in its own chunk, which
            # polars refuses, handing the chunk to the row path. (Each read lets the columnar threads, which start
            # meanwhile, have the GIL back.)
            block = handle.read(CHUNK_BYTES)
            if not block:
                break
            block = carry + block
            cut = block.rfind(b"\n") + 1
            if cut == 0 and len(block) > _MAX_LINE:
                return False
            block, carry = block[:cut], block[cut:]
            if not _plain_block(block, sep, fields):
                return False
    return not carry or _plain_block(carry + b"\n", sep, fields)


def _plain_block(block: bytes, sep: bytes, fields: int) -> bool:
    if not block:
        return True
    if b'"' in block or b"\x00" in block:
        return False
    lines = block.count(b"\n")
    end = b"\n"
    if b"\r" in block:
        # Every line ending in CRLF (as csv writers end them), told by counting: a third faster than making a
        # CRLF-free copy of the block, which only a file mixing line ends still needs.
        if block.count(b"\r") == lines == block.count(b"\r\n"):
            end = b"\r\n"
        else:
            block = block.replace(b"\r\n", b"\n")
            if b"\r" in block:
                return False
    if block.startswith(end) or _BLANK[end].search(block):
        return False  # a blank line: the CSV reader skips it, so line numbers would no longer be row numbers
    if block.count(sep) != fields * lines:
        return False
    if block.isascii():  # checked in one pass, much faster than decoding; only non-ASCII bytes need the decoder
        return True
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _blocks(path: Path, start: int) -> Iterator[tuple[bytes, int]]:
    """The file after its header in blocks of whole lines, with the bytes read so far.

    CRLF line ends are left as they are: polars' reader, told that lines end in LF, drops the CR before each LF
    itself, and `plain_body` has made sure that a plain file has no CR anywhere else. (Replacing them here, in
    Python and holding the GIL, cost the parsing thread 0.25 s of the bench's 147 MB CRLF file.)"""
    with path.open("rb") as handle:
        handle.seek(start)
        carry = b""
        while True:
            data = handle.read(CHUNK_BYTES)
            if not data:
                break
            data = carry + data
            cut = data.rfind(b"\n") + 1
            block, carry = data[:cut], data[cut:]
            if block:
                yield block, handle.tell() - len(carry)
        if carry:  # a last line without its line break (a lone CR at the very end is one: the prescan allowed it)
            yield carry + b"\n", handle.tell()


def _tiered(price: Price) -> tuple[int, list[tuple[int, int]]]:
    if isinstance(price, int):
        return price, []
    base, tiers = price
    return base, list(tiers)  # highest threshold first, as PriceBook keeps them


_KINDS = ("input", "cached_input", "cache_write", "cache_write_1h", "output")


def _price_schema(depth: dict[str, int], top: int) -> dict[str, Any]:
    """The price table's columns for `depth` tiers of each kind, its rates 64-bit unless `top` needs 128."""
    rate = _INT if top <= BIGINT_MAX else _WIDE
    schema: dict[str, Any] = {
        "provider": pl.String,
        "model": pl.String,
        "service_tier": pl.String,
        "uday": _INT,
        "found": pl.Boolean,
        "time_of_day": pl.Boolean,
        "standard_rated": pl.Boolean,
        "output_priced": pl.Boolean,
        "request": rate,
        "web_search": rate,
    }
    for kind in _KINDS:
        schema[f"{kind}_base"] = rate
        for j in range(depth[kind]):
            schema[f"{kind}_t{j}_start"] = _INT
            schema[f"{kind}_t{j}_price"] = rate
    return schema


class ColumnarChunks:
    """Reads a plain CSV file chunk by chunk into FrameChunks, pricing with the builder's price book (and noting
    unpriced models and tiers priced at standard rates on the builder, as its `build` does)."""

    def __init__(
        self,
        path: Path,
        plain: PlainFile,
        builder: RowBuilder,
        delimiter: str,
        *,
        step: int | None = None,
        mapper: RowMapper | None = None,
        sums: bool = True,
    ) -> None:
        self.path = path
        # False: each chunk comes without its rollups, unpriced count and cost, for the stage after this one to add
        # (`add_sums`): on SQLite the imaging thread, which had less to do than this one (engine.ingest.files).
        self.sums = sums
        self.step = step
        self.mapper = mapper
        self._targets: dict[str, str | None] = {}
        self.plain = plain
        self.builder = builder
        self.delimiter = delimiter
        self.prices: PriceBook = builder.prices
        self._days: dict[int, str] = {}
        # The price table of the keys met so far (`_price_table`): each key's rates, the tiers' depth of its
        # columns, its largest rate, and the table itself.
        self._rates_by_key: dict[tuple[Any, ...], tuple[Any, bool]] = {}
        self._tier_depth: dict[str, int] = dict.fromkeys(_KINDS, 0)
        self._top = 0
        self._table: pl.DataFrame | None = None

    def __iter__(self) -> Iterator[tuple[FrameChunk, list[tuple[int, str, str]], int, int, int]]:
        """(chunk, bad lines, rows read, bytes read, the line of its last row) for each chunk. With `step`, progress
        comes every `step` rows as on the row path: the rows of a chunk up to each multiple of `step` are its
        `marks`, to be announced before the chunk itself."""
        line = 1  # the header's
        done = 0
        before = self.plain.body_start
        for block, at in _blocks(self.path, self.plain.body_start):
            rows = block.count(b"\n")
            try:
                chunk, bad = self._chunk(block, line + 1)
            except OverflowError:  # its rollups summed here (`sums`): past a BIGINT
                raise FileError(line + rows, SUM_TOO_LARGE) from None
            line += rows
            chunk.last_line = line
            end = done + rows
            if self.step:
                for mark in range((done // self.step + 1) * self.step, end, self.step):
                    chunk.marks.append((mark - done, before + (at - before) * (mark - done) // rows))
            yield chunk, bad, rows, at, line
            done, before = end, at

    # ---- one chunk ----
    def _chunk(self, block: bytes, first_line: int) -> tuple[FrameChunk, list[tuple[int, str, str]]]:
        header = self.plain.header
        names = [f"c{i}" for i in range(len(header))]
        if block.startswith(_BOM):  # polars drops a BOM opening its buffer; the row path reads it as text
            return self._by_rows(block, first_line)
        try:
            raw = pl.read_csv(
                block,
                has_header=False,
                separator=self.delimiter,
                quote_char=None,
                schema=dict.fromkeys(names, pl.String),
                empty_string_is_null=False,
                eol_char="\n",
            )
        except pl.exceptions.PolarsError:
            return self._by_rows(block, first_line)
        longest = raw.select(pl.max_horizontal(pl.all().str.len_bytes().max())).item()
        if longest is not None and longest > _MAX_LINE:  # the CSV reader's field-size limit decides, as before
            return self._by_rows(block, first_line)
        raw = raw.rename(dict(zip(names, header, strict=True))).with_row_index("line", offset=first_line)
        for name in COLUMNS:
            if name not in raw.columns:
                raw = raw.with_columns(pl.lit("").alias(name))
        try:
            fast = self._validated(raw)
            priced = self._priced(fast.filter(pl.col("ok")))
            slow_lines = pl.concat(
                [fast.filter(~pl.col("ok")).select("line"), priced.filter(~pl.col("ok")).select("line")]
            )
            events = priced.filter(pl.col("ok")).select(
                pl.col("line").cast(pl.UInt32), *(pl.col(c).cast(t) for c, t in EVENT_SCHEMA.items())
            )
        # Whatever polars could not do, the row path does (an integer past 128 bits raises OverflowError, which is
        # not a sum past a BIGINT: that is only said of the sums made in `_finish`).
        except (pl.exceptions.PolarsError, OverflowError):
            return self._by_rows(block, first_line)
        bad: list[tuple[int, str, str]] = []
        by_rows = slow_lines.height
        if slow_lines.height:
            slow_raw = raw.join(slow_lines, on="line", how="semi").sort("line")
            built, bad = self._rows(slow_raw.select("line", *header).rows())
            if built.height:
                events = pl.concat([events, built]).sort("line")
        chunk = self._finish(events)
        chunk.by_rows = by_rows
        return chunk, bad

    def _by_rows(self, block: bytes, first_line: int) -> tuple[FrameChunk, list[tuple[int, str, str]]]:
        """A chunk polars could not read or price: every row through the row path (the file is plain: one line, one
        row, split by the same CSV reader the row path uses)."""
        reader = csv.reader(io.StringIO(block.decode("utf-8")), delimiter=self.delimiter)
        rows: list[tuple[Any, ...]] = []
        unreadable: list[tuple[int, str, str]] = []
        while True:  # a line the csv module cannot split is one bad line, said as the row path says it
            try:
                rows.extend((first_line + reader.line_num - 1, *values) for values in reader)
                break
            except csv.Error as exc:
                unreadable.append((first_line + reader.line_num - 1, csv_problem(exc), ""))
        built, bad = self._rows(rows)
        chunk = self._finish(built)
        chunk.by_rows = len(rows) + len(unreadable)
        return chunk, sorted(bad + unreadable)

    def _rows(self, rows: list[tuple[Any, ...]]) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
        """Rows (line, *values) through parse_event and the row builder, as the row-by-row path does."""
        header = self.plain.header
        width = len(header)
        built: list[tuple[Any, ...]] = []
        bad: list[tuple[int, str, str]] = []
        for line, *values in rows:
            if len(values) != width:
                bad.append((line, f"has {len(values)} fields, the header has {width}", ""))
                continue
            record = dict(zip(header, values, strict=True))
            try:
                built.append((line, *self.builder.build(parse_event(record))))
            except RowError as exc:  # invalid, or valid alone but priced past what one event can cost
                bad.append((line, str(exc), json.dumps(record, default=str)))
        frame = pl.DataFrame(
            [(*r[:-14], str(r[-14]), *r[-13:]) for r in built],  # service_tier: the enum as its text
            schema={"line": pl.UInt32, **EVENT_SCHEMA},
            orient="row",
        )
        return frame, bad

    def _validated(self, raw: pl.DataFrame) -> pl.DataFrame:
        """Every field parsed where its shape is plain; `ok` says the whole row is."""
        checks: list[pl.Expr] = []
        texts = []
        for key in _TEXT_KEYS:
            value = pl.col(key).str.strip_chars(" ")
            checks += [value.str.contains(_PLAIN_TEXT), value.str.len_chars() <= TEXT_LIMITS[key]]
            texts.append(value.alias(key))
        for key in _ASCII_KEYS:
            value = pl.col(key).str.strip_chars(" ")
            checks += [value.str.contains(_PLAIN_ASCII), value.str.len_chars() <= TEXT_LIMITS[key]]
            texts.append(value.str.to_lowercase().alias(key))
        ints = []
        for key in _COUNTS:
            checks.append(pl.col(key).str.contains(r"^[0-9]{0,15}$"))
            default = 1 if key == "requests" else 0
            number = (
                pl.when(pl.col(key) == "").then(pl.lit(default, _INT)).otherwise(pl.col(key).cast(_INT, strict=False))
            )
            ints.append(number.alias(key))
        ts = pl.col("ts")
        iso = ts.str.contains(_ISO)
        unix = ts.str.contains(_UNIX)
        checks.append(iso | unix)
        whole = (ts.str.slice(0, 10) + "T" + ts.str.slice(11, 8)).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us", time_zone="UTC"
        )
        micros = (
            pl.when(ts.str.slice(19, 1) == ".")
            .then(ts.str.slice(20).str.replace(r"[Z+].*$", "").str.pad_end(6, "0").cast(_INT, strict=False))
            .otherwise(0)
        )
        stamp = (
            pl.when(unix)
            .then(
                pl.from_epoch(ts.cast(_INT, strict=False), time_unit="s")
                .dt.replace_time_zone("UTC")
                .dt.cast_time_unit("us")
            )
            .otherwise(whole + pl.duration(microseconds=micros))
        )
        seconds = pl.col("compute_seconds")
        # At most 11 whole digits: the milliseconds stay within events.COUNT_MAX whatever the decimals.
        checks.append(seconds.str.contains(r"^(?:[0-9]{1,11}(?:\.[0-9]{1,9})?)?$"))
        fraction = seconds.str.extract(r"\.([0-9]+)$", 1).fill_null("").str.pad_end(9, "0").cast(_INT, strict=False)
        compute_ms = (
            pl.when(seconds == "")
            .then(pl.lit(0, _INT))
            .otherwise(
                seconds.str.extract(r"^([0-9]+)", 1).cast(_INT, strict=False) * 1000
                + fraction // 1_000_000
                + (fraction % 1_000_000 >= 500_000).cast(_INT)
            )
        )
        hit = pl.col("cache_hit")
        checks += [
            hit.str.contains(r"^[A-Za-z0-9]{0,5}$"),
            hit.str.to_lowercase().is_in(sorted(TRUE_WORDS | FALSE_WORDS)),
            pl.col("service_tier").is_in(list(TIER_WORDS)),
            pl.col("cost_usd") == "",
        ]
        frame = raw.select(
            "line",
            *texts,
            *ints,
            stamp.alias("stamp"),
            compute_ms.alias("compute_ms"),
            hit.str.to_lowercase().is_in(sorted(TRUE_WORDS)).alias("cache_hit"),
            pl.col("service_tier")
            .replace_strict({k: str(v) for k, v in TIER_WORDS.items()}, default=None, return_dtype=pl.String)
            .alias("service_tier"),
            pl.all_horizontal(checks).alias("shaped"),
        )
        i, c, w, o = (pl.col(k) for k in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"))
        epoch = pl.col("stamp").dt.epoch("s")
        ok = (
            pl.col("shaped")
            & pl.col("stamp").is_not_null()
            & epoch.is_between(_MIN_EPOCH, _MAX_EPOCH, closed="left")
            & (pl.col("event_id") != "")
            & (pl.col("customer") != "")
            & (pl.col("product") != "")
            & (c + w <= i)
            & (pl.col("cache_write_1h_tokens") <= w)
            & ~(((i > 0) | (o > 0)) & (pl.col("model") == ""))
        )
        return frame.with_columns(ok.fill_null(False).alias("ok"), epoch.alias("epoch"))

    def _priced(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The cost columns and `priced`, as PriceBook.price computes them; `ok` False sends a row to the row path."""
        frame = frame.with_columns((pl.col("epoch") // 86_400).alias("uday"), (pl.col("epoch") // 900).alias("quarter"))
        table = self._price_table(frame.select("provider", "model", "service_tier", "uday").unique())
        frame = frame.join(table, on=["provider", "model", "service_tier", "uday"], how="left")
        days = frame.select("quarter").unique()["quarter"].to_list()
        cut = self.builder.cutter
        for q in days:
            if q not in self._days:
                self._days[q] = cut.day(q * 900)
        frame = frame.with_columns(pl.col("quarter").replace_strict(self._days, return_dtype=pl.String).alias("day"))
        units = self.prices.unit_costs
        # A unit cost the price file leaves out (None) costs its counts 0 and leaves their rows unpriced, as
        # PriceBook.price does; 0 is a price.
        unit_rates = (units.retrieval_query, units.rerank_call, units.compute_ms)
        retrieval, rerank, compute = (min(u or 0, _RATE_MAX) for u in unit_rates)
        unit_counts = ("retrieval_queries", "rerank_calls", "compute_ms")
        # Per row, whether each of UNIT_PARTS is used with no price (a literal False where it has one).
        no_unit = [
            (pl.col(count) > 0) if rate is None else pl.lit(False)
            for count, rate in zip(unit_counts, unit_rates, strict=True)
        ]
        # Every product below is a count (0 to the chunk's largest) times a rate (at most the largest in its price
        # table or unit costs): when that bound fits in 64 bits, so does every product, and 64-bit arithmetic gives
        # the same exact integers as 128-bit, ~10% cheaper (most files: counts in the thousands, rates below 10¹¹
        # femto-USD). Only the rows taken (ok) are here: their counts are 15 digits or fewer, none negative.
        top_count = frame.select(pl.max_horizontal([pl.col(k).max() for k in (*_COUNTS, "compute_ms")])).item() or 0
        rates = [c for c in table.columns if c.endswith(("_base", "_price")) or c in ("request", "web_search")]
        top_rate = max(
            table.select(pl.max_horizontal([pl.col(c).abs().max() for c in rates])).item() or 0,
            *(abs(u) for u in (retrieval, rerank, compute)),
        )
        # (A rate alone past 64 bits needs 128 even when every count is 0: its literal must hold it.)
        exact = _INT if max(top_count, 1) * top_rate + FEMTO_PER_NANO <= BIGINT_MAX else _WIDE
        wide = {k: pl.col(k).cast(exact) for k in (*_COUNTS, "compute_ms")}
        half = pl.lit(FEMTO_PER_NANO // 2, exact)
        scale = pl.lit(FEMTO_PER_NANO, exact)

        def nano(femto: pl.Expr) -> pl.Expr:
            return (femto + half) // scale

        inp = wide["input_tokens"]
        req = wide["requests"]
        sel = pl.when(req > 1).then(inp // req).otherwise(inp)

        def per_token(kind: str) -> pl.Expr:
            expr: Any = pl
            tiers = self._tier_depth.get(kind, 0)
            for j in range(tiers):
                start, price = pl.col(f"{kind}_t{j}_start"), pl.col(f"{kind}_t{j}_price")
                expr = expr.when(start.is_not_null() & (sel > start)).then(price)
            base = pl.col(f"{kind}_base").cast(exact)
            return expr.otherwise(base).cast(exact) if tiers else base

        cached, write, write_1h = wide["cached_input_tokens"], wide["cache_write_tokens"], wide["cache_write_1h_tokens"]
        searches = wide["web_searches"]
        usage = (pl.col("input_tokens") > 0) | (pl.col("output_tokens") > 0) | (pl.col("web_searches") > 0)
        found = pl.col("found").fill_null(False)
        rated = usage & found
        web_priced = pl.col("web_search").is_not_null()
        output_priced = pl.col("output_priced").fill_null(False)
        costs = {
            "uncached_input": nano((inp - cached - write) * per_token("input")),
            "cached_input": nano(cached * per_token("cached_input")),
            "cache_write": nano((write - write_1h) * per_token("cache_write")),
            "cache_write_1h": nano(write_1h * per_token("cache_write_1h")),
            "output": nano(wide["output_tokens"] * per_token("output")),
            "request_fee": nano(req * pl.col("request").cast(exact)),
            "web_search": pl.when(web_priced).then(nano(searches * pl.col("web_search").cast(exact))).otherwise(0),
            "source": pl.lit(0, exact),
            "retrieval": nano(wide["retrieval_queries"] * pl.lit(retrieval, exact)),
            "rerank": nano(wide["rerank_calls"] * pl.lit(rerank, exact)),
            "compute": nano(wide["compute_ms"] * pl.lit(compute, exact)),
        }
        token_kinds = {"uncached_input", "cached_input", "cache_write", "cache_write_1h", "output", "request_fee"}
        columns = []
        for (kind, expr), column in zip(costs.items(), COST_COLUMNS, strict=True):
            if kind in token_kinds or kind == "web_search":
                expr = pl.when(rated).then(expr).otherwise(pl.lit(0, exact))
            columns.append(expr.alias(column))
        frame = frame.with_columns(columns)
        # A row priced past what one event can cost is the row builder's to refuse, with its message.
        fits = pl.sum_horizontal([pl.col(c) for c in COST_COLUMNS]) <= COST_MAX_NANO
        frame = frame.with_columns(
            (pl.col("ok") & fits & ~pl.col("time_of_day").fill_null(False)).fill_null(False).alias("ok"),
            (
                (
                    ~usage
                    | (
                        found
                        & ((pl.col("web_searches") == 0) | web_priced)
                        & ((pl.col("output_tokens") == 0) | output_priced)
                    )
                )
                & ~pl.any_horizontal(no_unit)
            ).alias("priced"),
        )
        frame = frame.with_columns(
            [pl.when(pl.col("ok")).then(pl.col(c)).otherwise(0).cast(_INT) for c in COST_COLUMNS]
        )
        taken = frame.filter(pl.col("ok"))
        unpriced = (
            taken.filter(~pl.col("priced"))
            .select(
                "provider",
                "model",
                # what of each has no price, as PriceBook.missing says it (its model only when it has usage)
                (usage & ~found).alias("no_model"),
                (usage & found & (pl.col("output_tokens") > 0) & ~output_priced).alias("no_output"),
                (usage & found & (pl.col("web_searches") > 0) & ~web_priced).alias("no_searches"),
                *(expr.alias(f"no_{count}") for expr, count in zip(no_unit, unit_counts, strict=True)),
            )
            .unique()
            .rows()
        )
        for provider, model, no_model, no_output, no_searches, *no_units in unpriced:
            self.builder.unpriced_models.add((provider, model))
            parts = ["the model"] if no_model else ["output tokens"] * no_output + ["web searches"] * no_searches
            parts += [part for part, none in zip(UNIT_PARTS, no_units, strict=True) if none]
            self.builder.unpriced_parts.update((provider, model, part) for part in parts)
        standard = taken.filter(pl.col("standard_rated").fill_null(False)).select("provider", "model", "service_tier")
        self.builder.standard_rated.update(standard.unique().rows())
        ts = pl.col("stamp").dt.strftime("%Y-%m-%d %H:%M:%S%.6f")
        return frame.with_columns(
            (ts + "+00:00" if self.builder.postgres else ts).alias("ts"),
            pl.lit(None, _INT).alias("source_cost_nano"),
            pl.col("task_id").replace("", None),
            pl.col("prompt_hash").replace("", None),
            pl.lit(self.builder.source).alias("source"),
        )

    def _mapped(self, events: pl.DataFrame) -> pl.DataFrame:
        """Customers written by a contract's name or alias replaced by its id, counted as the row path's RowMapper
        counts them (every row, repeats included); the mapper's counts are read once the file is done."""
        if self.mapper is None or not self.mapper.customers.labels or not events.height:
            return events
        for written in events.get_column("customer").unique().to_list():
            if written not in self._targets:
                self._targets[written] = self.mapper.customers.lookup(written)
        targets = {w: t for w, t in self._targets.items() if t is not None}
        if not targets:
            return events
        counts = events.filter(pl.col("customer").is_in(list(targets))).group_by("customer").len()
        for written, n in counts.rows():
            self.mapper.mapped[(written, targets[written])] += n
        return events.with_columns(pl.col("customer").replace(targets))

    def _price_table(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The rates PriceBook.price would use, one row per (provider, model, tier, UTC day) this import has met so
        far, `keys` (the chunk's) among them.

        Kept for the whole import: a chunk spans many days of the same models, so most of its keys were met before,
        and working out their rows again for every chunk (in Python, holding the GIL the other stages need) cost the
        bench's 1.37M-event import ~0.9 s. Only the rows of keys met for the first time are made and added; the
        table is laid out again only when a new key's tiers are deeper, or its rates past 64 bits, than any before.
        (A key's rates cannot change within an import: the price book is the import's.) The import's table is
        replaced only once the new one is made: a chunk that fails on the way (and goes to the row path) leaves no
        key noted without its row."""
        known = self._rates_by_key
        fresh = [key for key in keys.rows() if key not in known]
        if not fresh and self._table is not None:
            return self._table
        rates_of = {key: self.prices.daily_rates(*key) for key in fresh}
        depth = dict(self._tier_depth)
        for rates, _ in rates_of.values():
            if rates is not None:
                for kind in _KINDS:
                    depth[kind] = max(depth[kind], len(_tiered(getattr(rates, kind) or 0)[1]))

        def laid_out(rates: dict[tuple[Any, ...], tuple[Any, bool]]) -> list[list[Any]]:
            return [self._rate_row(key, r, whole_day, depth) for key, (r, whole_day) in rates.items()]

        again = self._table is None or depth != self._tier_depth
        rows = laid_out(known | rates_of if again else rates_of)
        top = max([0 if again else self._top, *(row[-1] for row in rows)])
        if not again and top > BIGINT_MAX >= self._top:  # the rates' columns become 128-bit: every row anew
            again, rows = True, laid_out(known | rates_of)
        added = pl.DataFrame([row[:-1] for row in rows], schema=_price_schema(depth, top), orient="row")
        table = added if again or self._table is None else pl.concat([self._table, added])
        known.update(rates_of)
        self._tier_depth, self._top, self._table = depth, top, table
        return table

    @staticmethod
    def _rate_row(key: tuple[Any, ...], rates: Any, whole_day: bool, depth: dict[str, int]) -> list[Any]:
        """One key's row of the price table, with `depth` tiers of each kind, its largest rate last (not a column:
        past 64 bits, the rates' columns take 128, as `_priced` then computes)."""
        provider, model, tier, uday = key
        request = min(rates.request, _RATE_MAX) if rates else 0
        search = None if rates is None or rates.web_search is None else min(rates.web_search, _RATE_MAX)
        top = max(request, search or 0)
        row: list[Any] = [
            provider,
            model,
            tier,
            uday,
            rates is not None,
            not whole_day,
            tier != "standard" and rates is not None and not rates.tier_priced,
            # No output price (an input-only catalogue entry): output tokens are costed 0 and leave the row
            # unpriced, as PriceBook.price does.
            rates is not None and rates.output is not None,
            request,
            search,
        ]
        for kind in _KINDS:
            base, tiers = _tiered(getattr(rates, kind) or 0) if rates else (0, [])
            base = min(base, _RATE_MAX)
            row.append(base)
            top = max(top, base)
            for j in range(depth[kind]):
                if j < len(tiers):
                    start, price = tiers[j][0], min(tiers[j][1], _RATE_MAX)
                    row += [start, price]
                    top = max(top, price)
                else:
                    row += [None, None]
        row.append(top)
        return row

    def _finish(self, events: pl.DataFrame) -> FrameChunk:
        """Rollups pre-aggregated.

        On SQLite a repeat within the chunk is left to the primary key (the insert keeps the first in file order,
        and the writer then folds from the rows stored); PostgreSQL's stage must hold each id once, so repeats
        are dropped here (the first occurrence in the file wins)."""
        events = self._mapped(events)
        before = events.height
        suspects: list[str] = []
        if self.builder.postgres:
            first = events.filter(pl.col("event_id").is_first_distinct())
            if first.height < before:  # ids given twice with other values: two events, maybe (engine.ingest.repeats)
                copies = events.filter(pl.col("event_id").is_duplicated()).select("event_id", *INPUT_COLUMNS).unique()
                suspects = copies.filter(pl.col("event_id").is_duplicated()).get_column("event_id").unique().to_list()
            events = first
        events, repeats = events.drop("line"), before - events.height
        if self.sums:
            chunk = aggregate(events, repeats)
        else:
            chunk = FrameChunk(
                events, repeats, rollups={}, tasks=pl.DataFrame(), unpriced_events=0, cost_nano=0, summed=False
            )
        chunk.suspects = suspects
        return chunk


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={"line": pl.UInt32, **EVENT_SCHEMA})


def aggregate(events: pl.DataFrame, repeats: int) -> FrameChunk:
    """The rollup rows the events add (as the SQL fold would compute them), with the unpriced count and cost.

    Summed in 128 bits (then narrowed, refusing a sum past a BIGINT) unless the chunk's rows times its largest
    value, times the number of cost columns, fits in 64: then no sum here can pass 2⁶³ and 64 bits are exact."""
    summed = [c for c in (*MEASURES, *COST_COLUMNS) if c in events.columns]
    top = events.select(pl.max_horizontal([pl.col(c).abs().max() for c in summed])).item() if events.height else 0
    exact = _INT if events.height * len(COST_COLUMNS) * max(top or 0, 1) <= BIGINT_MAX else _WIDE
    special = {
        "events": pl.len().cast(exact),
        "cache_hits": pl.col("cache_hit").cast(exact).sum(),
        "unpriced_events": (~pl.col("priced")).cast(exact).sum(),
    }
    measures = [special.get(m, pl.col(m).cast(exact).sum()).alias(m) for m in MEASURES]
    rollups = {table: events.group_by(list(keys)).agg(measures) for table, keys in ROLLUPS}
    cost = pl.sum_horizontal([pl.col(c).cast(exact) for c in COST_COLUMNS])
    tasks = (
        events.filter(pl.col("task_id").is_not_null())
        .group_by("customer", "product", "task_id")
        .agg(pl.col("day").min(), pl.len().cast(exact).alias("events"), cost.sum().alias("cost_nano"))
    )
    totals = events.select((~pl.col("priced")).cast(exact).sum().alias("u"), cost.sum().alias("c"))
    unpriced, total = totals.row(0) if events.height else (0, 0)
    rollups = {table: narrow(frame) for table, frame in rollups.items()}
    tasks = narrow(tasks)
    return FrameChunk(
        events=events,
        repeats=repeats,
        rollups=rollups,
        tasks=tasks,
        unpriced_events=int(unpriced or 0),
        cost_nano=int(total or 0),
    )


def add_sums(chunk: FrameChunk) -> None:
    """Give a chunk made without them (ColumnarChunks' `sums`) its rollups, unpriced count and cost (`aggregate`)."""
    if not chunk.summed:
        try:
            whole = aggregate(chunk.events, chunk.repeats)
        except OverflowError:
            raise FileError(chunk.last_line, SUM_TOO_LARGE) from None
        chunk.rollups, chunk.tasks = whole.rollups, whole.tasks
        chunk.unpriced_events, chunk.cost_nano, chunk.summed = whole.unpriced_events, whole.cost_nano, True


_DONE = object()


class Prefetched(Iterator[T]):
    """`chunks`, produced up to `depth` ahead on a thread: polars releases the GIL while it reads and prices, and SQLite
    while it writes, so the next chunk is made while this one is stored. The thread starts at once, before the first
    item is asked for (the caller may have other work meanwhile: engine.ingest.files). It is a daemon, stopped by
    `close` (the consumer done or giving up, whether or not it took anything), or once this object is dropped, or
    when the process ends: nothing outlives the import."""

    def __init__(self, chunks: Iterable[T], depth: int = 1) -> None:
        self._out: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        # The thread holds the queue and the event, not this object: dropping it stops the thread.
        self._thread = threading.Thread(
            target=_produce, args=(chunks, self._out, self._stop), name="marginbot-columnar", daemon=True
        )
        self._thread.start()
        weakref.finalize(self, self._stop.set)

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item, error = self._out.get()
        if item is _DONE:
            self.close()
            if error is not None:
                raise error
            raise StopIteration
        return cast(T, item)

    def close(self) -> None:
        """Stop the thread and wait for it (it finishes the item in hand first); the items not taken are dropped."""
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._out.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)


def _produce(chunks: Iterable[Any], out: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        for item in chunks:
            if not _put(out, (item, None), stop):
                return
        _put(out, (_DONE, None), stop)
    except BaseException as exc:  # handed to the consumer, which raises it as its own
        _put(out, (_DONE, exc), stop)


def _put(out: queue.Queue[Any], entry: tuple[Any, BaseException | None], stop: threading.Event) -> bool:
    """Put `entry` once there is room; False (not put) if the consumer stopped the thread meanwhile."""
    while not stop.is_set():
        try:
            out.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False
