"""Contracts from CSV: a file refused whole with every bad line, a re-imported contract replacing the old one."""

from __future__ import annotations

from pathlib import Path

import pytest

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
