"""What a command, a listener or a job needs from the engine, built once from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property

from sqlalchemy import Connection, Engine

from config.settings import Settings
from engine.periods import DEFAULT_DAYS, Period, parse_period, today_in
from engine.pricing.book import PriceBook
from engine.reports.figures import Thresholds
from engine.reports.movers import MoverRule
from engine.store.db import open_engine
from engine.store.meta import STALE_PRICES, check_rollup_timezone, empty_database_hint, prices_changed


@dataclass
class Runtime:
    """Settings plus the lazily opened database and price book. Pass `now` in tests to pin the clock."""

    settings: Settings
    now_override: datetime | None = field(default=None)

    @cached_property
    def engine(self) -> Engine:
        return open_engine(self.settings.database_url)

    @cached_property
    def prices(self) -> PriceBook:
        return PriceBook.load(self.settings.prices_file)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(breach_pct=self.settings.breach_pct, healthy_pct=self.settings.healthy_pct)

    @property
    def movers(self) -> MoverRule:
        """The floor under which a change in cost is not called a mover (answers, alerts, digest)."""
        return MoverRule(min_usd=self.settings.mover_min_usd, min_pct=self.settings.mover_min_pct)

    def notices(self, conn: Connection) -> list[str]:
        """The lines every report and answer carries when its figures may not be what the user thinks: stored
        costs priced with another price file, or an empty default database beside the demo's."""
        out = [STALE_PRICES] if prices_changed(conn, self.prices.fingerprint) else []
        hint = empty_database_hint(
            conn,
            database_url=self.settings.database_url,
            url_was_set="database_url" in self.settings.model_fields_set,
        )
        return out + ([hint] if hint else [])

    def now(self) -> datetime:
        return self.now_override or datetime.now(UTC)

    def today(self, now: datetime | None = None) -> date:
        return today_in(self.settings.tz, now or self.now())

    def period(self, text: str | None, now: datetime | None = None, *, default_days: int = DEFAULT_DAYS) -> Period:
        return parse_period(text, today=self.today(now), default_days=default_days)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection; commits nothing unless the caller does. Refuses (StaleRollups) to read rollups cut in
        another time zone than MARGINBOT_TIMEZONE, as imports do."""
        with self.engine.connect() as conn:
            check_rollup_timezone(conn, self.settings.timezone, record=False)
            yield conn
