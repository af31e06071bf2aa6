"""Who is who: source identities (an OpenAI project, an Anthropic workspace, a LiteLLM end user, a Stripe
customer...) → marginbot customer, product and feature, from a TOML file (MARGINBOT_MAPPING_FILE).

An identity the file does not name is never dropped: its usage goes to the visible customer "unmapped", with
the raw identity kept in the feature so it can be traced and mapped later, and every sync reports it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.store.bounds import character_kind, control_character

UNMAPPED = "unmapped"

# The tables each source may have, i.e. the kinds of identity it knows, most specific first.
KINDS: dict[str, tuple[str, ...]] = {
    "openai": ("api_keys", "projects"),
    "anthropic": ("api_keys", "workspaces"),
    "litellm": ("end_users",),
    "langfuse": ("users",),
    "otlp": ("customers",),
    "stripe": ("customers", "products"),
}
_SOURCE_KEYS = {"product", "feature", "identity_is_customer"}
# OTLP's customer attribute is chosen to hold the customer id, so its value is the customer unless mapped.
_IDENTITY_IS_CUSTOMER = {"otlp": True}
_ENTRY_KEYS = {"customer", "product", "feature"}


class MappingError(ValueError):
    """The mapping file is malformed; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one source identity's usage goes."""

    customer: str
    product: str
    feature: str
    mapped: bool


