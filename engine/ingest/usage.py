"""Usage events from CSV (with a header) or JSONL files with the same keys.

A file is one transaction: any invalid row refuses the whole file, with every bad line and why, unless the caller
asks to skip invalid rows, which are then written to `<file>.rejects.csv` beside it. Files are streamed.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path
from queue import Empty
from typing import Any

from sqlalchemy import Engine

from engine.ingest.writer import EventWriter, ParsedEvent, RowBuilder, WriteStats
from engine.models import NANO, ImportRun
from engine.pricing import PriceBook
from engine.state import check_rollup_timezone
from engine.timeutil import MAX_TS as _MAX_TS
from engine.timeutil import MIN_TS as _MIN_TS
from engine.timeutil import DayCutter, parse_timestamp

COLUMNS = (
    "event_id",
    "ts",
    "customer",
    "product",
    "feature",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "retrieval_queries",
    "rerank_calls",
    "compute_seconds",
    "cost_usd",
    "task_id",
    "cache_hit",
    "prompt_hash",
)
REQUIRED = ("event_id", "ts", "customer", "product")
MAX_ERRORS_KEPT = 10_000
_LIMITS = {
    "event_id": 200,
    "customer": 200,
    "product": 200,
    "feature": 200,
    "provider": 100,
    "model": 200,
    "task_id": 200,
    "prompt_hash": 128,
}
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


class RowError(ValueError):
    """One invalid row; the message says which field and why."""


@dataclass
class BadLine:
    line: int
    reason: str


@dataclass
class ImportResult:
    """What one file import did. `refused` means nothing was committed."""

    path: str
    rows_read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    unpriced_events: int = 0
    unpriced_models: list[str] = field(default_factory=list)
    cost_usd: Decimal = Decimal(0)
    errors: list[BadLine] = field(default_factory=list)
    refused: bool = False
    rejects_path: str | None = None

    def summary(self) -> str:
        if self.refused:
            lines = [f"{self.path}: refused, nothing imported ({self.rejected} invalid row(s) of {self.rows_read}):"]
            lines += [f"  line {e.line}: {e.reason}" for e in self.errors]
            if self.rejected > len(self.errors):
                lines.append(f"  … and {self.rejected - len(self.errors)} more")
            return "\n".join(lines)
        text = (
            f"{self.path}: {self.imported} imported, {self.duplicates} already known (skipped), "
            f"{self.rejected} rejected, of {self.rows_read} rows; COGS ${self.cost_usd:,.2f}"
        )
        if self.rejects_path:
            text += f"\n  rejected rows written to {self.rejects_path}"
        if self.unpriced_events:
            text += (
                f"\n  WARNING: {self.unpriced_events} event(s) have no price ({', '.join(self.unpriced_models)}):"
                " add them to the price file and run `marginbot reprice`"
            )
        return text


class ImportRefused(Exception):
    def __init__(self, result: ImportResult) -> None:
        super().__init__(result.summary())
        self.result = result


def _text(raw: Mapping[str, Any], key: str, *, lower: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RowError(f"{key} must be text, got {value!r}")
        value = str(value)
    value = value.strip()
    if len(value) > _LIMITS[key]:
        raise RowError(f"{key} is longer than {_LIMITS[key]} characters")
    return value.lower() if lower else value


def _count(raw: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = raw.get(key)
    if value is None or value == "":
        return default
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise RowError(f"{key} must be a non-negative integer, got {value!r}") from None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise RowError(f"{key} must be a non-negative integer, got {value!r}")
    if number < 0:
        raise RowError(f"{key} must be a non-negative integer, got {value!r}")
    return number


def _amount(raw: Mapping[str, Any], key: str) -> Decimal | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(f"{key} must be a non-negative number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError(f"{key} must be a non-negative number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise RowError(f"{key} must be a non-negative number, got {value!r}")
    return number


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(f"{key} must be true or false, got {value!r}")


def parse_event(raw: Mapping[str, Any]) -> ParsedEvent:
    """Validate one event given as a mapping of the documented columns; raises RowError naming the field."""
    for key in REQUIRED:
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise RowError(f"{key} is required")
    try:
        ts = parse_timestamp(raw["ts"])
    except ValueError as exc:
        raise RowError(f"ts: {exc}") from None
    provider = _text(raw, "provider", lower=True)
    model = _text(raw, "model", lower=True)
    input_tokens = _count(raw, "input_tokens")
    cached = _count(raw, "cached_input_tokens")
    write = _count(raw, "cache_write_tokens")
    output = _count(raw, "output_tokens")
    if cached + write > input_tokens:
        raise RowError(
            f"cached_input_tokens + cache_write_tokens ({cached} + {write}) exceed input_tokens ({input_tokens});"
            " input_tokens is the total input, cached and cache-write tokens included"
        )
    cost = _amount(raw, "cost_usd")
    if (input_tokens or output) and not model and cost is None:
        raise RowError("model is required when the event has tokens (or give cost_usd)")
    compute = _amount(raw, "compute_seconds")
    compute_ms = int((compute * 1000).to_integral_value(ROUND_HALF_UP)) if compute is not None else 0
    task_id = _text(raw, "task_id") or None
    prompt_hash = _text(raw, "prompt_hash") or None
    return (
        _text(raw, "event_id"),
        ts,
        _text(raw, "customer"),
        _text(raw, "product"),
        _text(raw, "feature"),
        provider,
        model,
        input_tokens,
        cached,
        write,
        output,
        _count(raw, "requests", default=1),
        _count(raw, "retrieval_queries"),
        _count(raw, "rerank_calls"),
        compute_ms,
        int((cost * NANO).to_integral_value(ROUND_HALF_UP)) if cost is not None else None,
        task_id,
        _flag(raw, "cache_hit"),
        prompt_hash,
    )


class _Miss(Exception):
    """The fast CSV path declines a row; the full parser then decides (and explains any error)."""


_MAX_SHORT = min(_LIMITS.values())
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _csv_fast_parser(header: list[str]) -> Callable[[list[str]], ParsedEvent]:
    """A row parser specialised to one header: the same result as `parse_event`, for well-formed rows only.

    A million-row file spends most of its time here, so the common case is a handful of built-in calls; anything
    unusual (a negative count, an odd timestamp, a long id, an amount) is handed to `parse_event`.
    """
    width = len(header)
    pick = itemgetter(*[header.index(c) if c in header else width for c in COLUMNS])
    fromiso = datetime.fromisoformat

    def parse(values: list[str]) -> ParsedEvent:
        (
            event_id,
            ts,
            customer,
            product,
            feature,
            provider,
            model,
            inp,
            cached,
            write,
            out,
            req,
            retr,
            rer,
            comp,
            cost,
            task,
            hit,
            prompt,
        ) = pick(values)
        event_id, customer, product = event_id.strip(), customer.strip(), product.strip()
        feature, task, prompt = feature.strip(), task.strip(), prompt.strip()
        if not (event_id and customer and product) or cost:
            raise _Miss
        if (
            max(
                len(event_id),
                len(customer),
                len(product),
                len(feature),
                len(model),
                len(task),
                len(provider),
                len(prompt),
            )
            > _MAX_SHORT
        ):
            raise _Miss
        if ts.isdigit():
            stamp = _EPOCH + timedelta(seconds=int(ts))
        else:
            stamp = fromiso(ts)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            elif stamp.utcoffset():
                stamp = stamp.astimezone(UTC)
            else:
                stamp = stamp.replace(tzinfo=UTC)
        if not _MIN_TS <= stamp < _MAX_TS:
            raise _Miss
        i = int(inp) if inp else 0
        c = int(cached) if cached else 0
        w = int(write) if write else 0
        o = int(out) if out else 0
        r = int(req) if req else 1
        q = int(retr) if retr else 0
        k = int(rer) if rer else 0
        if (i | c | w | o | r | q | k) < 0 or c + w > i:
            raise _Miss
        model = model.strip().lower()
        if (i or o) and not model:
            raise _Miss
        compute_ms = 0
        if comp:
            seconds = Decimal(comp)
            if not seconds.is_finite() or seconds < 0:
                raise _Miss
            compute_ms = int((seconds * 1000).to_integral_value(ROUND_HALF_UP))
        flag = False
        if hit:
            lowered = hit.strip().lower()
            if lowered in _TRUE:
                flag = True
            elif lowered not in _FALSE:
                raise _Miss
        return (
            event_id,
            stamp,
            customer,
            product,
            feature,
            provider.strip().lower(),
            model,
            i,
            c,
            w,
            o,
            r,
            q,
            k,
            compute_ms,
            None,
            task or None,
            flag,
            prompt or None,
        )

    return parse


def _csv_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | None, str, ParsedEvent | None]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise RowError("the file is empty (a header line is required)") from None
        _check_header(header)
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
            except (_Miss, ValueError, IndexError, ArithmeticError):
                yield reader.line_num, dict(zip(header, values, strict=True)), "", None


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | None, str, ParsedEvent | None]]:
    with path.open(encoding="utf-8-sig") as handle:
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


def _check_header(header: list[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise RowError(f"unknown column(s) {unknown}; the columns are: {', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RowError(f"missing required column(s) {missing}")
    if len(set(header)) != len(header):
        raise RowError("a column name appears twice in the header")


# One parsed chunk of a file: built rows, rejected lines (line, reason, raw row as JSON), rows read.
Chunk = tuple[list[tuple[Any, ...]], list[tuple[int, str, str]], int]
CHUNK_ROWS = 5_000
# Files at least this large are parsed in a worker process while this one writes (measured 10–20% faster here:
# the writer's SQLite work, not parsing, sets the pace).
PARALLEL_BYTES = 32 * 1024 * 1024


def _chunks(path: Path, builder: RowBuilder) -> Iterator[Chunk]:
    """Parse, validate and price a file, `CHUNK_ROWS` at a time. Raises RowError for a bad header."""
    rows = _jsonl_rows(path) if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else _csv_rows(path)
    built: list[tuple[Any, ...]] = []
    bad: list[tuple[int, str, str]] = []
    read = 0
    for line, raw, problem, parsed in rows:
        read += 1
        if parsed is None and raw is not None:
            try:
                parsed = parse_event(raw)
            except RowError as exc:
                problem = str(exc)
        if parsed is not None:
            built.append(builder.build(parsed))
        else:
            bad.append((line, problem, json.dumps(raw, default=str) if raw is not None else ""))
        if read >= CHUNK_ROWS:
            yield built, bad, read
            built, bad, read = [], [], 0
    yield built, bad, read


def _worker(path: str, builder: RowBuilder, out: Any) -> None:
    """Runs in a child process: every chunk goes to the queue, then the unpriced models, then the end."""
    try:
        for chunk in _chunks(Path(path), builder):
            out.put(("chunk", chunk))
        out.put(("end", builder.unpriced_models))
    except RowError as exc:
        out.put(("refused", str(exc)))
    except Exception:  # the parent re-raises it with the child's traceback
        out.put(("crashed", traceback.format_exc()))


def _parallel_chunks(path: Path, builder: RowBuilder, unpriced: set[tuple[str, str]]) -> Iterator[Chunk]:
    # fork: the worker starts at once with everything imported; only used while this process has one thread.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue(maxsize=8)  # bounded: memory stays flat whatever the file size
    proc = ctx.Process(target=_worker, args=(str(path), builder, queue), daemon=True)
    proc.start()
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=1.0)
            except Empty:
                if not proc.is_alive():  # killed without a word (out of memory, a signal): never wait forever
                    raise RuntimeError(f"the parsing worker died (exit code {proc.exitcode})") from None
                continue
            if kind == "chunk":
                yield payload
            elif kind == "end":
                unpriced.update(payload)
                return
            elif kind == "refused":
                raise RowError(payload)
            else:
                raise RuntimeError(f"the parsing worker failed:\n{payload}")
    finally:
        if proc.is_alive():  # the parent stopped early (refused file, error): the rest is not needed
            proc.kill()
        proc.join()
        queue.close()


def import_usage_file(
    engine: Engine,
    path: Path | str,
    *,
    prices: PriceBook,
    timezone: str,
    skip_invalid: bool = False,
    batch_size: int = 20_000,
    parallel: bool | None = None,
) -> ImportResult:
    """Import one CSV or JSONL file of usage events in one transaction. Raises ImportRefused when refused.

    `parallel` (default: for files of PARALLEL_BYTES or more) parses in a worker process while this one writes.
    """
    path = Path(path)
    result = ImportResult(path=str(path))
    rejects: list[tuple[int, str, str]] = []
    started = datetime.now(UTC)
    if parallel is None:
        parallel = path.stat().st_size >= PARALLEL_BYTES
    # Forking a threaded process (a server, a scheduler) is unsafe; such callers parse in-process.
    parallel = parallel and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    with engine.connect() as conn:
        check_rollup_timezone(conn, timezone)
        writer = EventWriter(
            conn, prices=prices, cutter=DayCutter(timezone), source=f"file:{path.name}", batch_size=batch_size
        )
        builder = writer.builder
        chunks = _parallel_chunks(path, builder, builder.unpriced_models) if parallel else _chunks(path, builder)
        try:
            for built, bad, read in chunks:
                result.rows_read += read
                for line, problem, raw in bad:
                    result.rejected += 1
                    if len(result.errors) < MAX_ERRORS_KEPT:
                        result.errors.append(BadLine(line, problem))
                    if skip_invalid:
                        rejects.append((line, problem, raw))
                if result.rejected and not skip_invalid:
                    writer.discard()  # the file will be refused: stop writing, keep reading for every error
                    continue
                for row in built:
                    writer.add_row(row)
        except RowError as exc:  # the file itself (header) is wrong
            conn.rollback()
            result.errors.append(BadLine(1, str(exc)))
            result.rejected = max(result.rejected, 1)
            result.refused = True
            _record_run(engine, result, started)
            raise ImportRefused(result) from None
        if result.rejected and not skip_invalid:
            conn.rollback()
            result.refused = True
            _record_run(engine, result, started)
            raise ImportRefused(result)
        writer.flush()
        _finish(result, writer.stats)
        conn.commit()
    if rejects:
        result.rejects_path = str(path) + ".rejects.csv"
        with open(result.rejects_path, "w", newline="", encoding="utf-8") as out:
            w = csv.writer(out)
            w.writerow(["line", "error", "row"])
            w.writerows(rejects)
    _record_run(engine, result, started)
    return result


def _finish(result: ImportResult, stats: WriteStats) -> None:
    result.imported = stats.imported
    result.duplicates = stats.duplicates
    result.unpriced_events = stats.unpriced_events
    result.unpriced_models = sorted(f"{p or '?'}/{m or '?'}" for p, m in stats.unpriced_models)
    result.cost_usd = Decimal(stats.cost_nano) / NANO


def _record_run(engine: Engine, result: ImportResult, started: datetime) -> None:
    from sqlmodel import Session

    with Session(engine) as session:
        session.add(
            ImportRun(
                source="usage",
                name=result.path[-1000:],
                started_at=started,
                finished_at=datetime.now(UTC),
                rows_read=result.rows_read,
                rows_imported=result.imported,
                rows_duplicate=result.duplicates,
                rows_rejected=result.rejected,
                status="refused" if result.refused else "ok",
            )
        )
        session.commit()
