"""Every mistake is one line naming the setting or input and the fix: exit 2 for the command line or configuration,
1 for failed work; `--verbose` adds the traceback; passwords never appear."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from bot.cli.errors import database_error, explain, redact_url, scrub
from bot.cli.main import main
from config.settings import Settings
from engine.runtime import Runtime
from engine.store.db import forget_engine
from tests.engine.scenarios.book import load_book

REPO = Path(__file__).resolve().parents[3]


def run_with_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], **env: str) -> int:
    """main() with settings read from the environment, as the console script does (no .env in the way)."""
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(argv)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "marginbot-demo.db",
            "marginbot: DATABASE_URL: has no scheme (marginbot-demo.db): for a SQLite file write "
            "sqlite:///marginbot-demo.db (four slashes for an absolute path), for PostgreSQL "
            "postgresql://USER:PASSWORD@HOST:5432/DB",
        ),
        (
            "sqlite://x.db",
            "marginbot: DATABASE_URL: sqlite://x.db has two slashes: a SQLite file is sqlite:///x.db (three slashes)",
        ),
        (
            "mysql://root:hunter22@db.internal/margins",
            "marginbot: DATABASE_URL: marginbot does not support mysql databases: use sqlite:///FILE or "
            "postgresql://USER:PASSWORD@HOST:5432/DB",
        ),
        (
            "postgresql://bob:p@ssw0rd@127.0.0.1:5432/margins",
            "marginbot: DATABASE_URL: the password holds an '@': write it as %40 in DATABASE_URL (URL-encoding)",
        ),
        (
            "postgresql://bob:hunter22@127.0.0.1:notaport/margins",
            "marginbot: DATABASE_URL: cannot read the host and port '127.0.0.1:notaport': write HOST:PORT with a port "
            "from 1 to 65535, e.g. db.internal:5432 (an IPv6 address in brackets: [::1]:5432)",
        ),
        (
            "postgresql://bob:hunter22@[::1/margins",
            "marginbot: DATABASE_URL: cannot read the host and port '[::1': write HOST:PORT with a port from 1 to "
            "65535, e.g. db.internal:5432 (an IPv6 address in brackets: [::1]:5432)",
        ),
        (
            "postgres://bob:hunter22@db.internal:99999/margins",
            "marginbot: DATABASE_URL: the port in 'db.internal:99999' is out of range: write HOST:PORT with a port "
            "from 1 to 65535, e.g. db.internal:5432 (an IPv6 address in brackets: [::1]:5432)",
        ),
        (
            # No "@": what comes before the colon may be a user and a password that lost their host, never shown.
            "postgresql://bob:hunter22/margins",
            "marginbot: DATABASE_URL: cannot read the host and port: write HOST:PORT with a port from 1 to 65535, "
            "e.g. db.internal:5432 (an IPv6 address in brackets: [::1]:5432)",
        ),
    ],
    ids=["no-scheme", "two-slashes", "mysql", "unescaped-at", "port-not-a-number", "ipv6-unclosed", "port-too-big",
         "no-host"],
)  # fmt: skip
def test_a_database_url_people_get_wrong_is_one_line_with_the_fix_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, expected: str
) -> None:
    assert run_with_env(monkeypatch, tmp_path, ["portfolio"], DATABASE_URL=url) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", expected + "\n")
    for secret in ("hunter22", "ssw0rd", "p@ss"):
        assert secret not in err


def test_bad_settings_are_one_line_each_and_secrets_are_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_with_env(
        monkeypatch, tmp_path, ["portfolio"], MARGINBOT_BREACH_PCT="forty", PORT="http", SLACK_BOT_TOKEN="changeme"
    )
    assert status == 2
    assert capsys.readouterr().err.splitlines() == [
        "marginbot: MARGINBOT_BREACH_PCT: Input should be a valid decimal (got 'forty')",
        "marginbot: SLACK_BOT_TOKEN: is still a placeholder: paste the real value from your Slack app's settings",
        "marginbot: PORT: Input should be a valid integer, unable to parse string as an integer (got 'http')",
    ]


def test_an_unreachable_postgresql_is_one_line_with_the_password_hidden_even_with_an_encoded_at(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    url = f"postgresql://bob:s3cr%40t-pw@127.0.0.1:{port}/margins"
    assert run_with_env(monkeypatch, tmp_path, ["portfolio"], DATABASE_URL=url) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"marginbot: cannot use the database postgresql+psycopg://bob:***@127.0.0.1:{port}/margins: ")
    assert err.rstrip().endswith("is PostgreSQL running there, and listening on that port?")
    assert "s3cr" not in err and "t-pw" not in err


def test_redaction_hides_a_password_with_an_unescaped_at_whole() -> None:
    url = "postgresql://bob:hunter@2secret@db.example/m"
    assert redact_url(url) == "postgresql://bob:***@db.example/m"
    # SQLAlchemy splits such a URL at the first "@" and drivers then name the "host" 2secret@db.example.
    said = 'could not translate host name "2secret@db.example" to address'
    assert scrub(said, url) == 'could not translate host name "***@db.example" to address'


@pytest.fixture
def sqlite_runtime(tmp_path: Path, prices_file: Path) -> Iterator[Runtime]:
    """A SQLite file whatever databases the suite runs on: a read-only file and a full disk are SQLite's cases."""
    url = f"sqlite:///{tmp_path / 'own.db'}"
    forget_engine(url)
    yield Runtime(Settings(_env_file=None, database_url=url, prices_file=prices_file, timezone="UTC"))  # type: ignore[call-arg]
    forget_engine(url)


