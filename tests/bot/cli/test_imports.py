"""`marginbot import` as a person uses it: separators, misspelt columns, a dry run, progress only on a terminal."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from bot.render.progress import progress_bar
from engine.runtime import Runtime

USAGE = [
    ["event_id", "ts", "customer", "product", "provider", "model", "input_tokens", "output_tokens"],
    ["u1", "2026-10-05T12:00:00Z", "acme", "assist", "openai", "gpt-4o", "1000000", "0"],
    ["u2", "2026-10-05T13:00:00Z", "newco", "assist", "openai", "gpt-4o", "1000000", "0"],
    ["u3", "2026-10-05T14:00:00Z", "newco", "assist", "mystery", "m-1", "10", "0"],
]
CONTRACTS = [
    ["customer", "customer_name", "plan", "start", "platform_fee_usd"],
    ["acme", "Acme Corp", "flat", "2026-01-01", "2000"],
]


def write(path: Path, rows: list[list[str]], sep: str = ",") -> Path:
    path.write_text("".join(sep.join(row) + "\n" for row in rows))
    return path


def events(rt: Runtime) -> int:
    with rt.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one())


def test_a_semicolon_separated_export_is_named_with_both_fixes_and_imports_with_delimiter(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = write(tmp_path / "usage.csv", USAGE, ";")
    assert main(["import", "usage", str(usage)], runtime=runtime) == 1
    err = capsys.readouterr().err
    assert "line 1: looks `;`-separated: export as CSV with commas or pass `--delimiter ';'`" in err
    assert events(runtime) == 0
    assert main(["import", "usage", str(usage), "--delimiter", ";"], runtime=runtime) == 0
    assert events(runtime) == 3
    contracts = write(tmp_path / "contracts.csv", CONTRACTS, ";")
    assert main(["import", "contracts", str(contracts)], runtime=runtime) == 1
    assert "looks `;`-separated" in capsys.readouterr().err
    assert main(["import", "contracts", str(contracts), "--delimiter", ";"], runtime=runtime) == 0


def test_a_tab_separated_file_with_delimiter_tab(runtime: Runtime, tmp_path: Path) -> None:
    usage = write(tmp_path / "usage.tsv", USAGE, "\t")
    assert main(["import", "usage", str(usage), "--delimiter", "tab"], runtime=runtime) == 0
    assert events(runtime) == 3


def test_a_misspelt_column_gets_a_did_you_mean(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [[("custmer" if c == "customer" else c) for c in USAGE[0]], *USAGE[1:]]
    assert main(["import", "usage", str(write(tmp_path / "u.csv", rows))], runtime=runtime) == 1
    assert "line 1: unknown column 'custmer' (did you mean 'customer'?); the columns are:" in capsys.readouterr().err
    rows = [[("plan_type" if c == "plan" else c) for c in CONTRACTS[0]], *CONTRACTS[1:]]
    assert main(["import", "contracts", str(write(tmp_path / "c.csv", rows))], runtime=runtime) == 1
    assert "unknown column 'plan_type' (did you mean 'plan'?)" in capsys.readouterr().err


def test_dry_run_says_what_it_would_add_and_writes_nothing(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "contracts", str(write(tmp_path / "c.csv", CONTRACTS))], runtime=runtime) == 0
    capsys.readouterr()
    usage = write(tmp_path / "usage.csv", USAGE)
    assert main(["import", "usage", str(usage), "--dry-run"], runtime=runtime) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{usage}: would import 3 event(s) (0 already known, 0 rejected) of 3 rows; COGS $4.50. Nothing was written."
    )
    assert out[1] == (
        "  1 customer(s) without a contract (their usage will show no revenue): newco; add them with "
        "`marginbot import contracts`"
    )
    assert out[2] == "  1 event(s) would have no price (mystery/m-1): add them to the price file first"
    assert events(runtime) == 0
    with runtime.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM import_run WHERE source = 'usage'")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM customer WHERE id = 'newco'")).scalar_one() == 0
    # And the real import then adds exactly that.
    assert main(["import", "usage", str(usage)], runtime=runtime) == 0
    assert events(runtime) == 3


def test_dry_run_gives_every_warning_the_import_would(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dry run left out the events kept as stored and the tiers priced at standard rates (its --json had them).
    assert main(["import", "usage", str(write(tmp_path / "u.csv", USAGE))], runtime=runtime) == 0
    header = [*USAGE[0], "service_tier"]
    rows = [
        header,
        ["u1", "2026-10-05T12:00:00Z", "acme", "assist", "openai", "gpt-4o", "2000000", "0", ""],
        ["p1", "2026-11-02T10:00:00Z", "acme", "assist", "anthropic", "claude-haiku-4-5", "1000", "10", "priority"],
        ["bad", "2026-11-02T10:00:00Z", "acme", "assist", "openai", "gpt-4o", "-1", "0", ""],
    ]
    again = write(tmp_path / "again.csv", rows)
    capsys.readouterr()
    assert main(["import", "usage", str(again), "--dry-run", "--skip-invalid"], runtime=runtime) == 0
    dry = capsys.readouterr().out.splitlines()
    assert not (tmp_path / "again.csv.rejects.csv").exists()
    assert dry[0].startswith(f"{again}: would import 1 event(s) (1 already known, 1 rejected) of 3 rows;")
    assert main(["import", "usage", str(again), "--skip-invalid"], runtime=runtime) == 0
    real = capsys.readouterr().out.splitlines()
    warnings = [line for line in real if line.startswith("  WARNING: ")]
    assert len(warnings) == 2
    assert "priced at standard rates: anthropic/claude-haiku-4-5 priority" in warnings[0]
    assert "1 event(s) were stored before with other values, which stay: line 2 ('u1')" in warnings[1]
    assert [line for line in dry if line.startswith("  WARNING: ")] == warnings
    assert dry[1] == f"  rejected rows would be written to {again}.rejects.csv"
    assert (tmp_path / "again.csv.rejects.csv").exists()  # written by the real import, not the dry run


def test_skip_invalid_whose_rejects_cannot_be_written_says_nothing_was_imported_in_one_line(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The rejects file is written before the commit: when it cannot be (here its path is a directory), the rows
    # are not kept either, the run is recorded as refused, and the user reads one line saying so.
    usage = write(
        tmp_path / "u.csv", [*USAGE, ["u4", "2026-10-05T15:00:00Z", "acme", "", "openai", "gpt-4o", "1", "0"]]
    )
    (tmp_path / "u.csv.rejects.csv").mkdir()
    assert main(["import", "usage", "--skip-invalid", str(usage)], runtime=runtime) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"{usage}: refused, nothing imported: its 1 invalid row(s) cannot be written to {usage}.rejects.csv (it is a "
        "directory): move that directory away, or fix the row(s) the import lists without --skip-invalid\n"
    )
    assert events(runtime) == 0
    with runtime.connect() as conn:
        assert conn.execute(text("SELECT status FROM import_run WHERE source = 'usage'")).scalars().all() == ["refused"]
    # Once it can be written, the good rows are imported and the bad one is in it.
    (tmp_path / "u.csv.rejects.csv").rmdir()
    assert main(["import", "usage", "--skip-invalid", str(usage)], runtime=runtime) == 0
    assert events(runtime) == 3
    assert "product is required" in (tmp_path / "u.csv.rejects.csv").read_text()


def test_no_progress_bar_when_output_is_not_a_terminal(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "usage", str(write(tmp_path / "u.csv", USAGE))], runtime=runtime) == 0
    assert main(["reprice"], runtime=runtime) == 0
    assert capsys.readouterr().err == ""


def test_the_progress_bar_shows_rows_their_rate_and_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr("sys.stderr", screen)
    with progress_bar("import usage.csv", min_interval=0) as update:
        assert update is not None
        for done in range(0, 50_001, 10_000):
            update(done, 100_000)
    shown = screen.getvalue()
    assert "import usage.csv" in shown and "50.0k/100k" in shown and "rows/s" in shown and "<" in shown
    with progress_bar("import usage.csv", enabled=False) as update:
        assert update is None
    # tqdm's monitor thread would make every later import in this process parse big files without its worker.
    assert "tqdm_monitor" not in [t.name for t in threading.enumerate()]


def test_import_reports_rows_and_an_estimated_total_to_its_progress_callback(runtime: Runtime, tmp_path: Path) -> None:
    from engine.ingest.files import import_usage_file

    rows = [USAGE[0]] + [[f"e{i}", "2026-10-05T12:00:00Z", "acme", "assist", "openai", "gpt-4o", "5", "1"]
                         for i in range(12_000)]  # fmt: skip
    calls: list[tuple[int, int | None]] = []
    path = write(tmp_path / "many.csv", rows)
    import_usage_file(
        runtime.engine, path, prices=runtime.prices, timezone="UTC", progress=lambda d, t: calls.append((d, t))
    )
    assert [done for done, _ in calls] == [5_000, 10_000, 12_000]
    assert calls[-1] == (12_000, 12_000)  # the whole file read: the estimate is the count
    assert all(total is not None and abs(total - 12_000) < 1_500 for _, total in calls)


def test_reprice_reports_events_done_of_the_total_to_its_progress_callback(runtime: Runtime, tmp_path: Path) -> None:
    from engine.ingest.reprice import reprice

    rows = [USAGE[0]] + [[f"r{i}", "2026-10-05T12:00:00Z", "acme", "assist", "openai", "gpt-4o", "5", "1"]
                         for i in range(7_000)]  # fmt: skip
    assert main(["import", "usage", str(write(tmp_path / "r.csv", rows))], runtime=runtime) == 0
    calls: list[tuple[int, int | None]] = []
    reprice(runtime.engine, prices=runtime.prices, timezone="UTC", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(5_000, 7_000), (7_000, 7_000)]


def test_json_gives_a_file_that_is_missing_or_a_directory_the_same_keys_as_an_imported_one(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    good = write(tmp_path / "u.csv", USAGE)
    folder = tmp_path / "exports"
    folder.mkdir()
    missing = tmp_path / "missing.csv"
    argv = ["import", "usage", str(good), str(missing), str(folder), "--json"]
    assert main(argv, runtime=runtime) == 1
    out, err = capsys.readouterr()
    imported, gone, directory = json.loads(out)
    assert set(gone) == set(directory) == set(imported) and len(imported) == 18
    assert (gone["path"], gone["refused"], gone["problem"], gone["imported"]) == (str(missing), True, "no such file", 0)
    assert (directory["refused"], directory["problem"]) == (True, "is a directory, not a file")
    assert err.splitlines() == [
        f"marginbot: {missing}: no such file",
        f"marginbot: {folder}: is a directory, not a file",
    ]
    assert events(runtime) == 3


def test_json_gives_a_refused_contracts_file_a_one_line_problem_beside_its_errors(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    # It had `errors` and no `problem`, where a missing file has both: a script reading `problem` read nothing.
    missing = tmp_path / "missing.csv"
    assert main(["import", "contracts", str(missing), "--json"], runtime=runtime) == 1
    gone = json.loads(capsys.readouterr().out)
    one = [*CONTRACTS, ["beta", "Beta", "flat", "2026-13-01", "100"]]
    two = [*one, ["gamma", "Gamma", "flat", "2026-01-01", "lots"]]
    shown = []
    for rows in (one, two):
        assert main(["import", "contracts", str(write(tmp_path / "c.csv", rows)), "--json"], runtime=runtime) == 1
        shown.append(json.loads(capsys.readouterr().out))
    assert set(gone) <= set(shown[0]) == set(shown[1]) == {"path", "refused", "problem", "errors"}
    first = shown[0]["errors"][0]
    assert first["line"] == 3 and shown[1]["errors"][0] == first and len(shown[1]["errors"]) == 2
    assert shown[0]["problem"] == f"line 3: {first['reason']}"
    assert shown[1]["problem"] == f"2 errors, nothing imported; the first, line 3: {first['reason']}"
    assert all("\n" not in d["problem"] and d["refused"] is True for d in shown)


def test_importing_a_directory_as_contracts_says_it_is_one(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "contracts", str(tmp_path)], runtime=runtime) == 1
    assert capsys.readouterr().err == f"marginbot: {tmp_path}: is a directory, not a file\n"


@pytest.mark.parametrize("kind", ["usage", "contracts"])
def test_importing_a_pipe_says_it_is_one_not_that_there_is_no_such_file(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    import os

    pipe = tmp_path / "rows.csv"
    os.mkfifo(pipe)  # what `marginbot import usage <(zcat …)` hands over
    assert main(["import", kind, str(pipe)], runtime=runtime) == 1
    assert capsys.readouterr().err == (
        f"marginbot: {pipe}: is not a regular file (a pipe or a device): save it to a file, then import that\n"
    )


def test_json_lines_in_a_file_named_csv_are_named_as_such_and_import_as_jsonl(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its first line was read as a header of garbage columns ('{"event_id":"a"' (did you mean 'event_id'?), ...).
    line = '{"event_id": "j1", "ts": "2026-10-05T12:00:00Z", "customer": "acme", "product": "assist"}\n'
    (tmp_path / "usage.csv").write_text(line)
    assert main(["import", "usage", str(tmp_path / "usage.csv")], runtime=runtime) == 1
    assert "line 1: looks like JSON lines, not CSV: name the file .jsonl (or .jsonl.gz)" in capsys.readouterr().err
    assert events(runtime) == 0
    (tmp_path / "usage.csv").rename(tmp_path / "usage.jsonl")
    assert main(["import", "usage", str(tmp_path / "usage.jsonl")], runtime=runtime) == 0
    assert events(runtime) == 1
