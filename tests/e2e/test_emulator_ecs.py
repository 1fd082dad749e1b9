"""The emulated AWS's ECS extension, through boto3 against the launcher on a free port.

The launcher runs as a subprocess (its patches to moto stay out of this test process, where other
tests use moto's in-process mock) with the simulation twice as fast as `inv local.up` runs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import WaiterError

from stackops import environments
from stackops.local import emulator
from stackops.local.aws import client
from stackops.paths import ROOT

# A real emulator process on a free port: an integration test, kept with the other emulator tests.
pytestmark = pytest.mark.e2e

TIME_SCALE = 0.5
SETTLE = 1.0 * TIME_SCALE  # stackops.local.aws.ecs_deployments.SETTLE_SECONDS in the subprocess
REGION = "eu-west-2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; last value: {value!r}")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("emulator") / "moto.log"
    env = {**os.environ, "STACK_EMULATED_ECS_TIME_SCALE": str(TIME_SCALE)}
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackops.local.aws", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not client.health(url):
            assert process.poll() is None, f"the launcher exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"the launcher did not answer: {log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def profiles(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The profiles `inv local.up` writes, and the variables the tooling sets for --env local."""
    config, credentials = emulator.write_profiles(tmp_path_factory.mktemp("state"), environments.load("local"))
    with pytest.MonkeyPatch.context() as patch:
        for name in emulator.CLEARED_ENV_VARS:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(config))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        patch.setenv("AWS_ENDPOINT_URL_STS", endpoint)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="module")
def local_env() -> environments.Environment:
    return environments.load("local")


@pytest.fixture(scope="module")
def aws(profiles: None, local_env: environments.Environment) -> Any:
    """Clients in the `local` environment's own account, as the tooling uses them."""
    boto = boto3.Session(profile_name=local_env.profile)

    class Clients:
        ec2 = boto.client("ec2")
        ecs = boto.client("ecs")
        logs = boto.client("logs")

    return Clients


@pytest.fixture(scope="module")
def cluster(aws: Any) -> dict[str, Any]:
    """A cluster in a VPC without DNS hostnames (the case that crashed moto), and a log group."""
    vpc = aws.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = aws.ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = aws.ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
    aws.ecs.create_cluster(clusterName="emulated")
    aws.logs.create_log_group(logGroupName="/ecs/emulated")
    return {
        "name": "emulated",
        "subnet": subnet,
        "network": {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
    }


@pytest.fixture(autouse=True)
def no_faults_left(endpoint: str) -> Iterator[None]:
    client.clear_faults(endpoint)
    yield
    client.clear_faults(endpoint)


def register(aws: Any, family: str, image: str, log_group: str = "/ecs/emulated") -> str:
    """A Fargate task definition like task-definitions/*.json: no container-level memory."""
    container = {
        "name": "app",
        "image": image,
        "essential": True,
        "command": ["python", "manage.py", "migrate", "--noinput"],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": log_group, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"},
        },
    }
    answer = aws.ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )
    return answer["taskDefinition"]["taskDefinitionArn"]


def describe(aws: Any, cluster: dict[str, Any], service: str) -> dict[str, Any]:
    return aws.ecs.describe_services(cluster=cluster["name"], services=[service])["services"][0]


