"""Every `/margin` form is documented where people look: `/margin help`, docs/slack.md and the Slack manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.blocks.messages import help_message
from bot.forms import FORMS, Form, usage_hint
from bot.grammar import parse
from tests.bot.blockkit import all_text

ROOT = Path(__file__).resolve().parents[2]


def slack_page() -> str:
    return (ROOT / "docs" / "slack.md").read_text(encoding="utf-8")


def manifest() -> str:
    return (ROOT / "manifest.yml").read_text()


def manifest_usage_hint() -> str:
    match = re.search(r'^\s*usage_hint:\s*"(.*)"\s*$', manifest(), re.M)
    assert match, "manifest.yml declares no usage_hint for /margin"
    return match.group(1)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.kind)
def test_every_form_is_in_the_help_and_the_slack_page(form: Form) -> None:
    assert f"`{form.usage}`" in all_text(help_message(None, FORMS).blocks)
    assert f"`{form.usage}`" in slack_page()


def test_the_manifest_usage_hint_is_the_registry_in_order() -> None:
    assert manifest_usage_hint() == usage_hint()


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.kind)
def test_every_example_parses_to_its_own_form(form: Form) -> None:
    cmd = parse(form.example)
    assert cmd.kind == form.kind and cmd.problem is None
    assert f"`{form.example}`" in slack_page()


def test_manifest_declares_the_command_home_tab_event_and_socket_mode() -> None:
    text = manifest()
    for line in ("- command: /margin", "home_tab_enabled: true", "- app_home_opened", "socket_mode_enabled: true",
                 "- commands", "always_online: true"):  # fmt: skip
        assert line in text, line
    assert "share" in manifest_usage_hint()
