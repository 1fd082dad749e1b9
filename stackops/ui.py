"""Console output: tables and results to stdout, progress and logs to stderr."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)
