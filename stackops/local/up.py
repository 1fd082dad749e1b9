"""`inv up`: the main job on the embedded default, from nothing to a deployed stack with HTTPS.

One line per step with its time; each step's own tables (the bootstrap plan, the secrets, the
certificate, the plan's changes by resource type) go to the run's log instead of the screen:

1. the emulated AWS and its ACME server;
2. the state backend (Terraform, tf-init/), while, beside it (AWS calls, in threads: none
   depends on another), the catalogue's secrets are written and the certificate ARN Terraform
   reads is published: the managed certificate's, or on the first run a self-signed placeholder's
   (stackops/certs/placeholder.py: the real one needs the hosted zone, which the apply creates);
3. the one apply of the stack, HTTPS listeners included, while beside it the certificate is
   issued as soon as the apply has created the hosted zone, and re-imported into the placeholder's
   ARN (the listeners keep it). The certificate's wait for the zone and its issuance are off the
   apply's path; before, a targeted apply of the zone alone and the issuance came first;
4. the short outputs table and the services' state.

Every step is idempotent, so a second `inv up` changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from stackops import run_logs, stack, ui
from stackops.app_secrets.command import sync_secrets
from stackops.bootstrap import bootstrap
from stackops.certs.command import certificate
from stackops.certs.issue import CertResult
from stackops.certs.placeholder import publish_certificate_arn
from stackops.certs.zones import list_zones
from stackops.cli import open_environment
from stackops.ecs.layout import EcsLayout
from stackops.environments import Environment
from stackops.errors import OpsError, aws_errors
from stackops.local import emulator
from stackops.parallel import worker_pool
from stackops.report import print_outputs
from stackops.ui import Table

LOCAL = "local"
UP_SUMMARY = ("urls", "load_balancer_dns_names", "certificate_arn", "database_endpoint", "hosted_zone")
ZONE_POLL_SECONDS = 0.5  # how often the certificate's thread looks for the zone the apply creates

T = TypeVar("T")


def step(name: str, action: Callable[[], T], done: Callable[[T], str] = lambda _: "done") -> T:
    """Run one step of `inv up` and print one line: its name, what it did, its time."""
    started = time.monotonic()
    result = action()
    ui.err.print(f"[bold]{name}[/]: {done(result)} ({time.monotonic() - started:.1f} s)", soft_wrap=True)
    return result


@contextmanager
def tables_to_log(env: Environment) -> Iterator[None]:
    """The steps' tables (stdout) go to the run's log; progress and errors stay on the screen."""
    log = run_logs.for_folder(env.state_dir)
    # rich's Console follows sys.stdout while its _file is None: that is what is put back.
    saved = ui.out._file
    ui.out.file = log  # type: ignore[assignment]  # a writer with write() and flush()
    try:
        yield
    finally:
        ui.out._file = saved


def up(*, fresh: bool = False) -> None:
    """The embedded AWS, the state backend, secrets, the certificate, the `local` stack.

    `fresh`: throw away a running emulator and everything in it first (`emulator.reset`).
    """
    step("emulated AWS", emulator.reset if fresh else emulator.start, lambda s: s.endpoint)
    env = open_environment(LOCAL)
    with tables_to_log(env):
        with worker_pool(2) as pool:
            started = time.monotonic()
            secrets = pool.submit(sync_secrets, env)
            published = pool.submit(publish_certificate_arn, env)
            step("state backend", lambda: bootstrap(env, yes=True), lambda _: env.state_bucket)
            secrets.result()
            beside = f"{time.monotonic() - started:.1f} s, beside the state backend"
            ui.err.print(f"[bold]secrets[/]: synced ({beside})")
            arn = published.result()
            ui.err.print(f"[bold]certificate ARN[/]: {arn.said} ({beside})", soft_wrap=True)
        results, seconds = apply_and_issue(env, placeholder=arn.placeholder)
        done = "; ".join(f"{r.action} {', '.join(r.names)}" for r in results)
        ui.err.print(f"[bold]certificate[/]: {done} ({seconds:.1f} s, beside the apply)", soft_wrap=True)
        if any(r.parameter_changed for r in results):  # another ARN than the plan read: not expected
            step("certificate attached", lambda: stack.apply_certificate(env, yes=True), lambda _: "applied")
    outputs = stack.current_outputs(env, stack.stack(env, bucket_checked=True))
    print_outputs(outputs, only=UP_SUMMARY)
    print_services(env, outputs)
    ui.out.print("All outputs: inv output --env local; the steps' details: the log below")


def apply_and_issue(env: Environment, *, placeholder: bool) -> tuple[list[CertResult], float]:
    """The stack's apply, and beside it the certificate, issued once the hosted zone exists.

    Terraform stays in this (the main) thread. When the apply fails, no issuance starts after
    that and the apply's error is raised; when the certificate fails, its error is raised, saying
    (`placeholder`) that the listeners still hold the placeholder."""
    apply_ended, apply_failed = threading.Event(), threading.Event()
    with worker_pool(1) as pool:
        issuing = pool.submit(issue_once_zone_exists, env, apply_ended, apply_failed)
        try:
            step("apply", lambda: stack.apply(env, yes=True), lambda applied: "applied" if applied else "no changes")
        except BaseException:
            apply_failed.set()
            raise
        finally:
            apply_ended.set()
        try:
            outcome = issuing.result()
        except OpsError as exc:
            if not placeholder:
                raise
            raise OpsError(
                f"{exc}; the stack is applied, and its HTTPS listeners hold the placeholder certificate until "
                f"one is issued: inv cert --env {env.name} (or inv up again)",
                exit_code=exc.exit_code,
            ) from None
    if outcome is None:  # the apply succeeded without a zone: the configuration lost it
        raise OpsError(f"the apply created no public hosted zone {env.zone_name}: no certificate was issued")
    return outcome


def issue_once_zone_exists(
    env: Environment, apply_ended: threading.Event, apply_failed: threading.Event
) -> tuple[list[CertResult], float] | None:
    """Wait for the environment's public zone (created early in the apply), then issue or renew the
    certificate (`inv cert`'s decision: a placeholder is always replaced, a fresh one skipped) and
    return the results and the seconds they took; None when the apply failed, or ended with no zone."""
    route53 = env.session().client("route53")
    while True:
        ended = apply_ended.is_set()  # before the zones are listed: a zone made just before the end counts
        if apply_failed.is_set():
            return None
        with aws_errors("looking for the hosted zone the apply creates", profiles=[env.profile]):
            zones = list_zones(route53)
        if any(z.name == env.zone_name and not z.private for z in zones):
            started = time.monotonic()
            return certificate(env, yes=True, attach=False), time.monotonic() - started
        if ended:
            return None
        apply_ended.wait(ZONE_POLL_SECONDS)


def print_services(env: Environment, outputs: dict[str, Any]) -> None:
    """Each service's desired and running tasks, revision and rollout state, as ECS reports them."""
    layout = EcsLayout.from_output(outputs, env=env.name)
    ecs = env.session().client("ecs")
    described: list[dict[str, Any]] = ecs.describe_services(
        cluster=layout.cluster, services=[ref.name for ref in layout.services.values()]
    ).get("services", [])
    table = Table(title="services", title_justify="left")
    for column in ("service", "revision", "desired", "running", "rollout"):
        table.add_column(column)
    for service in described:
        primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
        table.add_row(
            service.get("serviceName", ""),
            str(service.get("taskDefinition", "")).rsplit("/", 1)[-1],
            str(service.get("desiredCount", "")),
            str(service.get("runningCount", "")),
            str(primary.get("rolloutState", "")),
        )
    ui.out.print(table)
