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
from engine.pricing.book import FEMTO_PER_USD, Price, PriceBook, Rates, media_part
from engine.timeutil import as_date
from engine.vocab import CostType, PriceSource

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
    # nano-USD by what priced it, most first: the price book's sources day by day (override, catalogue), the source's
    # own cost (source-priced) and the price file's [unit_costs] (unit-costs)
    cogs_by_source: dict[PriceSource, int] = field(default_factory=dict)

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
            "cogs_by_source": {str(s): json_number(usd(n), CENT) for s, n in self.cogs_by_source.items()},
        }


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form (10, not 1E+1)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def per_mtok(price: Price | None) -> Decimal | dict[str, Any] | None:
    """A per-token price as USD per million tokens; a tiered one as its base and the tiers above it; None (no
    price) as None."""
    if price is None:
        return None
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


# Which cost columns each kind of price fills: the price book's (tokens, requests, web searches), the source's
# (cost_usd) and the price file's [unit_costs]. Read per day, since what priced a model can change within a period
# (an override from the 20th): each day's book-priced cost is put down to the source of that day's rates.
_UNIT_TYPES = (CostType.RETRIEVAL, CostType.RERANK, CostType.COMPUTE)
_BOOK = " + ".join(t.column for t in CostType if t is not CostType.SOURCE and t not in _UNIT_TYPES)
_UNIT = " + ".join(t.column for t in _UNIT_TYPES)
_USED = (
    f"SELECT provider, model, service_tier, day, SUM(events), SUM(unpriced_events), SUM(cost_source), SUM({_BOOK}), "
    f"SUM({_UNIT}), MAX(input_tokens), MAX(output_tokens), MAX(web_searches) FROM daily_rollup "
    "WHERE day BETWEEN :a AND :b GROUP BY provider, model, service_tier, day"
)
# When two sources priced the same share, the one named first here is named first.
_ORDER = (PriceSource.OVERRIDE, PriceSource.CATALOGUE, PriceSource.SOURCE_PRICED, PriceSource.UNIT_COSTS)


@dataclass
class _Used:
    """One (provider, model, tier)'s days in the period, summed as `priced_models` reads them."""

    first_day: date
    last_day: date
    events: int = 0
    unpriced: int = 0
    sourced: int = 0  # nano-USD the source priced (cost_usd)
    units: int = 0  # nano-USD the [unit_costs] priced
    tokens: bool = False  # whether any event had tokens or web searches (something for the price book)
    by_book: dict[PriceSource, int] = field(default_factory=dict)  # nano-USD the book priced, by that day's source
    orphaned: int = 0  # nano-USD priced by rates the current files no longer have (stale: reprice)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def priced_models(conn: Connection, prices: PriceBook, period: Period) -> list[PricedModel]:
    """Every (provider, model, tier) with usage in `period`, dearest first. Where each price came from is read from
    what priced the stored events (the rollups' cost columns), not from today's price book alone: events that carried
    their own cost are source-priced whatever the catalogue says, and a model an override covers from mid-period was
    priced from the catalogue before."""
    used: dict[tuple[str, str, str], _Used] = {}
    for provider, model, tier, day, events, unpriced, sourced, book, units, inp, out, searches in conn.execute(
        text(_USED), {"a": period.start, "b": period.end}
    ):
        day = as_date(day)
        u = used.setdefault((provider, model, tier), _Used(first_day=day, last_day=day))
        u.first_day, u.last_day = min(u.first_day, day), max(u.last_day, day)
        u.events += int(events or 0)
        u.unpriced += int(unpriced or 0)
        u.sourced += int(sourced or 0)
        u.units += int(units or 0)
        u.tokens = u.tokens or bool(inp or out or searches)
        if book:
            rates = prices.rates(provider, model, _noon(day), tier)
            if rates is None:
                u.orphaned += int(book)
            else:
                u.by_book[rates.source] = u.by_book.get(rates.source, 0) + int(book)
    out = [_priced_model(prices, key, u) for key, u in used.items()]
    return sorted(out, key=lambda m: (-m.cogs_nano, m.provider, m.model, m.service_tier))


