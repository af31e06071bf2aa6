"""The settings class: database URLs, time zones and id lists as the environment gives them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings


def test_hosted_postgres_urls_get_the_psycopg_driver() -> None:
    s = Settings(_env_file=None, database_url="postgres://u:p@db.example:5432/app")  # type: ignore[call-arg]
    assert s.database_url == "postgresql+psycopg://u:p@db.example:5432/app"


def test_unknown_time_zone_is_refused_with_the_setting_name() -> None:
    with pytest.raises(ValidationError, match="MARGINBOT_TIMEZONE='Mars/Base' is not an IANA time zone"):
        Settings(_env_file=None, timezone="Mars/Base")  # type: ignore[call-arg]


def test_id_lists_are_read_comma_separated_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINBOT_ALLOWED_USERS", "U1, U2,,U3")
    assert Settings(_env_file=None).allowed_users == ["U1", "U2", "U3"]  # type: ignore[call-arg]


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, port=port)  # type: ignore[call-arg]
    [error] = refused.value.errors()
    assert error["loc"] == ("port",) and error["type"] in ("greater_than_equal", "less_than_equal")
    assert Settings(_env_file=None, port=0).port == 0  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob:hunter22@127.0.0.1:notaport/x",
        "postgresql://bob:hunter22@[::1/x",
        "postgres://bob:hunter22@db:70000/x",
        "postgresql://bob:hunter22/x",
    ],
)
def test_a_database_url_sqlalchemy_cannot_read_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    [error] = refused.value.errors()
    assert "host and port" in error["msg"] or "port" in error["msg"]
    assert "hunter22" not in error["msg"]


def test_a_catalogue_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is a directory: name the JSON file in it"):
        Settings(_env_file=None, catalogue_file=tmp_path)  # type: ignore[call-arg]
