"""The one rounding policy: half-up, once, at the edge; the formatters differ only in the type they hand out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.money import (
    CENT,
    MICRO,
    TENTH,
    ceil_to,
    decimal_text,
    json_number,
    pct_text,
    round_to,
    share_text,
    usd,
    usd_text,
)

D = Decimal


@pytest.mark.parametrize(
    ("value", "step", "expected"),
    [
        (D("2.925"), CENT, D("2.93")),  # a tie goes up, never to the even neighbour (2.92)
        (D("2.935"), CENT, D("2.94")),
        (D("-2.925"), CENT, D("-2.93")),  # half away from zero
        (D("0.0000005"), MICRO, D("0.000001")),
        (D("76.05"), TENTH, D("76.1")),
    ],
)
def test_round_to_rounds_ties_half_up(value: Decimal, step: Decimal, expected: Decimal) -> None:
    assert round_to(value, step) == expected


def test_every_formatter_rounds_the_same_tie_the_same_way() -> None:
    tie = D("2.925")
    assert (json_number(tie, CENT), decimal_text(tie), usd_text(tie), pct_text(tie, CENT)) == (
        2.93, "2.93", "$2.93", "2.93%"
    )  # fmt: skip
    assert (json_number(None, CENT), decimal_text(None)) == (None, None)


def test_text_formatters_keep_the_shapes_people_read() -> None:
    assert usd_text(D("1234567.891")) == "$1,234,567.89"
    assert usd_text(D("0.00012345"), D("0.0001")) == "$0.0001"
    assert pct_text(D("76.07")) == "76%"
    assert pct_text(D("33.333"), TENTH) == "33.3%"
    assert decimal_text(D(30)) == "30.00"


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        ("62.03", "62%"),
        ("100", "100%"),
        ("0", "0%"),
        ("99.515", "99.5%"),  # not "100%": the model beside it in the table costs 0.5%
        ("99.97", ">99.9%"),
        ("0.4", "0.4%"),
        ("0.04", "<0.1%"),
        ("99.4", "99%"),
    ],
)
def test_a_share_never_reads_all_or_none_when_it_is_not(share: str, shown: str) -> None:
    assert share_text(D(share)) == shown


def test_a_price_floor_is_the_one_value_rounded_up() -> None:
    assert ceil_to(D("0.0000101"), MICRO) == D("0.000011")
    assert ceil_to(D("0.00001"), MICRO) == D("0.00001")


def test_nano_usd_become_exact_dollars() -> None:
    assert usd(2_925_000_000) == D("2.925")
    assert usd(1) == D("0.000000001")


def test_round_to_rounds_a_figure_of_any_size_to_its_step() -> None:
    # 31 digits before the cent: the default 28-digit context refused it (decimal.InvalidOperation, a traceback).
    assert round_to(Decimal("1000000000000000000000000000000.005"), CENT) == Decimal(
        "1000000000000000000000000000000.01"
    )
    assert round_to(Decimal("2.675"), CENT) == Decimal("2.68")  # half-up, as ever
