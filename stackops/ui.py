"""Console output: tables and results to stdout, progress and logs to stderr.

On a terminal, rich's own behaviour: colour, the terminal's width. Anywhere else (CI, a file, a
pipe): no colour codes, no live view, and a fixed, wide width, so that a table is printed in full
rather than cut to 80 columns. `NO_COLOR` (https://no-color.org) is honoured by rich itself, and
passed on to Terraform in --verbose mode. Table cells wrap rather than end in "…" (`Table`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import rich.table
from rich.console import Console

# Wide enough for the widest table (the secrets'); lines are not padded to it.
PLAIN_WIDTH = 200


def _console(stream: Any, *, stderr: bool) -> Console:
    terminal = stream.isatty() if hasattr(stream, "isatty") else False
    width = None if terminal or os.environ.get("COLUMNS") else PLAIN_WIDTH
    return Console(stderr=stderr, highlight=False, emoji=False, width=width)


out = _console(sys.stdout, stderr=False)
err = _console(sys.stderr, stderr=True)


def verbose() -> bool:
    """--verbose (or STACK_VERBOSE=1): stream Terraform's own output instead of the live view."""
    return os.environ.get("STACK_VERBOSE", "").lower() in ("1", "true", "yes")


def set_verbose(on: bool) -> None:
    if on:
        os.environ["STACK_VERBOSE"] = "1"


def colour() -> bool:
    """Whether colour codes may be written to stderr (a terminal, and NO_COLOR not set)."""
    return err.is_terminal and not os.environ.get("NO_COLOR")


class Table(rich.table.Table):
    """rich's Table whose cells wrap (overflow "fold") instead of being cut with "…"."""

    def add_column(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)
