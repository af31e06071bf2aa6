"""What the bench's own tests share: a small generated book imported into a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.run import TODAY
from config.settings import DEFAULT_PRICES_FILE
from engine.demo import generate
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.pricing.book import PriceBook
from engine.store.db import open_engine


@pytest.fixture
def small_book(tmp_path: Path) -> tuple[str, str]:
    """A small generated book imported into a SQLite file: its URL and a customer with usage."""
    prices = PriceBook.load(DEFAULT_PRICES_FILE)
    files = generate(tmp_path / "data", customers=4, days=40, today=TODAY, seed=3, events=3000, prices=prices)
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    engine = open_engine(url)
    import_contracts_file(engine, files.contracts)
    import_usage_file(engine, files.usage, prices=prices, timezone="UTC")
    with engine.connect() as conn:
        (customer,) = conn.exec_driver_sql("SELECT customer FROM usage_event ORDER BY event_id LIMIT 1").one()
    engine.dispose()
    return url, str(customer)
