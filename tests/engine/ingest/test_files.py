"""Importing usage files: refusal with every bad line, --skip-invalid, JSONL, duplicates, streaming batches."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from config.settings import Settings
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import ImportRefused, ImportResult, import_usage_file
from engine.runtime import Runtime

HEADER = "event_id,ts,customer,product,provider,model,input_tokens,cached_input_tokens,output_tokens\n"
GOOD = "ok1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,10\n"


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.connect() as conn:
        events = conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()
        rollups = conn.execute(text("SELECT COALESCE(SUM(events), 0) FROM daily_rollup")).scalar_one()
    return int(events), int(rollups)


def test_file_with_invalid_rows_is_refused_whole_with_every_line_and_reason(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + GOOD
        + "bad1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,-5,0,10\n"
        + "bad2,yesterday,acme,assist,openai,gpt-4o,100,0,10\n"
        + "bad3,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,100,200,10\n"
        + "bad4,2026-10-05T12:00:00Z,,assist,openai,gpt-4o,100,0,10\n"
        + "bad5,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,100,0\n"
    )
    assert main(["import", "usage", str(path)], runtime=runtime) == 1
    err = capsys.readouterr().err
    assert "refused, nothing imported (5 invalid row(s) of 6)" in err
    assert "line 3: input_tokens must be a non-negative integer, got '-5'" in err
    assert "line 4: ts: not an ISO 8601 timestamp or Unix seconds: 'yesterday'" in err
    assert "line 5: cached_input_tokens + cache_write_tokens (200 + 0) exceed input_tokens (100)" in err
    assert "line 6: customer is required" in err
    assert "line 7: has 8 fields, the header has 9" in err
    assert counts(runtime) == (0, 0)


def test_skip_invalid_commits_good_rows_and_writes_rejects_beside_the_file(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(HEADER + GOOD + "bad1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,x,0,10\n")
    result = import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True, batch_size=1
    )
    assert (result.imported, result.rejected) == (1, 1)
    with open(str(path) + ".rejects.csv", newline="") as handle:
        header, reject = list(csv.reader(handle))
    assert header == ["line", "error", "row"]
    assert reject[:2] == ["3", "input_tokens must be a non-negative integer, got 'x'"]
    assert json.loads(reject[2])["event_id"] == "bad1"
    assert counts(runtime) == (1, 1)


@pytest.mark.parametrize("columnar", [False, True])
def test_a_row_priced_past_one_events_cost_is_written_to_the_rejects_whole_on_both_paths(
    runtime: Runtime, tmp_path: Path, columnar: bool
) -> None:
    # Valid alone, so the row path's fast parser takes it; only pricing refuses it (10^15 output tokens of gpt-4o
    # cost $10 billion, more than one event may).
    dear = "dear1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,999999999999999\n"
    path = tmp_path / "dear.csv"
    path.write_text(HEADER + GOOD + dear)
    result = import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True, columnar=columnar
    )
    assert (result.imported, result.rejected) == (1, 1)
    with open(str(path) + ".rejects.csv", newline="") as handle:
        _, reject = list(csv.reader(handle))
    assert reject[0] == "3"
    assert "more than one event can cost" in reject[1]
    assert json.loads(reject[2]) == dict(zip(HEADER.strip().split(","), dear.strip().split(","), strict=True))


def test_unknown_column_is_refused_before_any_row(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text(HEADER.replace("output_tokens", "output_token") + GOOD)
    with pytest.raises(ImportRefused, match=r"unknown column 'output_token' \(did you mean 'output_tokens'\?\)") as e:
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    assert counts(runtime) == (0, 0)
    # No row was read: the file is refused as a whole, not as "1 invalid row(s) of 0".
    assert e.value.result.summary().startswith(f"{path}: refused, nothing imported:\n  line 1: unknown column")


def test_duplicates_across_batches_and_files_are_counted_once(runtime: Runtime, tmp_path: Path) -> None:
    rows = [f"e{i},2026-10-05T12:00:{i % 60:02d}Z,acme,assist,openai,gpt-4o,1000,0,10\n" for i in range(25)]
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "".join(rows) + rows[3] + rows[17])
    result = import_usage_file(runtime.engine, first, prices=runtime.prices, timezone="UTC", batch_size=4)
    assert (result.imported, result.duplicates) == (25, 2)
    again = tmp_path / "again.jsonl"
    again.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_id": f"e{i}",
                    "ts": 1790000000 + i,
                    "customer": "acme",
                    "product": "assist",
                    "provider": "openai",
                    "model": "gpt-4o",
                    "input_tokens": 1000,
                    "output_tokens": 10,
                }
            )
            for i in range(20, 30)
        )
    )
    result = import_usage_file(runtime.engine, again, prices=runtime.prices, timezone="UTC", batch_size=3)
    assert (result.imported, result.duplicates) == (5, 5)
    assert counts(runtime) == (30, 30)


def import_by(
    runtime: Runtime, path: Path, rows_at_a_time: int, *, columnar: bool, skip_invalid: bool = False
) -> ImportResult:
    """Import `path` in batches (row path) of `rows_at_a_time` rows; chunks are set by monkeypatching CHUNK_ROWS."""
    return import_usage_file(
        runtime.engine,
        path,
        prices=runtime.prices,
        timezone="UTC",
        batch_size=rows_at_a_time,
        columnar=columnar,
        skip_invalid=skip_invalid,
    )


@pytest.mark.parametrize("columnar", [False, True])
@pytest.mark.parametrize("rows_at_a_time", [2, 1000])  # the copies in one batch or chunk, or in two
def test_an_event_id_given_twice_with_other_values_is_an_invalid_row_naming_both_lines(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columnar: bool, rows_at_a_time: int
) -> None:
    monkeypatch.setattr("engine.ingest.files.CHUNK_ROWS", rows_at_a_time)  # the columnar path's chunk
    path = tmp_path / "twice.csv"
    path.write_text(
        HEADER
        + GOOD
        + "d1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,10\n"
        + "ok2,2026-10-05T13:00:00Z,acme,assist,openai,gpt-4o,1000,0,10\n"
        + "d1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,99\n"  # line 5: other output tokens
        + "d1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,10\n"  # line 6: line 3 sent again
        + "d1,2026-10-06T12:00:00Z,globex,assist,openai,gpt-4o,1000,0,10\n"  # line 7: another day and customer
    )
    with pytest.raises(ImportRefused) as refused:
        import_by(runtime, path, rows_at_a_time, columnar=columnar)
    assert [(e.line, e.reason) for e in refused.value.result.errors] == [
        (
            5,
            "event_id 'd1' is on line 3 too, with another output_tokens: two events need two ids; give this one its "
            "own, or delete the copy that is wrong",
        ),
        (
            7,
            "event_id 'd1' is on line 3 too, with another ts, customer: two events need two ids; give this one its "
            "own, or delete the copy that is wrong",
        ),
    ]
    assert counts(runtime) == (0, 0)

    # Skipping them keeps the first copy, rejects the two others and counts line 6 as the re-sent event it is.
    result = import_by(runtime, path, rows_at_a_time, columnar=columnar, skip_invalid=True)
    assert (result.imported, result.duplicates, result.rejected) == (3, 1, 2)
    with open(str(path) + ".rejects.csv", newline="") as handle:
        rejects = list(csv.reader(handle))[1:]
    assert [(line, json.loads(row)["output_tokens"]) for line, _, row in rejects] == [("5", "99"), ("7", "10")]
    with runtime.connect() as conn:
        stored = conn.execute(text("SELECT customer, output_tokens FROM usage_event WHERE event_id = 'd1'")).one()
    assert tuple(stored) == ("acme", 10)
    assert counts(runtime) == (3, 3)


@pytest.mark.parametrize("columnar", [False, True])
@pytest.mark.parametrize("rows_at_a_time", [2, 1000])
def test_repeats_are_compared_as_stored_and_every_one_is_named_with_the_files_other_bad_lines(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columnar: bool, rows_at_a_time: int
) -> None:
    monkeypatch.setattr("engine.ingest.files.CHUNK_ROWS", rows_at_a_time)
    contracts = tmp_path / "contracts.csv"
    contracts.write_text("customer,customer_name,plan,start,platform_fee_usd\nacme,Acme Corp,flat,2026-01-01,100\n")
    import_contracts_file(runtime.engine, contracts)
    path = tmp_path / "repeats.csv"
    path.write_text(
        HEADER
        + "d1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,999999999999999\n"  # 2: priced past one event
        + "bad,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,x,0,10\n"  # 3: not a count
        + "d1,2026-10-05T12:00:00Z,Acme Corp,assist,openai,gpt-4o,1000,0,10\n"  # 4: the first valid copy
        + "d1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,10\n"  # 5: the same, by the customer's id
        + "d1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,99\n"  # 6: another event
    )
    with pytest.raises(ImportRefused) as refused:
        import_by(runtime, path, rows_at_a_time, columnar=columnar)
    assert [e.line for e in refused.value.result.errors] == [2, 3, 6]
    assert "event_id 'd1' is on line 4 too, with another output_tokens" in refused.value.result.errors[2].reason
    result = import_by(runtime, path, rows_at_a_time, columnar=columnar, skip_invalid=True)
    assert (result.imported, result.duplicates, result.rejected) == (1, 1, 3)
    with open(str(path) + ".rejects.csv", newline="") as handle:
        assert [row[0] for row in list(csv.reader(handle))[1:]] == ["2", "3", "6"]
    with runtime.connect() as conn:
        stored = conn.execute(text("SELECT customer, output_tokens FROM usage_event WHERE event_id = 'd1'")).one()
    assert tuple(stored) == ("acme", 10)


def test_an_event_stored_by_an_earlier_import_is_skipped_whatever_the_file_now_says(
    runtime: Runtime, tmp_path: Path
) -> None:
    # A re-sent event is never counted twice, even with other values: the id is the event (docs/imports-and-prices).
    first = tmp_path / "first.csv"
    first.write_text(HEADER + GOOD)
    import_usage_file(runtime.engine, first, prices=runtime.prices, timezone="UTC")
    again = tmp_path / "again.csv"
    changed = GOOD.replace(",10\n", ",99\n")
    again.write_text(HEADER + changed + GOOD.replace("ok1", "ok2") + changed)
    result = import_usage_file(runtime.engine, again, prices=runtime.prices, timezone="UTC")
    assert (result.imported, result.duplicates, result.rejected) == (1, 2, 0)
    # Said, not silent: the file's values for it are not used.
    assert (result.kept_as_stored, result.kept_lines) == (1, [(2, "ok1")])
    assert (
        "WARNING: 1 event(s) were stored before with other values, which stay: line 2 ('ok1') (marginbot never "
        "replaces a stored event, so this file's values for them are not used)"
    ) in result.summary()
    assert result.as_dict()["kept_as_stored_lines"] == [{"line": 2, "event_id": "ok1"}]
    with runtime.connect() as conn:
        assert conn.execute(text("SELECT output_tokens FROM usage_event WHERE event_id = 'ok1'")).scalar_one() == 10


def test_rollups_equal_the_sum_of_stored_events(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        HEADER
        + "".join(
            f"r{i},2026-10-{1 + i % 28:02d}T0{i % 10}:00:00Z,c{i % 3},p{i % 2},openai,gpt-4o-mini,{1000 + i},{i},{i}\n"
            for i in range(200)
        )
    )
    import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", batch_size=7)
    cost = "cost_uncached_input + cost_cached_input + cost_output"
    with runtime.connect() as conn:
        raw = conn.execute(text(f"SELECT SUM({cost}), SUM(input_tokens) FROM usage_event")).one()
        rolled = conn.execute(text(f"SELECT SUM({cost}), SUM(input_tokens) FROM daily_rollup")).one()
        dcp = conn.execute(text(f"SELECT SUM({cost}), SUM(input_tokens) FROM daily_customer_product")).one()
    assert tuple(raw) == tuple(rolled) == tuple(dcp)


def test_jsonl_line_that_is_not_json_is_named(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text('{"event_id": "x", "ts": "2026-10-01T00:00:00Z", "customer": "a", "product": "p"}\n{oops\n')
    with pytest.raises(ImportRefused) as info:
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    assert [(e.line, e.reason.split(" (")[0]) for e in info.value.result.errors] == [(2, "not valid JSON")]
    assert counts(runtime) == (0, 0)


def test_changing_the_time_zone_asks_for_a_reprice(runtime: Runtime, tmp_path: Path, capsys) -> None:
    path = tmp_path / "u.csv"
    path.write_text(HEADER + GOOD)
    assert main(["import", "usage", str(path)], runtime=runtime) == 0
    moved = Runtime(runtime.settings.model_copy(update={"timezone": "Asia/Kolkata"}), now_override=runtime.now())
    assert main(["import", "usage", str(path)], runtime=moved) == 1
    assert "run `marginbot reprice`" in capsys.readouterr().err
    assert main(["reprice"], runtime=moved) == 0
    assert main(["import", "usage", str(path)], runtime=moved) == 0


def _rollups(rt: Runtime) -> list[tuple]:
    with rt.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM daily_rollup ORDER BY 1, 2, 3, 4, 5, 6"))]


def test_parallel_parsing_gives_exactly_the_same_rollups(prices_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        HEADER
        + "".join(
            f"p{i},{1790000000 + i * 37},c{i % 5},p{i % 3},openai,gpt-4o-mini,{2000 + i},{i % 100},{i % 50}\n"
            for i in range(12_000)
        )
        + f"p7,{1790000000 + 7 * 37},c2,p1,openai,gpt-4o-mini,2007,7,7\n"  # a re-sent event
        + "odd1,2026-10-05 12:00:00+02:00,c1,p1,self-hosted,unknown-1,10,0,10\n"  # slow path, unpriced
    )
    serial = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 's.db'}", prices_file=prices_file))
    r1 = import_usage_file(serial.engine, path, prices=serial.prices, timezone="UTC", parallel=False)
    other = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'p.db'}", prices_file=prices_file))
    r2 = import_usage_file(other.engine, path, prices=other.prices, timezone="UTC", parallel=True)
    assert (
        (r2.imported, r2.duplicates, r2.unpriced_events, r2.unpriced_models)
        == (
            r1.imported,
            r1.duplicates,
            r1.unpriced_events,
            r1.unpriced_models,
        )
        == (12_001, 1, 1, ["self-hosted/unknown-1"])
    )
    assert _rollups(other) == _rollups(serial)


def test_parallel_parsing_refuses_a_bad_file_with_every_line(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(HEADER + GOOD * 1 + "b1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,-1,0,1\n")
    with pytest.raises(ImportRefused) as info:
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", parallel=True)
    assert [e.line for e in info.value.result.errors] == [3]
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("event_id,when\n")
    with pytest.raises(ImportRefused, match=r"unknown column 'when';"):
        import_usage_file(runtime.engine, bad_header, prices=runtime.prices, timezone="UTC", parallel=True)
    assert counts(runtime) == (0, 0)


def test_a_parsing_worker_that_dies_fails_the_import_instead_of_hanging(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import engine.ingest.files as usage

    monkeypatch.setattr(usage, "_worker", lambda *args: os._exit(3))  # as if killed for memory
    # Threads left running by earlier tests (a Bolt app's pool) would make the import parse in-process instead.
    monkeypatch.setattr(usage.threading, "active_count", lambda: 1)
    path = tmp_path / "u.csv"
    path.write_text(HEADER + GOOD)
    with pytest.raises(RuntimeError, match=r"the parsing worker died \(exit code 3\)"):
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", parallel=True)
    assert counts(runtime) == (0, 0)


def test_the_summary_rounds_a_half_cent_up_once(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("event_id,ts,customer,product,cost_usd\nh1,2026-10-05T12:00:00Z,acme,assist,0.005\n")
    result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    assert result.cost_usd == Decimal("0.005")  # exact until shown
    assert "COGS $0.01" in result.summary()  # half up (half-even would show $0.00)


@pytest.mark.parametrize("columnar", [None, False])
@pytest.mark.parametrize(
    ("row", "said"),
    [
        # int() and Decimal() read these, so they passed; the docs say plain digits, no separators.
        (
            "u1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,100_000,0,10",
            "input_tokens must be a non-negative integer",
        ),
        ("u2,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,４２,0,10", "input_tokens must be a non-negative integer"),
    ],
)
def test_counts_are_plain_ascii_digits(
    runtime: Runtime, tmp_path: Path, row: str, said: str, columnar: bool | None
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(HEADER + GOOD + row + "\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match=f"line 3: {said}"):
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", columnar=columnar)
    assert counts(runtime) == (0, 0)


def test_a_decimal_comma_is_told_to_be_a_point_and_header_slips_are_named(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    row = 'c1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,10,"0,05"'
    path.write_text(HEADER.strip() + ",cost_usd\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"cost_usd must be a non-negative number, got '0,05' \(write decimals with "
                                            r"a point: 0\.05\)"):  # fmt: skip
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    path.write_text(HEADER.strip() + ",\n" + GOOD.strip() + ",\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match="the header has an empty column name"):
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    path.write_text(HEADER.strip() + ",customer\n" + GOOD.strip() + ",acme\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"appears twice in the header: customer \(keep one\)"):
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")


@pytest.mark.parametrize(
    ("column", "cell", "said"),
    [
        ("cost_usd", "1,000", "cost_usd must be a non-negative number, got '1,000' (no thousands separators: write 1000)"),
        ("cost_usd", "0,05", "cost_usd must be a non-negative number, got '0,05' (write decimals with a point: 0.05)"),
        ("cost_usd", "0,125", "cost_usd must be a non-negative number, got '0,125' (write decimals with a point: 0.125)"),
        ("cost_usd", "12,345.5", "cost_usd must be a non-negative number, got '12,345.5' (no thousands separators: "
         "write 12345.5)"),
        ("requests", "1,000", "requests must be a non-negative integer, got '1,000' (no thousands separators: write "
         "1000)"),
    ],
)  # fmt: skip
def test_a_comma_in_a_number_is_told_as_the_contracts_import_tells_it_on_every_path(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str, cell: str, said: str
) -> None:
    # The usage import told "1,000" to "write decimals with a point: 1.000", where a contract amount and a what-if
    # price read it as a thousands separator.
    import engine.ingest.files as usage

    columnar: list[bool] = []  # per file whose header is plain: whether it was read in columnar chunks
    chunks = usage._columnar
    monkeypatch.setattr(usage, "_columnar", lambda *a, **k: (c := chunks(*a, **k), columnar.append(c is not None))[0])
    header, good = HEADER.strip() + f",{column}\n", GOOD.strip() + ",1\n"
    quoted = tmp_path / "quoted.csv"  # a quoted cell: read row by row
    quoted.write_text(header + good + f'c1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o,1000,0,10,"{cell}"\n')
    plain = tmp_path / "plain.csv"  # ';'-separated, no quotes: read in columnar chunks
    plain.write_text(
        (header + good).replace(",", ";") + f"c1;2026-10-05T12:00:00Z;acme;assist;openai;gpt-4o;1000;0;10;{cell}\n"
    )
    jsonl = tmp_path / "usage.jsonl"
    event = {"event_id": "c1", "ts": "2026-10-05T12:00:00Z", "customer": "acme", "product": "assist", "model": "gpt-4o"}
    jsonl.write_text(json.dumps({**event, "input_tokens": 1000, column: cell}) + "\n")

    told = {}
    for path, delimiter in ((quoted, ","), (plain, ";"), (jsonl, ",")):
        with pytest.raises(ImportRefused) as refused:
            import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", delimiter=delimiter)
        told[path.name] = [e.reason for e in refused.value.result.errors]
    assert columnar == [False, True]  # the quoted file was read row by row, the plain one in columnar chunks
    assert told == {"quoted.csv": [said], "plain.csv": [said], "usage.jsonl": [said]}
    assert counts(runtime) == (0, 0)
    # The contracts import reads the same rule (engine.store.bounds.number_hint).
    if column == "cost_usd" and cell in ("1,000", "0,05"):
        contracts = tmp_path / "contracts.csv"
        contracts.write_text(f'customer,plan,start,platform_fee_usd\nacme,flat,2026-01-01,"{cell}"\n')
        with pytest.raises(ValueError, match=re.escape(said.split(" (", 1)[1].rstrip(")"))):
            import_contracts_file(runtime.engine, contracts)
