"""stackops/parallel.py: workers leave Ctrl-C to the main thread, but a child process a worker
starts (certbot, pip) can still be stopped by one, and `together` reports the first failure in order."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from stackops.parallel import WORKER_BLOCKED, child_signals, together, worker_pool

# The child prints the signals blocked in it (inherited from the thread that started it).
SHOW_MASK = "import signal; print(' '.join(str(int(s)) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))"


def blocked_in_child(*, restored: bool) -> set[int]:
    def start() -> str:
        if restored:
            with child_signals():
                return subprocess.run([sys.executable, "-c", SHOW_MASK], capture_output=True, text=True).stdout
        return subprocess.run([sys.executable, "-c", SHOW_MASK], capture_output=True, text=True).stdout

    with worker_pool(1) as pool:
        return {int(word) for word in pool.submit(start).result().split()}


def test_a_child_of_a_worker_can_be_interrupted_only_through_child_signals() -> None:
    wanted = {int(s) for s in WORKER_BLOCKED}
    assert wanted <= blocked_in_child(restored=False)  # what the workers' mask alone would give it
    assert not wanted & blocked_in_child(restored=True)


def test_child_signals_puts_the_workers_mask_back() -> None:
    def mask_after() -> set[signal.Signals]:
        with child_signals():
            pass
        return signal.pthread_sigmask(signal.SIG_BLOCK, [])

    with worker_pool(1) as pool:
        assert pool.submit(mask_after).result() >= WORKER_BLOCKED
    with child_signals():  # the main thread's own mask is left as it is
        assert not WORKER_BLOCKED & signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_together_returns_in_order_and_raises_the_first_failure_given() -> None:
    assert together(lambda: 1, lambda: 2) == [1, 2]

    def fail(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="first"):
        together(lambda: 1, lambda: fail("first"), lambda: fail("second"))
