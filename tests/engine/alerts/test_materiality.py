"""Immaterial subjects in the alerts and the digest: see tests/engine/scenarios/test_materiality.py."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from bot.blocks.digest import digest_message
from engine.alerts.digest import digest_to_dict, weekly_digest
from engine.alerts.evaluate import AlertKind, check_alerts, decide
from engine.alerts.state import Level, State
from engine.ingest.contracts import import_contracts_file
from engine.reports.figures import Figures, Thresholds
from engine.runtime import Runtime
from tests.conftest import NOW
from tests.engine.alerts.book import EXPECTED, Run, add_usage, load_book, observation


def _tiny(rt: Runtime, folder: Path, day: date) -> None:
    """Tiny Co on product tinyprod: 3 requests at $0.000001 (revenue $0.000003) costing $0.00013 on `day`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny-contract.csv"
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["customer", "customer_name", "product", "plan", "start", "unit", "unit_price_usd"])
        w.writerow(["tiny", "Tiny Co", "tinyprod", "usage", "2026-01-01", "request", "0.000001"])
    import_contracts_file(rt.engine, path)
    add_usage(rt, folder, [Run("tiny", "tinyprod", day, 1, 3, Decimal("0.00013"))], tag="tiny-")


def test_a_sub_cent_customer_opens_no_alert_and_every_real_one_is_raised(runtime: Runtime, tmp_path: Path) -> None:
    load_book(runtime, tmp_path)
    _tiny(runtime, tmp_path, date(2026, 11, 5))
    run = check_alerts(runtime, as_of=NOW, dry_run=True)
    assert {(e.observation.kind, e.observation.key, e.kind) for e in run.events} == EXPECTED
    # The floor is the setting's: at 0 the same book raises Tiny Co's cost without revenue, customer and product.
    every = Runtime(runtime.settings.model_copy(update={"materiality_usd": Decimal(0)}), now_override=NOW)
    raised = {
        (e.observation.kind, e.observation.key, e.kind) for e in check_alerts(every, as_of=NOW, dry_run=True).events
    }
    assert raised - EXPECTED == {("customer", "tiny", "no_revenue"), ("product", "tinyprod", "no_revenue")}


def test_an_episode_already_open_goes_on_when_its_subject_becomes_immaterial() -> None:
    # A breach announced at material figures is still reminded, and recovers or goes quiet as any other: no alert is
    # lost to the floor, only none is opened under it.
    obs = observation(Decimal("0.50"), Decimal("0.45"))  # 10%: a breach, both under $1
    obs.immaterial = not obs.current.material
    assert obs.immaterial and obs.level is Level.BREACH
    opened = State(status=Level.BREACH, since=NOW - timedelta(days=10), last_posted_at=NOW - timedelta(days=10))
    args = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
    assert decide(opened, obs, as_of=NOW, **args)[1] == [AlertKind.REMINDER]
    fresh, said = decide(State(), obs, as_of=NOW, **args)
    assert (fresh.status, said) == (Level.OK, [])
    assert Figures(revenue=Decimal("0.50"), cogs=Decimal("0.45"), unpriced_events=1, thresholds=Thresholds()).material


def test_the_digest_lists_a_sub_cent_customer_apart(runtime: Runtime, tmp_path: Path) -> None:
    load_book(runtime, tmp_path)
    _tiny(runtime, tmp_path, date(2026, 11, 5))
    with runtime.connect() as conn:
        d = weekly_digest(conn, today=date(2026, 11, 15), thresholds=runtime.thresholds)
    p = digest_to_dict(d, runtime.thresholds)
    assert [r["key"] for r in p["breach"]] == ["acme", "search"]
    assert [r["key"] for r in p["no_revenue"]] == ["dunder"]
    assert [r["key"] for r in p["immaterial"]] == ["tiny", "tinyprod"]
    shown = str(digest_message(p)["blocks"])
    assert "_Immaterial (revenue and COGS each under $1.00 this week; in no list above):_ Tiny Co (customer), " in shown


def test_a_customer_whose_revenue_is_a_large_credit_is_material_and_said_so() -> None:
    # Revenue of -$3,000 (a Stripe line crediting unused time, the period's only line) is "under $1" only as a signed
    # number: read as immaterial it was labelled "revenue and COGS each under $1.00", listed last, in no count, and
    # its cost without revenue opened no alert.
    obs = observation(Decimal(-3000), Decimal("0.40"))
    obs.immaterial = not obs.current.material
    assert not obs.immaterial and obs.level is Level.NO_REVENUE
    args = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
    assert decide(State(), obs, as_of=NOW, **args)[1] == [AlertKind.NO_REVENUE]
    assert not Figures(revenue=Decimal("-0.50"), cogs=Decimal("0.45"), thresholds=Thresholds()).material
