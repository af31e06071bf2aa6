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


@pytest.mark.parametrize(("key", "env", "value"), [("breach_pct", "MARGINBOT_BREACH_PCT", "150"),
                                                   ("breach_pct", "MARGINBOT_BREACH_PCT", "-5"),
                                                   ("healthy_pct", "MARGINBOT_HEALTHY_PCT", "101")])  # fmt: skip
def test_a_margin_line_outside_0_to_100_is_refused_naming_itself(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str, env: str, value: str
) -> None:
    from bot.cli.main import main

    # 150% was refused as "MARGINBOT_HEALTHY_PCT must be at least MARGINBOT_BREACH_PCT", about the other setting;
    # -5% was taken, so every customer's margin was judged against a line no margin is under.
    monkeypatch.setenv(env, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["portfolio"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"marginbot: {env}: ") and f"(got '{value}')" in err
    assert Settings(_env_file=None, breach_pct=0, healthy_pct=100).healthy_pct == 100  # type: ignore[call-arg]


def test_sqlite_options_are_refused_rather_than_dropped(tmp_path: Path) -> None:
    # `?mode=ro` was dropped with a raw SAWarning, and the file created and migrated.
    with pytest.raises(ValidationError, match=r"takes no options for a SQLite file \(got \?mode=ro\)"):
        Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'ro.db'}?mode=ro")  # type: ignore[call-arg]
    assert not (tmp_path / "ro.db").exists()


@pytest.mark.parametrize(
    "env",
    [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        # A blank connector key ran its sync with no key (the vendor's 401) where an unset one skips the source.
        "OPENAI_ADMIN_KEY",
        "ANTHROPIC_ADMIN_KEY",
        "LITELLM_API_KEY",
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "STRIPE_API_KEY",
    ],
)
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_secret_setting_left_blank_is_unset(monkeypatch: pytest.MonkeyPatch, env: str, blank: str) -> None:
    # `SLACK_APP_TOKEN=` in a .env must not choose Socket Mode, nor a blank secret pass as one.
    monkeypatch.setenv(env, blank)
    assert getattr(Settings(_env_file=None), env.lower()) is None  # type: ignore[call-arg]
