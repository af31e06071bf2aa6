"""Socket Mode end to end against a loopback websocket stand-in: hello, a slash command acknowledged and answered,
interactive payloads (a button, a modal's submission), and a connection that goes silent replaced within ~15 s.

The reconnect test waits on the Slack SDK's own monitor thread, which reads the real clock: it takes ~12 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.blocks.interactive import SHARE, WHATIF_VIEW, WhatIfForm, whatif_modal
from bot.slack.app import create_app
from bot.slack.client import make_client
from bot.slack.socket_mode import PING_INTERVAL, socket_mode_handler
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.blockkit import all_text
from tests.bot.dataset import load_dataset
from tests.conftest import NOW
from tests.e2e.conftest import ALLOWED_USER, STRANGER, bot_settings
from tests.fakes.slack_api import SlackStandIn
from tests.fakes.socket_mode import SocketStandIn

APP_TOKEN = "xapp-1-A0001-1-e2etoken"


@pytest.fixture
def link() -> Iterator[SocketStandIn]:
    with SocketStandIn() as standin:
        yield standin


@pytest.fixture
def connected(settings: Settings, slack: SlackStandIn, link: SocketStandIn, tmp_path: Path) -> Iterator[Runtime]:
    slack.socket_url = link.url
    rt = Runtime(bot_settings(settings, slack, slack_app_token=SecretStr(APP_TOKEN)), now_override=NOW)
    load_dataset(rt, tmp_path / "book")
    workers = ThreadPoolExecutor(4, thread_name_prefix="e2e-socket")
    app = create_app(rt, make_client(rt.settings), workers=workers, socket_mode=True)
    handler: SocketModeHandler = socket_mode_handler(app, APP_TOKEN)
    handler.connect()
    try:
        link.wait_for_link()
        yield rt
    finally:
        handler.close()
        workers.shutdown(wait=True)


def command(envelope: str, text: str, *, user: str = ALLOWED_USER, response: str = "r1") -> dict[str, Any]:
    return {
        "envelope_id": envelope,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "x", "team_id": "T0001", "team_domain": "demo", "channel_id": "COTHER", "channel_name": "general",
            "user_id": user, "user_name": "someone", "command": "/margin", "text": text, "api_app_id": "A0001",
            "is_enterprise_install": "false", "response_url": f"RESPONSE/{response}", "trigger_id": "1.2.3",
        },
    }  # fmt: skip


def interactive(envelope: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"envelope_id": envelope, "type": "interactive", "accepts_response_payload": False, "payload": payload}


def click(action: dict[str, Any], *, user: str, response_url: str) -> dict[str, Any]:
    return {
        "type": "block_actions", "user": {"id": user, "username": "u", "name": "u", "team_id": "T0001"},
        "api_app_id": "A0001", "token": "x", "trigger_id": "111.222.abc", "team": {"id": "T0001", "domain": "demo"},
        "channel": {"id": "COTHER", "name": "general"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "COTHER",
                      "is_ephemeral": True},
        "response_url": response_url, "actions": [{**action, "block_id": "b1", "action_ts": "1700000001.000200"}],
    }  # fmt: skip


def with_url(envelope: dict[str, Any], slack: SlackStandIn) -> dict[str, Any]:
    payload = envelope["payload"]
    payload["response_url"] = slack.response_url(payload["response_url"].split("/", 1)[1])
    return envelope


def test_hello_then_a_slash_command_is_acknowledged_and_answered(
    connected: Runtime, slack: SlackStandIn, link: SocketStandIn
) -> None:
    link.send(with_url(command("e1", "acme"), slack))
    assert link.wait_for_ack("e1") == {"envelope_id": "e1"}  # acknowledged at once, answered after
    [answer] = slack.wait_for(lambda c: c.method == "response_url" and c.path.endswith("/r1"))
    assert answer.body["response_type"] == "ephemeral" and "Acme Corp" in all_text(answer.blocks)
    share = answer.blocks[-1]["elements"][0]
    assert (share["action_id"], share["text"]["text"]) == (SHARE, "Share to channel")
    # The help goes back in the acknowledgement itself.
    link.send(with_url(command("e2", "help", response="r2"), slack))
    assert "Ask marginbot" in str(link.wait_for_ack("e2")["payload"])


def test_interactive_payloads_over_the_link_a_button_and_a_modal_submission(
    connected: Runtime, slack: SlackStandIn, link: SocketStandIn
) -> None:
    link.send(interactive("e3", click({"type": "button", "action_id": "alert_open", "value": "customer:acme"},
                                      user=ALLOWED_USER, response_url=slack.response_url("r3"))))  # fmt: skip
    assert link.wait_for_ack("e3") == {"envelope_id": "e3"}
    [opened] = slack.wait_for(lambda c: c.method == "response_url" and c.path.endswith("/r3"))
    assert "Acme Corp" in all_text(opened.blocks) and opened.body["response_type"] == "ephemeral"
    # A stranger's click is refused, privately.
    link.send(interactive("e4", click({"type": "button", "action_id": "alert_open", "value": "customer:acme"},
                                      user=STRANGER, response_url=slack.response_url("r4"))))  # fmt: skip
    [refused] = slack.wait_for(lambda c: c.method == "response_url" and c.path.endswith("/r4"))
    assert "access list" in all_text(refused.blocks) and "Acme" not in all_text(refused.blocks)
    # A what-if submitted without a lever: the modal shows the error beside the field.
    form = WhatIfForm(customer="acme", name="Acme Corp", at=NOW, values={"period": "30d"}, channel="COTHER")
    view = {**whatif_modal(form), "id": "V1", "state": {"values": {"route": {"value": {"value": None}},
                                                                   "period": {"value": {"value": "30d"}}}}}  # fmt: skip
    submission = {"type": "view_submission", "user": {"id": ALLOWED_USER}, "team": {"id": "T0001"},
                  "api_app_id": "A0001", "view": view, "response_urls": []}  # fmt: skip
    assert view["callback_id"] == WHATIF_VIEW
    link.send(interactive("e5", submission))
    ack = link.wait_for_ack("e5")
    assert ack["payload"]["response_action"] == "errors" and "at least one lever" in ack["payload"]["errors"]["route"]


def test_a_silently_dropped_connection_is_replaced_within_15_seconds(
    connected: Runtime, slack: SlackStandIn, link: SocketStandIn
) -> None:
    first = link.wait_for_link(1)
    assert slack.wait_for(lambda c: c.method == "apps.connections.open")[0].headers["authorization"] == (
        f"Bearer {APP_TOKEN}"
    )
    link.answer_pings = False  # the network drops every packet: no FIN, no close frame, just silence
    went_silent = time.monotonic()
    second = link.wait_for_link(2, timeout=30)
    print(f"reconnected {second.opened_at - went_silent:.1f}s after the link went silent")
    assert second.opened_at - went_silent <= 15.0
    assert first.pings >= 3  # noticed by its pings (every PING_INTERVAL seconds), not by luck
    assert PING_INTERVAL <= 3
    # The new link works.
    link.answer_pings = True
    link.send(with_url(command("e6", "acme", response="r6"), slack), second)
    assert link.wait_for_ack("e6") == {"envelope_id": "e6"}
    slack.wait_for(lambda c: c.method == "response_url" and c.path.endswith("/r6"))
