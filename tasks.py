"""Every operation on the exii stack, as invoke tasks. `inv --list` is the table of contents;
`inv --help TASK` explains each flag. The logic lives in the `stackops` package."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from invoke import Collection, Exit, task

from stackops import retries, run_logs, ui
from stackops.errors import OpsError, aws_error_message, is_aws_error

ENV_HELP = "environment name: a folder of environments/ (dev, prod, local); never guessed for dev or prod"
VERBOSE_HELP = "stream Terraform's own output instead of the progress view (or STACK_VERBOSE=1)"
SNAPSHOT_HELP = "--no-snapshot: migrate without the database snapshot taken first (prod: also --confirm prod)"
SKIP_SNAPSHOT_CONFIRM_HELP = "the environment's name typed out: prod needs it with --no-snapshot"
YES_HELP = "do not ask for confirmation (automation); prod destroy still needs --confirm prod"


def operation(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Set the AWS retry mode and the garbage collector's pace, then turn the package's errors, and
    any AWS or botocore error that reached the task, into a one-line message and the documented
    exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from stackops.cli import tune_garbage_collector

        retries.configure()
        tune_garbage_collector()
        ui.set_verbose(bool(kwargs.pop("verbose", False)))
        run_logs.begin(fn.__name__.replace("_", "-"))
        try:
            code = fn(*args, **kwargs)
        except OpsError as exc:
            raise Exit(f"{logs_line()}error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit(f"{logs_line()}interrupted", code=130) from None
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            from stackops.cli import profiles_of

            message = aws_error_message(exc, profiles=profiles_of(kwargs.get("env")))
            raise Exit(f"{logs_line()}error: {message}", code=1) from None
        for path in run_logs.opened():
            ui.err.print(f"full log: {path}", soft_wrap=True, markup=False)
        if isinstance(code, int) and code:
            raise Exit(code=code)

    return wrapper


def logs_line() -> str:
    """Where the command's full Terraform log is, as the line before its last."""
    return "".join(f"full log: {path}\n" for path in run_logs.opened())


# -- the embedded AWS ---------------------------------------------------------------------------


@task(name="up")
@operation
def local_up(c):
    """Start the emulated AWS (moto server), the local ACME server (pebble) and its DNS bridge."""
    from stackops.local import emulator

    status = emulator.start()
    ui.out.print(f"emulated AWS at {status.endpoint}; accounts {status.accounts}")


@task(name="down")
@operation
def local_down(c):
    """Stop the emulated AWS and the local ACME server (their data is in memory and is lost)."""
    from stackops.local import emulator

    ui.out.print("stopped" if emulator.stop() else "the emulated AWS was not running")


@task(name="reset")
@operation
def local_reset(c):
    """Throw the emulated AWS away and start it again, empty (the way out of a half-failed apply)."""
    from stackops.local import emulator

    status = emulator.reset()
    ui.out.print(f"emulated AWS started afresh at {status.endpoint}; run inv up to deploy the stack again")


@task(name="status", help={"json": 'print {"endpoint": URL, "accounts": {"master": ID, "local": ID}}'})
@operation
def local_status(c, json=False):
    """Show whether the emulated AWS runs, its endpoint and account ids (exit 1 when it is down)."""
    import json as jsonlib

    from stackops.local import emulator

    status = emulator.status()
    if status is None:
        raise OpsError("the emulated AWS is not running: start it with inv local.up")
    if json:
        print(jsonlib.dumps(status.to_json()))
    else:
        ui.out.print(f"endpoint {status.endpoint}\naccounts {status.accounts}")


# -- the state backend and the stack ------------------------------------------------------------


