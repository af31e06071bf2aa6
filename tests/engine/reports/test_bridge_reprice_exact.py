"""The bridge's price part, priced event by event as plainly as it can be said, against what `why` computes (which
reads its events and days in bulk and sums its fractions over integers): equal to the nano-dollar fraction, on a
book with a price change mid-period, a tier multiplier that moved, cached and cache-write tokens, a long-context
model, uneven token counts (each event's costs rounded on their own) and several customers."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from config.settings import Settings
from engine.periods import month
from engine.pricing.book import Usage
from engine.reports.bridge import margin_bridge
from engine.reports.bridge_cogs import CellKey, CellUse, _SameRates
from engine.runtime import Runtime
from engine.store.models import COST_TYPES
from engine.vocab import SubjectKind
from tests.engine.reports.bridge_books import PRICES, load_rows

OCTOBER = month(2026, 10)

# big: input $10.0375/M from October 16th (whole nano-dollars no more: 10,037.5 a token, rounded per event),
# cached $1.0125/M, cache writes $12.5/M; flex × 0.5, × 0.8 from October 20th.
CHANGES = """
[[models]]
provider = "acme"
model = "big"
effective_from = 2026-10-16
input_per_mtok = 10.0375
cached_input_per_mtok = 1.0125
cache_write_per_mtok = 12.5
output_per_mtok = 30.0375

[[tiers]]
provider = "acme"
tier = "flex"
multiplier = 0.5
effective_from = 2026-01-01

