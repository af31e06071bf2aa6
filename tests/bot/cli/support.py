"""Running the `marginbot` command in-process, as the command-line tests do."""

from __future__ import annotations

import pytest

from bot.cli.main import main
from engine.runtime import Runtime


def cli(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`marginbot ARGV` on `rt`: its exit code, stdout and stderr."""
    code = main(list(argv), runtime=rt)
    out, err = capsys.readouterr()
    return code, out, err