@task(
    help={
        "env": "the environment whose backend.hcl names the bucket and table; default: the one backend "
        "that dev and prod share (exiimaster)",
        "yes": YES_HELP,
        "verbose": VERBOSE_HELP,
    }
)
@operation
def bootstrap(c, env=None, yes=False, verbose=False):
    """Create or adopt the Terraform state bucket and lock table in the master account (tf-init/)."""
    from stackops.bootstrap import bootstrap as run_bootstrap
    from stackops.bootstrap import shared_backend_environment
    from stackops.cli import open_environment

    run_bootstrap(open_environment(env or shared_backend_environment(), guard=False), yes=yes)


@task(
    help={
        "env": ENV_HELP,
        "format": "also write a review summary: markdown (a pull-request comment) or json (for scripts)",
        "out": "the file the --format summary goes to (default: stdout)",
        "verbose": VERBOSE_HELP,
    }
)
@operation
def plan(c, env=None, format=None, out=None, verbose=False):
    """Plan the environment and show a summary of the changes (nothing is changed)."""
    from stackops import cli, stack

    stack.plan(cli.open_environment(env), review=format, out=out).discard()


@task(
    help={
        "env": ENV_HELP,
        "yes": YES_HELP,
        "confirm": "type the environment's name non-interactively",
        "rollout": "roll a service onto the task definition revision the apply registered for it, and wait"
        " (default); --no-rollout leaves that to inv refresh",
        "timeout": "seconds to wait for each such rollout before failing (default 600)",
        "allow-replace": "a stateful resource (database, bucket, hosted zone...) the plan may replace or destroy"
        " with --yes alone, by its address; repeat for each (otherwise the environment's name must be typed)",
        "verbose": VERBOSE_HELP,
    },
    iterable=["allow_replace"],
)
@operation
def apply(c, env=None, yes=False, confirm=None, rollout=True, timeout=None, allow_replace=None, verbose=False):
    """Plan, show the summary, confirm (prod: type its name), apply exactly that plan, roll out new revisions."""
    from stackops import cli, stack

    seconds = cli.positive(timeout, "--timeout", default=600)
    stack.apply(
        cli.open_environment(env), yes=yes, typed=confirm, rollout=rollout, timeout=seconds,
        allow_replace=allow_replace or (),
    )  # fmt: skip


@task(
    help={
        "env": ENV_HELP,
        "yes": YES_HELP,
        "confirm": "the environment's name, typed (required for prod)",
        "verbose": VERBOSE_HELP,
    }
)
@operation
def destroy(c, env=None, yes=False, confirm=None, verbose=False):
    """Destroy the environment's stack (the state backend stays). Prod needs its name typed."""
    from stackops import cli, stack

    stack.apply(cli.open_environment(env), yes=yes, typed=confirm, destroy=True)


@task(help={"env": ENV_HELP, "json": "print the outputs as JSON"})
@operation
def output(c, env=None, json=False):
    """Show the environment's Terraform outputs (URLs, cluster, services, database, buckets...)."""
    import json as jsonlib

    from stackops import cli, stack
    from stackops.report import print_outputs

    values = stack.outputs(cli.open_environment(env))
    if json:
        print(jsonlib.dumps(values, indent=2, sort_keys=True))
    else:
        print_outputs(values)


@task(
    help={
        "env": ENV_HELP,
        "yes": "confirm a command that changes infrastructure or state (apply, import, state rm|mv|push,"
        " taint, force-unlock...); prod destroy still needs --confirm prod",
        "confirm": "the environment's name, typed (what prod destroy needs)",
    }
)
@operation
def tf(c, env=None, yes=False, confirm=None):
    """Run any terraform command in the environment: inv tf --env E -- ARGS (what switch_environment.sh did)."""
    from stackops import cli, stack

    return stack.passthrough(cli.open_environment(env), cli.passthrough_args(c.remainder), yes=yes, typed=confirm)


@task(help={"env": ENV_HELP, "verbose": VERBOSE_HELP})
@operation
def drift(c, env=None, verbose=False):
    """Exit 2 when live infrastructure differs from the code, 0 when it matches (for a scheduled job)."""
    from stackops import cli, stack

    return stack.drift(cli.open_environment(env))


