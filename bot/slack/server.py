"""Running the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT at `/slack/events` (and `GET /healthz`
for load balancers), served by uvicorn through the front in bot/slack/http.py.

One process serves HTTP with `workers=1` (the default): uvicorn runs in a thread of this process, the scheduler
beside it, and SIGTERM/SIGINT stop both gracefully (requests in flight finish, answers being computed are still
posted). `workers=N` starts N uvicorn worker processes sharing one listening socket; each builds its own runtime,
Bolt app and scheduler from the environment (`worker_app`), and the scheduler's database lease lets exactly one of
them run the jobs at a time, as with replicas behind a load balancer.

Start-up goes in the order that lets each mistake be one line and an exit status before anything runs: the settings
and Slack's answer to the token, then the database, then the listening socket, and only then the scheduler, which
may take the jobs' lease and run them.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.error import URLError

import uvicorn
from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import text
from uvicorn.config import STARTUP_FAILURE

from bot.jobs.scheduler import start_scheduler
from bot.slack.app import ANSWER_WORKERS, SlackConfigError, check_settings, create_app, given
from bot.slack.client import BAD_TOKEN, make_client
from bot.slack.http import EVENTS_PATH, HEALTH_PATH, READY_PATH, BoundedH11Protocol, Limits, SlackFront, StartupFailed
from engine.runtime import Runtime

log = logging.getLogger(__name__)

# Kernel accept queue: a burst of Slack deliveries waits here instead of being reset (the old server's was 5).
BACKLOG = 2048
# Idle seconds before a kept-alive connection is closed. Behind a load balancer that reuses connections, serve
# --keep-alive sets it above the balancer's idle timeout (60 s on most), so the balancer closes first: otherwise it
# may send a request on a connection we are closing, and answer 502.
KEEP_ALIVE_S = 5
# On SIGTERM: requests in flight get this long to finish (each is an ack away from done, ≤ 3 s).
GRACEFUL_S = 10
# Tells `serve --workers N` processes the log level the parent was started with.
LOG_LEVEL_ENV = "MARGINBOT_LOG_LEVEL"
# Slack's own answer to a token it does not accept: the token is wrong, not Slack.


class SlackUnreachable(RuntimeError):
    """Slack (SLACK_API_URL) could not be reached at start; the message says where and why."""


class ServeFailed(RuntimeError):
    """The server could not start, or stopped by itself; the log above says why, the message where to look."""


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    return stop


def build_app(runtime: Runtime, client: WebClient, workers: ThreadPoolExecutor, *, socket_mode: bool) -> App:
    """create_app, with Slack's refusals at start turned into one line naming the setting (Bolt calls auth.test)."""
    settings = runtime.settings
    try:
        return create_app(runtime, client, workers=workers, socket_mode=socket_mode)
    except BoltError as exc:
        cause = exc.__context__
        error = cause.response.get("error") if isinstance(cause, SlackApiError) else None
        if error in BAD_TOKEN:
            raise SlackConfigError(
                f"SLACK_BOT_TOKEN was refused by Slack ({error}): copy the Bot User OAuth Token (xoxb-...) again "
                "from your Slack app's OAuth & Permissions page (reinstall the app if it was revoked)"
            ) from None
        raise SlackUnreachable(f"Slack refused auth.test at {settings.slack_api_url} ({error or exc})") from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise SlackUnreachable(
            f"cannot reach Slack at SLACK_API_URL={settings.slack_api_url} ({reason}): check the network, a proxy "
            "(HTTPS_PROXY) or SLACK_API_URL"
        ) from None


# Why a socket could not be bound → what to change. Anything else: the host and the port are both suspects.
_BIND_FIXES = {
    errno.EADDRINUSE: "set PORT (or --port) to a free port",
    errno.EACCES: "ports below 1024 need privileges: set PORT (or --port) to 1024 or above",
    errno.EADDRNOTAVAIL: "set --host to an address of this machine (127.0.0.1, or 0.0.0.0 for all interfaces)",
}


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a port in use is one clear line, and the port is known before start."""
    try:
        return socket.create_server((host, port), backlog=BACKLOG, reuse_port=False)
    except OverflowError:
        raise SlackConfigError(
            f"cannot listen on {host}:{port}: a port is a number from 0 to 65535: set PORT (or --port)"
        ) from None
    except OSError as exc:
        if isinstance(exc, socket.gaierror) or (exc.errno or 0) < 0:
            # The resolver's errors (EAI_*) are negative: os.strerror reads them as "Unknown error -2".
            why = (exc.strerror or "unknown host").split(" (while attempting", 1)[0]
            raise SlackConfigError(
                f"cannot listen on {host}:{port}: the host {host!r} cannot be resolved ({why}): set --host to an "
                "address or name of this machine (127.0.0.1, or 0.0.0.0 for all interfaces)"
            ) from None
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        fix = _BIND_FIXES.get(exc.errno or 0, "check --host, and PORT (or --port)")
        raise SlackConfigError(f"cannot listen on {host}:{port} ({reason}): {fix}") from None


def check_database(runtime: Runtime) -> None:
    """Open the database (its schema created or migrated on first use) and ask it `SELECT 1`. Raises the driver's
    error, which the command line says in one line: at start, before the port is bound; then behind /readyz."""
    with runtime.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def server_config(app: Any, *, workers: int = 1, keep_alive: int = KEEP_ALIVE_S, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for marginbot. No `limit_concurrency`: uvicorn counts open *connections* against it, so a
    few hundred idle sockets would turn real requests into 503s."""
    return uvicorn.Config(
        app,
        http=BoundedH11Protocol,
        ws="none",
        lifespan="on",
        log_config=None,  # keep marginbot's logging as configured (bot.logs)
        access_log=False,  # one line per refused request comes from the front; accepted ones say nothing
        backlog=BACKLOG,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=GRACEFUL_S,
        workers=workers,
        **options,
    )


