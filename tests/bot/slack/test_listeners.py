"""The alert buttons, `/margin` and App Home through the real Bolt app and its listeners: requests dispatched into
the app as Socket Mode delivers them (no signature), Slack's side played by the stand-in (tests/fakes)."""

from __future__ import annotations

import csv
import itertools
import json
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.blocks.alerts import ACK, OPEN, SNOOZE, WHATIF, subject_ref
from bot.blocks.interactive import shared_command
from bot.cli.main import main
from bot.command import Command
from bot.jobs.delivery import deliver
from bot.slack import alert_actions
from bot.slack.access import Access
from bot.slack.app import create_app
from bot.slack.client import make_client
from bot.slack.services import Services
from config.settings import Settings
from engine.alerts.state import load_states
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_postable, assert_valid_home
from tests.bot.dataset import load_dataset
from tests.conftest import NOW
from tests.engine.alerts.accounts_book import load_accounts
from tests.engine.alerts.book import WINDOW_START, write_contracts
from tests.fakes.slack_api import Call, Reply, SlackStandIn

ALLOWED_USER, OWNER, CHANNEL = "UALLOWED", "U012PAT", "CALERTS"
# Two 200-character keys (the longest a key may be) that differ only at the end: escaped, each is past a block
# id's 255 characters and an option value's 150.
LONG_A = "k" + "&" * 60 + "a" * 139
LONG_B = "k" + "&" * 60 + "b" * 139
LONG_C = "m" + "<" * 199  # alone in its first 255 escaped characters


