"""The Bolt app factory: build the app, attach what listeners need, register them. Nothing else."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor

from pydantic import SecretStr
from slack_bolt import App, BoltContext
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot.slack import listeners
from bot.slack.access import Access
from bot.slack.client import make_client
from bot.slack.services import Services
from config.settings import Settings
from engine.runtime import Runtime

log = logging.getLogger(__name__)

# Acknowledging is a dictionary lookup and a queue put; these threads only ever wait for that.
ACK_WORKERS = 16
# Answers read the database; two cores and SQLAlchemy's pool (5 + 10 overflow) make more pointless. Requests
# beyond this wait in the queue after they were acknowledged, so Slack's 3-second window is never at risk.
ANSWER_WORKERS = 8


class _DropTokenUnusedWarning(logging.Filter):
    """Bolt warns "`token` will be unused" whenever SLACK_BOT_TOKEN is in the environment and `client=` is passed,
    as here: but our client carries that very token (with retries and SLACK_API_URL), so the warning is wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


# Bolt's app logger prints these at DEBUG with a body in them: Bolt's own ack body, and (Socket Mode's client logs to
# the app's logger) every envelope and frame, response_url included. The log promises neither, even under -v.
BODY_LINES = (
    "Responding with status",
    "Sending a message",
    "on_message invoked",
    "Sending a text data frame",
    "Received a new data frame",
)


class _DropBodies(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG or not str(record.msg).startswith(BODY_LINES)


def _quiet_bolt() -> None:
    # A logger's filters survive Bolt's per-app logger configuration (which resets only level and handlers).
    bolt = logging.getLogger("slack_bolt.App")
    for kind in (_DropTokenUnusedWarning, _DropBodies):
        if not any(isinstance(f, kind) for f in bolt.filters):
            bolt.addFilter(kind())


class SlackConfigError(RuntimeError):
    """A Slack setting is missing or wrong; the message names it and says where to find the value."""


def given(secret: SecretStr | None) -> str | None:
    """A Slack secret's value, or None when it is unset or blank. Settings read from the environment already turn a
    blank into None; this also covers settings built in code (`model_copy` skips validators)."""
    value = secret.get_secret_value() if secret is not None else ""
    return value if value.strip() else None


def check_settings(settings: Settings, *, socket_mode: bool) -> None:
    """Fail at start, naming the setting, rather than with a 401 on the first request."""
    problems = []
    if given(settings.slack_bot_token) is None:
        problems.append(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-...) from your Slack app's "
            "OAuth & Permissions page"
        )
    if socket_mode:
        token = given(settings.slack_app_token) or ""
        if not token.startswith("xapp-"):
            problems.append(
                "SLACK_APP_TOKEN must be an app-level token (xapp-...) with the connections:write scope, "
                "from "
                "Basic Information > App-Level Tokens"
            )
    elif given(settings.slack_signing_secret) is None:
        problems.append(
            "SLACK_SIGNING_SECRET is not set: copy the Signing Secret from Basic Information > "
            "App Credentials "
            "(or set SLACK_APP_TOKEN to use Socket Mode)"
        )
    if problems:
        raise SlackConfigError("; ".join(problems))


def create_app(
    runtime: Runtime,
    client: WebClient | None = None,
    *,
    workers: Executor | None = None,
    socket_mode: bool = False,
) -> App:
    """The `/margin` Bolt app. `client` defaults to the retrying client on SLACK_API_URL; `workers` answer."""
    settings = runtime.settings
    check_settings(settings, socket_mode=socket_mode)
    access = Access.from_settings(settings)
    access.warn_if_closed()
    secret = given(settings.slack_signing_secret)
    _quiet_bolt()
    app = App(
        name="marginbot",
        client=client or make_client(settings),
        # Signature and timestamp checks stay on (they are skipped by Bolt only for Socket Mode's websocket).
        signing_secret=secret,
        request_verification_enabled=True,
        listener_executor=ThreadPoolExecutor(ACK_WORKERS, thread_name_prefix="marginbot-ack"),
    )
    services = Services(
        runtime, access, workers or ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="marginbot-answer")
    )

    @app.middleware
    def attach_services(context: BoltContext, next_: object) -> None:
        context["services"] = services
        next_()  # type: ignore[operator]

    listeners.register(app)
    # Bolt logs the whole body of a badly signed request at INFO, and sets this logger's level from the root's when
    # the app is built: so lower it afterwards. (The HTTP front refuses such requests before Bolt sees them.)
    logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
    return app
