"""Usage sources behind: one test of "short of a moment" for the alerts and the digest, and one wording of the
`lagging_sources` payload for every surface that names them."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.blocks import alerts as alert_blocks
from bot.blocks import digest as digest_blocks
from engine.alerts.lag import lag_payload, lagging_text, short_of

MOMENT = datetime(2026, 11, 15, tzinfo=UTC)
PAYLOAD = [
    {"source": "anthropic", "synced_to": None},
    {"source": "openai", "synced_to": "2026-11-05T10:00:00+00:00"},
]


def test_a_source_synced_to_the_moment_itself_is_not_behind_and_one_never_synced_is() -> None:
    synced = {
        "openai": datetime(2026, 11, 5, 10, tzinfo=UTC),
        "litellm": MOMENT,  # exactly at the moment: synced far enough
        "langfuse": datetime(2026, 11, 16, tzinfo=UTC),
        "anthropic": None,
    }
    assert short_of(synced, MOMENT) == [("anthropic", None), ("openai", datetime(2026, 11, 5, 10, tzinfo=UTC))]
    assert lag_payload(short_of(synced, MOMENT)) == PAYLOAD  # the payload keys stay "source" and "synced_to"


def test_the_alerts_and_the_digest_name_the_same_sources_behind_in_the_same_words() -> None:
    words = "anthropic (never synced), openai (synced to 2026-11-05 10:00 UTC)"
    assert lagging_text(PAYLOAD) == words
    assert alert_blocks._lagging({"lagging_sources": PAYLOAD}) == words
    assert f": {words}. COGS they have not read" in digest_blocks._lagging(PAYLOAD)


def test_the_digest_reads_how_far_sources_synced_without_loading_the_connectors() -> None:
    # The digest is handed `synced`; the rule it applies must not pull in engine.ingest (the connectors and HTTP).
    code = "import sys, engine.alerts.digest; print(sorted(m for m in sys.modules if m.startswith('engine.ingest.s')))"
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
