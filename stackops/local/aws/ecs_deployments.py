"""The emulated ECS scheduler for services: a deployment rolls out, fails and rolls back, or hangs.

See `stackops.local.aws.ecs` for what moto lacks and how this fills it: a new deployment starts
IN_PROGRESS and SETTLE_SECONDS later is COMPLETED (or, with the `rollback` fault, FAILED by the
circuit breaker and rolled back; with `stuck`, never done). With deployment alarms on
(`stackops.local.aws.ecs_alarms`), its tasks run after SETTLE_SECONDS and it completes
BAKE_SECONDS later; a named alarm in ALARM before then fails it and rolls it back. Time is read
when the service is described, so no thread is involved.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from stackops.local.aws.ecs_alarms import ALARM_EVENT, BAKE_SECONDS, alarm_reason, deployment_alarms, in_alarm
from stackops.local.aws.ecs_state import FAULTS, TIME_SCALE, log
from stackops.local.aws.ecs_state import now as _now

SETTLE_SECONDS = 1.0 * TIME_SCALE  # one deployment phase (roll out, or fail, or roll back)
ROLLBACK_LINGER_SECONDS = 5.0 * TIME_SCALE  # a failed deployment stays listed after the rollback
CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


# -- small helpers ----------------------------------------------------------------------------------
def _deployment_id() -> str:
    return f"ecs-svc/{secrets.randbelow(9 * 10**18) + 10**18}"


def _event(service: Any, message: str) -> None:
    # ECS lists the newest event first and keeps the last 100.
    entry = {"id": str(uuid.uuid4()), "createdAt": _now(), "message": f"(service {service.name}) {message}"}
    service.events = [entry, *list(service.events or [])][:100]


def is_ecs_controller(service: Any) -> bool:
    return (service.deployment_controller or {}).get("type", "ECS") == "ECS"


def primary_deployment(service: Any) -> dict[str, Any] | None:
    return next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)


def recount(service: Any) -> None:
    """The service's counts are the sums over its deployments, as in ECS."""
    service.running_count = sum(int(d.get("runningCount") or 0) for d in service.deployments)
    service.pending_count = sum(int(d.get("pendingCount") or 0) for d in service.deployments)


# -- deployments --------------------------------------------------------------------------------------
def _new_deployment(service: Any, task_definition: str, template: Mapping[str, Any] | None) -> dict[str, Any]:
    now = _now()
    deployment_id = _deployment_id()
    deployment = dict(template or {})
    deployment.update(
        {
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": task_definition,
            "desiredCount": service.desired_count,
            "pendingCount": service.desired_count,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "launchType": service.launch_type,
            "platformVersion": service.platform_version,
            "networkConfiguration": service.network_configuration or None,
            "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
        }
    )
    return deployment


def _schedule(service: Any, due: float, step: Callable[[float], None]) -> None:
    """Run `step(due)` once the monotonic clock passes `due` and the service is read."""
    steps = getattr(service, "_stackops_steps", None)
    if steps is None:
        steps = service._stackops_steps = []
    steps.append((due, step))
    steps.sort(key=lambda item: item[0])


def advance(service: Any) -> None:
    """Apply the scheduled steps whose time has come (called whenever the service is read).

    A step schedules its successors from its own due time, so a service read seldom still shows
    the state it would have reached by now.
    """
    steps = getattr(service, "_stackops_steps", None)
    while steps and steps[0][0] <= time.monotonic():
        due = steps[0][0]
        # An alarm that went to ALARM before the step was due fails the deployment first (a
        # service read seldom must not let the bake time end over it).
        _watch_alarms(service, ago=time.monotonic() - due)
        steps = service._stackops_steps
        if not steps or steps[0][0] != due:
            continue
        due, step = steps.pop(0)
        step(due)
        steps = service._stackops_steps  # a step may have replaced the plan (a rollback)
    _watch_alarms(service)
    recount(service)


def _watch_alarms(service: Any, ago: float = 0.0) -> None:
    """A watched deployment still in progress fails when one of its alarms is in ALARM."""
    watch = getattr(service, "_stackops_alarm_watch", None)
    if watch is None:
        return
    deployment, ignored = watch
    if deployment.get("status") != "PRIMARY" or deployment.get("rolloutState") != "IN_PROGRESS":
        service._stackops_alarm_watch = None
        return
    alarms = deployment_alarms(service)
    firing = [n for n in in_alarm(service, list(alarms["alarmNames"]), ago) if n not in ignored] if alarms else []
    if not firing:
        return
    assert alarms is not None
    service._stackops_alarm_watch = None
    log(f"service {service.name}: deployment {deployment['id']} failed: {', '.join(firing)} in ALARM")
    _fail_and_roll_back(
        service,
        deployment,
        time.monotonic() - ago,
        reason=alarm_reason(firing),
        event=ALARM_EVENT,
        failed_tasks=0,
        roll_back=bool(alarms.get("rollback")),
        by="ECS deployment alarms",
    )