@dataclass
class SourceMap:
    """The parsed mapping file. Use `SourceMap.load(path)`; `resolve` does the lookups."""

    tables: dict[str, dict[str, dict[str, dict[str, str]]]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_product: str = ""
    origin: str = "mapping"
    exists: bool = True

    @classmethod
    def load(cls, path: Path | str) -> SourceMap:
        """Read and validate the mapping file. A missing file maps nothing (everything is 'unmapped')."""
        path = Path(path)
        if not path.exists():
            return cls(origin=str(path), exists=False)
        if not path.is_file():  # a directory: reading it would stop the import with IsADirectoryError
            raise MappingError(f"{path} is not a file: fix the path (MARGINBOT_MAPPING_FILE names the mapping file)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, an integer of more than 4,300 digits
            raise MappingError(f"{path}: not valid TOML: {exc}") from exc
        except OSError as exc:  # unreadable (permissions): said here, where the file is named
            raise MappingError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        return cls.from_mapping(data, origin=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, origin: str = "mapping") -> SourceMap:
        unknown = set(data) - set(KINDS) - {"defaults"}
        if unknown:
            raise MappingError(f"{origin}: unknown section(s) {sorted(unknown)}; expected defaults, {', '.join(KINDS)}")
        defaults = data.get("defaults", {})
        if not isinstance(defaults, Mapping) or set(defaults) - {"product"}:
            raise MappingError(f"{origin}: [defaults] may only set `product`")
        result = cls(origin=origin, default_product=_str(defaults, "product", f"{origin}: [defaults]"))
        for source, kinds in KINDS.items():
            section = data.get(source, {})
            where = f"{origin}: [{source}]"
            if not isinstance(section, Mapping):
                raise MappingError(f"{where} must be a table")
            extra = set(section) - set(kinds) - _SOURCE_KEYS
            if extra:
                raise MappingError(
                    f"{where}: unknown key(s) {sorted(extra)}; expected {', '.join((*kinds, *sorted(_SOURCE_KEYS)))}"
                )
            opts = {k: section[k] for k in _SOURCE_KEYS if k in section}
            for key in ("product", "feature"):
                if key in opts:
                    opts[key] = _str(opts, key, where)
            if "identity_is_customer" in opts and not isinstance(opts["identity_is_customer"], bool):
                raise MappingError(f"{where}: `identity_is_customer` must be true or false")
            result.sources[source] = opts
            result.tables[source] = {}
            for kind in kinds:
                table = section.get(kind, {})
                if not isinstance(table, Mapping):
                    raise MappingError(
                        f"{where}.{kind} must be a table of identity = {{ customer = ..., product = ... }}"
                    )
                parsed: dict[str, dict[str, str]] = {}
                for identity, entry in table.items():
                    parsed[str(identity)] = _entry(entry, f"{origin}: {source}.{kind}.{identity}", kind)
                result.tables[source][kind] = parsed
        return result

    def product_for(self, source: str, entry_product: str = "", default: str | None = None) -> str:
        """The entry's product, else the source's, else `default` (when given) or the file's [defaults]."""
        chosen = entry_product or self.sources.get(source, {}).get("product", "")
        if chosen:
            return str(chosen)
        if default is not None:
            return default
        return self.default_product or UNMAPPED

    def resolve(
        self, source: str, identities: list[tuple[str, str | None]], *, default_product: str | None = None
    ) -> Target:
        """The target of the first identity (kind, value) found, most specific first; else 'unmapped'.

        `identities` names the kinds in KINDS[source], e.g. [("api_keys", "key_abc"), ("projects", "proj_1")].
        `default_product` replaces the file's [defaults] product for this source (OTLP: the service name;
        Stripe: '' = every product).
        """
        tables = self.tables.get(source, {})
        opts = self.sources.get(source, {})
        for kind, value in identities:
            if value is None or value == "":
                continue
            entry = tables.get(kind, {}).get(value)
            if entry is not None:
                product = self.product_for(source, entry.get("product", ""), default_product)
                return Target(entry["customer"], product, entry.get("feature") or opts.get("feature", ""), True)
        product = self.product_for(source, "", default_product)
        if opts.get("identity_is_customer", _IDENTITY_IS_CUSTOMER.get(source, False)):
            first = next((v for _, v in identities if v), None)
            if first:
                return Target(first[:200], product, opts.get("feature", ""), True)
        return Target(UNMAPPED, product, trace_label(source, identities), False)

    def stripe_product(self, stripe_product_id: str | None) -> str | None:
        """The marginbot product a Stripe product id maps to (stripe.products), if any."""
        if not stripe_product_id:
            return None
        entry = self.tables.get("stripe", {}).get("products", {}).get(stripe_product_id)
        return entry.get("product") if entry else None


def trace_label(source: str, identities: list[tuple[str, str | None]]) -> str:
    """A readable, searchable label of raw identities, e.g. 'openai api_key=key_abc project=proj_1'."""
    parts = [f"{kind.rstrip('s')}={value if value else '(none)'}" for kind, value in identities]
    return f"{source} {' '.join(parts)}"[:200]


def _str(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise MappingError(f"{where}: `{key}` must be text, got {value!r}")
    value = value.strip()
    if len(value) > 200:
        raise MappingError(f"{where}: `{key}` is longer than 200 characters")
    # Refused here, naming the file and entry: let through, every event mapped to it would be refused on import,
    # naming neither.
    bad = control_character(value)
    if bad:
        raise MappingError(f"{where}: `{key}` contains {character_kind(bad)} ({bad}): {value!r}")
    return value


def _entry(entry: Any, where: str, kind: str) -> dict[str, str]:
    if isinstance(entry, str):
        entry = {"product": entry} if kind == "products" else {"customer": entry}
    if not isinstance(entry, Mapping):
        raise MappingError(f'{where}: must be a table like {{ customer = "acme", product = "assist" }}')
    extra = set(entry) - _ENTRY_KEYS
    if extra:
        raise MappingError(f"{where}: unknown key(s) {sorted(extra)}; expected customer, product, feature")
    parsed = {k: _str(entry, k, where) for k in _ENTRY_KEYS if k in entry}
    if kind == "products":
        if not parsed.get("product"):
            raise MappingError(f"{where}: `product` is required")
    elif not parsed.get("customer"):
        raise MappingError(f"{where}: `customer` is required")
    return parsed


__all__ = ["KINDS", "UNMAPPED", "MappingError", "SourceMap", "Target", "trace_label"]
