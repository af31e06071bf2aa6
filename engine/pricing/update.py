"""Refreshing the catalogue: genai-prices publishes its data (`data.json`, the format its own `UpdatePrices` fetches)
between package releases; marginbot keeps a copy in a file the user controls (MARGINBOT_CATALOGUE_FILE), loads it
at start, and says what a refresh changed. Prices already stored change only when `marginbot reprice` runs, so a
refresh never moves a figure behind anyone's back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from engine.pricing.catalogue import Catalogue, CatalogueError

# Where genai-prices' own updater fetches from (genai_prices.update_prices.DEFAULT_UPDATE_URL).
DEFAULT_URL = "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
_SHOWN = 15


def fetch(source: str, *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0) -> bytes:
    """The catalogue data at `source`: an http(s) URL, or a local file (for offline machines and tests)."""
    if source.startswith(("http://", "https://")):
        try:
            with httpx.Client(transport=transport, timeout=timeout, follow_redirects=True) as client:
                response = client.get(source)
        except httpx.HTTPError as exc:
            raise CatalogueError(f"{source}: could not fetch the catalogue: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise CatalogueError(f"{source}: could not fetch the catalogue: HTTP {response.status_code}")
        return response.content
    path = Path(source)
    if not path.is_file():
        raise CatalogueError(f"{source}: no such file (give a genai-prices data.json file or an http(s) URL)")
    return path.read_bytes()


@dataclass(frozen=True, kw_only=True)
class CatalogueUpdate:
    """What a refresh changed, entry by entry ("provider/model id"), and what that means for stored usage."""

    target: Path
    before: str  # catalogue versions
    after: str
    added: list[str]
    removed: list[str]
    changed: list[str]  # prices or tier prices differ
    used_changed: list[str]  # changed or removed entries that stored usage resolves to
    written: bool

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        if self.unchanged:
            return f"catalogue unchanged ({self.after}); {self.target} {'rewritten' if self.written else 'not written'}"
        lines = [
            f"catalogue: {self.before} → {self.after}",
            f"  {len(self.added)} model(s) added, {len(self.removed)} removed, {len(self.changed)} with new prices",
        ]
        lines += [
            f"  {label}: {_few(items)}"
            for label, items in (("new prices", self.changed), ("removed", self.removed), ("added", self.added))
            if items
        ]
        if self.used_changed:
            lines.append(f"  models your stored usage resolves to that changed: {_few(self.used_changed)}")
        if not self.written:
            lines.append(f"  dry run: {self.target} was not written")
            return "\n".join(lines)
        lines.append(f"  written to {self.target}; new events are priced from it from the next start")
        lines.append(
            "  run `marginbot reprice` to re-price stored usage with it"
            + (" (figures will move)" if self.used_changed else " (no stored usage is affected)")
        )
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.target),
            "before": self.before,
            "after": self.after,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "used_changed": self.used_changed,
            "written": self.written,
            "reprice_needed": self.written and not self.unchanged,
        }


def _few(items: list[str]) -> str:
    more = f" … and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def _entries(catalogue: Catalogue) -> dict[str, Any]:
    return {
        f"{p.id}/{m.id}": (m.prices, m.price_variants or []) for p in catalogue.snapshot.providers for m in p.models
    }


def update_catalogue(
    raw: bytes,
    *,
    origin: str,
    target: Path,
    current: Catalogue,
    used: Iterable[tuple[str, str]] = (),
    dry_run: bool = False,
) -> CatalogueUpdate:
    """Validate `raw` as genai-prices data, compare it with `current`, and (unless `dry_run`) write it to `target`
    atomically: a reader never sees half a file, and a refused download leaves the old one in place."""
    new = Catalogue.from_bytes(raw, origin=origin)
    old_entries, new_entries = _entries(current), _entries(new)
    added = sorted(set(new_entries) - set(old_entries))
    removed = sorted(set(old_entries) - set(new_entries))
    changed = sorted(k for k in set(old_entries) & set(new_entries) if old_entries[k] != new_entries[k])
    touched = set(changed) | set(removed)
    used_changed = sorted(
        {
            f"{resolved.provider.id}/{resolved.info.id}"
            for provider, model in used
            if (resolved := current.resolve(provider, model)) is not None
            and f"{resolved.provider.id}/{resolved.info.id}" in touched
        }
    )
    if not dry_run:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(raw)
        os.replace(partial, target)
    return CatalogueUpdate(
        target=target,
        before=current.version,
        after=new.version,
        added=added,
        removed=removed,
        changed=changed,
        used_changed=used_changed,
        written=not dry_run,
    )