def test_a_read_only_database_is_one_line_with_the_fix(
    sqlite_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = sqlite_runtime
    # What SQLite says for a file this user may not write (SQLITE_READONLY); set through the connection because
    # the suite runs as root, for whom file permissions do not apply.
    event.listen(runtime.engine, "connect", lambda conn, _: conn.execute("PRAGMA query_only = ON"))
    runtime.engine.dispose()
    path = tmp_path / "u.csv"
    path.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens\ne1,2026-10-05T12:00:00Z,acme,chat,openai,gpt-4o,10\n"
    )
    assert main(["import", "usage", str(path)], runtime=runtime) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"marginbot: cannot use the database {runtime.settings.database_url}: attempt to write a")
    assert "the file is read-only: give this user write access" in err


def test_a_full_disk_during_an_import_is_one_line_and_commits_nothing(
    sqlite_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Simulated with SQLite's page limit: SQLITE_FULL is what a full disk gives.
    runtime = sqlite_runtime
    with runtime.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()
    # Room for a few pages more than the empty schema: the import runs out of space part-way, as on a full disk.
    event.listen(runtime.engine, "connect", lambda conn, _: conn.execute(f"PRAGMA max_page_count = {pages + 20}"))
    runtime.engine.dispose()
    path = tmp_path / "big.csv"
    rows = "".join(f"e{i},2026-10-05T12:00:00Z,cust{i % 50},chat,openai,gpt-4o,{i}\n" for i in range(20_000))
    path.write_text("event_id,ts,customer,product,provider,model,input_tokens\n" + rows)
    assert main(["import", "usage", str(path)], runtime=runtime) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "database or disk is full; the disk is full: nothing from this command was" in err
    with runtime.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM daily_rollup")).scalar_one() == 0


def test_a_temporary_folder_that_is_gone_is_one_line_and_commits_nothing(
    sqlite_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # On SQLite each chunk is made into a database image in a scratch file there (engine.ingest.sqlite_image).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    path = tmp_path / "u.csv"
    rows = "".join(f"e{i},2026-10-05T12:00:00Z,cust{i % 50},chat,openai,gpt-4o,{i}\n" for i in range(2_000))
    path.write_text("event_id,ts,customer,product,provider,model,input_tokens\n" + rows)
    assert main(["import", "usage", str(path)], runtime=sqlite_runtime) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"marginbot: {tmp_path / 'gone'}/marginbot-chunk-")
    with sqlite_runtime.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 0


def test_verbose_adds_the_traceback_to_the_one_line(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", "nobody", "--verbose"], runtime=book) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1].startswith("marginbot: no customer 'nobody'")
    assert main(["margin", "nobody"], runtime=book) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_command_quietly(book: Runtime, tmp_path: Path) -> None:
    # `marginbot portfolio | head`: the pipe closes before we write. No traceback, no "Exception ignored" at exit.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "DATABASE_URL": book.settings.database_url, "PYTHONPATH": str(REPO)}
    env.pop("MARGINBOT_TEST_POSTGRES_URL", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli.main", "portfolio", "--period", "2026-10", "--csv"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode == 141


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"marginbot {version('marginbot')}\n"


def test_a_bad_flag_value_is_a_usage_error(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["margin", "acme", "--period", "October"], runtime=book) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--workers", "0"], runtime=book)
    assert stopped.value.code == 2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "99999"}, "marginbot: PORT: Input should be less than or equal to 65535 (got '99999')"),
        ({"PORT": "-1"}, "marginbot: PORT: Input should be greater than or equal to 0 (got '-1')"),
    ],
)
def test_a_port_out_of_range_is_a_setting_to_fix(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    expected: str,
) -> None:
    assert run_with_env(monkeypatch, tmp_path, ["serve"], **env) == 2
    assert capsys.readouterr() == ("", expected + "\n")


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_serve_port_flag_out_of_range_is_a_usage_error(
    book: Runtime, capsys: pytest.CaptureFixture[str], port: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", port], runtime=book)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"marginbot serve: error: argument --port: must be a port number from 0 to 65535, got {port!r}"
    )


