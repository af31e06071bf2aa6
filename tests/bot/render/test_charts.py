"""The digest chart is a real PNG of a sensible size, whatever the data."""

from __future__ import annotations

import struct

import pytest

from bot.render.charts import digest_chart_png


def size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


@pytest.mark.parametrize(
    "models",
    [
        {"gpt-4o": ["10.00"] * 12, "claude-sonnet-4-5": ["5.50"] * 12, "other": ["0.10"] * 12},
        {},
    ],
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
