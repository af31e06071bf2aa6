"""SQLite's bulk path for columnar chunks: the chunk's events become a small SQLite database image, made in C, which
the import's own connection copies into `usage_event` with one INSERT … SELECT.

Why: binding each of an event's 36 values from Python was most of a SQLite import (the rows built as Python tuples,
each value bound by the sqlite3 module: ~12 s of a 1.37M-event import's 30). ADBC's SQLite driver binds Arrow
columns in C with the GIL released, so a thread of its own builds chunk N+1's image (engine.ingest.files._imaged) while
the writer copies chunk N.

The driver carries its own SQLite library. Two SQLite libraries must never have the same file open in one process
(POSIX locks belong to the process, and each library would drop the other's), so the driver only ever writes a
private scratch file, and the import's connection receives that file's bytes (`sqlite3.Connection.deserialize`)
into an in-memory schema attached for the purpose: no file is opened by both.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

# The in-memory schema a chunk's image is loaded into on the import's connection, and the table it holds.
STAGE = "marginbot_stage"
STAGE_TABLE = f"{STAGE}.event"


def image(tables: dict[str, pl.DataFrame]) -> bytes:
    """The bytes of a SQLite database holding each frame as a table of its name, its rows in frame order.

    Booleans are written as 0 and 1 and text as text, so copying a table into one of ours stores exactly what
    binding the same values from Python does (ts and day are already the text SQLite stores)."""
    # Imported here: the commands that never write usage (the reports, the bot's answers) start without them.
    import adbc_driver_sqlite.dbapi as adbc_sqlite
    import polars as pl

    fd, name = tempfile.mkstemp(prefix="marginbot-chunk-", suffix=".db")
    os.close(fd)
    try:
        with adbc_sqlite.connect(name, autocommit=True) as conn, conn.cursor() as cur:
            # A scratch file read back once, then deleted: no journal, no waiting for the disk.
            cur.execute("PRAGMA journal_mode = OFF")
            cur.execute("PRAGMA synchronous = OFF")
            # The whole image in the page cache until it is written once at the end: with the default 2 MB cache
            # SQLite writes pages out and reads them back as the image grows (a third of the time it takes).
            cur.execute("PRAGMA cache_size = -65536")
            cur.execute("BEGIN")
            for table, frame in tables.items():
                cur.adbc_ingest(table, frame.with_columns(pl.col(pl.Boolean).cast(pl.Int64)), mode="create")
            cur.execute("COMMIT")
        return Path(name).read_bytes()
    except adbc_sqlite.Error as exc:
        # Only the scratch file can fail here (a full or read-only temporary folder): said as the OSError it is,
        # which the command line turns into one line naming the file.
        reason = str(exc).lower()
        code = errno.ENOSPC if "full" in reason else errno.EACCES if "readonly" in reason else errno.EIO
        raise OSError(code, f"cannot write a scratch file ({exc})", name) from exc
    finally:
        os.unlink(name)


@dataclass(frozen=True)
class EventImage:
    """A chunk's events as a database image (table `event`, which STAGE_TABLE names), without the columns that hold
    one value in every row: those are `constants`, bound once into the statement that copies the table."""

    data: bytes
    constants: dict[str, Any]


def event_image(events: pl.DataFrame, tables: dict[str, pl.DataFrame] | None = None) -> EventImage:
    """`events` (usage_event's columns, in its layout) as an EventImage, with `tables` (other frames the writer
    reads from the same image) beside them. The columns that never vary within a chunk (the source, the tier, unused
    counts and cost types: often a third of them) are left out of the image: each value written into it costs as
    much as the whole copy's share of it."""
    import polars as pl

    same = events.select(
        ((pl.col(c).min() == pl.col(c).max()) & (pl.col(c).null_count() == 0)) | (pl.col(c).null_count() == pl.len())
        for c in events.columns
        if c != "event_id"  # one row of the image per event, whatever else varies
    ).row(0, named=True)
    constant = [c for c, one in same.items() if one] if events.height else []
    first = events.select(constant).row(0, named=True) if constant else {}
    return EventImage(image({"event": events.drop(constant), **(tables or {})}), first)


_loaded = count(1)


def load_image(raw: Any, image: bytes) -> str:
    """Make `image` the content of STAGE on the import's sqlite3 connection `raw` (attaching STAGE the first time),
    replacing the previous chunk's. Allowed inside the import's transaction, which only reads STAGE.

    Returns a comment to end every statement that reads this image with. The sqlite3 module reuses a prepared
    statement of the same text, and SQLite does not notice that the schema under it was replaced: a statement
    prepared for the previous image would read this one's pages by the previous one's layout (wrong rows, no
    error). A new text is prepared afresh."""
    attach_stage(raw)
    raw.deserialize(image, name=STAGE)
    return f" /* image {next(_loaded)} */"


def attach_stage(raw: Any) -> None:
    """Attach STAGE to the sqlite3 connection `raw` unless it is. SQLite refuses to attach inside a transaction, so
    a writer attaches it before its transaction begins (engine.ingest.writer.begin_writing)."""
    attached = {row[1] for row in raw.execute("PRAGMA database_list")}
    if STAGE not in attached:
        raw.execute(f"ATTACH DATABASE ':memory:' AS {STAGE}")


def release(raw: Any) -> None:
    """Detach STAGE (and free its last image) once the import's transaction is over; a no-op when not attached or
    while a transaction still holds it (the connection then keeps it until its next import reuses it)."""
    attached = {row[1] for row in raw.execute("PRAGMA database_list")}
    if STAGE in attached and not raw.in_transaction:
        raw.execute(f"DETACH DATABASE {STAGE}")
