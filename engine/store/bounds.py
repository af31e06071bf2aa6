"""What the contract columns hold, the same on every database.

PostgreSQL refuses a value its column cannot hold; SQLite keeps whatever it is given (a fee of 1e30, a NUL byte,
a 5,000-character name). So the importer checks these bounds itself, and the readers check them again for rows
written another way (by hand, by an older version): one rule, whichever database is behind it. Loads no models.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from engine.money import MICRO

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
# Longer than any amount the columns hold, however written: refused before it is parsed.
NUMBER_CHARS: Final = 60
# Text columns, in characters.
TEXT_MAX: Final = {"customer": 200, "customer_name": 300, "aliases": 2000, "product": 200, "owner": 500}

# Characters that show as nothing or turn the text around them: the soft hyphen, the zero-width space, the word
# joiner and invisible operators, the byte order mark, the line and paragraph separators, the Mongolian vowel
# separator, and the bidirectional marks (Arabic's too), embeddings, overrides and isolates. In a name they make two
# that look the same ("acme" and "acme" with a zero-width space: two customers, one with no contract) or one that
# reads otherwise than it is; none is typed by hand. The zero-width joiner and non-joiner stay: Persian, Hindi and
# emoji need them (and the tag characters of flag emoji).
INVISIBLE: Final = "\u00ad\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
# C0 and C1 control characters (NUL, tab, newline, escape, …), lone surrogates and INVISIBLE: PostgreSQL refuses NUL
# in text, none of them belong in a name, and in Slack or a terminal they garble what is shown.
CONTROL: Final = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{INVISIBLE}]")
_INVISIBLE: Final = re.compile(f"[{INVISIBLE}]")


def control_character(value: str) -> str | None:
    """The first control (or invisible) character in `value`, as U+XXXX, or None."""
    found = CONTROL.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def character_kind(code: str) -> str:
    """What the character `control_character` found is, in words: "a control character", "a lone surrogate" or "an
    invisible character" (INVISIBLE: a zero-width, formatting or text-direction one)."""
    char = chr(int(code[2:], 16))
    if "\ud800" <= char <= "\udfff":
        return "a lone surrogate"
    return "an invisible character" if _INVISIBLE.match(char) else "a control character"


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


def shown(value: str, limit: int = 40) -> str:
    """`value` quoted for an error line, cut short: a refusal must not echo a 100,000-character cell."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"… ({len(value):,} characters)"


# A number as the docs write one: ASCII digits, a point, an exponent. Decimal() also reads 100_000, ４２ and ٤٢. (The
# usage import holds its counts and amounts to it too: engine.ingest.events.)
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]+")  # 99,50 or 0,125: a European decimal, unless it is _THOUSANDS
_THOUSANDS = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?")  # 1,000 or 12,345.67: thousands separators


def decimal_comma(text: str) -> str | None:
    """`text` with its point, when it is an amount written with a decimal comma (`99,50` → `99.50`, `0,125` →
    `0.125`; `1,000` and `12,345` are thousands separators); else None. The contracts import, the usage import and
    a what-if's new price say so alike."""
    text = text.strip()
    if _DECIMAL_COMMA.fullmatch(text) and not _THOUSANDS.fullmatch(text):
        return text.replace(",", ".")
    return None


def number_hint(text: str) -> str:
    """The fix for a number that is not PLAIN_NUMBER, as an error line's parenthesis (else ""): a decimal comma
    (`0,05`: write 0.05), thousands separators (`1,000`: write 1000), a currency sign. The contracts import and the
    usage import (its row and columnar paths alike) word it so."""
    text = text.strip()
    if (pointed := decimal_comma(text)) is not None:
        return f" (write decimals with a point: {pointed})"
    if _THOUSANDS.fullmatch(text):
        return f" (no thousands separators: write {text.replace(',', '')})"
    if any(c in text for c in "$,€£ _"):
        return " (no currency signs or thousands separators)"
    return ""


def number(key: str, text: str) -> Decimal:
    if len(text) > NUMBER_CHARS:
        raise ValueError(f"{key} must be a number, got {shown(text)}")
    if not PLAIN_NUMBER.fullmatch(text):
        raise ValueError(f"{key} must be a number{number_hint(text)}, got {shown(text)}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{key} must be a number, got {shown(text)}") from None
    if not value.is_finite():
        raise ValueError(f"{key} must be a number, got {shown(text)}")
    return value


def amount(key: str, text: str) -> Decimal:
    """A contract amount written as `text` (a fee, a price, included units): non-negative, at most MONEY_MAX (what
    NUMERIC(20, 6) holds), at most 6 decimal places and MONEY_SIGNIFICANT significant digits. Raises ValueError
    naming `key`: the contracts import and a what-if's new price hold amounts to the same rule."""
    value = number(key, text)
    if value < 0:
        raise ValueError(f"{key} must be a non-negative number, got {shown(text)}")
    if value > MONEY_MAX:
        raise ValueError(f"{key} {shown(text)} is more than a contract holds (at most {MONEY_MAX:,})")
    # PostgreSQL would round a seventh decimal away and SQLite keep it: refuse it rather than let the two differ.
    if value.quantize(MICRO) != value:
        raise ValueError(f"{key} {shown(text)} has more than 6 decimal places (contract amounts are kept to $0.000001)")
    # SQLite keeps a NUMERIC as a double, exact to 15 significant digits: 1234567890123.123456 would come back as
    # 1234567890123.1235, and revenue be worked out on an amount the contract does not say.
    if value and len(value.normalize().as_tuple().digits) > MONEY_SIGNIFICANT:
        raise ValueError(
            f"{key} {shown(text)} has more than {MONEY_SIGNIFICANT} significant digits, more than every database keeps "
            f"exactly (e.g. 999,999,999.999999 or 99,999,999,999,999)"
        )
    return value
