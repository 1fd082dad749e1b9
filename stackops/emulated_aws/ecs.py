"""A narrow extension of moto's ECS so it behaves like ECS for a healthy service.

Targets moto 5.2.5 (`moto/ecs/models.py`); `install()` warns when another version is loaded. moto
runs no containers, so out of the box (DESIGN.md, "Verified facts"):

- `update_service` never starts a deployment: it swaps the service's task definition (keeping the
  string it was given, not the ARN) and the deployment stays IN_PROGRESS with runningCount 0,
  unless the process-wide MOTO_ECS_SERVICE_RUNNING is set;
- `run_task` for Fargate crashes when a container definition has no `memory` of its own (Fargate
  only needs the task-level memory): `_calculate_task_resource_requirements` adds None to an int;
- the same call crashes again when the task's VPC has DNS hostnames off: the ENI moto creates for
  the task has no `private_dns_name`, which the task's attachment reads;
- tasks walk RUNNING -> ... -> STOPPED one step per describe_tasks (moto's state manager), with
  exit code 0 from the start and nothing in CloudWatch Logs.

What `install()` patches, and why each patch is the narrowest found:

1. `EC2ContainerServiceBackend._calculate_task_resource_requirements`: a container without memory
   counts as 0 and a Fargate task as its task-level memory (the value only matters for placing EC2
   tasks on container instances).
2. `NetworkInterfaceBackend.create_network_interface`: the ENI moto makes for an ECS task (its
   description is "moto ECS") gets the private DNS name Fargate always gives a task.
3. `create_service` / `update_service` / `describe_services`: a scheduler for deployments. A new
   deployment (new task definition, or forceNewDeployment) starts IN_PROGRESS with runningCount 0;
   SETTLE_SECONDS later it is COMPLETED with runningCount == desiredCount and the older deployments
   are gone, as after a healthy ECS rollout. Time is read when the service is described, so no
   thread is involved.
4. `run_task` / `stop_task`: a Fargate task walks PROVISIONING -> PENDING -> RUNNING ->
   DEPROVISIONING -> STOPPED in about a second, on a thread of its own; when it runs it writes
   "emulated task <family> started", "command: ..." and "exit <code>" to the log stream named by the
   container's awslogs options (`<prefix>/<container>/<task id>`, created if needed); it stops with
   exit code 0, stopCode EssentialContainerExited and "Essential container in task exited", and its
   ENI is deleted. A missing log group fails the task as ECS does (ResourceInitializationError).
   moto's own state manager no longer moves these tasks.

Faults, each consumed by the first deployment or task that can use it (`FAULTS`, or over HTTP at
/_stack/ecs/faults):

- next_deployment = "rollback": after SETTLE_SECONDS the deployment fails as ECS's circuit breaker
  reports it (status ACTIVE, rolloutState FAILED, "ECS deployment circuit breaker: tasks failed to
  start.") and a new PRIMARY deployment on the last completed task definition starts; SETTLE_SECONDS
  later that one is COMPLETED. The failed deployment stays listed ROLLBACK_LINGER_SECONDS more, then
  goes, as in ECS once it has drained (so, as with ECS, a caller that polls too slowly only sees that
  its deployment is gone and the service runs the old revision; the service events say why).
- next_deployment = "stuck": the deployment stays IN_PROGRESS with runningCount 0 until replaced.
- next_task_exit_code = N: the task's essential container exits with N.
- next_task_never_starts = "reason": the task stops from PENDING with stopCode TaskFailedToStart,
  that stoppedReason, and containers without an exit code.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shlex
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

MOTO_VERSION = "5.2.5"
# Every delay of the simulation is multiplied by this (e.g. 5 to watch intermediate states).
TIME_SCALE = float(os.environ.get("STACK_EMULATED_ECS_TIME_SCALE", "1") or 1)
SETTLE_SECONDS = 1.0 * TIME_SCALE  # one deployment phase (roll out, or fail, or roll back)
ROLLBACK_LINGER_SECONDS = 5.0 * TIME_SCALE  # a failed deployment stays listed after the rollback
# A one-off task's timeline, in seconds after run_task.
TASK_PENDING_AT = 0.2 * TIME_SCALE
TASK_RUNNING_AT = 0.5 * TIME_SCALE
TASK_EXITED_AT = 1.0 * TIME_SCALE
TASK_STOPPED_AT = 1.2 * TIME_SCALE
TASK_FAILED_AT = 0.8 * TIME_SCALE

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."
ESSENTIAL_EXITED = "Essential container in task exited"
ECS_ENI_DESCRIPTION = "moto ECS"  # what moto 5.2.5's Task.__init__ names the ENI it creates
DEPLOYMENT_MODES = ("rollback", "stuck")

_LOCK = threading.RLock()  # the server is threaded; task threads write to the same objects
_installed = False


def _log(message: str) -> None:
    print(f"[stackops ecs] {message}", file=sys.stderr, flush=True)


# -- faults -----------------------------------------------------------------------------------------
class Faults:
    """Pending one-shot faults; each is removed by the first deployment or task that uses it."""

    KEYS = ("next_deployment", "next_task_exit_code", "next_task_never_starts")

    def __init__(self) -> None:
        self._pending: dict[str, Any] = {}

    @staticmethod
    def validate(data: Any) -> dict[str, Any]:
        """Return the faults in `data`; raise ValueError naming the first wrong key or value."""
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        unknown = sorted(set(data) - set(Faults.KEYS))
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known faults: {', '.join(Faults.KEYS)}")
        clean: dict[str, Any] = {}
        mode = data.get("next_deployment")
        if mode is not None:
            if mode not in DEPLOYMENT_MODES:
                raise ValueError(f"next_deployment must be one of {', '.join(DEPLOYMENT_MODES)}, not {mode!r}")
            clean["next_deployment"] = mode
        code = data.get("next_task_exit_code")
        if code is not None:
            if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
                raise ValueError(f"next_task_exit_code must be an integer from 0 to 255, not {code!r}")
            clean["next_task_exit_code"] = code
        reason = data.get("next_task_never_starts")
        if reason is not None:
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError("next_task_never_starts must be a non-empty stoppedReason")
            clean["next_task_never_starts"] = reason.strip()
        return clean

    def add(self, data: Any) -> dict[str, Any]:
        """Validate and add faults (a key given again replaces the pending one); return all pending."""
        clean = self.validate(data)
        with _LOCK:
            self._pending.update(clean)
            return dict(self._pending)

    def pending(self) -> dict[str, Any]:
        with _LOCK:
            return dict(self._pending)

    def take(self, key: str) -> Any:
        with _LOCK:
            return self._pending.pop(key, None)

    def clear(self) -> None:
        with _LOCK:
            self._pending.clear()


FAULTS = Faults()


# -- small helpers ----------------------------------------------------------------------------------
def _now() -> Any:
    from moto.core.utils import utcnow

    return utcnow()


def _deployment_id() -> str:
    return f"ecs-svc/{secrets.randbelow(9 * 10**18) + 10**18}"


def _event(service: Any, message: str) -> None:
    # ECS lists the newest event first and keeps the last 100.
    entry = {"id": str(uuid.uuid4()), "createdAt": _now(), "message": f"(service {service.name}) {message}"}
    service.events = [entry, *list(service.events or [])][:100]


def _is_ecs_controller(service: Any) -> bool:
    return (service.deployment_controller or {}).get("type", "ECS") == "ECS"


def _primary(service: Any) -> dict[str, Any] | None:
    return next((d for d in service.deployments if d.get("status") == "PRIMARY"), None)


def _recount(service: Any) -> None:
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


def _advance(service: Any) -> None:
    """Apply the scheduled steps whose time has come (called whenever the service is read).

    A step schedules its successors from its own due time, so a service read seldom still shows
    the state it would have reached by now.
    """
    steps = getattr(service, "_stackops_steps", None)
    while steps and steps[0][0] <= time.monotonic():
        due, step = steps.pop(0)
        step(due)
    _recount(service)


def _start_deployment(service: Any, task_definition: str) -> dict[str, Any]:
    """Start a deployment of `task_definition`; a pending deployment fault decides how it ends."""
    template = _primary(service) or (service.deployments[0] if service.deployments else None)
    for deployment in service.deployments:
        deployment["status"] = "ACTIVE"
    deployment = _new_deployment(service, task_definition, template)
    service.deployments = [deployment, *service.deployments]
    service.task_definition = task_definition
    service._stackops_steps = []  # a newer deployment supersedes whatever the last one had planned
    mode = FAULTS.take("next_deployment")
    due = time.monotonic() + SETTLE_SECONDS
    if mode == "stuck":
        _log(f"service {service.name}: deployment {deployment['id']} stays IN_PROGRESS (injected fault)")
    elif mode == "rollback":
        _log(f"service {service.name}: deployment {deployment['id']} will fail and roll back (injected)")
        _schedule(service, due, lambda at: _fail_and_roll_back(service, deployment, at))
    else:
        _schedule(service, due, lambda _: _complete(service, deployment))
    _recount(service)
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
    _recount(service)
    _event(service, f"(deployment {deployment['id']}) deployment completed.")
    _event(service, "has reached a steady state.")


def _fail_and_roll_back(service: Any, failed: dict[str, Any], at: float) -> None:
    """What ECS's circuit breaker does: fail the deployment, roll back to the last completed one."""
    threshold = max(3, min(200, math.ceil(0.5 * max(failed["desiredCount"], 1))))
    failed.update(
        {
            "rolloutState": "FAILED",
            "rolloutStateReason": CIRCUIT_BREAKER_REASON,
            "failedTasks": threshold,
            "runningCount": 0,
            "pendingCount": 0,
            "updatedAt": _now(),
        }
    )
    _event(service, f"(deployment {failed['id']}) deployment failed: tasks failed to start.")
    last = getattr(service, "_stackops_last_completed", None)
    if last is None:  # nothing to roll back to (the service's first deployment)
        _recount(service)
        return
    last_id, last_task_definition = last
    failed["status"] = "ACTIVE"
    failed["desiredCount"] = 0
    rollback = _new_deployment(service, last_task_definition, failed)
    rollback["rolloutStateReason"] = f"ECS deployment circuit breaker: rolling back to deploymentId {last_id}."
    service.deployments = [rollback, *service.deployments]
    service.task_definition = last_task_definition
    _event(service, f"rolling back to deployment {last_id}.")
    done = at + SETTLE_SECONDS
    _schedule(service, done, lambda _: _complete(service, rollback, keep=(failed["id"],)))
    _schedule(service, done + ROLLBACK_LINGER_SECONDS, lambda _: _drop(service, failed))
    _recount(service)


