"""Contracts from CSV: who pays what, for which product, from when, and who owns the account.

A file is refused whole, with every bad line and why, when a row is bad (engine.ingest.contract_rows) or has not
the header's number of fields, when two rows of one customer disagree on its owner or bands, when a customer id
is another's (of the file or stored) in another case, when a name or an alias it gives is another customer's id,
name or alias, or when a contract would overlap another of the same customer and product (engine.ingest.overlaps).
Otherwise it is written in one transaction: a contract with the same customer, product and start as a stored one
replaces it; with `supersede`, overlapped contracts are ended the day before the later one starts; the owner and
bands a file gives apply to all of that customer's contracts. A label two customers already shared before, which
the file does not give, is not refused but warned of.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text
from sqlmodel import SQLModel

from engine.ingest.contract_rows import ContractRow, parse_contract
from engine.ingest.customers import Clash, CustomerMap, clashes, contracted_rows, label
from engine.ingest.overlaps import Gap, Held, check, gaps
from engine.ingest.rollups import rebuild_customers
from engine.ingest.writer import PG_WRITER_LOCK
from engine.reports.accounts import pct_or_none
from engine.reports.figures import Thresholds
from engine.store.bounds import OWNER_SEPARATOR, parse_owners, shown
from engine.store.meta import bump_generation
from engine.timeutil import as_date

COLUMNS = (
    "customer",
    "customer_name",
    "aliases",
    "product",
    "plan",
    "start",
    "end",
    "seats",
    "seat_price_usd",
    "platform_fee_usd",
    "included_units",
    "unit",
    "unit_price_usd",
    "owner",
    "breach_pct",
    "healthy_pct",
)
ACCOUNT_COLUMNS = ("owner", "breach_pct", "healthy_pct")  # the customer's, kept equal on each of its contracts
_CHUNK = 500  # customers per IN list (well under SQLite's and PostgreSQL's parameter limits)


class ContractFileError(ValueError):
    def __init__(self, path: str, errors: list[tuple[int, str]]) -> None:
        lines = [f"{path}: refused, nothing imported:"] + [f"  line {n}: {why}" for n, why in errors]
        super().__init__("\n".join(lines))
        self.errors = errors

    @property
    def problem(self) -> str:
        """Why the file was refused, in one line: its one error, or how many there are and the first."""
        if not self.errors:
            return "refused, nothing imported"
        line, why = self.errors[0]
        if len(self.errors) == 1:
            return f"line {line}: {why}"
        return f"{len(self.errors)} errors, nothing imported; the first, line {line}: {why}"


@dataclass
class ContractImport:
    path: str
    created: int = 0
    replaced: int = 0
    customers: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # each contract --supersede ended, and why
    # Days --supersede left without a contract: the later contract ends before the one it ended did
    gaps: list[Gap] = field(default_factory=list)
    # (customer as usage named it, the contracted customer it names now, events): usage stored before a name, an alias
    # or a contract said whose it is, moved to that customer (`_claim_usage`).
    moved: list[tuple[str, str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # owners and bands changed, bands that cross the global ones
    # Labels two contracted customers are known by that the file did not give (a refusal says those it gives): stored
    # before the import refused them, they are said on every import until a file ends them, as nothing else says so.
    clashes: list[Clash] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.path}: {self.created} contract(s) added, {self.replaced} replaced, "
            f"for {len(self.customers)} customer(s)"
            + (f"; {len(self.superseded)} ended by --supersede" if self.superseded else "")
        ]
        lines += [f"  {s}" for s in self.superseded]
        lines += [f"  WARNING: {g.describe()}" for g in self.gaps]
        lines += [f"  {n}" for n in self.notes]
        lines += [f"  WARNING: {c.describe()}" for c in self.clashes]
        lines += [
            f"  moved {n} event(s) stored under {shown(was)} to {now}, whose name or alias it is now: counted as its "
            "usage from here on"
            for was, now, n in self.moved
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (`import contracts --json`)."""
        return {
            "path": self.path,
            "refused": False,
            "created": self.created,
            "replaced": self.replaced,
            "customers": self.customers,
            "superseded": self.superseded,
            "uncovered": [g.as_dict() | {"warning": g.describe()} for g in self.gaps],
            "moved": [{"was": was, "customer": now, "events": n} for was, now, n in self.moved],
            "notes": self.notes,
            "clashes": [
                {"name": c.written, "customers": [cid for cid, _, _ in c.owners], "warning": c.describe()}
                for c in self.clashes
            ],
        }


