"""`/margin` end to end: signed HTTP in, what the user sees out (the ack body and the response_url post)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from tests.bot.blockkit import all_text, assert_valid_message
from tests.e2e.conftest import ALLOWED_CHANNEL, OTHER_CHANNEL, STRANGER, Bot, run_bot
from tests.fakes.slack_api import Reply


def test_allowed_user_gets_the_answer_with_its_figures_privately(bot: Bot) -> None:
    reply = bot.command("acme corp 2026-10")
    assert reply.status_code == 200 and reply.text == ""  # acked at once, the answer follows
    [answer] = bot.answers()
    assert answer["response_type"] == "ephemeral"
    assert_valid_message(answer["text"], answer["blocks"])
    shown = all_text(answer["blocks"])
    for figure in ("$2,000.00", "$1,484.73", "25.8%", "BREACH", "62% of COGS is gpt-4o on agent-run",
                   "P99 $418.16", "previous 85.0% (-59.2 pts)", "1 unpriced event"):  # fmt: skip
        assert figure in shown, figure


def test_share_posts_the_answer_in_the_channel(bot: Bot) -> None:
    bot.command("share portfolio 2026-10")
    [answer] = bot.answers()
    assert answer["response_type"] == "in_channel"
    assert "$3,500.00" in all_text(answer["blocks"]) and "41.9%" in answer["text"]


def test_a_stranger_is_refused_politely_and_learns_nothing(bot: Bot) -> None:
    reply = bot.command("acme 2026-10", user=STRANGER, channel=OTHER_CHANNEL)
    assert reply.status_code == 200
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert "Sorry" in body["text"] and STRANGER in body["text"]
    assert "$" not in json.dumps(body) and "Acme" not in json.dumps(body) and "acme" not in json.dumps(body)
    time.sleep(0.3)
    assert bot.slack.calls_to("response_url") == []


def test_anyone_asking_in_an_allowed_channel_sees_figures(bot: Bot) -> None:
    assert bot.command("acme 2026-10", user=STRANGER, channel=ALLOWED_CHANNEL).status_code == 200
    [answer] = bot.answers()
    assert "$1,484.73" in all_text(answer["blocks"])


def test_everyone_is_refused_when_no_access_list_is_configured(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    from bot.slack.app import create_app
    from bot.slack.client import make_client
    from engine.runtime import Runtime

    closed = Runtime(bot.runtime.settings.model_copy(update={"allowed_users": [], "allowed_channels": []}))
    with caplog.at_level("WARNING"):
        create_app(closed, make_client(closed.settings))
    assert "MARGINBOT_ALLOWED_USERS" in caplog.text and "MARGINBOT_ALLOWED_CHANNELS" in caplog.text
    caplog.clear()
    with run_bot(closed) as url, caplog.at_level("WARNING"):
        open_bot = Bot(url, closed, bot.slack, bot.http)
        body = open_bot.command("acme", channel=ALLOWED_CHANNEL).json()
    assert "Sorry" in body["text"] and "$" not in json.dumps(body)
    assert "marginbot refuses everyone: set MARGINBOT_ALLOWED_USERS" in caplog.text


@pytest.mark.parametrize(
    ("change", "why"),
    [({"secret": "not-the-signing-secret"}, "forged signature"), ({"timestamp": -6 * 60}, "six minutes old")],
)
def test_forged_or_stale_requests_get_401_and_no_answer(bot: Bot, change: dict[str, object], why: str) -> None:
    if "timestamp" in change:
        change = {"timestamp": int(time.time()) + int(change["timestamp"])}  # type: ignore[call-overload]
    reply = bot.command("acme 2026-10", **change)  # type: ignore[arg-type]
    assert reply.status_code == 401, why
    time.sleep(0.3)
    assert bot.slack.calls_to("response_url") == []


def test_unsigned_request_gets_401(bot: Bot) -> None:
    reply = bot.http.post(f"{bot.url}/slack/events", content=b"command=/margin&text=acme",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert reply.status_code == 401


def test_unknown_customer_gets_suggestions_privately_even_with_share(bot: Bot) -> None:
    bot.command("acme crop share")
    [answer] = bot.answers()
    assert answer["response_type"] == "ephemeral"  # a mistake is not broadcast
    assert answer["text"].startswith("No customer “acme crop”; did you mean") and "Acme Corp" in answer["text"]


@pytest.mark.parametrize(
    "question",
    ["acme'; DROP TABLE customer; --", "<!channel> hello", 'acme" OR 1=1 --', "x" * 5000],
)
def test_injection_shaped_input_changes_nothing_and_pings_no_one(bot: Bot, question: str) -> None:
    reply = bot.command(question)
    assert reply.status_code == 200
    if reply.text:  # too long: the help comes straight back in the ack
        seen = reply.json()
        assert "at most 300" in seen["text"]
    else:
        [seen] = bot.answers()
        assert seen["text"].startswith("No customer")
    assert "<!channel>" not in json.dumps(seen)
    with bot.runtime.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM customer")).scalar_one() == 3


def test_what_slack_escapes_in_the_text_is_read_as_typed(bot: Bot) -> None:
    with bot.runtime.engine.begin() as conn:
        conn.execute(text("UPDATE customer SET aliases = 'acme inc;a&c' WHERE id = 'acme'"))
    bot.command("a&amp;c 2026-10")  # what Slack sends for "a&c 2026-10"
    [answer] = bot.answers()
    assert "Acme Corp" in answer["text"] and "$2,000.00" in all_text(answer["blocks"])


def test_help_and_malformed_input_answer_in_the_ack(bot: Bot) -> None:
    for question in ("help", "", "7d"):
        body = bot.command(question).json()
        assert body["response_type"] == "ephemeral"
        assert "/margin CUSTOMER [PERIOD]" in body["text"]
    # Words after a keyword that do not fit its form may be a customer's name ("Top Gun"): only the database can
    # tell, so the help comes after the ack.
    assert bot.command("top ten").text == ""
    [answer] = bot.answers()
    assert answer["response_type"] == "ephemeral" and "`top` takes a number" in answer["text"]


def test_twenty_concurrent_commands_are_all_acked_within_three_seconds(bot: Bot) -> None:
    timings: dict[int, tuple[int, float]] = {}

    def ask(i: int) -> None:
        started = time.monotonic()
        reply = bot.command(f"{['acme', 'globex', 'initech', 'portfolio'][i % 4]} 2026-10", response=f"c{i}")
        timings[i] = (reply.status_code, time.monotonic() - started)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(status for status, _ in timings.values()) == [200] * 20
    slowest = max(seconds for _, seconds in timings.values())
    assert slowest < 3.0, f"slowest ack took {slowest:.2f}s"
    answers = bot.slack.wait_for(lambda c: c.method == "response_url", count=20, timeout=30)
    assert {c.path.rsplit("/", 1)[1] for c in answers} == {f"c{i}" for i in range(20)}
    assert all("Sorry" not in c.body["text"] for c in answers)


def test_acks_never_wait_for_answers_even_when_every_worker_is_busy(bot: Bot) -> None:
    # One answer worker, held by a long job: acknowledgements must still come back at once, and the answers
    # must all arrive once the worker is free.
    workers = ThreadPoolExecutor(1)
    release = threading.Event()
    workers.submit(release.wait, 30)
    try:
        with run_bot(bot.runtime, workers) as url:
            busy = Bot(url, bot.runtime, bot.slack, bot.http)
            started = time.monotonic()
            replies = [busy.command("initech 2026-10", response=f"b{i}") for i in range(20)]
            acked_in = time.monotonic() - started
            assert [r.status_code for r in replies] == [200] * 20 and acked_in < 3.0
            assert bot.slack.calls_to("response_url") == []  # nothing answered yet: the worker is busy
            release.set()
            answers = bot.slack.wait_for(lambda c: c.method == "response_url", count=20, timeout=30)
    finally:
        release.set()
    assert all("50.0%" in c.body["text"] for c in answers)


def test_a_429_on_the_response_url_is_retried_after_retry_after(bot: Bot) -> None:
    bot.slack.queue("response_url", Reply(429, {"ok": False, "error": "rate_limited"}, {"Retry-After": "1"}))
    bot.command("globex 2026-10")
    first, second = bot.slack.wait_for(lambda c: c.method == "response_url", count=2)
    assert second.at - first.at >= 0.9
    assert "70.0%" in second.body["text"]
