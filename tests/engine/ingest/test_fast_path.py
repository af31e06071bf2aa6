"""The fast CSV row parser and `parse_event` agree on every row: the fast path either declines a row (and
`parse_event` decides) or returns exactly what `parse_event` returns. Rows are generated, well-formed and odd,
under headers that name any subset of the optional columns in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ingest.events import (
    COLUMNS,
    FAST_PATH_DECLINES,
    REQUIRED,
    ParsedEvent,
    RowError,
    _csv_fast_parser,
    parse_event,
)

# Deterministic (the same examples every run, nothing kept between runs) and quick.
CHECK = settings(max_examples=300, derandomize=True, database=None, deadline=None)

OPTIONAL = [c for c in COLUMNS if c not in REQUIRED]
# the integer columns
COUNTS = (
    *COLUMNS[COLUMNS.index("input_tokens") : COLUMNS.index("rerank_calls") + 1],
    "cache_write_1h_tokens",
    "web_searches",
)
ZONES = [None, UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(0))]

short_id = st.builds(
    lambda pad, text: pad + text + pad,  # cells may carry spaces around the value: both parsers strip them
    st.sampled_from(["", "", " "]),
    st.text("abcdefghijklmnopqrstuvwxyzABC0123456789-_.:", min_size=1, max_size=24),
)
odd_text = st.one_of(
    st.sampled_from(["", " ", "  padded  ", "\t", "MiXeD", "x" * 100, "y" * 101, "z" * 129, "w" * 201]),
    st.text(max_size=12),  # any unicode: whitespace of every kind, NUL, combining marks
    st.text(min_size=95, max_size=210),
)
models = st.sampled_from(["gpt-4o", " GPT-4o-mini ", "claude-sonnet-4-5", "acme-distill-8b", "unknown-1", ""])


@st.composite
def iso_timestamps(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2110, 1, 1), timezones=st.sampled_from(ZONES))
    )
    text = moment.isoformat(sep=draw(st.sampled_from(["T", " "])), timespec=draw(st.sampled_from(["seconds", "auto"])))
    if moment.tzinfo is UTC and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return text


unix_seconds = st.integers(min_value=946_684_800, max_value=4_102_444_799).map(str)  # 2000-01-01 … 2099-12-31
timestamps = st.one_of(
    iso_timestamps(),
    st.integers(min_value=0, max_value=5_000_000_000).map(str),  # Unix seconds, in range and out of it
    st.sampled_from(
        [
            "1790000000",
            "1790000000123",  # milliseconds, microseconds, nanoseconds: told apart by size
            "1790000000123456",
            "1790000000123456789",
            "17900000001234567890",
            " 1790000000",
            "1790000000.5",
            "+1790000000",
            "-5",
            "99999999999999999999",
            "9" * 30,
            "١٧٩٠٠٠٠٠٠٠",  # Arabic-Indic digits: int() reads them
            "2026-10-05",
            "2026-W40-1",
            "2026-10-05T25:00:00",
            "2026-10-05T12:00:00Z ",
            "1999-12-31T23:59:59-01:00",
            "2099-12-31T23:59:59+00:00",
            "2099-12-31T23:59:59-00:01",
            "yesterday",
            "",
            " ",
        ]
    ),
)
good_count = st.one_of(st.just(""), st.integers(min_value=0, max_value=10**7).map(str))
odd_count = st.one_of(
    st.sampled_from(
        ["-5", "-0", "+7", " 12 ", "1_000", "1.0", "1e3", "x", "٣", "²", " ", str(10**15 - 1), str(10**15), "9" * 5000]
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
seconds = st.one_of(st.just(""), st.decimals(min_value=0, max_value=10**4, places=4).map(str))
amounts = st.one_of(
    st.sampled_from(
        ["", "0", "1.5", "0.0005", "0.00049999", "-1", "-0", "NaN", "sNaN", "inf", "1e999999", "1e-30", "0E+100"]
    ),
    st.sampled_from([" 2 ", "abc", "1_0", "999999999999.999", "1000000000000", "10000000", "1e16", "1e999000"]),
    st.decimals(min_value=-(10**6), max_value=10**6, places=6, allow_nan=False).map(str),
)
flags = st.sampled_from(["", "true", "FALSE", " yes ", "Y", "0", "1", "t", "n"])
tiers = st.sampled_from(["", "standard", "flex", "priority", "batch", "default"])
odd_tiers = st.sampled_from(["Batch", " flex ", "PRIORITY", "turbo", "scale", " ", "ｂatch"])
odd_flags = st.sampled_from(["maybe", "2", " ", "yes!", "ｔrue", "None"])


def value_for(column: str, odd: bool) -> st.SearchStrategy[str]:
    if column == "ts":
        return timestamps if odd else st.one_of(iso_timestamps(), unix_seconds)
    if column in COUNTS:
        return odd_count if odd else good_count
    if column == "compute_seconds":
        return amounts if odd else seconds
    if column == "cost_usd":  # the fast path declines any cost: every amount is odd to it
        return amounts if odd else st.just("")
    if column == "cache_hit":
        return odd_flags if odd else flags
    if column == "service_tier":
        return odd_tiers if odd else tiers
    if column == "model":
        return st.one_of(models, odd_text) if odd else models
    if column in REQUIRED:
        return st.one_of(short_id, odd_text) if odd else short_id
    return st.one_of(st.just(""), short_id, odd_text) if odd else st.one_of(st.just(""), short_id)


@st.composite
def rows(draw: st.DrawFn, *, odd: bool = True, every_column: bool = False) -> tuple[list[str], list[str]]:
    """A header (the required columns and any optional ones, in any order) and one row of values under it."""
    optional = OPTIONAL if every_column else draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    header = draw(st.permutations([*REQUIRED, *optional]))
    # A few odd cells in an otherwise ordinary row: each odd value meets the rest of the row's checks.
    strange = set(draw(st.lists(st.sampled_from(header), max_size=3))) if odd else set()
    values = [draw(value_for(column, column in strange), label=column) for column in header]
    return header, values


def parse_both(header: list[str], values: list[str]) -> tuple[ParsedEvent | None, ParsedEvent | None]:
    """What parse_event makes of the row (None: refused) and what the fast path makes of it (None: declined)."""
    try:
        slow = parse_event(dict(zip(header, values, strict=True)))
    except RowError:  # anything else is a bug: an import would stop with a traceback instead of naming the line
        slow = None
    try:
        fast = _csv_fast_parser(header)(values)
    except FAST_PATH_DECLINES:
        fast = None
    return slow, fast


@CHECK
@given(rows())
def test_fast_path_either_declines_or_returns_exactly_what_parse_event_returns(
    row: tuple[list[str], list[str]],
) -> None:
    slow, fast = parse_both(*row)
    if fast is not None:
        assert slow is not None, "the fast path took a row that parse_event refuses"
        # repr as well as ==: the same types (True is not 1) and the same time zone object, not just equal values.
        assert (fast, repr(fast)) == (slow, repr(slow))


@CHECK
@given(rows(odd=False, every_column=True))
def test_fast_path_takes_every_well_formed_row_with_every_column(row: tuple[list[str], list[str]]) -> None:
    header, values = row
    slow, fast = parse_both(header, values)
    if slow is None:  # generated well-formed, but cached + cache-write over input, or a date outside 2000–2099
        return
    assert fast is not None, "the fast path declined a row parse_event takes"
    assert (fast, repr(fast)) == (slow, repr(slow))


def test_a_row_too_large_for_the_database_is_refused_naming_the_field() -> None:
    base = {"event_id": "e1", "ts": "2026-10-05T12:00:00Z", "customer": "c", "product": "p", "model": "m"}
    units = "read as Unix seconds, milliseconds, microseconds or nanoseconds by its size"
    cases = [
        ({"ts": "99999999999999999999"}, f"ts: timestamp '99999999999999999999' is outside 2000–2099 ({units})"),
        ({"input_tokens": str(10**15)}, f"input_tokens must be at most {10**15 - 1} (one event), got '{10**15}'"),
        ({"input_tokens": str(2**64)}, f"input_tokens must be at most {10**15 - 1} (one event), got '{2**64}'"),
        ({"cost_usd": "1e999999"}, "cost_usd is too large (at most 10,000,000 for one event), got '1e999999'"),
        ({"cost_usd": "1e12"}, "cost_usd is too large (at most 10,000,000 for one event), got '1e12'"),
        (
            {"compute_seconds": "1000000000000"},
            "compute_seconds is too large (at most 999,999,999,999.999 for one event), got '1000000000000'",
        ),
    ]
    for extra, message in cases:
        try:
            parse_event({**base, **extra})
        except RowError as exc:
            assert str(exc) == message
        else:
            raise AssertionError(f"{extra} was taken")
    assert parse_event({**base, "compute_seconds": "999999999999.999"}).compute_ms == 10**15 - 1
    assert parse_event({**base, "input_tokens": str(10**15 - 1)}).input_tokens == 10**15 - 1
    assert parse_event({**base, "cost_usd": "10000000"}).source_cost_nano == 10**16
