"""Each run's full log on disk: `.state/envs/<env>/logs/<UTC time>-<command>.log`.

The screen shows a live view and a summary (stackops.terraform_stream); the log keeps everything
Terraform said, in its own words: every message of the `-json` stream as text, every diagnostic
in full, and the saved plan as `terraform show` renders it. One log per environment per `inv`
command (the task wrapper names the command), readable only by its owner (0600, like the state
folder's other files, since a plan can name resources an attacker would like to know), the
newest `KEEP` kept. Its path is printed when the command ends, whether it succeeded or failed.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

KEEP = 20
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class RunLog:
    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def write(self, text: str) -> None:
        # Opened with its mode each time: a log another command pruned meanwhile comes back 0600 too.
        data = _ANSI.sub("", text).encode("utf-8", errors="replace")
        with self._lock:
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, data)
            finally:
                os.close(descriptor)

    def flush(self) -> None:
        """Each write is flushed already (a file-like object for rich's Console)."""

    def section(self, title: str) -> None:
        """A heading between the runs one command makes (plan, show, apply...)."""
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        self.write(f"\n===== {stamp} UTC {title} =====\n")


_command = "run"
_opened: dict[Path, RunLog] = {}
_registry_lock = threading.Lock()


def begin(command: str) -> None:
    """Name the logs this process opens from now on after the `inv` command running (its task name)."""
    global _command
    _command = re.sub(r"[^A-Za-z0-9.-]+", "-", command).strip("-") or "run"
    _opened.clear()


def for_folder(folder: Path) -> RunLog:
    """The log of the running command for the environment whose state folder is `folder`, opened once."""
    with _registry_lock:
        if folder in _opened:
            return _opened[folder]
        logs = folder / "logs"
        logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = logs / f"{stamp}-{_command}.log"
        number = 2
        while path.exists():  # two runs of the same command within a second
            path = logs / f"{stamp}-{_command}-{number}.log"
            number += 1
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
        prune(logs)
        _opened[folder] = RunLog(path)
        return _opened[folder]


def prune(logs: Path, keep: int = KEEP) -> list[Path]:
    """Delete all but the newest `keep` logs (their names start with the UTC time); return the deleted."""
    found = sorted(logs.glob("*.log"), key=lambda p: p.name)  # named by their UTC time first
    removed = found[:-keep] if len(found) > keep else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def opened() -> list[Path]:
    """The logs this command wrote, to name when it ends."""
    return [log.path for log in _opened.values()]
