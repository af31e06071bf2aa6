"""Generated but realistic data: heavy-tailed customers, agentic spikes, caching, retrieval, every plan kind.

The same generator feeds `marginbot demo` (bot/cli/demo.py, a few dozen customers) and `make bench` (millions of
events). It writes ordinary CSV files, which then go through the regular import path, as a real import does.
"""

from __future__ import annotations

import csv
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.ingest.contracts import COLUMNS as CONTRACT_COLUMNS
from engine.ingest.events import COLUMNS
from engine.money import usd
from engine.pricing.book import PriceBook, Usage
from engine.vocab import Plan, Unit

# (product, feature, provider, model, weight): the traffic mix of each product.
MIX: dict[str, list[tuple[str, str, str, float]]] = {
    "assist": [
        ("chat", "openai", "gpt-4o", 0.35),
        ("chat", "openai", "gpt-4o-mini", 0.35),
        ("summarize", "anthropic", "claude-3-5-haiku-latest", 0.2),
        ("summarize", "self-hosted", "acme-distill-8b", 0.1),
    ],
    "agent": [
        ("plan", "anthropic", "claude-sonnet-4-5", 0.3),
        ("tool-call", "openai", "gpt-4o", 0.3),
        ("agent-run", "openai", "gpt-4o", 0.25),
        ("agent-run", "openai", "o3-mini", 0.15),
    ],
    "search": [
        ("embed", "openai", "text-embedding-3-small", 0.3),
        ("answer", "google", "gemini-2.5-flash", 0.45),
        ("answer", "openai", "gpt-4.1-mini", 0.25),
    ],
}
NAMES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Analytics",
    "Hooli",
    "Vandelay",
    "Soylent Foods",
    "Tyrell Systems",
    "Cyberdyne",
    "Wonka Retail",
    "Oscorp",
    "Pied Piper",
    "Massive Dynamic",
    "Aperture Labs",
    "Black Mesa",
    "Nakatomi Trading",
    "Gringotts Bank",
    "Monarch Media",
    "Dunder Paper",
    "Prestige Worldwide",
    "Bluth Homes",
    "Sterling Cooper",
    "Virtucon",
    "Gekko Capital",
    "Ollivander Supply",
    "Krusty Brands",
    "Duff Beverages",
    "Rekall Travel",
    "Zorg Industries",
    "Weyland Mining",
    "Yoyodyne",
    "Genco Shipping",
    "Tricell Pharma",
    "InGen Bio",
    "Nostromo Freight",
    "Spacely Sprockets",
    "Cogswell Cogs",
    "Planet Express",
    "MomCorp",
    "Praxis Legal",
    "Abstergo",
    "Kaiba Games",
    "Shinra Energy",
    "Vault-Tec",
    "Nuka Labs",
    "Octan Oil",
    "Lacuna Inc",
    "Dharma Research",
    "Hanso Group",
    "Blue Sun",
    "Buy n Large",
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Tailspin Toys",
    "Litware",
    "Adventure Works",
    "Wingtip Toys",
]


# The story `marginbot demo` tells (bot/cli/demo.py prints it), by customer index (rank by traffic):
BLEEDING = {0: Decimal("0.90"), 4: Decimal("1.15")}  # Acme Corp, Stark Logistics: flat fees below or near cost
TRENDING = 2  # Initech: a flat fee while its usage grows fast, so its margin slides toward the breach line
METERED = 1  # Globex: the same growth, but it pays per request, so its margin holds
STORY_PRODUCTS = {0: ["agent", "assist", "search"], 1: ["assist", "search"], 2: ["assist", "search"], 4: ["agent"]}
STORY_GROWTH = {1: 3.0, 2: 3.0}  # usage at the end of the window, relative to its start


@dataclass
class DemoFiles:
    usage: Path
    contracts: Path
    events: int


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower().replace(" ", "-") if ch.isalnum() or ch == "-")


def _customer_ids(n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else f" {i // len(NAMES) + 1}")
        out.append((_slug(name), name))
    return out


