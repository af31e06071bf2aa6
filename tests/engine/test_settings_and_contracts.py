from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings
from engine.ingest.contracts import ContractFileError, import_contracts_file
from engine.runtime import Runtime


def test_hosted_postgres_urls_get_the_psycopg_driver() -> None:
    s = Settings(_env_file=None, database_url="postgres://u:p@db.example:5432/app")  # type: ignore[call-arg]
    assert s.database_url == "postgresql+psycopg://u:p@db.example:5432/app"


def test_unknown_time_zone_is_refused_with_the_setting_name() -> None:
    with pytest.raises(ValidationError, match="MARGINBOT_TIMEZONE='Mars/Base' is not an IANA time zone"):
        Settings(_env_file=None, timezone="Mars/Base")  # type: ignore[call-arg]


def test_id_lists_are_read_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINBOT_ALLOWED_USERS", "U1, U2,,U3")
    assert Settings(_env_file=None).allowed_users == ["U1", "U2", "U3"]  # type: ignore[call-arg]


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


def test_an_unreachable_database_is_one_line_naming_it_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.main import main

    missing = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/no/such/dir/m.db")  # type: ignore[call-arg]
    assert main(["portfolio"], settings=missing) == 1
    assert capsys.readouterr().err == (
        f"marginbot: cannot use the database sqlite:///{tmp_path}/no/such/dir/m.db: unable to open database file; "
        "does its folder exist, and may this user write there?\n"
    )
    refused = Settings(_env_file=None, database_url="postgres://bob:s3cret@127.0.0.1:1/x")  # type: ignore[call-arg]
    assert main(["portfolio"], settings=refused) == 1
    err = capsys.readouterr().err
    assert err.startswith("marginbot: cannot use the database postgresql+psycopg://bob:***@127.0.0.1:1/x: ")
    assert "s3cret" not in err
