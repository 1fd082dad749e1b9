#!/usr/bin/env python3
"""Wall-time benchmarks (not tests): the plan-test suite, `inv up` from cold, the wrapper's
overhead on a no-op plan against raw `terraform plan`, and `inv cert` on the embedded AWS.

    .venv/bin/python bin/benchmark.py [plans] [up]

Runs in a private STACK_STATE_DIR with its own emulator on a free port, and stops it at the end.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stackops.paths import ROOT


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode not in (0,):
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def bench_plans() -> None:
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/modules"]
    serial = timed(pytest)
    parallel = timed([*pytest, "-n", "2"])
    print(f"plan-test suite (tests/modules): serial {serial:.1f} s, pytest-xdist -n 2 {parallel:.1f} s")


def bench_up() -> None:
    state = Path(tempfile.mkdtemp(prefix="stack-bench-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "STACK_STATE_DIR": str(state), "STACK_LOCAL_DIR": str(state / "local"),
           "STACK_LOCAL_PORT": str(port)}  # fmt: skip
    inv = [sys.executable, "-m", "invoke"]
    try:
        up = timed([*inv, "up"], env)
        print(f"inv up from cold: {up:.1f} s (provider waiting floor about 80-110 s; target < 1.5x)")
        wrapped = [timed([*inv, "plan", "--env", "local"], env) for _ in range(3)]

        os.environ.update(env)
        from stackops.cli import open_environment
        from stackops.terraform import Terraform

        local = open_environment("local")
        tf = Terraform(local)
        raw_env = {**tf.environ(), "TF_WORKSPACE": local.workspace}
        raw_cmd = ["terraform", f"-chdir={ROOT}", "plan", "-input=false", f"-var-file={local.tfvars_path}",
                   "-detailed-exitcode", "-out", str(state / "raw.tfplan")]  # fmt: skip
        raw = [timed(raw_cmd, raw_env) for _ in range(3)]
        w, r = statistics.median(wrapped), statistics.median(raw)
        print(f"no-op plan: inv plan {w:.2f} s, raw terraform plan {r:.2f} s, ratio {w / r:.2f} (target < 1.10)")
        cert = timed([*inv, "cert", "--env", "local", "--force"], env)
        print(f"inv cert --force on local (start to ACM import and SSM publish, whole command): {cert:.1f} s")
    finally:
        subprocess.run([*inv, "local.down"], cwd=ROOT, env=env, capture_output=True, check=False)


if __name__ == "__main__":
    wanted = set(sys.argv[1:]) or {"plans", "up"}
    if "plans" in wanted:
        bench_plans()
    if "up" in wanted:
        bench_up()