def _text(path: Path) -> str:
    """The file as text: UTF-8 (with or without a BOM), or a refusal naming the line and the fix."""
    data = path.read_bytes()  # contract files are small; decoding whole lets a bad byte be placed on its line
    if data[:2] == b"\x1f\x8b":
        raise ContractFileError(str(path), [(1, "the file is gzip-compressed: decompress it first (gunzip)")])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        why = "the file is UTF-16 text: save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8)"
        raise ContractFileError(str(path), [(1, why)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        why = f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as CSV UTF-8"
        raise ContractFileError(str(path), [(line, why)]) from None


def read_rows(path: Path, delimiter: str) -> list[ContractRow]:
    """Every row of the file, checked; ContractFileError with every bad line otherwise."""
    from engine.ingest.headers import separator_hint, unknown_columns

    parsed: list[ContractRow] = []
    errors: list[tuple[int, str]] = []
    # csv.reader, not DictReader: DictReader files a row's extra fields under a key of its own and fills missing ones
    # with None, so `5,000` unquoted would be stored as $5 and a short row read as blanks, both without a word.
    reader = csv.reader(io.StringIO(_text(path), newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise ContractFileError(str(path), [(1, "the file is empty (a header line is required)")])
        hint = separator_hint(header, COLUMNS, delimiter)
        if hint:
            raise ContractFileError(str(path), [(1, hint)])
        unknown = [h for h in header if h not in COLUMNS]
        missing = [c for c in ("customer", "plan", "start") if c not in header]
        if unknown:
            raise ContractFileError(str(path), [(1, unknown_columns(unknown, COLUMNS))])
        if missing:
            why = f"missing column(s) {missing}; the columns are: {', '.join(COLUMNS)}"
            raise ContractFileError(str(path), [(1, why)])
        repeated = list(dict.fromkeys(h for h in header if header.count(h) > 1))
        if repeated:
            # Read into a mapping, the last of the two would silently win: refused as a usage file's header is.
            why = f"a column name appears twice in the header: {', '.join(repeated)} (keep one)"
            raise ContractFileError(str(path), [(1, why)])
        width = len(header)
        seen: dict[tuple[str, str, object], int] = {}
        line = reader.line_num + 1  # where the next row starts: line_num is where a row ends (a quoted line break)
        for values in reader:
            line, at = reader.line_num + 1, line
            if not values:
                continue  # a blank line
            if len(values) != width:
                errors.append((at, _width_problem(len(values), width, delimiter)))
                continue
            try:
                item = parse_contract(dict(zip(header, values, strict=True)), at)
            except ValueError as exc:
                errors.append((at, str(exc)))
                continue
            c = item.contract
            key = (c.customer, c.product, c.start)
            if key in seen:
                errors.append((at, f"same customer, product and start as line {seen[key]}"))
                continue
            seen[key] = at
            parsed.append(item)
    except csv.Error as exc:
        errors.append((reader.line_num + 1, f"not readable as CSV: {exc}"))
    if errors:
        raise ContractFileError(str(path), errors)
    return parsed


def _width_problem(fields: int, width: int, delimiter: str) -> str:
    """A row that does not have the header's number of fields (worded as a usage file's), and the likely fix."""
    shown = "tab" if delimiter == "\t" else repr(delimiter)
    if fields > width:
        fix = (
            f"a value holding {shown} must be in double quotes; amounts are plain numbers, without thousands separators"
        )
    else:
        fix = "give every column a field, an empty one for a blank value"
    return f"has {fields} fields, the header has {width} ({fix})"


def _customer_values(rows: list[ContractRow]) -> tuple[dict[str, dict[str, tuple[int, object]]], list[tuple[int, str]]]:
    """Per customer, the owner and bands its rows give, with the line that gave each; rows that disagree refused.

    A blank cell gives nothing; owners compare as sets (`U1;U2` = `U2;U1`)."""
    given: dict[str, dict[str, tuple[int, object]]] = {}
    errors: list[tuple[int, str]] = []
    for row in rows:
        mine = given.setdefault(row.contract.customer, {})
        for key, value in row.account.items():
            if key not in mine:
                mine[key] = (row.line, value)
                continue
            line, first = mine[key]
            if not _same(first, value):
                errors.append(
                    (
                        row.line,
                        f"{key} {_shown_value(value)} differs from line {line}'s {_shown_value(first)}: "
                        f"{row.contract.customer} has one {key} across its contracts (fill it on one row, or the "
                        "same on each)",
                    )
                )
    return given, errors


def _same(a: object, b: object) -> bool:
    """Equal values of one account column; owners as sets."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return set(a) == set(b)
    return a == b


def _shown_value(value: object) -> str:
    if isinstance(value, tuple):
        return repr(OWNER_SEPARATOR.join(value)) if value else "none"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"  # 45, whether PostgreSQL kept it as 45.00 or SQLite as 45
    return "none" if value is None else str(value)


@dataclass(kw_only=True)
class _Stored:
    """A customer's stored contracts: their places in time, and the owner and bands on the latest of them."""

    held: list[Held] = field(default_factory=list)
    account: dict[str, object] = field(default_factory=dict)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _stored(conn: Connection, customers: list[str]) -> dict[str, _Stored]:
    """The stored contracts of `customers`, read as plain values: a broken stored amount (see
    engine.reports.revenue) must not stop the import that replaces it."""
    out: dict[str, _Stored] = {}
    query = text(
        'SELECT id, customer, product, start, "end", owner, breach_pct, healthy_pct FROM contract '
        "WHERE customer IN :customers ORDER BY customer, start DESC, id DESC"
    ).bindparams(bindparam("customers", expanding=True))
    for chunk in _chunks(customers):
        for cid, customer, product, start, end, owner, breach, healthy in conn.execute(query, {"customers": chunk}):
            s = out.setdefault(customer, _Stored())
            try:
                held = Held(
                    customer=customer,
                    product=product,
                    start=as_date(start),
                    end=as_date(end) if end is not None else None,
                    id=cid,
                )
            except (TypeError, ValueError):
                pass  # an unreadable date: revenue skips this contract (and says so), and so does the overlap rule
            else:
                s.held.append(held)
            # The latest contract's values (the importer keeps them equal on all; see engine.reports.accounts).
            if "owner" not in s.account and owner:
                with contextlib.suppress(ValueError):  # unreadable: as if unset (accounts() logs it)
                    s.account["owner"] = parse_owners(str(owner))
            for key, value in (("breach_pct", breach), ("healthy_pct", healthy)):
                if key not in s.account and value is not None:
                    with contextlib.suppress(ValueError):
                        s.account[key] = pct_or_none(value)
    return out


def import_contracts_file(
    engine: Engine,
    path: Path | str,
    *,
    delimiter: str = ",",
    supersede: bool = False,
    thresholds: Thresholds | None = None,
) -> ContractImport:
    """Validate every row, then write the file in one transaction (see the module's docstring).

    `delimiter` separates the CSV fields. `supersede` ends each contract an imported one overlaps the day before
    the later one starts, instead of refusing the file. `thresholds` (the global bands) only words notes about
    customer bands that cross them."""
    path = Path(path)
    rows = read_rows(path, delimiter)
    given, errors = _customer_values(rows)
    if errors:
        raise ContractFileError(str(path), sorted(errors, key=lambda e: e[0]))
    result = ContractImport(path=str(path))
    customers = list(dict.fromkeys(r.contract.customer for r in rows))
    table = SQLModel.metadata.tables["contract"]
    with engine.begin() as conn:  # one transaction: a refusal below rolls everything back
        if conn.dialect.name == "postgresql":
            # Before any write: the usage writers take it before they write customers, and moving usage below needs
            # it; taken after this import wrote a customer, a writer waiting on that row would deadlock with it.
            conn.execute(text(PG_WRITER_LOCK))
        stored = _stored(conn, customers)
        replaced: dict[int, int] = {}  # stored id → the line replacing it
        held: list[Held] = []
        for row in rows:
            c = row.contract
            match = next(
                (h for h in stored.get(c.customer, _Stored()).held if (h.product, h.start) == (c.product, c.start)),
                None,
            )
            if match is not None and match.id is not None:
                replaced[match.id] = row.line
            held.append(Held(customer=c.customer, product=c.product, start=c.start, end=c.end, line=row.line))
        held += [h for s in stored.values() for h in s.held if h.id not in replaced]
        contracted = _contract_customers(conn)
        errors = (
            _case_errors(rows, contracted)
            + _alias_errors(conn, rows, contracted)
            + _name_errors(conn, rows, contracted)
        )
        errors += _band_errors(given, stored)
        overlap_errors, closings = check(held, supersede=supersede)
        errors += overlap_errors
        if errors:
            raise ContractFileError(str(path), sorted(errors, key=lambda e: e[0]))
        by_line = {h.line: h for h in held if h.line is not None}
        for row in rows:
            row.contract.end = by_line[row.line].end  # --supersede may have ended it
        result.gaps = gaps(held, closings)
        for closing in closings:
            result.superseded.append(closing.describe())
            if closing.earlier.id is not None:
                conn.execute(table.update().where(table.c.id == closing.earlier.id).values(end=closing.earlier.end))
        if replaced:
            conn.execute(table.delete().where(table.c.id.in_(list(replaced))))
        result.replaced, result.created = len(replaced), len(rows) - len(replaced)
        account = _apply_accounts(conn, given, stored, result)
        inserts = []
        for row in rows:
            values = row.contract.model_dump(exclude={"id"})
            values.update(_column_values(account.get(row.contract.customer, {})))
            inserts.append(values)
        if inserts:  # given no rows, SQLAlchemy inserts one empty row, and the database refuses it
            conn.execute(table.insert(), inserts)
        _upsert_customers(conn, rows)
        result.moved = _claim_usage(conn)
        result.clashes = clashes(contracted_rows(conn))
        bump_generation(conn)
    result.customers = customers
    if thresholds is not None:
        result.notes += _crossing_notes(given, stored, thresholds)
    return result


def _claim_usage(conn: Connection) -> list[tuple[str, str, int]]:
    """Move the usage of each customer with neither a contract nor billed revenue whose id the contracts now map to a
    contracted customer (its name, an alias, or its id in another case: engine.ingest.customers.CustomerMap) to that
    customer, and make both customers' rollups again. Usage imported from now on is mapped so; what was stored
    before under that name would otherwise stay a customer of its own, its cost shown with no revenue, for good.
    (A customer with billed revenue of its own is left: its invoices name it.) On PostgreSQL the caller holds the
    usage writers' lock (PG_WRITER_LOCK), so no import folds these customers' rollups meanwhile."""
    loose = conn.execute(
        text(
            "SELECT id FROM customer WHERE id NOT IN (SELECT customer FROM contract) "
            "AND id NOT IN (SELECT customer FROM revenue_actual)"
        )
    ).scalars()
    mapped = CustomerMap.load(conn)
    moves = {was: now for was in loose if (now := mapped.lookup(was)) is not None}
    if not moves:
        return []
    # Two passes over the events per chunk of 500 moves, a count and the update (usage_event has no index on customer).
    counts = dict.fromkeys(moves, 0)
    for chunk in _chunks(sorted(moves)):
        params = {f"w{i}": was for i, was in enumerate(chunk)} | {f"n{i}": moves[was] for i, was in enumerate(chunk)}
        listed = ", ".join(f":w{i}" for i in range(len(chunk)))
        counted = conn.execute(
            text(f"SELECT customer, COUNT(*) FROM usage_event WHERE customer IN ({listed}) GROUP BY customer"), params
        )
        counts.update({was: int(n) for was, n in counted})
        cases = " ".join(f"WHEN :w{i} THEN :n{i}" for i in range(len(chunk)))
        conn.execute(
            text(f"UPDATE usage_event SET customer = CASE customer {cases} END WHERE customer IN ({listed})"), params
        )
        conn.execute(text(f"DELETE FROM customer WHERE id IN ({listed})"), params)
    rebuild_customers(conn, sorted({*moves, *moves.values()}))
    return [(was, moves[was], counts[was]) for was in sorted(moves) if counts[was]]


def _contract_customers(conn: Connection) -> set[str]:
    """The ids of the customers with a contract: those usage is mapped to (engine.ingest.customers.CustomerMap)."""
    return {customer for (customer,) in conn.execute(text("SELECT DISTINCT customer FROM contract"))}


def _case_errors(rows: list[ContractRow], stored: set[str]) -> list[tuple[int, str]]:
    """Each row whose customer id is another row's or a stored customer's in another case ("ACME" beside "acme").

    Usage finds a customer by its id in any case (CustomerMap compares casefolded labels), so two such ids would be
    one customer to usage and two to revenue: the overlap rule, which compares ids exactly, would let a renewal
    under the other spelling charge the same days twice, and a name both share would match neither. An id stored
    exactly as written is let through even when another spelling is stored too (from before this check), so that
    either can still be re-imported to end or correct it."""
    first: dict[str, tuple[str, int | None]] = {}  # casefolded id → its first spelling, and its line (None: stored)
    for customer in sorted(stored):
        first.setdefault(label(customer), (customer, None))
    errors = []
    for row in rows:
        customer = row.contract.customer
        if customer in stored:
            continue
        spelling, line = first.setdefault(label(customer), (customer, row.line))
        if spelling != customer:
            other = f"{spelling!r} (line {line})" if line is not None else f"the stored customer {spelling!r}"
            errors.append(
                (
                    row.line,
                    f"customer {customer!r} differs only in case from {other}: customer ids match whatever their "
                    f"case, so write it {spelling!r}",
                )
            )
    return errors


def _alias_errors(conn: Connection, rows: list[ContractRow], contracted: set[str]) -> list[tuple[int, str]]:
    """Each alias that would be another contracted customer's id (in any case) after this import, where the file
    declares it: an alias the file gives, or a stored alias that a customer the file contracts for the first time
    has as its id.

    Usage maps a label by every way a customer is known, and `/margin` resolves it so too: a label that is one
    customer's id and another's alias names neither (engine.ingest.customers.CustomerMap,
    engine.reports.names.resolve_customer), so such an alias would only ever send usage written that way to no
    customer. A clash among stored customers that the file does not give is not its doing: the import warns of it
    (engine.ingest.customers.clashes) and goes on, as the overlap rule leaves stored contracts' overlaps."""
    file_ids: dict[str, int] = {}  # customer → its first line
    given: dict[str, tuple[str, int]] = {}  # customer → the aliases this import stores for it, and their line
    for row in rows:  # as _upsert_customers: a customer's last non-blank aliases win; blank keeps what is stored
        file_ids.setdefault(row.contract.customer, row.line)
        if row.aliases:
            given[row.contract.customer] = (row.aliases, row.line)
    after = contracted | set(file_ids)
    aliases: dict[str, tuple[str, int | None]] = {}  # customer → its aliases after the import, and the line giving them
    query = text("SELECT id, aliases FROM customer WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    for chunk in _chunks(sorted(after)):
        aliases.update({cid: (a or "", None) for cid, a in conn.execute(query, {"ids": chunk})})
    aliases.update(given)
    ids: dict[str, list[str]] = {}  # casefolded id → the customers with that id, in any case
    for cid in after:
        ids.setdefault(label(cid), []).append(cid)
    errors = []
    for customer, (text_, line) in sorted(aliases.items()):
        for alias in dict.fromkeys(a.strip() for a in text_.split(";") if a.strip()):
            for other in sorted(ids.get(label(alias), [])):
                if other == customer:
                    continue
                how = "" if alias == other else " in another case"
                if line is not None:
                    errors.append(
                        (
                            line,
                            f"alias {alias!r} of {customer} is the customer id {other!r}{how}: a name must point to "
                            f"one customer (usage and /margin would take it for neither); remove it from {customer}'s "
                            "aliases",
                        )
                    )
                elif other not in contracted:
                    errors.append(
                        (
                            file_ids[other],
                            f"customer {other!r} is {customer}'s stored alias {alias!r}{how}: a name must point to "
                            f"one customer (usage and /margin would take it for neither); import {customer} with "
                            f"aliases without {alias!r}, or give this customer another id",
                        )
                    )
    return errors + _shared_alias_errors(aliases)


def _shared_alias_errors(aliases: dict[str, tuple[str, int | None]]) -> list[tuple[int, str]]:
    """Each alias two customers would both have after this import, where the file gives it to one of them (once, at
    the later line, when it gives it to both): usage written so reached neither and `/margin` refused it, with no
    word at import. `aliases`: customer → its ';'-separated aliases after the import, and the line giving them (None:
    stored). Ids alike but for case are refused as such (_case_errors), so those two are not compared here."""
    # casefolded alias → customer → (the alias as that customer writes it, its line)
    by_label: dict[str, dict[str, tuple[str, int | None]]] = {}
    for customer, (text_, line) in aliases.items():
        for alias in (a.strip() for a in text_.split(";")):
            if alias:
                by_label.setdefault(label(alias), {}).setdefault(customer, (alias, line))
    must = "a name must point to one customer (usage and /margin would take it for neither)"
    errors = []
    for owners in by_label.values():
        ranked = sorted(owners.items())
        for i, (one, (one_alias, one_line)) in enumerate(ranked):
            for two, (two_alias, two_line) in ranked[i + 1 :]:
                if label(one) == label(two) or (one_line is None and two_line is None):
                    continue  # a clash stored before this check is warned of after the import (ContractImport.clashes)
                # Said where the file gives it: at the later line when it gives it to both.
                (mine, alias, at), (other, other_alias, other_line) = sorted(
                    ((one, one_alias, one_line), (two, two_alias, two_line)),
                    key=lambda owner: -1 if owner[2] is None else owner[2],
                    reverse=True,
                )
                assert at is not None
                if other_line is not None:
                    why = f"alias {alias!r} of {mine} is also an alias of {other} (line {other_line})"
                    fix = f"remove it from {mine}'s aliases or {other_alias!r} from {other}'s"
                else:
                    why = f"alias {alias!r} of {mine} is also a stored alias of {other}"
                    fix = f"remove it from {mine}'s aliases, or import {other} with aliases without {other_alias!r}"
                errors.append((at, f"{why}: {must}; {fix}"))
    return errors


def _name_errors(conn: Connection, rows: list[ContractRow], contracted: set[str]) -> list[tuple[int, str]]:
    """Each customer name that would be another contracted customer's id (in any case), name or alias after this
    import, where the file declares one of the two: a name the file gives (a new customer's name is declared on its
    first line), an alias it gives, or the id of a customer it contracts for the first time.

    As with an alias (_alias_errors), usage and `/margin` take a label two customers are known by for neither: with
    `acme-labs` named "Acme" beside `acme`, usage written "Acme" would stop reaching acme and become a customer of
    its own, unannounced. A customer's name equal to its own id, or to one of its own aliases, is no clash; a clash
    among stored customers that the file does not give is warned of after the import (_alias_errors says why)."""
    first: dict[str, int] = {}  # customer → its first line
    names: dict[str, tuple[str, int]] = {}  # customer → the name this import stores for it, and its line
    given: dict[str, tuple[str, int]] = {}  # customer → the aliases this import stores for it, and their line
    for row in rows:  # as _upsert_customers: a customer's last non-blank name and aliases win
        first.setdefault(row.contract.customer, row.line)
        if row.name:
            names[row.contract.customer] = (row.name, row.line)
        if row.aliases:
            given[row.contract.customer] = (row.aliases, row.line)
    after = contracted | set(first)
    known: dict[str, tuple[str, str]] = {}  # customer → its stored name and aliases
    query = text("SELECT id, name, aliases FROM customer WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    for chunk in _chunks(sorted(after)):
        known.update({cid: (name or "", aliases or "") for cid, name, aliases in conn.execute(query, {"ids": chunk})})
    new = {cid: line for cid, line in first.items() if cid not in contracted}
    # Every label after the import: casefolded → (customer, "id" | "name" | "alias", as written, the line declaring it)
    by_label: dict[str, list[tuple[str, str, str, int | None]]] = {}
    for cid in sorted(after):
        stored_name, stored_aliases = known.get(cid, ("", ""))
        name, name_line = names.get(cid, (stored_name or cid, new.get(cid)))
        alias_text, alias_line = given.get(cid, (stored_aliases, None))
        labels = [("id", cid, new.get(cid))]
        if label(name) != label(cid):  # a name that is its own id clashes only as the id does (_case_errors, aliases)
            labels.append(("name", name, name_line))
        for alias in dict.fromkeys(a.strip() for a in alias_text.split(";") if a.strip()):
            labels.append(("alias", alias, alias_line))
        for kind, written, line in labels:
            by_label.setdefault(label(written), []).append((cid, kind, written, line))
    must = "a name must point to one customer (usage and /margin would take it for neither)"
    errors = []
    for found in by_label.values():
        for customer, kind, name, line in found:
            if kind != "name":
                continue
            for other, other_kind, other_text, other_line in found:
                if label(other) == label(customer) or (other_kind == "name" and other < customer):
                    continue  # ids alike in case are refused as such (_case_errors); a shared name is said once
                if line is None and other_line is None:
                    continue
                if other_kind == "id":
                    how = "" if name == other else " in another case"
                    if line is not None:
                        why = f"name {name!r} of {customer} is the customer id {other!r}{how}: {must}; give {customer}"
                        errors.append((line, f"{why} another customer_name"))
                    else:
                        errors.append(
                            (
                                other_line or 0,
                                f"customer {other!r} is {customer}'s stored name {name!r}{how}: {must}; import "
                                f"{customer} with another customer_name, or give this customer another id",
                            )
                        )
                elif other_kind == "name":
                    at = max(x for x in (line, other_line) if x is not None)
                    errors.append(
                        (
                            at,
                            f"name {name!r} of {customer} is also the name of {other}: {must}; give one of them "
                            "another customer_name",
                        )
                    )
                elif line is not None:
                    errors.append(
                        (
                            line,
                            f"name {name!r} of {customer} is an alias of {other}: {must}; give {customer} another "
                            f"customer_name, or remove {other_text!r} from {other}'s aliases",
                        )
                    )
                else:
                    errors.append(
                        (
                            other_line or 0,
                            f"alias {other_text!r} of {other} is the name of {customer}: {must}; remove it from "
                            f"{other}'s aliases",
                        )
                    )
    return errors


def _effective(
    customer: str, given: dict[str, dict[str, tuple[int, object]]], stored: dict[str, _Stored]
) -> dict[str, object]:
    """The customer's owner and bands after this import: what the file gives, else what is stored."""
    out = dict(stored[customer].account) if customer in stored else {}
    out.update({key: value for key, (_, value) in given.get(customer, {}).items()})
    return out


def _band_errors(given: dict[str, dict[str, tuple[int, object]]], stored: dict[str, _Stored]) -> list[tuple[int, str]]:
    """A band the file gives that crosses the customer's other band, given on another row or stored. (One row's
    own pair is checked with the row.)"""
    errors = []
    for customer, mine in given.items():
        values = _effective(customer, given, stored)
        breach, healthy = values.get("breach_pct"), values.get("healthy_pct")
        if not (isinstance(breach, Decimal) and isinstance(healthy, Decimal) and breach > healthy):
            continue
        lines = [mine[k][0] for k in ("breach_pct", "healthy_pct") if k in mine]
        if not lines:
            continue  # neither comes from this file: not its doing
        source = {k: f"line {mine[k][0]}" if k in mine else "stored" for k in ("breach_pct", "healthy_pct")}
        errors.append(
            (
                max(lines),
                f"{customer}'s breach_pct {_shown_value(breach)} ({source['breach_pct']}) is above its healthy_pct "
                f"{_shown_value(healthy)} "
                f"({source['healthy_pct']}): the breach line must be at or below the healthy one",
            )
        )
    return errors


def _column_values(account: dict[str, object]) -> dict[str, object]:
    owners = account.get("owner") or ()
    assert isinstance(owners, tuple)
    return {
        "owner": OWNER_SEPARATOR.join(owners),
        "breach_pct": account.get("breach_pct"),
        "healthy_pct": account.get("healthy_pct"),
    }


def _apply_accounts(
    conn: Connection,
    given: dict[str, dict[str, tuple[int, object]]],
    stored: dict[str, _Stored],
    result: ContractImport,
) -> dict[str, dict[str, object]]:
    """Each customer's owner and bands after the import, written onto its stored contracts where the file
    changes them; changes to a customer that had values are noted."""
    table = SQLModel.metadata.tables["contract"]
    out: dict[str, dict[str, object]] = {}
    for customer in given:
        after = _effective(customer, given, stored)
        out[customer] = after
        before = stored[customer].account if customer in stored else {}
        changed = {k: after.get(k) for k in ACCOUNT_COLUMNS if k in given[customer] and after.get(k) != before.get(k)}
        if not changed or customer not in stored:
            continue
        conn.execute(
            table.update()
            .where(table.c.customer == customer)
            .values({k: v for k, v in _column_values(after).items() if k in changed})
        )
        if any(k in before for k in changed):
            was = ", ".join(f"{k} {_shown_value(before.get(k))}" for k in changed)
            now = ", ".join(f"{k} {_shown_value(v)}" for k, v in changed.items())
            result.notes.append(f"{customer}: {now} (was {was})")
    return out


def _crossing_notes(
    given: dict[str, dict[str, tuple[int, object]]], stored: dict[str, _Stored], thresholds: Thresholds
) -> list[str]:
    """Customers whose one own band crosses the other, global, band: they get no watch band (see
    engine.reports.accounts.Account.thresholds). Said, not refused: the global bands can change after import."""
    notes = []
    for customer in given:
        values = _effective(customer, given, stored)
        breach, healthy = values.get("breach_pct"), values.get("healthy_pct")
        if isinstance(breach, Decimal) and healthy is None and breach > thresholds.healthy_pct:
            notes.append(
                f"{customer}: breach_pct {_shown_value(breach)} is above the global healthy line "
                f"({_shown_value(thresholds.healthy_pct)}): {customer} has no watch band (healthy from "
                f"{_shown_value(breach)}%); set its healthy_pct to give it one"
            )
        if isinstance(healthy, Decimal) and breach is None and healthy < thresholds.breach_pct:
            notes.append(
                f"{customer}: healthy_pct {_shown_value(healthy)} is below the global breach line "
                f"({_shown_value(thresholds.breach_pct)}): {customer} has no watch band (in breach under "
                f"{_shown_value(healthy)}%); set its breach_pct to give it one"
            )
    return notes


def _upsert_customers(conn: Connection, rows: Iterable[ContractRow]) -> None:
    """Add the customers the file names; update the name and aliases of known ones where the file gives them."""
    table = SQLModel.metadata.tables["customer"]
    names: dict[str, tuple[str, str]] = {}
    for row in rows:
        name, aliases = names.get(row.contract.customer, ("", ""))
        names[row.contract.customer] = (row.name or name, row.aliases or aliases)
    query = text("SELECT id, name, aliases FROM customer WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    known: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(list(names)):
        known.update({cid: (name, aliases) for cid, name, aliases in conn.execute(query, {"ids": chunk})})
    new = [
        {"id": cid, "name": name or cid, "aliases": aliases}
        for cid, (name, aliases) in names.items()
        if cid not in known
    ]
    if new:
        conn.execute(table.insert(), new)
    for cid, (name, aliases) in names.items():
        if cid in known:
            old_name, old_aliases = known[cid]
            values = {"name": name or old_name or cid, "aliases": aliases or old_aliases}
            if values != {"name": old_name, "aliases": old_aliases}:
                conn.execute(table.update().where(table.c.id == cid).values(values))
