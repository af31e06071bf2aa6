"""Usage events from CSV (with a header) or JSONL files with the same keys.

A file is one transaction: any invalid row refuses the whole file, with every bad line and why, unless the caller
asks to skip invalid rows, which are then written to `<file>.rejects.csv` beside it. Files are streamed.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Generator, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from queue import Empty, Full
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine

from engine.ingest.columnar import (
    ColumnarChunks,
    FrameChunk,
    PlainFile,
    Prefetched,
    add_sums,
    plain_body,
    plain_header,
)
from engine.ingest.customers import CustomerMap, RowMapper, mapped_lines, without_contract_line, without_contracts
from engine.ingest.events import RowError, parse_event, shown
from engine.ingest.reading import FileError, Position, file_rows, printable, record_json
from engine.ingest.repeats import Repeats, repeated_rows
from engine.ingest.rollups import SUM_TOO_LARGE, sqlite_image_of
from engine.ingest.sqlite_image import release
from engine.ingest.writer import (
    EVENT_COLUMNS,
    KEPT_SHOWN,
    EventWriter,
    RowBuilder,
    WriteStats,
    begin_writing,
    kept_note,
    unpriced_names,
)
from engine.money import CENT, ZERO, round_to, usd, usd_text
from engine.pricing.book import PriceBook
from engine.progress import Progress
from engine.store.meta import bump_generation
from engine.store.models import ImportRun
from engine.store.sql import sum_too_large
from engine.timeutil import DayCutter

MAX_ERRORS_KEPT = 10_000
_CUSTOMER = EVENT_COLUMNS.index("customer")


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
    # The same, as the warning names them: with what of a priced model has no price (writer.unpriced_names).
    unpriced_named: list[str] = field(default_factory=list)
    tier_warning: str | None = None  # service tiers priced at standard rates for want of a price
    # Events this file gives with other values than an earlier import stored them: kept as stored (never replaced);
    # the (line, event id) of the first few.
    kept_as_stored: int = 0
    kept_lines: list[tuple[int, str]] = field(default_factory=list)
    cost_usd: Decimal = ZERO  # exact; rounded only where shown
    errors: list[BadLine] = field(default_factory=list)
    refused: bool = False
    # Why the whole file was refused when no one line is to blame (the rejects file could not be written).
    problem: str | None = None
    rejects_path: str | None = None
    dry_run: bool = False  # validated and priced, then rolled back: the counts say what an import would add
    customers_without_contracts: list[str] = field(default_factory=list)
    # customer as written → up to three customers with a contract it may mean (engine.ingest.customers)
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    # (customer as written, the id it was mapped to by name or alias, events)
    mapped_customers: list[tuple[str, str, int]] = field(default_factory=list)

    def summary(self) -> str:
        if self.refused and self.problem:
            return f"{self.path}: refused, nothing imported: {self.problem}"
        if self.refused:
            # A file refused before any row was read (its header, its encoding) has no rows to count.
            counted = f" ({self.rejected} invalid row(s) of {self.rows_read})" if self.rows_read else ""
            lines = [f"{self.path}: refused, nothing imported{counted}:"]
            lines += [f"  line {e.line}: {e.reason}" for e in self.errors]
            if self.rejected > len(self.errors):
                lines.append(f"  … and {self.rejected - len(self.errors)} more")
            return "\n".join(lines)
        # usd_text: COGS under half a cent reads "<$0.01" (as the dry run's does), where "$0.00" said it cost nothing
        text = (
            f"{self.path}: {self.imported} imported, {self.duplicates} already known (skipped), "
            f"{self.rejected} rejected, of {self.rows_read} rows; COGS {usd_text(self.cost_usd)}"
        )
        if self.rejects_path:
            text += f"\n  rejected rows written to {self.rejects_path}"
        if self.unpriced_events:
            text += (
                f"\n  WARNING: {self.unpriced_events} event(s) have no price ({', '.join(self.unpriced_named)}):"
                " add them to the price file and run `marginbot reprice`"
            )
        if self.tier_warning:
            text += f"\n  WARNING: {self.tier_warning}"
        if self.kept_as_stored:
            text += f"\n  WARNING: {self.kept_note()}"
        text += "".join(f"\n  {line}" for line in self.customer_lines())
        return text

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (COGS rounded to the cent, as reports print it)."""
        return {
            "path": self.path,
            "refused": self.refused,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "reason": e.reason} for e in self.errors],
            "problem": self.problem,
            "rejects_path": self.rejects_path,
            "cogs_usd": float(round_to(self.cost_usd, CENT)),
            "unpriced_events": self.unpriced_events,
            "unpriced_models": self.unpriced_models,
            "tier_warning": self.tier_warning,
            "kept_as_stored": self.kept_as_stored,
            "kept_as_stored_lines": [{"line": n, "event_id": e} for n, e in self.kept_lines],
            "mapped_customers": [{"customer": w, "id": t, "events": n} for w, t, n in self.mapped_customers],
            "customers_without_contracts": [
                {"customer": c, "did_you_mean": self.suggestions.get(c, [])} for c in self.customers_without_contracts
            ],
        }

    def kept_note(self) -> str:
        """The events this file gives with other values than an earlier import stored them, in one line."""
        return kept_note(
            self.kept_as_stored,
            [f"line {n} ({shown(e)})" for n, e in self.kept_lines],
            came="event(s) were stored before with other values",
            whose="this file's",
        )

    def customer_lines(self) -> list[str]:
        """The customers mapped by name or alias, then those without a contract, with suggestions."""
        lines = mapped_lines(Counter({(w, t): n for w, t, n in self.mapped_customers}))
        missing = without_contract_line(
            {c: self.suggestions.get(c, []) for c in self.customers_without_contracts}, dry_run=self.dry_run
        )
        return lines + ([missing] if missing else [])