class Inline(Executor):
    """The answer workers, run at once on the listener's thread (one fewer thread to wait for)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(fn(*args, **kwargs))
        return done


class Bot:
    def __init__(self, rt: Runtime, slack: SlackStandIn) -> None:
        self.rt, self.slack = rt, slack
        self.app: App = create_app(rt, make_client(rt.settings), workers=Inline())

    def dispatch(self, body: str, content_type: str) -> BoltResponse:
        request = BoltRequest(body=body, mode="socket_mode", headers={"content-type": [content_type]})
        return self.app.dispatch(request)

    def command(self, words: str, *, response: str = "r1") -> BoltResponse:
        body = urlencode({"token": "t", "team_id": "T1", "channel_id": "COTHER", "user_id": ALLOWED_USER,
                          "command": "/margin", "text": words, "api_app_id": "A1",
                          "response_url": self.slack.response_url(response), "trigger_id": "1.2.3"})  # fmt: skip
        return self.dispatch(body, "application/x-www-form-urlencoded")

    def click(
        self, user: str, action: dict[str, Any], until: str, *, ts: str | None = None, home: bool = False
    ) -> Call:
        """A block_actions payload as Slack sends it for a click on a channel message (`ts`) or the Home tab; the
        listener goes on after its ack, so this waits for the next call to the Web API method `until`."""
        where: dict[str, Any]
        if home:
            where = {"container": {"type": "view", "view_id": "VHOME"}, "view": {"id": "VHOME", "type": "home"}}
        else:
            where = {"container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
                     "channel": {"id": CHANNEL}, "message": {"ts": ts, "blocks": []},
                     "response_url": self.slack.response_url("click")}  # fmt: skip
        payload = {"type": "block_actions", "user": {"id": user, "team_id": "T1"}, "api_app_id": "A1",
                   "token": "t", "trigger_id": "1.2.click", "team": {"id": "T1"},
                   "actions": [{**action, "action_ts": "1"}], **where}  # fmt: skip
        seen = len(self.slack.calls_to(until))
        reply = self.dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        assert reply.status == 200
        return self.slack.wait_for(lambda c: c.method == until, count=seen + 1)[seen]

    def check(self) -> tuple[str, list[dict[str, Any]]]:
        """`marginbot alerts check`: the ts and blocks of the alert message it posted."""
        assert main(["alerts", "check"], runtime=self.rt) == 0
        with self.rt.connect() as conn:
            ts = conn.execute(text("SELECT slack_ts FROM outbox WHERE kind = 'alerts' ORDER BY id")).scalar_one()
        return ts, self.slack.calls_to("chat.postMessage")[0].blocks

    def states(self) -> dict[tuple[str, str], Any]:
        with self.rt.connect() as conn:
            return load_states(conn)


def make_bot(settings: Settings, slack: SlackStandIn, folder: Path, loader: Callable[[Runtime, Path], None]) -> Bot:
    configured = settings.model_copy(
        update={"slack_bot_token": SecretStr("xoxb-test"), "slack_signing_secret": SecretStr("s3cret"),
                "slack_api_url": slack.api_url, "allowed_users": [ALLOWED_USER], "allowed_channels": [],
                "alert_channels": [CHANNEL]}
    )  # fmt: skip
    rt = Runtime(configured, now_override=NOW)
    loader(rt, folder / "book")
    return Bot(rt, slack)


def view_of(call: Call) -> dict[str, Any]:
    view = call.body["view"]
    return view if isinstance(view, dict) else json.loads(view)


# 1. Confidentiality: acting on an alert is not seeing the portfolio.


def test_an_owner_off_the_access_list_acting_from_the_home_tab_gets_the_no_access_view(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    bot.check()
    # U012PAT owns "owned" and may acknowledge its alert, but is not on MARGINBOT_ALLOWED_USERS.
    ack = {"type": "button", "action_id": ACK, "block_id": "alert:customer:owned", "value": "customer:owned"}
    published = bot.click(OWNER, ack, "views.publish", home=True)
    assert bot.states()[("customer", "owned")].acked_by == OWNER  # the acknowledgement itself counts
    shown = all_text(view_of(published)["blocks"])
    assert published.body["user_id"] == OWNER
    assert "MARGINBOT_ALLOWED_USERS" in shown and OWNER in shown
    for figure in ("$", "%", "Strict Inc", "Plain Co", "Owned Corp"):
        assert figure not in shown, figure


def test_someone_on_the_access_list_acting_from_the_home_tab_gets_the_dashboard_again(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    bot.check()
    ack = {"type": "button", "action_id": ACK, "block_id": "alert:customer:plain", "value": "customer:plain"}
    published = bot.click(ALLOWED_USER, ack, "views.publish", home=True)
    shown = all_text(view_of(published)["blocks"])
    assert published.body["user_id"] == ALLOWED_USER
    assert "Plain Co" in shown and "Acknowledged by <@UALLOWED>" in shown


@pytest.mark.parametrize("action_id", [ACK, OPEN, WHATIF])
def test_a_click_refused_from_the_home_tab_takes_the_figures_off_it(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, action_id: str
) -> None:
    # UGONE saw the dashboard while on the access list; taken off it since, their Home tab still showed every
    # customer's figures after a refused click, until they opened it again.
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    bot.check()
    button = {"type": "button", "action_id": action_id, "block_id": "alert:customer:plain", "value": "customer:plain"}
    published = bot.click("UGONE", button, "views.publish", home=True)
    assert published.body["user_id"] == "UGONE"
    shown = all_text(view_of(published)["blocks"])
    assert "MARGINBOT_ALLOWED_USERS" in shown
    for figure in ("$", "%", "Strict Inc", "Plain Co", "Owned Corp"):
        assert figure not in shown, figure
    assert bot.states()[("customer", "plain")].acked_by == ""


# 2. `/margin top ²`: a digit to str.isdigit, not to int().


@pytest.mark.parametrize("words", ["top ²", "worst ①", "top 1²"])
def test_a_digit_int_cannot_read_gets_the_help_for_top_not_a_failure(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, words: str
) -> None:
    bot = make_bot(settings, slack, tmp_path, load_dataset)
    reply = bot.command(words)
    assert reply.status == 200
    # Answered after the ack: only the database can say whether the words are a customer's name ("Top Gun").
    [answer] = slack.wait_for(lambda c: c.method == "response_url")
    kind = words.split()[0]
    assert answer.body["response_type"] == "ephemeral"
    assert f"`{kind}` takes a number and a period" in all_text(answer.body["blocks"])
    assert not any(b.get("block_id") == "share" for b in answer.body["blocks"])


def named(*customers: tuple[str, str, str]) -> Callable[[Runtime, Path], None]:
    """A loader of the hand-built book and `customers` (id, name, product) besides."""

    def load(rt: Runtime, folder: Path) -> None:
        load_dataset(rt, folder)
        import_contracts_file(rt.engine, write_contracts(folder / "named.csv", list(customers)))

    return load


def share_button(blocks: list[dict[str, Any]]) -> Command:
    """The question the answer's one Share to channel button repeats."""
    [button] = [b for b in blocks if b.get("block_id") == "share"]
    shared = shared_command(button["elements"][0]["value"])
    assert shared is not None
    return shared[0]