@task(
    help={
        "env": "check this environment too (profiles, credentials, placeholders); all when omitted",
        "ci": "also what a CI runner needs (needs --env): Terraform at versions.tf's version, AWS_ROLE_ARN and "
        "the token file (web identity), STACK_STATE_ROLE_ARN, the provider lock files covering linux_amd64",
    }
)
@operation
def doctor(c, env=None, ci=False):
    """Check Terraform, the provider source, profiles, credentials per account, and unset placeholders."""
    from stackops import cli
    from stackops import doctor as checks
    from stackops.doctor_ci import ci_checks

    return checks.run(env, prepare=cli.point_at_emulator, extra=ci_checks if ci else None)


@task(
    help={
        "env": ENV_HELP,
        "json": "print the same as one JSON document (keys: the README's 'inv status')",
    }
)
@operation
def status(c, env=None, json=False):
    """Show the environment at a glance: services, targets, alarms, certificate, database, state (reads only)."""
    from stackops import cli
    from stackops.status.command import show_status

    show_status(cli.open_environment(env), as_json=json)


# -- the main job -------------------------------------------------------------------------------


@task(
    help={"fresh": "throw away the running emulated AWS and everything in it first (inv local.reset)",
          "verbose": VERBOSE_HELP}
)  # fmt: skip
@operation
def up(c, fresh=False, verbose=False):
    """Deploy the whole stack on the embedded AWS: emulator, state backend, secrets, apply, HTTPS. Idempotent."""
    from stackops.local.up import up as deploy_locally

    deploy_locally(fresh=fresh)


# -- secrets and certificates -------------------------------------------------------------------


@task(
    help={
        "env": ENV_HELP,
        "rotate": "rewrite the rotatable secrets (never the others)",
        "refresh": "after rotating, roll the services that consume a rotated secret and wait",
        "only": "only secrets whose name starts with this (short name or full /exii/<env>/ name)",
        "dry_run": "show what would happen; write nothing",
    }
)
@operation
def secrets(c, env=None, rotate=False, refresh=False, only=None, dry_run=False):
    """Create the catalogue's missing secrets (secrets.yaml) in Secrets Manager; rotate with --rotate."""
    from stackops import cli
    from stackops.app_secrets.command import sync_secrets

    return sync_secrets(cli.open_environment(env), rotate=rotate, refresh_services=refresh, only=only, dry_run=dry_run)


@task(
    iterable=["domain"],
    help={
        "env": ENV_HELP + "; optional with --domain (the environment serving it is picked)",
        "domain": "a name to certify (repeatable); default: the environment's frontend and backend hosts",
        "renew_within": "renew when fewer than DAYS are left, whatever the CA's renewal window says; default:"
        " inside the CA's window (ARI, RFC 9773), else at a third of the lifetime left",
        "force": "issue and re-import even when the certificate is still fresh (the CA's window is not asked)",
        "email": "ACME account e-mail for expiry notices",
        "staging": "Let's Encrypt staging (untrusted certificates, generous limits) for real accounts",
        "renew_all": "renew every certificate this tool manages in the environment that needs it (cron/CI)",
        "unless_renewer": "with --renew-all: do nothing when the environment's renewal function is deployed "
        "(it renews by itself; the daily CI job)",
        "yes": "apply without asking when the certificate ARN is new (an apply, so --yes is enough, prod included)",
    },
)
@operation
def cert(c, env=None, domain=None, renew_within=None, force=False, email=None, staging=False, renew_all=False,
         yes=False, unless_renewer=False):  # fmt: skip
    """Issue or renew a certificate by DNS-01 (certbot + Route53), import it into ACM, attach it."""
    from stackops import cli
    from stackops.certs.command import certificate, pick_environment

    domains = list(domain or [])
    days = None if renew_within is None else cli.positive(renew_within, "--renew-within", default=0, unit="days")
    environment = cli.open_environment(pick_environment(env, domains))
    certificate(
        environment, domains, renew_all=renew_all, force=force, email=email, staging=staging, yes=yes,
        renew_within=days, unless_renewer=unless_renewer,
    )  # fmt: skip