class ImportRefused(Exception):
    def __init__(self, result: ImportResult) -> None:
        super().__init__(result.summary())
        self.result = result


# One parsed chunk of a file: built rows, rejected lines (line, reason, raw row as JSON), rows read, bytes of the
# file read so far (for progress), and the line of the last row read (blank lines and quoted line breaks make it
# more than the rows read: a refusal said of where reading stopped names it).
Chunk = tuple[list[tuple[Any, ...]], list[tuple[int, str, str]], int, int, int]
CHUNK_ROWS = 5_000
# What every reader yields: a Chunk, whose rows may instead be a columnar FrameChunk (engine.ingest.columnar).
Item = tuple[Any, list[tuple[int, str, str]], int, int, int]


# Chunks each columnar stage may hold ready for the next. A chunk carries its progress marks (FrameChunk.marks):
# when they were items of their own, three or four per chunk, a stage that had just handed one on waited on its
# consumer again, and two places held less than one chunk; with one whole chunk ready at each stage the 1.37M-event
# SQLite import took 10.1-11.2 s against 11.7-12.4 s in alternating runs on a busy machine (where the old one took
# 8.7-9 s on a quiet one). Two ready chunks at each stage cost another 10-25 MB of peak RSS.
_AHEAD = 1
# Files at least this large are parsed in a worker process while this one writes (measured 10–20% faster here:
# the writer's SQLite work, not parsing, sets the pace).
PARALLEL_BYTES = 32 * 1024 * 1024
_PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal this process gets when its parent dies


