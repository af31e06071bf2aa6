"""A What-if submitted from the Home tab by someone taken off the access list since the modal opened."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from config.settings import Settings
from tests.bot.blockkit import all_text
from tests.bot.slack.test_listeners import make_bot, view_of
from tests.bot.test_home_whatif_fixes import book_of, open_home, open_whatif
from tests.fakes.slack_api import SlackStandIn


def test_a_whatif_refused_from_the_home_tab_takes_the_figures_off_it(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # The modal sits on the Home tab: refusing only in the modal left every customer's figures behind it, on the
    # Home, once the modal was closed; as a refused click does, the submission publishes the Home again.
    bot = make_bot(settings, slack, tmp_path, book_of({"acme": ("Acme Corp", "7.00")}))
    modal = open_whatif(bot, open_home(bot), "acme")
    state = {"cache": {"value": {"type": "plain_text_input", "value": "30"}}}
    payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": "UGONE", "team_id": "T1"},
               "api_app_id": "A1", "token": "t", "trigger_id": "1.2.sub",
               "view": {**modal, "id": "VMODAL", "state": {"values": state}, "hash": "1.abc"}}  # fmt: skip
    seen = len(slack.calls_to("views.publish"))
    reply = bot.dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert reply.status == 200
    assert "MARGINBOT_ALLOWED_USERS" in all_text(json.loads(reply.body)["view"]["blocks"])
    published = slack.wait_for(lambda c: c.method == "views.publish", count=seen + 1)[seen]
    assert published.body["user_id"] == "UGONE"
    shown = all_text(view_of(published)["blocks"])
    assert "MARGINBOT_ALLOWED_USERS" in shown
    for figure in ("$", "%", "Acme Corp"):
        assert figure not in shown, figure
