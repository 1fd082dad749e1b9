"""Shared fixtures: an isolated tool state per test session, and the `inv` command line.

Every test session gets its own STACK_STATE_DIR (Terraform data, plans, bootstrap state, the
emulator's files), so tests never touch a developer's `.state/` or a running `inv up`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from stackops.paths import ROOT

# A developer's AWS settings must not leak into tests (no real account is ever reached).
AMBIENT_AWS = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_inv(*args: str, env: Mapping[str, str] | None = None, input: str | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run the real command line, as a user would: `inv ARGS...` in the repository."""
    environ = {**os.environ, "COLUMNS": "200"}  # wide tables, whatever the terminal of the test run
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=ROOT, env=environ, input=input, capture_output=True,
        text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="session", autouse=True)
def isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private tool state for this session (and xdist worker); a free emulator port."""
    folder = tmp_path_factory.mktemp("stack-state")
    os.environ["STACK_STATE_DIR"] = str(folder)
    os.environ["STACK_LOCAL_DIR"] = str(folder / "local")
    os.environ["STACK_LOCAL_PORT"] = str(free_port())
    for name in AMBIENT_AWS:
        os.environ.pop(name, None)
    return folder