def _chunks(path: Path, builder: RowBuilder, delimiter: str = ",") -> Generator[Chunk, None, None]:
    """Parse, validate and price a file, `CHUNK_ROWS` at a time. Raises RowError for a bad header (FileError for
    a file that cannot be read past a line), after the rows before it, so that their errors are reported too."""
    at = Position()
    rows = file_rows(path, delimiter, at)
    built: list[tuple[Any, ...]] = []
    bad: list[tuple[int, str, str]] = []
    read = last = 0
    try:
        for line, raw, problem, parsed in rows:
            read, last = read + 1, line
            if parsed is None and isinstance(raw, Mapping):
                try:
                    parsed = parse_event(raw)
                except RowError as exc:
                    problem = str(exc)
            if parsed is not None:
                try:
                    built.append(builder.build(parsed))
                except RowError as exc:  # valid alone, but priced beyond what one event can cost
                    parsed, problem = None, str(exc)
            if parsed is None:
                if isinstance(raw, list):  # a row the fast parser took, refused by the builder
                    raw = dict(zip(at.header, raw, strict=True))
                bad.append((line, problem, record_json(raw) if raw is not None else ""))
            if read >= CHUNK_ROWS:
                yield built, bad, read, at.bytes_read(), last
                built, bad, read = [], [], 0
    except RowError:
        yield built, bad, read, at.bytes_read(), last
        raise
    yield built, bad, read, path.stat().st_size, last


def _imaged(chunks: Iterator[Item]) -> Iterator[Item]:
    """SQLite: the columnar chunks, each with its rollups summed (the parsing thread leaves them: `add_sums`) and its
    database image made (engine.ingest.rollups.sqlite_image_of). Run on a thread of its own between the parsing
    thread and the writer: an image costs a third of what parsing, pricing and imaging a chunk does, and with all of
    it on one thread that thread set the pace (the writer idle for it 8 s of a 1M-event import, the parser 2 s for
    the writer); split in two, no stage is longer than the writer's. The sums (0.6 s of the bench's 1.37M-event
    import) are done here rather than on the parsing thread, the busier of the two; and the chunks waiting between
    the two threads hold no rollups (peak RSS 342-347 MB against 357-363 MB, alternating runs, CPU the same).

    Once imaged, a chunk keeps of its events only their customers (all the writer reads besides the image: the
    events' count and who they are for), so the chunks waiting for the writer hold ~10 MB less each."""
    for item in chunks:
        built = item[0]
        if isinstance(built, FrameChunk) and built.events.height:
            add_sums(built)
            built.image = sqlite_image_of(built)
            built.events = built.events.select("customer")
            built.rollups, built.tasks = {}, built.tasks.clear()
        yield item


def _columnar(
    path: Path, plain: PlainFile, builder: RowBuilder, mapper: RowMapper, delimiter: str, *, sqlite: bool
) -> Prefetched[Item] | None:
    """The columnar chunks of a file whose header is plain (`plain_header`), or None when its rows turn out not to
    be: then nothing of the columnar path is left behind (its threads are stopped, and what it noted on `builder`
    and `mapper` forgotten), and the caller reads the file row by row.

    The pipeline's threads start parsing (and imaging) the first chunks while this thread scans the rows
    (`plain_body`): the scan of the bench's 147 MB file took 0.45 s before anything else could start. Nothing is
    written before the scan says yes, since the caller only asks for chunks then."""
    parsed = Prefetched(
        ColumnarChunks(path, plain, builder, delimiter, step=CHUNK_ROWS, mapper=mapper, sums=not sqlite), depth=_AHEAD
    )
    chunks = Prefetched(_imaged(parsed), depth=_AHEAD) if sqlite else parsed
    if plain_body(path, plain, delimiter):
        return chunks
    # The imaging thread, which reads `parsed`, is stopped first: a generator runs on one thread at a time.
    chunks.close()
    parsed.close()
    builder.unpriced_models.clear()
    builder.unpriced_parts.clear()
    builder.standard_rated.clear()
    mapper.mapped.clear()
    return None


