"""The settings class: database URLs, time zones and id lists as the environment gives them."""

from __future__ import annotations

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
