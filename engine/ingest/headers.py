"""What is wrong with a CSV header, said so that the fix is obvious: the wrong separator, a misspelt column."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence

# Separators spreadsheets export besides the comma, with how `--delimiter` spells each.
_SEPARATORS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def separator_hint(header: Sequence[str], columns: Collection[str], delimiter: str = ",") -> str | None:
    """When the header, split on `delimiter`, is one cell that another separator splits into known columns."""
    if len(header) != 1:
        return None
    for sep, flag in _SEPARATORS.items():
        if sep == delimiter:
            continue
        cells = [cell.strip() for cell in header[0].split(sep)]
        if len(cells) > 1 and sum(cell in columns for cell in cells) >= 2:
            shown = "tab" if sep == "\t" else f"`{sep}`"
            if sep == ",":
                return f"looks {shown}-separated: drop --delimiter (comma is the default)"
            return f"looks {shown}-separated: export as CSV with commas or pass `--delimiter {flag}`"
    return None


def json_hint(header: Sequence[str]) -> str | None:
    """When the first line is a JSON object, not a header: JSON lines in a file named as CSV."""
    if header and header[0].lstrip().startswith("{"):
        return "looks like JSON lines, not CSV: name the file .jsonl (or .jsonl.gz) and import it again"
    return None


def unknown_columns(unknown: Sequence[str], columns: Sequence[str]) -> str:
    """Each unknown column, with the closest known one (did you mean ...?), then the columns accepted."""
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name.lower(), columns, n=1, cutoff=0.6)
        named.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    return f"unknown column{'s' if len(named) > 1 else ''} {', '.join(named)}; the columns are: {', '.join(columns)}"


def delimiter_arg(value: str) -> str:
    """`--delimiter` as typed (`;`, `tab`, `\\t`, `|`) → the one character the CSV reader takes."""
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    char = named.get(value.lower(), value)
    if len(char) != 1:
        raise ValueError(f"--delimiter takes one character (or `tab`), got {value!r}")
    return char
