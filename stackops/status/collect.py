"""What `inv status` shows, read from AWS: one JSON-ready snapshot of the environment.

The layout comes from the state object itself (no Terraform run); every other read runs at the
same time (stackops.parallel). A section whose reads fail holds {"unavailable": "<one line>"}
instead of failing the command: each service, the alarms, the certificate, the renewal function,
the database and the state's write time. Only reading the state (what exists at all) is fatal.
The keys are stable and documented in the README ("inv status").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stackops.bootstrap import state_bucket_client
from stackops.certs.acm import managed_certificates, match_certificate
from stackops.certs.renewal import lifetime_renewal
from stackops.ecs.layout import EcsLayout, ServiceRef
from stackops.ecs.task_definitions import td_name
from stackops.environments import Environment
from stackops.errors import OpsError, aws_error_message, aws_errors
from stackops.parallel import worker_pool
from stackops.state_object import outputs_of, read_state, state_key

EVENTS_SHOWN = 5  # ECS keeps the last 100 events of a service, newest first
GIB = 1024**3


@dataclass(frozen=True)
class Clients:
    """The boto3 clients status reads with, made once in the caller's thread (clients are thread-safe,
    sessions are not)."""

    ecs: Any
    elbv2: Any
    cloudwatch: Any
    acm: Any
    logs: Any
    rds: Any
    state_s3: Any  # the master account's, with ExpectedBucketOwner on the state bucket

    @classmethod
    def of(cls, env: Environment) -> Clients:
        session = env.session()
        names = ("ecs", "elbv2", "cloudwatch", "acm", "logs", "rds")
        return cls(*(session.client(name) for name in names), state_s3=state_bucket_client(env))


def iso(moment: Any) -> str | None:
    """An AWS time (datetime, or epoch milliseconds for CloudWatch Logs) as ISO 8601 in UTC."""
    if moment is None:
        return None
    if isinstance(moment, int | float):
        moment = dt.datetime.fromtimestamp(moment / 1000, dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return str(moment.astimezone(dt.UTC).isoformat(timespec="seconds"))


# -- the state -----------------------------------------------------------------------------------
def applied_state(env: Environment) -> dict[str, Any]:
    """The environment's state, read from its object; OpsError when nothing is applied (the fix named)."""
    state = read_state(env)
    if state is None:
        if env.backend.get("sse_customer_key"):
            raise OpsError(
                f"the state of {env.name} is encrypted with a customer-provided key (sse_customer_key), which "
                f"inv status does not read: use inv output --env {env.name}"
            )
        from stackops.stack import require_state_bucket

        require_state_bucket(env)  # a missing bucket says: run inv bootstrap
        with aws_errors(f"reading the Terraform state of {env.name}", profiles=[env.master_profile]):
            state_bucket_client(env).get_object(Bucket=env.state_bucket, Key=state_key(env))
        raise OpsError(f"the Terraform state of {env.name} (s3://{env.state_bucket}/{state_key(env)}) is not JSON")
    if not state:
        raise OpsError(f"{env.name} is not applied yet (it has no Terraform state): run inv apply --env {env.name}")
    return state


def layout_of(env: Environment, state: Mapping[str, Any]) -> EcsLayout:
    outputs = outputs_of(dict(state))
    if not outputs.get("ecs"):
        raise OpsError(f"{env.name} is not applied yet (its state has no services): run inv apply --env {env.name}")
    return EcsLayout.from_output(outputs, env=env.name)


def state_section(clients: Clients, env: Environment, state: Mapping[str, Any]) -> dict[str, Any]:
    # HeadObject is s3:GetObject in IAM: the read plan-state.json already grants.
    head = clients.state_s3.head_object(Bucket=env.state_bucket, Key=state_key(env))
    return {
        "bucket": env.state_bucket,
        "key": state_key(env),
        "last_written": iso(head.get("LastModified")),
        "serial": state.get("serial"),
    }


