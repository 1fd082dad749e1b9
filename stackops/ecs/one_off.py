"""One-off tasks: run a task definition once on a cluster, tail its logs, judge how it exited.

The migration task (`inv migrate`) takes its network configuration from a service of the stack;
a scheduled job (`inv job.run`, stackops/jobs/) its own, from the Terraform output `jobs`. The
wait polls describe_tasks and reports the exit codes and stop reason instead of boto3's
tasks_stopped waiter.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from rich.markup import escape

from stackops.ecs.layout import EcsLayout, ServiceRef
from stackops.ecs.logs import LogReader, awslogs_target, stream_lines
from stackops.ecs.results import MigrationResult
from stackops.ecs.rollouts import describe_service, spinner
from stackops.ecs.task_definitions import describe_td, find_container, td_name
from stackops.errors import OpsError
from stackops.ui import err

STARTED_BY = "stackops-migrate"


def _network_configuration(ecs: Any, layout: EcsLayout, network_from: str) -> dict[str, Any]:
    ref = layout.services.get(network_from) or ServiceRef(network_from, network_from, "", "")
    svc = describe_service(ecs, layout, ref)
    vpc = (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not vpc or not vpc.get("subnets"):
        raise OpsError(f"service {ref.name} has no awsvpc network configuration to run the migration with")
    keep = ("subnets", "securityGroups", "assignPublicIp")
    return {"awsvpcConfiguration": {k: vpc[k] for k in keep if vpc.get(k)}}


def run_migration(
    session: boto3.Session,
    ecs: Any,
    layout: EcsLayout,
    td_arn: str,
    command: Sequence[str] | str | None,
    timeout: float,
    poll: float,
) -> MigrationResult:
    """The migration task, once, on the cluster, with its service's network configuration."""
    assert layout.migrate is not None
    m = layout.migrate
    task = OneOff(label="migrate", noun="migration task", cluster=layout.cluster, container=m.container,
                  started_by=STARTED_BY)  # fmt: skip
    network = _network_configuration(ecs, layout, m.network_from)
    return run_one_off(session, ecs, task, td_arn, network, command, timeout, poll)


@dataclass(frozen=True)
class OneOff:
    """A task run once: what the progress lines and errors call it, where it runs, who started it."""

    label: str  # the progress lines' prefix: migrate, job clearsessions
    noun: str  # what the errors call the task: migration task, task of job clearsessions
    cluster: str
    container: str  # the container whose logs are shown and whose command --command replaces
    started_by: str  # ECS's startedBy (letters, digits, '-' and '_', at most 128)


def run_one_off(
    session: boto3.Session,
    ecs: Any,
    task_spec: OneOff,
    td_arn: str,
    network: Mapping[str, Any],
    command: Sequence[str] | str | None,
    timeout: float,
    poll: float,
) -> MigrationResult:
    """Run `td_arn` once, tail its container's log stream, wait until it stops, judge its exit codes."""
    label, noun, cluster = task_spec.label, task_spec.noun, task_spec.cluster
    td, _ = describe_td(ecs, td_arn)
    container = find_container(td, task_spec.container)
    run: dict[str, Any] = {
        "cluster": cluster,
        "taskDefinition": td_arn,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": task_spec.started_by,
        "networkConfiguration": dict(network),
    }
    if command:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        run["overrides"] = {"containerOverrides": [{"name": task_spec.container, "command": argv}]}
    response = ecs.run_task(**run)
    if response.get("failures") or not response.get("tasks"):
        why = "; ".join(
            f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip()
            for f in response.get("failures", [])
        )
        raise OpsError(f"ECS did not start the {noun} {td_name(td_arn)}: {why or 'no task returned'}")
    task_arn = response["tasks"][0]["taskArn"]
    task_id = task_arn.rsplit("/", 1)[-1]
    started = f"{td_name(td_arn)} {container['image']}"
    err.print(f"{escape(label)}: started task {escape(task_id)} ({escape(started)})")

    tail = _log_tail(session, container, task_id)
    lines: list[str] = []

    def drain() -> None:
        if tail:
            for line in stream_lines(tail.fetch()):
                lines.append(line)
                err.print(f"  [dim]|[/] {escape(line)}", soft_wrap=True)

    deadline = time.monotonic() + timeout
    last = ""
    with spinner(f"{escape(label)}: waiting for the task") as status:
        while True:
            described = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])
            if not described.get("tasks"):
                raise OpsError(f"{noun} {task_id} vanished from cluster {cluster}")
            task = described["tasks"][0]
            state = task.get("lastStatus", "?")
            if state != last:
                err.print(f"  {escape(label)}: {escape(state)}")
                last = state
            status.update(f"{escape(label)}: task {escape(task_id)} {escape(state)}")
            drain()
            if state == "STOPPED":
                break
            if time.monotonic() >= deadline:
                raise OpsError(
                    f"{noun} {task_id} still {state} after {timeout:g}s (left running: watch it in"
                    f" the ECS console or stop it with aws ecs stop-task --cluster {cluster} --task {task_id})"
                )
            time.sleep(poll)
    drain()
    if tail and not tail.returned:
        err.print(f"  [yellow]no log stream {escape(tail.group)}:{escape(tail.stream or '')}[/]")
    return _judge_task(task, td, td_arn, lines, label)


def _log_tail(session: boto3.Session, container: Mapping[str, Any], task_id: str) -> LogReader | None:
    target = awslogs_target(container)
    if target is None:
        err.print(f"  [yellow]container {escape(container['name'])} does not log to CloudWatch: no logs to show[/]")
        return None
    logs = session.client("logs", region_name=target.region or session.region_name)
    # the task's own stream, from its start (it appears when the container starts logging)
    return LogReader(logs, target.group, stream=target.stream(task_id))


def _judge_task(
    task: Mapping[str, Any], td: Mapping[str, Any], td_arn: str, lines: list[str], label: str
) -> MigrationResult:
    essential = {c["name"] for c in td.get("containerDefinitions", []) if c.get("essential", True)}
    codes = {c.get("name", "?"): c.get("exitCode") for c in task.get("containers", [])}
    reasons = {c.get("name", "?"): c.get("reason") for c in task.get("containers", [])}
    stop_code = task.get("stopCode") or None
    stopped_reason = task.get("stoppedReason") or None
    failures = []
    for name in sorted(essential):
        code = codes.get(name)
        if code is None:
            why = reasons.get(name) or stopped_reason or stop_code or "no exit code"
            failures.append(f"container {name} never ran to completion: {why}")
        elif code != 0:
            failures.append(f"container {name} exited {code}" + (f" ({reasons[name]})" if reasons.get(name) else ""))
    if failures and stop_code and stop_code != "EssentialContainerExited":
        failures.append(f"stop code {stop_code}" + (f": {stopped_reason}" if stopped_reason else ""))
    ok = not failures
    detail = "all essential containers exited 0" if ok else "; ".join(failures)
    err.print(f"{escape(label)}: [{'green' if ok else 'red'}]{escape(detail)}[/]")
    return MigrationResult(
        task_arn=task["taskArn"],
        task_definition=td_arn,
        ok=ok,
        detail=detail,
        exit_codes=codes,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        log_lines=tuple(lines),
    )
