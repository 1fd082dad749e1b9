"""What the ECS extension's parts share: one lock (the server is threaded and task threads write to the
same moto objects), the time scale of the simulation, its log line, and the pending faults that
tests inject over HTTP (`/_stack/ecs/faults`, see `stackops.local.aws.server`)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

# Every delay of the simulation is multiplied by this (e.g. 5 to watch intermediate states).
TIME_SCALE = float(os.environ.get("STACK_EMULATED_ECS_TIME_SCALE", "1") or 1)
DEPLOYMENT_MODES = ("rollback", "stuck")
LOCK = threading.RLock()  # the server is threaded; task threads write to the same objects


def log(message: str) -> None:
    print(f"[stackops ecs] {message}", file=sys.stderr, flush=True)


def now() -> Any:
    from moto.core.utils import utcnow

    return utcnow()


# -- faults -----------------------------------------------------------------------------------------
class Faults:
    """Pending one-shot faults; each is removed by the first deployment or task that uses it."""

    KEYS = ("next_deployment", "next_task_exit_code", "next_task_never_starts")

    def __init__(self) -> None:
        self._pending: dict[str, Any] = {}

    @staticmethod
    def validate(data: Any) -> dict[str, Any]:
        """Return the faults in `data`; raise ValueError naming the first wrong key or value."""
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        unknown = sorted(set(data) - set(Faults.KEYS))
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known faults: {', '.join(Faults.KEYS)}")
        clean: dict[str, Any] = {}
        mode = data.get("next_deployment")
        if mode is not None:
            if mode not in DEPLOYMENT_MODES:
                raise ValueError(f"next_deployment must be one of {', '.join(DEPLOYMENT_MODES)}, not {mode!r}")
            clean["next_deployment"] = mode
        code = data.get("next_task_exit_code")
        if code is not None:
            if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
                raise ValueError(f"next_task_exit_code must be an integer from 0 to 255, not {code!r}")
            clean["next_task_exit_code"] = code
        reason = data.get("next_task_never_starts")
        if reason is not None:
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError("next_task_never_starts must be a non-empty stoppedReason")
            clean["next_task_never_starts"] = reason.strip()
        return clean

    def add(self, data: Any) -> dict[str, Any]:
        """Validate and add faults (a key given again replaces the pending one); return all pending."""
        clean = self.validate(data)
        with LOCK:
            self._pending.update(clean)
            return dict(self._pending)

    def pending(self) -> dict[str, Any]:
        with LOCK:
            return dict(self._pending)

    def take(self, key: str) -> Any:
        with LOCK:
            return self._pending.pop(key, None)

    def clear(self) -> None:
        with LOCK:
            self._pending.clear()


FAULTS = Faults()
