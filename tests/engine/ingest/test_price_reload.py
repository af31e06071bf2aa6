"""Stored costs come from one price book: a process that lives on (serve, its scheduler's syncs) prices new usage with
the prices a reprice applied, not those it started with, and a writer holding other prices than the stored usage
was priced with is refused in one line instead of storing costs of two price books."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.ingest.events import parse_event
from engine.ingest.files import import_usage_file
from engine.ingest.reprice import reprice
from engine.ingest.writer import EventWriter, begin_writing
from engine.pricing.book import PriceBook
from engine.runtime import Runtime
from engine.store.meta import REPRICE_FIRST, STALE_PRICES, StalePrices
from engine.timeutil import DayCutter
from tests.bot.cli.support import cli
from tests.conftest import NOW

HEADER = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens"
# gpt-4o at $1 in, $4 out per million tokens, against the catalogue's $2.50 and $10.
OVERRIDE = """
[[models]]
provider = "openai"
model = "gpt-4o"
effective_from = 2026-01-01
input_per_mtok = 1
output_per_mtok = 4
"""


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text("")
    return path


def usage(tmp_path: Path, event_id: str, day: str) -> Path:
    """One event of a million gpt-4o input tokens."""
    path = tmp_path / f"{event_id}.csv"
    path.write_text(f"{HEADER}\n{event_id},{day}T12:00:00Z,acme,chat,openai,gpt-4o,1000000,0\n")
    return path


def costs(rt: Runtime) -> dict[str, int]:
    with rt.connect() as conn:
        return dict(conn.execute(text("SELECT event_id, cost_uncached_input FROM usage_event")).all())


def test_a_running_process_prices_new_usage_with_the_prices_a_reprice_applied(
    runtime: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve = runtime  # started before the edit: its price book is loaded
    assert serve.prices.rates("openai", "gpt-4o", NOW) is not None
    import_usage_file(serve.engine, usage(tmp_path, "a", "2026-10-10"), prices=serve.prices, timezone="UTC")
    prices_file.write_text(OVERRIDE)
    # Finance runs the reprice from the command line: another process, which reads the file as it is now.
    code, out, _ = cli(Runtime(serve.settings, now_override=NOW), capsys, "reprice")
    assert code == 0 and out.startswith("re-priced 1 event: 1 with a new cost")
    # The server's next sync prices with the file the reprice applied, not the one it started with.
    import_usage_file(serve.engine, usage(tmp_path, "b", "2026-10-11"), prices=serve.prices, timezone="UTC")
    assert costs(serve) == {"a": 1_000_000_000, "b": 1_000_000_000}
    with serve.connect() as conn:
        assert serve.notices(conn) == []


def test_a_writer_with_other_prices_than_the_stored_usage_is_refused_in_one_line_until_a_reprice(
    runtime: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(runtime, capsys, "import", "usage", str(usage(tmp_path, "a", "2026-10-10")))[0] == 0
    prices_file.write_text(OVERRIDE)  # edited, not yet applied
    edited = Runtime(runtime.settings, now_override=NOW)
    code, out, err = cli(edited, capsys, "import", "usage", str(usage(tmp_path, "b", "2026-10-11")))
    assert (code, out) == (1, "")
    assert err == f"marginbot: {REPRICE_FIRST} ({tmp_path / 'b.csv'}: nothing imported)\n"
    assert costs(edited) == {"a": 2_500_000_000}  # nothing written at the new prices beside the old
    # A process that kept the old book is refused as well once the reprice applied the new prices.
    old = PriceBook.load(tmp_path / "none.toml")
    assert cli(edited, capsys, "reprice")[0] == 0
    with pytest.raises(StalePrices):
        import_usage_file(edited.engine, usage(tmp_path, "c", "2026-10-12"), prices=old, timezone="UTC")
    assert cli(edited, capsys, "import", "usage", str(tmp_path / "b.csv"))[0] == 0
    assert costs(edited) == {"a": 1_000_000_000, "b": 1_000_000_000}
    code, out, _ = cli(edited, capsys, "margin", "acme", "--period", "2026-10")
    assert code == 0 and STALE_PRICES not in out


def test_a_database_with_no_usage_takes_new_prices_without_a_reprice(
    runtime: Runtime, prices_file: Path, tmp_path: Path
) -> None:
    import_usage_file(runtime.engine, usage(tmp_path, "a", "2026-10-10"), prices=runtime.prices, timezone="UTC")
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM usage_event"))
    prices_file.write_text(OVERRIDE)
    import_usage_file(runtime.engine, usage(tmp_path, "b", "2026-10-11"), prices=runtime.prices, timezone="UTC")
    assert costs(runtime) == {"b": 1_000_000_000}


def test_a_price_file_edited_into_an_invalid_one_keeps_the_prices_in_hand(
    runtime: Runtime, prices_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = runtime.prices
    prices_file.write_text("[[models]]\nprovider = ")  # saved half-way
    assert runtime.prices is loaded
    assert "prices not reloaded, the earlier ones stay in use" in caplog.text
    prices_file.write_text(OVERRIDE)
    assert runtime.prices is not loaded
    rates = runtime.prices.rates("openai", "gpt-4o", NOW)
    assert rates is not None and rates.input == 10**9  # $1 per million tokens, in femto-USD per token


def test_worker_threads_asking_after_an_edit_share_one_reloaded_book(
    runtime: Runtime, prices_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.prices  # noqa: B018 (loaded at start)
    prices_file.write_text(OVERRIDE)
    loads = []
    load = Runtime._load_prices

    def slow_load(self: Runtime) -> PriceBook:
        loads.append(1)
        time.sleep(0.05)  # long enough for every thread to ask meanwhile
        return load(self)

    monkeypatch.setattr(Runtime, "_load_prices", slow_load)
    seen: list[PriceBook] = []
    threads = [threading.Thread(target=lambda: seen.append(runtime.prices)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(book) for book in seen}) == 1
    assert seen[0].fingerprint == Runtime(runtime.settings).prices.fingerprint  # the file as edited


EVENT_B = {
    "event_id": "b",
    "ts": "2026-10-11T12:00:00Z",
    "customer": "acme",
    "product": "chat",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": "1000000",
}


@pytest.mark.parametrize("flushed", [True, False], ids=["events-written", "checked-only"])
def test_a_reprice_waits_for_a_writer_in_flight_and_prices_its_events_too(
    runtime: Runtime, prices_file: Path, tmp_path: Path, flushed: bool
) -> None:
    """On both databases. SQLite's driver begins a transaction at the first write only: a reprice that read the
    events before taking the write lock priced all but a sync's uncommitted ones, then recorded the new prices over
    them ("events-written"); a writer that checked the prices before a reprice ran wrote at the old ones after it
    ("checked-only")."""
    import_usage_file(runtime.engine, usage(tmp_path, "a", "2026-10-10"), prices=runtime.prices, timezone="UTC")
    old = runtime.prices
    with runtime.engine.connect() as writer:  # a sync in flight, at the prices stored so far
        begin_writing(writer, "UTC", old.fingerprint)
        events = EventWriter(writer, prices=old, cutter=DayCutter("UTC"), source="sync:test")
        if flushed:
            events.add(parse_event(EVENT_B))
            events.flush()
        prices_file.write_text(OVERRIDE)
        repriced = Runtime(runtime.settings, now_override=NOW)  # finance's reprice, another process
        done: list[str] = []
        thread = threading.Thread(
            target=lambda: done.append(reprice(repriced.engine, prices=repriced.prices, timezone="UTC").summary())
        )
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and not done  # waiting for the sync: it would not see its event yet
        if not flushed:
            events.add(parse_event(EVENT_B))
            events.flush()
        writer.commit()
    thread.join(10)
    assert done == ["re-priced 2 events: 2 with a new cost; COGS moved by -$3.00"]
    assert costs(runtime) == {"a": 1_000_000_000, "b": 1_000_000_000}


def test_an_edit_that_changes_no_price_is_not_a_price_change(
    runtime: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices_file.write_text(OVERRIDE)
    first = Runtime(runtime.settings, now_override=NOW)
    assert cli(first, capsys, "import", "usage", str(usage(tmp_path, "a", "2026-10-10")))[0] == 0
    # A comment, other spacing and a quoted key: the same values, so the same prices.
    prices_file.write_text("# reviewed by finance, 2026-11\n" + OVERRIDE.replace("model = ", '"model"   =   '))
    edited = Runtime(runtime.settings, now_override=NOW)
    code, out, err = cli(edited, capsys, "import", "usage", str(usage(tmp_path, "b", "2026-10-11")))
    assert (code, err) == (0, "")
    code, out, _ = cli(edited, capsys, "margin", "acme", "--period", "2026-10")
    assert code == 0 and STALE_PRICES not in out
    # A changed value still is one.
    prices_file.write_text("# reviewed\n" + OVERRIDE.replace("output_per_mtok = 4", "output_per_mtok = 5"))
    code, out, _ = cli(Runtime(runtime.settings, now_override=NOW), capsys, "margin", "acme", "--period", "2026-10")
    assert code == 0 and out.rstrip().endswith(STALE_PRICES)


def test_a_database_priced_under_the_bytes_fingerprint_is_not_asked_for_a_reprice(
    runtime: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.store.meta import PRICE_FINGERPRINT, bytes_price_fingerprint, get_meta, set_meta

    prices_file.write_text(OVERRIDE)
    priced = Runtime(runtime.settings, now_override=NOW)
    import_usage_file(priced.engine, usage(tmp_path, "a", "2026-10-10"), prices=priced.prices, timezone="UTC")
    # What an earlier version recorded for the same files: the fingerprint of the file's bytes.
    with priced.engine.begin() as conn:
        set_meta(conn, PRICE_FINGERPRINT, bytes_price_fingerprint(OVERRIDE.encode()))
    upgraded = Runtime(runtime.settings, now_override=NOW)
    code, out, _ = cli(upgraded, capsys, "margin", "acme", "--period", "2026-10")
    assert code == 0 and STALE_PRICES not in out
    with upgraded.connect() as conn:
        assert get_meta(conn, PRICE_FINGERPRINT) == upgraded.prices.fingerprint
    assert cli(upgraded, capsys, "import", "usage", str(usage(tmp_path, "b", "2026-10-11")))[0] == 0


def test_a_price_file_that_cannot_be_read_does_not_stop_the_database_from_opening(
    runtime: Runtime, prices_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_usage_file(runtime.engine, usage(tmp_path, "a", "2026-10-10"), prices=runtime.prices, timezone="UTC")
    real = Path.read_bytes

    def denied(path: Path) -> bytes:  # what the file system says to a user without read permission (tests run as root)
        if path == prices_file:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with Runtime(runtime.settings, now_override=NOW).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 1