def test_a_customer_named_like_a_form_is_answered_and_its_share_button_repeats_that_question(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, named(("topgun", "Top Gun", "app")))  # a name starting with a keyword
    assert bot.command("Top Gun 2026-10").status == 200
    [answer] = slack.wait_for(lambda c: c.method == "response_url")
    assert "Top Gun" in all_text(answer.body["blocks"]) and "takes a number" not in all_text(answer.body["blocks"])
    shared = share_button(answer.body["blocks"])
    assert (shared.kind, shared.subject, shared.period) == ("customer", "Top Gun", "2026-10")


def test_a_name_holding_the_word_share_is_answered_privately_for_that_customer(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # Two customers one word apart, the word being `share`.
    bot = make_bot(
        settings,
        slack,
        tmp_path,
        named(("fairfoods", "Fair Foods", "app"), ("fairsharefoods", "Fair Share Foods", "app")),
    )
    assert bot.command("Fair Share Foods 2026-10").status == 200
    [answer] = slack.wait_for(lambda c: c.method == "response_url")
    # Not Fair Foods' figures posted in the channel: the whole name is a customer's.
    assert answer.body["response_type"] == "ephemeral"
    assert "Fair Share Foods" in all_text(answer.body["blocks"])
    assert share_button(answer.body["blocks"]).subject == "Fair Share Foods"


# 3. Long subject keys: every block id unique, every click on the subject it was made for.


def long_keys(rt: Runtime, folder: Path) -> None:
    """Four customers in breach (30%), three of them with keys as long as a key may be (event ids kept short)."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = {LONG_A: "Long A", LONG_B: "Long B", LONG_C: "Long C", "short": "Short Co"}
    import_contracts_file(
        rt.engine, write_contracts(folder / "contracts.csv", [(k, n, "app") for k, n in keys.items()])
    )
    usage = folder / "usage.csv"
    with usage.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["event_id", "ts", "customer", "product", "model", "requests", "cost_usd"])
        for n, key in enumerate(keys):
            for i in range(30):
                day = WINDOW_START + timedelta(days=i)
                w.writerow([f"e{n}-{i}", f"{day}T12:00:00+00:00", key, "app", "gpt-4o", 10, "7.00"])
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)


def section_and_next(blocks: list[dict[str, Any]], subject: str) -> list[dict[str, Any]]:
    """The subject's own section (the one its buttons, or what replaced them, follow) and that next block."""
    for block, after in itertools.pairwise(blocks):
        named = block["type"] == "section" and f"*{subject}*" in block.get("text", {}).get("text", "")
        if named and after["type"] in ("actions", "context"):
            return [block, after]
    raise AssertionError(f"no section of {subject!r} with its buttons")


def snooze_action(blocks: list[dict[str, Any]], subject: str, days: int) -> dict[str, Any]:
    """Snooze `days` days as chosen from the subject's overflow menu (found under its name, not by block id)."""
    block = section_and_next(blocks, subject)[1]
    overflow = next(e for e in block["elements"] if e["action_id"] == SNOOZE)
    option = next(o for o in overflow["options"] if o["text"]["text"] == f"Snooze {days} days")
    return {"type": "overflow", "action_id": SNOOZE, "block_id": block["block_id"], "selected_option": option}


def test_two_long_keys_get_distinct_block_ids_and_a_snooze_snoozes_the_one_clicked(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, long_keys)
    ts, blocks = bot.check()
    assert_postable("alerts", blocks)  # among others: no block id twice, none past 255 characters
    update = bot.click(ALLOWED_USER, snooze_action(blocks, "Long B", 7), "chat.update", ts=ts)
    states = bot.states()
    assert states[("customer", LONG_B)].snoozed_by == ALLOWED_USER
    assert states[("customer", LONG_A)].snoozed_by == states[("customer", LONG_C)].snoozed_by == ""
    assert ":zzz: Snoozed by <@UALLOWED>" in all_text(section_and_next(update.blocks, "Long B"))
    assert ":zzz:" not in all_text(section_and_next(update.blocks, "Long A"))


def test_a_long_keys_snooze_on_the_home_tab_acts_on_it(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> None:
    bot = make_bot(settings, slack, tmp_path, long_keys)
    bot.check()
    opened = {"token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1",
              "event": {"type": "app_home_opened", "user": ALLOWED_USER, "tab": "home"}, "event_time": 1}  # fmt: skip
    bot.dispatch(json.dumps(opened), "application/json")
    [published] = slack.wait_for(lambda c: c.method == "views.publish")
    blocks = view_of(published)["blocks"]
    assert_valid_home(view_of(published))
    bot.click(ALLOWED_USER, snooze_action(blocks, "Long A", 30), "views.publish", home=True)
    states = bot.states()
    assert states[("customer", LONG_A)].snoozed_by == ALLOWED_USER
    assert states[("customer", LONG_B)].snoozed_by == states[("customer", LONG_C)].snoozed_by == ""


def test_messages_posted_before_keep_working(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> None:
    """An older version put `alert:{ref}` (clipped to 255) in the block id and, for a long ref, only `7d` in the
    Snooze option: a short key's block id still names it, a clipped one the one subject it can be, and a clipped
    one that two subjects share is refused rather than guessed."""
    bot = make_bot(settings, slack, tmp_path, long_keys)
    ts, _ = bot.check()

    def old_snooze(key: str) -> dict[str, Any]:
        option = {"text": {"type": "plain_text", "text": "Snooze 7 days"}, "value": "7d"}
        ref = f"alert:{subject_ref('customer', key)}"
        block_id = ref if len(ref) <= 255 else ref[:254] + "…"  # clipped as it was then, an entity cut or not
        return {"type": "overflow", "action_id": SNOOZE, "block_id": block_id, "selected_option": option}

    bot.click(ALLOWED_USER, old_snooze("short"), "chat.update", ts=ts)
    bot.click(ALLOWED_USER, old_snooze(LONG_C), "chat.update", ts=ts)
    states = bot.states()
    assert states[("customer", "short")].snoozed_by == states[("customer", LONG_C)].snoozed_by == ALLOWED_USER

    assert old_snooze(LONG_A)["block_id"] == old_snooze(LONG_B)["block_id"]
    refusal = bot.click(ALLOWED_USER, old_snooze(LONG_A), "response_url", ts=ts)
    states = bot.states()
    assert states[("customer", LONG_A)].snoozed_by == states[("customer", LONG_B)].snoozed_by == ""
    assert refusal.body["response_type"] == "ephemeral"
    assert "could not tell which customer or product" in all_text(refusal.blocks)
    assert len(slack.calls_to("chat.update")) == 2


# 4. `/margin floor acme target nan`: refused like 100 or inf, not a failure.


@pytest.mark.parametrize(("target", "shown"), [("nan", "NaN"), ("snan", "sNaN"), ("NaN%", "NaN")])
def test_a_target_that_is_not_a_number_is_refused_in_one_line(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture, target: str,
    shown: str,
) -> None:  # fmt: skip
    bot = make_bot(settings, slack, tmp_path, load_dataset)
    with caplog.at_level(logging.ERROR):
        assert bot.command(f"floor acme target {target}").status == 200
        [answer] = slack.wait_for(lambda c: c.method == "response_url")
    assert answer.body["response_type"] == "ephemeral"
    said = all_text(answer.blocks)
    assert f"the target margin must be at least 0% and below 100%, got {shown}%" in said
    assert "went wrong" not in said
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# 5. Work on the answer workers that fails unexpectedly: logged with its traceback, and the clicker is told.


def _database_down(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("UPDATE alert_state ...", {}, Exception("server closed the connection unexpectedly"))


@pytest.mark.parametrize(("button", "what"), [("acknowledge", "acknowledge"), ("snooze", "snooze")])
def test_an_acknowledge_or_snooze_that_fails_unexpectedly_is_logged_and_answered_in_one_line(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, button: str, what: str,
) -> None:  # fmt: skip
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    ts, blocks = bot.check()
    monkeypatch.setattr(alert_actions, button, _database_down)  # the database restarting, or SQLite busy
    if button == "snooze":
        action = snooze_action(blocks, "Plain Co", 7)
    else:
        buttons = section_and_next(blocks, "Plain Co")[1]
        action = {**next(e for e in buttons["elements"] if e["action_id"] == ACK), "block_id": buttons["block_id"]}
    with caplog.at_level(logging.ERROR):
        reply = bot.click(ALLOWED_USER, action, "response_url", ts=ts)
    assert reply.body["response_type"] == "ephemeral"
    said = all_text(reply.blocks)
    assert f"could not {what} this alert" in said and "try again" in said
    assert "OperationalError" not in said and "alert_state" not in said  # the details are for the log
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"could not {what} this alert for {ALLOWED_USER}" in logged.getMessage()
    assert logged.exc_info is not None and logged.exc_info[0] is OperationalError
    assert slack.calls_to("chat.update") == []  # nothing changed, so nothing re-rendered


def test_any_job_on_the_answer_workers_that_fails_is_logged_with_its_traceback(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    services = Services(Runtime(settings), Access.from_settings(settings), Inline())

    def boom() -> None:
        raise RuntimeError("no such table: customer")

    with caplog.at_level(logging.ERROR):
        services.workers.submit(boom).result()
    [logged] = caplog.records
    assert "boom failed on the answer workers" in logged.getMessage()
    assert logged.exc_info is not None and logged.exc_info[0] is RuntimeError


@pytest.mark.parametrize(("home", "down"), [(False, "find_posted"), (True, "customer_name")])
def test_a_what_if_whose_database_read_fails_is_logged_and_answered_in_one_line(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, home: bool, down: str,
) -> None:  # fmt: skip
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    ts, _ = bot.check()
    monkeypatch.setattr(alert_actions, down, _database_down)  # what the listener reads before opening the modal
    button = {"type": "button", "action_id": WHATIF, "block_id": "alert:customer:plain", "value": "customer:plain"}
    with caplog.at_level(logging.ERROR):
        if home:  # no channel to answer in: the line comes in a modal, opened with the click's trigger
            said = all_text(view_of(bot.click(ALLOWED_USER, button, "views.open", home=True))["blocks"])
        else:
            reply = bot.click(ALLOWED_USER, button, "response_url", ts=ts)
            assert reply.body["response_type"] == "ephemeral"
            said = all_text(reply.blocks)
    assert "could not open the what-if" in said and "try again" in said
    assert "OperationalError" not in said and "alert_state" not in said
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert f"could not open the what-if for {ALLOWED_USER}" in logged.getMessage()
    assert logged.exc_info is not None and logged.exc_info[0] is OperationalError


# 6. An Acknowledge or Snooze that is committed has worked, whatever befalls the messages that show it.


def click_on(blocks: list[dict[str, Any]], button: str, subject: str) -> dict[str, Any]:
    if button == "snooze":
        return snooze_action(blocks, subject, 7)
    buttons = section_and_next(blocks, subject)[1]
    return {**next(e for e in buttons["elements"] if e["action_id"] == ACK), "block_id": buttons["block_id"]}


@pytest.mark.parametrize(("button", "done"), [("acknowledge", "Acknowledged"), ("snooze", "Snoozed for 7 days")])
def test_an_acknowledge_or_snooze_whose_messages_cannot_be_found_afterwards_is_still_said_to_have_worked(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, button: str, done: str,
) -> None:  # fmt: skip
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    ts, blocks = bot.check()
    monkeypatch.setattr(alert_actions, "subject_roots", _database_down)  # down just after the change committed
    with caplog.at_level(logging.ERROR):
        reply = bot.click(ALLOWED_USER, click_on(blocks, button, "Plain Co"), "response_url", ts=ts)
    said = all_text(reply.blocks)
    assert reply.body["response_type"] == "ephemeral"
    assert said.startswith(f":white_check_mark: {done}.") and "no need to click again" in said
    assert "could not" not in said.replace("could not be updated just now", "") and "try again" not in said
    # Nothing could be queued here (the messages could not be found): "a little longer" promised too much.
    assert "may still show its buttons for a while (until Slack takes the update, or the alert's next one)" in said
    state = bot.states()[("customer", "plain")]
    assert ALLOWED_USER in (state.acked_by, state.snoozed_by)
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "could not find the alert messages of customer plain" in logged.getMessage()


def test_an_acknowledge_whose_update_slack_refuses_with_a_429_is_said_to_have_worked_and_shown_later(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, load_accounts)
    ts, blocks = bot.check()
    slack.queue("chat.update", Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "20"}))
    reply = bot.click(ALLOWED_USER, click_on(blocks, "acknowledge", "Plain Co"), "response_url", ts=ts)
    assert all_text(reply.blocks).startswith(":white_check_mark: Acknowledged.")
    assert bot.states()[("customer", "plain")].acked_by == ALLOWED_USER
    [refused] = slack.calls_to("chat.update")
    # Twenty seconds later the outbox updates the alert in place, as the click would have.
    later = Runtime(bot.rt.settings.model_copy(), now_override=NOW + timedelta(seconds=21))
    assert len(deliver(later, make_client(later.settings), sleep=lambda s: None).sent) == 1
    [_, update] = slack.calls_to("chat.update")
    assert (update.body["channel"], update.body["ts"]) == (CHANNEL, ts)
    assert "Acknowledged by <@UALLOWED>" in all_text(update.blocks)
    assert "alert:customer:plain" not in [b.get("block_id") for b in update.blocks]  # its buttons are gone
    assert refused.body["ts"] == ts
