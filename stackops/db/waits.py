"""Waiting for an RDS snapshot or instance to become available, with its progress on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from stackops.ecs.rollouts import spinner
from stackops.errors import OpsError
from stackops.ui import err

# An item read: (its status, the status as shown, e.g. "creating 40%", the item itself).
Reading = tuple[str, str, dict[str, Any]]


def wait_available(
    label: str,
    read: Callable[[], Reading],
    *,
    failed: tuple[str, ...],
    if_failed: str,
    if_late: str,
    timeout: float,
    poll: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll `read` until the status is `available` (its item returned); OpsError on a `failed`
    status (`label is STATUS: if_failed`) or after `timeout` seconds (`... after Ns: if_late`)."""
    deadline = clock() + timeout
    last = ""
    with spinner(label) as progress:
        while True:
            status, shown, item = read()
            if shown != last:
                err.print(f"  {escape(label)} {escape(shown)}")
                last = shown
            progress.update(f"{escape(label)} {escape(shown)}")
            if status == "available":
                return item
            if status in failed:
                raise OpsError(f"{label} is {status}: {if_failed}")
            if clock() >= deadline:
                raise OpsError(f"{label} is still {status} after {timeout:g}s: {if_late}")
            sleep(poll)
