"""What a command, a listener or a job needs from the engine, built once from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from config.settings import Settings
from engine.periods import Period, parse_period, today_in
from engine.scrub import install_logging, remember_settings

# Imported where used, not here: every command builds a Runtime, and most need neither the price catalogue nor
# the report types (they cost a noticeable part of a command's start-up).
if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from engine.pricing.book import PriceBook
    from engine.reports.figures import Thresholds


@dataclass
class Runtime:
    """Settings plus the lazily opened database and price book. Pass `now` in tests to pin the clock."""

    settings: Settings
    now_override: datetime | None = field(default=None)

    def __post_init__(self) -> None:
        # From here on every credential in the settings is masked in logs and errors (engine/scrub.py).
        remember_settings(self.settings)
        install_logging()

    @cached_property
    def engine(self) -> Engine:
        from engine.store.db import open_engine

        return open_engine(self.settings.database_url)

    @cached_property
    def prices(self) -> PriceBook:
        from engine.pricing.book import PriceBook
        from engine.pricing.catalogue import Catalogue, catalogue_path

        path = catalogue_path(self.settings.catalogue_file, self.settings.prices_file)
        return PriceBook.load(self.settings.prices_file, catalogue=Catalogue.load(path) if path.exists() else None)

    @property
    def thresholds(self) -> Thresholds:
        from engine.reports.figures import Thresholds

        return Thresholds(breach_pct=self.settings.breach_pct, healthy_pct=self.settings.healthy_pct)

    def now(self) -> datetime:
        return self.now_override or datetime.now(UTC)

    def today(self, now: datetime | None = None) -> date:
        return today_in(self.settings.tz, now or self.now())

    def period(self, text: str | None, now: datetime | None = None) -> Period:
        return parse_period(text, today=self.today(now))

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection; commits nothing unless the caller does."""
        with self.engine.connect() as conn:
            yield conn
