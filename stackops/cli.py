"""What the entry points (tasks.py, bin/create-secrets.py, bin/benchmark.py) do before an operation.

`open_environment` loads an environment, points this process at the embedded AWS when the
environment is the emulated one (`point_at_emulator`), and runs the account guard
(bin/create-secrets.py only points at the emulator: its account guard is an open item). This is
the one module outside `stackops.local` that may import it: the place where "emulated or real" is
decided, so that no operation module has to know (tests/unit/test_layout.py holds the rule).
"""

from __future__ import annotations

import shlex
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


def passthrough_args(remainder: str, argv: Sequence[str] | None = None) -> list[str]:
    """The words after `--`, exactly as the shell passed them.

    invoke's `remainder` joins them with spaces, so `'module.bucket["staging"]'` would lose its
    quotes when split again: the words are read from the command line, and the remainder is only
    split when that command line is not the one invoke parsed (invoke run from Python).
    """
    argv = list(sys.argv if argv is None else argv)
    words = argv[argv.index("--") + 1 :] if "--" in argv else []
    return words if " ".join(words) == remainder else shlex.split(remainder)
