"""SQLite's bulk path (engine.ingest.sqlite_image): chunks made into database images by ADBC's SQLite driver and
read by the import's own sqlite3 connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl

from engine.ingest.sqlite_image import STAGE, event_image, image, load_image, release


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE kept (x)")
    con.execute("BEGIN")  # an import reads its images inside its own transaction
    con.execute("INSERT INTO kept VALUES (1)")
    return con


def test_values_arrive_as_binding_them_from_python_stores_them(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"flag": [True, False], "text": ["2026-03-01 10:00:00.000000", None], "big": [2**62, -1], "none": [None, 0]}
    )
    con = _connect(tmp_path / "db.sqlite")
    tag = load_image(con, image({"t": frame}))
    got = con.execute(f"SELECT quote(flag), quote(text), quote(big), quote(none) FROM {STAGE}.t ORDER BY rowid{tag}")
    assert got.fetchall() == [
        ("1", "'2026-03-01 10:00:00.000000'", str(2**62), "NULL"),
        ("0", "NULL", "-1", "0"),
    ]


def test_the_same_statement_reads_each_new_image_not_the_layout_of_the_last(tmp_path: Path) -> None:
    con = _connect(tmp_path / "db.sqlite")
    seen = []
    for rows_before in (3, 5000):  # table b starts on a later page of the second image than of the first
        tables = {
            "a": pl.DataFrame({"x": [f"a{i}" for i in range(rows_before)]}),
            "b": pl.DataFrame({"x": ["b0", "b1"]}),
        }
        tag = load_image(con, image(tables))
        seen.append(con.execute(f"SELECT x FROM {STAGE}.b ORDER BY x{tag}").fetchall())
    assert seen == [[("b0",), ("b1",)], [("b0",), ("b1",)]]


def test_the_stage_is_let_go_once_the_transaction_is_over(tmp_path: Path) -> None:
    con = _connect(tmp_path / "db.sqlite")
    load_image(con, image({"t": pl.DataFrame({"x": [1]})}))
    release(con)  # still inside the transaction: kept, nothing fails
    assert STAGE in {row[1] for row in con.execute("PRAGMA database_list")}
    con.execute("COMMIT")
    release(con)
    assert STAGE not in {row[1] for row in con.execute("PRAGMA database_list")}
    assert con.execute("SELECT x FROM kept").fetchall() == [(1,)]


def test_columns_with_one_value_are_left_out_of_the_image_and_kept_as_constants() -> None:
    events = pl.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "source": ["file:u.csv", "file:u.csv"],
            "task_id": [None, None],
            "cost_output": [5, 7],
            "cache_hit": [False, False],
        }
    )
    made = event_image(events)
    con = sqlite3.connect(":memory:")
    con.deserialize(made.data)
    assert [row[1] for row in con.execute("PRAGMA table_info(event)")] == ["event_id", "cost_output"]
    assert made.constants == {"source": "file:u.csv", "task_id": None, "cache_hit": False}
