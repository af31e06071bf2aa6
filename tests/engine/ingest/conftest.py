"""Vendor stand-ins for the ingest tests (connectors, sync, reconcile): an httpx MockTransport that serves the vendor fixtures in tests/fixtures/sources (and
variations of them) the way the vendor paginates, plus a runtime whose settings carry keys and a mapping file.

The database is real (SQLite file and PostgreSQL through the `runtime` fixture); only vendor HTTP is faked."""

from __future__ import annotations

import copy
import json
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from engine.ingest.sources.base import Batch, Context, Window
from engine.ingest.sync import CONNECTORS, load_mapping
from engine.runtime import Runtime
from tests.conftest import FIXTURES, NOW

OPENAI_KEY = "sk-admin-TESTKEY-0penai-9f8e7d6c5b4a"
ANTHROPIC_KEY = "sk-ant-admin01-TESTKEY-anthropic-77aa"
LITELLM_KEY = "sk-litellm-master-TESTKEY-1234"
LANGFUSE_SECRET = "sk-lf-TESTKEY-secret-5678"
STRIPE_KEY = "rk_test_TESTKEY_stripe_abcdef"
ALL_SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, LITELLM_KEY, LANGFUSE_SECRET, STRIPE_KEY)

MAPPING = """
[defaults]
product = "api"

[openai.projects]
proj_abc = { customer = "acme", product = "assist" }
proj_big = { customer = "globex", product = "agent" }

[openai.api_keys]
key_batch = { customer = "initech", product = "batch", feature = "nightly" }

[anthropic.workspaces]
wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ = { customer = "acme", product = "agent" }

[litellm.end_users]
palantir = { customer = "palantir", product = "assist" }

[langfuse.users]
cust_42 = { customer = "acme", product = "search" }

[stripe.customers]
cus_QXg1o8vcGmoR32 = { customer = "acme" }

[stripe.products]
prod_QXg1hqf4jFNsqG = "assist"
"""


# The events of a source that costs them itself (LiteLLM, Langfuse): counts, source cost and the cost column it fills.
SOURCE_COSTED_EVENTS = (
    "SELECT event_id, customer, product, feature, provider, model, input_tokens, cached_input_tokens, "
    "cache_write_tokens, output_tokens, requests, source_cost_nano, cost_source "
    "FROM usage_event ORDER BY event_id"
)


def fixture(name: str) -> Any:
    """A fresh copy of a vendor payload from tests/fixtures/sources."""
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def json_with_numbers(body: Any, numbers: dict[str, str]) -> bytes:
    """`body` as JSON, each string value that is a key of `numbers` written as that JSON number, digit for digit:
    json.dumps writes a float's shortest repr, which holds no more digits than a float does."""
    text = json.dumps(body)
    for marker, number in numbers.items():
        text = text.replace(json.dumps(marker), number)
    return text.encode()


def with_numbers(route: Route, numbers: dict[str, str]) -> Route:
    """`route`, its replies' marker strings written as JSON numbers (`json_with_numbers`)."""

    def handle(request: httpx.Request) -> Reply:
        reply = route(request)
        return Reply(reply.status, headers=reply.headers, raw=json_with_numbers(reply.body, numbers))

    return handle


def fetched(rt: Runtime, vendor: Vendor, source: str, start: datetime, end: datetime) -> Batch:
    """What a connector's fetch hands the sync for [start, end): amounts as read, before the database keeps them
    (SQLite keeps a provider_cost amount as a float)."""
    connector = CONNECTORS[source]
    fetcher = connector.fetcher(rt.settings, transport=vendor.transport, sleep=Sleeps())
    return connector.fetch(fetcher, Window(start, end), Context(rt.settings, load_mapping(rt), rt.now()))


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Route = Callable[[httpx.Request], Reply]