def _die_with(parent: int) -> None:
    """Make this (forked) process end when `parent` does: a killed import must not leave its parser burning CPU.
    Linux's PR_SET_PDEATHSIG sends SIGKILL when the parent dies; the pid check covers a parent gone before it."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the parent checks in `_send` still end the worker
            pass
    if os.getppid() != parent:
        os._exit(1)


def _send(out: Any, item: Any, parent: int | None) -> None:
    """Put `item` on the bounded queue, giving up (and exiting) if the parent is gone while the queue is full."""
    while True:
        try:
            out.put(item, timeout=1.0)
            return
        except Full:
            if parent is not None and os.getppid() != parent:
                os._exit(1)


def _worker(path: str, builder: RowBuilder, out: Any, delimiter: str = ",", parent: int | None = None) -> None:
    """Runs in a child process: every chunk goes to the queue, then the unpriced models, then the end."""
    if parent is not None:
        _die_with(parent)
    try:
        for chunk in _chunks(Path(path), builder, delimiter):
            _send(out, ("chunk", chunk), parent)
        out.put(("end", (builder.unpriced_models, builder.standard_rated, builder.unpriced_parts)))
    except RowError as exc:
        out.put(("refused", (getattr(exc, "line", 1), str(exc))))
    except Exception:  # the parent re-raises it with the child's traceback
        out.put(("crashed", traceback.format_exc()))


def _parallel_chunks(
    path: Path, builder: RowBuilder, unpriced: set[tuple[str, str]], delimiter: str = ","
) -> Generator[Chunk, None, None]:
    # fork: the worker starts at once with everything imported; only used while this process has one thread.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue(maxsize=8)  # bounded: memory stays flat whatever the file size
    proc = ctx.Process(target=_worker, args=(str(path), builder, queue, delimiter, os.getpid()), daemon=True)
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
                unpriced.update(payload[0])
                builder.standard_rated.update(payload[1])  # tiers priced at standard rates, said in the summary
                builder.unpriced_parts.update(payload[2])  # what of the unpriced models has no price
                return
            elif kind == "refused":
                raise FileError(*payload)
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
    delimiter: str = ",",
    dry_run: bool = False,
    progress: Progress | None = None,
    columnar: bool | None = None,
) -> ImportResult:
    """Import one CSV or JSONL file of usage events in one transaction. Raises ImportRefused when refused.

    `parallel` (default: for files of PARALLEL_BYTES or more) parses in a worker process while this one writes.
    `delimiter` separates CSV fields. `dry_run` validates, prices and writes as usual, then rolls back: the result
    counts what the import would add (and lists its customers without a contract); nothing is kept or recorded.
    `progress` (engine.progress) is called with the rows read so far and the total estimated from the bytes read.
    `columnar` (default: unless `parallel` is given) reads a plain CSV file in large columnar chunks
    (engine.ingest.columnar); any other file, or any doubt about one, is read row by row.
    """
    path = Path(path)
    plain = None
    if parallel is None if columnar is None else columnar:
        plain = plain_header(path, delimiter)
    result = ImportResult(path=printable(str(path)), dry_run=dry_run)
    rejects: list[tuple[int, str, str]] = []
    started = datetime.now(UTC)
    with engine.connect() as conn, _journals_in_memory(conn), _stage_released(conn):
        begin_writing(conn, timezone, prices.fingerprint)
        writer = EventWriter(
            conn,
            prices=prices,
            cutter=DayCutter(timezone),
            source=f"file:{printable(path.name)}",
            batch_size=batch_size,
        )
        builder = writer.builder
        # Usage naming a customer by its name or an alias is written under its id (no phantom customers).
        mapper = RowMapper(CustomerMap.load(conn), _CUSTOMER)
        # Every reader can be closed: an import that stops early (a refused file) stops its threads or process too.
        chunks: Prefetched[Item] | Generator[Item, None, None] | None = None
        if plain is not None:
            chunks = _columnar(path, plain, builder, mapper, delimiter, sqlite=conn.dialect.name == "sqlite")
        if chunks is None:
            if parallel is None:
                parallel = path.stat().st_size >= PARALLEL_BYTES
            # Forking a threaded process (a server, a scheduler) is unsafe; such callers parse in-process.
            if parallel and "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
                chunks = _parallel_chunks(path, builder, builder.unpriced_models, delimiter)
            else:
                chunks = _chunks(path, builder, delimiter)
        size = path.stat().st_size
        customers: set[str] = set()
        last_line = 1  # the header's, or the first line when no row has been read
        try:
            with closing(chunks):
                for built, bad, read, at, last in chunks:
                    last_line = max(last_line, last)
                    if progress is not None and isinstance(built, FrameChunk):
                        for rows, at_mark in built.marks:
                            progress(result.rows_read + rows, (result.rows_read + rows) * size // at_mark)
                    result.rows_read += read
                    if progress is not None:
                        progress(result.rows_read, result.rows_read * size // at if at else None)
                    for line, problem, raw in bad:
                        result.rejected += 1
                        if len(result.errors) < MAX_ERRORS_KEPT:
                            result.errors.append(BadLine(line, problem))
                        if skip_invalid:
                            rejects.append((line, problem, raw))
                    # A file to be refused is still written (and rolled back): an event id it repeats with other
                    # values is found by the writes (engine.ingest.repeats), and the refusal names every bad line.
                    if isinstance(built, FrameChunk):  # its customers were mapped as it was read
                        customers.update(built.events.get_column("customer").unique().to_list())
                        writer.add_frame(built)
                        continue
                    mapper.apply(built)
                    customers.update(row[_CUSTOMER] for row in built)
                    for row in built:
                        writer.add_row(row)
            writer.flush()
        except RowError as exc:  # the file itself (header, encoding, compression) is wrong
            _refuse(conn, engine, result, started, BadLine(getattr(exc, "line", 1), str(exc)), dry_run=dry_run)
        except Exception as exc:  # the writer's driver errors come unwrapped: told apart by sum_too_large
            if not sum_too_large(exc):
                raise
            _refuse(conn, engine, result, started, BadLine(last_line, SUM_TOO_LARGE), dry_run=dry_run)
        if writer.suspects:
            repeated = repeated_rows(path, delimiter, writer.suspects, builder=builder, customers=mapper.customers)
            _repeats(result, writer.stats, rejects, repeated, skip_invalid)
        if result.rejected and not skip_invalid:
            _refuse(conn, engine, result, started, None, dry_run=dry_run)
        rejects_path = Path(str(path) + ".rejects.csv")
        if rejects and not dry_run:
            # Written before the commit, not after: a rejects file that cannot be written (no permission, a
            # directory in the way, a full disk) then refuses the file with nothing kept, where after the commit
            # the rows were stored while the import said it had failed (and recorded no run).
            unwritten = _write_rejects(rejects_path, rejects)
            if unwritten:
                result.problem = unwritten
                _refuse(conn, engine, result, started, None, dry_run=dry_run)
            result.rejects_path = printable(str(rejects_path))
        _finish(result, writer.stats)
        result.mapped_customers = [(w, t, n) for (w, t), n in sorted(mapper.mapped.items())]
        result.suggestions = without_contracts(conn, customers)
        result.customers_without_contracts = list(result.suggestions)
        if dry_run:
            conn.rollback()
            return result
        try:
            bump_generation(conn)  # cached answers (engine/reports/cache.py) are of the data before this file
            conn.commit()
        except BaseException:
            # Nothing was imported: no rejects file may say otherwise.
            if result.rejects_path is not None:
                rejects_path.unlink(missing_ok=True)
            raise
    _record_run(engine, result, started)
    return result


def _write_rejects(path: Path, rejects: list[tuple[int, str, str]]) -> str | None:
    """Write the rejected rows to `path`: None once written, else why they cannot be (with the fix), and no
    half-written file left behind."""
    opened = False
    try:
        with open(path, "w", newline="", encoding="utf-8") as out:
            opened = True
            w = csv.writer(out)
            w.writerow(["line", "error", "row"])
            w.writerows(rejects)
        return None
    except OSError as exc:
        if opened:
            path.unlink(missing_ok=True)
        return _rejects_problem(path, len(rejects), exc)


def _rejects_problem(path: Path, count: int, exc: OSError) -> str:
    """Why the rejects file cannot be written, in the words of the fix: one line, never the OSError's traceback."""
    fix = "import a copy of the file from a folder you can write to"
    if exc.errno == errno.EISDIR or path.is_dir():
        why, fix = "it is a directory", "move that directory away"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why, fix = "the disk is full", "free some space"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    elif exc.errno == errno.EROFS:
        why = "the file system is read-only"
    else:
        why = (exc.strerror or str(exc)).lower()
    return (
        f"its {count} invalid row(s) cannot be written to {printable(str(path))} ({why}): {fix}, or fix the row(s) "
        "the import lists without --skip-invalid"
    )


