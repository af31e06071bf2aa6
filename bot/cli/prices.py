"""`marginbot prices`: which prices priced a period's usage; `marginbot prices update`: refresh the catalogue data.
Thin over engine.pricing.inventory and engine.pricing.update."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.cli.common import UserError, command, period, period_args, print_notices

if TYPE_CHECKING:
    from engine.pricing.inventory import PricedModel
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = command(
        sub,
        "prices",
        help="every model used in a period: provider, price source, rates applied, catalogue version and freshness",
        description=(
            "Lists every model (and service tier) with usage in the period: its provider, where its price came "
            "from (override / catalogue / source-priced / unit-costs / unpriced, each part when several priced it), "
            "the rates applied on its last day of use, the "
            "catalogue version and when the catalogue entry last changed. `marginbot prices update` refreshes the "
            "catalogue data."
        ),
    )
    period_args(p)
    p.set_defaults(handler=cmd_prices)
    actions = p.add_subparsers(dest="prices_action", metavar="ACTION")
    u = command(
        actions,
        "update",
        help="refresh the genai-prices catalogue data (MARGINBOT_CATALOGUE_FILE) and say what changed",
        description=(
            "Fetches genai-prices' published catalogue data (or reads it from a file), checks it, compares it "
            "with the catalogue in use, and writes it to MARGINBOT_CATALOGUE_FILE (default: catalogue.json beside "
            "the price file), which marginbot prices from (a running `marginbot serve` reloads it). Stored usage "
            "keeps its prices until `marginbot reprice`, and imports and syncs wait for that reprice."
        ),
    )
    u.add_argument(
        "--from",
        dest="source",
        metavar="URL|FILE",
        default=None,
        help="where to read the data: an http(s) URL or a local data.json (default: genai-prices' published data)",
    )
    u.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    u.add_argument("--json", action="store_true", help="print JSON instead of text")
    u.set_defaults(handler=cmd_update)


def cmd_prices(args: argparse.Namespace, rt: Runtime) -> int:
    from engine.pricing.inventory import priced_models
    from engine.store.meta import STALE_PRICES

    chosen = period(args, rt)
    prices = rt.prices
    with rt.connect() as conn:
        models = priced_models(conn, prices, chosen)
        notes = rt.notices(conn)
    # Stored costs were priced with the files as they were at the last reprice: after an edit, the rates listed
    # (today's files') are not the ones that priced them, and the listing must not pass for them.
    stale = STALE_PRICES in notes
    version = prices.catalogue.version
    if args.json:
        out = {
            "period": chosen.as_dict(),
            "catalogue_version": version,
            "stale": stale,
            "models": [m.as_dict() for m in models],
        }
        print(json.dumps(out, indent=2, default=str))
        print_notices(args, notes)
        return 0
    print(f"Prices applied, {chosen.label} ({chosen.start} to {chosen.end})")
    print(f"catalogue: {version}")
    if not models:
        print("no usage in this period")
        print_notices(args, notes)
        return 0
    for m in models:
        print("")
        print(_model_line(m))
        for line in _rate_lines(m):
            print(f"    {line}")
    print("")
    print("Rates are those in force on each model's last day of use, per million tokens unless said otherwise.")
    if stale:
        print(
            "The price file or the catalogue changed since the last reprice: these rates and sources are today's "
            "files', and the stored COGS was priced with the earlier ones until `marginbot reprice` runs."
        )
    print_notices(args, notes)
    return 0


def _sources(m: PricedModel) -> str:
    """Where the price came from: the source, or every source that priced a part, most COGS first ([unit_costs] named
    only when it priced everything: it comes on top of tokens)."""
    named = [str(s) for s in m.cogs_by_source if s != "unit-costs" or m.source == "unit-costs"]
    if m.source not in named:
        named.insert(0, str(m.source))
    return " and ".join(named).replace("unit-costs", "unit costs only")


def _model_line(m: PricedModel) -> str:
    from bot.render.fmt import money
    from engine.money import usd

    tier = "" if m.service_tier == "standard" else f" [{m.service_tier}]"
    entry = f" (catalogue: {m.catalogue_entry})" if m.catalogue_entry else " (not in the catalogue)"
    changed = f"; entry last changed {m.last_change}" if m.last_change else ""
    if m.rates is not None and m.rates.source == "override":
        changed = f"; override from {m.last_change}"
    elif m.rates is not None and not m.last_change:
        changed = "; entry never changed in the catalogue"
    elif m.rates is None:
        changed = ""
    return (
        f"{m.provider or '?'}/{m.model or '?'}{tier}{entry}: {_sources(m)}, {m.events:,} event(s), "
        f"COGS {money(usd(m.cogs_nano))}{changed}"
    )


def _price(value: Any) -> str:
    if value is None:
        return "no price"
    if isinstance(value, dict):
        above = ", ".join(f"${p} above {int(start):,} input tokens" for start, p in value["above_input_tokens"].items())
        return f"${value['base']} ({above})"
    return f"${value}"


def _rate_lines(m: PricedModel) -> list[str]:
    from engine.pricing.inventory import rates_dict

    lines: list[str] = []
    if m.rates is not None:
        r = rates_dict(m.rates)
        write, write_1h = _price(r["cache_write_per_mtok"]), _price(r["cache_write_1h_per_mtok"])
        lines.append(
            f"input {_price(r['input_per_mtok'])} · cached {_price(r['cached_input_per_mtok'])} · "
            f"cache write {write}" + (f" (1 hour {write_1h})" if write_1h != write else "") + " · "
            f"output {_price(r['output_per_mtok'])}"
        )
        extras = []
        extras.append("web search " + ("no price" if r["web_search_per_k"] is None else f"${r['web_search_per_k']}/1K"))
        if r["request_usd"] != Decimal(0):
            extras.append(f"request ${r['request_usd']}")
        lines.append(" · ".join(extras))
    elif m.source == "unpriced":
        lines.append("no price anywhere: add it to the price file ([[models]]) and run `marginbot reprice`")
    elif m.source == "unit-costs":
        lines.append("no tokens to price: priced by the price file's [unit_costs] only (retrieval, rerank, compute)")
    else:
        lines.append("priced by its source (cost_usd)")
    lines += list(m.notes)
    return lines


def cmd_update(args: argparse.Namespace, rt: Runtime) -> int:
    from sqlalchemy import text

    from engine.pricing.catalogue import Catalogue, CatalogueError
    from engine.pricing.update import DEFAULT_URL, fetch, update_catalogue

    source = args.source or DEFAULT_URL
    target = rt.settings.catalogue_path
    try:
        raw = fetch(source)
        with rt.connect() as conn:
            used = [(p, m) for p, m in conn.execute(text("SELECT DISTINCT provider, model FROM daily_rollup"))]
        # The file in use may be what is broken (every other command says to run this one then): the update is the
        # repair, so it compares with the bundled data instead, and says so.
        unreadable = ""
        try:
            current = Catalogue.load(target if target.is_file() else None)
        except CatalogueError as exc:
            unreadable, current = _first_part(str(exc)), Catalogue.bundled()
        try:
            applied = "" if unreadable else rt.prices.fingerprint  # the prices in force before the file changes
        except (ValueError, OSError):
            applied = ""  # the price file itself cannot be read (every other command says why): nothing to carry
        result = update_catalogue(
            raw, origin=source, target=target, current=current, used=used, dry_run=args.dry_run, unreadable=unreadable
        )
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    if result.written and not unreadable and result.unchanged and not result.used_moved:
        _same_prices(rt, applied)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        print(result.summary())
    return 0


def _same_prices(rt: Runtime, applied: str) -> None:
    """The file was rewritten with the same prices (the same data laid out otherwise, or the bundled data fetched):
    its bytes, and so the price fingerprint, changed, and writers would wait for a reprice that moves nothing. Where
    stored usage was priced with the prices in force before, it is as priced with these: recorded so (only if the
    fingerprint is still the one read before, so a reprice or an import in between is not overwritten)."""
    from sqlalchemy import text

    from engine.store.meta import PRICE_FINGERPRINT

    with rt.engine.begin() as conn:
        conn.execute(
            text("UPDATE meta SET value = :new WHERE key = :k AND value = :old"),
            {"new": rt.prices.fingerprint, "k": PRICE_FINGERPRINT, "old": applied},
        )


def _first_part(message: str) -> str:
    """A catalogue error without the advice Catalogue.load adds (to run this very command)."""
    return message.split("; run `marginbot prices update`", 1)[0]