@contextmanager
def http_server(
    app: App,
    *,
    signing_secret: str,
    host: str,
    port: int,
    limits: Limits | None = None,
    keep_alive: int = KEEP_ALIVE_S,
    sock: socket.socket | None = None,
    ready: Callable[[], None] | None = None,
) -> Iterator[tuple[str, threading.Event]]:
    """uvicorn serving `app` in a thread of this process, on `sock` (already bound) or on `host:port`. Yields the
    base URL and an event set if the server stops by itself; leaving the block shuts it down gracefully. `ready` is
    the check behind /readyz."""
    front = SlackFront(app, signing_secret=signing_secret, limits=limits, ready=ready)
    sock = sock or bind(host, port)
    server = uvicorn.Server(server_config(front, keep_alive=keep_alive))
    died = threading.Event()

    def run() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            died.set()

    thread = threading.Thread(target=run, name="marginbot-http", daemon=True)
    thread.start()
    while not server.started and not died.wait(0.01):
        pass
    if not server.started:
        thread.join()
        raise ServeFailed("the HTTP server stopped during start-up (the log above says why)")
    bound_host, bound_port = sock.getsockname()[:2]
    try:
        yield f"http://{bound_host}:{bound_port}", died
    finally:
        server.should_exit = True
        thread.join()


def serve(
    runtime: Runtime,
    *,
    host: str = "0.0.0.0",
    port: int | None = None,
    workers: int = 1,
    keep_alive: int = KEEP_ALIVE_S,
    stop: threading.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> None:
    """Run until `stop` is set (by default: SIGINT or SIGTERM). `on_ready` gets where the bot is listening.

    Raises SlackConfigError (a setting to fix) or SlackUnreachable (Slack cannot be reached) before serving.
    """
    settings = runtime.settings
    socket_mode = given(settings.slack_app_token) is not None
    port = settings.port if port is None else port
    if workers > 1:
        if socket_mode:
            raise SlackConfigError(
                "--workers applies to HTTP mode; with SLACK_APP_TOKEN set (Socket Mode) run one process per replica"
            )
        _run_workers(runtime, host, port, workers, keep_alive)
        return
    answer_workers = ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="marginbot-answer")
    client = make_client(settings)
    sock = None
    try:
        app = build_app(runtime, client, answer_workers, socket_mode=socket_mode)
        check_database(runtime)
        # Bound before the scheduler starts: a host or port that cannot be used must stop us before the scheduler
        # takes the jobs' lease and runs a job.
        sock = None if socket_mode else bind(host, port)
    except BaseException:
        answer_workers.shutdown()
        raise
    stop = stop or stop_on_signals()
    scheduler = None
    try:
        scheduler = start_scheduler(runtime, client)
        if socket_mode:
            _run_socket_mode(app, settings.slack_app_token.get_secret_value(), stop, on_ready)  # type: ignore[union-attr]
        else:
            secret = settings.slack_signing_secret.get_secret_value()  # type: ignore[union-attr]
            served = http_server(
                app,
                signing_secret=secret,
                host=host,
                port=port,
                limits=limits,
                keep_alive=keep_alive,
                sock=sock,
                ready=lambda: check_database(runtime),
            )
            with served as (url, died):
                log.info(
                    "marginbot listening on %s%s (health check %s%s, readiness %s%s)",
                    url,
                    EVENTS_PATH,
                    url,
                    HEALTH_PATH,
                    url,
                    READY_PATH,
                )
                if on_ready:
                    on_ready(url)
                _wait(stop, died)
    finally:
        if sock is not None:
            sock.close()  # (uvicorn has closed it when it served; not when the scheduler failed first)
        if scheduler is not None:
            scheduler.shutdown()
        # Answers already acknowledged are still computed and posted before the process exits.
        answer_workers.shutdown(wait=True)
        log.info("marginbot stopped")


