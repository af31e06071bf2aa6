"""Contracts from CSV: a file refused whole with every bad line, a re-imported contract replacing the old one."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.ingest.contracts import ContractFileError, import_contracts_file
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
        "ok,,,,flat,2026-01-01,,,99999999999999.999999,,\n",
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
        (11, "platform_fee_usd must be a number (no currency signs or thousands separators), got '1,000'"),
        (12, "seats × seat_price_usd is more than a contract holds a month (at most 99,999,999,999,999.999999)"),
    ]
    assert stored(runtime) == []


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
