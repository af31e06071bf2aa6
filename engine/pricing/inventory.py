"""Which prices priced a period's usage: every model (and service tier) used, where its price came from, the rates
applied and how fresh the catalogue entry is. What `marginbot prices` shows, so a number can be traced to a price
and a stale or missing catalogue price is seen, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from engine.money import CENT, json_number, usd
from engine.periods import Period
from engine.pricing.book import FEMTO_PER_USD, Price, PriceBook, Rates
from engine.store.sql import COST_SUM
from engine.timeutil import as_date
from engine.vocab import PriceSource

_MTOK = Decimal(10**9)  # femto-USD per token → USD per million tokens


@dataclass(frozen=True, kw_only=True)
class PricedModel:
    """One model and service tier used in the period, and the prices that priced it (as of its last day used)."""

    provider: str
    model: str  # as the events spell it
    service_tier: str
    events: int
    unpriced_events: int
    cogs_nano: int
    source: PriceSource
    catalogue_entry: str  # "provider/model id" of the catalogue entry the id resolves to ('' when none)
    first_day: date
    last_day: date
    rates: Rates | None  # in force on last_day (None: nothing prices the model)
    last_change: date | None  # an override's date, or the catalogue entry's last price change up to last_day
    changes_in_period: tuple[date, ...] = ()  # catalogue price changes inside the period: older days used older prices
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "service_tier": self.service_tier,
            "catalogue_entry": self.catalogue_entry or None,
            "source": self.source,
            "events": self.events,
            "unpriced_events": self.unpriced_events,
            "cogs_usd": json_number(usd(self.cogs_nano), CENT),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "rates": rates_dict(self.rates) if self.rates is not None else None,
            "last_change": self.last_change.isoformat() if self.last_change else None,
            "changes_in_period": [d.isoformat() for d in self.changes_in_period],
            "notes": list(self.notes),
        }


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form (10, not 1E+1)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def per_mtok(price: Price) -> Decimal | dict[str, Any]:
    """A per-token price as USD per million tokens; a tiered one as its base and the tiers above it."""
    if isinstance(price, int):
        return _plain(Decimal(price) / _MTOK)
    base, tiers = price
    return {
        "base": _plain(Decimal(base) / _MTOK),
        "above_input_tokens": {str(start): _plain(Decimal(p) / _MTOK) for start, p in sorted(tiers)},
    }


def rates_dict(rates: Rates) -> dict[str, Any]:
    """The rates in the units price lists use: USD per million tokens, per thousand searches, per request."""
    return {
        "input_per_mtok": per_mtok(rates.input),
        "cached_input_per_mtok": per_mtok(rates.cached_input),
        "cache_write_per_mtok": per_mtok(rates.cache_write),
        "cache_write_1h_per_mtok": per_mtok(rates.cache_write_1h),
        "output_per_mtok": per_mtok(rates.output),
        "web_search_per_k": None
        if rates.web_search is None
        else _plain(Decimal(rates.web_search) * 1000 / FEMTO_PER_USD),
        "request_usd": _plain(Decimal(rates.request) / FEMTO_PER_USD),
        "tier": rates.tier,
        "tier_priced": rates.tier_priced,
        "tier_multiplier": rates.multiplier,
        "discount_pct": rates.discount or None,
    }


_USED = (
    "SELECT provider, model, service_tier, SUM(events), SUM(unpriced_events), SUM(cost_source), "
    f"SUM({COST_SUM}), MIN(day), MAX(day) FROM daily_rollup WHERE day BETWEEN :a AND :b "
    "GROUP BY provider, model, service_tier"
)


def priced_models(conn: Connection, prices: PriceBook, period: Period) -> list[PricedModel]:
    """Every (provider, model, tier) with usage in `period`, dearest first."""
    out: list[PricedModel] = []
    for provider, model, tier, events, unpriced, sourced, cost, first, last in conn.execute(
        text(_USED), {"a": period.start, "b": period.end}
    ):
        first_day, last_day = as_date(first), as_date(last)
        moment = datetime.combine(last_day, time(12), tzinfo=UTC)
        rates = prices.rates(provider, model, moment, tier)
        events, unpriced, sourced = int(events or 0), int(unpriced or 0), int(sourced or 0)
        resolved = prices.catalogue.resolve(provider, model)
        notes: list[str] = []
        if unpriced == events:
            source = PriceSource.UNPRICED
        elif rates is None:
            source = PriceSource.SOURCE_PRICED if sourced else PriceSource.UNPRICED
        else:
            source = rates.source
            if sourced:
                notes.append("some events carried their own cost (cost_usd)")
        if unpriced and source is not PriceSource.UNPRICED:
            notes.append(f"{unpriced} event(s) unpriced (no price for something they used, e.g. web searches)")
        if rates is not None and not rates.tier_priced:
            notes.append(f"no {tier} price: standard rates applied (add a [[tiers]] multiplier)")
        if rates is not None and rates.multiplier is not None:
            notes.append(f"{tier}: standard prices × {rates.multiplier} ([[tiers]])")
        if rates is not None and rates.discount:
            notes.append(f"{rates.discount}% discount ([[discounts]])")
        changes: tuple[date, ...] = ()
        if resolved is not None and source is PriceSource.CATALOGUE:
            changes = tuple(d for d in prices.change_dates(provider, model, tier) if first_day < d <= last_day)
            if changes:
                notes.append(f"catalogue prices changed on {', '.join(d.isoformat() for d in changes)} in the period")
        out.append(
            PricedModel(
                provider=provider,
                model=model,
                service_tier=tier,
                events=events,
                unpriced_events=unpriced,
                cogs_nano=int(cost or 0),
                source=source,
                catalogue_entry=f"{resolved.provider.id}/{resolved.info.id}" if resolved is not None else "",
                first_day=first_day,
                last_day=last_day,
                rates=rates,
                last_change=rates.effective_from if rates is not None else None,
                changes_in_period=changes,
                notes=tuple(notes),
            )
        )
    return sorted(out, key=lambda m: (-m.cogs_nano, m.provider, m.model, m.service_tier))