def _priced_model(prices: PriceBook, key: tuple[str, str, str], u: _Used) -> PricedModel:
    provider, model, tier = key
    rates = prices.rates(provider, model, _noon(u.last_day), tier)
    resolved = prices.catalogue.resolve(provider, model)
    # A model's audio or image tokens are priced from the model's entry, at its prices for that medium.
    medium = media_part(model) if resolved is None else None
    if medium is not None:
        resolved = prices.catalogue.resolve(provider, model[: -len(medium)])
    by_source = {s: n for s, n in u.by_book.items() if n}
    if u.sourced:
        by_source[PriceSource.SOURCE_PRICED] = u.sourced
    source = _source(u, by_source, rates)
    if u.units:
        by_source[PriceSource.UNIT_COSTS] = u.units
    book_priced = bool(u.by_book) or source in (PriceSource.OVERRIDE, PriceSource.CATALOGUE)
    if not book_priced and not (source is PriceSource.UNPRICED and u.tokens):
        rates = None  # nothing the book prices was priced by it: its rates applied to none of these events
    catalogue_priced = PriceSource.CATALOGUE in u.by_book or source is PriceSource.CATALOGUE
    notes: list[str] = []
    if u.sourced and source is not PriceSource.SOURCE_PRICED:
        notes.append("some events carried their own cost (cost_usd)")
    if u.unpriced and source is not PriceSource.UNPRICED:
        notes.append(
            f"{u.unpriced} event(s) unpriced (no price for something they used, e.g. output tokens or web searches)"
        )
    if rates is not None and not rates.tier_priced:
        notes.append(f"no {tier} price: standard rates applied (add a [[tiers]] multiplier)")
    if rates is not None and rates.multiplier is not None:
        notes.append(f"{tier}: standard prices × {rates.multiplier} ([[tiers]])")
    if rates is not None and rates.discount:
        notes.append(f"{rates.discount}% discount ([[discounts]])")
    # Price-file entries that began inside the period: the rates shown (the last day's) did not price the days before.
    for when, kind, what in prices.entries_starting(provider, model, tier, u.first_day, u.last_day):
        if kind == "override" or (kind == "discount" and catalogue_priced) or (kind == "tier" and book_priced):
            notes.append(f"{what} in force from {when.isoformat()}: earlier days were priced without it")
    changes: tuple[date, ...] = ()
    if resolved is not None and catalogue_priced:
        changes = tuple(d for d in prices.change_dates(provider, model, tier) if u.first_day < d <= u.last_day)
        if changes:
            notes.append(f"catalogue prices changed on {', '.join(d.isoformat() for d in changes)} in the period")
    if u.orphaned:
        notes.append(
            "some COGS was priced with prices the price file and catalogue no longer have: run `marginbot reprice`"
        )
    return PricedModel(
        provider=provider,
        model=model,
        service_tier=tier,
        events=u.events,
        unpriced_events=u.unpriced,
        cogs_nano=u.sourced + u.units + u.orphaned + sum(u.by_book.values()),
        source=source,
        catalogue_entry=_entry(resolved, medium),
        first_day=u.first_day,
        last_day=u.last_day,
        rates=rates,
        last_change=rates.effective_from if rates is not None else None,
        changes_in_period=changes,
        notes=tuple(notes),
        cogs_by_source={s: by_source[s] for s in sorted(by_source, key=lambda s: (-by_source[s], _ORDER.index(s)))},
    )


def _entry(resolved: Any, medium: str | None) -> str:
    """The catalogue entry a model's prices come from ("openai/gpt-realtime", "openai/gpt-realtime (audio prices)")."""
    if resolved is None:
        return ""
    entry = f"{resolved.provider.id}/{resolved.info.id}"
    return f"{entry} ({medium.strip(' ()')} prices)" if medium else entry


def _source(u: _Used, by_source: dict[PriceSource, int], rates: Rates | None) -> PriceSource:
    """What priced most of the group's COGS; with no COGS to go by, what can have priced its events at $0."""
    if u.unpriced == u.events:
        return PriceSource.UNPRICED
    if by_source:
        return min(by_source, key=lambda s: (-by_source[s], _ORDER.index(s)))
    if u.tokens:
        # Tokens at $0: a free price in the book, or, when nothing prices the model, a cost_usd of 0 (the only way
        # tokens of an unpriced model are counted as priced).
        return rates.source if rates is not None else PriceSource.SOURCE_PRICED
    return PriceSource.UNIT_COSTS  # no tokens: at most [unit_costs] had anything to price