def _refuse(
    conn: Connection, engine: Engine, result: ImportResult, started: datetime, why: BadLine | None, *, dry_run: bool
) -> NoReturn:
    """Refuse the whole file, for `why` (None: for the bad rows in `result`): nothing of it is kept, and the run is
    recorded (unless a dry run)."""
    conn.rollback()
    if why is not None:
        result.errors.append(why)
        result.rows_read = max(result.rows_read, why.line - 1)  # the rows before the line named were read
        result.rejected = max(result.rejected, 1)
    result.refused = True
    if not dry_run:
        _record_run(engine, result, started)
    raise ImportRefused(result) from None


@contextmanager
def _stage_released(conn: Connection) -> Iterator[None]:
    """On SQLite, let go of the schema the chunks' images were loaded into (engine.ingest.sqlite_image) once the
    import's transaction is over, so a pooled connection does not keep the last image."""
    try:
        yield
    finally:
        if conn.dialect.name == "sqlite":
            conn.rollback()  # a no-op after the commit; on a failure, what closing the connection does anyway
            release(conn.connection.driver_connection)


@contextmanager
def _journals_in_memory(conn: Connection) -> Iterator[None]:
    """On SQLite, keep the import's statement journals in memory (PRAGMA temp_store) while it runs, then put the
    setting back. Each statement that copies a chunk's image or folds its rollups journals the pages it changes
    (to undo itself alone should it fail), by default in a temporary file: the bench's 1.37M-event import wrote
    216k pages (850 MB) there in 430k write calls, half of all it made. In memory a statement's journal is a few
    MB, freed when it ends: peak RSS +17 MB, system CPU -0.5 s. SQLite refuses the change inside a transaction, so
    it is made before the import's begins (a connection already in one keeps its setting)."""
    raw = conn.connection.driver_connection
    if conn.dialect.name != "sqlite" or raw is None or raw.in_transaction:
        yield
        return
    before = int(raw.execute("PRAGMA temp_store").fetchone()[0])
    raw.execute("PRAGMA temp_store = MEMORY")
    try:
        yield
    finally:
        if not raw.in_transaction:  # rolled back or committed by then (_stage_released)
            raw.execute(f"PRAGMA temp_store = {before}")