def start_deployment(service: Any, task_definition: str) -> dict[str, Any]:
    """Start a deployment of `task_definition`; a pending deployment fault decides how it ends."""
    template = primary_deployment(service) or (service.deployments[0] if service.deployments else None)
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    deployment = _new_deployment(service, task_definition, template)
    service.deployments = [deployment, *service.deployments]
    service.task_definition = task_definition
    service._stackops_steps = []  # a newer deployment supersedes whatever the last one had planned
    mode = FAULTS.take("next_deployment")
    due = time.monotonic() + SETTLE_SECONDS
    alarms = deployment_alarms(service)
    # ECS ignores, for this deployment, an alarm that is in ALARM already when it starts.
    ignored = set(in_alarm(service, list(alarms["alarmNames"]))) if alarms else set()
    service._stackops_alarm_watch = (deployment, ignored) if alarms else None
    if mode == "stuck":
        log(f"service {service.name}: deployment {deployment['id']} stays IN_PROGRESS (injected fault)")
    elif mode == "rollback":
        log(f"service {service.name}: deployment {deployment['id']} will fail and roll back (injected)")
        _schedule(service, due, lambda at: _fail_and_roll_back(service, deployment, at))
    elif alarms:  # its tasks run, then the bake time: still IN_PROGRESS, the alarms watched
        _schedule(service, due, lambda _: _tasks_running(service, deployment))
        _schedule(service, due + BAKE_SECONDS, lambda _: _complete(service, deployment))
    else:
        _schedule(service, due, lambda _: _complete(service, deployment))
    recount(service)
    return deployment


def _complete(service: Any, deployment: dict[str, Any], keep: tuple[str, ...] = ()) -> None:
    """A healthy rollout: all tasks of `deployment` run, every other deployment is drained."""
    deployment.update(
        {
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {deployment['id']} completed.",
            "runningCount": deployment["desiredCount"],
            "pendingCount": 0,
            "updatedAt": _now(),
        }
    )
    service.deployments = [d for d in service.deployments if d is deployment or d["id"] in keep]
    service._stackops_last_completed = (deployment["id"], deployment["taskDefinition"])
    recount(service)
    _event(service, f"(deployment {deployment['id']}) deployment completed.")
    _event(service, "has reached a steady state.")


def _tasks_running(service: Any, deployment: dict[str, Any]) -> None:
    """With deployment alarms: every task of `deployment` runs, the bake time begins (IN_PROGRESS)."""
    deployment.update({"runningCount": deployment["desiredCount"], "pendingCount": 0, "updatedAt": _now()})
    service.deployments = [d for d in service.deployments if d is deployment]
    recount(service)


def _fail_and_roll_back(
    service: Any,
    failed: dict[str, Any],
    at: float,
    *,
    reason: str = CIRCUIT_BREAKER_REASON,
    event: str = "deployment failed: tasks failed to start.",
    failed_tasks: int | None = None,
    roll_back: bool = True,
    by: str = "ECS deployment circuit breaker",
) -> None:
    """What ECS does when a deployment fails (its circuit breaker by default, or its alarms):
    fail the deployment and, with rollback on, roll back to the last completed one."""
    threshold = max(3, min(200, math.ceil(0.5 * max(failed["desiredCount"], 1))))
    failed.update(
        {
            "rolloutState": "FAILED",
            "rolloutStateReason": reason,
            "failedTasks": threshold if failed_tasks is None else failed_tasks,
            "runningCount": 0,
            "pendingCount": 0,
            "updatedAt": _now(),
        }
    )
    service._stackops_steps = []  # whatever the failed deployment still had planned is off
    _event(service, f"(deployment {failed['id']}) {event}")
    last = getattr(service, "_stackops_last_completed", None)
    if last is None or not roll_back:  # nothing to roll back to (the service's first deployment)
        recount(service)
        return
    last_id, last_task_definition = last
    failed["status"] = "ACTIVE"
    failed["desiredCount"] = 0
    rollback = _new_deployment(service, last_task_definition, failed)
    rollback["rolloutStateReason"] = f"{by}: rolling back to deploymentId {last_id}."
    service.deployments = [rollback, *service.deployments]
    service.task_definition = last_task_definition
    _event(service, f"rolling back to deployment {last_id}.")
    done = at + SETTLE_SECONDS
    _schedule(service, done, lambda _: _complete(service, rollback, keep=(failed["id"],)))
    _schedule(service, done + ROLLBACK_LINGER_SECONDS, lambda _: _drop(service, failed))
    recount(service)


def _drop(service: Any, deployment: dict[str, Any]) -> None:
    service.deployments = [d for d in service.deployments if d is not deployment]
    recount(service)
