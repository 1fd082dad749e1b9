"""The emulated life of a one-off Fargate task (`run_task`): start, log, exit, stop, on a thread of its own.

See `stackops.local.aws.ecs` for the timeline, the log lines and the faults it honours.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from stackops.local.aws.ecs_state import FAULTS, LOCK, TIME_SCALE, log
from stackops.local.aws.ecs_state import now as _now

# A one-off task's timeline, in seconds after run_task.
TASK_PENDING_AT = 0.2 * TIME_SCALE
TASK_RUNNING_AT = 0.5 * TIME_SCALE
TASK_EXITED_AT = 1.0 * TIME_SCALE
TASK_STOPPED_AT = 1.2 * TIME_SCALE
TASK_FAILED_AT = 0.8 * TIME_SCALE
ESSENTIAL_EXITED = "Essential container in task exited"


# -- tasks ---------------------------------------------------------------------------------------------
def _containers_and_definitions(task: Any, backend: Any) -> list[tuple[Any, dict[str, Any]]]:
    definition = backend.describe_task_definition(task.task_definition_arn)
    by_name = {cd.get("name"): cd for cd in definition.container_definitions}
    return [(container, by_name.get(container.name, {})) for container in task.containers]


def _family(task: Any) -> str:
    return task.task_definition_arn.rsplit("/", 1)[-1].split(":")[0]


def _command(task: Any, container: Any, definition: Mapping[str, Any]) -> list[str] | None:
    for override in (task.overrides or {}).get("containerOverrides") or []:
        if override.get("name") == container.name and override.get("command"):
            return list(override["command"])
    return definition.get("command")


def _log_target(task: Any, container: Any, definition: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(region, group, stream) from the container's awslogs options, named as ECS names the stream."""
    config = definition.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return None
    region = options.get("awslogs-region") or task.region_name
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{container.name}/{task.id}" if prefix else task.id
    return region, options["awslogs-group"], stream


def _write_logs(task: Any, target: tuple[str, str, str], lines: list[str]) -> None:
    from moto.logs.models import logs_backends

    region, group, stream = target
    logs = logs_backends[task._account_id][region]
    logs.ensure_log_stream(group, stream)
    millis = int(time.time() * 1000)
    logs.put_log_events(group, stream, [{"timestamp": millis, "message": line} for line in lines])


def _log_group_missing(task: Any, targets: list[tuple[str, str, str]]) -> str | None:
    from moto.logs.models import logs_backends

    for region, group, _ in targets:
        if group not in logs_backends[task._account_id][region].groups:
            return group
    return None


def release_network(task: Any) -> None:
    """ECS deletes a stopped Fargate task's ENI; so does the emulator (Terraform can then delete subnets)."""
    from moto.ec2.models import ec2_backends

    for attachment in task.attachments:
        details = {d["name"]: d["value"] for d in attachment.get("details", [])}
        eni_id = details.get("networkInterfaceId")
        if eni_id:
            with contextlib.suppress(Exception):
                ec2_backends[task._account_id][task.region_name].delete_network_interface(eni_id)
        attachment["status"] = "DELETED"


def _stop(task: Any, *, stop_code: str, reason: str, exit_code: int | None, started: bool) -> None:
    now = _now()
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = exit_code if started else None
        if not started:
            container.reason = reason
    task.desired_status = "STOPPED"
    task.stop_code = stop_code
    task.stopped_reason = reason
    task.stopping_at = now
    task.execution_stopped_at = now
    task.status = "DEPROVISIONING"


def _run_task_timeline(task: Any, backend: Any, exit_code: int, never_starts: str | None) -> None:
    """The life of a one-off Fargate task, on its own thread (see the module docstring)."""

    def at(offset: float, change: Callable[[], Any]) -> bool:
        """Wait until `offset` after run_task, then apply `change` unless stop_task came first."""
        time.sleep(max(0.0, task._stackops_t0 + offset - time.monotonic()))
        with LOCK:
            if task._stackops_cancelled:
                return False
            return change() is not False

    def pending() -> None:
        task.pull_started_at = _now()
        task.status = "PENDING"

    def failed_to_start(reason: str) -> None:
        _stop(task, stop_code="TaskFailedToStart", reason=reason, exit_code=None, started=False)
        stopped()

    def running() -> bool:
        missing = _log_group_missing(task, targets)
        if missing:
            failed_to_start(
                "ResourceInitializationError: failed to validate logger args: create stream has been "
                "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
                f"The specified log group does not exist. (log group {missing}): exit status 1"
            )
            return False
        for container, definition in pairs:
            target = _log_target(task, container, definition)
            if target:
                command = _command(task, container, definition)
                shown = shlex.join(command) if command else "(the image's default command)"
                _write_logs(task, target, [f"emulated task {_family(task)} started", f"command: {shown}"])
        task.pull_stopped_at = task.started_at = _now()
        for container in task.containers:
            container.last_status = "RUNNING"
        task.status = "RUNNING"
        return True

    def exited() -> None:
        for target in targets:
            _write_logs(task, target, [f"exit {exit_code}"])
        _stop(task, stop_code="EssentialContainerExited", reason=ESSENTIAL_EXITED,
              exit_code=exit_code, started=True)  # fmt: skip

    def stopped() -> None:
        release_network(task)
        task.stopped_at = _now()
        task.status = "STOPPED"

    try:
        pairs = _containers_and_definitions(task, backend)
        targets = [t for c, d in pairs if (t := _log_target(task, c, d))]
        if not at(TASK_PENDING_AT, pending):
            return
        if never_starts:
            at(TASK_FAILED_AT, lambda: failed_to_start(never_starts))
            return
        if at(TASK_RUNNING_AT, running) and at(TASK_EXITED_AT, exited):
            at(TASK_STOPPED_AT, stopped)
    except Exception as exc:  # a thread has nobody to raise to: leave a trace in moto.log
        log(f"task {getattr(task, 'id', '?')}: emulation failed: {type(exc).__name__}: {exc}")


def emulate_task(task: Any, backend: Any) -> None:
    never_starts = FAULTS.take("next_task_never_starts")
    exit_code = 0 if never_starts else FAULTS.take("next_task_exit_code")
    with LOCK:
        task._transitions = []  # moto's state manager must not move this task any more
        task._stackops_t0 = time.monotonic()
        task._stackops_cancelled = False
        task.created_at = _now()
        task.status = "PROVISIONING"
        for container in task.containers:
            container.exitCode = None
            container.last_status = "PENDING"
            # moto 5.2.5 gives a container its task definition's ARN; ECS gives the task's.
            container.task_arn = task.task_arn
            container.container_arn = task.task_arn.replace(":task/", ":container/") + f"/{uuid.uuid4()}"
    if never_starts or exit_code:
        log(f"task {task.id}: injected fault: never starts={never_starts!r} exit code={exit_code}")
    threading.Thread(
        target=_run_task_timeline,
        args=(task, backend, int(exit_code or 0), never_starts),
        name=f"ecs-task-{task.id}",
        daemon=True,
    ).start()
