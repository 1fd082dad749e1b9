"""Independent steps at the same time: AWS reads (and other work that is not Terraform) in threads.

Terraform itself runs in the main thread (stackops.terraform: only there can it receive the
Ctrl-C it forwards). Each step runs to its end; then the first failure, in the order the steps
were given, is raised, so the error a person sees does not depend on which thread was quicker.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

# Blocked in the workers, so the kernel hands them to the main thread, whose handler forwards them.
WORKER_BLOCKED = {signal.SIGINT, signal.SIGTERM}


def together(*steps: Callable[[], Any]) -> list[Any]:
    """Run the steps concurrently; their results in order, or the first step's exception that failed."""
    with worker_pool(len(steps)) as pool:
        futures = [pool.submit(step) for step in steps]
        outcomes = [(future.exception(), future) for future in futures]  # waits for every step
    for failure, _ in outcomes:
        if failure is not None:
            raise failure
    return [future.result() for _, future in outcomes]


def on_main_thread() -> bool:
    """Whether this is the main thread: the one that takes Ctrl-C, runs Terraform and draws live views."""
    return threading.current_thread() is threading.main_thread()


def worker_pool(workers: int) -> ThreadPoolExecutor:
    """Threads for steps beside Terraform; signals stay with the main thread."""
    return ThreadPoolExecutor(max_workers=max(1, workers), initializer=_main_thread_takes_signals)


def _main_thread_takes_signals() -> None:
    """Ctrl-C is the main thread's to handle (it forwards it to Terraform): never a worker's."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_BLOCKED)


@contextmanager
def child_signals() -> Iterator[None]:
    """Around a child process started from a worker (certbot, pip): a child inherits its thread's
    signal mask through fork and exec (subprocess does not reset it), so without this a Ctrl-C or
    a SIGTERM could never stop it. Unblocked in this thread meanwhile (Linux still gives a
    process's signals to the main thread first); in the main thread, nothing changes."""
    if on_main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_BLOCKED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