def rollout(service: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(status, rolloutState, runningCount, task definition revision) per deployment."""
    return [
        (d["status"], d["rolloutState"], d["runningCount"], d["taskDefinition"].rsplit("/", 1)[-1])
        for d in service["deployments"]
    ]


def steady_service(aws: Any, cluster: dict[str, Any], name: str, desired: int = 2) -> tuple[str, str]:
    """A service whose first deployment has completed; returns the ARNs of revisions 1 and 2."""
    first, second = register(aws, name, f"{name}:1"), register(aws, name, f"{name}:2")
    aws.ecs.create_service(
        cluster=cluster["name"],
        serviceName=name,
        taskDefinition=first,
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=cluster["network"],
    )
    wait_for("the first deployment", lambda: rollout(describe(aws, cluster, name)) == [
        ("PRIMARY", "COMPLETED", desired, f"{name}:1")
    ])  # fmt: skip
    return first, second


def run(aws: Any, cluster: dict[str, Any], family: str) -> dict[str, Any]:
    tasks = aws.ecs.run_task(
        cluster=cluster["name"],
        taskDefinition=family,
        launchType="FARGATE",
        networkConfiguration=cluster["network"],
        overrides={"containerOverrides": [{"name": "app", "command": ["python", "manage.py", "migrate"]}]},
    )["tasks"]
    assert len(tasks) == 1
    return tasks[0]


def until_stopped(aws: Any, cluster: dict[str, Any], task_arn: str) -> tuple[dict[str, Any], list[str]]:
    """Describe the task until it is STOPPED; return it and the distinct lastStatus values seen."""
    seen: list[str] = []

    def probe() -> dict[str, Any] | None:
        task = aws.ecs.describe_tasks(cluster=cluster["name"], tasks=[task_arn])["tasks"][0]
        if not seen or seen[-1] != task["lastStatus"]:
            seen.append(task["lastStatus"])
        return task if task["lastStatus"] == "STOPPED" else None

    return wait_for(f"task {task_arn} to stop", probe, timeout=10), seen


def log_lines(aws: Any, task_arn: str, group: str = "/ecs/emulated") -> list[str]:
    stream = f"ecs/app/{task_arn.rsplit('/', 1)[-1]}"
    events = aws.logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]
    return [event["message"] for event in events]


# -- accounts ----------------------------------------------------------------------------------------
def test_role_profiles_land_in_their_accounts(profiles: None, local_env: environments.Environment) -> None:
    for profile, account in (
        (local_env.master_profile, local_env.master_account_id),
        (local_env.profile, local_env.account_id),
    ):
        sts = boto3.Session(profile_name=profile).client("sts")
        identity = sts.get_caller_identity()
        assert identity["Account"] == account, profile
        assert f":assumed-role/{emulator.ROLE_NAME}/" in identity["Arn"]


def test_health_identifies_the_emulator(endpoint: str) -> None:
    answer = client.health(endpoint)
    assert answer is not None
    assert answer["moto"] == "5.2.5"
    assert client.health(f"http://127.0.0.1:{_free_port()}") is None


# -- services ---------------------------------------------------------------------------------------
def test_update_service_rolls_out_like_a_healthy_ecs_service(aws: Any, cluster: dict[str, Any]) -> None:
    _, second = steady_service(aws, cluster, "web", desired=2)

    updated = aws.ecs.update_service(cluster=cluster["name"], service="web", taskDefinition="web:2")["service"]

    assert updated["taskDefinition"] == second  # the ARN, not the "web:2" it was given
    assert rollout(updated) == [("PRIMARY", "IN_PROGRESS", 0, "web:2"), ("ACTIVE", "COMPLETED", 2, "web:1")]
    aws.ecs.get_waiter("services_stable").wait(
        cluster=cluster["name"], services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    service = describe(aws, cluster, "web")
    assert rollout(service) == [("PRIMARY", "COMPLETED", 2, "web:2")]
    assert service["runningCount"] == service["desiredCount"] == 2
    assert service["pendingCount"] == 0
    assert service["events"][0]["message"] == "(service web) has reached a steady state."


def test_force_new_deployment_and_scaling(aws: Any, cluster: dict[str, Any]) -> None:
    steady_service(aws, cluster, "api", desired=1)
    before = describe(aws, cluster, "api")["deployments"][0]["id"]

    forced = aws.ecs.update_service(cluster=cluster["name"], service="api", forceNewDeployment=True)["service"]
    assert [d["id"] for d in forced["deployments"]][1] == before  # a new deployment, the old one kept
    wait_for("the forced deployment", lambda: rollout(describe(aws, cluster, "api")) == [
        ("PRIMARY", "COMPLETED", 1, "api:1")
    ])  # fmt: skip
    assert describe(aws, cluster, "api")["deployments"][0]["id"] != before

    scaled = aws.ecs.update_service(cluster=cluster["name"], service="api", desiredCount=3)["service"]
    assert rollout(scaled) == [("PRIMARY", "COMPLETED", 3, "api:1")]  # scaling is not a deployment
    assert scaled["runningCount"] == 3


# -- one-off tasks ----------------------------------------------------------------------------------
def test_run_task_starts_logs_and_exits_zero(aws: Any, cluster: dict[str, Any]) -> None:
    register(aws, "migrate", "django:1")

    task = run(aws, cluster, "migrate")

    assert task["lastStatus"] == "PROVISIONING"
    assert task["desiredStatus"] == "RUNNING"
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["privateDnsName"].endswith(f".{REGION}.compute.internal")
    started = time.monotonic()
    stopped, seen = until_stopped(aws, cluster, task["taskArn"])
    assert time.monotonic() - started < 2.5
    assert seen[-1] == "STOPPED"
    # PENDING -> RUNNING -> STOPPED, as the timestamps record it (polling could miss a short state).
    assert stopped["pullStartedAt"] <= stopped["startedAt"] < stopped["stoppingAt"] <= stopped["stoppedAt"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert [(c["name"], c["lastStatus"], c["exitCode"]) for c in stopped["containers"]] == [("app", "STOPPED", 0)]
    assert stopped["containers"][0]["taskArn"] == task["taskArn"]
    assert log_lines(aws, task["taskArn"]) == [
        "emulated task migrate started",
        "command: python manage.py migrate",
        "exit 0",
    ]
    # ECS deletes a stopped task's network interface (Terraform can then delete the subnet).
    assert stopped["attachments"][0]["status"] == "DELETED"
    interfaces = aws.ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [cluster["subnet"]]}])
    assert details["networkInterfaceId"] not in {i["NetworkInterfaceId"] for i in interfaces["NetworkInterfaces"]}


def test_tasks_stopped_waiter_works(aws: Any, cluster: dict[str, Any]) -> None:
    register(aws, "waiter", "django:1")
    task = run(aws, cluster, "waiter")
    aws.ecs.get_waiter("tasks_stopped").wait(
        cluster=cluster["name"], tasks=[task["taskArn"]], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )


def test_stop_task_stops_an_emulated_task(aws: Any, cluster: dict[str, Any]) -> None:
    register(aws, "stopme", "django:1")
    task = run(aws, cluster, "stopme")

    aws.ecs.stop_task(cluster=cluster["name"], task=task["taskArn"], reason="stopped by a test")

    time.sleep(1.5 * TIME_SCALE)  # past the moment the task would have started running
    stopped = aws.ecs.describe_tasks(cluster=cluster["name"], tasks=[task["taskArn"]])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
    assert stopped["stoppedReason"] == "stopped by a test"


def test_a_missing_log_group_fails_the_task_as_ecs_does(aws: Any, cluster: dict[str, Any]) -> None:
    register(aws, "nologs", "django:1", log_group="/ecs/does-not-exist")
    stopped, _ = until_stopped(aws, cluster, run(aws, cluster, "nologs")["taskArn"])
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("ResourceInitializationError:")
    assert "exitCode" not in stopped["containers"][0]


# -- injected faults -------------------------------------------------------------------------------
def test_fault_api_validates_and_lists(endpoint: str) -> None:
    assert client.pending_faults(endpoint) == {}
    with pytest.raises(ValueError, match="next_deployment must be one of rollback, stuck"):
        client.add_faults(endpoint, next_deployment="explode")
    with pytest.raises(ValueError, match="unknown fault 'next_cluster'"):
        client._call(endpoint, "POST", "/_stack/ecs/faults", {"next_cluster": "gone"})
    with pytest.raises(ValueError, match="0 to 255"):
        client.add_faults(endpoint, next_task_exit_code=300)
    assert client.add_faults(endpoint, next_task_exit_code=3) == {"next_task_exit_code": 3}
    assert client.add_faults(endpoint, next_deployment="stuck") == {
        "next_task_exit_code": 3,
        "next_deployment": "stuck",
    }
    client.clear_faults(endpoint)
    assert client.pending_faults(endpoint) == {}


def test_rollback_fault_fails_the_deployment_and_restores_the_previous_revision(
    endpoint: str, aws: Any, cluster: dict[str, Any]
) -> None:
    first, second = steady_service(aws, cluster, "rollback", desired=2)
    client.add_faults(endpoint, next_deployment="rollback")

    updated = aws.ecs.update_service(cluster=cluster["name"], service="rollback", taskDefinition=second)
    failed_id = updated["service"]["deployments"][0]["id"]

    assert client.pending_faults(endpoint) == {}  # consumed by this deployment
    service = wait_for("the rollback to complete", lambda: (
        s if (s := describe(aws, cluster, "rollback"))["deployments"][0]["rolloutState"] == "COMPLETED"
        and len(s["deployments"]) == 2 else None
    ))  # fmt: skip
    primary, failed = service["deployments"]
    assert (primary["status"], primary["taskDefinition"], primary["runningCount"]) == ("PRIMARY", first, 2)
    assert failed["id"] == failed_id
    assert (failed["status"], failed["rolloutState"], failed["runningCount"]) == ("ACTIVE", "FAILED", 0)
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] >= 3
    assert service["taskDefinition"] == first
    assert service["runningCount"] == 2
    messages = [event["message"] for event in service["events"]]
    assert f"(service rollback) (deployment {failed_id}) deployment failed: tasks failed to start." in messages

    # Then, as in ECS, the failed deployment goes: the service is stable on the old revision.
    aws.ecs.get_waiter("services_stable").wait(
        cluster=cluster["name"], services=["rollback"], WaiterConfig={"Delay": 1, "MaxAttempts": 10}
    )
    assert rollout(describe(aws, cluster, "rollback")) == [("PRIMARY", "COMPLETED", 2, "rollback:1")]

    # Consumed once: the next deployment rolls out.
    aws.ecs.update_service(cluster=cluster["name"], service="rollback", taskDefinition=second)
    wait_for("the next deployment", lambda: rollout(describe(aws, cluster, "rollback")) == [
        ("PRIMARY", "COMPLETED", 2, "rollback:2")
    ])  # fmt: skip


def test_stuck_fault_keeps_the_deployment_in_progress(endpoint: str, aws: Any, cluster: dict[str, Any]) -> None:
    _, second = steady_service(aws, cluster, "stuck", desired=1)
    client.add_faults(endpoint, next_deployment="stuck")

    aws.ecs.update_service(cluster=cluster["name"], service="stuck", taskDefinition=second)

    with pytest.raises(WaiterError):  # what a caller's timeout sees
        aws.ecs.get_waiter("services_stable").wait(
            cluster=cluster["name"], services=["stuck"], WaiterConfig={"Delay": 1, "MaxAttempts": 2}
        )
    assert rollout(describe(aws, cluster, "stuck")) == [
        ("PRIMARY", "IN_PROGRESS", 0, "stuck:2"),
        ("ACTIVE", "COMPLETED", 1, "stuck:1"),
    ]
    aws.ecs.update_service(cluster=cluster["name"], service="stuck", taskDefinition=second, forceNewDeployment=True)
    wait_for("the next deployment", lambda: rollout(describe(aws, cluster, "stuck")) == [
        ("PRIMARY", "COMPLETED", 1, "stuck:2")
    ])  # fmt: skip


def test_exit_code_fault_applies_to_one_task(endpoint: str, aws: Any, cluster: dict[str, Any]) -> None:
    register(aws, "failing", "django:1")
    client.add_faults(endpoint, next_task_exit_code=3)

    failing, _ = until_stopped(aws, cluster, run(aws, cluster, "failing")["taskArn"])
    assert client.pending_faults(endpoint) == {}
    healthy, _ = until_stopped(aws, cluster, run(aws, cluster, "failing")["taskArn"])

    assert failing["containers"][0]["exitCode"] == 3
    assert failing["stopCode"] == "EssentialContainerExited"
    assert log_lines(aws, failing["taskArn"])[-1] == "exit 3"
    assert healthy["containers"][0]["exitCode"] == 0


def test_never_starts_fault(endpoint: str, aws: Any, cluster: dict[str, Any]) -> None:
    register(aws, "unpullable", "django:missing")
    reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found"
    client.add_faults(endpoint, next_task_never_starts=reason)

    task = run(aws, cluster, "unpullable")
    stopped, seen = until_stopped(aws, cluster, task["taskArn"])

    assert "RUNNING" not in seen
    assert "startedAt" not in stopped
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"] == reason
    assert stopped["containers"][0]["lastStatus"] == "STOPPED"
    assert "exitCode" not in stopped["containers"][0]
    with pytest.raises(aws.logs.exceptions.ResourceNotFoundException):
        log_lines(aws, task["taskArn"])
    again, _ = until_stopped(aws, cluster, run(aws, cluster, "unpullable")["taskArn"])
    assert again["containers"][0]["exitCode"] == 0