def _wait(stop: threading.Event, died: threading.Event) -> None:
    # Whichever comes first: a stop request, or the server ending on its own (then we stop too, loudly).
    while not stop.wait(0.5):
        if died.is_set():
            raise ServeFailed("the HTTP server stopped unexpectedly (the log above says why)")


def _run_workers(runtime: Runtime, host: str, port: int, workers: int, keep_alive: int) -> None:
    from uvicorn.supervisors import Multiprocess

    settings = runtime.settings
    check_settings(settings, socket_mode=False)
    # Fail here, once, with one line, rather than in every worker: the token is checked with Slack (auth.test).
    probe = ThreadPoolExecutor(1)
    try:
        build_app(runtime, make_client(settings), probe, socket_mode=False)
    finally:
        probe.shutdown()
    # The database too, for the same reason: otherwise each worker fails on it with its own traceback.
    check_database(runtime)
    runtime.engine.dispose()  # the workers open their own pools; this process keeps no connection while it waits
    sock = bind(host, port)
    os.environ[LOG_LEVEL_ENV] = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    config = server_config("bot.slack.server:worker_app", factory=True, workers=workers, keep_alive=keep_alive)
    bound_host, bound_port = sock.getsockname()[:2]
    log.info(
        "marginbot listening on http://%s:%d%s with %d worker processes (health check %s, readiness %s)",
        bound_host,
        bound_port,
        EVENTS_PATH,
        workers,
        HEALTH_PATH,
        READY_PATH,
    )
    supervisor = Multiprocess(config, sockets=[sock])
    supervisor.run()
    log.info("marginbot stopped")
    # uvicorn stops every worker when one fails to start, and returns as if asked to stop: the exit status must say
    # it failed, or a supervisor (systemd's Restart=on-failure) takes it for a clean stop and never restarts it.
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise ServeFailed("a worker process could not start (the log above says why), so every worker was stopped")


def worker_app() -> SlackFront:
    """uvicorn's app factory for `serve --workers N`, called in each worker process: settings from the environment,
    its own database pool, Bolt app and scheduler (started and stopped with the worker through the ASGI lifespan)."""
    from bot import logs
    from config.settings import Settings

    logs.configure(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    try:
        runtime = Runtime(Settings())
        settings = runtime.settings
        answer_workers = ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="marginbot-answer")
        client = make_client(settings)
        app = build_app(runtime, client, answer_workers, socket_mode=False)
    except Exception as exc:
        _worker_failed(exc, os.environ.get("DATABASE_URL"))
        # uvicorn's code for "failed to start": the parent stops every worker instead of restarting this one in a loop.
        sys.exit(STARTUP_FAILURE)
    schedulers: list[Any] = []

    def startup() -> None:
        try:
            schedulers.append(start_scheduler(runtime, client))
        except Exception as exc:
            _worker_failed(exc, settings.database_url)
            raise StartupFailed from None

    def shutdown() -> None:
        for scheduler in schedulers:
            scheduler.shutdown()
        answer_workers.shutdown(wait=True)

    secret = settings.slack_signing_secret.get_secret_value()  # type: ignore[union-attr]
    return SlackFront(
        app, signing_secret=secret, on_startup=startup, on_shutdown=shutdown, ready=lambda: check_database(runtime)
    )


def _worker_failed(exc: Exception, database_url: str | None) -> None:
    """A worker's start-up error in the log as the command line says it (one line, passwords hidden); a bug keeps
    its traceback. The worker is `marginbot serve` in another process, so it speaks as the command does."""
    from bot.cli.errors import explain

    explained = explain(exc, database_url)
    if explained is None:
        log.error("marginbot worker %d could not start", os.getpid(), exc_info=exc)
    else:
        log.error("marginbot worker %d could not start: %s", os.getpid(), explained[0].removeprefix("marginbot: "))
        log.debug("the traceback", exc_info=exc)


def _run_socket_mode(app: App, app_token: str, stop: threading.Event, on_ready: Callable[[str], None] | None) -> None:
    from bot.slack.socket_mode import socket_mode_handler

    handler = socket_mode_handler(app, app_token)
    handler.connect()
    # connect() does not raise when the websocket cannot be opened: it logs the error and leaves the SDK's monitor to
    # retry. So ask the client whether a link is open rather than claim one.
    if handler.client.is_connected():
        log.info("marginbot connected to Slack in Socket Mode")
    else:
        log.warning(
            "marginbot could not connect to Slack in Socket Mode yet and keeps trying (the error above says why)"
        )
    if on_ready:
        on_ready("socket-mode")
    try:
        stop.wait()
    finally:
        handler.close()
