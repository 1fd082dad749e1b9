"""Independent steps at the same time: AWS reads (and other work that is not Terraform) in threads.

Terraform itself runs in the main thread (stackops.terraform: only there can it receive the
Ctrl-C it forwards). Each step runs to its end; then the first failure, in the order the steps
were given, is raised, so the error a person sees does not depend on which thread was quicker.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def together(*steps: Callable[[], Any]) -> list[Any]:
    """Run the steps concurrently; their results in order, or the first step's exception that failed."""
    with worker_pool(len(steps)) as pool:
        futures = [pool.submit(step) for step in steps]
        outcomes = [(future.exception(), future) for future in futures]  # waits for every step
    for failure, _ in outcomes:
        if failure is not None:
            raise failure
    return [future.result() for _, future in outcomes]


def worker_pool(workers: int) -> ThreadPoolExecutor:
    """Threads for steps beside Terraform; signals stay with the main thread."""
    return ThreadPoolExecutor(max_workers=max(1, workers), initializer=_main_thread_takes_signals)


def _main_thread_takes_signals() -> None:
    """Ctrl-C is the main thread's to handle (it forwards it to Terraform): never a worker's."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
