"""What every entry point (tasks.py, bin/create-secrets.py, bin/benchmark.py) does before an operation.

`open_environment` loads an environment, points this process at the embedded AWS when the
environment is the emulated one, and runs the account guard. This is the one module outside
`stackops.local` that may import it: the place where "emulated or real" is decided, so that no
operation module has to know (tests/unit/test_layout.py holds the rule).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stackops import environments
from stackops.environments import Environment
from stackops.guard import check_accounts


def point_at_emulator(env: Environment) -> None:
    """For the emulated environment: AWS access (boto3, the AWS CLI, Terraform) goes to the running emulator."""
    if env.emulated:
        from stackops.local import emulator

        emulator.activate()


def open_environment(name: str | None, *, guard: bool = True) -> Environment:
    """Load an environment, point AWS access at the emulator when it is the emulated one, and
    run the account guard (exit 2 on a profile in the wrong account) before anything else."""
    env = environments.load(name)
    point_at_emulator(env)
    if guard:
        check_accounts(env)
    return env


def passthrough_args(argv: Sequence[str] | None = None) -> list[str]:
    """The words after `--`, exactly as the shell passed them. (invoke's `remainder` joins them with
    spaces, so `'module.bucket["staging"]'` would lose its quotes when split again.)"""
    argv = list(sys.argv if argv is None else argv)
    return argv[argv.index("--") + 1 :] if "--" in argv else []