def generate(
    out_dir: Path,
    *,
    customers: int,
    days: int,
    today: date,
    seed: int,
    events: int,
    prices: PriceBook,
    unpriced_share: float = 0.002,
    scale: int = 1,
    min_fee: Decimal = Decimal(25),
) -> DemoFiles:
    """Write usage.csv and contracts.csv for `customers` customers over the `days` days before `today`.

    Volume per customer is Zipf-like (a few customers carry most traffic); agentic customers have spike days
    where loops run long; contracts are set from each customer's own cost, so margins spread from bleeding (the
    BLEEDING customers, heavy users on flat fees) through one heading for a breach (TRENDING) to healthy.
    `scale`: each row stands for that many requests, with its tokens and unit counts to match, as an hourly usage
    export aggregates calls; it sizes the bill to an enterprise's without writing millions of rows (`events` counts
    rows). `min_fee` is the smallest monthly fee of a contract.
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = _customer_ids(customers)
    weights = [1 / (rank + 1) ** 1.07 for rank in range(customers)]
    wsum = sum(weights)
    products_of: dict[str, list[str]] = {}
    spiky: set[str] = set()
    for i, (cid, _) in enumerate(ids):
        products = ["assist", "agent", "search"]
        rng.shuffle(products)
        products_of[cid] = STORY_PRODUCTS.get(i) or products[: 1 + (i % 3 == 0) + (i % 5 == 0)]
        if "agent" in products_of[cid] and (i in BLEEDING or rng.random() < 0.6):
            spiky.add(cid)
    start = today - timedelta(days=days)
    cost_nano: dict[tuple[str, str], int] = defaultdict(int)  # (customer, product) over the last 30 days
    units: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])  # requests, 1k tokens, tasks
    recent_from = today - timedelta(days=30)
    usage_path = out_dir / "usage.csv"
    n_events = 0
    per_day = events / days
    with usage_path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(COLUMNS[: COLUMNS.index("prompt_hash") + 1])  # the rows below fill these columns; the rest are blank
        for c_index, (cid, _) in enumerate(ids):
            share = weights[c_index] / wsum
            daily_mean = max(per_day * share, 0.3)
            growth = STORY_GROWTH.get(c_index) or 1 + rng.uniform(-0.3, 0.6)  # usage trend over the window
            spike_days = {rng.randrange(days) for _ in range(max(1, days // 12))} if cid in spiky else set()
            task_no = 0
            for d in range(days):
                day = start + timedelta(days=d)
                trend = 1 + (growth - 1) * d / days
                mean = daily_mean * trend * (5.0 if d in spike_days else 1.0)
                count = _poisson(rng, mean)
                base_ts = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
                remaining = count
                while remaining > 0:
                    product = rng.choice(products_of[cid])
                    if product == "agent":
                        # One agent run: a loop of steps whose context grows; long loops make the P99.
                        steps = min(remaining, 1 + int(rng.lognormvariate(1.0, 0.9 if d not in spike_days else 1.4)))
                        task_no += 1
                        task = f"{cid}-t{task_no}"
                    else:
                        steps, task = 1, ""
                    t0 = base_ts + rng.random() * 86_000
                    context = 0
                    for step in range(steps):
                        feature, provider, model = _pick(rng, MIX[product])
                        if rng.random() < unpriced_share:
                            provider, model = "self-hosted", "acme-guard-2b"
                        if model == "text-embedding-3-small":
                            inp, out = int(rng.lognormvariate(6.5, 0.6)), 0
                        else:
                            inp = int(rng.lognormvariate(8.2, 0.7)) + context
                            out = int(rng.lognormvariate(5.3, 0.8))
                        cached = int(context * rng.uniform(0.5, 0.95)) if step else int(inp * rng.uniform(0, 0.3))
                        cached = min(cached, inp)
                        context += out + 600
                        retrieval = rng.randint(1, 5) if product == "search" else (1 if feature == "tool-call" else 0)
                        rerank = 1 if product == "search" and feature == "answer" else 0
                        # One row, `scale` requests: every count the row carries grows alike.
                        requests = scale
                        inp, cached, out = inp * scale, cached * scale, out * scale
                        retrieval, rerank = retrieval * scale, rerank * scale
                        compute = f"{inp / 4000 + out / 400:.3f}" if provider == "self-hosted" else ""
                        hit = product == "assist" and rng.random() < 0.08
                        n_events += 1
                        ts = int(t0 + step * 7)
                        w.writerow(
                            (
                                f"ev-{seed}-{n_events}",
                                ts,
                                cid,
                                product,
                                feature,
                                provider,
                                model,
                                inp,
                                cached,
                                "",
                                out,
                                requests,
                                retrieval,
                                rerank,
                                compute,
                                "",
                                task,
                                "true" if hit else "",
                                f"h{rng.randrange(4000)}" if product == "assist" else "",
                            )
                        )
                        if day >= recent_from:
                            comp_ms = int(Decimal(compute) * 1000) if compute else 0
                            usage = Usage(
                                epoch=ts,
                                provider=provider,
                                model=model,
                                input_tokens=inp,
                                cached_input_tokens=cached,
                                output_tokens=out,
                                requests=requests,
                                retrieval_queries=retrieval,
                                rerank_calls=rerank,
                                compute_ms=comp_ms,
                            )
                            cost_nano[(cid, product)] += prices.price(usage).total
                            u = units[(cid, product)]
                            u[0] += requests
                            u[1] += inp + out
                            if task and step == 0:
                                u[2] += 1
                    remaining -= steps
    contracts_path = out_dir / "contracts.csv"
    _write_contracts(contracts_path, ids, products_of, cost_nano, units, rng, start, min_fee)
    return DemoFiles(usage_path, contracts_path, n_events)


def _write_contracts(
    path: Path,
    ids: list[tuple[str, str]],
    products_of: dict[str, list[str]],
    cost_nano: dict[tuple[str, str], int],
    units: dict[tuple[str, str], list[int]],
    rng: random.Random,
    start: date,
    min_fee: Decimal,
) -> None:
    plans = [Plan.FLAT, Plan.SEAT, Plan.USAGE, Plan.HYBRID]
    # A customer's alias is its name's first word, where that points to it alone: past the first len(NAMES)
    # customers, "Globex 34" would share "globex" with Globex and with the customer whose id it is, and a contracts
    # import refuses a label that points to two customers.
    taken = {cid for cid, _ in ids}
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(CONTRACT_COLUMNS)
        for i, (cid, name) in enumerate(ids):
            alias = name.split()[0].lower()
            if alias in taken and alias != cid:
                alias = ""
            taken.add(alias)
            for product in products_of[cid]:
                monthly_cost = usd(cost_nano[(cid, product)])
                requests, tokens, tasks = units[(cid, product)]
                # The story's customers get their terms (see BLEEDING, TRENDING, METERED); the rest are priced at a
                # healthy markup over their own cost, on every kind of plan.
                markup = BLEEDING.get(i) or (Decimal("2.05") if i == TRENDING else None)
                markup = markup or Decimal(str(round(rng.uniform(2.4, 4.5), 2)))
                target = max(monthly_cost * markup, min_fee)
                plan = Plan.FLAT if i in BLEEDING or i == TRENDING else Plan.USAGE if i == METERED else plans[i % 4]
                row = [cid, name, alias, product, plan, start.isoformat()] + [""] * (len(CONTRACT_COLUMNS) - 6)
                if plan is Plan.FLAT:
                    row[9] = f"{target:.2f}"
                elif plan is Plan.SEAT:
                    seats = max(5, int(target / 60))
                    row[7], row[8] = str(seats), f"{target / seats:.2f}"
                elif plan is Plan.USAGE:
                    unit, count = (Unit.TASK, tasks) if product == "agent" and tasks else (Unit.REQUEST, requests)
                    row[11], row[12] = unit, f"{target / max(count, 1):.4f}"
                else:
                    included = int(tokens / 1000 * 0.6)
                    row[9] = f"{(target * Decimal('0.5')):.2f}"
                    row[10], row[11] = str(included), Unit.TOKENS_1K
                    extra = max(Decimal(tokens) / 1000 - included, Decimal(1))
                    row[12] = f"{(target * Decimal('0.5') / extra):.4f}"
                w.writerow(row)


def _pick(rng: random.Random, mix: list[tuple[str, str, str, float]]) -> tuple[str, str, str]:
    x = rng.random() * sum(m[3] for m in mix)
    for feature, provider, model, weight in mix:
        x -= weight
        if x <= 0:
            return feature, provider, model
    return mix[-1][:3]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, int(rng.gauss(mean, math.sqrt(mean)) + 0.5))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
