"""`marginbot report --period 2026-Q3 --out FILE.xlsx|DIR/`: the board pack for a month, a quarter or N days."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, UserError, period, print_notices
from engine.periods import DEFAULT_DAYS

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="the board pack: notes, portfolio, customers, products, bridges, spread, unpriced usage and price sources",
        description="Write the board pack for a period: an .xlsx workbook (--out FILE.xlsx) or a directory of "
        ".csv files, one per sheet (--out DIR/). Its figures are those of `marginbot portfolio --json`; its first "
        "sheet, notes, says what could make one misread (a period to date, unpriced usage, the notices).",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--period", metavar="YYYY-MM|YYYY-Qn|YYYY-Www", help="a calendar month or quarter, or an ISO week"
    )
    group.add_argument("--days", type=int, metavar="N", help=f"the last N complete days (default {DEFAULT_DAYS})")
    p.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="pretend it is this moment (default: now; a date or time with no offset is in MARGINBOT_TIMEZONE)",
    )
    p.add_argument(
        "--out", required=True, metavar="FILE.xlsx|DIR/", help="an .xlsx file, or a directory for .csv files"
    )
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.render.workbook import write_pack
    from engine.reports.pack import board_pack

    if not args.out.strip():  # Path("") is the current directory: eight .csv files written there without a word
        raise UsageError("--out is empty: name an .xlsx file (pack.xlsx) or a directory for .csv files (pack/)")
    out = Path(args.out)
    if out.suffix and out.suffix.lower() != ".xlsx":
        raise UserError(f"--out {args.out}: write an .xlsx file or a directory (for .csv files), e.g. pack.xlsx")
    if out.suffix.lower() == ".xlsx" and out.is_dir():
        raise UserError(f"--out {args.out} is a directory; name a file like {out / 'board-pack.xlsx'}")
    # Checked before the pack is built, so a path that cannot be written costs nothing: the .csv files go in a
    # directory, which this name must not be a file in the way of, and every folder on the way must be one.
    if not out.suffix and out.exists() and not out.is_dir():
        raise UserError(
            f"--out {args.out} is a file, not a directory: name a directory for the .csv files, or FILE.xlsx"
        )
    blocked = next((parent for parent in out.parents if parent.exists() and not parent.is_dir()), None)
    if blocked is not None:
        raise UserError(f"--out {args.out}: {blocked} is a file, not a directory")
    chosen = period(args, rt)
    with rt.connect() as conn:
        notes = rt.notices(conn)
        pack = board_pack(
            conn, chosen, prices=rt.prices, timezone=rt.settings.timezone, thresholds=rt.thresholds, notices=notes
        )
    files = write_pack(pack, out)
    where = str(files[0]) if len(files) == 1 else f"{out}/ ({len(files)} .csv files)"
    print(f"board pack for {chosen.label} ({chosen.start} to {chosen.end}) written to {where}")
    # The pack's notes sheet carries the notices for whoever opens the file; whoever ran the command reads them
    # here, after the line naming the files, as every other report says them.
    print_notices(args, notes)
    return 0