def managed_resource(state: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The attributes of the first managed resource of type `kind` in the state ({} when none)."""
    for resource in state.get("resources") or []:
        if resource.get("type") == kind and resource.get("mode") == "managed":
            for instance in resource.get("instances") or []:
                return dict(instance.get("attributes") or {})
    return {}


# -- services ------------------------------------------------------------------------------------
def describe_services(clients: Clients, layout: EcsLayout) -> dict[str, dict[str, Any]]:
    """ECS name -> its description; DescribeServices takes at most 10 services a call."""
    names = [ref.name for ref in layout.services.values()]
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 10):
        answer = clients.ecs.describe_services(cluster=layout.cluster, services=names[start : start + 10])
        found.update({s["serviceName"]: s for s in answer.get("services", []) if s.get("status") != "INACTIVE"})
    return found


def image_of(clients: Clients, arn: str, container: str) -> str | None:
    # Without include=TAGS: ecs:DescribeTaskDefinition alone, no tag permission needed.
    td = clients.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return next((c.get("image") for c in td.get("containerDefinitions", []) if c.get("name") == container), None)


def target_health(clients: Clients, arn: str) -> dict[str, Any]:
    """The targets of one target group. DescribeTargetHealth is not paginated: one answer holds them all."""
    answer = clients.elbv2.describe_target_health(TargetGroupArn=arn)
    targets = [
        {
            "id": item.get("Target", {}).get("Id"),
            "port": item.get("Target", {}).get("Port"),
            "state": item.get("TargetHealth", {}).get("State"),
            "reason": item.get("TargetHealth", {}).get("Reason"),
            "description": item.get("TargetHealth", {}).get("Description"),
        }
        for item in answer.get("TargetHealthDescriptions", [])
    ]
    name = arn.split(":targetgroup/", 1)[-1].split("/", 1)[0]
    return {"name": name, "arn": arn, "targets": targets}


def deployment(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("id"),
        "status": item.get("status"),  # PRIMARY (the newest), ACTIVE (being replaced), INACTIVE
        "rollout_state": item.get("rolloutState"),  # IN_PROGRESS, COMPLETED, FAILED
        "rollout_reason": item.get("rolloutStateReason"),
        "revision": td_name(str(item.get("taskDefinition", ""))),
        "running": item.get("runningCount", 0),
        "desired": item.get("desiredCount", 0),
        "pending": item.get("pendingCount", 0),
        "failed": item.get("failedTasks", 0),
        "updated_at": iso(item.get("updatedAt")),
    }


def service_section(
    clients: Clients, layout: EcsLayout, ref: ServiceRef, described: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    service = described.get(ref.name)
    if service is None:
        return {"name": ref.name, "unavailable": f"service {ref.name} not found in cluster {layout.cluster}"}
    arn = str(service.get("taskDefinition", ""))
    groups = [lb["targetGroupArn"] for lb in service.get("loadBalancers", []) if lb.get("targetGroupArn")]
    with worker_pool(1 + len(groups)) as pool:
        image = pool.submit(image_of, clients, arn, ref.container)
        healths = [pool.submit(target_health, clients, group) for group in groups]
        image_or_error = outcome(image)
        target_groups = [outcome(h) for h in healths]
    section: dict[str, Any] = {
        "name": ref.name,
        "revision": td_name(arn),
        "task_definition": arn,
        "image": image_or_error if not isinstance(image_or_error, dict) else None,
        "running": service.get("runningCount", 0),
        "desired": service.get("desiredCount", 0),
        "pending": service.get("pendingCount", 0),
        "deployments": [deployment(d) for d in service.get("deployments", [])],
        "events": [
            {"at": iso(e.get("createdAt")), "message": e.get("message", "")}
            for e in (service.get("events") or [])[:EVENTS_SHOWN]
        ],
        "target_groups": target_groups,
    }
    if isinstance(image_or_error, dict):
        section["image_unavailable"] = image_or_error["unavailable"]
    return section


# -- alarms --------------------------------------------------------------------------------------
def alarms_in_alarm(clients: Clients, env: Environment) -> list[dict[str, Any]]:
    """The environment's metric alarms (`<project>-<env>-` names) now in ALARM.

    Metric alarms only (DescribeAlarms' default AlarmTypes): AWS returns composite alarms only to a
    DescribeAlarms permission on "*", and the plan policy scopes it to the environment's alarms;
    the stack has no composite alarm."""
    found: list[dict[str, Any]] = []
    pages = clients.cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=f"{env.project}-{env.name}-", StateValue="ALARM"
    )
    for page in pages:
        # moto (5.2.5) ignores StateValue when a prefix is given (AWS applies both): filtered here too.
        for alarm in (a for a in page.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"):
            found.append(
                {
                    "name": alarm["AlarmName"],
                    "reason": alarm.get("StateReason", ""),
                    "since": iso(alarm.get("StateUpdatedTimestamp")),
                    "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
                }
            )
    return sorted(found, key=lambda a: a["name"])


def alarm_service(alarm: Mapping[str, Any], services: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The service key an alarm watches: by its name (`<service name>-...`) or its dimensions."""
    dimensions = alarm.get("dimensions") or {}
    for key, service in services.items():
        name = service.get("name", "")
        groups = [g["arn"].split(":", 5)[-1] for g in service.get("target_groups") or [] if "arn" in g]
        if alarm["name"].startswith(f"{name}-") or dimensions.get("ServiceName") == name:
            return key
        if dimensions.get("TargetGroup") in groups:
            return key
    return None


# -- the certificate and its renewal function ----------------------------------------------------
def certificate_section(clients: Clients, env: Environment, now: dt.datetime) -> dict[str, Any]:
    cert = match_certificate(managed_certificates(clients.acm, env), env.hostnames)
    if cert is None:
        return {"found": False, "names": sorted(env.hostnames)}
    # The lifetime rule only: asking the CA's renewal window (inv cert does) would cost an ACME round trip.
    renews_at = lifetime_renewal(cert.not_before, cert.not_after)
    return {
        "found": True,
        "arn": cert.arn,
        "names": list(cert.names),
        "not_after": iso(cert.not_after),
        "days_left": int((cert.not_after - now).total_seconds() // 86400),
        "renews_at": iso(renews_at),  # past when renewal_due: the next renewal run renews it
        "renewal_due": now >= renews_at,
    }


def renewer_section(clients: Clients, function: str, log_group: str) -> dict[str, Any]:
    """The renewal function's last run: the last event of its newest log stream ("never": no stream).

    orderBy=LastEventTime takes no logStreamNamePrefix; AWS updates lastEventTimestamp eventually
    (usually within an hour), so a run minutes ago may still show the one before."""
    answer = clients.logs.describe_log_streams(
        logGroupName=log_group, orderBy="LastEventTime", descending=True, limit=1
    )
    streams = answer.get("logStreams", [])
    last = None
    if streams:
        stream = streams[0]
        # moto (5.2.5) answers neither lastEventTimestamp nor lastIngestionTime: the stream's creation then.
        last = stream.get("lastEventTimestamp") or stream.get("lastIngestionTime") or stream.get("creationTime")
    return {"function": function, "log_group": log_group, "last_run": iso(last)}


# -- the database --------------------------------------------------------------------------------
def database_section(clients: Clients, identifier: str, now: dt.datetime) -> dict[str, Any]:
    with worker_pool(3) as pool:
        instance = pool.submit(clients.rds.describe_db_instances, DBInstanceIdentifier=identifier)
        snapshots = pool.submit(latest_snapshot, clients, identifier)
        free = pool.submit(free_storage, clients, identifier, now)
        described = instance.result()["DBInstances"][0]
        snapshot, free_bytes = outcome(snapshots), outcome(free)
    allocated = described.get("AllocatedStorage")
    free_gib = round(free_bytes / GIB, 2) if isinstance(free_bytes, int | float) else None
    return {
        "identifier": identifier,
        "status": described.get("DBInstanceStatus"),
        "engine": described.get("Engine"),
        "engine_version": described.get("EngineVersion"),
        "instance_class": described.get("DBInstanceClass"),
        "allocated_gib": allocated,
        "free_gib": free_gib,  # null: CloudWatch has no datapoint (moto never has one)
        "used_gib": round(allocated - free_gib, 2) if allocated is not None and free_gib is not None else None,
        "multi_az": described.get("MultiAZ"),
        "latest_snapshot": snapshot,
    }


def latest_snapshot(clients: Clients, identifier: str) -> dict[str, Any] | None:
    """The newest snapshot, automated or manual (without SnapshotType, both; not shared or public ones)."""
    newest: dict[str, Any] | None = None
    for page in clients.rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=identifier):
        for item in page.get("DBSnapshots", []):
            created = item.get("SnapshotCreateTime")
            if created is not None and (newest is None or created > newest["SnapshotCreateTime"]):
                newest = item
    if newest is None:
        return None
    return {
        "id": newest.get("DBSnapshotIdentifier"),
        "type": newest.get("SnapshotType"),
        "status": newest.get("Status"),
        "created": iso(newest.get("SnapshotCreateTime")),
    }


def free_storage(clients: Clients, identifier: str, now: dt.datetime) -> float | None:
    """The newest FreeStorageSpace (bytes) of the last hour; None when there is no datapoint."""
    answer = clients.cloudwatch.get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="FreeStorageSpace",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": identifier}],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now,
        Period=300,
        Statistics=["Minimum"],
    )
    points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return float(points[-1]["Minimum"]) if points else None


# -- putting it together -------------------------------------------------------------------------
def outcome(future: Future[Any]) -> Any:
    """A step's result, or {"unavailable": the AWS error's line} when AWS (or a check of ours) refused it."""
    try:
        return future.result()
    except (ClientError, BotoCoreError) as exc:
        return {"unavailable": aws_error_message(exc)}
    except OpsError as exc:
        return {"unavailable": str(exc)}


def collect(env: Environment, clients: Clients | None = None, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The snapshot `inv status` prints (see the module docstring and the README for its keys)."""
    now = now or dt.datetime.now(dt.UTC)
    state = applied_state(env)
    layout = layout_of(env, state)
    clients = clients or Clients.of(env)
    renewer = outputs_of(state).get("cert_renewer") or {}
    function = str(renewer.get("function_name") or f"{env.project}-{env.name}-cert-renewer")
    log_group = str(renewer.get("log_group") or f"/aws/lambda/{function}")
    database = str(managed_resource(state, "aws_db_instance").get("identifier") or f"{env.project}-{env.name}")

    steps: dict[str, Callable[[], Any]] = {
        "state": lambda: state_section(clients, env, state),
        "alarms": lambda: alarms_in_alarm(clients, env),
        "certificate": lambda: certificate_section(clients, env, now),
        "renewer": lambda: renewer_section(clients, function, log_group),
        "database": lambda: database_section(clients, database, now),
    }
    with worker_pool(len(steps) + 1) as pool:
        services_future = pool.submit(describe_services, clients, layout)
        futures = {name: pool.submit(step) for name, step in steps.items()}
        described = outcome(services_future)
        if "unavailable" in described:
            services = {key: {"name": ref.name, **described} for key, ref in layout.services.items()}
        else:
            services = services_in_parallel(clients, layout, described)
        sections = {name: outcome(future) for name, future in futures.items()}

    alarms = sections.pop("alarms")
    for alarm in alarms if isinstance(alarms, list) else []:
        alarm["service"] = alarm_service(alarm, services)
    for key, service in services.items():
        if "unavailable" not in service:  # null: the alarms could not be read
            service["alarms"] = [a["name"] for a in alarms if a["service"] == key] if isinstance(alarms, list) else None
    return {"environment": env.name, "cluster": layout.cluster, "services": services, "alarms": alarms, **sections}


def services_in_parallel(
    clients: Clients, layout: EcsLayout, described: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    refs: Sequence[ServiceRef] = list(layout.services.values())
    with worker_pool(len(refs)) as pool:
        futures = {ref.key: pool.submit(service_section, clients, layout, ref, described) for ref in refs}
        return {key: {"name": layout.services[key].name, **outcome(f)} for key, f in futures.items()}