@task(name="renewer", help={"env": ENV_HELP})
@operation
def cert_renewer(c, env=None):
    """Run the environment's certificate renewal function now; show its result and log lines."""
    from stackops import cli
    from stackops.certs.renewer_command import run_renewer

    environment = cli.open_environment(env)
    run_renewer(environment, cli.renewer_invoker(environment))


# -- ECS operations -----------------------------------------------------------------------------

TIMEOUT_HELP = "seconds to wait for the rollout before failing (default 600)"


@task(
    help={
        "env": ENV_HELP,
        "service": "only this service (default: every service in the Terraform outputs)",
        "force": "start a new deployment of the revision each service runs now, never a newer one"
        " (picks up rotated secrets)",
        "timeout": TIMEOUT_HELP,
        "keep": "task definition revisions kept per family after a successful rollout (default 5)",
    }
)
@operation
def refresh(c, env=None, service=None, force=False, timeout=None, keep=None):
    """Roll services onto the latest ACTIVE task definition revision (listed first) and wait for the rollout."""
    from stackops import cli, stack
    from stackops.ecs.refresh import refresh as refresh_services
    from stackops.ecs.results import print_results, raise_on_failure

    seconds = cli.positive(timeout, "--timeout", default=600)
    kept = cli.positive_count(keep, "--keep", default=5)
    environment = cli.open_environment(env)
    results = refresh_services(
        environment.session(), stack.ecs_layout(environment), service=service, force=force,
        timeout=seconds, keep_revisions=kept,
    )  # fmt: skip
    print_results(results)
    raise_on_failure(results)


@task(
    help={
        "env": ENV_HELP,
        "service": "the service to deploy (concept or django)",
        "image": "a full image reference (repo:tag, repo@sha256:...) or just a tag of the current repository",
        "migrate": "run the migration with the new image first (after a database snapshot); the service is"
        " untouched if it fails",
        "snapshot": SNAPSHOT_HELP,
        "confirm": SKIP_SNAPSHOT_CONFIRM_HELP,
        "timeout": TIMEOUT_HELP,
    }
)
@operation
def deploy(c, env=None, service=None, image=None, migrate=False, snapshot=True, confirm=None, timeout=None):
    """Register a revision identical to the latest but for the image, then roll the service onto it."""
    from stackops import cli, stack
    from stackops.db.snapshots import allow_skipping
    from stackops.ecs.deploy import deploy as deploy_image
    from stackops.ecs.results import print_results, raise_on_failure

    if not service or not image:
        raise OpsError("both --service and --image are required")
    seconds = cli.positive(timeout, "--timeout", default=600)
    if not snapshot and not migrate:
        raise OpsError("--no-snapshot applies to --migrate only (without it nothing is migrated or snapshotted)")
    environment = cli.open_environment(env)
    if migrate and not snapshot:
        allow_skipping(environment, confirm)
    layout, database = (
        stack.ecs_and_database(environment) if migrate and snapshot else (stack.ecs_layout(environment), None)
    )
    result = deploy_image(
        environment.session(), layout, service, image, migrate=migrate, database=database,
        timeout=seconds,
    )  # fmt: skip
    print_results([result])
    raise_on_failure([result])


@task(help={"env": ENV_HELP, "service": "the service to roll back", "timeout": TIMEOUT_HELP})
@operation
def rollback(c, env=None, service=None, timeout=None):
    """Point a service back at the revision it ran before the last refresh or deploy, and wait."""
    from stackops import cli, stack
    from stackops.ecs.results import print_results, raise_on_failure
    from stackops.ecs.rollback import rollback as roll_back

    if not service:
        raise OpsError("--service is required")
    seconds = cli.positive(timeout, "--timeout", default=600)
    environment = cli.open_environment(env)
    result = roll_back(environment.session(), stack.ecs_layout(environment), service, timeout=seconds)
    print_results([result])
    raise_on_failure([result])


