"""Contracts from CSV: a file refused whole with every bad line, a re-imported contract replacing the old one."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from engine.ingest.contracts import ContractFileError, import_contracts_file
from engine.periods import Period, month
from engine.reports.revenue import contracts_in, revenue_lines, total_by_customer
from engine.runtime import Runtime


def test_contract_file_is_refused_whole_with_each_bad_line(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "customer,plan,start,end,seats,seat_price_usd,platform_fee_usd,unit,unit_price_usd\n"
        "acme,seat,2026-01-01,,5,10,,,\n"
        "globex,usage,2026-01-01,,,,,,0.1\n"
        "hooli,flat,2026-05-01,2026-04-01,,,10,,\n"
        "initech,barter,2026-01-01,,,,,,\n"
        "acme,seat,2026-01-01,,6,10,,,\n"
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (3, "unit is required for a usage plan"),
        (4, "end 2026-04-01 is before start 2026-05-01"),
        (5, "plan must be one of seat, flat, usage, hybrid, got 'barter'"),
        (6, "same customer, product and start as line 2"),
    ]


def test_a_row_with_a_quoted_line_break_is_named_by_its_first_line_and_the_rows_after_it_by_theirs(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "customer,customer_name,plan,start,platform_fee_usd\n"
        'acme,"Acme\nCorp",barter,2026-01-01,10\n'  # lines 2-3
        "\n"  # line 4, blank
        "globex,Globex,flat,2026-13-01,10\n"  # line 5
        'hooli,"Hooli\n\nInc",flat,2026-01-01,x\n'  # lines 6-8
        "initech,Initech,seat,2026-01-01,\n"  # line 9
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert [line for line, _ in info.value.errors] == [2, 5, 6, 9]


def test_reimporting_a_contract_replaces_it(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("customer,plan,start,platform_fee_usd\nacme,flat,2026-01-01,100\n")
    assert import_contracts_file(runtime.engine, path).created == 1
    path.write_text("customer,plan,start,platform_fee_usd\nacme,flat,2026-01-01,250\n")
    result = import_contracts_file(runtime.engine, path)
    assert (result.created, result.replaced) == (0, 1)


def stored(rt: Runtime) -> list[tuple[object, ...]]:
    """Every stored contract as (customer, product, start, end, fee, owner, breach, healthy), dates as text."""
    with rt.connect() as conn:
        rows = conn.execute(
            text(
                'SELECT customer, product, start, "end", platform_fee_usd, owner, breach_pct, healthy_pct '
                "FROM contract ORDER BY customer, product, start"
            )
        )
        return [
            (c, p, str(s), str(e) if e is not None else None, Decimal(str(f)), o, b, h)
            for c, p, s, e, f, o, b, h in rows
        ]


def write(tmp_path: Path, body: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_values_only_sqlite_would_keep_are_refused_alike_on_both_databases(runtime: Runtime, tmp_path: Path) -> None:
    long_name = "N" * 301
    path = write(
        tmp_path,
        "customer,customer_name,aliases,product,plan,start,seats,seat_price_usd,platform_fee_usd,unit,unit_price_usd\n"
        "acme,,,,flat,2026-01-01,,,1e30,,\n"
        "globex,,,,usage,2026-01-01,,,,request,1e20\n"
        "ini\x00tech,,,,flat,2026-01-01,,,10,,\n"
        f"hooli,{long_name},,,flat,2026-01-01,,,10,,\n"
        f"{'c' * 201},,,,flat,2026-01-01,,,10,,\n"
        "vandelay,,,a\tb,flat,2026-01-01,,,10,,\n"
        "umbrella,,,,seat,2026-01-01,3000000000,1,,,\n"
        "soylent,,,,usage,2026-01-01,,,,request,0.0000025\n"
        "tyrell,,,,flat,2026-01-01,,,NaN,,\n"
        'wayne,,,,flat,2026-01-01,,,"1,000",,\n'
        "stark,,,,seat,2026-01-01,2000000,99999999999,,,\n"
        "ok,,,,flat,2026-01-01,,,99999999999999.999999,,\n"
        "initrode,,,,usage,2026-01-01,,,,request,1234567890123.123456\n"
        # Decimal() and int() read these; the docs say plain numbers.
        "underscored,,,,flat,2026-01-01,,,100_000,,\n"
        "fullwidth,,,,seat,2026-01-01,４２,10,,,\n"
        'european,,,,flat,2026-01-01,,,"99,50",,\n',
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (2, "platform_fee_usd '1e30' is more than a contract holds (at most 99,999,999,999,999.999999)"),
        (3, "unit_price_usd '1e20' is more than a contract holds (at most 99,999,999,999,999.999999)"),
        (4, "customer contains a control character (U+0000): 'ini\\x00tech'"),
        (5, "customer_name is longer than 300 characters (301)"),
        (6, "customer is longer than 200 characters (201)"),
        (7, "product contains a control character (U+0009): 'a\\tb'"),
        (8, "seats must be at most 2,147,483,647, got 3,000,000,000"),
        (9, "unit_price_usd '0.0000025' has more than 6 decimal places (contract amounts are kept to $0.000001)"),
        (10, "platform_fee_usd must be a number, got 'NaN'"),
        (11, "platform_fee_usd must be a number (no thousands separators: write 1000), got '1,000'"),
        (12, "seats × seat_price_usd is more than a contract holds a month (at most 99,999,999,999,999.999999)"),
        (13, f"platform_fee_usd '99999999999999.999999' has more than 15 significant digits, {_EXACT}"),
        (14, f"unit_price_usd '1234567890123.123456' has more than 15 significant digits, {_EXACT}"),
        (15, "platform_fee_usd must be a number (no currency signs or thousands separators), got '100_000'"),
        (16, "seats must be a whole number, got '４２'"),
        (17, "platform_fee_usd must be a number (write decimals with a point: 99.50), got '99,50'"),
    ]
    assert stored(runtime) == []


_EXACT = "more than every database keeps exactly (e.g. 999,999,999.999999 or 99,999,999,999,999)"


def test_amounts_come_back_from_the_database_as_written(runtime: Runtime, tmp_path: Path) -> None:
    """Up to 15 significant digits, what SQLite keeps exactly (a NUMERIC is a double there), an amount reads back
    digit for digit on every database: revenue is worked out on the amounts the contract says."""
    amounts = ["999999999.999999", "99999999999999", "123456789.012345", "0.000001", "1500.5", "12345678901234.5"]
    path = write(
        tmp_path,
        "customer,plan,start,platform_fee_usd\n"
        + "".join(f"c{i},flat,2026-01-01,{amount}\n" for i, amount in enumerate(amounts)),
    )
    import_contracts_file(runtime.engine, path)
    with runtime.connect() as conn:
        read = {
            t.customer: t.platform_fee_usd
            for t in contracts_in(conn, Period(date(2026, 1, 1), date(2026, 1, 31), "x"), None)
        }
    assert read == {f"c{i}": Decimal(amount) for i, amount in enumerate(amounts)}


def test_owner_and_bands_are_checked(runtime: Runtime, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "customer,plan,start,platform_fee_usd,owner,breach_pct,healthy_pct\n"
        "acme,flat,2026-01-01,10,@pat,,\n"
        "globex,flat,2026-01-01,10,,120,\n"
        "initech,flat,2026-01-01,10,,50,40\n"
        "hooli,flat,2026-01-01,10,,40.125,\n"
        "vandelay,flat,2026-01-01,10,U01;U02,35%,50\n",
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (
            2,
            "owner: '@pat' is not a Slack member ID (U… or W…, e.g. U0123ABCD; in Slack: a profile → ⋯ → Copy "
            "member ID)",
        ),
        (3, "breach_pct must be a percentage from 0 to 100, got '120'"),
        (4, "breach_pct 50 is above healthy_pct 40"),
        (5, "breach_pct '40.125' has more than 2 decimal places"),
    ]


def test_a_customers_rows_that_disagree_on_its_owner_or_bands_are_refused_naming_both(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "customer,product,plan,start,platform_fee_usd,owner,breach_pct,healthy_pct\n"
        "acme,assist,flat,2026-01-01,10,U01;U02,30,\n"
        "acme,agent,flat,2026-01-01,10,U02;U01,,\n"  # the same owners in another order: agrees
        "acme,search,flat,2026-01-01,10,U03,35,\n"
        "globex,assist,flat,2026-01-01,10,,50,\n"
        "globex,agent,flat,2026-01-01,10,,,45\n",  # on another row, below the breach line given above
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (4, "owner 'U03' differs from line 2's 'U01;U02': acme has one owner across its contracts (fill it on one "
            "row, or the same on each)"),
        (4, "breach_pct 35 differs from line 2's 30: acme has one breach_pct across its contracts (fill it on one "
            "row, or the same on each)"),
    ]  # fmt: skip
    path = write(
        tmp_path,
        "customer,product,plan,start,platform_fee_usd,breach_pct,healthy_pct\n"
        "globex,assist,flat,2026-01-01,10,50,\n"
        "globex,agent,flat,2026-01-01,10,,45\n",
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (3, "globex's breach_pct 50 (line 2) is above its healthy_pct 45 (line 3): the breach line must be at or "
            "below the healthy one"),
    ]  # fmt: skip
    assert stored(runtime) == []


def test_a_later_file_sets_a_customers_owner_and_bands_on_all_its_contracts(runtime: Runtime, tmp_path: Path) -> None:
    header = "customer,product,plan,start,end,platform_fee_usd,owner,breach_pct,healthy_pct\n"
    import_contracts_file(
        runtime.engine,
        write(tmp_path, header + "acme,assist,flat,2026-01-01,,10,U01,30,45\nacme,agent,flat,2026-01-01,,10,,,\n"),
    )
    # A new contract: blank cells keep the stored values; a value replaces them on every contract of acme.
    result = import_contracts_file(
        runtime.engine, write(tmp_path, header + "acme,search,flat,2026-03-01,,10,U09,,none\n")
    )
    assert result.summary().splitlines()[1:] == [
        "  acme: owner 'U09', healthy_pct none (was owner 'U01', healthy_pct 45)"
    ]
    assert [(p, o, b, h) for _, p, _, _, _, o, b, h in stored(runtime)] == [
        ("agent", "U09", Decimal(30), None),
        ("assist", "U09", Decimal(30), None),
        ("search", "U09", Decimal(30), None),
    ]
    # A band that would cross the stored other one is refused, naming where each comes from.
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, write(tmp_path, header + "acme,search,flat,2026-03-01,,10,,,20\n"))
    assert info.value.errors == [
        (2, "acme's breach_pct 30 (stored) is above its healthy_pct 20 (line 2): the breach line must be at or below "
            "the healthy one"),
    ]  # fmt: skip


def test_files_that_are_not_utf8_csv_are_refused_in_one_line(runtime: Runtime, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "customer,plan,start,platform_fee_usd\nacme,flat,2026-01-01,10\nsoci\xe9t\xe9,flat,2026-01-01,10\n".encode(
            "latin-1"
        )
    )
    gz = tmp_path / "c.csv.gz"
    gz.write_bytes(gzip.compress(b"customer,plan,start\n"))
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("customer,plan,start\n".encode("utf-16"))
    errors = {}
    for path in (latin, gz, utf16):
        with pytest.raises(ContractFileError) as info:
            import_contracts_file(runtime.engine, path)
        errors[path.name] = info.value.errors
    assert errors == {
        "latin.csv": [(3, "not UTF-8 text (byte 0xe9): save the file as CSV UTF-8")],
        "c.csv.gz": [(1, "the file is gzip-compressed: decompress it first (gunzip)")],
        "utf16.csv": [(1, "the file is UTF-16 text: save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8)")],
    }
    assert stored(runtime) == []


def revenue(rt: Runtime, year: int, month_: int) -> dict[str, Decimal]:
    with rt.connect() as conn:
        return total_by_customer(revenue_lines(conn, month(year, month_)))


HEADER = "customer,product,plan,start,end,platform_fee_usd\n"


def test_a_renewal_that_overlaps_the_stored_contract_is_refused_naming_both(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_contracts_file(runtime.engine, write(tmp_path, HEADER + "acme,,flat,2026-01-01,,316.17\n", "old.csv"))
    renewal = write(tmp_path, HEADER + "acme,,flat,2026-10-01,,1000\n", "renewal.csv")
    assert main(["import", "contracts", str(renewal)], runtime=runtime) == 1
    assert capsys.readouterr().err == (
        f"{renewal}: refused, nothing imported:\n"
        "  line 2: overlaps the stored contract (acme, every product, 2026-01-01 onwards): end the stored one on "
        "2026-09-30 (re-import it with that end), or import with --supersede to do so\n"
    )
    # Summed silently, October would have been $1,316.17.
    assert revenue(runtime, 2026, 10) == {"acme": Decimal("316.17")}


def test_supersede_ends_the_earlier_contract_the_day_before_the_later_one_starts(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_contracts_file(runtime.engine, write(tmp_path, HEADER + "acme,,flat,2026-01-01,,316.17\n", "old.csv"))
    renewal = write(tmp_path, HEADER + "acme,,flat,2026-11-01,,1000\n", "renewal.csv")
    assert main(["import", "contracts", str(renewal), "--supersede"], runtime=runtime) == 0
    assert capsys.readouterr().out == (
        f"{renewal}: 1 contract(s) added, 0 replaced, for 1 customer(s); 1 ended by --supersede\n"
        "  the stored contract (acme, every product, from 2026-01-01) now ends 2026-10-31 (was open): superseded by "
        "line 2 (acme, every product, 2026-11-01 onwards)\n"
    )
    assert [row[:5] for row in stored(runtime)] == [
        ("acme", "", "2026-01-01", "2026-10-31", Decimal("316.17")),
        ("acme", "", "2026-11-01", None, Decimal(1000)),
    ]
    assert revenue(runtime, 2026, 10) == {"acme": Decimal("316.17")}
    assert revenue(runtime, 2026, 11) == {"acme": Decimal(1000)}


SEATS = "customer,product,plan,start,end,seats,seat_price_usd\n"


def test_supersede_by_a_shorter_contract_warns_of_the_months_left_without_one(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stored contract ran to December; ended in February for a March–April one, May–December had no contract
    # and June's revenue went from 10 to 0 without a word.
    import_contracts_file(runtime.engine, write(tmp_path, SEATS + "a,,seat,2026-01-01,2026-12-31,1,10\n", "old.csv"))
    short = write(tmp_path, SEATS + "a,,seat,2026-03-01,2026-04-30,2,10\n", "short.csv")
    assert main(["import", "contracts", str(short), "--supersede"], runtime=runtime) == 0
    warning = (
        "a (every product) has no contract from 2026-05-01 to 2026-12-31, which the stored contract covered before "
        "--supersede ended it on 2026-02-28: add a contract from 2026-05-01 or import without --supersede"
    )
    assert capsys.readouterr().out.splitlines()[2:] == [f"  WARNING: {warning}"]
    assert revenue(runtime, 2026, 6) == {}  # supersede itself is unchanged: the warning says what it left
    assert revenue(runtime, 2026, 4) == {"a": Decimal(20)}

    # --json says it too (customer b: the same two contracts, a's already stored).
    import_contracts_file(runtime.engine, write(tmp_path, SEATS + "b,,seat,2026-01-01,2026-12-31,1,10\n", "old.csv"))
    short = write(tmp_path, SEATS + "b,,seat,2026-03-01,2026-04-30,2,10\n", "short.csv")
    assert main(["import", "contracts", str(short), "--supersede", "--json"], runtime=runtime) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["uncovered"] == [
        {"customer": "b", "product": "", "from": "2026-05-01", "to": "2026-12-31", "warning": "b" + warning[1:]}
    ]


def test_supersede_names_only_the_days_no_other_contract_covers(runtime: Runtime, tmp_path: Path) -> None:
    import_contracts_file(runtime.engine, write(tmp_path, HEADER + "acme,,flat,2026-01-01,,10\n", "old.csv"))
    path = write(
        tmp_path, HEADER + "acme,assist,flat,2026-03-01,2026-04-30,20\nacme,assist,flat,2026-06-01,2026-06-30,20\n"
    )
    result = import_contracts_file(runtime.engine, path, supersede=True)
    # The every-product contract ended in February: its other products are said in the line above; assist has
    # March–April and June, and nothing from May 1 to 31 nor from July on.
    assert result.superseded[0].endswith(
        "acme's other products have no contract from 2026-03-01 unless one covers them"
    )
    assert [(g.product, g.start, g.end) for g in result.gaps] == [
        ("assist", date(2026, 5, 1), date(2026, 5, 31)),
        ("assist", date(2026, 7, 1), None),
    ]
    assert result.summary().splitlines()[-1] == (
        "  WARNING: acme (assist) has no contract from 2026-07-01 onwards, which the stored contract covered before "
        "--supersede ended it on 2026-02-28: add a contract from 2026-07-01 or import without --supersede"
    )


def test_supersede_by_a_contract_that_runs_as_long_warns_of_nothing(runtime: Runtime, tmp_path: Path) -> None:
    import_contracts_file(runtime.engine, write(tmp_path, HEADER + "acme,,flat,2026-01-01,2026-12-31,10\n", "old.csv"))
    path = write(tmp_path, HEADER + "acme,,flat,2026-03-01,2026-12-31,20\n")
    result = import_contracts_file(runtime.engine, path, supersede=True)
    assert (len(result.superseded), result.gaps) == (1, [])
    assert "WARNING" not in result.summary()


def test_contracts_json_says_a_refused_file_with_each_line(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, HEADER + "acme,,barter,2026-01-01,,10\n")
    assert main(["import", "contracts", str(path), "--json"], runtime=runtime) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["refused"] is True
    assert [e["line"] for e in shown["errors"]] == [2]
    # A file that is not there is said in JSON too (it printed nothing on stdout), and in one line on stderr.
    assert main(["import", "contracts", str(tmp_path / "nope.csv"), "--json"], runtime=runtime) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"path": str(tmp_path / "nope.csv"), "refused": True, "problem": "no such file",
                               "errors": []}  # fmt: skip
    assert "nope.csv: no such file" in err


def test_overlaps_within_a_file_count_a_contract_for_every_product_as_one_for_each(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER + "acme,assist,flat,2026-01-01,2026-06-30,10\n"
        "acme,agent,flat,2026-01-01,,10\n"  # another product: no overlap
        "acme,assist,flat,2026-07-01,,10\n"  # the day after: no overlap
        "acme,,flat,2026-09-01,,10\n"  # every product: overlaps both open product contracts
        "globex,search,flat,2026-01-01,2026-03-31,10\n"
        "globex,search,flat,2026-03-31,,10\n"  # one shared day
        "initech,,flat,2026-01-01,,10\n"
        "initech,search,flat,2026-01-01,,10\n",  # the same start: --supersede could not help
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (5, "overlaps line 3 (acme, agent, 2026-01-01 onwards): end line 3 on 2026-08-31, or import with --supersede "
            "to do so"),
        (7, "overlaps line 6 (globex, search, 2026-01-01 to 2026-03-31): end line 6 on 2026-03-30, or import with "
            "--supersede to do so"),
        (9, "overlaps line 8 (initech, every product, 2026-01-01 onwards): they start the same day, so --supersede "
            "cannot end one before the other: keep one of them"),
    ]  # fmt: skip
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path, supersede=True)
    assert [line for line, _ in info.value.errors] == [9]
    assert stored(runtime) == []

    path.write_text("\n".join(path.read_text().splitlines()[:-2]) + "\n")  # without initech
    result = import_contracts_file(runtime.engine, path, supersede=True)
    assert result.superseded == [
        "line 3 (acme, agent, from 2026-01-01) now ends 2026-08-31 (was open): superseded by line 5 (acme, every "
        "product, 2026-09-01 onwards)",
        "line 4 (acme, assist, from 2026-07-01) now ends 2026-08-31 (was open): superseded by line 5 (acme, every "
        "product, 2026-09-01 onwards)",
        "line 6 (globex, search, from 2026-01-01) now ends 2026-03-30 (was 2026-03-31): superseded by line 7 "
        "(globex, search, 2026-03-31 onwards)",
    ]
    assert [row[:4] for row in stored(runtime)] == [
        ("acme", "", "2026-09-01", None),
        ("acme", "agent", "2026-01-01", "2026-08-31"),
        ("acme", "assist", "2026-01-01", "2026-06-30"),
        ("acme", "assist", "2026-07-01", "2026-08-31"),
        ("globex", "search", "2026-01-01", "2026-03-30"),
        ("globex", "search", "2026-03-31", None),
    ]


def test_a_file_contract_that_starts_before_a_stored_one_is_the_one_superseded(
    runtime: Runtime, tmp_path: Path
) -> None:
    import_contracts_file(runtime.engine, write(tmp_path, HEADER + "acme,assist,flat,2026-06-01,,20\n", "new.csv"))
    backfill = write(tmp_path, HEADER + "acme,,flat,2026-01-01,,10\n", "old.csv")
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, backfill)
    assert info.value.errors == [
        (2, "overlaps the stored contract (acme, assist, 2026-06-01 onwards): end line 2 on 2026-05-31, or import "
            "with --supersede to do so"),
    ]  # fmt: skip
    result = import_contracts_file(runtime.engine, backfill, supersede=True)
    assert result.superseded == [
        "line 2 (acme, every product, from 2026-01-01) now ends 2026-05-31 (was open): superseded by the stored "
        "contract (acme, assist, 2026-06-01 onwards); acme's other products have no contract from 2026-06-01 unless "
        "one covers them"
    ]
    assert [row[:4] for row in stored(runtime)] == [
        ("acme", "", "2026-01-01", "2026-05-31"),
        ("acme", "assist", "2026-06-01", None),
    ]


def test_reimporting_the_same_contract_replaces_it_and_is_no_overlap(runtime: Runtime, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "acme,,flat,2026-01-01,2026-12-31,10\nacme,,flat,2027-01-01,,12\n")
    import_contracts_file(runtime.engine, path)
    result = import_contracts_file(runtime.engine, path)
    assert (result.created, result.replaced, result.superseded) == (0, 2, [])
    assert len(stored(runtime)) == 2


def test_a_broken_stored_contract_is_replaced_by_reimporting_it(runtime: Runtime, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "acme,,flat,2026-01-01,,10\n")
    import_contracts_file(runtime.engine, path)
    with runtime.engine.begin() as conn:  # what SQLite kept from an older version; PostgreSQL holds NaN
        conn.execute(text("UPDATE contract SET platform_fee_usd = 'NaN'"))
    result = import_contracts_file(runtime.engine, path)
    assert (result.created, result.replaced) == (0, 1)
    assert revenue(runtime, 2026, 10) == {"acme": Decimal(10)}


def test_a_band_that_crosses_the_global_other_band_is_imported_with_a_note(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "customer,plan,start,platform_fee_usd,breach_pct,healthy_pct\n"
        "acme,flat,2026-01-01,10,60,\n"  # above the global healthy line (55)
        "globex,flat,2026-01-01,10,,30\n"  # below the global breach line (40)
        "initech,flat,2026-01-01,10,45,\n",  # between them: nothing to say
    )
    assert main(["import", "contracts", str(path)], runtime=runtime) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  acme: breach_pct 60 is above the global healthy line (55): acme has no watch band (healthy from 60%); set "
        "its healthy_pct to give it one",
        "  globex: healthy_pct 30 is below the global breach line (40): globex has no watch band (in breach under "
        "30%); set its breach_pct to give it one",
    ]


def test_a_value_the_plan_does_not_charge_is_refused_and_never_shown_as_charged(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "customer,plan,start,seats,seat_price_usd,platform_fee_usd,included_units,unit,unit_price_usd\n"
        "seatco,seat,2026-01-01,10,100,5000,,,\n"  # the fee is not charged on a seat plan
        "flatco,flat,2026-01-01,10,100,1000,,,\n"  # nor seats on a flat one
        "flat2,flat,2026-01-01,,,1000,,request,2\n"  # nor a unit price
        "useco,usage,2026-01-01,,,,500,request,0.1\n"  # nor included units outside hybrid
        "hyb,hybrid,2026-01-01,10,100,5000,500,request,0.1\n"  # all of them: fine
    )
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, path)
    assert info.value.errors == [
        (2, "platform_fee_usd is not charged on a seat plan: use plan hybrid for seats, a fee and usage, or leave "
            "it blank"),
        (3, "seats is not charged on a flat plan: use plan seat, or hybrid for seats, a fee and usage, or leave it "
            "blank"),
        (4, "unit_price_usd is not charged on a flat plan: use plan usage, or hybrid for seats, a fee and usage, or "
            "leave it blank"),
        (5, "included_units is not charged on a usage plan: use plan hybrid for units included in its fee, or leave "
            "it blank"),
    ]  # fmt: skip
    # One stored before imports refused it: its terms say only what revenue counts.
    (tmp_path / "ok.csv").write_text("customer,plan,start,seats,seat_price_usd\nseatco,seat,2026-01-01,10,100\n")
    import_contracts_file(runtime.engine, tmp_path / "ok.csv")
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE contract SET platform_fee_usd = 5000 WHERE customer = 'seatco'"))
    with runtime.connect() as conn:
        (line,) = revenue_lines(conn, month(2026, 10))
    assert (line.total, line.terms) == (Decimal(1000), "seat: 10 seats × $100.00/mo")


def test_a_contracts_file_with_only_its_header_adds_nothing_and_blames_no_database(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said "cannot use the database …: NOT NULL constraint failed: contract.customer".
    path = tmp_path / "c.csv"
    path.write_text("customer,plan,start,seats,seat_price_usd\n")
    assert main(["import", "contracts", str(path)], runtime=runtime) == 0
    out, err = capsys.readouterr()
    assert err == "" and "0 contract(s) added" in out
