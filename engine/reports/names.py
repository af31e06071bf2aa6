"""Finding a customer or product by what a person typed: id, name or alias, with suggestions when none fits."""

from __future__ import annotations

import difflib

from sqlalchemy import Connection, text

from engine.vocab import SubjectKind


class UnknownSubject(LookupError):
    """No customer or product by that name; carries the closest names to suggest."""

    def __init__(self, kind: SubjectKind, ref: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no {kind} {ref!r}{hint}")
        self.kind = kind
        self.ref = ref
        self.suggestions = suggestions


def resolve_customer(conn: Connection, ref: str) -> tuple[str, str]:
    """Find a customer by id, name or alias (case-insensitive). Returns (id, name); raises UnknownSubject."""
    wanted = ref.strip().lower()
    # The usual case, an exact id or name, is one indexed lookup or one narrow scan in the database.
    hit = conn.execute(
        text("SELECT id, name FROM customer WHERE id = :r OR lower(id) = :w OR lower(name) = :w LIMIT 1"),
        {"r": ref.strip(), "w": wanted},
    ).first()
    if hit is not None:
        return hit[0], hit[1] or hit[0]
    rows = conn.execute(text("SELECT id, name, aliases FROM customer")).all()
    candidates: dict[str, str] = {}
    for cid, name, aliases in rows:
        # The name first: suggestions read better as "Globex" than as the id "globex".
        labels = [name or "", cid, *(aliases or "").split(";")]
        for label in labels:
            label = label.strip()
            if not label:
                continue
            if label.lower() == wanted:
                return cid, name or cid
            candidates.setdefault(label.lower(), label)
    close = difflib.get_close_matches(wanted, list(candidates), n=3, cutoff=0.5)
    prefix = [candidates[k] for k in candidates if k.startswith(wanted) and wanted]
    suggestions = list(dict.fromkeys(prefix[:3] + [candidates[k] for k in close]))[:3]
    raise UnknownSubject(SubjectKind.CUSTOMER, ref, suggestions)


def resolve_product(conn: Connection, ref: str) -> str:
    """Find a product by name (case-insensitive) among those with usage or a contract; raises UnknownSubject."""
    wanted = ref.strip().lower()
    products = [
        p
        for (p,) in conn.execute(
            text("SELECT DISTINCT product FROM daily_customer_product UNION SELECT DISTINCT product FROM contract")
        )
        if p
    ]
    for p in products:
        if p.lower() == wanted:
            return p
    close = difflib.get_close_matches(wanted, [p.lower() for p in products], n=3, cutoff=0.5)
    by_lower = {p.lower(): p for p in products}
    raise UnknownSubject(SubjectKind.PRODUCT, ref, [by_lower[c] for c in close])
