"""OTLP/JSON trace exports → one usage event per span that carries OpenTelemetry GenAI token counts.

No standard attribute names the customer: it is read from the attribute named by
MARGINBOT_OTLP_CUSTOMER_ATTRIBUTE (default `enduser.id`), on the span or else on its resource, and that value
is the customer (the mapping file's [otlp.customers] may rename it or give its product). The product is
the mapping's, else the resource's `service.name`. `gen_ai.usage.input_tokens` already includes the cache
reads and writes. Older instrumentations say `gen_ai.system` and
`gen_ai.usage.prompt_tokens`/`completion_tokens`. int64 values arrive as decimal strings (numbers are
accepted too). The customer, provider, model and service.name are one value each: an array is refused, naming
the span and attribute. A token count, provider, model, customer or service.name that is not an OTLP AnyValue (a
bare string, null, {}, a bytesValue) is refused too, where read as absent it lost the span (or its customer); the
customer and service.name must also be a stringValue (or an intValue, read as its digits). An empty or blank
stringValue there is absent (anonymous traffic sends `enduser.id=""`): the span goes to `unmapped`, counted in the
summary, or to the default product. Attributes marginbot does not read may take any shape. A file is one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.ingest.events import shown
from engine.ingest.mapping import SourceMap
from engine.ingest.reading import FileError, read_text
from engine.ingest.sources.base import Batch, Context, count, stable_id
from engine.ingest.sources.http import SourceError
from engine.runtime import Runtime

NAME = "otlp"
_BIGINT_MAX = 2**63 - 1  # OTLP times are fixed64 nanoseconds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
_CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens")
_TOKENS = _INPUT + _OUTPUT + _CACHE_READ + _CACHE_WRITE
_PROVIDER = ("gen_ai.provider.name", "gen_ai.system")
_MODEL = ("gen_ai.response.model", "gen_ai.request.model")
_KINDS = ("stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue")


@dataclass(frozen=True)
class Unreadable:
    """An attribute value that is not an OTLP AnyValue this reader knows (a bare string, null, {}, a bytesValue).
    Kept rather than read as None, so that a token count or model sent that way refuses the file: read as absent,
    a span whose counts were all unreadable was skipped as not GenAI, its tokens lost without a word."""

    raw: Any

    def __repr__(self) -> str:
        return self.got

    @property
    def got(self) -> str:
        if self.raw is None:
            return "null"
        if isinstance(self.raw, str):
            return f"the bare string {shown(self.raw)}"
        if isinstance(self.raw, Mapping):
            if not self.raw:
                return "an empty object {}"
            return f"the object {shown(dict(self.raw))}"
        return f"the bare {type(self.raw).__name__} {shown(self.raw)}"


def attribute_value(value: Any, where: str) -> Any:
    """An OTLP AnyValue → a Python value: an array a list, a key-value list a dict (so that where one value is
    read, `text_attribute` can refuse them). intValue stays as sent (string or number), parsed where used. Anything
    else (no known kind, or a known kind set to null) is `Unreadable`: `span_event` refuses it where it reads a
    GenAI attribute, and every other attribute is left unread as before."""
    kind = next((k for k in _KINDS if isinstance(value, Mapping) and value.get(k) is not None), None)
    if kind is None:
        return Unreadable(value)
    if kind == "arrayValue":
        return [attribute_value(v, where) for v in _values(value["arrayValue"], "arrayValue", where)]
    if kind == "kvlistValue":
        return attributes(_values(value["kvlistValue"], "kvlistValue", where), where)
    return value[kind]


def _values(container: Any, kind: str, where: str) -> list[Any]:
    """The `values` list of an arrayValue or kvlistValue. Null (or absent) is an empty list, as proto3 JSON reads
    null for any field, and as `attributes` does; anything else that is not a list is refused (iterated, a number
    would stop the import with a TypeError, and a string be read as its characters)."""
    values = container.get("values") if isinstance(container, Mapping) else None
    if values is None:
        return []
    if not isinstance(values, list):
        got = "an object" if isinstance(values, Mapping) else shown(values)
        raise SourceError(NAME, f"{where}: {kind}.values must be a list, got {got}")
    return values


def text_attribute(attrs: Mapping[str, Any], keys: tuple[str, ...], where: str) -> str | None:
    """The first of `keys` set in `attrs`, as text; None when none is. The customer, model, provider and product are
    one value each: an array (or key-value list) is refused, where str() would store the customer "['acme']"."""
    for key in keys:
        value = attrs.get(key)
        if value is None or isinstance(value, Unreadable):  # the GenAI ones are refused first, in `span_event`
            continue
        if isinstance(value, list | Mapping):
            got = "an array" if isinstance(value, list) else "a key-value list"
            raise SourceError(
                NAME, f"{where}: attribute {key} must be one value, got {got} {shown(value)}: send it as a stringValue"
            )
        return str(value)
    return None


def _blank(value: Any) -> bool:
    """An empty or blank stringValue: the customer attribute or `service.name` so sent is read as absent."""
    return isinstance(value, str) and not value.strip()


def name_attribute(attrs: Mapping[str, Any], key: str, where: str) -> str | None:
    """The customer attribute or `service.name` as text, None when absent or an empty (or blank) stringValue: an
    anonymous request is commonly sent with `enduser.id=""`, and its span goes where a span without the attribute
    goes (`unmapped`, counted in the import's summary; the default product). Held to the rule the token counts are
    held to otherwise: a value that is not an OTLP AnyValue (a bare string or number, null, {}, a bytesValue), an
    array, a key-value list, a boolean or a number with a point refuses the span, naming it and the attribute. Read
    as absent, the span went to `unmapped` (or its product to the default) without a word; read with str(), a
    customer "True" or "1.5" was made up. An intValue reads as its digits: SDKs send an integer id so."""
    _refuse_unreadable(attrs, (key,), "stringValue", where)
    value = text_attribute(attrs, (key,), where)  # refuses an array or a key-value list
    raw = attrs.get(key)
    if value is None:
        return None
    if isinstance(raw, bool | float | Decimal):  # a boolValue or a doubleValue (or an intValue written 42.0)
        got = f"the boolean {str(raw).lower()}" if isinstance(raw, bool) else f"the number {raw}"
        raise SourceError(
            NAME, f'{where}: attribute {key} must be a stringValue, got {got}: send it as {{"stringValue": "…"}}'
        )
    return None if _blank(value) else value


def attributes(items: Any, where: str) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise SourceError(NAME, f"{where}: attributes must be a list")
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            out[item["key"]] = attribute_value(item.get("value"), f"{where}: attribute {item['key']}")
    return out


def _refuse_unreadable(attrs: Mapping[str, Any], keys: tuple[str, ...], kind: str, where: str) -> None:
    """Refuse the span when one of `keys` is set but not as an OTLP AnyValue, naming the attribute and the form it
    takes (`kind` is intValue for counts, stringValue for names)."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, Unreadable):
            example = value.raw if isinstance(value.raw, str | int) and not isinstance(value.raw, bool) else "…"
            raise SourceError(
                NAME,
                f"{where}: attribute {key} must be an OTLP AnyValue object, got {value.got}: "
                f'send it as {{"{kind}": "{example}"}}',
            )


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if attrs.get(key) is not None:
            return attrs[key]
    return None


def _tokens(attrs: Mapping[str, Any], keys: tuple[str, ...], where: str) -> int:
    return count(_first(attrs, keys), f"{where}: {keys[0]}", NAME)


def _loads(text: str, where: str) -> Any:
    """json.loads, numbers with a point or an exponent as Decimals (digit for digit, as the file imports and the
    vendor connectors read them), with what it raises beyond JSONDecodeError (nesting, 4,300-digit numbers, an
    exponent past what a Decimal holds) said in one line."""
    try:
        return json.loads(text, parse_float=Decimal)
    except RecursionError:
        raise SourceError(NAME, f"{where}: JSON nested too deeply") from None
    except ArithmeticError:
        raise SourceError(NAME, f"{where}: not a usable JSON value (a number out of range)") from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise SourceError(NAME, f"{where}: not a usable JSON value ({str(exc).partition(':')[0]})") from None


def requests_from(path: Path) -> list[Mapping[str, Any]]:
    """The export requests in a file: one JSON document, or JSON Lines (the collector's file exporter). The file
    may be gzipped, UTF-8 or UTF-16 (engine.ingest.reading); anything else is refused naming the line."""
    try:
        text = read_text(path)
    except FileError as exc:
        raise SourceError(NAME, f"{path.name} line {exc.line}: {exc}") from None
    try:
        docs = [_loads(text, path.name)]
    except json.JSONDecodeError as whole:
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        if len(numbered) < 2:
            raise SourceError(NAME, f"{path.name}: not valid JSON (line {whole.lineno}: {whole.msg})") from None
        docs = []
        for number, line in numbered:
            try:
                docs.append(_loads(line, f"{path.name} line {number}"))
            except json.JSONDecodeError as exc:
                raise SourceError(NAME, f"{path.name} line {number}: not valid JSON ({exc.msg})") from None
    for doc in docs:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("resourceSpans"), list):
            raise SourceError(NAME, f"{path.name}: expected an OTLP/JSON trace export with a `resourceSpans` list")
    return docs


