"""`marginbot reconcile`: priced usage against what the provider billed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from engine.ingest.reconcile import reconcile
from engine.ingest.sync import sync_source
from engine.money import usd
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor, cost_result, openai_bucket_pages, usage_result

D1 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())


def test_reconcile_compares_priced_usage_with_the_provider_bill(
    rt: Runtime, vendor: Vendor, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor.route("/v1/organization/usage/completions", openai_bucket_pages({D1: [usage_result()]}))
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    vendor.route(
        "/v1/organization/costs", openai_bucket_pages({D1: [cost_result(0.06)], D1 + 86400: [cost_result(0.02)]})
    )
    sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 2), transport=vendor.transport)
    with rt.connect() as conn:
        priced = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds).current.cogs

    assert main(["reconcile", "--period", "2026-10", "--json"], runtime=rt) == 0

    out = json.loads(capsys.readouterr().out)
    billed = Decimal("0.08")
    assert out == {
        "period": "2026-10",
        "providers": [
            {
                "provider": "openai",
                "start": "2026-10-01",
                "end": "2026-10-02",  # the last day OpenAI has billed
                "priced_usd": float(priced.quantize(Decimal("0.01"))),
                "billed_usd": 0.08,
                "drift_usd": float((priced - billed).quantize(Decimal("0.01"))),
                "drift_pct": float(((priced - billed) / billed * 100).quantize(Decimal("0.01"))),
                "status": "drift",
                "unpriced_events": 0,
            }
        ],
        "notices": [],  # what every report carries: prices changed since the last reprice
        "drift_alerts_held": False,
    }
    assert main(["reconcile", "--period", "2026-10"], runtime=rt) == 0
    assert "Drift over 5%: check the price book" in capsys.readouterr().out


def test_the_providers_bill_is_summed_exactly(rt: Runtime, vendor: Vendor) -> None:
    # Nine daily bills with nine decimals each, $423,065.955 in all, which rounds to $423,065.96. A float sum (SQLite's
    # SUM of the doubles it keeps) makes it $423,065.95499999996, shown as $423,065.95.
    vendor.route("/v1/organization/usage/completions", openai_bucket_pages({D1: [usage_result()]}))
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    amounts = [
        40709.269373696, 50453.301529281, 65998.847102851, 79878.565667504, 33412.212824551,
        66527.993827842, 49103.742089233, 29271.017394521, 7711.005190521,
    ]  # fmt: skip
    bills = {D1 + day * 86400: [cost_result(amount)] for day, amount in enumerate(amounts)}
    vendor.route("/v1/organization/costs", openai_bucket_pages(bills))
    sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 9), transport=vendor.transport)
    with rt.connect() as conn:
        (openai,) = reconcile(conn, month(2026, 10))
    assert openai.billed_usd == Decimal("423065.955")
    assert openai.as_dict()["billed_usd"] == 423065.96


def _drifting(rt: Runtime, vendor: Vendor) -> None:
    """October 1st synced from OpenAI: usage priced well off the $0.06 it billed (a drift)."""
    vendor.route("/v1/organization/usage/completions", openai_bucket_pages({D1: [usage_result()]}))
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    vendor.route("/v1/organization/costs", openai_bucket_pages({D1: [cost_result(0.06)]}))
    sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)


def test_drift_beyond_five_percent_is_posted_to_every_alert_channel_once_per_provider_and_month(
    rt: Runtime, vendor: Vendor, capsys: pytest.CaptureFixture[str]
) -> None:
    from slack_sdk import WebClient

    from bot.jobs.delivery import deliver
    from engine.store.outbox import pending_count
    from tests.fakes.slack_api import SlackStandIn

    _drifting(rt, vendor)
    alerting = Runtime(rt.settings.model_copy(update={"alert_channels": ["C1", "C2"]}), now_override=rt.now())

    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0
    assert "Drift alert queued for openai to 2 alert channel(s)." in capsys.readouterr().out
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0  # the same drift, the same month
    assert "Drift alert queued" not in capsys.readouterr().out
    with alerting.connect() as conn:
        assert pending_count(conn) == 2

    with SlackStandIn() as slack:
        report = deliver(alerting, WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5))
        posts = slack.calls_to("chat.postMessage")
    assert len(report.sent) == 2
    assert sorted(p.body["channel"] for p in posts) == ["C1", "C2"]
    assert posts[0].text.startswith("Cost drift, 2026-10: openai: marginbot priced $")
    assert "openai billed $0.06" in posts[0].text


def test_drift_within_five_percent_posts_nothing(rt: Runtime, vendor: Vendor) -> None:
    from engine.ingest.reconcile import ProviderDrift, queue_drift_alerts

    ok = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 31), Decimal("104.99"), Decimal("100"))
    out = ProviderDrift("anthropic", date(2026, 10, 1), date(2026, 10, 31), Decimal("94.99"), Decimal("100"))
    with rt.engine.begin() as conn:
        assert queue_drift_alerts(conn, [ok, out], month(2026, 10), ["C1"], rt.now()) == ["anthropic"]
        assert queue_drift_alerts(conn, [ok, out], month(2026, 10), ["C1"], rt.now()) == []
        assert queue_drift_alerts(conn, [out], month(2026, 11), ["C1"], rt.now()) == ["anthropic"]  # a new month


def test_usage_is_cut_in_the_providers_utc_days_whatever_the_time_zone(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.ingest.files import import_usage_file
    from engine.store.models import ProviderCost

    tokyo = Runtime(runtime.settings.model_copy(update={"timezone": "Asia/Tokyo"}), now_override=runtime.now())
    usage = tmp_path / "usage.csv"
    # A million gpt-4o input tokens is $2.50. Tokyo is UTC+9: the first event is Oct 1 there but Sep 30 at
    # OpenAI, the last is Nov 1 there but Oct 31 at OpenAI, which billed all of October's UTC days.
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
        "sep30,2026-09-30T20:00:00Z,acme,chat,openai,gpt-4o,1000000,0\n"
        "oct15,2026-10-15T12:00:00Z,acme,chat,openai,gpt-4o,2000000,0\n"
        "oct31,2026-10-31T20:00:00Z,acme,chat,openai,gpt-4o,4000000,0\n"
    )
    import_usage_file(tokyo.engine, usage, prices=tokyo.prices, timezone="Asia/Tokyo")
    with tokyo.engine.begin() as conn:
        for day in (date(2026, 10, 1), date(2026, 10, 31)):
            bill = ProviderCost(id=f"bill-{day}", source="openai", provider="openai", day=day, amount_usd=Decimal(5))
            conn.execute(ProviderCost.__table__.insert().values(**bill.model_dump()))  # type: ignore[attr-defined]

    with tokyo.connect() as conn:
        cost = dict(conn.execute(text("SELECT event_id, cost_uncached_input FROM usage_event")).all())
    october_utc = usd(cost["oct15"] + cost["oct31"])  # not Tokyo's October: sep30 and oct15
    assert october_utc != usd(cost["sep30"] + cost["oct15"])

    assert main(["reconcile", "--period", "2026-10", "--json"], runtime=tokyo) == 0
    (openai,) = json.loads(capsys.readouterr().out)["providers"]
    assert (openai["priced_usd"], openai["billed_usd"]) == (float(october_utc), 10.0)
    with tokyo.connect() as conn:
        (row,) = reconcile(conn, month(2026, 10), "Asia/Tokyo")
    assert row.priced_usd == october_utc


def test_a_drift_on_costs_priced_with_another_price_file_is_said_and_not_alerted(
    rt: Runtime, vendor: Vendor, capsys: pytest.CaptureFixture[str]
) -> None:
    # The month's one drift alert, posted on stale costs, would never be posted again with the repriced ones; and
    # the line telling to check the price book pointed at the file just fixed.
    _drifting(rt, vendor)
    prices = Path(rt.settings.prices_file)
    prices.write_text(prices.read_text().replace("input_per_mtok = 0.10", "input_per_mtok = 0.20", 1))
    alerting = Runtime(rt.settings.model_copy(update={"alert_channels": ["C1"]}), now_override=rt.now())

    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0
    out = capsys.readouterr().out
    assert "Drift alert not queued: the stored costs were priced with another price file" in out
    assert out.rstrip().endswith("Note: prices changed since the last reprice: run `marginbot reprice`")
    assert main(["reconcile", "--period", "2026-10", "--json"], runtime=alerting) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["drift_alerts_held"] is True and shown["notices"] == [
        "prices changed since the last reprice: run `marginbot reprice`"
    ]
    with alerting.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM outbox")).scalar() == 0


def _billed_unknown_model(runtime: Runtime, tmp_path: Path, rows: str, timezone: str = "UTC") -> Runtime:
    """October usage imported for OpenAI (`rows` after the header), and $5 billed by OpenAI on Oct 1 and Oct 31."""
    from engine.ingest.files import import_usage_file
    from engine.store.models import ProviderCost

    rt = Runtime(runtime.settings.model_copy(update={"timezone": timezone}), now_override=runtime.now())
    usage = tmp_path / "usage.csv"
    usage.write_text("event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n" + rows)
    import_usage_file(rt.engine, usage, prices=rt.prices, timezone=timezone)
    with rt.engine.begin() as conn:
        for day in (date(2026, 10, 1), date(2026, 10, 31)):
            bill = ProviderCost(id=f"bill-{day}", source="openai", provider="openai", day=day, amount_usd=Decimal(5))
            conn.execute(ProviderCost.__table__.insert().values(**bill.model_dump()))  # type: ignore[attr-defined]
    return rt


@pytest.mark.parametrize("timezone", ["UTC", "Asia/Tokyo"])
def test_billed_usage_that_has_no_price_is_named_unpriced_not_missing(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str], timezone: str
) -> None:
    # Two events of a model no price file or catalogue knows: they are stored, so "not synced or not imported" (what
    # no_usage says) sent the reader looking for usage that is there. (The Tokyo book counts from the events' UTC
    # times, as it prices.)
    rt = _billed_unknown_model(
        runtime,
        tmp_path,
        "a,2026-10-10T12:00:00Z,acme,chat,openai,acme-secret-model,1000,100\n"
        "b,2026-10-11T12:00:00Z,acme,chat,openai,acme-secret-model,2000,200\n",
        timezone,
    )
    alerting = Runtime(rt.settings.model_copy(update={"alert_channels": ["C1"]}), now_override=rt.now())

    assert main(["reconcile", "--period", "2026-10", "--json"], runtime=alerting) == 0
    (openai,) = json.loads(capsys.readouterr().out)["providers"]
    assert (openai["status"], openai["unpriced_events"], openai["priced_usd"]) == ("unpriced", 2, 0.0)
    with alerting.connect() as conn:
        (payload,) = [json.loads(p) for (p,) in conn.execute(text("SELECT payload FROM outbox"))]
    assert (payload["status"], payload["unpriced_events"]) == ("unpriced", 2)

    assert main(["reconcile", "--period", "2026-10"], runtime=rt) == 0
    out = capsys.readouterr().out
    assert "openai: 2 event(s) in these days have no price" in out


def test_a_drift_below_the_bill_counts_the_events_with_no_price(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One priced event (a million gpt-4o input tokens, a few dollars) and one unpriced, against $10 billed.
    rt = _billed_unknown_model(
        runtime,
        tmp_path,
        "a,2026-10-10T12:00:00Z,acme,chat,openai,gpt-4o,1000000,0\n"
        "b,2026-10-11T12:00:00Z,acme,chat,openai,acme-secret-model,2000,200\n",
    )
    with rt.connect() as conn:
        (row,) = reconcile(conn, month(2026, 10))
        priced = conn.execute(text("SELECT cost_uncached_input FROM usage_event WHERE event_id = 'a'")).scalar_one()
    assert Decimal(0) < usd(priced) < Decimal(9)
    assert (row.status, row.priced_usd, row.unpriced_events) == ("drift", usd(priced), 1)
    assert row.as_dict()["unpriced_events"] == 1
    assert main(["reconcile", "--period", "2026-10"], runtime=rt) == 0
    assert "openai: 1 event(s) in these days have no price" in capsys.readouterr().out


def test_a_drift_alerted_then_back_within_five_percent_is_said_once_in_the_alerts_thread(
    rt: Runtime, vendor: Vendor, capsys: pytest.CaptureFixture[str]
) -> None:
    # The provider's cost report was revised after the alert (a day it had not finished counting): the alert stood
    # in the channel as if the drift were still there.
    from slack_sdk import WebClient

    from bot.jobs.delivery import deliver
    from engine.store.models import ProviderCost
    from tests.fakes.slack_api import SlackStandIn

    _drifting(rt, vendor)
    alerting = Runtime(rt.settings.model_copy(update={"alert_channels": ["C1"]}), now_override=rt.now())
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0
    capsys.readouterr()
    with alerting.connect() as conn:
        (row,) = reconcile(conn, month(2026, 10))
    with alerting.engine.begin() as conn:  # the bill revised to 1% under what marginbot priced
        bill = ProviderCost.__table__  # type: ignore[attr-defined]
        conn.execute(bill.update().values(amount_usd=(row.priced_usd * Decimal("0.99")).quantize(Decimal("1E-9"))))

    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0
    assert "Back within ±5%: a note queued in the thread of the drift alert for openai." in capsys.readouterr().out
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0  # said once
    assert "Back within" not in capsys.readouterr().out

    with SlackStandIn() as slack:
        report = deliver(alerting, WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5))
        alert, note = slack.calls_to("chat.postMessage")
    assert len(report.sent) == 2
    assert alert.text.startswith("Cost drift, 2026-10: openai: marginbot priced $")
    assert note.text.startswith("Cost drift resolved, 2026-10: openai: marginbot now prices $")
    assert "within ±5%" in note.text
    with alerting.connect() as conn:
        root = conn.execute(text("SELECT slack_ts FROM outbox WHERE dedupe_key = 'drift:openai:2026-10:C1'")).scalar()
    assert root and note.body["thread_ts"] == root


def test_a_month_never_alerted_gets_no_resolved_note(rt: Runtime, vendor: Vendor) -> None:
    from engine.ingest.reconcile import ProviderDrift, queue_drift_resolved

    ok = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 31), Decimal("104.99"), Decimal("100"))
    with rt.engine.begin() as conn:
        assert queue_drift_resolved(conn, [ok], month(2026, 10), ["C1"], rt.now()) == []
        assert conn.execute(text("SELECT COUNT(*) FROM outbox")).scalar() == 0


def test_a_month_that_drifts_again_after_its_resolved_note_is_said_so_in_the_thread(
    rt: Runtime, vendor: Vendor, capsys: pytest.CaptureFixture[str]
) -> None:
    # The alert, then "Cost drift resolved" in its thread, then the bill revised again (or usage imported twice):
    # the month's alert is posted once, so the resolved note stood as the thread's last word while the drift was back.
    from slack_sdk import WebClient

    from bot.jobs.delivery import deliver
    from engine.store.models import ProviderCost
    from tests.fakes.slack_api import SlackStandIn

    _drifting(rt, vendor)
    alerting = Runtime(rt.settings.model_copy(update={"alert_channels": ["C1"]}), now_override=rt.now())
    with alerting.connect() as conn:
        (row,) = reconcile(conn, month(2026, 10))
    bill = ProviderCost.__table__  # type: ignore[attr-defined]

    def billed(factor: str) -> None:
        with alerting.engine.begin() as conn:
            conn.execute(bill.update().values(amount_usd=(row.priced_usd * Decimal(factor)).quantize(Decimal("1E-9"))))

    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0  # the alert
    billed("0.99")
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0  # resolved
    billed("3")
    capsys.readouterr()
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0
    assert "Drift alert queued for openai" in capsys.readouterr().out
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0  # said once
    assert "Drift alert queued" not in capsys.readouterr().out
    billed("0.99")
    assert main(["reconcile", "--period", "2026-10"], runtime=alerting) == 0
    assert "Back within ±5%" in capsys.readouterr().out

    with SlackStandIn() as slack:
        deliver(alerting, WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5))
        posts = slack.calls_to("chat.postMessage")
    assert [p.text.split(",")[0] for p in posts] == [
        "Cost drift",
        "Cost drift resolved",
        "Cost drift again",
        "Cost drift resolved",
    ]
    assert all(p.body.get("thread_ts") for p in posts[1:])
