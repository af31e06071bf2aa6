"""Sync benchmark: the real `sync_source(..., "openai")` against a loopback stand-in of OpenAI's Usage API.

The stand-in (http.server in a thread) serves hourly buckets of grouped completions results in OpenAI's exact
shape (the verbatim fixture's fields), PROJECTS × MODELS results per bucket, 24 buckets a page. Each bucket's
results are rendered to bytes once, so the server costs little beside the client; it still shares this process
(and its GIL), which makes the measurement pessimistic, not flattering. The sync is the real path: httpx over
TCP, JSON decoding, mapping, parse_event, EventWriter into a fresh SQLite file, cursor per day.

    python -m bench.sync_bench [--days 90] [--projects 500] [--models 10]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from pydantic import SecretStr

from config.settings import DEFAULT_PRICES_FILE, Settings
from engine.ingest.sync import sync_source
from engine.runtime import Runtime

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
MODELS = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-mini",
    "gpt-4.1",
    "gpt-4.1-nano",
    "o3-mini",
    "o4-mini",
    "gpt-4o",
    "gpt-3.5-turbo",
    "text-davinci-003",  # unknown to the catalogue: counted as unpriced, as it would be in real life
)
HOUR = 3600


def _result(project: int, model: str) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": 5000 + project,
        "input_cached_tokens": 1800,
        "input_cache_write_tokens": 200,
        "input_uncached_tokens": 3000 + project,
        "output_tokens": 1000,
        "input_text_tokens": 2500,
        "output_text_tokens": 800,
        "input_cached_text_tokens": 1500,
        "input_audio_tokens": 300,
        "input_cached_audio_tokens": 100,
        "output_audio_tokens": 100,
        "input_image_tokens": 200,
        "input_cached_image_tokens": 200,
        "output_image_tokens": 100,
        "num_model_requests": 5,
        "project_id": f"proj_{project:04d}",
        "user_id": None,
        "api_key_id": f"key_{project:04d}",
        "model": model,
        "batch": None,
        "service_tier": None,
    }


class StandIn:
    """Serves /v1/organization/usage/completions (and empty embeddings/costs) for [start_time, end_time)."""

    def __init__(self, projects: int, models: int) -> None:
        results = [_result(p, m) for p in range(projects) for m in MODELS[:models]]
        self.results_json = json.dumps(results).encode()
        self.results_per_bucket = len(results)
        self.pages = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page(self, path: str, query: dict[str, list[str]]) -> bytes:
        start, end = int(query["start_time"][0]), int(query["end_time"][0])
        width = HOUR if query.get("bucket_width", ["1d"])[0] == "1h" else 86400
        limit = int(query.get("limit", ["24"])[0])
        offset = int(query.get("page", ["0"])[0])
        starts = list(range(start, end, width))[offset : offset + limit]
        full = path.endswith("/completions")
        parts = []
        for s in starts:
            results = self.results_json if full else b"[]"
            parts.append(b'{"object":"bucket","start_time":%d,"end_time":%d,"results":%s}' % (s, s + width, results))
        more = offset + limit < len(range(start, end, width))
        tail = b'"has_more":true,"next_page":"%d"' % (offset + limit) if more else b'"has_more":false,"next_page":null'
        self.pages += 1
        return b'{"object":"page","data":[' + b",".join(parts) + b"]," + tail + b"}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urlparse(self.path)
                body = stand_in.page(url.path, parse_qs(url.query))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def run_sync_bench(workdir: Path, *, days: int = 90, projects: int = 500, models: int = 10) -> dict[str, Any]:
    """Sync `days` of hourly buckets for projects × models into a fresh SQLite DB; the figures of that run."""
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "sync-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    mapping = workdir / "sync-bench-mapping.toml"
    mapping.write_text(
        "[openai.projects]\n"
        + "".join(f'proj_{p:04d} = {{ customer = "cust{p % 100:03d}", product = "api" }}\n' for p in range(projects))
    )
    with StandIn(projects, models) as stand_in:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{db}",
            prices_file=DEFAULT_PRICES_FILE,
            timezone="UTC",
            sync_bucket_width="1h",
            openai_admin_key=SecretStr("sk-admin-bench"),
            openai_base_url=stand_in.url,
            mapping_file=mapping,
        )
        runtime = Runtime(settings, now_override=NOW)
        runtime.engine  # migrate before the clock starts  # noqa: B018
        since = NOW - timedelta(days=days)
        until = NOW - timedelta(days=1)  # whole days: [since's day, yesterday]
        started = time.perf_counter()
        result = sync_source(runtime, "openai", since=since.date(), until=until.date(), now=NOW)
        seconds = time.perf_counter() - started
        runtime.engine.dispose()
    if not result.ok:
        raise RuntimeError(f"sync bench failed: {result.error}")
    buckets = days * 24
    return {
        "sync_buckets": buckets,
        "sync_bucket_results": result.read,
        "sync_events": result.imported,
        "sync_seconds": round(seconds, 2),
        "sync_events_per_second": round(result.imported / seconds) if seconds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work"))
    args = parser.parse_args()
    print(json.dumps(run_sync_bench(args.workdir, days=args.days, projects=args.projects, models=args.models)))


if __name__ == "__main__":
    main()
