"""What the entry points (tasks.py, bin/create-secrets.py, bin/benchmark.py) do before an operation.

`open_environment` loads an environment, points this process at the embedded AWS when the
environment is the emulated one (`point_at_emulator`), and runs the account guard
(bin/create-secrets.py, which picks its environment from AWS_PROFILE, does the last two itself). This is
the one module outside `stackops.local` that may import it: the place where "emulated or real" is
decided, so that no operation module has to know (tests/unit/test_layout.py holds the rule).
"""

from __future__ import annotations

import atexit
import functools
import gc
import math
import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stackops import environments
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.guard import check_accounts

# Net allocations between the garbage collector's youngest-generation passes (Python's default: 700).
COLLECT_EVERY = 100_000


@functools.cache  # once per process
def tune_garbage_collector() -> None:
    """For a command's process (tasks.py's `operation`, before the task runs): Python's collector
    runs less often, and its last pass over what the command made is left out at exit.

    A command allocates mostly objects that live until it exits (modules, botocore's models, the
    state it read). At the default threshold the collector walked that growing heap some 300
    times before Terraform started, and the interpreter collected it whole once more at exit
    (measured when this was written, on a no-op `inv plan --env local`: 0.08 s and 0.1 s of its
    0.7 s overhead). It still collects every COLLECT_EVERY allocations, so a long `inv up` or
    `inv logs --follow` keeps its memory bounded. At exit, `gc.freeze` (atexit: before the
    interpreter's teardown) puts the objects out of that last pass: cyclic garbage among them is
    not finalised, which nothing here needs (the package closes its files itself, with blocks;
    atexit's other handlers still run; stdout and stderr are flushed after them)."""
    gc.set_threshold(COLLECT_EVERY, *gc.get_threshold()[1:])
    atexit.register(gc.freeze)


def point_at_emulator(env: Environment) -> None:
    """For the emulated environment: AWS access (boto3, the AWS CLI, Terraform) goes to the running emulator."""
    if env.emulated:
        from stackops.local import emulator

        emulator.activate(profiles=bool(env.profile or env.master_profile))


def open_environment(name: str | None, *, guard: bool = True) -> Environment:
    """Load an environment, point AWS access at the emulator when it is the emulated one, and
    run the account guard (exit 2 on a profile in the wrong account) before anything else."""
    env = environments.load(name)
    point_at_emulator(env)
    if guard:
        check_accounts(env)
    return env


def profiles_of(name: str | None) -> list[str | None]:
    """The AWS profiles of environment `name`, for the fix an AWS error's line names; none if unknown."""
    try:
        env = environments.load(name)
    except OpsError:
        return []
    return [env.profile, env.master_profile]


def passthrough_args(remainder: str, argv: Sequence[str] | None = None) -> list[str]:
    """The words after `--`, exactly as the shell passed them.

    invoke's `remainder` joins them with spaces, so `'module.bucket["staging"]'` would lose its
    quotes when split again: the words are read from the command line, and the remainder is only
    split when that command line is not the one invoke parsed (invoke run from Python).
    """
    argv = list(sys.argv if argv is None else argv)
    words = argv[argv.index("--") + 1 :] if "--" in argv else []
    return words if " ".join(words) == remainder else shlex.split(remainder)


def positive(value: object, flag: str, *, default: float, unit: str = "seconds") -> float:
    """A number a flag takes (invoke hands it over as text): finite and greater than 0, else OpsError.

    The tasks declare these flags with a None default, so that invoke does not cast them itself
    (its int() cast ends in a traceback on `--timeout 1.5` or `--timeout abc`).
    """
    if value is None:
        return default
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise OpsError(f"{flag} takes a number of {unit} greater than 0, not {value!r}")
    return number


def positive_count(value: object, flag: str, *, default: int) -> int:
    """A whole number greater than 0 (counts), else OpsError naming the flag."""
    if value is None:
        return default
    if not str(value).strip().isdigit() or int(str(value)) == 0:
        raise OpsError(f"{flag} takes a whole number greater than 0, not {value!r}")
    return int(str(value))


def renewer_invoker(env: Environment) -> Callable[[Environment, str], tuple[dict[str, Any], bool, str]]:
    """How `inv cert.renewer` runs the function: Lambda's Invoke, or for the embedded AWS (which has
    no Lambda runtime) its package in a local process."""
    if env.emulated:
        from stackops.local.lambda_runner import run_deployed

        return run_deployed
    from stackops.certs.renewer_command import invoke_in_lambda

    return invoke_in_lambda
