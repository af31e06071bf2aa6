"""The digest chart is a real PNG of a sensible size, whatever the data."""

from __future__ import annotations

import struct

import pytest

from bot.render.charts import _label, digest_chart_png


def size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.mark.parametrize(
    "models",
    [
        {"gpt-4o": ["10.00"] * 12, "claude-sonnet-4-5": ["5.50"] * 12, "other": ["0.10"] * 12},
        {},
        # matplotlib read `$…$` as mathematics and refused this one: the chart failed, retried for a day in the outbox
        {"ft:gpt-4o:acme:$\\frac{1}$": ["1.00"] * 12, "_private": ["2.00"] * 12, "cost in $": ["3.00"] * 12},
    ],
    ids=["models", "none", "dollar-signs"],
)
def test_digest_chart_is_a_1000_by_700_png(models: dict[str, list[str]]) -> None:
    png = digest_chart_png(
        {
            "week": "2026-W45",
            "weeks": [f"2026-W{n}" for n in range(34, 46)],
            "margin_pct": [None, None] + [f"{40 + n}.00" for n in range(10)],
            "breach_pct": "40",
            "healthy_pct": "55",
            "cogs_by_model": models,
        }
    )
    assert size(png) == (1000, 700)
    assert 10_000 < len(png) < 1_000_000


def test_a_model_name_is_drawn_as_written() -> None:
    assert _label("ft:gpt-4o:acme:$\\frac{1}$") == "ft:gpt-4o:acme:\\$\\frac{1}\\$"
    assert _label("_private") == "\u00a0_private"  # a legend leaves out a label starting with "_"
    assert _label("gpt-4o") == "gpt-4o"