class Vendor:
    """Routes GET paths to handlers; `fail(path, *replies)` queues error replies served before the handler."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.queued: dict[str, deque[Reply]] = defaultdict(deque)
        self.seen_auth: list[str] = []

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def fail(self, path: str, *replies: Reply) -> None:
        self.queued[path].extend(replies)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen_auth.append(request.headers.get("authorization", "") + request.headers.get("x-api-key", ""))
        if self.queued[path]:
            reply = self.queued[path].popleft()
        elif path in self.routes:
            reply = self.routes[path](request)
        else:
            reply = Reply(404, {"error": {"message": f"no route {path}"}})
        if reply.raw is not None:
            return httpx.Response(reply.status, content=reply.raw, headers=reply.headers)
        return httpx.Response(reply.status, json=reply.body, headers=reply.headers)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)


def openai_bucket_pages(buckets: dict[int, list[dict[str, Any]]], *, width: int = 86400, page_size: int = 31) -> Route:
    """Serve OpenAI-style pages of the buckets in [start_time, end_time), `page_size` buckets a page.

    Every bucket in range is returned, empty ones with `results: []`, as OpenAI does."""

    def handle(request: httpx.Request) -> Reply:
        q = request.url.params
        start, end = int(q["start_time"]), int(q["end_time"])
        offset = int(q.get("page", "0"))
        starts = list(range(start - start % width, end, width))
        chunk = starts[offset : offset + page_size]
        data = [
            {
                "object": "bucket",
                "start_time": s,
                "end_time": s + width,
                "results": copy.deepcopy(buckets.get(s, [])),
            }
            for s in chunk
        ]
        more = offset + page_size < len(starts)
        return Reply(
            body={
                "object": "page",
                "data": data,
                "has_more": more,
                "next_page": str(offset + page_size) if more else None,
            }
        )

    return handle


# The audio and image fields of an OpenAI completions result: a part of its totals, each medium read into an event
# of its own (engine.ingest.sources.openai); the tests of other things read text only.
OPENAI_AUDIO_FIELDS = ("input_audio_tokens", "input_cached_audio_tokens", "output_audio_tokens")
OPENAI_IMAGE_FIELDS = ("input_image_tokens", "input_cached_image_tokens", "output_image_tokens")


def usage_result(*, audio: bool = False, image: bool = False) -> dict[str, object]:
    """The first result of OpenAI's grouped completions usage fixture; without its audio tokens unless `audio`, its
    image tokens unless `image`."""
    result = fixture("openai_usage_completions_grouped.json")["data"][0]["results"][0]
    if not audio:
        result.update(dict.fromkeys(OPENAI_AUDIO_FIELDS, 0))
    if not image:
        result.update(dict.fromkeys(OPENAI_IMAGE_FIELDS, 0))
    return result


def cost_result(value: float) -> dict[str, object]:
    """The first result of OpenAI's grouped costs fixture, billing `value` USD."""
    result = fixture("openai_costs_grouped.json")["data"][0]["results"][0]
    result["amount"]["value"] = value
    return result


def fixture_then_end(name: str, *, key: str = "data") -> Route:
    """Serve a fixture page first, then (for its next_page token) an empty last page."""

    def handle(request: httpx.Request) -> Reply:
        if request.url.params.get("page"):
            return Reply(body={key: [], "has_more": False, "next_page": None})
        return Reply(body=fixture(name))

    return handle


def stripe_list(objects: list[dict[str, Any]], *, page_size: int = 100) -> Route:
    """Serve a Stripe list with `limit`, `starting_after`, `has_more` and the `created[gte]`/`created[lt]` filters."""

    def handle(request: httpx.Request) -> Reply:
        q = request.url.params
        after = q.get("starting_after")
        size = min(page_size, int(q.get("limit", "10")))
        listed = [
            o
            for o in objects
            if ("created[gte]" not in q or o["created"] >= int(q["created[gte]"]))
            and ("created[lt]" not in q or o["created"] < int(q["created[lt]"]))
        ]
        index = 0 if after is None else next(i for i, o in enumerate(listed) if o["id"] == after) + 1
        page = listed[index : index + size]
        return Reply(
            body={
                "object": "list",
                "data": page,
                "has_more": index + size < len(listed),
                "url": request.url.path,
            }
        )

    return handle


@pytest.fixture
def vendor() -> Vendor:
    return Vendor()


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text(MAPPING)
    return path


@pytest.fixture
def rt(runtime: Runtime, mapping_file: Path) -> Runtime:
    """The shared runtime (real database, pinned clock) with every source configured against stand-ins."""
    settings = runtime.settings.model_copy(
        update={
            "openai_admin_key": SecretStr(OPENAI_KEY),
            "openai_base_url": "https://openai.test",
            "anthropic_admin_key": SecretStr(ANTHROPIC_KEY),
            "anthropic_base_url": "https://anthropic.test",
            "litellm_url": "https://litellm.test",
            "litellm_api_key": SecretStr(LITELLM_KEY),
            "langfuse_base_url": "https://langfuse.test",
            "langfuse_public_key": "pk-lf-public",
            "langfuse_secret_key": SecretStr(LANGFUSE_SECRET),
            "stripe_api_key": SecretStr(STRIPE_KEY),
            "stripe_base_url": "https://stripe.test",
            "mapping_file": mapping_file,
        }
    )
    return Runtime(settings, now_override=NOW)


class Sleeps(list[float]):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def add_contract(rt: Runtime, customer: str, *, fee: str = "1000", plan: str = "flat", seats: int = 0) -> None:
    """A contract starting 2026-01-01: a monthly platform fee, or seats at $50."""
    from datetime import date
    from decimal import Decimal

    from sqlmodel import Session

    from engine.store.models import Contract, Customer

    with Session(rt.engine) as session:
        if session.get(Customer, customer) is None:
            session.add(Customer(id=customer, name=customer.title()))
        session.add(
            Contract(
                customer=customer,
                product="",
                plan=plan,
                start=date(2026, 1, 1),
                seats=seats,
                seat_price_usd=Decimal(50),
                platform_fee_usd=Decimal(fee),
            )
        )
        session.commit()


def rows(rt: Runtime, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    with rt.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]
