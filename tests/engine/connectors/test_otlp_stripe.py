"""OTLP/JSON trace files and Stripe invoices/subscriptions."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from engine.ingest.sources.otlp import import_otlp_files
from engine.ingest.sync import sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.connectors.conftest import Vendor, add_contract, fixture, rows, stripe_list

OCT = month(2026, 10)
OCT_5 = int(datetime(2026, 10, 5, 9, 30, tzinfo=UTC).timestamp()) * 10**9


def otlp_file(tmp_path: Path, name: str = "trace.json", **attrs: object) -> Path:
    doc = fixture("otel_genai_span_otlp.json")
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = str(OCT_5)
    for key, value in attrs.items():
        span["attributes"] = [a for a in span["attributes"] if a["key"] != key]
        if value is not None:
            span["attributes"].append({"key": key, "value": value})
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


EVENT = (
    "SELECT event_id, ts, customer, product, provider, model, input_tokens, cached_input_tokens, output_tokens "
    "FROM usage_event"
)


def test_otlp_span_becomes_an_event_for_the_configured_customer_attribute(rt: Runtime, tmp_path: Path) -> None:
    settings = rt.settings.model_copy(update={"otlp_customer_attribute": "user.id"})
    runtime = Runtime(settings, now_override=rt.now())

    [result] = import_otlp_files(runtime, [otlp_file(tmp_path)])

    assert result.ok, result.error
    [(event_id, ts, *rest)] = rows(runtime, EVENT)
    assert event_id == "otlp:4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7"
    assert str(ts).startswith("2026-10-05 09:30:00")
    # The customer is the attribute's value; the product the resource's service.name.
    assert rest == ["cust_42", "checkout-assistant", "openai", "gpt-4-0613", 52, 0, 47]
    with runtime.connect() as conn:
        assert customer_report(conn, "cust_42", OCT, thresholds=runtime.thresholds).current.cogs > 0
    again = import_otlp_files(runtime, [otlp_file(tmp_path)])
    assert (again[0].imported, again[0].duplicates) == (0, 1)


def test_otlp_without_the_customer_attribute_goes_to_unmapped_and_is_reported(rt: Runtime, tmp_path: Path) -> None:
    [result] = import_otlp_files(rt, [otlp_file(tmp_path)])  # default attribute enduser.id is absent

    assert result.ok
    assert rows(rt, "SELECT customer, feature FROM usage_event") == [("unmapped", "otlp customer=(none)")]
    assert result.unmapped == {"otlp customer=(none) (attribute enduser.id)": 1}


def test_otlp_old_attribute_names_and_int64_as_numbers_are_read(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(
        tmp_path,
        **{
            "gen_ai.provider.name": None,
            "gen_ai.system": {"stringValue": "anthropic"},
            "gen_ai.response.model": {"stringValue": "claude-sonnet-4-5"},
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.prompt_tokens": {"intValue": 1200},
            "gen_ai.usage.cache_read.input_tokens": {"intValue": "1000"},
            "gen_ai.usage.completion_tokens": {"intValue": 80},
            "enduser.id": {"stringValue": "acme"},
        },
    )

    [result] = import_otlp_files(rt, [path])

    assert result.ok, result.error
    assert [r[2:] for r in rows(rt, EVENT)] == [
        ("acme", "checkout-assistant", "anthropic", "claude-sonnet-4-5", 1200, 1000, 80)
    ]


def test_otlp_bad_int64_refuses_the_file_naming_span_and_attribute(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(tmp_path, **{"gen_ai.usage.input_tokens": {"intValue": "fifty-two"}})

    [result] = import_otlp_files(rt, [path])

    assert result.error == (
        "otlp: trace.json: span 00f067aa0ba902b7: gen_ai.usage.input_tokens must be a non-negative integer, "
        "got 'fifty-two'"
    )
    assert rows(rt, "SELECT COUNT(*) FROM usage_event") == [(0,)]


def paid_invoice(invoice_id: str, line_id: str, amount: int, start: datetime, end: datetime) -> dict[str, object]:
    invoice = fixture("stripe_invoices_list.json")["data"][0]
    invoice.update(id=invoice_id, status="paid", created=int(start.timestamp()))
    line = invoice["lines"]["data"][0]
    line.update(
        id=line_id,
        amount=amount,
        invoice=invoice_id,
        period={"start": int(start.timestamp()), "end": int(end.timestamp())},
    )
    return invoice


def serve_stripe(vendor: Vendor, invoices: list[dict[str, object]], subscriptions: list[dict[str, object]]) -> None:
    vendor.route("/v1/invoices", stripe_list(invoices, page_size=1))
    vendor.route("/v1/subscriptions", stripe_list(subscriptions))


def test_stripe_invoice_lines_replace_modelled_revenue_using_each_lines_period(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", fee="5000")
    oct1, nov1, dec1 = (datetime(2026, m, 1, tzinfo=UTC) for m in (10, 11, 12))
    invoices = [
        paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1),  # $1,200.00 for October
        paid_invoice("in_nov", "il_nov", 130_050, nov1, dec1),
        dict(paid_invoice("in_draft", "il_draft", 999_900, oct1, nov1), status="draft"),  # may still change
    ]
    serve_stripe(vendor, invoices, [])

    result = sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)

    assert result.ok, result.error
    stored = rows(
        rt,
        "SELECT id, customer, product, CAST(period_start AS TEXT), CAST(period_end AS TEXT), amount_usd "
        "FROM revenue_actual ORDER BY id",
    )
    assert [(*r[:5], Decimal(str(r[5]))) for r in stored] == [
        ("il_nov", "acme", "", "2026-11-01", "2026-11-30", Decimal("1300.50")),
        ("il_oct", "acme", "", "2026-10-01", "2026-10-31", Decimal("1200")),
    ]
    with rt.connect() as conn:
        report = customer_report(conn, "acme", OCT, thresholds=rt.thresholds)
    assert report.current.revenue == Decimal("1200")  # billed, not the $5,000 contract fee
    assert report.revenue_source == "stripe"


def test_stripe_void_invoice_removes_its_lines_on_the_next_sync(rt: Runtime, vendor: Vendor) -> None:
    oct1, nov1 = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    invoices = [paid_invoice("in_oct", "il_oct", 120_000, oct1, nov1)]
    serve_stripe(vendor, invoices, [])
    sync_source(rt, "stripe", since=date(2026, 9, 1), transport=vendor.transport)
    invoices[0]["status"] = "void"

    again = sync_source(rt, "stripe", transport=vendor.transport)  # from the cursor less 40 days

    assert again.ok, again.error
    assert again.removed_revenue_lines == 1
    assert rows(rt, "SELECT COUNT(*) FROM revenue_actual") == [(0,)]


def test_stripe_subscription_quantity_sets_the_seat_contract(rt: Runtime, vendor: Vendor) -> None:
    add_contract(rt, "acme", plan="seat", seats=10)
    sub = fixture("stripe_subscriptions_list.json")["data"][0]
    sub["items"]["data"][0]["quantity"] = 14
    serve_stripe(vendor, [], [sub])

    result = sync_source(rt, "stripe", since=date(2026, 11, 1), transport=vendor.transport)

    assert result.ok, result.error
    assert result.seats == ["acme/assist: seats 10 → 14 (Stripe sub_1Pgc6rB7WZ01zgkWNy0Cn5nw)"]
    with rt.connect() as conn:
        report = customer_report(conn, "acme", month(2026, 11), thresholds=rt.thresholds)
    assert report.current.revenue == Decimal(14 * 50)