MAX_PROBLEMS = 10  # entries named when a file is refused (the rest are counted)


def _entries(value: Any, where: str, problems: list[str]) -> list[tuple[int, Mapping[str, Any]]]:
    """The objects of an OTLP list (resourceSpans, scopeSpans, spans) with their places in it; each entry that is
    not an object is a problem."""
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where} must be a list")
        return []
    out = []
    for i, entry in enumerate(value):
        if isinstance(entry, Mapping):
            out.append((i, entry))
        else:
            problems.append(f"{where}[{i}] must be an object, got {type(entry).__name__}")
    return out


def parse_file(path: Path, ctx: Context) -> Batch:
    """Every GenAI span of one export file as usage events (CSV column names). Every bad entry is found before
    the file is refused, so one run names them all (up to MAX_PROBLEMS)."""
    batch = Batch()
    customer_key = ctx.settings.otlp_customer_attribute
    problems: list[str] = []
    for request in requests_from(path):
        for r, rs in _entries(request.get("resourceSpans"), f"{path.name}: resourceSpans", problems):
            where = f"{path.name}: resourceSpans[{r}]"
            resource_obj = rs.get("resource") or {}
            try:
                if not isinstance(resource_obj, Mapping):
                    raise SourceError(NAME, f"{where}: resource must be an object")
                resource = attributes(resource_obj.get("attributes"), f"{where}: resource")
            except SourceError as exc:
                problems.append(exc.cause)
                continue
            scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")
            for s, ss in _entries(scopes, f"{where}.scopeSpans", problems):
                for _, span in _entries(ss.get("spans"), f"{where}.scopeSpans[{s}].spans", problems):
                    try:
                        event = span_event(span, resource, customer_key, ctx, batch, path.name)
                    except SourceError as exc:
                        problems.append(exc.cause)
                        continue
                    if event is not None:
                        batch.read += 1
                        batch.events.append(event)
    if problems:
        more = f"; … and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise SourceError(NAME, "; ".join(problems[:MAX_PROBLEMS]) + more)
    return batch


