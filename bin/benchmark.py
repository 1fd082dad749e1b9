#!/usr/bin/env python3
"""Wall-time benchmarks (not tests) on this machine, and a soak of the embedded AWS.

    .venv/bin/python bin/benchmark.py [plans] [up] [plan] [apply]
    .venv/bin/python bin/benchmark.py soak N

Modes (without one: plans, up and plan):
- plans: the plan-test suite (tests/modules), serial and with pytest-xdist -n 2.
- up: `inv up` from cold, then `inv cert --force` on the stack it deployed.
- plan: after an `inv up`, a no-op `inv plan --env local` against the raw `terraform plan` the tool
  runs (its data folder, CLI config, workspace and var-files, the running-images one included),
  3 runs each, medians and their ratio (the wrapper's overhead). With `up`, on up's emulator.
- apply: a raw `terraform init` + `apply -auto-approve` of the local stack on a fresh emulator
  (prepared first, untimed: `inv bootstrap` and `inv secrets`), against `inv up` from cold on
  another fresh emulator; both times and the ratio inv up / raw apply. Then a raw plan of the raw
  apply's state names any resource the emulator would not read back as applied.
- soak N: N cold `inv up` + `inv destroy` cycles, each on a fresh emulator: failures, timings,
  calls answered but retried.

Each emulator runs in a private STACK_STATE_DIR on a free port (nothing shared with a developer's
`inv up`) and is stopped at the end. Only exit codes and timings are read, never inv's output.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stackops.paths import ROOT

INV = [sys.executable, "-m", "invoke"]
REPEATS = 3  # runs of each no-op plan


def run(command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """Seconds the command took and its exit code; any code outside `ok` ends the benchmark."""
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if result.returncode not in ok:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed, result.returncode


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    return run(command, env)[0]


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


def stop_emulator(state: Path, env: dict[str, str]) -> None:
    """`inv local.down` for that private state (moto, pebble and its DNS bridge), then remove it."""
    subprocess.run([*INV, "local.down"], cwd=ROOT, env=env, capture_output=True, check=False)
    shutil.rmtree(state, ignore_errors=True)


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's os.environ is `env` inside the block (the stackops calls read it), as before after."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def raw_terraform(data_dir: Path | None = None) -> tuple[Any, dict[str, str]]:
    """The `local` stack's Terraform as the tool runs it (stackops.terraform.Terraform, stackops.stack):
    its command line (`-chdir` the checkout) and variables, TF_CLI_CONFIG_FILE, retry settings, TF_IN_AUTOMATION,
    TF_DATA_DIR (the tool's own unless `data_dir`), and the emulator's AWS environment
    (stackops.local.emulator.environ(), applied by open_environment). Call it inside environment()."""
    from stackops.cli import open_environment
    from stackops.stack import stack_variables
    from stackops.terraform import Terraform

    env = open_environment("local")
    # The variables the tool passes (the tfvars, the renewal function's package): the package is
    # built when var_args() is first called, which the callers do before they start a clock.
    tf = Terraform(env, data_dir=data_dir, var_args=lambda: stack_variables(env))
    return tf, tf.environ()


def planned_changes(tf: Any, tf_env: dict[str, str], var_args: list[str], out: Path) -> list[str]:
    """A raw plan (untimed): each resource it would change, with the attributes that differ."""
    _, code = run(tf.command("plan", "-input=false", "-detailed-exitcode", f"-out={out}", *var_args), tf_env, (0, 2))
    if code == 0:
        return []
    shown = subprocess.run(tf.command("show", "-json", str(out)), env=tf_env, capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    changes = []
    for change in json.loads(shown).get("resource_changes", []):
        actions, before, after = change["change"]["actions"], change["change"]["before"], change["change"]["after"]
        if actions in (["no-op"], ["read"]):
            continue
        differing = sorted(
            k for k in {*(before or {}), *(after or {})} if (before or {}).get(k) != (after or {}).get(k)
        )
        changes.append(f"{change['address']} {'/'.join(actions)} ({', '.join(differing)})")
    return changes


def soak(runs: int) -> int:
    """N cold `inv up` + destroy cycles, each on a fresh emulator; failures, timings, lost answers."""
    from stackops.local.aws.request_trace import retried_successes

    inv = INV
    failures, lost, timings = 0, 0, []
    for run in range(1, runs + 1):
        state, env = private_state()
        try:
            started = time.monotonic()
            up = subprocess.run([*inv, "up"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
            up_seconds = time.monotonic() - started
            destroy = subprocess.run([*inv, "destroy", "--env", "local", "--confirm", "local"], cwd=ROOT, env=env,
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


def bench_up(env: dict[str, str]) -> None:
    """`inv up` from cold on this fresh private state; its emulator stays up for what follows."""
    up = timed([*INV, "up"], env)
    print(f"inv up from cold: {up:.1f} s (the apply mode compares it with a raw apply)", flush=True)


def bench_cert(env: dict[str, str]) -> None:
    cert = timed([*INV, "cert", "--env", "local", "--force"], env)
    print(f"inv cert --force on local (start to ACM import and SSM publish, whole command): {cert:.1f} s")


def bench_plan(state: Path, env: dict[str, str]) -> None:
    """No-op plans after an `inv up`: `inv plan --env local` against the raw `terraform plan` it runs,
    in the tool's data folder with the var-files it passes (the tfvars, then the running images)."""
    with environment(env):
        tf, tf_env = raw_terraform()
    images = tf.data_dir / "running-images.tfvars.json"  # written by the tool at each plan
    if not images.is_file():
        sys.exit(f"no {images}: the raw plan needs the running images the tool's plan writes (run inv up first)")
    raw_cmd = tf.command("plan", "-input=false", "-detailed-exitcode", f"-out={state / 'raw.tfplan'}",
                         *tf.var_args(), f"-var-file={images}")  # fmt: skip
    raw_env = {**tf_env, "TF_WORKSPACE": tf.workspace}
    wrapped, raw, codes = [], [], set()
    for _ in range(REPEATS):  # alternated, so a slower minute of the machine weighs on both
        wrapped.append(timed([*INV, "plan", "--env", "local"], env))
        seconds, code = run(raw_cmd, raw_env, (0, 2))
        raw.append(seconds)
        codes.add(code)
    w, r = statistics.median(wrapped), statistics.median(raw)
    print(f"no-op plan, median of {REPEATS}: inv plan {w:.2f} s, raw terraform plan {r:.2f} s, "
          f"ratio inv plan / raw {w / r:.2f} (target <= 1.10)", flush=True)  # fmt: skip
    if 2 in codes:
        print("  note: the raw plan was not empty (exit 2): the stack is not as `inv up` left it")


def bench_apply() -> None:
    """A raw init + apply of the local stack on one fresh emulator, then `inv up` from cold on another."""
    raw_state, raw_env = private_state()
    try:
        for args in (["local.up"], ["bootstrap", "--env", "local", "--yes"], ["secrets", "--env", "local"]):
            timed([*INV, *args], raw_env)  # what the apply needs, untimed
        with environment(raw_env):
            from stackops.terraform import backend_args

            tf, tf_env = raw_terraform(raw_state / "raw-terraform")
            backend = backend_args(tf.env)
        var_args = tf.var_args()  # -var-file=environments/local/variables.tfvars
        init = timed(tf.command("init", "-input=false", "-reconfigure", *backend), tf_env)
        init += timed(tf.command("workspace", "select", "-or-create=true", tf.workspace), tf_env)
        tf_env["TF_WORKSPACE"] = tf.workspace
        apply = timed(tf.command("apply", "-input=false", "-auto-approve", *var_args), tf_env)
        print(f"raw terraform on a fresh emulator: init {init:.1f} s, apply -auto-approve {apply:.1f} s", flush=True)
        left = planned_changes(tf, tf_env, var_args, raw_state / "check.tfplan")
        print(f"raw plan after the raw apply: {f'{len(left)} change(s)' if left else 'no changes'}", flush=True)
        for line in left:
            print(f"  {line}")
    finally:
        stop_emulator(raw_state, raw_env)
    up_state, up_env = private_state()  # after the first is stopped: one stack at a time on this machine
    try:
        up = timed([*INV, "up"], up_env)
    finally:
        stop_emulator(up_state, up_env)
    print(f"inv up from cold on another fresh emulator: {up:.1f} s; inv up / raw apply {up / apply:.2f} "
          f"(target <= 1.10), inv up / raw init + apply {up / (init + apply):.2f}")  # fmt: skip


def main(argv: list[str]) -> int:
    if argv[:1] == ["soak"]:
        count = argv[1] if len(argv) > 1 else "10"
        if not count.isdigit() or int(count) < 1:
            sys.exit(f"soak N: N is a number of runs, 1 or more, not {count!r}")
        return soak(int(count))
    modes = ("plans", "up", "plan", "apply")
    unknown = [arg for arg in argv if arg not in modes]
    if unknown:
        sys.exit(f"unknown mode(s) {', '.join(unknown)}: choose from {', '.join(modes)}, or soak N")
    wanted = set(argv) or {"plans", "up", "plan"}
    if "plans" in wanted:
        bench_plans()
    if "up" in wanted or "plan" in wanted:
        state, env = private_state()
        try:
            if "up" in wanted:
                bench_up(env)
            else:
                timed([*INV, "up"], env)
            if "plan" in wanted:
                bench_plan(state, env)  # before the certificate changes: the plans are no-ops
            if "up" in wanted:
                bench_cert(env)
        finally:
            stop_emulator(state, env)
    if "apply" in wanted:
        bench_apply()
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
