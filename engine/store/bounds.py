"""What the contract columns hold, the same on every database.

PostgreSQL refuses a value its column cannot hold; SQLite keeps whatever it is given (a fee of 1e30, a NUL byte,
a 5,000-character name). So the importer checks these bounds itself, and the readers check them again for rows
written another way (by hand, by an older version): one rule, whichever database is behind it. Loads no models.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

# Contract money (fees, prices, included units): NUMERIC(20, 6), micro-dollars up to just under $10^14.
MONEY_DIGITS: Final = 20
MONEY_PLACES: Final = 6
MONEY_MAX: Final = Decimal(10) ** (MONEY_DIGITS - MONEY_PLACES) - Decimal(10) ** -MONEY_PLACES
# Of those, SQLite (a NUMERIC kept as a double) keeps this many significant digits exactly: the import refuses more.
MONEY_SIGNIFICANT: Final = 15
# A customer's own margin bands: NUMERIC(5, 2) percentages, 0 to 100.
PCT_DIGITS: Final = 5
PCT_PLACES: Final = 2
# Seats: a 32-bit INTEGER on PostgreSQL.
SEATS_MAX: Final = 2**31 - 1
# Text columns, in characters.
TEXT_MAX: Final = {"customer": 200, "customer_name": 300, "aliases": 2000, "product": 200, "owner": 500}

# C0 and C1 control characters (NUL, tab, newline, escape, …) and lone surrogates: PostgreSQL refuses NUL in text,
# none of them belong in a name, and in Slack or a terminal they garble what is shown.
CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character(value: str) -> str | None:
    """The first control character in `value`, as U+XXXX, or None."""
    found = CONTROL.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


# An owner: Slack member IDs, U… for a member, W… for an Enterprise Grid one (uppercase letters and digits).
MEMBER_ID: Final = re.compile(r"[UW][A-Z0-9]{2,20}")
OWNER_SEPARATOR: Final = ";"


def parse_owners(text_value: str) -> tuple[str, ...]:
    """`U01;W02` → ("U01", "W02"): stripped, blanks and repeats dropped, in order. Raises ValueError naming the
    first part that is not a Slack member ID."""
    owners: list[str] = []
    for part in text_value.split(OWNER_SEPARATOR):
        part = part.strip()
        if not part:
            continue
        if not MEMBER_ID.fullmatch(part):
            raise ValueError(
                f"{part!r} is not a Slack member ID (U… or W…, e.g. U0123ABCD; in Slack: a profile → ⋯ → "
                "Copy member ID)"
            )
        if part not in owners:
            owners.append(part)
    return tuple(owners)