def span_event(
    span: Any, resource: Mapping[str, Any], customer_key: str, ctx: Context, batch: Batch, file: str
) -> dict[str, Any] | None:
    """One span → a usage event mapping, or None when the span carries no GenAI token counts."""
    if not isinstance(span, Mapping):
        raise SourceError(NAME, f"{file}: a span must be an object")
    where = f"{file}: span {str(span.get('spanId', '?'))[:40]}"
    own = attributes(span.get("attributes"), where)
    # A blank customer or service name on the span is absent, so the resource's (if it has one) still applies.
    attrs = {**resource, **{k: v for k, v in own.items() if not (k in (customer_key, "service.name") and _blank(v))}}
    _refuse_unreadable(attrs, _TOKENS, "intValue", where)  # before the counts decide whether the span is GenAI
    if _first(attrs, _INPUT) is None and _first(attrs, _OUTPUT) is None:
        return None
    trace_id, span_id = span.get("traceId"), span.get("spanId")
    if not trace_id or not span_id:
        raise SourceError(NAME, f"{where}: traceId and spanId are required")
    start = count(span.get("startTimeUnixNano"), f"{where}: startTimeUnixNano", NAME, limit=_BIGINT_MAX)
    ts = _EPOCH + timedelta(microseconds=start // 1000)  # ≤ 2**63 ns is before 2263: a datetime holds it
    identity = name_attribute(attrs, customer_key, where)
    service = (name_attribute(attrs, "service.name", where) or "")[:200] or None
    target = ctx.mapping.resolve(NAME, [("customers", identity)], default_product=service)
    if not target.mapped:
        batch.unmapped[f"{target.feature} (attribute {customer_key})"] += 1
    _refuse_unreadable(attrs, _PROVIDER + _MODEL, "stringValue", where)
    provider = text_attribute(attrs, _PROVIDER, where) or ""
    model = text_attribute(attrs, _MODEL, where) or ""
    return {
        "event_id": stable_id(NAME, trace_id, span_id),
        "ts": ts.isoformat(),
        "customer": target.customer,
        "product": target.product,
        "feature": target.feature,
        "provider": _provider(provider),
        "model": model,
        "input_tokens": _tokens(attrs, _INPUT, where),
        "cached_input_tokens": _tokens(attrs, _CACHE_READ, where),
        "cache_write_tokens": _tokens(attrs, _CACHE_WRITE, where),
        "output_tokens": _tokens(attrs, _OUTPUT, where),
        "requests": 1,
    }


def _provider(name: str) -> str:
    """GenAI provider names as the price catalogue knows them (az.ai.openai → azure, aws.bedrock → aws)."""
    name = name.lower()
    return {
        "az.ai.openai": "azure",
        "azure.ai.openai": "azure",
        "aws.bedrock": "aws",
        "gcp.vertex_ai": "google",
    }.get(name, name.split(".")[-1] if name.startswith("gcp.") else name)


def import_otlp_files(runtime: Runtime, paths: list[Path | str], *, mapping: SourceMap | None = None) -> list[Any]:
    """Import OTLP/JSON files, each in one transaction. Returns one SyncResult per file."""
    from engine.ingest.sync import SyncResult, load_mapping, record_run, write_batch

    results: list[SyncResult] = []
    ctx = Context(settings=runtime.settings, mapping=mapping or load_mapping(runtime), now=runtime.now())
    for raw_path in paths:
        path = Path(raw_path)
        result = SyncResult(source=f"{NAME}:{path.name}", file=True)
        started = datetime.now(UTC)
        try:
            if not path.is_file():
                raise SourceError(NAME, f"{path}: no such file")
            batch = parse_file(path, ctx)
            write_batch(runtime, NAME, batch, ctx, result, what=f"of {path.name}")
            result.windows = result.windows_done = 1
        except SourceError as exc:
            result.error = str(exc)
        record_run(runtime, result, started)
        results.append(result)
    return results
