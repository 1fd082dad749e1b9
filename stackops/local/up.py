"""`inv up`: the main job on the embedded default, from nothing to a deployed stack with HTTPS.

One line per step with its time; each step's own tables (the bootstrap plan, the secrets, the
certificate, the plan's changes by resource type) go to the run's log instead of the screen:

1. the emulated AWS and its ACME server;
2. the state backend (Terraform, tf-init/), while the catalogue's secrets are written beside it
   (AWS calls only, in a thread: the two do not depend on each other);
3. on the first run, the hosted zone alone (a targeted apply), so that
4. the certificate can be issued and its ARN published before
5. the one apply of the stack, which creates the HTTPS listeners with it (before, a second apply
   attached the certificate after the first);
6. the short outputs table and the services' state.

Every step is idempotent, so a second `inv up` changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from stackops import run_logs, stack, ui
from stackops.app_secrets.command import sync_secrets
from stackops.bootstrap import bootstrap
from stackops.certs.command import certificate
from stackops.cli import open_environment
from stackops.ecs.layout import EcsLayout
from stackops.environments import Environment
from stackops.local import emulator
from stackops.parallel import worker_pool
from stackops.report import print_outputs
from stackops.state_object import read_state
from stackops.ui import Table

LOCAL = "local"
UP_SUMMARY = ("urls", "load_balancer_dns_names", "certificate_arn", "database_endpoint", "hosted_zone")
ZONE = "aws_route53_zone.this"
# What a targeted apply always says; expected here, so one line on screen (in full in the log).
TARGETING_WARNINGS = ("Resource targeting is in effect", "Applied changes may be incomplete")

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
    """The embedded AWS, the state backend, secrets, the zone and certificate, the `local` stack.

    `fresh`: throw away a running emulator and everything in it first (`emulator.reset`).
    """
    step("emulated AWS", emulator.reset if fresh else emulator.start, lambda s: s.endpoint)
    env = open_environment(LOCAL)
    with tables_to_log(env):
        with worker_pool(1) as pool:
            started = time.monotonic()
            secrets = pool.submit(sync_secrets, env)  # AWS calls only: beside Terraform's bootstrap
            step("state backend", lambda: bootstrap(env, yes=True), lambda _: env.state_bucket)
            secrets.result()
            ui.err.print(f"[bold]secrets[/]: synced ({time.monotonic() - started:.1f} s, beside the state backend)")
        step("hosted zone", lambda: create_zone(env), lambda made: "created" if made else "exists")
        step(
            "certificate",
            lambda: certificate(env, yes=True, attach=False),
            lambda results: "; ".join(f"{r.action} {', '.join(r.names)}" for r in results),
        )
        step("apply", lambda: stack.apply(env, yes=True), lambda applied: "applied" if applied else "no changes")
    outputs = stack.current_outputs(env, stack.stack(env, bucket_checked=True))
    print_outputs(outputs, only=UP_SUMMARY)
    print_services(env, outputs)
    ui.out.print("All outputs: inv output --env local; the steps' details: the log below")


def create_zone(env: Environment) -> bool:
    """On the first run, apply the hosted zone alone, so the certificate can be issued before the
    stack's one apply. Targeted applies are for exceptions (Terraform warns): this one adds a
    single resource with no dependencies, on the embedded AWS only, and the full apply follows."""
    tf = stack.stack(env)
    state = read_state(env)
    addresses = {f"{r.get('type')}.{r.get('name')}" for r in (state or {}).get("resources", []) if "module" not in r}
    if ZONE in (addresses if state is not None else tf.state_resources()):
        return False
    tf.stream("apply", "-input=false", "-auto-approve", f"-target={ZONE}", *tf.var_args(), expected=TARGETING_WARNINGS)
    return True


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
