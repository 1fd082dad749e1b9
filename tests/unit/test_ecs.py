"""ECS operations against moto's in-process mock.

moto (5.2.5) has no ECS scheduler and no container runtime, so two small stand-ins below fill
exactly those gaps, each wrapping moto's own backend methods (never our code, never boto3):
- `Scheduler`: moto's update_service swaps the service's task definition but starts no
  deployment, so the PRIMARY deployment would name the old revision for ever. The stand-in
  starts a new PRIMARY deployment on update and moves it, over a few describe_services polls,
  to a scripted end: completed, stuck, or failed and rolled back by the circuit breaker (with
  ECS's own reason and event messages). The emulator's ECS extension does the same on the server.
- `Runtime`: moto's Fargate tasks always report exit code 0 and no stop reason, and write no
  logs. The stand-in sets the exit code (or a failed start) on the task moto created and writes
  the container's log lines with logs.put_log_events; the task still walks RUNNING -> STOPPED
  through moto's state manager.
Every call the operations make goes to moto unchanged.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import botocore.session
import pytest
from moto import mock_aws
from moto.core.utils import utcnow
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from moto.moto_api import state_manager

from stackops.db.instance import DatabaseRef
from stackops.ecs.deploy import deploy
from stackops.ecs.images import parse_image
from stackops.ecs.layout import EcsLayout
from stackops.ecs.migrate import failure_message, migrate
from stackops.ecs.refresh import refresh
from stackops.ecs.results import Outcome, print_results, raise_on_failure
from stackops.ecs.rollback import rollback
from stackops.ecs.rollouts import PREVIOUS_TAG
from stackops.ecs.task_definitions import IMAGE_TAG, REGISTERED_BY_TAG
from stackops.errors import OpsError

REGION = "eu-west-2"
CLUSTER = "exii-test"
LOG_GROUP = "/ecs/exii-test"
REPO = "123456789012.dkr.ecr.eu-west-2.amazonaws.com"
FAST = {"timeout": 5, "poll": 0.001}
FAILED_TO_START = "tasks failed to start."


# -- stand-ins for what moto lacks -----------------------------------------------------------


class Scheduler:
    """The ECS service scheduler (see the module docstring). `plan` applies to the next updates."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.plan = "complete"  # complete | stuck | circuit_breaker
        self.steps = 2  # describe_services polls before the deployment reaches its end
        self.updates: list[str] = []
        self._pending: dict[str, dict[str, Any]] = {}
        update, describe = EC2ContainerServiceBackend.update_service, EC2ContainerServiceBackend.describe_services

        def update_service(backend: Any, properties: dict[str, Any]) -> Any:
            service = update(backend, properties)
            self._start(service)
            return service

        def describe_services(backend: Any, cluster: str, names: list[str]) -> Any:
            services, failures = describe(backend, cluster, names)
            for service in services:
                self._advance(service)
            return services, failures

        monkeypatch.setattr(EC2ContainerServiceBackend, "update_service", update_service)
        monkeypatch.setattr(EC2ContainerServiceBackend, "describe_services", describe_services)

    def _start(self, service: Any) -> None:
        self.updates.append(service.name)
        old = dict(service.deployments[0], status="ACTIVE")
        new = dict(
            old,
            id=f"ecs-svc/{len(self.updates)}000",
            status="PRIMARY",
            taskDefinition=service.task_definition,
            rolloutState="IN_PROGRESS",
            rolloutStateReason="ECS deployment in progress.",
            runningCount=0,
            pendingCount=service.desired_count,
            createdAt=utcnow(),
            updatedAt=utcnow(),
        )
        service.deployments = [new, old]
        self._pending[service.arn] = {"left": self.steps, "plan": self.plan, "new": new, "old": old}

    def _advance(self, service: Any) -> None:
        state = self._pending.get(service.arn)
        if state is None:
            return
        state["left"] -= 1
        if state["left"] > 0 or state["plan"] == "stuck":
            return
        new, old = state["new"], state["old"]
        del self._pending[service.arn]
        if state["plan"] == "complete":
            new.update(
                rolloutState="COMPLETED",
                rolloutStateReason=f"ECS deployment {new['id']} completed.",
                runningCount=service.desired_count,
                pendingCount=0,
            )
            service.deployments = [new]
            return
        # the circuit breaker: ours FAILED, a new PRIMARY deployment goes back to the old revision
        new.update(
            status="ACTIVE",
            rolloutState="FAILED",
            failedTasks=3,
            rolloutStateReason="ECS deployment circuit breaker: tasks failed to start.",
        )
        back = dict(
            old,
            id=new["id"] + "-rollback",
            status="PRIMARY",
            rolloutState="IN_PROGRESS",
            rolloutStateReason=f"ECS deployment circuit breaker: rolling back to deploymentId {old['id']}.",
        )
        service.deployments = [back, new]
        service.task_definition = old["taskDefinition"]
        service.events[:0] = [
            {
                "id": "e2",
                "createdAt": utcnow(),
                "message": f"(service {service.name}) rolling back to deployment {old['id']}.",
            },
            {
                "id": "e1",
                "createdAt": utcnow(),
                "message": f"(service {service.name}) (deployment {new['id']}) deployment failed: {FAILED_TO_START}",
            },
        ]