@task(
    help={
        "env": ENV_HELP,
        "command": "run this instead of the task definition's command (shell words)",
        "snapshot": SNAPSHOT_HELP,
        "confirm": SKIP_SNAPSHOT_CONFIRM_HELP,
        "timeout": "seconds to wait for the task to stop (default 600)",
    }
)
@operation
def migrate(c, env=None, command=None, snapshot=True, confirm=None, timeout=None):
    """Snapshot the database, then run the migration task once with the backend's network and secrets;
    exit 1 unless it exits 0."""
    from stackops import cli, stack
    from stackops.db.snapshots import allow_skipping
    from stackops.ecs.migrate import failure_message
    from stackops.ecs.migrate import migrate as run_migration
    from stackops.ecs.results import print_migration

    seconds = cli.positive(timeout, "--timeout", default=600)
    environment = cli.open_environment(env)
    if not snapshot:
        allow_skipping(environment, confirm)
    layout, database = stack.ecs_and_database(environment) if snapshot else (stack.ecs_layout(environment), None)
    result = run_migration(environment.session(), layout, database=database, command=command, timeout=seconds)
    print_migration(result)
    if not result.ok:
        raise OpsError(failure_message(result, environment.name))
    ui.out.print(f"migration succeeded: {result.detail}")


@task(name="snapshots", help={"env": ENV_HELP, "json": "print the snapshots as JSON"})
@operation
def db_snapshots(c, env=None, json=False):
    """List the database's snapshots: the tool's (taken before migrations), other manual and automated ones."""
    from stackops import cli, stack
    from stackops.db.snapshots import as_json, list_snapshots, print_snapshots
    from stackops.status.render import to_json

    environment = cli.open_environment(env)
    database = stack.database(environment)
    snapshots = list_snapshots(environment.session().client("rds"), database)
    if json:
        ui.out.print_json(to_json(as_json(snapshots)))
    else:
        print_snapshots(snapshots, database)


@task(
    name="restore",
    help={
        "env": ENV_HELP,
        "snapshot": "the snapshot to restore (a name inv db.snapshots lists)",
        "name": "the new instance's identifier, starting with <database>- (default: <database>-restored-<UTC time>)",
        "confirm": "the environment's name typed out: prod needs it (--confirm prod)",
        "timeout": "seconds to wait for the new instance to be available (default 3600)",
    },
)
@operation
def db_restore(c, env=None, snapshot=None, name=None, confirm=None, timeout=None):
    """Restore a snapshot into a NEW instance beside the running database; print its endpoint and how to switch."""
    from stackops import cli, stack
    from stackops.confirm import confirm as confirm_change
    from stackops.db.restore import print_switch_over, restore

    if not snapshot:
        raise OpsError("--snapshot is required (inv db.snapshots --env ENV lists them)")
    seconds = cli.positive(timeout, "--timeout", default=3600)
    environment = cli.open_environment(env)
    if environment.is_production or confirm is not None:
        confirm_change(environment, "restore a snapshot beside the database", typed=confirm,
                       name_needed_because="a restore creates a second production database")  # fmt: skip
    database = stack.database(environment)
    result = restore(environment.session().client("rds"), database, snapshot, identifier=name, timeout=seconds)
    print_switch_over(result, database)


