"""Refreshing the catalogue: genai-prices publishes its data (`data.json`, the format its own `UpdatePrices` fetches)
between package releases; marginbot keeps a copy in a file the user controls (MARGINBOT_CATALOGUE_FILE), loads it
at start, and says what a refresh changed. Prices already stored change only when `marginbot reprice` runs, so a
refresh never moves a figure behind anyone's back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from engine.pricing.catalogue import Catalogue, CatalogueError, Resolved

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
    used_changed: list[str]  # entries stored usage resolves to whose prices change: changed, removed, or newly used
    written: bool
    # Stored ids that resolve to another entry in the new data, or to one where they resolved to none (unpriced
    # usage the new data prices), or to none any more: "provider/model (before → after)".
    used_moved: list[str] = field(default_factory=list)
    unreadable: str = (
        ""  # why the catalogue file in use could not be read ("" when it could): compared with the bundled one
    )
    usage_stored: bool = True

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> str:
        lines: list[str] = []
        if self.unreadable:
            lines.append(
                f"the catalogue file in use could not be read ({self.unreadable}): compared with the bundled data"
            )
        if self.unchanged and not self.used_moved:
            done = "rewritten" if self.written else "not written"
            return "\n".join([*lines, f"catalogue unchanged ({self.after}); {self.target} {done}"])
        lines += [
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
        if self.used_moved:
            lines.append(f"  stored model ids that resolve to another entry now: {_few(self.used_moved)}")
        if not self.written:
            lines.append(f"  dry run: {self.target} was not written")
            return "\n".join(lines)
        # A running process (serve) reloads the file when it changes (engine.runtime): no restart to wait for.
        if self.usage_stored:
            # Writers refuse prices other than those stored usage was priced with (engine.store.meta.check_rollups).
            lines.append(
                f"  written to {self.target}; new usage is priced from it once stored usage is (imports and syncs "
                "wait for the reprice)"
            )
        else:
            lines.append(f"  written to {self.target}; usage is priced from it from now on")
        lines.append(
            "  run `marginbot reprice` to re-price stored usage with it"
            + (" (figures will move)" if self.affected else " (no stored usage is affected)")
        )
        return "\n".join(lines)

    @property
    def affected(self) -> bool:
        """Whether a reprice may move stored figures: an entry stored usage resolves to changed, went, or is new."""
        return bool(self.used_changed or self.used_moved)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.target),
            "before": self.before,
            "after": self.after,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "used_changed": self.used_changed,
            "used_moved": self.used_moved,
            "written": self.written,
            "reprice_needed": self.written and not (self.unchanged and not self.used_moved),
            "unreadable_before": self.unreadable or None,
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
    unreadable: str = "",
) -> CatalogueUpdate:
    """Validate `raw` as genai-prices data, compare it with `current`, and (unless `dry_run`) write it to `target`
    atomically: a reader never sees half a file, and a refused download leaves the old one in place. `used`: the
    (provider, model) ids stored usage names. `unreadable`: why the file in use could not be read, when `current`
    is the bundled data standing in for it (said in the summary)."""
    new = Catalogue.from_bytes(raw, origin=origin)
    old_entries, new_entries = _entries(current), _entries(new)
    added = sorted(set(new_entries) - set(old_entries))
    removed = sorted(set(old_entries) - set(new_entries))
    changed = sorted(k for k in set(old_entries) & set(new_entries) if old_entries[k] != new_entries[k])
    touched = set(changed) | set(removed)
    # Each stored id resolved in both: the same entry with new prices, an entry gone, and an id that now resolves to
    # another entry (a new, more specific one) or to one where it resolved to none (unpriced usage now priced) all
    # move figures on the next reprice.
    used = list(used)
    used_changed: set[str] = set()
    used_moved: set[str] = set()
    for provider, model in used:
        before, after = _key(current.resolve(provider, model)), _key(new.resolve(provider, model))
        if before != after:
            used_moved.add(f"{provider}/{model} ({before or 'no entry'} → {after or 'no entry'})")
            used_changed.add(after or before)  # the entry that prices it now, or the one that no longer does
        elif before in touched:
            used_changed.add(before)
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
        used_changed=sorted(used_changed),
        used_moved=sorted(used_moved),
        written=not dry_run,
        unreadable=unreadable,
        usage_stored=bool(used),
    )


def _key(resolved: Resolved | None) -> str:
    return f"{resolved.provider.id}/{resolved.info.id}" if resolved is not None else ""