def test_a_catalogue_file_that_is_a_directory_is_a_setting_to_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "adir").mkdir()
    assert run_with_env(monkeypatch, tmp_path, ["prices"], MARGINBOT_CATALOGUE_FILE="adir") == 2
    assert capsys.readouterr() == (
        "",
        "marginbot: MARGINBOT_CATALOGUE_FILE: adir is a directory: name the JSON file in it, e.g. adir/catalogue.json "
        "(got 'adir')\n",
    )


def _raised(action: Callable[[], object]) -> OSError:
    try:
        action()
    except OSError as exc:
        return exc
    raise AssertionError("no OSError")


def test_any_file_error_is_one_line_naming_the_file(tmp_path: Path) -> None:
    # Real errors from the operating system, one per kind a command meets when a path names the wrong thing.
    plain = tmp_path / "plainfile"
    plain.write_text("hi")
    folder = tmp_path / "adir"
    folder.mkdir()
    cases = [
        (_raised(lambda: folder.write_bytes(b"x")), f"marginbot: {folder} is a directory: name a file"),
        (_raised(lambda: plain.mkdir()), f"marginbot: {plain}: File exists"),
        (_raised(lambda: (plain / "x.png").write_bytes(b"x")), f"marginbot: {plain / 'x.png'}: Not a directory"),
        (_raised(lambda: folder.unlink()), f"marginbot: {folder} is a directory: name a file"),
        # Written beside, then moved over the target: the target is the one to name.
        (_raised(lambda: os.replace(plain, folder)), f"marginbot: {folder} is a directory: name a file"),
        (_raised(lambda: (tmp_path / "gone.csv").read_text()), f"marginbot: {tmp_path / 'gone.csv'}: No such file or "
         "directory"),
    ]  # fmt: skip
    for exc, line in cases:
        assert explain(exc, None) == (line, 1)
    # An OSError naming no file (a network error) is not one of these: it keeps its traceback.
    assert explain(ConnectionResetError(104, "Connection reset by peer"), None) is None