class Runtime:
    """The container runtime (see the module docstring): exit code, failed start, log lines."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, session: boto3.Session) -> None:
        self.exit_code: int | None = 0
        self.never_started = False
        self.lines = ["Operations to perform:", "  Apply all migrations: app", "No migrations to apply."]
        self.started: list[Any] = []
        logs = session.client("logs")
        run_task = EC2ContainerServiceBackend.run_task

        def run(backend: Any, *args: Any, **kwargs: Any) -> Any:
            tasks = run_task(backend, *args, **kwargs)
            for task in tasks:
                self.started.append(task)
                container = task.containers[0]
                if self.never_started:
                    container.exitCode = None
                    task.stop_code = "TaskFailedToStart"
                    task.stopped_reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
                    continue
                container.exitCode = self.exit_code
                stream = f"migrate/{container.name}/{task.id}"
                now = int(time.time() * 1000)  # CloudWatch Logs rejects events older than 14 days
                logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
                logs.put_log_events(
                    logGroupName=LOG_GROUP,
                    logStreamName=stream,
                    logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(self.lines)],
                )
            return tasks

        monkeypatch.setattr(EC2ContainerServiceBackend, "run_task", run)


# -- fixtures --------------------------------------------------------------------------------


@functools.cache
def _botocore_session() -> botocore.session.Session:
    # one botocore session for the module, so its loader parses the large EC2/ECS models once
    return botocore.session.get_session()


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # no instances here: skip 0.3 s of AMI loading
    # moto builds a Fargate task's network attachment from an attribute its ENI model lacks
    monkeypatch.setattr(
        NetworkInterface, "private_dns_name", property(lambda eni: "ip-10-0-1-9.internal"), raising=False
    )
    # tasks step RUNNING -> ... -> STOPPED on each describe_tasks (moto's own state manager)
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 1})
    with mock_aws():
        yield boto3.Session(region_name=REGION, botocore_session=_botocore_session())
    state_manager.unset_transition(model_name="ecs::task")


def container(name: str, image: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "essential": True,
        "memory": 512,
        "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
        "environment": [{"name": "STAGE", "value": "test"}],
        "secrets": [
            {
                "name": "DJANGO_SECRET_KEY",
                "valueFrom": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:/exii/test/k",
            }
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": LOG_GROUP,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": name.split("-")[0],
            },
        },
        # As task-definitions/*.json: a read-only root filesystem, /tmp on the task's `tmp` volume.
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],  # noqa: S108
        **extra,
    }


def register(client: Any, family: str, name: str, image: str, **extra: Any) -> str:
    return client.register_task_definition(
        family=family,
        containerDefinitions=[container(name, image, **extra)],
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        taskRoleArn="arn:aws:iam::123456789012:role/app",
        executionRoleArn="arn:aws:iam::123456789012:role/exec",
        volumes=[{"name": "tmp", "host": {}}],
        runtimePlatform={"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        ephemeralStorage={"sizeInGiB": 21},
        tags=[{"key": "Project", "value": "exii"}],
    )["taskDefinition"]["taskDefinitionArn"]


class Stack:
    def __init__(self, session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ecs = session.client("ecs")
        ec2, logs = session.client("ec2"), session.client("logs")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.101.0/24")["Subnet"]["SubnetId"]
        self.sg = ec2.create_security_group(GroupName="svc", Description="services", VpcId=vpc)["GroupId"]
        logs.create_log_group(logGroupName=LOG_GROUP)
        self.ecs.create_cluster(clusterName=CLUSTER)
        register(self.ecs, "exii-test-concept", "concept", f"{REPO}/concept:v1")
        register(self.ecs, "exii-test-django", "django", f"{REPO}/django:v1")
        register(self.ecs, "exii-test-django-worker", "worker", f"{REPO}/django:v1")  # a family sharing a prefix
        register(self.ecs, "exii-test-migrate", "migrate", f"{REPO}/django:v1", command=["sh", "-c", "migrate"])
        monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "2")  # services start with a COMPLETED deployment
        for name in ("concept", "django"):
            self.ecs.create_service(
                cluster=CLUSTER,
                serviceName=f"exii-test-{name}",
                taskDefinition=f"exii-test-{name}:1",
                desiredCount=2,
                launchType="FARGATE",
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": [self.subnet],
                        "securityGroups": [self.sg],
                        "assignPublicIp": "DISABLED",
                    }
                },
            )
        monkeypatch.delenv("MOTO_ECS_SERVICE_RUNNING")
        self.output = {
            "cluster": CLUSTER,
            "services": {
                n: {"name": f"exii-test-{n}", "family": f"exii-test-{n}", "container": n} for n in ("concept", "django")
            },
            "migrate": {"family": "exii-test-migrate", "container": "migrate", "network_from": "django"},
            "log_group": LOG_GROUP,
        }
        # as `terraform output -json` prints it
        self.layout = EcsLayout.from_output(
            {"ecs": {"value": self.output, "type": "object", "sensitive": False}}, env="test"
        )

    def service(self, name: str) -> dict[str, Any]:
        return self.ecs.describe_services(cluster=CLUSTER, services=[f"exii-test-{name}"], include=["TAGS"])[
            "services"
        ][0]

    def running(self, name: str) -> str:
        return self.service(name)["taskDefinition"].rsplit("/", 1)[-1]

    def active(self, family: str) -> list[int]:
        arns = self.ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]
        return sorted(int(a.rsplit(":", 1)[1]) for a in arns if a.rsplit("/", 1)[1].rsplit(":", 1)[0] == family)


@pytest.fixture
def stack(session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> Stack:
    return Stack(session, monkeypatch)


@pytest.fixture
def scheduler(monkeypatch: pytest.MonkeyPatch) -> Scheduler:
    return Scheduler(monkeypatch)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, session: boto3.Session) -> Runtime:
    return Runtime(monkeypatch, session)


# -- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "output", [None, {}, {"ecs": {"value": None, "type": "object", "sensitive": False}}, {"other": {}}]
)
def test_missing_layout_says_to_apply(output: Any) -> None:
    with pytest.raises(
        OpsError, match=r"^no ECS cluster in Terraform outputs for env dev: run inv apply --env dev first$"
    ):
        EcsLayout.from_output(output, env="dev")


def test_layout_reads_plain_value_and_reports_missing_fields() -> None:
    value = {"cluster": "c", "services": {"django": {"name": "s", "family": "f", "container": "d"}}}
    layout = EcsLayout.from_output(value, env="dev")
    assert layout.service("django").family == "f" and layout.service("s").key == "django"
    assert layout.migrate is None
    value["services"]["django"].pop("family")
    with pytest.raises(OpsError, match=r"ecs\.services\.django\.family is missing for env dev"):
        EcsLayout.from_output(value, env="dev")


# -- image references ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("v2", f"{REPO}/django:v2"),
        (":v2.1-rc_1", f"{REPO}/django:v2.1-rc_1"),
        ("@sha256:" + "a" * 64, f"{REPO}/django@sha256:" + "a" * 64),
        ("localhost:5000/team/app:7", "localhost:5000/team/app:7"),
        ("nginx:1.27", "nginx:1.27"),
        (f"{REPO}/other@sha256:" + "b" * 64, f"{REPO}/other@sha256:" + "b" * 64),
        (f"{REPO}/django", f"{REPO}/django"),
    ],
)
def test_image_spec(spec: str, expected: str) -> None:
    assert parse_image(spec).apply_to(f"{REPO}/django:v1") == expected


@pytest.mark.parametrize(
    "spec", ["", ":", "bad tag", "Repo/App:v1", "repo:v1:v2", "repo@sha256:xyz", "a//b", ":-v", "x" * 129]
)
def test_image_spec_refuses_nonsense(spec: str) -> None:
    with pytest.raises(OpsError, match="not an image reference or tag"):
        parse_image(spec)


# -- refresh ---------------------------------------------------------------------------------


def test_refresh_moves_to_newer_revision_then_does_nothing(
    session: boto3.Session, stack: Stack, scheduler: Scheduler
) -> None:
    register(stack.ecs, "exii-test-django", "django", f"{REPO}/django:v2")
    register(stack.ecs, "exii-test-django-worker", "worker", f"{REPO}/django:v9")  # must not be picked

    results = refresh(session, stack.layout, **FAST)

    by_name = {r.service: r for r in results}
    assert by_name["concept"].outcome is Outcome.UNCHANGED and by_name["concept"].revision_to == 1
    django = by_name["django"]
    assert (django.outcome, django.revision_from, django.revision_to) == (Outcome.UPDATED, 1, 2)
    assert (django.image_from, django.image_to) == (f"{REPO}/django:v1", f"{REPO}/django:v2")
    assert stack.running("django") == "exii-test-django:2"
    tags = {t["key"]: t["value"] for t in stack.service("django")["tags"]}
    assert tags[PREVIOUS_TAG].endswith("task-definition/exii-test-django:1")
    assert scheduler.updates == ["exii-test-django"]
    raise_on_failure(results)

    again = refresh(session, stack.layout, **FAST)
    assert [r.outcome for r in again] == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    assert scheduler.updates == ["exii-test-django"]


def test_refresh_force_redeploys_same_revision(session: boto3.Session, stack: Stack, scheduler: Scheduler) -> None:
    before = stack.service("concept")["deployments"][0]["id"]

    [result] = refresh(session, stack.layout, service="concept", force=True, **FAST)

    assert (result.outcome, result.revision_from, result.revision_to) == (Outcome.FORCED, 1, 1)
    deployments = stack.service("concept")["deployments"]
    assert [d["status"] for d in deployments] == ["PRIMARY"] and deployments[0]["id"] != before
    assert not any(t["key"] == PREVIOUS_TAG for t in stack.service("concept").get("tags", []))


def test_refresh_unknown_service_changes_nothing(session: boto3.Session, stack: Stack, scheduler: Scheduler) -> None:
    register(stack.ecs, "exii-test-django", "django", f"{REPO}/django:v2")
    with pytest.raises(OpsError, match=r"unknown service 'api' in env test: known services are concept, django"):
        refresh(session, stack.layout, service="api", **FAST)
    assert scheduler.updates == [] and stack.running("django") == "exii-test-django:1"


def test_refresh_prunes_old_revisions_but_never_running_or_rollback_ones(
    session: boto3.Session, stack: Stack, scheduler: Scheduler
) -> None:
    # a second service on the django family still runs revision 1
    stack.ecs.create_service(
        cluster=CLUSTER,
        serviceName="exii-test-worker",
        taskDefinition="exii-test-django:1",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [stack.subnet], "securityGroups": [stack.sg]}},
    )
    output = copy.deepcopy(stack.output)
    output["services"]["worker"] = {"name": "exii-test-worker", "family": "exii-test-django", "container": "django"}
    layout = EcsLayout.from_output(output, env="test")
    for tag in range(2, 9):
        register(stack.ecs, "exii-test-django", "django", f"{REPO}/django:v{tag}")
    refresh(session, layout, service="django", keep_revisions=5, **FAST)  # 1 -> 8, previous = 1

    register(stack.ecs, "exii-test-django", "django", f"{REPO}/django:v9")
    [result] = refresh(session, layout, service="django", keep_revisions=2, **FAST)  # 8 -> 9, previous = 8

    assert result.outcome is Outcome.UPDATED and result.revision_to == 9
    # newest two (9, 8 = also the rollback target) and 1 (the worker runs it) stay
    assert stack.active("exii-test-django") == [1, 8, 9]
    assert result.deregistered == (4, 5, 6, 7)  # 2 and 3 went in the first refresh (keep 5)
    assert stack.active("exii-test-django-worker") == [1]


def test_circuit_breaker_rollback_is_a_failure_with_ecs_reason(
    session: boto3.Session, stack: Stack, scheduler: Scheduler, capsys: pytest.CaptureFixture[str]
) -> None:
    register(stack.ecs, "exii-test-concept", "concept", f"{REPO}/concept:broken")
    scheduler.plan = "circuit_breaker"

    [result] = refresh(session, stack.layout, service="concept", **FAST)

    assert result.outcome is Outcome.ROLLED_BACK and not result.ok
    assert "ECS rolled back to rev 1" in result.detail
    assert "circuit breaker: tasks failed to start" in result.detail
    assert "deployment failed: tasks failed to start" in result.detail  # the service event
    assert stack.running("concept") == "exii-test-concept:1"
    assert stack.active("exii-test-concept") == [1, 2]  # nothing pruned after a failure
    with pytest.raises(OpsError, match="concept: rolled back: ECS rolled back"):
        raise_on_failure([result])
    print_results([result])
    assert "1 -> 2" in capsys.readouterr().out


def test_a_rollback_on_a_deployment_alarm_names_the_alarm(
    session: boto3.Session, stack: Stack, scheduler: Scheduler
) -> None:
    cloudwatch = session.client("cloudwatch")
    for name in ("exii-test-concept-5xx-rate", "exii-test-concept-unhealthy-hosts"):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApplicationELB",
            MetricName="UnHealthyHostCount",
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
    # What Terraform sets (modules/service), set on moto's service itself so the stand-in starts no deployment.
    [service] = [s for s in ecs_backends["123456789012"][REGION].services.values() if s.name == "exii-test-concept"]
    service.deployment_configuration = {
        "alarms": {"alarmNames": ["exii-test-concept-5xx-rate", "exii-test-concept-unhealthy-hosts"], "enable": True,
                   "rollback": True}
    }  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="exii-test-concept-5xx-rate", StateValue="ALARM", StateReason="test")
    register(stack.ecs, "exii-test-concept", "concept", f"{REPO}/concept:v2")
    scheduler.plan = "circuit_breaker"  # the stand-in's rollback: ECS put rev 1 back

    [result] = refresh(session, stack.layout, service="concept", **FAST)

    assert result.outcome is Outcome.ROLLED_BACK
    assert result.detail.startswith("deployment alarm exii-test-concept-5xx-rate in ALARM: ECS rolled back to rev 1")
    assert "unhealthy-hosts" not in result.detail  # the one in OK is not named
    with pytest.raises(OpsError, match="concept: rolled back: deployment alarm exii-test-concept-5xx-rate in ALARM"):
        raise_on_failure([result])


def test_stuck_deployment_times_out_with_what_was_last_seen(
    session: boto3.Session, stack: Stack, scheduler: Scheduler
) -> None:
    register(stack.ecs, "exii-test-concept", "concept", f"{REPO}/concept:v2")
    scheduler.plan = "stuck"

    [result] = refresh(session, stack.layout, service="concept", timeout=0.05, poll=0.005)

    assert result.outcome is Outcome.TIMED_OUT
    assert "not steady after 0.05s; last seen: rev 2 IN_PROGRESS, 0/2 running" in result.detail
    with pytest.raises(OpsError, match="concept: timed out"):
        raise_on_failure([result])


def test_rollout_waits_for_a_deployment_of_the_target(session: boto3.Session, stack: Stack) -> None:
    # no Scheduler: plain moto starts no deployment on update_service, so none of rev 2 ever
    # appears; that must read as "still waiting" (then a timeout), not as a rollback
    register(stack.ecs, "exii-test-concept", "concept", f"{REPO}/concept:v2")
    [result] = refresh(session, stack.layout, service="concept", timeout=0.02, poll=0.005)
    assert result.outcome is Outcome.TIMED_OUT
    assert "last seen: no deployment of rev 2 yet; PRIMARY is rev 1 COMPLETED, 2/2 running" in result.detail


def test_deploy_rolled_back_by_ecs_deregisters_its_revision(
    session: boto3.Session, stack: Stack, scheduler: Scheduler
) -> None:
    scheduler.plan = "circuit_breaker"
    result = deploy(session, stack.layout, "concept", "broken", **FAST)
    assert result.outcome is Outcome.ROLLED_BACK and result.detail.endswith("deregistered exii-test-concept:2")
    assert stack.running("concept") == "exii-test-concept:1" and stack.active("exii-test-concept") == [1]


# -- rollback --------------------------------------------------------------------------------


def test_rollback_returns_to_previous_revision(session: boto3.Session, stack: Stack, scheduler: Scheduler) -> None:
    with pytest.raises(OpsError, match="nothing to roll back to for django"):
        rollback(session, stack.layout, "django", **FAST)
    register(stack.ecs, "exii-test-django", "django", f"{REPO}/django:v2")
    refresh(session, stack.layout, service="django", **FAST)

    result = rollback(session, stack.layout, "django", **FAST)

    assert (result.outcome, result.revision_from, result.revision_to) == (Outcome.REVERTED, 2, 1)
    assert result.image_to == f"{REPO}/django:v1"
    assert "rev 2 is still the latest" in result.detail
    assert stack.running("django") == "exii-test-django:1"
    # the revision it left is recorded in turn: a second rollback undoes the first
    assert rollback(session, stack.layout, "django", **FAST).revision_to == 2


# -- deploy ----------------------------------------------------------------------------------

_VOLATILE = ("taskDefinitionArn", "revision", "registeredAt", "registeredBy", "deregisteredAt", "status")


def _definition(client: Any, name: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    response = client.describe_task_definition(taskDefinition=name, include=["TAGS"])
    td = {k: v for k, v in response["taskDefinition"].items() if k not in _VOLATILE}
    return td, response["tags"]


def test_deploy_registers_copy_with_only_the_image_changed(
    session: boto3.Session, stack: Stack, scheduler: Scheduler
) -> None:
    result = deploy(session, stack.layout, "django", ":v2", **FAST)

    assert (result.outcome, result.revision_from, result.revision_to) == (Outcome.UPDATED, 1, 2)
    old, old_tags = _definition(stack.ecs, "exii-test-django:1")
    new, new_tags = _definition(stack.ecs, "exii-test-django:2")
    assert new["containerDefinitions"][0].pop("image") == f"{REPO}/django:v2"
    old["containerDefinitions"][0].pop("image")
    assert new == old
    # The tags are copied, plus who registered the copy and with which image.
    assert new_tags == [
        *old_tags,
        {"key": REGISTERED_BY_TAG, "value": "inv deploy"},
        {"key": IMAGE_TAG, "value": f"{REPO}/django:v2"},
    ]
    assert {"taskRoleArn", "executionRoleArn", "volumes", "cpu", "memory"} <= new.keys()
    # The copy keeps the read-only root filesystem and the writable /tmp (Prowler checks both).
    assert new["volumes"] == [{"name": "tmp", "host": {}}]
    [copied] = new["containerDefinitions"]
    assert copied["readonlyRootFilesystem"] is True
    assert copied["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]  # noqa: S108
    assert stack.running("django") == "exii-test-django:2"
    assert stack.active("exii-test-migrate") == [1]  # no --migrate: the migrate family is untouched


def test_deploy_refuses_unparseable_image_before_any_call() -> None:
    session = mock.Mock(spec=boto3.Session)
    layout = EcsLayout.from_output(
        {"cluster": "c", "services": {"django": {"name": "s", "family": "f", "container": "d"}}}
    )
    with pytest.raises(OpsError, match="not an image reference"):
        deploy(session, layout, "django", "django:bad tag!")
    assert session.mock_calls == []


def test_deploy_with_migrate_runs_it_first_with_new_image(
    session: boto3.Session, stack: Stack, scheduler: Scheduler, runtime: Runtime
) -> None:
    result = deploy(session, stack.layout, "django", "v3", migrate=True, **FAST)

    assert result.ok and stack.running("django") == "exii-test-django:2"
    [task] = runtime.started
    assert task.task_definition_arn.endswith("exii-test-migrate:2")
    migrate_td, _ = _definition(stack.ecs, "exii-test-migrate:2")
    assert migrate_td["containerDefinitions"][0]["image"] == f"{REPO}/django:v3"


def test_deploy_with_failing_migration_leaves_service_untouched(
    session: boto3.Session, stack: Stack, scheduler: Scheduler, runtime: Runtime
) -> None:
    runtime.exit_code = 3
    with pytest.raises(OpsError, match=r"migration failed \(container migrate exited 3\): django left untouched"):
        deploy(session, stack.layout, "django", "v3", migrate=True, **FAST)

    assert scheduler.updates == [] and stack.running("django") == "exii-test-django:1"
    assert stack.active("exii-test-django") == [1]  # no service revision registered
    assert stack.active("exii-test-migrate") == [1]  # the failed migrate revision deregistered again


def test_deploy_with_migrate_snapshots_first_and_a_failed_snapshot_touches_nothing(
    session: boto3.Session, stack: Stack, scheduler: Scheduler, runtime: Runtime
) -> None:
    database = DatabaseRef("test", "exii-test", snapshot_keep=10)
    # No instance yet: CreateDBSnapshot fails, so nothing migrates and nothing rolls.
    with pytest.raises(OpsError, match="DBInstanceNotFound"):
        deploy(session, stack.layout, "django", "v3", migrate=True, database=database, **FAST)
    assert runtime.started == [] and scheduler.updates == [] and stack.active("exii-test-migrate") == [1]

    create_database(session)
    result = deploy(session, stack.layout, "django", "v3", migrate=True, database=database, **FAST)
    # r3: the failed attempt's r2 was deregistered again
    assert result.ok and "migrated after snapshot exii-test-premigrate-r3-" in result.detail
    [raw] = session.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert {t["Key"]: t["Value"] for t in raw["TagList"]}["stackops:image"] == f"{REPO}/django:v3"


def test_deploy_migrate_refused_for_service_not_running_migrate_image(
    session: boto3.Session, stack: Stack, scheduler: Scheduler, runtime: Runtime
) -> None:
    with pytest.raises(OpsError, match=r"the migrate task runs .*/django, not concept's .*/concept"):
        deploy(session, stack.layout, "concept", "v2", migrate=True, **FAST)
    assert runtime.started == [] and scheduler.updates == [] and stack.active("exii-test-concept") == [1]


# -- migrate ---------------------------------------------------------------------------------


def create_database(session: boto3.Session) -> Any:
    rds = session.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="exii-test", DBInstanceClass="db.t4g.micro", Engine="postgres",
        MasterUsername="app_admin", MasterUserPassword="not-a-secret-1", AllocatedStorage=20,
    )  # fmt: skip
    return rds


def test_migrate_exit_0_with_logs_succeeds(session: boto3.Session, stack: Stack, runtime: Runtime) -> None:
    result = migrate(session, stack.layout, database=None, command=["python", "manage.py", "migrate"], **FAST)

    assert result.ok and result.exit_codes == {"migrate": 0}
    assert list(result.log_lines) == runtime.lines
    [task] = stack.ecs.describe_tasks(cluster=CLUSTER, tasks=[result.task_arn])["tasks"]
    assert task["lastStatus"] == "STOPPED" and task["launchType"] == "FARGATE"
    assert task["overrides"]["containerOverrides"] == [
        {"name": "migrate", "command": ["python", "manage.py", "migrate"]}
    ]
    subnet = next(d["value"] for d in task["attachments"][0]["details"] if d["name"] == "subnetId")
    assert subnet == stack.subnet  # the network of the django service


def test_migrate_nonzero_exit_fails(session: boto3.Session, stack: Stack, runtime: Runtime) -> None:
    runtime.exit_code = 3
    result = migrate(session, stack.layout, database=None, **FAST)
    assert not result.ok and result.detail == "container migrate exited 3"
    assert list(result.log_lines) == runtime.lines


def test_migrate_never_started_reports_stop_reason(session: boto3.Session, stack: Stack, runtime: Runtime) -> None:
    runtime.never_started = True
    result = migrate(session, stack.layout, database=None, **FAST)
    assert not result.ok and result.stop_code == "TaskFailedToStart"
    assert "never ran to completion: CannotPullContainerError" in result.detail
    assert "stop code TaskFailedToStart" in result.detail
    assert result.log_lines == ()


def test_migrate_snapshots_the_database_first_and_a_failure_keeps_it(
    session: boto3.Session, stack: Stack, runtime: Runtime
) -> None:
    rds = create_database(session)
    database = DatabaseRef("test", "exii-test", snapshot_keep=10)
    runtime.exit_code = 3
    result = migrate(session, stack.layout, database=database, **FAST)

    assert not result.ok and result.snapshot and result.snapshot.startswith("exii-test-premigrate-r1-")
    [raw] = rds.describe_db_snapshots(DBInstanceIdentifier="exii-test", SnapshotType="manual")["DBSnapshots"]
    assert raw["DBSnapshotIdentifier"] == result.snapshot and raw["Status"] == "available"
    tags = {t["Key"]: t["Value"] for t in raw["TagList"]}
    assert tags["stackops:task-definition"] == result.task_definition
    assert tags["stackops:image"] == f"{REPO}/django:v1"
    assert f"inv db.restore --env test --snapshot {result.snapshot}" in failure_message(result, "test")


def test_migrate_timeout_is_an_error(session: boto3.Session, stack: Stack, runtime: Runtime) -> None:
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10_000})
    with pytest.raises(OpsError, match=r"migration task \S+ still RUNNING after 0.02s"):
        migrate(session, stack.layout, database=None, timeout=0.02, poll=0.005)
