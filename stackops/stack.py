"""The Terraform-facing operations on an environment's stack: `inv plan|apply|destroy|drift|output|tf`.

Each checks, before Terraform runs, what would otherwise fail late or obscurely: Terraform on the
PATH, the state bucket, the catalogue's secrets. The environment is opened (loaded, pointed at the
embedded AWS when it is the emulated one, account-guarded) by the entry point: `stackops.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from stackops.app_secrets.catalogue import load_catalogue
from stackops.app_secrets.sync import missing_secrets
from stackops.bootstrap import bucket_exists
from stackops.confirm import confirm
from stackops.ecs.layout import EcsLayout
from stackops.environments import Environment
from stackops.errors import EXIT_REFUSED, OpsError
from stackops.report import print_plan_summary
from stackops.terraform import PlanResult, Terraform, terraform_binary

# Terraform commands that take the environment's -var-file (validate does not).
VAR_FILE_COMMANDS = ("plan", "apply", "destroy", "import", "console", "refresh")


def require_state_bucket(env: Environment) -> None:
    """Refuse with the fix when the state bucket is gone (Terraform would otherwise fail at init)."""
    if not bucket_exists(env.session(master=True).client("s3"), env.state_bucket):
        raise OpsError(
            f"the state bucket {env.state_bucket} does not exist in account {env.master_account_id}: "
            f"run inv bootstrap --env {env.name} (if it held state, restore that first: a new bucket is empty)"
        )


def stack(env: Environment, *, bucket_checked: bool = False) -> Terraform:
    """The environment's stack, initialised with its backend and workspace."""
    if not bucket_checked:
        require_state_bucket(env)
    tf = Terraform(env)
    tf.init()
    return tf


def require_secrets(env: Environment) -> None:
    """Refuse early, with the fix, when catalogue secrets are missing (Terraform looks them up by name)."""
    missing = missing_secrets(env.session(), env.secret_prefix, load_catalogue())
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise OpsError(
            f"{len(missing)} secret(s) of {env.name} do not exist yet ({shown}): run inv secrets --env {env.name}"
        )


def plan(env: Environment, *, destroy: bool = False) -> PlanResult:
    terraform_binary()  # a missing Terraform is reported before anything else is checked
    require_state_bucket(env)
    if not destroy:
        require_secrets(env)
    tf = stack(env, bucket_checked=True)
    result = tf.plan(destroy=destroy)
    print_plan_summary(env, result, "destroy" if destroy else "plan")
    return result


def apply(
    env: Environment,
    *,
    yes: bool = False,
    typed: str | None = None,
    ask: Callable[[str], str] = input,
    destroy: bool = False,
) -> bool:
    """Plan, show the summary, confirm, then apply exactly that saved plan. Returns True if applied."""
    terraform_binary()
    action = "destroy" if destroy else "apply"
    if destroy and env.is_production and typed is None and not sys.stdin.isatty():
        # Fail before planning: an automation run cannot type the name, and --yes alone is not enough.
        confirm(env, action, yes=yes, interactive=False)
    if typed is not None and typed != env.name:
        # A --confirm naming another environment can never be accepted: refuse before planning anything.
        confirm(env, action, typed=typed)
    require_state_bucket(env)
    if not destroy:
        require_secrets(env)
    tf = stack(env, bucket_checked=True)
    result = tf.plan(destroy=destroy)
    print_plan_summary(env, result, action)
    if not result.has_changes:
        result.path.unlink(missing_ok=True)
        return False
    try:
        confirm(env, action, yes=yes, typed=typed, ask=ask)
    except Exception:
        result.path.unlink(missing_ok=True)
        raise
    tf.apply(result)
    return True


def drift(env: Environment) -> int:
    """0 when live infrastructure matches the code; 2 (for a scheduled job) when it differs."""
    tf = stack(env)
    # A full plan (refresh included) sees both changes made behind Terraform's back and code not yet applied.
    result = tf.plan()
    result.path.unlink(missing_ok=True)
    print_plan_summary(env, result, "drift")
    return EXIT_REFUSED if result.has_changes else 0


def outputs(env: Environment) -> dict[str, Any]:
    tf = stack(env)
    values = tf.outputs()
    if not values:
        raise OpsError(f"{env.name} has no outputs yet: run inv apply --env {env.name} first")
    return values


def passthrough(env: Environment, args: Sequence[str]) -> int:
    """`inv tf --env E -- ARGS`: terraform in the environment's workspace; var-file added where it applies."""
    if not args:
        raise OpsError("nothing to run: inv tf --env ENV -- COMMAND [ARGS...]")
    tf = stack(env)
    extra = tf.var_args() if args[0] in VAR_FILE_COMMANDS else []
    return tf.run(args[0], *extra, *args[1:], check=False).returncode


def ecs_layout(env: Environment) -> EcsLayout:
    """The services, task definition families and cluster Terraform created (its `ecs` output)."""
    return EcsLayout.from_output(outputs(env), env=env.name)
