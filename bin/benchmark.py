#!/usr/bin/env python3
"""Wall-time benchmarks (not tests): the plan-test suite, `inv up` from cold, the wrapper's
overhead on a no-op plan against raw `terraform plan`, and `inv cert` on the embedded AWS; and a
soak of the embedded AWS: N cold `inv up` + `inv destroy` cycles, each on a fresh emulator.

    .venv/bin/python bin/benchmark.py [plans] [up]
    .venv/bin/python bin/benchmark.py soak N

Runs in a private STACK_STATE_DIR with its own emulator on a free port, and stops it at the end.
"""

from __future__ import annotations

import os
import shutil
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


def private_state() -> tuple[Path, dict[str, str]]:
    """A fresh STACK_STATE_DIR and a free emulator port: nothing shared with a developer's `inv up`."""
    state = Path(tempfile.mkdtemp(prefix="stack-bench-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "STACK_STATE_DIR": str(state), "STACK_LOCAL_DIR": str(state / "local"),
           "STACK_LOCAL_PORT": str(port)}  # fmt: skip
    return state, env


def soak(runs: int) -> int:
    """N cold `inv up` + destroy cycles, each on a fresh emulator; failures, timings, lost answers."""
    from stackops.local.aws.request_trace import retried_successes

    inv = [sys.executable, "-m", "invoke"]
    failures, lost, timings = 0, 0, []
    for run in range(1, runs + 1):
        state, env = private_state()
        try:
            started = time.monotonic()
            up = subprocess.run([*inv, "up"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            up_seconds = time.monotonic() - started
            destroy = subprocess.run([*inv, "destroy", "--env", "local", "--yes"], cwd=ROOT, env=env,
                                     capture_output=True, text=True, check=False)  # fmt: skip
            log = state / "local" / "moto.log"
            trace = log.read_text(errors="replace").splitlines() if log.exists() else []
            repeated = retried_successes(trace)
        finally:
            subprocess.run([*inv, "local.down"], cwd=ROOT, env=env, capture_output=True, check=False)
            shutil.rmtree(state, ignore_errors=True)
        ok = up.returncode == 0 and destroy.returncode == 0
        failures += not ok
        lost += len(repeated)
        timings.append(up_seconds)
        calls = sum(line.startswith("call ") for line in trace)
        print(f"run {run}/{runs}: up {'ok' if up.returncode == 0 else f'FAILED ({up.returncode})'} "
              f"{up_seconds:.0f} s, destroy {'ok' if destroy.returncode == 0 else 'FAILED'}, {calls} calls, "
              f"{len(repeated)} answered calls retried", flush=True)  # fmt: skip
        if not ok:
            print("  " + ((up.stderr if up.returncode else destroy.stderr).strip().splitlines() or ["?"])[-1])
        for line in repeated:
            print(f"  {line}")
    print(f"soak: {runs} cold runs, {failures} failed, {lost} answered calls retried; inv up median "
          f"{statistics.median(timings):.0f} s, max {max(timings):.0f} s")  # fmt: skip
    return 1 if failures or lost else 0


def bench_up() -> None:
    state, env = private_state()
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


def main(argv: list[str]) -> int:
    if argv[:1] == ["soak"]:
        count = argv[1] if len(argv) > 1 else "10"
        if not count.isdigit() or int(count) < 1:
            sys.exit(f"soak N: N is a number of runs, 1 or more, not {count!r}")
        return soak(int(count))
    wanted = set(argv) or {"plans", "up"}
    if "plans" in wanted:
        bench_plans()
    if "up" in wanted:
        bench_up()
    return 0


if __name__ == "__main__":
    from stackops.errors import OpsError, aws_error_message, is_aws_error

    try:
        sys.exit(main(sys.argv[1:]))
    except OpsError as exc:
        sys.exit(f"error: {exc}")
    except Exception as exc:
        if not is_aws_error(exc):
            raise
        sys.exit(f"error: {aws_error_message(exc)}")
