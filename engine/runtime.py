"""What a command, a listener or a job needs from the engine, built once from the settings."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings
from engine.periods import DEFAULT_DAYS, Period, parse_period, today_in
from engine.scrub import install_logging, remember_settings

# Imported where used, not here: every command builds a Runtime, and most need neither the price catalogue nor
# the report types (they cost a noticeable part of a command's start-up).
if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from engine.pricing.book import PriceBook
    from engine.reports.cache import ReportCache
    from engine.reports.figures import Thresholds
    from engine.reports.movers import MoverRule


log = logging.getLogger(__name__)


def _files_stamp(*paths: Path) -> tuple[object, ...]:
    """What tells a file changed without reading it: its identity, size and times (None: no file there)."""
    stamp: list[object] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            stamp.append(None)
            continue
        stamp.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(stamp)


@dataclass
class Runtime:
    """Settings plus the lazily opened database and price book. Pass `now` in tests to pin the clock."""

    settings: Settings
    now_override: datetime | None = field(default=None)
    _prices_book: PriceBook | None = field(default=None, init=False, repr=False)
    _prices_stamp: tuple[object, ...] = field(default=(), init=False, repr=False)
    _prices_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _prices_pinned: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        # From here on every credential in the settings is masked in logs and errors (engine/scrub.py).
        remember_settings(self.settings)
        install_logging()

    @cached_property
    def engine(self) -> Engine:
        from engine.store.db import open_engine
        from engine.store.meta import adopt_price_fingerprint

        engine = open_engine(self.settings.database_url)
        with engine.begin() as conn:
            adopt_price_fingerprint(conn, self.settings.prices_file, self.settings.catalogue_path)
        return engine

    @property
    def prices(self) -> PriceBook:
        """The price book of the price file and catalogue data file as they are now on disk.

        Loaded on first use, and loaded again when either file changed since (two stat calls an access): a process
        that lives on (serve, its scheduler's syncs) must not go on pricing new events with the prices it started with
        after the files were edited and `marginbot reprice` applied them. A file changed into one that cannot be read
        keeps the book in hand (logged once; a reprice then says what is wrong), since a half-edited file must not
        stop answers; the first load raises. Worker threads share the runtime: the check and the swap hold a lock,
        and a caller keeps the book it was handed for one whole operation."""
        if self._prices_pinned and self._prices_book is not None:
            return self._prices_book
        stamp = _files_stamp(self.settings.prices_file, self.settings.catalogue_path)
        with self._prices_lock:
            book = self._prices_book
            if book is None or stamp != self._prices_stamp:
                try:
                    book = self._load_prices()
                except (ValueError, OSError) as exc:  # PriceFileError, CatalogueError, an unreadable file
                    if book is None:
                        raise
                    log.warning("prices not reloaded, the earlier ones stay in use: %s", exc)
                self._prices_book, self._prices_stamp = book, stamp
            return book

    @prices.setter
    def prices(self, book: PriceBook) -> None:
        """Price with `book` from now on, whatever the files say (a caller that built its own book)."""
        with self._prices_lock:
            self._prices_book, self._prices_pinned = book, True

    def _load_prices(self) -> PriceBook:
        from engine.pricing.book import PriceBook
        from engine.pricing.catalogue import Catalogue

        path = self.settings.catalogue_path
        return PriceBook.load(self.settings.prices_file, catalogue=Catalogue.load(path) if path.is_file() else None)

    @cached_property
    def reports(self) -> ReportCache:
        """Reports the Slack path answered, kept until the data changes (engine/reports/cache.py)."""
        from engine.reports.cache import ReportCache

        return ReportCache()

    @property
    def thresholds(self) -> Thresholds:
        from engine.reports.figures import Thresholds

        return Thresholds(
            breach_pct=self.settings.breach_pct,
            healthy_pct=self.settings.healthy_pct,
            material_usd=self.settings.materiality_usd,
        )

    @property
    def movers(self) -> MoverRule:
        """The floor under which a change in cost is not called a mover (answers, alerts, digest)."""
        from engine.reports.movers import MoverRule

        return MoverRule(min_usd=self.settings.mover_min_usd, min_pct=self.settings.mover_min_pct)

    def notices(self, conn: Connection) -> list[str]:
        """The lines every report and answer carries when its figures may not be what the user thinks: stored
        costs priced with another price file, or an empty default database beside the demo's."""
        from engine.store.meta import STALE_PRICES, empty_database_hint, price_file_fingerprint, prices_changed

        # The files' fingerprint, not the price book's: loading the catalogue would slow every report down.
        current = price_file_fingerprint(self.settings.prices_file, self.settings.catalogue_path)
        out = [STALE_PRICES] if prices_changed(conn, current) else []
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

    def data_generation(self) -> int:
        """How many times the stored data has changed (engine.store.meta.bump_generation): two answers read at the
        same generation read the same data."""
        from engine.store.meta import data_generation

        with self.engine.connect() as conn:
            return data_generation(conn)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read connection; commits nothing unless the caller does. Refuses (StaleRollups) to read rollups cut in
        another time zone than MARGINBOT_TIMEZONE, or holding sums an earlier version stored inexactly, as imports
        do."""
        from engine.store.meta import check_rollups

        with self.engine.connect() as conn:
            check_rollups(conn, self.settings.timezone, record=False)
            yield conn
