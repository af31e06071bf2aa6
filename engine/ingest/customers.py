"""Which customer a usage record means: the `customer` a file or a source writes, mapped to a customer's id.

Usage often names a customer the way people do ("Acme Corp", "ACME") rather than by the id its contract has
("acme"). Imported as written, it becomes a second customer with usage and no revenue (a phantom). So an import
loads a `CustomerMap` once, from the customers that have a contract, and maps every event's customer through it
before the event is written: an id stays as it is; a name, an alias or an id in another case (compared
casefolded) becomes that customer's id. A label two customers share, however each is known by it, maps to
neither (it stays as written, and shows up as a customer without a contract, with both suggested), as `/margin`
refuses it. Customers still without a contract after the
mapping are listed by the import with "did you mean" suggestions (engine.reports.names).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from engine.reports.names import similar_customers

MAX_LISTED = 10  # customers without a contract named in a summary (the rest are counted)


def label(name: str) -> str:
    """How a name is compared: stripped and casefolded ("Straße" and "STRASSE" are one label)."""
    return name.strip().casefold()


def contracted_rows(conn: Connection) -> list[tuple[str, str, str]]:
    """(id, name, ';'-separated aliases) of each customer with a contract: those usage is mapped to."""
    rows = conn.execute(
        text("SELECT id, name, aliases FROM customer WHERE id IN (SELECT DISTINCT customer FROM contract)")
    ).all()
    return [(cid, name or "", aliases or "") for cid, name, aliases in rows]


@dataclass(frozen=True)
class CustomerMap:
    """`{casefolded name, alias or id: customer id}` over the customers with a contract, plus their exact ids."""

    ids: frozenset[str] = frozenset()
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: Connection) -> CustomerMap:
        return cls.build(contracted_rows(conn))

    @classmethod
    def build(cls, customers: Iterable[tuple[str, str, str]]) -> CustomerMap:
        """From (id, name, ';'-separated aliases). A label that fits two customers, whichever way each is known by
        it (one's id in another case and the other's alias, a name both share), maps to neither, as `/margin`
        refuses it (engine.reports.names.resolve_customer): the contracts import refuses an alias that is another
        customer's id and a name that is another customer's id, name or alias, and this keeps a clash stored before
        those checks unresolved on both paths alike."""
        owners: dict[str, set[str]] = {}
        ids: set[str] = set()
        for cid, name, aliases in customers:
            ids.add(cid)
            for text_ in (cid, name, *aliases.split(";")):
                key = label(text_)
                if key:
                    owners.setdefault(key, set()).add(cid)
        labels = {key: next(iter(found)) for key, found in owners.items() if len(found) == 1}
        return cls(ids=frozenset(ids), labels=labels)

    def lookup(self, customer: str) -> str | None:
        """The id `customer` (as a usage record writes it) means, when that is another string; else None."""
        if customer in self.ids:
            return None
        target = self.labels.get(label(customer))
        return target if target is not None and target != customer else None

    def renames(self, customers: Iterable[str]) -> dict[str, str]:
        """`{as written: id}` for those of `customers` that map elsewhere: a vectorised path replaces with it."""
        out: dict[str, str] = {}
        for customer in set(customers):
            target = self.lookup(customer)
            if target is not None:
                out[customer] = target
        return out


@dataclass(frozen=True)
class Clash:
    """A label two customers or more are known by: usage written so reaches none of them and `/margin` refuses it."""

    written: str  # as the first of them (by id) writes it
    owners: tuple[tuple[str, str, str], ...]  # (customer id, "id" | "name" | "alias", as it writes it), by id

    def describe(self) -> str:
        """One line: who holds the label, how, and what to import to end it."""
        who = " and ".join(f"{cid}'s {how}" for cid, how, _ in self.owners)
        fixes = [
            f"{cid} with {'another customer_name' if how == 'name' else f'aliases without {written!r}'}"
            for cid, how, written in self.owners
            if how != "id"
        ]
        ids = sum(1 for _, how, _ in self.owners if how == "id")
        if ids or len(fixes) == 1:  # an id stays: every other holder must let go of it
            fix = "import " + " and ".join(fixes) if fixes else "ask /margin by the exact id"
        elif len(fixes) == 2:
            fix = "import " + " or ".join(fixes)
        else:
            fix = "import all but one of " + "; ".join(fixes)
        # An id typed exactly is that customer's, on both paths; any other spelling of it is no one's.
        so = "written so (but for an id exactly)" if ids else "written so"
        none = "neither" if len(self.owners) == 2 else "none of them"
        return (
            f"{self.written!r} is {who}, stored before imports refused such a clash: usage {so} reaches {none} "
            f"and /margin refuses it; {fix}"
        )


def clashes(customers: Iterable[tuple[str, str, str]]) -> list[Clash]:
    """From (id, name, ';'-separated aliases): each label two customers or more are known by, as CustomerMap.build
    compares them (one customer known twice by it is one owner, by the first of its id, name and aliases)."""
    owners: dict[str, dict[str, tuple[str, str]]] = {}  # label → customer → (how, as written)
    for cid, name, aliases in sorted(customers):
        for how, text_ in (("id", cid), ("name", name), *(("alias", a) for a in aliases.split(";"))):
            if key := label(text_):
                owners.setdefault(key, {}).setdefault(cid, (how, text_.strip()))
    out = []
    for found in owners.values():
        if len(found) > 1:
            # Said as a name or an alias writes it where one does: the id is the spelling that still works.
            spelled = [text_ for how, text_ in found.values() if how != "id"] or [t for _, t in found.values()]
            out.append(Clash(written=spelled[0], owners=tuple((cid, how, t) for cid, (how, t) in found.items())))
    return sorted(out, key=lambda c: (label(c.written), c.owners))


class RowMapper:
    """Applies a CustomerMap to built usage_event rows (tuples) and counts what it mapped, per (written, id)."""

    def __init__(self, customers: CustomerMap, index: int) -> None:
        self.customers = customers
        self.index = index
        self.mapped: Counter[tuple[str, str]] = Counter()
        self._seen: dict[str, str | None] = {}  # as written → id (None: unchanged); a file repeats few names

    def apply(self, rows: list[tuple[Any, ...]]) -> None:
        """Map the customer of each row in place."""
        if not self.customers.labels:
            return
        i, seen = self.index, self._seen
        for n, row in enumerate(rows):
            written = row[i]
            try:
                target = seen[written]
            except KeyError:
                target = seen[written] = self.customers.lookup(written)
            if target is not None:
                rows[n] = (*row[:i], target, *row[i + 1 :])
                self.mapped[(written, target)] += 1


def mapped_lines(mapped: Counter[tuple[str, str]]) -> list[str]:
    """`mapped 'Acme Corp' → acme (12 events)`, most events first."""
    return [
        f"mapped {written!r} → {target} ({n} event{'' if n == 1 else 's'})"
        for (written, target), n in sorted(mapped.items(), key=lambda item: (-item[1], item[0]))
    ]


def without_contracts(conn: Connection, customers: Iterable[str]) -> dict[str, list[str]]:
    """Of `customers`, those without a contract → up to three customers with a contract they may mean."""
    with_contract = {c for (c,) in conn.execute(text("SELECT DISTINCT customer FROM contract"))}
    missing = sorted(set(customers) - with_contract)
    return {c: similar_customers(conn, c, c) if i < MAX_LISTED else [] for i, c in enumerate(missing)}


def without_contract_line(suggestions: dict[str, list[str]], *, dry_run: bool = False) -> str | None:
    """One line naming the customers without a contract (their usage shows as NO REVENUE), with suggestions."""
    if not suggestions:
        return None
    shown = []
    for customer, similar in list(suggestions.items())[:MAX_LISTED]:
        shown.append(f"{customer} (did you mean {' or '.join(similar)}?)" if similar else customer)
    more = f" and {len(suggestions) - MAX_LISTED} more" if len(suggestions) > MAX_LISTED else ""
    shows = "will show no revenue" if dry_run else "shows as NO REVENUE"
    return (
        f"{len(suggestions)} customer(s) without a contract (their usage {shows}): {', '.join(shown)}{more}; "
        "add them with `marginbot import contracts`"
    )
