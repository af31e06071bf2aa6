"""How long engine operations (imports, syncs, reprice) tell a caller how far they are, without knowing who listens.

A `Progress` is called now and then with the units done so far and the total when known (None when not), e.g.
`progress(120_000, 1_000_000)`. Each operation's docstring says what its unit is. The engine never draws anything:
the command line turns the calls into a progress bar (bot/render/progress.py); the bot and tests pass nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int | None], None]
