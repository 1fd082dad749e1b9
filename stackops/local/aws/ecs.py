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
   moto's own state manager no longer moves these tasks. (A service's tasks log too: see
   `ecs_service_logs.py`.)

5. `describe_task_definition` given a family without a revision: the family's latest ACTIVE
   revision, as ECS answers. moto returns the highest revision even when it is INACTIVE, so a
   revision deregistered by `inv deploy` (after ECS rolled it back) or by pruning looked like the
   family's latest: Terraform's `track_latest` read it, saw INACTIVE and planned a new revision.
   Installed on its own by `install_latest_active_revision` (the unit tests apply just this one).

6. `create_service` (the response: moto's backend never receives it) keeps the request's
   `deploymentConfiguration`, as update_service already does, so `alarms` (and the circuit
   breaker) read back as they were set and a second plan is empty. With `alarms.enable`, the
   scheduler honours them (`stackops.local.aws.ecs_alarms`): a deployment stays IN_PROGRESS for a
   bake time after its tasks run, and a named alarm set to ALARM meanwhile (CloudWatch's
   `set_alarm_state`) fails it and rolls the service back to its last completed deployment, with
   a service event, as ECS does.
   Installed on its own by `install_deployment_configuration` (the unit tests use the whole set).

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

from collections.abc import Mapping
from typing import Any

from stackops.local.aws.ecs_deployments import (
    advance,
    is_ecs_controller,
    primary_deployment,
    recount,
    start_deployment,
)
from stackops.local.aws.ecs_state import LOCK, log
from stackops.local.aws.ecs_state import now as _now
from stackops.local.aws.ecs_tasks import emulate_task, release_network

MOTO_VERSION = "5.2.5"
ECS_ENI_DESCRIPTION = "moto ECS"  # what moto 5.2.5's Task.__init__ names the ENI it creates
_installed = False


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
        log(f"warning: these patches target moto {MOTO_VERSION}, this is moto {moto.__version__}")

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
        with LOCK:
            if is_ecs_controller(service) and service.task_definition:
                service.deployments = []
                start_deployment(service, service.task_definition)
        return service

    def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
        task_definition_str = service_properties.get("task_definition")
        # moto would only renumber the current deployment; the scheduler below starts a new one.
        force = bool(service_properties.pop("force_new_deployment", False))
        service = original_update_service(self, service_properties)
        with LOCK:
            advance(service)
            if not is_ecs_controller(service):
                return service
            primary = primary_deployment(service)
            if task_definition_str:
                task_definition = self.describe_task_definition(task_definition_str).arn
            else:
                task_definition = primary["taskDefinition"] if primary else service.task_definition
            service.task_definition = task_definition  # moto stored the string it was given
            if primary is None or force or task_definition != primary["taskDefinition"]:
                start_deployment(service, task_definition)
            else:  # scaling only: the primary deployment follows the new desired count
                primary["desiredCount"] = service.desired_count
                if primary["rolloutState"] == "COMPLETED":
                    primary["runningCount"], primary["pendingCount"] = service.desired_count, 0
                else:
                    primary["pendingCount"] = max(service.desired_count - primary["runningCount"], 0)
                recount(service)
        return service

    def describe_services(self: Any, *args: Any, **kwargs: Any) -> Any:
        services, failures = original_describe_services(self, *args, **kwargs)
        with LOCK:
            for service in services:
                if is_ecs_controller(service):
                    advance(service)
        return services, failures

    def run_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = original_run_task(self, *args, **kwargs)
        for task in tasks:
            if task.container_instance_arn is None:  # Fargate: no container instance, no runtime
                emulate_task(task, self)
        return tasks

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster_tasks = self.tasks.get(self._get_cluster(cluster_str).name, {})
        known = next((t for arn, t in cluster_tasks.items() if arn.endswith(task_str.split("/")[-1])), None)
        if known is not None and getattr(known, "_stackops_t0", None) and known.status == "STOPPED":
            return known  # ECS leaves a stopped task as it is
        task = original_stop_task(self, cluster_str, task_str, reason)
        with LOCK:
            if getattr(task, "_stackops_cancelled", True) is False:
                task._stackops_cancelled = True
                started = any(c.last_status == "RUNNING" for c in task.containers)
                for container in task.containers:
                    container.last_status = "STOPPED"
                    container.exitCode = 143 if started else None  # SIGTERM from the agent
                task.stop_code = "UserInitiated"
                task.stopping_at = task.execution_stopped_at = task.stopped_at = _now()
                release_network(task)
        return task

    install_latest_active_revision()
    install_deployment_configuration()
    backend_cls._calculate_task_resource_requirements = staticmethod(calculate_task_resource_requirements)
    NetworkInterfaceBackend.create_network_interface = create_network_interface  # type: ignore[method-assign]
    backend_cls.create_service = create_service
    backend_cls.update_service = update_service
    backend_cls.describe_services = describe_services
    backend_cls.run_task = run_task
    backend_cls.stop_task = stop_task
    _installed = True


def install_latest_active_revision() -> None:
    """Patch 5: a family without a revision means its latest ACTIVE revision (idempotent)."""
    from moto.ecs.exceptions import TaskDefinitionNotFoundException
    from moto.ecs.models import EC2ContainerServiceBackend

    backend_cls: Any = EC2ContainerServiceBackend
    if getattr(backend_cls.describe_task_definition, "_stackops_latest_active", False):
        return
    original = backend_cls.describe_task_definition

    def describe_task_definition(self: Any, task_definition_str: str) -> Any:
        name = task_definition_str.split("/")[-1]
        if ":" in name:
            return original(self, task_definition_str)
        active = [rev for rev, td in self.task_definitions.get(name, {}).items() if td.status == "ACTIVE"]
        if not active:
            raise TaskDefinitionNotFoundException()
        return self.task_definitions[name][max(active)]

    describe_task_definition._stackops_latest_active = True  # type: ignore[attr-defined]
    backend_cls.describe_task_definition = describe_task_definition


def install_deployment_configuration() -> None:
    """Patch 6: create_service keeps the request's deploymentConfiguration (idempotent)."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    response_cls: Any = EC2ContainerServiceResponse
    if getattr(response_cls.create_service, "_stackops_deployment_configuration", False):
        return
    original = response_cls.create_service

    def create_service(self: Any) -> Any:
        result = original(self)
        config = self._get_param("deploymentConfiguration")
        if config:
            cluster, name = self._get_param("cluster", "default"), self._get_param("serviceName")
            service = self.ecs_backend._get_service(cluster, name)
            # (Its first deployment started without it; ECS has nothing to roll back to then anyway.)
            with LOCK:
                service.deployment_configuration = config
        return result

    create_service._stackops_deployment_configuration = True  # type: ignore[attr-defined]
    response_cls.create_service = create_service
