"""The Terraform-facing operations on an environment's stack: `inv plan|apply|destroy|drift|output|tf`.

Each checks, before Terraform runs, what would otherwise fail late or obscurely: Terraform on the
PATH, the state bucket, the catalogue's secrets. The environment is opened (loaded, pointed at the
embedded AWS when it is the emulated one, account-guarded) by the entry point: `stackops.cli`.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stackops import ui
from stackops.app_secrets.catalogue import load_catalogue
from stackops.app_secrets.sync import missing_secrets
from stackops.bootstrap import state_bucket_exists
from stackops.confirm import confirm
from stackops.db.instance import DatabaseRef
from stackops.ecs.layout import EcsLayout
from stackops.ecs.results import print_results, raise_on_failure
from stackops.ecs.terraform_revisions import (
    NewRevision,
    new_revisions,
    refuse_to_shadow_unreleased,
    roll_out,
    running_images,
)  # fmt: skip
from stackops.environments import Environment
from stackops.errors import EXIT_REFUSED, OpsError, Refused, aws_errors
from stackops.jobs.catalogue import check_environment as check_jobs
from stackops.jobs.command import JobsLayout
from stackops.parallel import together
from stackops.plan_review import destructive_planned
from stackops.report import print_plan_summary, write_review
from stackops.state_object import outputs_of, read_state
from stackops.terraform import PlanResult, Terraform, terraform_binary
from stackops.ui import err

# Terraform commands that take the environment's -var-file (validate does not).
VAR_FILE_COMMANDS = ("plan", "apply", "destroy", "import", "console", "refresh")


def require_state_bucket(env: Environment) -> None:
    """Before Terraform touches the backend: refuse (exit 2) a state bucket that another account owns
    (Terraform's S3 backend never checks, and would read and write the state there), and name the
    fix when it is gone (Terraform would otherwise fail at init). Terraform's init is then given
    exactly this bucket (-backend-config=bucket=..., stackops.terraform)."""
    if not state_bucket_exists(env):
        message = (
            f"the state bucket {env.state_bucket} does not exist in account {env.master_account_id}: "
            f"run inv bootstrap --env {env.name} (if it held state, restore that first: a new bucket is empty)"
        )
        if not env.state_bucket_named:  # the default name: perhaps a deployment from before it
            message += (
                f"; a deployment whose state is in another bucket (the former default was "
                f'{env.project}-terraform-state) names it: bucket = "NAME" in {env.backend_path}'
            )
        raise OpsError(message)


def stack(env: Environment, *, bucket_checked: bool = False, variables: list[str] | None = None) -> Terraform:
    """The environment's stack, initialised with its backend and workspace; `variables`: what
    `stack_variables` returned, when the caller has it already (else it is asked when first needed)."""
    if not bucket_checked:
        require_state_bucket(env)
    tf = Terraform(env, var_args=variables if variables is not None else lambda: stack_variables(env))
    tf.init()
    return tf


def stack_variables(env: Environment) -> list[str]:
    """What every plan of the stack is given: the environment's tfvars, and the renewal function's
    package (built for the environment when its inputs changed; stackops/certs/package.py), by
    its path from the root, so plans from two checkouts agree. First the jobs catalogue is
    checked (jobs.tf reads it): a bad job is refused here, naming it, before any plan."""
    from stackops.certs.package import renewer_package

    check_jobs(env)
    package = renewer_package(env)
    return [f"-var-file={env.tfvars_path}", f"-var=cert_renewer_package={package.path.relative_to(env.root)}"]


def require_secrets(env: Environment) -> None:
    """Refuse early, with the fix, when catalogue secrets are missing (Terraform looks them up by name)."""
    missing = missing_secrets(env.session(), env.secret_prefix, load_catalogue())
    if missing:
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise OpsError(
            f"{len(missing)} secret(s) of {env.name} do not exist yet ({shown}): run inv secrets --env {env.name}"
        )


@dataclass(frozen=True)
class PlanInputs:
    """What a plan of the stack is given besides the tfvars: the image each service runs now."""

    args: list[str]  # the -var-file holding running_images
    images: dict[str, str]  # service key -> image
    layout: EcsLayout | None  # None before the services exist


def current_outputs(env: Environment, tf: Terraform) -> dict[str, Any]:
    """The outputs of the state as it is (`current_state`)."""
    return outputs_of(current_state(env, tf))


def current_state(env: Environment, tf: Terraform) -> dict[str, Any]:
    """The state as it is: straight from the state object, else `terraform state pull`."""
    state = read_state(env)
    return state if state is not None else tf.state()


# The services' layout (None before they exist) and the image each runs.
RunningImages = tuple[EcsLayout | None, dict[str, str]]


def plan_inputs(env: Environment, tf: Terraform, read: RunningImages | None = None) -> PlanInputs:
    """Read from ECS the image each service runs (root variable running_images), so a revision
    Terraform registers keeps the image the pipelines deployed; empty before the first apply.
    `read`: what `running_images_of` returned already (`prepare` reads it beside its checks)."""
    layout, images = read or running_images_of(env, current_outputs(env, tf))
    path = tf.data_dir / "running-images.tfvars.json"
    path.write_text(json.dumps({"running_images": images}, indent=2, sort_keys=True) + "\n")
    return PlanInputs([f"-var-file={path}"], images, layout)


def running_images_of(env: Environment, outputs: dict[str, Any]) -> RunningImages:
    """The services' layout from the stack's outputs (None before they exist) and the image each runs."""
    try:
        layout: EcsLayout | None = EcsLayout.from_output(outputs, env=env.name)
    except OpsError:  # nothing applied yet, or not as far as the services
        return None, {}
    with aws_errors("read the images the services run"):
        return layout, running_images(env.session().client("ecs"), layout)


def prepare(env: Environment, *, destroy: bool = False) -> tuple[Terraform, PlanInputs]:
    """What a plan needs, checked before Terraform runs: the state bucket's owner and the
    catalogue's secrets, at the same time as the state object and the images the services run
    are read, and the stack's variables made (the jobs checked, the renewal package's digest);
    then init (cached)."""
    terraform_binary()  # a missing Terraform is reported before anything else is checked
    checks: list[Callable[[], Any]] = [lambda: require_state_bucket(env)]
    if not destroy:
        checks.append(lambda: require_secrets(env))

    def images() -> RunningImages | None:  # None: no state object (then Terraform is asked, after init)
        state = None if destroy else read_state(env)
        return running_images_of(env, outputs_of(state)) if state is not None else None

    *_, read, variables = together(*checks, images, lambda: stack_variables(env))
    tf = stack(env, bucket_checked=True, variables=variables)
    if destroy:
        return tf, PlanInputs([], {}, None)
    return tf, plan_inputs(env, tf, read=read)


REVIEW_FORMATS = ("markdown", "json")


def plan(env: Environment, *, destroy: bool = False, review: str | None = None, out: str | None = None) -> PlanResult:
    """Plan and print the summary; with `review`, also write the review summary (to `out`, else stdout)."""
    if review is not None and review not in REVIEW_FORMATS:
        raise OpsError(f"--format takes {' or '.join(REVIEW_FORMATS)}, not {review!r}")
    tf, inputs = prepare(env, destroy=destroy)
    result = tf.plan(destroy=destroy, extra=inputs.args)
    try:
        # With the review on stdout, the table goes to stderr: stdout is then the review alone.
        console = ui.err if review and not out else None
        print_plan_summary(env, result, "destroy" if destroy else "plan", console=console)
        if review is not None:
            write_review(env, tf, result, review, out)
    except BaseException:
        result.discard()  # a saved plan holds every value in plain text: never left behind
        raise
    return result


def refused_replacements(env: Environment, plan: PlanResult, allowed: Sequence[str], *, destroy: bool = False) -> str:
    """Why the plan needs the environment's name typed, or "": it replaces or destroys a stateful
    resource (the database, a bucket, the hosted zone...) that --allow-replace does not name (a
    destroy names none: its name is typed, or nothing goes)."""
    unnamed = [d for d in destructive_planned(plan.changing()) if d.stateful and d.address not in allowed]
    if not unnamed:
        return ""
    listing = ", ".join(f"{d.address} ({d.action})" for d in unnamed[:SHOWN_STATEFUL])
    if len(unnamed) > SHOWN_STATEFUL:
        listing += f" and {len(unnamed) - SHOWN_STATEFUL} more"
    if destroy:
        return f"the destroy deletes {len(unnamed)} stateful resource(s): {listing}"
    allow = " ".join(f"--allow-replace {shlex.quote(d.address)}" for d in unnamed)
    return (
        f"the plan replaces or destroys stateful resources: {listing}; to allow exactly them with --yes: "
        f"inv apply --env {env.name} --yes {allow}"
    )


SHOWN_STATEFUL = 6


def apply(
    env: Environment,
    *,
    yes: bool = False,
    typed: str | None = None,
    ask: Callable[[str], str] = input,
    destroy: bool = False,
    rollout: bool = True,
    timeout: float = 600,
    allow_replace: Sequence[str] = (),
) -> bool:
    """Plan, show the summary, confirm, then apply exactly that saved plan. Returns True if applied.

    A plan that replaces or destroys a stateful resource needs the environment's name typed, even
    with --yes, unless --allow-replace names each such address (a destroy's: always). When the
    apply registered a new task definition revision for an existing service, the service is
    rolled onto it and the rollout judged as `inv refresh` judges it (OpsError naming the service
    if it fails); with rollout=False it is left for `inv refresh`.
    """
    terraform_binary()
    action = "destroy" if destroy else "apply"
    if destroy and env.is_production and typed is None and not sys.stdin.isatty():
        # Fail before planning: an automation run cannot type the name, and --yes alone is not enough.
        confirm(env, action, yes=yes, interactive=False)
    if typed is not None and typed != env.name:
        # A --confirm naming another environment can never be accepted: refuse before planning anything.
        confirm(env, action, typed=typed)
    tf, inputs = prepare(env, destroy=destroy)
    result = tf.plan(destroy=destroy, extra=inputs.args)
    print_plan_summary(env, result, action)
    if not result.has_changes:
        result.discard()
        return False
    try:
        changes = [] if destroy else terraform_revisions(tf, result)
        if changes and inputs.layout is not None:
            with aws_errors("look for revisions not released yet"):
                refuse_to_shadow_unreleased(env.session().client("ecs"), inputs.layout, changes)
        because = refused_replacements(env, result, allow_replace, destroy=destroy)
        confirm(env, action, yes=yes, typed=typed, ask=ask, name_needed_because=because)
    except BaseException:
        result.discard()
        raise
    try:
        tf.apply(result)
    except OpsError as exc:
        if changes:  # revisions may be registered already; nothing rolls them out
            services = ", ".join(c.service for c in changes)
            raise OpsError(f"{exc}; new task definition revisions of {services} may be registered but not "
                           f"rolled out: after fixing, inv apply --env {env.name}, or inv refresh --env {env.name}",
                           exit_code=exc.exit_code) from None  # fmt: skip
        raise
    if changes and not rollout:
        for change in changes:
            err.print(
                f"{change.service}: Terraform registered a new revision ({change.reason}), not rolled out"
                f" (--no-rollout): inv refresh --env {env.name} --service {change.service} rolls it out"
            )
    elif changes:
        layout = EcsLayout.from_state(current_state(env, tf), env=env.name)
        results = roll_out(env.session(), layout, changes, inputs.images, timeout=timeout)
        print_results(results)
        raise_on_failure(results)
    return True


def terraform_revisions(tf: Terraform, plan: PlanResult) -> list[NewRevision]:
    """The services whose task definition the plan registers anew; `terraform show -json` (for
    which attributes changed) is read only when the stream shows a task definition replaced."""
    if not any(c.type == "aws_ecs_task_definition" for c in plan.changing()):
        return []
    return new_revisions(tf.plan_details(plan))


# What a new certificate ARN changes: the load balancers' listeners (HTTPS created or pointed at
# the new certificate, HTTP turned into a redirect). Planned with -target, so nothing else
# pending in the stack goes out with a certificate renewal.
CERTIFICATE_TARGET = "module.alb"
CERTIFICATE_RESOURCE_TYPES = ("aws_lb_listener",)


def apply_certificate(env: Environment, *, yes: bool = False, ask: Callable[[str], str] = input) -> bool:
    """Apply only the listeners' certificate; refuse (exit 2), naming them, when the targeted plan
    holds any other change. Returns True if applied."""
    tf, inputs = prepare(env)
    result = tf.plan(extra=[*inputs.args, f"-target={CERTIFICATE_TARGET}"])
    print_plan_summary(env, result, "certificate")
    changes = result.changing()
    others = sorted(c.address for c in changes if c.type not in CERTIFICATE_RESOURCE_TYPES)
    try:
        if others:
            shown = ", ".join(others[:6]) + (", ..." if len(others) > 6 else "")
            raise Refused(
                f"refused: attaching the certificate would also change {len(others)} other resource(s) of "
                f"{env.name} ({shown}); nothing was applied. Review them with inv plan --env {env.name}, then "
                f"inv apply --env {env.name}, which attaches the certificate too (the ARN is published: inv cert "
                "will not apply it again)"
            )
        if not changes:
            return False
        confirm(env, "apply", yes=yes, ask=ask)
    except BaseException:
        result.discard()
        raise
    tf.apply(result)
    return True


def drift(env: Environment) -> int:
    """0 when live infrastructure matches the code; 2 (for a scheduled job) when it differs."""
    tf, inputs = prepare(env)
    # A full plan (refresh included) sees both changes made behind Terraform's back and code not yet applied.
    result = tf.plan(extra=inputs.args)
    result.discard()
    print_plan_summary(env, result, "drift")
    return EXIT_REFUSED if result.has_changes else 0


def outputs(env: Environment) -> dict[str, Any]:
    values = current_outputs(env, stack(env))
    if not values:
        raise OpsError(f"{env.name} has no outputs yet: run inv apply --env {env.name} first")
    return values


# Passthrough commands that change infrastructure or state: confirmed as inv apply/destroy are.
# `refresh` is `apply -refresh-only -auto-approve`: it writes the state.
CHANGING_COMMANDS = ("apply", "destroy", "import", "refresh", "taint", "untaint", "force-unlock")
CHANGING_SUBCOMMANDS = {"state": ("rm", "mv", "push", "replace-provider"), "workspace": ("delete",)}
STATE_MOVING_INIT_FLAGS = ("-migrate-state", "-force-copy")  # init copying state between backends


def _flags(words: Sequence[str]) -> dict[str, str]:
    """Terraform's flags as name -> value ("true" when bare); `--x` is read as `-x`, as Terraform does."""
    flags = {}
    for word in words:
        if word.startswith("-"):
            name, _, value = ("-" + word.lstrip("-")).partition("=")
            flags[name] = value or "true"
    return flags


def changing_action(args: Sequence[str]) -> str | None:
    """What a passthrough command changes, as the confirmation names it ("destroy", "state rm"), or None."""
    command, rest = args[0], list(args[1:])
    flags = _flags(rest)
    if command == "destroy" or (command == "apply" and flags.get("-destroy", "false").lower() in ("true", "1")):
        return "destroy"  # prod: the name typed, --yes alone refused, as for inv destroy
    if command == "apply" and any(not word.startswith("-") for word in rest):
        return "apply a saved plan"  # it may be a destroy plan: on prod, the name typed too
    if command in CHANGING_COMMANDS:
        return command
    if command == "init" and any(flag in flags for flag in STATE_MOVING_INIT_FLAGS):
        return "init moving the state"
    if rest and rest[0] in CHANGING_SUBCOMMANDS.get(command, ()):
        return f"{command} {rest[0]}"
    return None


def passthrough(
    env: Environment,
    args: Sequence[str],
    *,
    yes: bool = False,
    typed: str | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    """`inv tf --env E -- ARGS`: terraform in the environment's workspace; var-file added where it applies.

    A command that changes infrastructure or state is confirmed first, before anything runs, with
    the rules of inv apply/destroy (Terraform's own -auto-approve is not a confirmation of ours).
    """
    if not args:
        raise OpsError("nothing to run: inv tf --env ENV -- COMMAND [ARGS...]")
    action = changing_action(args)
    if action is not None:
        confirm(env, action, yes=yes, typed=typed, ask=ask)
    tf = stack(env)
    extra = [*tf.var_args(), *plan_inputs(env, tf).args] if args[0] in VAR_FILE_COMMANDS else []
    return tf.run(args[0], *extra, *args[1:], check=False).returncode


def jobs_layout(env: Environment) -> JobsLayout:
    """The scheduled jobs Terraform created (its `jobs` output) and where they run."""
    return JobsLayout.from_outputs(current_outputs(env, stack(env)), env=env.name)


def ecs_layout(env: Environment) -> EcsLayout:
    """The services, task definition families and cluster Terraform created (its `ecs` output),
    and the revision its state tracks per family; one read of the state."""
    return EcsLayout.from_state(current_state(env, stack(env)), env=env.name)


def ecs_and_database(env: Environment) -> tuple[EcsLayout, DatabaseRef]:
    """`ecs_layout` and the database (its `database` output), from one read of the state."""
    state = current_state(env, stack(env))
    return EcsLayout.from_state(state, env=env.name), DatabaseRef.from_state(state, env=env.name)


def database(env: Environment) -> DatabaseRef:
    """The database instance and the tool's snapshot retention, from the `database` output."""
    return DatabaseRef.from_state(current_state(env, stack(env)), env=env.name)
