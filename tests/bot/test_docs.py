"""Every `/margin` form is documented where people look: `/margin help`, the README and the Slack manifest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.blocks import help_message
from bot.grammar import FORMS, parse
from tests.bot.blockkit import all_text

ROOT = Path(__file__).resolve().parents[2]
FORM_NAMES = [form for form, _, _ in FORMS]


def readme_slack_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- section: slack -->(.*)<!-- /section: slack -->", text, re.S)
    assert match, "README.md has no slack section"
    return match.group(1)


def manifest() -> str:
    return (ROOT / "manifest.yml").read_text()


def usage_hint() -> str:
    match = re.search(r'^\s*usage_hint:\s*"(.*)"\s*$', manifest(), re.M)
    assert match, "manifest.yml declares no usage_hint for /margin"
    return match.group(1)


@pytest.mark.parametrize("form", FORM_NAMES)
def test_every_form_is_in_the_help_the_readme_and_the_manifest(form: str) -> None:
    assert f"`{form}`" in all_text(help_message().blocks)
    assert f"`{form}`" in readme_slack_section()
    assert form.removeprefix("/margin ") in usage_hint().split(" | ")[FORM_NAMES.index(form)]


@pytest.mark.parametrize(("form", "_what", "example"), FORMS)
def test_every_example_parses_to_its_own_form(form: str, _what: str, example: str) -> None:
    cmd = parse(example)
    keyword = form.split()[1]
    expected = keyword if keyword.islower() else "customer"
    assert cmd.kind == expected and cmd.problem is None
    assert f"`{example}`" in readme_slack_section()


def test_manifest_declares_the_command_home_tab_event_and_socket_mode() -> None:
    text = manifest()
    for line in ("- command: /margin", "home_tab_enabled: true", "- app_home_opened", "socket_mode_enabled: true",
                 "- commands", "always_online: true"):  # fmt: skip
        assert line in text, line
    assert "share" in usage_hint()
