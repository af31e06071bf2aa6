"""One scrubber for every outgoing credential: each kind of secret, each way it travels, each place it could leak
(an error's message, a log line and its traceback, a stored last_error)."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from config.settings import Settings
from engine.ingest.sources.http import Fetcher, SourceError
from engine.runtime import Runtime
from engine.scrub import MASK, remember, remember_settings, scrub, scrub_exception
from engine.store.delivery import deliver_pending
from engine.store.outbox import RetryLater, enqueue
from tests.conftest import NOW


def test_bearer_tokens_and_slack_tokens_are_masked_wherever_they_appear() -> None:
    page = "<html>502<pre>Authorization: Bearer xoxb-1234-5678-AbCdEf</pre> and xapp-1-A0-1-abc123 too</html>"
    assert scrub(page) == "<html>502<pre>Authorization: Bearer ***</pre> and *** too</html>"
    assert scrub("a Bearer token is needed") == "a Bearer token is needed"  # prose is left alone


def test_basic_auth_is_masked_as_it_travels_and_prose_is_not() -> None:
    pair = base64.b64encode(b"pk-lf-public:sk-lf-secret-42").decode()
    assert scrub(f"echo: Authorization: Basic {pair}") == f"echo: Authorization: Basic {MASK}"
    assert scrub("see Basic Information > App Credentials") == "see Basic Information > App Credentials"


def test_api_key_headers_query_parameters_and_vendor_keys_are_masked() -> None:
    assert scrub("x-api-key: abcdefgh12345") == f"x-api-key: {MASK}"
    assert scrub("{'api-key': 'zz-secret-zz'}") == f"{{'api-key': '{MASK}'}}"
    assert scrub("GET /v1/usage?api_key=k123456&limit=5") == f"GET /v1/usage?api_key={MASK}&limit=5"
    assert scrub("key sk-ant-admin01-Zx9 refused; sk_live_51Habc also") == f"key {MASK} refused; {MASK} also"


def test_a_database_password_with_an_unescaped_at_sign_is_masked_whole() -> None:
    url = "postgresql://marginbot:p@ss:w0rd!@db.internal:5432/marginbot"
    masked = f"postgresql://marginbot:{MASK}@db.internal:5432/marginbot"
    assert scrub(f"could not connect to {url}") == f"could not connect to {masked}"
    settings = Settings(_env_file=None, database_url="sqlite:///x.db")  # type: ignore[call-arg]
    remember_settings(settings.model_copy(update={"database_url": url}))
    # A driver quoting only the tail of the mistyped password ("ss:w0rd!") says nothing either.
    assert "w0rd" not in scrub('password authentication failed; host "ss:w0rd!@db.internal"')


def test_a_password_is_masked_and_nothing_after_it() -> None:
    # "password: hunter22: next" lost its colon ("password: *** next"), and a URL whose user is named `password`
    # lost its host and database ("postgresql://password:***").
    assert scrub("password: hunter22: next") == f"password: {MASK}: next"
    assert scrub("x-api-key: abc123: retry") == f"x-api-key: {MASK}: retry"
    assert scrub("login failed, password=hunter22.") == f"login failed, password={MASK}."
    assert scrub("postgresql://u:secret@h:5432/db") == f"postgresql://u:{MASK}@h:5432/db"
    assert scrub("postgresql://password:secret@h:5432/db") == f"postgresql://password:{MASK}@h:5432/db"
    # A colon inside the value, or last inside its quotes, is the secret's: masked whole.
    assert scrub("password=abc:def@ghi next") == f"password={MASK} next"
    assert scrub('{"password": "hunter22:"}') == f'{{"password": "{MASK}"}}'
    # A value that only starts with what a mask looks like is a value, masked whole; "***hunter2" went out as written.
    assert scrub("password=***hunter2 x") == f"password={MASK} x"


def test_a_remembered_secret_inside_a_longer_key_value_leaves_none_of_the_value(settings: Settings) -> None:
    Runtime(settings.model_copy(update={"stripe_api_key": SecretStr("opaque-stripe-credential-9")}))
    # The secret is masked first; the rest of the value was then taken for the text after a mask and kept.
    assert scrub("api_key=opaque-stripe-credential-9-rotated next") == f"api_key={MASK} next"


def test_the_cli_never_prints_a_database_password_it_refuses(capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from bot.cli.main import main

    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cr3t@x@db/m")
    assert main(["portfolio"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and "s3cr3t" not in err


def test_every_secret_setting_is_remembered_exactly(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "slack_signing_secret": SecretStr("0123456789abcdef0123"),
            "stripe_api_key": SecretStr("opaque-stripe-credential-9"),
            "langfuse_public_key": "pk-lf-abc",
            "langfuse_secret_key": SecretStr("sk-lf-def"),
        }
    )
    Runtime(configured)  # a Runtime remembers its settings' secrets
    echoed = (
        "sig 0123456789abcdef0123, key opaque-stripe-credential-9, " + base64.b64encode(b"pk-lf-abc:sk-lf-def").decode()
    )
    assert scrub(echoed) == f"sig {MASK}, key {MASK}, {MASK}"


def test_log_lines_and_their_tracebacks_are_scrubbed_whoever_logs_them(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    remember("a-remembered-secret-value")
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("calling with %s", "Bearer abcdefghijklmnop")
        try:
            raise RuntimeError("server said: a-remembered-secret-value")
        except RuntimeError:
            logging.getLogger("another").exception("failed")
    assert "abcdefghijklmnop" not in caplog.text and "a-remembered-secret-value" not in caplog.text
    assert f"calling with Bearer {MASK}" in caplog.text and f"RuntimeError: server said: {MASK}" in caplog.text


def test_a_vendor_echoing_basic_credentials_in_an_error_gets_them_masked(caplog: pytest.LogCaptureFixture) -> None:
    pair = base64.b64encode(b"pk-lf-77:sk-lf-secret-77").decode()

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text=f"bad request; you sent Authorization: {request.headers['authorization']}")

    fetcher = Fetcher("langfuse", "http://vendor/", auth=("pk-lf-77", "sk-lf-secret-77"),
                      transport=httpx.MockTransport(echo))  # fmt: skip
    with pytest.raises(SourceError) as raised, caplog.at_level(logging.DEBUG):
        fetcher.get_json("api/public/traces")
    message = str(raised.value)
    assert "HTTP 400" in message and pair not in message and "sk-lf-secret-77" not in message
    assert pair not in caplog.text


def test_a_stored_last_error_is_scrubbed(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        enqueue(conn, dedupe_key="k", channel="C1", kind="alerts", payload={"type": "alerts"}, now=NOW)
        conn.commit()

    def failing(message: object) -> str:
        raise RetryLater("HTTP 502: <pre>Authorization: Bearer xoxb-999-888-secret</pre>", 3600)

    deliver_pending(runtime.engine, failing, clock=lambda: NOW, sleep=lambda s: None)
    with runtime.connect() as conn:
        stored = conn.execute(text("SELECT last_error FROM outbox")).scalar_one()
    assert stored == f"HTTP 502: <pre>Authorization: Bearer {MASK}</pre>"
    assert scrub_exception(ValueError("token xoxb-1-2-3")) == f"ValueError: token {MASK}"
