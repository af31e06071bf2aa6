"""The drift alert: priced usage for a provider's month left ±5% of what the provider billed.

Pure: takes the outbox payload written by `engine.ingest.reconcile.queue_drift_alerts` and returns
{"text", "blocks"}.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.blocks.kit import code, context, esc, esc_name, header, section
from bot.render.fmt import money


def drift_message(p: dict[str, Any]) -> dict[str, Any]:
    # The name as written in mrkdwn (esc_name) and in code (code); the header is plain text, where a literal token
    # (see esc_name) would show as written: there it is only escaped.
    name = p["provider"]
    provider = esc_name(name)
    priced, billed, drift = Decimal(p["priced_usd"]), Decimal(p["billed_usd"]), Decimal(p["drift_usd"])
    days = f"{p['start']} to {p['end']}"
    # Payloads queued before the count was kept carry none: 0, as the row said then.
    unpriced = int(p.get("unpriced_events") or 0)
    no_price = (
        f"{unpriced:,} {'event' if unpriced == 1 else 'events'} of its usage in these days "
        f"{'has' if unpriced == 1 else 'have'} no price, so {'its' if unpriced == 1 else 'their'} cost is in the bill "
        "and not in marginbot's figure: add the model's prices to the price file (`marginbot prices` names them), "
        "then `marginbot reprice`"
    )
    if p["status"] == "ok":  # a reply in the thread of the month's drift alert: it no longer holds
        sign = "+" if drift > 0 else ""
        what = (
            f"{provider}: marginbot now prices {money(priced)} of usage for {days}; {provider} billed "
            f"{money(billed)} ({sign}{money(drift)}, {sign}{p['drift_pct']}%, within ±{p['threshold_pct']}%)"
        )
        return {
            "text": f"Cost drift resolved, {p['period']}: {what}",
            "blocks": [
                header(f":white_check_mark: Cost drift resolved: {esc(name)}, {p['period']}"),
                section(what),
                context("The drift alert above no longer holds. Details: `marginbot reconcile` on the server."),
            ],
        }
    if p["status"] == "unpriced":
        what = f"{provider} billed {money(billed)} for {days} and marginbot could price none of its usage"
        why = no_price
    elif p["status"] == "no_usage":
        what = f"{provider} billed {money(billed)} for {days} and marginbot priced no usage of it"
        why = f"its usage is not synced (`marginbot sync`) or not imported under provider {code(name)}"
    else:
        sign = "+" if drift > 0 else ""
        what = (
            f"{provider}: marginbot priced {money(priced)} of usage for {days}; {provider} billed {money(billed)} "
            f"({sign}{money(drift)}, {sign}{p['drift_pct']}%, outside ±{p['threshold_pct']}%)"
        )
        if drift > 0:
            why = (
                "COGS above the bill: usage counted twice (e.g. both a provider sync and a gateway), or a missing "
                "discount or tier price"
            )
        elif unpriced:  # what marginbot knows is missing comes before what it can only guess at
            why = f"COGS below the bill: {no_price}"
        else:
            why = (
                "COGS below the bill: usage not imported, or a price too low (a missing tier, a stale catalogue "
                "entry: `marginbot prices`)"
            )
    # `again`: a reply in the alert's thread, after a "resolved" note there: the month drifts once more.
    again = " again" if p.get("again") else ""
    text = f"Cost drift{again}, {p['period']}: {what}"
    blocks = [
        header(f":warning: Cost drift{again}: {esc(name)}, {p['period']}"),
        section(what),
        context(
            f"Likely: {why}. Details for {p['period']}: `marginbot reconcile` on the server. "
            + ("The note above that it was resolved no longer holds." if again else "Posted once a month.")
        ),
    ]
    return {"text": text, "blocks": blocks}
