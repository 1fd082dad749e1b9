"""One-off task: run the migration task once on the cluster, tail its logs, judge how it exited.

The wait polls describe_tasks and reports the exit codes and stop reason instead of boto3's
tasks_stopped waiter. The task takes its network configuration from a service of the stack.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
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
    assert layout.migrate is not None
    m = layout.migrate
    td, _ = describe_td(ecs, td_arn)
    container = find_container(td, m.container)
    run: dict[str, Any] = {
        "cluster": layout.cluster,
        "taskDefinition": td_arn,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": STARTED_BY,
        "networkConfiguration": _network_configuration(ecs, layout, m.network_from),
    }
    if command:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        run["overrides"] = {"containerOverrides": [{"name": m.container, "command": argv}]}
    response = ecs.run_task(**run)
    if response.get("failures") or not response.get("tasks"):
        why = "; ".join(
            f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip()
            for f in response.get("failures", [])
        )
        raise OpsError(f"ECS did not start the migration task {td_name(td_arn)}: {why or 'no task returned'}")
    task_arn = response["tasks"][0]["taskArn"]
    task_id = task_arn.rsplit("/", 1)[-1]
    err.print(f"migrate: started task {escape(task_id)} ({escape(td_name(td_arn))} {escape(container['image'])})")

    tail = _log_tail(session, container, task_id)
    lines: list[str] = []

    def drain() -> None:
        if tail:
            for line in stream_lines(tail.fetch()):
                lines.append(line)
                err.print(f"  [dim]|[/] {escape(line)}", soft_wrap=True)

    deadline = time.monotonic() + timeout
    last = ""
    with spinner("migrate: waiting for the task") as status:
        while True:
            described = ecs.describe_tasks(cluster=layout.cluster, tasks=[task_arn])
            if not described.get("tasks"):
                raise OpsError(f"migration task {task_id} vanished from cluster {layout.cluster}")
            task = described["tasks"][0]
            state = task.get("lastStatus", "?")
            if state != last:
                err.print(f"  migrate: {escape(state)}")
                last = state
            status.update(f"migrate: task {escape(task_id)} {escape(state)}")
            drain()
            if state == "STOPPED":
                break
            if time.monotonic() >= deadline:
                raise OpsError(
                    f"migration task {task_id} still {state} after {timeout:g}s (left running: watch it in"
                    f" the ECS console or stop it with aws ecs stop-task --cluster {layout.cluster} --task {task_id})"
                )
            time.sleep(poll)
    drain()
    if tail and not tail.returned:
        err.print(f"  [yellow]no log stream {escape(tail.group)}:{escape(tail.stream or '')}[/]")
    return _judge_task(task, td, td_arn, lines)


def _log_tail(session: boto3.Session, container: Mapping[str, Any], task_id: str) -> LogReader | None:
    target = awslogs_target(container)
    if target is None:
        err.print(f"  [yellow]container {escape(container['name'])} does not log to CloudWatch: no logs to show[/]")
        return None
    logs = session.client("logs", region_name=target.region or session.region_name)
    # the task's own stream, from its start (it appears when the container starts logging)
    return LogReader(logs, target.group, stream=target.stream(task_id))


def _judge_task(task: Mapping[str, Any], td: Mapping[str, Any], td_arn: str, lines: list[str]) -> MigrationResult:
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
    err.print(f"migrate: [{'green' if ok else 'red'}]{escape(detail)}[/]")
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
