"""A customer's owners and own margin bands, from its contracts: what alerts mention and which bands its status uses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.ingest.contracts import import_contracts_file
from engine.reports.accounts import Account, accounts
from engine.reports.figures import Thresholds
from engine.runtime import Runtime

GLOBAL = Thresholds(breach_pct=Decimal(40), healthy_pct=Decimal(55))


def load(rt: Runtime, tmp_path: Path, body: str) -> None:
    path = tmp_path / "contracts.csv"
    path.write_text("customer,product,plan,start,end,platform_fee_usd,owner,breach_pct,healthy_pct\n" + body)
    import_contracts_file(rt.engine, path)


def test_accounts_carry_owners_and_bands_and_leave_out_customers_without_either(
    runtime: Runtime, tmp_path: Path
) -> None:
    load(
        runtime,
        tmp_path,
        "acme,assist,flat,2026-01-01,,100,U0ACME1; W0ACME2,30,45\n"
        "acme,agent,flat,2026-01-01,,100,,,\n"  # blank cells: the customer's values from its other row
        "globex,,flat,2026-01-01,,100,U0GLOBEX,,\n"
        "initech,,flat,2026-01-01,,100,,,60\n"
        "hooli,,flat,2026-01-01,,100,,,\n",
    )
    with runtime.connect() as conn:
        found = accounts(conn)
        only_acme = accounts(conn, ["acme"])
        stored = conn.execute(text("SELECT product, owner FROM contract WHERE customer = 'acme' ORDER BY product"))
        acme_rows = [tuple(r) for r in stored]
    assert found == {
        "acme": Account(
            customer="acme", owners=("U0ACME1", "W0ACME2"), breach_pct=Decimal(30), healthy_pct=Decimal(45)
        ),
        "globex": Account(customer="globex", owners=("U0GLOBEX",), breach_pct=None, healthy_pct=None),
        "initech": Account(customer="initech", owners=(), breach_pct=None, healthy_pct=Decimal(60)),
    }
    assert only_acme == {"acme": found["acme"]}
    assert (str(found["acme"].breach_pct), str(found["initech"].healthy_pct)) == ("30", "60")  # not 30.00
    # Every contract of a customer carries its values, so any one of them tells.
    assert acme_rows == [("agent", "U0ACME1;W0ACME2"), ("assist", "U0ACME1;W0ACME2")]


@pytest.mark.parametrize(
    ("breach", "healthy", "expected"),
    [
        (None, None, (40, 55)),  # no own bands: the global ones, unchanged
        (Decimal(30), Decimal(45), (30, 45)),
        (Decimal(50), None, (50, 55)),  # one band: the other is the global one
        (None, Decimal(70), (40, 70)),
        (Decimal(60), None, (60, 60)),  # own breach above the global healthy line: no watch band, never crossed
        (None, Decimal(30), (30, 30)),  # own healthy below the global breach line: likewise
    ],
)
def test_an_account_uses_its_own_bands_where_set_and_never_crosses_them(
    breach: Decimal | None, healthy: Decimal | None, expected: tuple[int, int]
) -> None:
    account = Account(customer="acme", owners=(), breach_pct=breach, healthy_pct=healthy)
    assert account.has_own_bands is (breach is not None or healthy is not None)
    assert account.thresholds(GLOBAL) == Thresholds(breach_pct=Decimal(expected[0]), healthy_pct=Decimal(expected[1]))


def test_values_written_by_hand_that_no_import_accepts_are_ignored_not_fatal(runtime: Runtime, tmp_path: Path) -> None:
    load(
        runtime,
        tmp_path,
        "acme,,flat,2026-01-01,,100,U0ACME1,30,45\nglobex,,flat,2026-01-01,,100,U0GLOBEX,,\n",
    )
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE contract SET owner = 'pat@example.com', breach_pct = 99 WHERE customer = 'acme'"))
        conn.execute(text("UPDATE contract SET healthy_pct = 'NaN' WHERE customer = 'globex'"))
    with runtime.connect() as conn:
        found = accounts(conn)
    # acme: the owner is not a member ID and its bands cross (99 > 45): both ignored, so no entry at all.
    assert found == {"globex": Account(customer="globex", owners=("U0GLOBEX",), breach_pct=None, healthy_pct=None)}


def test_contracts_that_disagree_resolve_to_the_latest_contract(runtime: Runtime, tmp_path: Path) -> None:
    load(
        runtime,
        tmp_path,
        "acme,,flat,2025-01-01,2025-12-31,100,U0OLD,20,30\nacme,,flat,2026-01-01,,100,,,\n",
    )
    with runtime.engine.begin() as conn:  # an older version, or a hand edit, left the rows disagreeing
        conn.execute(
            text("UPDATE contract SET owner = 'U0NEW', breach_pct = 35, healthy_pct = 50 WHERE start >= '2026-01-01'")
        )
    with runtime.connect() as conn:
        found = accounts(conn)
    assert found == {
        "acme": Account(customer="acme", owners=("U0NEW",), breach_pct=Decimal(35), healthy_pct=Decimal(50))
    }
