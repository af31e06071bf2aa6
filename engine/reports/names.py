"""Finding a customer or product by what a person typed: id, name or alias, with suggestions when none fits.

Suggestions name customers, not labels: a customer known by a name, an id and two aliases is suggested once, by
its name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from sqlalchemy import Connection, text

from engine.vocab import SubjectKind

MAX_SUGGESTIONS = 3


class UnknownSubject(LookupError):
    """No customer or product by that name; carries the closest names to suggest."""

    def __init__(self, kind: SubjectKind, ref: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no {kind} {ref!r}{hint}")
        self.kind = kind
        self.ref = ref
        self.suggestions = suggestions


def resolve_customer(conn: Connection, ref: str) -> tuple[str, str]:
    """Find a customer by id, name or alias (case-insensitive). Returns (id, name); raises UnknownSubject.

    When what was typed fits several customers, the id typed exactly wins, then an id in another case, then a name,
    then an alias: every customer can be opened by its id, whatever names others carry.
    """
    typed = ref.strip()
    wanted = typed.casefold()
    # The usual case, the id itself, is one primary-key lookup; it wins whatever else the words fit.
    exact = conn.execute(text("SELECT id, name FROM customer WHERE id = :r"), {"r": typed}).first()
    if exact is not None:
        return exact[0], exact[1] or exact[0]
    # Cases compared here, not by the database's lower(): SQLite's folds only ASCII, PostgreSQL's every letter, so
    # "élan systems" found Élan Systems on one and nothing on the other.
    rows = conn.execute(text("SELECT id, name, aliases FROM customer")).all()
    by_id = [(cid, name) for cid, name, _ in rows if cid.casefold() == wanted]
    by_name = [(cid, name) for cid, name, _ in rows if (name or "").casefold() == wanted]
    by_alias = [
        (cid, name)
        for cid, name, aliases in rows
        if any(a.strip().casefold() == wanted for a in (aliases or "").split(";") if a.strip())
    ]
    for hits in (by_id, by_name, by_alias):
        if hits:
            cid, name = min(hits)
            return cid, name or cid
    raise UnknownSubject(SubjectKind.CUSTOMER, ref, suggest(typed.lower(), _labels(rows)))


Labels = dict[str, list[tuple[str, str]]]  # a lowered name, id or alias → (customer id, name shown) of each owner


def _labels(rows: Iterable[tuple[str, str | None, str | None]]) -> Labels:
    """Every way a customer is known (name, id, aliases), lowered → the customers known that way."""
    out: Labels = {}
    for cid, name, aliases in rows:
        shown = name or cid
        for label in (name or "", cid, *(aliases or "").split(";")):
            label = label.strip().lower()
            if label and (cid, shown) not in out.setdefault(label, []):
                out[label].append((cid, shown))
    return out


def suggest(
    wanted: str, labels: Labels, *, exclude: str | None = None, with_id: bool = False, cutoff: float = 0.5
) -> list[str]:
    """Up to MAX_SUGGESTIONS customers (by the name they are shown by, `with_id` adding the id where it differs)
    whose name, id or alias starts with or resembles `wanted`, each customer once, closest first."""
    prefix = [label for label in labels if wanted and label.startswith(wanted)]
    close = difflib.get_close_matches(wanted, list(labels), n=10, cutoff=cutoff)
    shown: dict[str, str] = {}  # customer id → the name it is shown by, in order of closeness
    for label in prefix + close:
        for cid, name in sorted(labels[label]):
            if cid != exclude:
                shown.setdefault(cid, name)
    names = list(shown.values())
    # Two customers may share a display name (one of them a customer that only appears in usage): name each by id.
    return [f"{n} ({cid})" if (with_id or names.count(n) > 1) and n != cid else n for cid, n in shown.items()][
        :MAX_SUGGESTIONS
    ]


def similar_customers(conn: Connection, key: str, name: str) -> list[str]:
    """Customers with a contract that `key` (a customer with usage and no contract) may have been meant to be."""
    rows = conn.execute(
        text("SELECT id, name, aliases FROM customer WHERE id IN (SELECT DISTINCT customer FROM contract)")
    ).all()
    labels = _labels(rows)
    # Stricter than for a name typed wrong: this is said unasked, on every answer about the customer.
    found = suggest(key.strip().lower(), labels, exclude=key, with_id=True, cutoff=0.7)
    if name and name.strip().lower() != key.strip().lower():
        more = suggest(name.strip().lower(), labels, exclude=key, with_id=True, cutoff=0.7)
        found += [s for s in more if s not in found]
    return found[:MAX_SUGGESTIONS]


def resolve_product(conn: Connection, ref: str) -> str:
    """Find a product by name among those with usage or a contract: the name as typed, else the one name it fits in
    any case; raises UnknownSubject (two names alike but for case, and neither typed exactly, are both suggested)."""
    typed = ref.strip()
    products = sorted(
        {
            p
            for (p,) in conn.execute(
                text("SELECT DISTINCT product FROM daily_customer_product UNION SELECT DISTINCT product FROM contract")
            )
            if p
        }
    )
    if typed in products:
        return typed
    wanted = typed.casefold()
    fits = [p for p in products if p.casefold() == wanted]
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise UnknownSubject(SubjectKind.PRODUCT, ref, fits)
    close = difflib.get_close_matches(wanted, [p.casefold() for p in products], n=3, cutoff=0.5)
    by_folded = {p.casefold(): p for p in products}
    raise UnknownSubject(SubjectKind.PRODUCT, ref, [by_folded[c] for c in close])
