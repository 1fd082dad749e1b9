"""The detached processes stackops starts (the emulated AWS, pebble, the DNS bridge): checks and stops.

Each is recorded by its pid and a marker, a piece of its command line: pids get reused, so a
recorded pid only counts as ours while `/proc/<pid>/cmdline` still holds the marker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def exited(pid: int, child: subprocess.Popen[bytes] | None = None) -> bool:
    """True when `pid` no longer runs (a zombie counts as exited); reaps it when it is our child.

    `child` is the Popen that started `pid`, when the caller keeps one: it is polled, so that its
    returncode stays right, instead of reaping the pid behind its back with waitpid.
    """
    if pid <= 0:  # waitpid and kill read 0 and below as process groups
        return True
    if child is not None:
        if child.poll() is not None:
            return True
    else:
        with contextlib.suppress(ChildProcessError):  # not a child of this process
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc (macOS): signal 0 tells whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie has exited already


def runs(pid: object, marker: str, child: subprocess.Popen[bytes] | None = None) -> bool:
    """True when `pid` (as read from a record: anything) still runs the program recorded for it.

    That is, a positive int that has not exited and whose command line holds `marker`. Without
    /proc the marker cannot be checked and a live pid counts as ours.
    """
    if not isinstance(pid, int) or pid <= 0 or exited(pid, child):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return marker in cmdline


def terminate(pid: int, marker: str, timeout: float, child: subprocess.Popen[bytes] | None = None) -> None:
    """Stop `pid` if it still runs the program marked `marker`: SIGTERM, then SIGKILL.

    Waits up to `timeout` seconds after each signal and returns once the process has exited (or,
    rarely, when it outlives both waits). A pid that no longer runs that program is left alone.
    """
    if not runs(pid, marker, child):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if exited(pid, child):
                return
            time.sleep(0.05)


def log_tail(path: Path, lines: int, *, missing: str = "(no log)", empty: str = "(empty log)") -> str:
    """The last `lines` lines of the log at `path` on one line, joined by " | ", for an error message.

    `missing` stands in when there is no such file, `empty` when it holds nothing but white space.
    """
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return missing
    return " | ".join(line.strip() for line in text[-lines:]) or empty