def test_a_missing_postgresql_role_is_told_to_create_the_user_not_the_database() -> None:
    url = "postgresql+psycopg://bob:hunter22@db.internal:5432/margins"
    role = Exception('connection failed: FATAL:  role "bob" does not exist')
    assert database_error(role, url) == (
        "cannot use the database postgresql+psycopg://bob:***@db.internal:5432/margins: connection failed: FATAL:  "
        'role "bob" does not exist; create that user in PostgreSQL (createuser, or CREATE ROLE ... LOGIN PASSWORD '
        "...) or fix the user name in DATABASE_URL"
    )
    database = Exception('connection failed: FATAL:  database "margins" does not exist')
    assert database_error(database, url).endswith("; create it (createdb) or fix the name in DATABASE_URL")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["forecast", "acme", "--months", "0"], "marginbot: months must be between 1 and 36\n"),
        (["floor", "acme", "--target", "100"], "marginbot: the target margin must be at least 0% and below 100%, got "
         "100%\n"),
    ],
)  # fmt: skip
def test_a_scenario_flag_out_of_range_is_a_usage_error(
    book: Runtime, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv, runtime=book) == 2
    assert capsys.readouterr() == ("", message)


@pytest.mark.parametrize(
    ("plan", "price"),
    [
        ("usage", "-1/request"),
        ("usage", "-$5/request"),
        ("usage", "-0.5/request"),
        ("usage", "-20%"),
        ("usage", "\u22121/request"),  # a typographic minus
        ("seat", "50x-80"),
        ("hybrid", "2000 + -0.02/request"),
    ],
)
def test_a_negative_price_is_refused_in_the_commands_words_not_argparses(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str], plan: str, price: str
) -> None:
    # argparse took `-1/request` for an option it did not know: "error: unrecognized arguments: -1/request"; the
    # others were "cannot read".
    load_book(runtime, tmp_path)
    code = main(["whatif", "c1", "price", plan, *price.split(), "--period", "2026-10"], runtime=runtime)
    err = capsys.readouterr().err
    assert code == 2 and "unrecognized" not in err
    assert err.startswith(f"marginbot: price {plan}: a price is never negative, got {price!r}; write it like `price ")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob:Pa55wordSECRET@host:99999/db",
        "mysql://bob:Pa55wordSECRET@h/db",
        "postgresql://bob:Pa55w@rdSECRET@127.0.0.1/db",
        "bob:Pa55wordSECRET@db.example.com/m",  # no scheme: its shape alone is no URL's
        "postgresql:/bob:Pa55wordSECRET@db/m",  # one slash
        "sqlite://bob:Pa55wordSECRET@host/db",  # two: the fix offered ("a SQLite file is sqlite:///…") quoted it
    ],
)
def test_verbose_scrubs_the_traceback_of_a_database_url_settings_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    # The traceback quoted the refused value whole: "input_value='postgresql://bob:Pa55wordSECRET@host:99999/db'".
    assert run_with_env(monkeypatch, tmp_path, ["-v", "portfolio"], DATABASE_URL=url) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err and "input_value='" in err
    assert "SECRET" not in err and "Pa55w" not in err
    assert run_with_env(monkeypatch, tmp_path, ["portfolio"], DATABASE_URL=url) == 2
    err = capsys.readouterr().err
    assert err.startswith("marginbot: DATABASE_URL: ") and "SECRET" not in err and "Pa55w" not in err


def test_an_unexpected_error_prints_a_scrubbed_traceback_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bug (no one-line explanation) left Python to print its traceback, unscrubbed.
    from bot.cli import main as cli_main

    def broken(*_: object, **__: object) -> int:
        raise RuntimeError("connecting to postgresql://bob:hunter22secret@db.internal/margins failed")

    monkeypatch.setattr(cli_main, "main", broken)
    assert cli_main.console(["portfolio"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "RuntimeError: connecting to" in err
    assert "hunter22secret" not in err
