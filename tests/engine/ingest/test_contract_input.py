"""Contracts CSV input that used to slip through: a row with more or fewer fields than the header, a column the
header names twice, and customer ids that differ only in case. Each is refused whole, in one line naming the line
and the fix, with nothing stored."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from engine.ingest.contracts import ContractFileError, import_contracts_file
from engine.ingest.customers import CustomerMap
from engine.runtime import Runtime


def write(tmp_path: Path, body: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def contracts(rt: Runtime) -> list[tuple[str, str, Decimal]]:
    with rt.connect() as conn:
        rows = conn.execute(text("SELECT customer, start, platform_fee_usd FROM contract ORDER BY customer, start"))
        return [(c, str(s), Decimal(str(f))) for c, s, f in rows]


def refusal(rt: Runtime, path: Path) -> list[tuple[int, str]]:
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(rt.engine, path)
    assert contracts(rt) == []  # refused whole: nothing half-done
    return info.value.errors


def test_a_row_with_more_fields_than_the_header_is_refused_not_cut_short(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `5,000` unquoted is two fields: the fee would have been stored as $5, the `000` dropped without a word.
    path = write(tmp_path, "customer,plan,start,platform_fee_usd\nacme,flat,2026-01-01,5,000\n")
    assert main(["import", "contracts", str(path)], runtime=runtime) == 1
    assert capsys.readouterr().err == (
        f"{path}: refused, nothing imported:\n"
        "  line 2: has 5 fields, the header has 4 (a value holding ',' must be in double quotes; amounts are plain "
        "numbers, without thousands separators)\n"
    )
    assert contracts(runtime) == []


def test_a_row_with_fewer_fields_than_the_header_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    # The missing included_units would have been read as blank (0), and the contract stored.
    body = "customer,plan,start,platform_fee_usd,included_units\nacme,flat,2026-01-01,100\nglobex,flat,2026-01-01\n"
    assert refusal(runtime, write(tmp_path, body)) == [
        (2, "has 4 fields, the header has 5 (give every column a field, an empty one for a blank value)"),
        (3, "has 3 fields, the header has 5 (give every column a field, an empty one for a blank value)"),
    ]


def test_a_quoted_separator_and_blank_lines_are_still_read(runtime: Runtime, tmp_path: Path) -> None:
    body = 'customer,customer_name,plan,start,platform_fee_usd\n\nacme,"Acme, Inc.",flat,2026-01-01,5000\n\n'
    import_contracts_file(runtime.engine, write(tmp_path, body))
    assert contracts(runtime) == [("acme", "2026-01-01", Decimal(5000))]


def test_a_column_named_twice_in_the_header_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    # The last platform_fee_usd ($5) would have won over the first ($5,000).
    body = "customer,plan,start,platform_fee_usd, platform_fee_usd\nacme,flat,2026-01-01,5000,5\n"
    assert refusal(runtime, write(tmp_path, body)) == [
        (1, "a column name appears twice in the header: platform_fee_usd (keep one)")
    ]


def test_customer_ids_that_differ_only_in_case_in_one_file_are_refused(runtime: Runtime, tmp_path: Path) -> None:
    # Both rows would be stored as two customers, each with its revenue; usage names one customer whatever its case.
    body = (
        "customer,customer_name,plan,start,platform_fee_usd\n"
        "acme,Acme Corp,flat,2026-01-01,5000\n"
        "ACME,Acme Corp,flat,2026-06-01,6000\n"
        "Acme,Acme Corp,flat,2026-09-01,7000\n"
    )
    assert refusal(runtime, write(tmp_path, body)) == [
        (3, "customer 'ACME' differs only in case from 'acme' (line 2): customer ids match whatever their case, so "
            "write it 'acme'"),
        (4, "customer 'Acme' differs only in case from 'acme' (line 2): customer ids match whatever their case, so "
            "write it 'acme'"),
    ]  # fmt: skip


def test_a_customer_id_that_differs_only_in_case_from_a_stored_one_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    header = "customer,customer_name,plan,start,end,platform_fee_usd\n"
    import_contracts_file(runtime.engine, write(tmp_path, header + "acme,Acme Corp,flat,2026-01-01,2026-05-31,5000\n"))
    # A renewal under another spelling would dodge the overlap rule and double the revenue.
    renewal = write(tmp_path, header + "ACME,Acme Corp,flat,2026-01-01,,6000\n", "renewal.csv")
    with pytest.raises(ContractFileError) as info:
        import_contracts_file(runtime.engine, renewal)
    assert info.value.errors == [
        (2, "customer 'ACME' differs only in case from the stored customer 'acme': customer ids match whatever "
            "their case, so write it 'acme'"),
    ]  # fmt: skip
    assert contracts(runtime) == [("acme", "2026-01-01", Decimal(5000))]
    with runtime.connect() as conn:
        customers = CustomerMap.load(conn)
    assert customers.lookup("Acme Corp") == "acme"  # usage naming the customer still finds it
    # Written as stored, the renewal is the same customer: the overlap rule sees it.
    renewal.write_text(header + "acme,Acme Corp,flat,2026-06-01,,6000\n")
    import_contracts_file(runtime.engine, renewal)
    assert contracts(runtime) == [("acme", "2026-01-01", Decimal(5000)), ("acme", "2026-06-01", Decimal(6000))]


def test_ids_already_stored_in_two_cases_can_still_be_reimported(runtime: Runtime, tmp_path: Path) -> None:
    # Stored before ids were compared ignoring case: each exact spelling may still be re-imported (to fix it).
    with runtime.engine.begin() as conn:
        for customer in ("acme", "ACME"):
            conn.execute(
                text(
                    "INSERT INTO contract (customer, product, plan, start, seats, seat_price_usd, platform_fee_usd, "
                    "included_units, unit, unit_price_usd, owner) "
                    "VALUES (:c, '', 'flat', '2025-01-01', 0, 0, 1, 0, '', 0, '')"
                ),
                {"c": customer},
            )
    body = "customer,plan,start,end,platform_fee_usd\nACME,flat,2025-01-01,2025-01-31,1\n"
    assert import_contracts_file(runtime.engine, write(tmp_path, body)).replaced == 1


@pytest.mark.parametrize("word", ["all", "*", "All Products", "ANY"])
def test_a_product_written_as_every_product_is_refused_with_the_blank_it_means(
    runtime: Runtime, tmp_path: Path, word: str
) -> None:
    # Stored, it was a product of that name: its revenue sat on a product no usage has, the customer's usage on none.
    body = f"customer,product,plan,start,platform_fee_usd\nacme,{word},flat,2026-01-01,100\n"
    assert refusal(runtime, write(tmp_path, body)) == [
        (
            2,
            f"product {word!r} would be a product of that name, which no usage has: leave product blank for a "
            "contract that covers every product",
        )
    ]


def test_an_invisible_character_in_a_customer_or_an_alias_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    body = "customer,aliases,plan,start,platform_fee_usd\nacme\u200b,,flat,2026-01-01,100\nglobex,\u202egl,flat,2026-01-01,1\n"
    assert refusal(runtime, write(tmp_path, body)) == [
        (2, "customer contains an invisible character (U+200B): 'acme\\u200b'"),
        (3, "aliases contains an invisible character (U+202E): '\\u202egl'"),
    ]