[[tiers]]
provider = "acme"
tier = "flex"
multiplier = 0.8
effective_from = 2026-10-20
"""


def _book() -> list[dict[str, object]]:
    rng = random.Random(7)
    rows: list[dict[str, object]] = []
    day = date(2026, 9, 1)
    while day <= date(2026, 10, 31):
        for n in range(rng.randint(3, 8)):
            model = rng.choice(("big", "big", "small", "claude-sonnet-4-5"))
            provider = "anthropic" if model.startswith("claude") else "acme"
            requests = rng.randint(1, 4)
            # Past 200,000 input tokens a request, claude-sonnet-4-5 is priced at its long-context rates.
            inp = rng.randint(1, 260_000 if provider == "anthropic" else 40_000) * requests
            cached = rng.randint(0, inp // 2)
            write = rng.randint(0, (inp - cached) // 3)
            tier = rng.choice(("standard", "flex")) if provider == "acme" else "standard"
            if day.month == 10 and day.day > 25 and model == "big":
                tier = "standard"  # flex's last days unused: its days weighted by its own usage
            rows.append({"event_id": f"e{day}-{n}", "ts": f"{day}T{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:07Z",
                         "customer": rng.choice(("acme", "beta", "gamma")), "product": "agent",
                         "feature": rng.choice(("chat", "plan")), "provider": provider, "model": model,
                         "requests": requests, "input_tokens": inp, "cached_input_tokens": cached,
                         "cache_write_tokens": write, "output_tokens": rng.randint(1, 9_999) * requests,
                         "service_tier": tier})  # fmt: skip
        day += timedelta(days=1)
    return rows


def _per_event_deltas(rt: Runtime) -> dict[CellKey, list[Fraction]]:
    """Each cell's re-pricing delta as docs/why.md says it, event by event: every event of September whose day's
    rates differ from some of October's, priced on the first day of each group of October's days with the same
    rates, weighted by the share of the cell's units of each cost type in that tier used on the group's days, minus
    priced on its own day."""
    prices, tz = rt.prices, ZoneInfo(rt.settings.timezone)
    same = _SameRates(prices, OCTOBER, tz)
    prev = OCTOBER.previous()
    with rt.connect() as conn:
        days: dict[tuple[CellKey, str], dict[date, CellUse]] = {}
        for row in conn.execute(
            text(
                "SELECT day, customer, product, feature, provider, model, service_tier, SUM(requests), "
                "SUM(input_tokens), SUM(cached_input_tokens), SUM(cache_write_tokens), SUM(output_tokens), "
                "SUM(events), SUM(unpriced_events), SUM(cache_write_1h_tokens), SUM(web_searches), "
                "SUM(retrieval_queries), SUM(rerank_calls), SUM(compute_ms) FROM daily_rollup "
                "WHERE day BETWEEN :a AND :b GROUP BY 1, 2, 3, 4, 5, 6, 7"
            ),
            {"a": OCTOBER.start, "b": OCTOBER.end},
        ):
            use = days.setdefault((CellKey(*row[1:6]), row[6]), {}).setdefault(
                date.fromisoformat(str(row[0])), CellUse()
            )
            use.add([*row[7:], *([0] * len(COST_TYPES))])
        events = conn.execute(
            text(
                f"SELECT ts, day, customer, product, feature, {', '.join(Usage._fields[1:])} FROM usage_event "
                "WHERE day BETWEEN :a AND :b"
            ),
            {"a": prev.start, "b": prev.end},
        ).all()
    width = len(COST_TYPES)
    deltas: dict[CellKey, list[Fraction]] = {}
    for ts, day, cust, prod, feat, *usage in events:
        provider, model, tier = usage[0], usage[1], usage[-1]
        d, cell = date.fromisoformat(str(day)), CellKey(cust, prod, feat, provider, model)
        moves = same.differs(provider, model, tier, d)
        if (cell, tier) not in days or not any(moves):
            continue
        epoch = int(datetime.fromisoformat(str(ts)).replace(tzinfo=UTC).timestamp())
        own = prices.price(Usage(epoch, *usage))[:width]
        delta = deltas.setdefault(cell, [Fraction(0)] * width)
        groups = same.groups(provider, model, tier)
        for first, group_days in groups:
            there = prices.price(Usage(epoch + (first - d).days * 86_400, *usage))[:width]
            share = _shares(days[(cell, tier)], group_days) if len(groups) > 1 else [Fraction(1)] * width
            delta[:] = [x + s * c for x, s, c in zip(delta, share, there, strict=True)]
        delta[:] = [x - c for x, c in zip(delta, own, strict=True)]
    return deltas


def _shares(by_day: dict[date, CellUse], days: list[date]) -> list[Fraction]:
    """Per cost type, the share of the units of that type used on `days` (of requests, for a type none used)."""
    inside = [sum((u.units()[t] or 0) for d, u in by_day.items() if d in days) for t in range(len(COST_TYPES))]
    total = [sum((u.units()[t] or 0) for u in by_day.values()) for t in range(len(COST_TYPES))]
    req_in = sum(u.requests for d, u in by_day.items() if d in days)
    req_all = sum(u.requests for u in by_day.values())
    by_requests = Fraction(req_in, req_all) if req_all else Fraction(0)
    return [Fraction(i, a) if a else by_requests for i, a in zip(inside, total, strict=True)]


def test_the_price_part_equals_pricing_each_event_by_itself(settings: Settings, tmp_path: Path) -> None:
    contracts: list[dict[str, object]] = [
        {"customer": c, "customer_name": c.title(), "plan": "flat", "start": "2026-01-01", "platform_fee_usd": "100"}
        for c in ("acme", "beta", "gamma")
    ]
    rt = load_rows(settings, tmp_path, usage=_book(), contracts=contracts, price_file=PRICES + CHANGES)
    expected = _per_event_deltas(rt)
    with rt.connect() as conn:
        b = margin_bridge(conn, SubjectKind.PORTFOLIO, None, OCTOBER, prices=rt.prices, timezone="UTC")
    got = {c.key: c.repriced_delta for c in b.cells if any(c.repriced_delta)}
    assert got == {k: v for k, v in expected.items() if any(v)}
    # The book does what it is for: big's and flex's rates moved on days of October (two groups), some deltas are
    # not whole nano-dollars (weighted by shares) and some cells moved.
    assert b.repriced_groups > 0 and len(got) >= 6
    assert any(x.denominator > 1 for v in got.values() for x in v)
    price = next(p for p in b.parts if p.part == "price")
    assert price.change != 0
    assert sum(p.change for p in b.parts if p.side == "cogs") == b.cogs[1] - b.cogs[0]
