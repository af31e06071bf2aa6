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

    def __init__(self, kind: SubjectKind, ref: str, suggestions: list[str], *, message: str | None = None) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(message or f"no {kind} {ref!r}{hint}")
        self.kind = kind
        self.ref = ref
        self.suggestions = suggestions


MAX_CANDIDATES = 5  # customers listed when words fit several (the rest are counted)


class AmbiguousSubject(UnknownSubject):
    """Words that are no customer's id exactly and fit several customers (a name two share, an alias, an id in
    another case): none is guessed. An UnknownSubject, so every command that resolves a customer refuses it alike
    (the CLI in one line, exit status 1; Slack in a short private reply); carries the candidates, (id, name) each."""

    def __init__(self, kind: SubjectKind, ref: str, candidates: list[tuple[str, str]], fits: str) -> None:
        listed = candidates[:MAX_CANDIDATES]
        more = f" and {len(candidates) - len(listed)} more" if len(candidates) > len(listed) else ""
        names = ", ".join(f"{cid} ({name})" for cid, name in listed) + more
        super().__init__(
            kind,
            ref,
            [cid for cid, _ in listed],
            message=f"{ref.strip()!r} is {fits} of {len(candidates)} {kind}s: {names}; ask by id",
        )
        self.candidates = candidates
        self.listed = listed  # the candidates the message names
        self.fits = fits


def resolve_customer(conn: Connection, ref: str) -> tuple[str, str]:
    """Find a customer by id, name or alias (case-insensitive). Returns (id, name); raises UnknownSubject, or
    AmbiguousSubject when the words fit several customers.

    The id typed exactly wins whatever names others carry, so every customer can be opened by its id. Otherwise the
    words must fit one customer, by its id in another case, its name or an alias: a name two customers share (or
    one's name and another's alias or id) names neither, as an import maps it to neither (engine.ingest.customers);
    picking one answered about that one with no hint the other exists.
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
    fits: dict[str, set[str]] = {"name": set(), "alias": set(), "id": set()}  # how the words fit → customer ids
    shown: dict[str, str] = {}
    for cid, name, aliases in rows:
        shown[cid] = name or cid
        if cid.casefold() == wanted:
            fits["id"].add(cid)
        if (name or "").casefold() == wanted:
            fits["name"].add(cid)
        if any(a.strip().casefold() == wanted for a in (aliases or "").split(";") if a.strip()):
            fits["alias"].add(cid)
    hits = sorted(set().union(*fits.values()))
    if len(hits) == 1:
        return hits[0], shown[hits[0]]
    if hits:
        ways = [way for way, ids in fits.items() if ids]
        said = {"name": "the name", "alias": "an alias", "id": "the id, in another case,"}
        fit = said[ways[0]] if len(ways) == 1 else f"the {', '.join(ways[:-1])} or {ways[-1]}"
        raise AmbiguousSubject(SubjectKind.CUSTOMER, ref, [(cid, shown[cid]) for cid in hits], fit)
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