def _drop(service: Any, deployment: dict[str, Any]) -> None:
    service.deployments = [d for d in service.deployments if d is not deployment]
    _recount(service)


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


def _release_network(task: Any) -> None:
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
        with _LOCK:
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
        _release_network(task)
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
        _log(f"task {getattr(task, 'id', '?')}: emulation failed: {type(exc).__name__}: {exc}")


def _emulate_task(task: Any, backend: Any) -> None:
    never_starts = FAULTS.take("next_task_never_starts")
    exit_code = 0 if never_starts else FAULTS.take("next_task_exit_code")
    with _LOCK:
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
        _log(f"task {task.id}: injected fault: never starts={never_starts!r} exit code={exit_code}")
    threading.Thread(
        target=_run_task_timeline,
        args=(task, backend, int(exit_code or 0), never_starts),
        name=f"ecs-task-{task.id}",
        daemon=True,
    ).start()


# -- the patches --------------------------------------------------------------------------------------
def install() -> None:
    """Apply the patches to moto's classes (idempotent; affects the whole process)."""
    global _installed
    if _installed:
        return
    import moto
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ec2.utils import generate_dns_from_ip
    from moto.ecs.models import EC2ContainerServiceBackend

    if moto.__version__ != MOTO_VERSION:
        _log(f"warning: these patches target moto {MOTO_VERSION}, this is moto {moto.__version__}")

    backend_cls: Any = EC2ContainerServiceBackend
    original_requirements = backend_cls._calculate_task_resource_requirements
    original_create_eni = NetworkInterfaceBackend.create_network_interface
    original_create_service = backend_cls.create_service
    original_update_service = backend_cls.update_service
    original_describe_services = backend_cls.describe_services
    original_run_task = backend_cls.run_task
    original_stop_task = backend_cls.stop_task

    def has_memory(cd: Mapping[str, Any]) -> bool:
        return any(cd.get(k) is not None for k in ("memory", "memoryReservation", "Memory", "MemoryReservation"))

    def calculate_task_resource_requirements(task_definition: Any) -> dict[str, Any]:
        definitions = task_definition.container_definitions
        if all(has_memory(cd) for cd in definitions):
            return original_requirements(task_definition)
        # Patch 1 (moto 5.2.5): count a container without memory as 0, the task as its task-level memory.
        view = type("TaskDefinitionView", (), {})()
        view.container_definitions = [cd if has_memory(cd) else {**cd, "memory": 0} for cd in definitions]
        requirements = original_requirements(view)
        task_memory = str(getattr(task_definition, "memory", "") or "")
        if task_memory.isdigit():
            requirements["MEMORY"] = max(requirements["MEMORY"], int(task_memory))
        return requirements

    def create_network_interface(self: Any, *args: Any, **kwargs: Any) -> Any:
        eni = original_create_eni(self, *args, **kwargs)
        # Patch 2 (moto 5.2.5): Task.__init__ reads eni.private_dns_name, set only with DNS hostnames on.
        if eni.description == ECS_ENI_DESCRIPTION and not hasattr(eni, "private_dns_name"):
            eni.private_dns_name = generate_dns_from_ip(eni.private_ip_address).replace(
                ".ec2.internal", f".{self.region_name}.compute.internal"
            )
        return eni

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original_create_service(self, *args, **kwargs)
        with _LOCK:
            if _is_ecs_controller(service) and service.task_definition:
                service.deployments = []
                _start_deployment(service, service.task_definition)
        return service

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        task_definition_str = service_properties.get("task_definition")
        # moto would only renumber the current deployment; the scheduler below starts a new one.
        force = bool(service_properties.pop("force_new_deployment", False))
        service = original_update_service(self, service_properties)
        with _LOCK:
            _advance(service)
            if not _is_ecs_controller(service):
                return service
            primary = _primary(service)
            if task_definition_str:
                task_definition = self.describe_task_definition(task_definition_str).arn
            else:
                task_definition = primary["taskDefinition"] if primary else service.task_definition
            service.task_definition = task_definition  # moto stored the string it was given
            if primary is None or force or task_definition != primary["taskDefinition"]:
                _start_deployment(service, task_definition)
            else:  # scaling only: the primary deployment follows the new desired count
                primary["desiredCount"] = service.desired_count
                if primary["rolloutState"] == "COMPLETED":
                    primary["runningCount"], primary["pendingCount"] = service.desired_count, 0
                else:
                    primary["pendingCount"] = max(service.desired_count - primary["runningCount"], 0)
                _recount(service)
        return service

    def describe_services(self: Any, *args: Any, **kwargs: Any) -> Any:
        services, failures = original_describe_services(self, *args, **kwargs)
        with _LOCK:
            for service in services:
                if _is_ecs_controller(service):
                    _advance(service)
        return services, failures

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original_run_task(self, *args, **kwargs)
        for task in tasks:
            if task.container_instance_arn is None:  # Fargate: no container instance, no runtime
                _emulate_task(task, self)
        return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster_tasks = self.tasks.get(self._get_cluster(cluster_str).name, {})
        known = next((t for arn, t in cluster_tasks.items() if arn.endswith(task_str.split("/")[-1])), None)
        if known is not None and getattr(known, "_stackops_t0", None) and known.status == "STOPPED":
            return known  # ECS leaves a stopped task as it is
        task = original_stop_task(self, cluster_str, task_str, reason)
        with _LOCK:
            if getattr(task, "_stackops_cancelled", True) is False:
                task._stackops_cancelled = True
                started = any(c.last_status == "RUNNING" for c in task.containers)
                for container in task.containers:
                    container.last_status = "STOPPED"
                    container.exitCode = 143 if started else None  # SIGTERM from the agent
                task.stop_code = "UserInitiated"
                task.stopping_at = task.execution_stopped_at = task.stopped_at = _now()
                _release_network(task)
        return task

    backend_cls._calculate_task_resource_requirements = staticmethod(calculate_task_resource_requirements)
    NetworkInterfaceBackend.create_network_interface = create_network_interface  # type: ignore[method-assign]
    backend_cls.create_service = create_service
    backend_cls.update_service = update_service
    backend_cls.describe_services = describe_services
    backend_cls.run_task = run_task
    backend_cls.stop_task = stop_task
    _installed = True
