"""State locks and interruptions, through the one Terraform runner, on a small slow root.

The root (fixtures/slow_root) applies for as long as it is told to, holding the state lock of
`locktest/terraform.tfstate` (workspace `locktest`) in the `local` environment's state backend.
The backend locks twice: an item in the DynamoDB table and a `.tflock` object next to the state
(`use_lockfile`); both are checked. The runner is driven in a subprocess (fixtures/run_slow_apply.py)
so that signals reach it the way a terminal's would.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackops import environments
from stackops.terraform import EXIT_INTERRUPTED
from tests.e2e.fixtures import run_slow_apply
from tests.e2e.fixtures.accounts import ensure_state_backend

pytestmark = pytest.mark.e2e

STATE_KEY = f"env:/{run_slow_apply.WORKSPACE}/{run_slow_apply.KEY}"
LOCK_WAIT = 60.0


class Backend:
    """The `local` state backend as the tests see it: the state object, and both kinds of lock."""

    def __init__(self) -> None:
        self.env = environments.load("local")
        session = self.env.session(master=True)
        self.s3, self.dynamodb = session.client("s3"), session.client("dynamodb")
        self.lock_id = f"{self.env.state_bucket}/{STATE_KEY}"

    def lock_item(self) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(
            TableName=self.env.lock_table, Key={"LockID": {"S": self.lock_id}}, ConsistentRead=True
        ).get("Item")
        return json.loads(item["Info"]["S"]) if item else None

    def lock_object(self) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=self.env.state_bucket, Key=f"{STATE_KEY}.tflock")["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def state(self) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=self.env.state_bucket, Key=STATE_KEY)["Body"].read())

    def wait_for_apply_lock(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        """Wait until the apply (not the plan before it) holds the lock; return the lock's info."""
        deadline = time.monotonic() + LOCK_WAIT
        while time.monotonic() < deadline:
            info = self.lock_item()
            if info and info.get("Operation") == "OperationTypeApply":
                return info
            if process.poll() is not None:
                raise AssertionError(f"the run ended (exit {process.returncode}) before it held the lock")
            time.sleep(0.1)
        raise AssertionError(f"no apply held the lock {self.lock_id} within {LOCK_WAIT:.0f} s")


def start_apply(data_dir: Path, seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.fixtures.run_slow_apply", str(data_dir), str(seconds)],
        cwd=environments.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Wait for a run; its exit code, Terraform's output (stdout) and the errors (stderr)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"the run did not finish within {timeout:.0f} s:\n{stderr[-3000:]}") from None
    return process.returncode, stdout, stderr


def last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def backend(emulated_aws) -> Backend:
    """The state bucket and lock table, made by the README's own command (`inv bootstrap`)."""
    ensure_state_backend()
    return Backend()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Runs a test starts; any still running when it ends (a failed assertion) are stopped."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_second_apply_is_refused_while_the_first_holds_the_lock(
    backend: Backend, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    first = start_apply(tmp_path / "first", 15)
    processes.append(first)
    held = backend.wait_for_apply_lock(first)
    assert backend.lock_object() is not None, "use_lockfile: the .tflock object should be there too"

    second = subprocess.run(
        [sys.executable, "-m", "tests.e2e.fixtures.run_slow_apply", str(tmp_path / "second"), "1"],
        cwd=environments.ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert first.poll() is None, "the first apply ended before the second tried: the test proved nothing"
    assert second.returncode == 1, second.stderr[-3000:]
    assert "stackops: applying" not in second.stderr  # refused at its plan, before any apply
    message = last_line(second.stderr)
    assert "the state of local is locked by another run" in message
    assert "force-unlock" in message
    assert backend.lock_item() == held, "the refused run must not touch the holder's lock"

    code, _, stderr = finish(first)
    assert code == 0, stderr[-3000:]
    assert "stackops: applied" in stderr
    assert backend.lock_item() is None
    assert backend.lock_object() is None
    state = backend.state()
    resources = [r for r in state["resources"] if r["type"] == "terraform_data"]
    assert len(resources) == 1, state
    # The first run's values: the refused run wrote nothing.
    assert resources[0]["instances"][0]["attributes"]["input"] == {"value": 15, "type": "number"}
    assert state["outputs"]["seconds"]["value"] == 15


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_apply_exits_130_and_releases_the_lock(
    backend: Backend, tmp_path: Path, processes: list[subprocess.Popen[str]], signum: signal.Signals
) -> None:
    run = start_apply(tmp_path / "interrupted", 120)
    processes.append(run)
    backend.wait_for_apply_lock(run)
    assert backend.lock_object() is not None
    started = time.monotonic()
    run.send_signal(signum)
    code, _, stderr = finish(run, timeout=60)

    assert time.monotonic() - started < 30, "the apply should stop promptly, not run its 120 s"
    assert code == EXIT_INTERRUPTED, stderr[-3000:]
    # Terraform itself got the interrupt, once, and stopped gracefully (its -json message, as shown).
    assert "Interrupt received" in stderr
    message = last_line(stderr)
    assert message.startswith("error: terraform apply interrupted")
    assert "released the state lock" in message
    assert "Traceback" not in stderr
    assert backend.lock_item() is None, "the DynamoDB lock was left behind"
    assert backend.lock_object() is None, "the .tflock object was left behind"

    after = start_apply(tmp_path / "after", 1)
    processes.append(after)
    code, _, stderr = finish(after)
    assert code == 0, stderr[-3000:]
    state = backend.state()
    resources = [r for r in state["resources"] if r["type"] == "terraform_data"]
    assert resources[0]["instances"][0]["attributes"]["input"] == {"value": 1, "type": "number"}
    assert backend.lock_item() is None
    assert backend.lock_object() is None
