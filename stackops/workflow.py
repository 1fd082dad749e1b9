"""The Terraform-facing operations behind `inv plan|apply|destroy|drift|output|tf|bootstrap`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.table import Table

from stackops import environments, ui
from stackops.confirm import confirm
from stackops.environments import Environment
from stackops.errors import EXIT_REFUSED, OpsError
from stackops.guard import check_accounts
from stackops.terraform import PlanResult, Terraform, terraform_binary

# Terraform commands that take the environment's -var-file (validate does not).
VAR_FILE_COMMANDS = ("plan", "apply", "destroy", "import", "console", "refresh")


def open_environment(name: str | None, *, guard: bool = True) -> Environment:
    """Load an environment, point AWS access at the emulator when it is the emulated one, and
    run the account guard (exit 2 on a profile in the wrong account) before anything else."""
    env = environments.load(name)
    if env.emulated:
        from stackops import emulator

        emulator.activate()
    if guard:
        check_accounts(env)
    return env


def require_state_bucket(env: Environment) -> None:
    """Refuse with the fix when the state bucket is gone (Terraform would otherwise fail at init)."""
    from stackops.bootstrap import bucket_exists

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


def print_plan_summary(env: Environment, plan: PlanResult, action: str = "apply") -> None:
    if not plan.has_changes or plan.summary is None:
        ui.out.print(f"[bold]{env.name}[/]: no changes; the infrastructure matches the code.")
        return
    table = Table(title=f"{action} {env.name}: planned changes by resource type")
    for column in ("resource type", "add", "change", "destroy"):
        table.add_column(column, justify="left" if column == "resource type" else "right")
    for kind, adds, changes, destroys in plan.summary.rows():
        table.add_row(kind, str(adds or ""), str(changes or ""), str(destroys or ""))
    s = plan.summary
    table.caption = (
        f"{sum(s.adds.values())} to add, {sum(s.changes.values())} to change, {sum(s.destroys.values())} to destroy"
    )
    ui.out.print(table)


def require_secrets(env: Environment) -> None:
    """Refuse early, with the fix, when catalogue secrets are missing (Terraform looks them up by name)."""
    from stackops import secrets

    missing = secrets.missing_secrets(env.session(), env.secret_prefix, secrets.load_catalogue())
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


def print_outputs(values: dict[str, Any], only: Sequence[str] | None = None) -> None:
    table = Table(title="outputs")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for name, value in sorted(values.items()):
        if only is not None and name not in only:
            continue
        text = "\n".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        table.add_row(name, text)
    ui.out.print(table)
