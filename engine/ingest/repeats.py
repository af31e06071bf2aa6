"""An event id given twice in one file with different values is not one event sent twice: the later row is an
invalid row naming the earlier one, never skipped as "already known".

The writers (engine.ingest.writer) only learn that an id they skipped is stored with other values (`suspects`); only
then is the file read again, here, to tell a repeat within the file (reported, with both lines) from an event stored
by an earlier import (skipped, as a re-sent event always is, and said: a stored event is never replaced, so a
corrected file changes nothing). A file without such ids is read once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.ingest.customers import CustomerMap
from engine.ingest.events import ParsedEvent, RowError, parse_event, shown
from engine.ingest.reading import Position, file_rows, record_json
from engine.ingest.writer import INPUT_COLUMNS, RowBuilder

# ParsedEvent's fields that are not the CSV column of the same name.
_COLUMN = {"compute_ms": "compute_seconds", "source_cost_nano": "cost_usd"}


@dataclass
class Repeats:
    """What a second read of a file found about the ids the writers noted (`repeated_rows`)."""

    # (line, reason, raw row as JSON) of each row repeating an earlier row's id with other values: invalid rows.
    rows: list[tuple[int, str, str]] = field(default_factory=list)
    # (line, event id) of the first copy of each id stored by an earlier import with other values: kept as stored.
    kept: list[tuple[int, str]] = field(default_factory=list)


def repeated_rows(
    path: Path, delimiter: str, suspects: Collection[str], *, builder: RowBuilder, customers: CustomerMap
) -> Repeats:
    """Each valid row whose event id a valid row before it in the file has, with other values (the first valid copy
    in the file is the one the writers keep); and the ids of `suspects` the file gives alike every time, which an
    earlier import must have stored with other values. Rows are compared as the writers stored them: a customer
    named by its name or an alias is its id (`customers`), and a row the pricing refused (`builder`) was never a
    copy of anything."""
    found = Repeats()
    first: dict[str, tuple[int, ParsedEvent]] = {}
    repeated: set[str] = set()
    at = Position()
    for line, raw, _problem, parsed in file_rows(path, delimiter, at):
        if parsed is None:
            if not isinstance(raw, Mapping):
                continue
            try:
                parsed = parse_event(raw)
            except RowError:  # reported with the file's other invalid rows
                continue
        if parsed.event_id not in suspects:
            continue
        try:
            builder.build(parsed)
        except RowError:  # priced past what one event can cost: reported with the other invalid rows
            continue
        parsed = parsed._replace(customer=customers.lookup(parsed.customer) or parsed.customer)
        seen = first.setdefault(parsed.event_id, (line, parsed))
        if seen[0] == line:
            continue
        differ = [
            _COLUMN.get(name, name)
            for name, was, now in zip(INPUT_COLUMNS, seen[1][1:], parsed[1:], strict=True)
            if was != now
        ]
        if not differ:  # the same event sent twice: skipped, as any re-sent event
            continue
        if isinstance(raw, list):  # a row the fast parser took
            raw = dict(zip(at.header, raw, strict=True))
        reason = (
            f"event_id {shown(parsed.event_id)} is on line {seen[0]} too, with another {', '.join(differ)}: "
            "two events need two ids; give this one its own, or delete the copy that is wrong"
        )
        repeated.add(parsed.event_id)
        found.rows.append((line, reason, record_json(raw) if raw is not None else ""))
    # An id noted whose copies here all agree was stored before with other values. (One the file also repeats with
    # other values may be that too, or only the repeat: its repeat is reported, and it is not counted here.)
    found.kept = sorted((line, event_id) for event_id, (line, _) in first.items() if event_id not in repeated)
    return found
