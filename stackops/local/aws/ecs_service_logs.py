"""Log lines of the emulated services' tasks, so that `inv logs --service S` has something to show.

moto runs no containers and the extension's scheduler (`ecs_deployments.py`) only counts a
deployment's tasks. This module gives each running task of a deployment an id (32 hex digits, as
ECS's) and writes, as its container would through the awslogs driver, into the group and stream its
task definition names (`<awslogs-stream-prefix>/<container>/<task id>`, created if needed):

- when the task starts: "emulated task <family:revision> started (service <name>)" and
  "listening on port <containerPort>";
- every HEALTH_SECONDS: "health check: GET / 200 (ELB-HealthChecker/2.0)";
- when it stops (its deployment is gone, or scaled in): "stopping: SIGTERM (deployment replaced)".

A deployment's tasks run while it reports runningCount > 0, read from the deployments as the
scheduler last moved them (it moves them when a service is described: every rollout is watched
that way). A daemon thread (`start`, from `server.make_server`) checks every TICK_SECONDS, holding
the server's request lock, since moto's backends are not thread-safe. The unit tests call `tick`.
Nothing here runs against real AWS: only the emulator process starts the thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from stackops.local.aws.ecs_state import LOCK, TIME_SCALE, log

TICK_SECONDS = 1.0 * TIME_SCALE
HEALTH_SECONDS = 10.0 * TIME_SCALE
HEALTH_LINE = "health check: GET / 200 (ELB-HealthChecker/2.0)"
STOP_LINE = "stopping: SIGTERM (deployment replaced)"


def _targets(backend: Any, task_definition_arn: str) -> list[tuple[str, str, str | None, str, int | None]]:
    """(region, group, prefix, container, port) of each container that logs with awslogs."""
    definition = backend.describe_task_definition(task_definition_arn)
    targets = []
    for cd in definition.container_definitions:
        config = cd.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
            continue
        ports = [m.get("containerPort") for m in cd.get("portMappings") or [] if m.get("containerPort")]
        region = options.get("awslogs-region") or backend.region_name
        targets.append((region, options["awslogs-group"], options.get("awslogs-stream-prefix"), cd["name"],
                        ports[0] if ports else None))  # fmt: skip
    return targets


def _write(account_id: str, targets: list[Any], task_id: str, lines: Mapping[str, list[str]]) -> None:
    """`lines` by container name, into each container's stream of task `task_id`."""
    from moto.logs.models import logs_backends

    millis = int(time.time() * 1000)
    for region, group, prefix, container, _ in targets:
        logs = logs_backends[account_id][region]
        if group not in logs.groups:  # ECS would fail the task; the scheduler's story stays as it is
            continue
        stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
        logs.ensure_log_stream(group, stream)
        logs.put_log_events(group, stream, [{"timestamp": millis, "message": m} for m in lines[container]])


def _service_tick(backend: Any, service: Any, now: float) -> None:
    """Start, health-check and stop the tasks of one service's deployments (see the module docstring)."""
    tasks: dict[str, dict[str, Any]] = service.__dict__.setdefault("_stackops_log_tasks", {})
    running = {d.get("id", ""): d for d in service.deployments or [] if int(d.get("runningCount") or 0) > 0}
    for deployment_id in list(tasks):
        entry = tasks[deployment_id]
        keep = int(running[deployment_id]["runningCount"]) if deployment_id in running else 0
        for task_id in entry["ids"][keep:]:
            _write(service._account_id, entry["targets"], task_id, {t[3]: [STOP_LINE] for t in entry["targets"]})
        entry["ids"] = entry["ids"][:keep]
        if not entry["ids"]:
            del tasks[deployment_id]
    for deployment_id, deployment in running.items():
        arn = deployment["taskDefinition"]
        entry = tasks.get(deployment_id)
        if entry is None:
            entry = tasks[deployment_id] = {"ids": [], "targets": _targets(backend, arn), "health": now}
        family_revision = arn.rsplit("/", 1)[-1]
        while len(entry["ids"]) < int(deployment["runningCount"]):
            task_id = uuid.uuid4().hex
            entry["ids"].append(task_id)
            started = {
                t[3]: [f"emulated task {family_revision} started (service {service.name})"]
                + ([f"listening on port {t[4]}"] if t[4] else [])
                for t in entry["targets"]
            }
            _write(service._account_id, entry["targets"], task_id, started)
        if now - entry["health"] >= HEALTH_SECONDS:
            entry["health"] = now
            for task_id in entry["ids"]:
                _write(service._account_id, entry["targets"], task_id, {t[3]: [HEALTH_LINE] for t in entry["targets"]})


def tick(now: float | None = None) -> None:
    """One pass over every emulated ECS service of every account and region created so far."""
    from moto.ecs.models import ecs_backends

    now = time.monotonic() if now is None else now
    with LOCK:
        # dict.values: only the backends that exist (moto's lookups would create every region's)
        for account in list(dict.values(ecs_backends)):
            for backend in list(dict.values(account)):
                for service in list(backend.services.values()):
                    if getattr(service, "status", "ACTIVE") != "ACTIVE":
                        continue
                    try:
                        _service_tick(backend, service, now)
                    except Exception as exc:  # one service's trouble must not stop the others' logs
                        log(f"service {getattr(service, 'name', '?')}: task logs failed: {type(exc).__name__}: {exc}")


def start(request_lock: Any, stop: threading.Event | None = None) -> threading.Thread:
    """The daemon thread that calls `tick` every TICK_SECONDS, holding the server's request lock,
    until `stop` is set (the server never sets it: the thread ends with the process)."""
    stopped = stop or threading.Event()

    def loop() -> None:
        while not stopped.wait(TICK_SECONDS):
            with request_lock, contextlib.suppress(Exception):
                tick()

    thread = threading.Thread(target=loop, name="ecs-service-logs", daemon=True)
    thread.start()
    return thread