@task(
    help={
        "env": ENV_HELP,
        "service": "whose logs: concept, django, or migrate (the migration task)",
        "since": "how far back to start: a whole number and s, m, h or d (30s, 15m, 2h, 1d; default 15m)",
        "follow": "keep printing new events (every 2 s) until Ctrl-C, which exits 0",
        "filter": "a CloudWatch Logs filter pattern (ERROR, or '\"exact phrase\"'), passed to FilterLogEvents",
        "task": "only this task's stream: its id (or the start of it), as the second column shows",
    }
)
@operation
def logs(c, env=None, service=None, since=None, follow=False, filter=None, task=None):
    """Show a service's (or the migration's) CloudWatch log events, newest last, with time (UTC) and task id."""
    from stackops import cli, stack
    from stackops.ecs.logs import parse_since, show_logs

    seconds = parse_since(since)  # malformed input fails before anything is read
    environment = cli.open_environment(env)
    show_logs(
        environment.session(), stack.ecs_layout(environment), service, since_seconds=seconds, follow=follow,
        pattern=filter, task=task,
    )  # fmt: skip


# -- scheduled jobs (jobs.yaml) ------------------------------------------------------------------


@task(
    name="run",
    help={
        "env": ENV_HELP,
        "name": "the job (a name in jobs.yaml)",
        "command": "run this instead of the job's command (shell words)",
        "timeout": "seconds to wait for the task to stop (default 600)",
    },
)
@operation
def job_run(c, name, env=None, command=None, timeout=None):
    """Run a scheduled job once now on the batch cluster, show its log lines; exit 1 unless it exits 0."""
    from stackops import cli, stack
    from stackops.jobs.command import run_job

    seconds = cli.positive(timeout, "--timeout", default=600)
    environment = cli.open_environment(env)
    result = run_job(environment.session(), stack.jobs_layout(environment), name, command=command, timeout=seconds)
    if not result.ok:
        raise OpsError(f"job {name} failed: {result.detail}")
    ui.out.print(f"job {name} succeeded: {result.detail}")


@task(name="list", help={"env": ENV_HELP, "json": "print the same as a JSON list (one object per job)"})
@operation
def job_list(c, env=None, json=False):
    """Show each scheduled job: its schedule and state, its next run and its last run (reads only)."""
    from stackops import cli, stack
    from stackops.jobs.command import list_jobs, print_jobs

    environment = cli.open_environment(env)
    print_jobs(list_jobs(environment.session(), stack.jobs_layout(environment)), as_json=json)


@task(
    name="pr-comment",
    iterable=["file"],
    help={
        "file": "a summary written by inv plan --format markdown --out FILE (repeatable: one comment each)",
        "pr": "the pull request's number; default: the pull_request event's (GITHUB_EVENT_PATH)",
    },
)
@operation
def pr_comment(c, file=None, pr=None):
    """Post plan summaries on the pull request, each as one comment edited in place on every push (CI)."""
    from stackops import cli, github_actions

    number = None if pr is None else cli.positive_count(pr, "--pr", default=0)
    for line in github_actions.run(list(file or []), number):
        ui.out.print(line)


@task(
    name="ci-token",
    help={
        "out": "the file to write the token to (AWS_WEB_IDENTITY_TOKEN_FILE)",
        "audience": "the token's audience (aud), as the CI roles trust it (tfvars ci_oidc_audience)",
    },
)
@operation
def ci_token(c, out=None, audience="sts.amazonaws.com"):
    """Write this GitHub Actions job's OpenID Connect token to a file, for AWS web identity (CI)."""
    from stackops import github_actions

    if not out:
        raise OpsError("--out is required: the file AWS_WEB_IDENTITY_TOKEN_FILE names")
    ui.out.print(github_actions.write_token(out, audience))


ns = Collection(up, bootstrap, plan, apply, destroy, output, status, tf, drift, doctor, pr_comment, ci_token)
for operation_task in (secrets, refresh, deploy, rollback, migrate, logs):
    ns.add_task(operation_task)
cert_tasks = Collection("cert")
cert_tasks.add_task(cert, default=True)
cert_tasks.add_task(cert_renewer)
ns.add_collection(cert_tasks)
ns.add_collection(Collection("db", db_snapshots, db_restore))
ns.add_collection(Collection("job", job_run, job_list))
ns.add_collection(Collection("local", local_up, local_down, local_reset, local_status))