def _repeats(
    result: ImportResult,
    stats: WriteStats,
    rejects: list[tuple[int, str, str]],
    repeats: Repeats,
    skip_invalid: bool,
) -> None:
    """Count each row repeating an earlier row's id with other values as invalid, not as already known (the writer
    skipped it as that: the first copy is the one stored), in line order among the others; and say which events an
    earlier import stored with other values (kept as stored)."""
    result.kept_as_stored = len(repeats.kept)
    result.kept_lines = repeats.kept[:KEPT_SHOWN]
    found = False
    for line, problem, raw in repeats.rows:
        found = True
        result.rejected += 1
        stats.duplicates -= 1
        if len(result.errors) < MAX_ERRORS_KEPT:
            result.errors.append(BadLine(line, problem))
        if skip_invalid:
            rejects.append((line, problem, raw))
    if found:
        result.errors.sort(key=lambda e: e.line)
        rejects.sort(key=lambda r: r[0])


def _finish(result: ImportResult, stats: WriteStats) -> None:
    result.imported = stats.imported
    result.duplicates = stats.duplicates
    result.unpriced_events = stats.unpriced_events
    result.unpriced_models = sorted(f"{p or '?'}/{m or '?'}" for p, m in stats.unpriced_models)
    result.unpriced_named = unpriced_names(stats.unpriced_models, stats.unpriced_parts)
    result.cost_usd = usd(stats.cost_nano)
    result.tier_warning = stats.tier_warning()


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
