"""The Slack path keeps its reports until the data changes (engine/reports/cache.py): the same question asked again
is answered without reading the database, and the first question after an import reads the new data.

The book (tests/bot/dataset.py): October revenue $3,500.00, COGS $2,034.73; Acme's COGS $1,484.73.
"""

from __future__ import annotations

from pathlib import Path

from bot.answer import answer, home
from config.settings import Settings
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text
from tests.conftest import NOW

MORE = """event_id,ts,customer,product,feature,provider,model,input_tokens,cost_usd
late1,2026-10-20T12:00:00Z,acme,agent,agent-run,openai,gpt-4o,10,100.00
"""


def shown(rt: Runtime, words: str) -> str:
    return all_text(answer(rt, words).blocks)


def test_a_question_asked_again_is_answered_from_the_cache_until_an_import(book: Runtime, tmp_path: Path) -> None:
    first = shown(book, "/margin acme 2026-10")
    assert "$1,484.73" in first
    misses = book.reports.misses
    assert shown(book, "/margin acme 2026-10") == first
    assert (book.reports.hits, book.reports.misses) == (1, misses)  # nothing read again

    (tmp_path / "more.csv").write_text(MORE)
    import_usage_file(book.engine, tmp_path / "more.csv", prices=book.prices, timezone="UTC")
    after = shown(book, "/margin acme 2026-10")
    assert "$1,584.73" in after and "$1,484.73" not in after
    # The same figures a process that never cached anything gives.
    assert after == shown(Runtime(book.settings, now_override=NOW), "/margin acme 2026-10")


def test_the_portfolio_the_rankings_and_the_home_tab_share_one_portfolio(book: Runtime, tmp_path: Path) -> None:
    portfolio = shown(book, "/margin portfolio 2026-10")
    assert "$3,500.00" in portfolio and "$2,034.73" in portfolio
    hits = book.reports.hits
    shown(book, "/margin worst 3 2026-10")
    assert book.reports.hits == hits + 1  # the portfolio of October, already read
    home(book, now=NOW)
    home(book, now=NOW)
    assert book.reports.hits > hits + 1
    (tmp_path / "more.csv").write_text(MORE)
    import_usage_file(book.engine, tmp_path / "more.csv", prices=book.prices, timezone="UTC")
    assert "$2,134.73" in shown(book, "/margin portfolio 2026-10")


def test_runtimes_do_not_share_their_cache(book: Runtime, settings: Settings) -> None:
    shown(book, "/margin acme 2026-10")
    other = Runtime(settings, now_override=NOW)
    shown(other, "/margin acme 2026-10")
    assert (other.reports.hits, other.reports.misses) == (0, 1)
