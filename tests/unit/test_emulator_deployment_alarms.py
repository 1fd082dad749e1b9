"""The emulator's ECS deployment alarms (stackops/local/aws/ecs_alarms.py, ecs_deployments.py), in
moto's in-process backend: stored as given, and an alarm in ALARM during a rollout rolls it back.

The fixture installs the ECS extension and restores every moto method it patches afterwards, so
the rest of the process sees moto unchanged. The simulation's delays are shortened."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stackops.local.aws import ecs, ecs_deployments
from stackops.local.aws.ecs_alarms import ALARM_EVENT, alarm_reason

REGION = "eu-west-2"
STEP = 0.15  # SETTLE_SECONDS, BAKE_SECONDS and ROLLBACK_LINGER_SECONDS in these tests
ALARMS = ["svc-5xx-rate", "svc-unhealthy-hosts"]


@pytest.fixture
def extension(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    for name in (
        "_calculate_task_resource_requirements",
        "create_service",
        "update_service",
        "describe_services",
        "run_task",
        "stop_task",
        "describe_task_definition",
    ):
        monkeypatch.setattr(EC2ContainerServiceBackend, name, EC2ContainerServiceBackend.__dict__[name])
    monkeypatch.setattr(
        NetworkInterfaceBackend, "create_network_interface", NetworkInterfaceBackend.create_network_interface
    )
    monkeypatch.setattr(EC2ContainerServiceResponse, "create_service", EC2ContainerServiceResponse.create_service)
    monkeypatch.setattr(ecs, "_installed", False)
    monkeypatch.setattr(ecs_deployments, "SETTLE_SECONDS", STEP)
    monkeypatch.setattr(ecs_deployments, "BAKE_SECONDS", STEP)
    monkeypatch.setattr(ecs_deployments, "ROLLBACK_LINGER_SECONDS", STEP)
    ecs.install()


class Service:
    """One ECS service with deployment alarms, and its CloudWatch alarms, in moto."""

    def __init__(self, *, rollback: bool = True) -> None:
        self.ecs = boto3.client("ecs", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for name in ALARMS:
            self.cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/ApplicationELB",
                MetricName="UnHealthyHostCount",
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
        self.ecs.create_cluster(clusterName="c")
        for image in ("app:v1", "app:v2"):
            self.ecs.register_task_definition(
                family="svc", containerDefinitions=[{"name": "app", "image": image, "memory": 128}]
            )
        self.config = {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "alarms": {"alarmNames": ALARMS, "enable": True, "rollback": rollback},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        }
        self.created = self.ecs.create_service(
            cluster="c", serviceName="svc", taskDefinition="svc:1", desiredCount=2, deploymentConfiguration=self.config
        )["service"]
        self.settle()

    def describe(self) -> dict[str, Any]:
        return self.ecs.describe_services(cluster="c", services=["svc"])["services"][0]

    def settle(self) -> dict[str, Any]:
        deadline = time.monotonic() + 5
        while True:
            service = self.describe()
            if len(service["deployments"]) == 1 and service["deployments"][0]["rolloutState"] == "COMPLETED":
                return service
            assert time.monotonic() < deadline, service["deployments"]
            time.sleep(STEP / 5)

    def deploy(self) -> str:
        updated = self.ecs.update_service(cluster="c", service="svc", taskDefinition="svc:2")["service"]
        return next(d["id"] for d in updated["deployments"] if d["status"] == "PRIMARY")

    def alarm(self, name: str, state: str = "ALARM") -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def deployment(service: dict[str, Any], deployment_id: str) -> dict[str, Any]:
    return next(d for d in service["deployments"] if d["id"] == deployment_id)


@mock_aws
def test_deployment_alarms_are_stored_and_returned_as_given(extension):
    svc = Service()
    assert svc.created["deploymentConfiguration"] == svc.config  # moto alone returns none on create
    assert svc.describe()["deploymentConfiguration"]["alarms"] == svc.config["alarms"]


@mock_aws
def test_a_rollout_bakes_then_completes_while_its_alarms_stay_ok(extension):
    svc = Service()
    ours = svc.deploy()
    time.sleep(STEP * 1.3)  # its tasks run, the bake time is on: still in progress
    baking = deployment(svc.describe(), ours)
    assert (baking["rolloutState"], baking["runningCount"]) == ("IN_PROGRESS", 2)
    done = svc.settle()
    assert done["deployments"][0]["id"] == ours and done["taskDefinition"].endswith("svc:2")


@mock_aws
def test_an_alarm_in_alarm_mid_rollout_rolls_it_back(extension):
    svc = Service()
    before = svc.describe()["deployments"][0]["id"]
    ours = svc.deploy()
    svc.alarm("svc-unhealthy-hosts")
    service = svc.describe()
    failed = deployment(service, ours)
    assert (failed["status"], failed["rolloutState"]) == ("ACTIVE", "FAILED")
    assert failed["rolloutStateReason"] == alarm_reason(["svc-unhealthy-hosts"])
    primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
    assert primary["taskDefinition"].endswith("svc:1") and primary["id"] != ours
    assert primary["rolloutStateReason"] == f"ECS deployment alarms: rolling back to deploymentId {before}."
    messages = [e["message"] for e in service["events"]]
    assert f"(service svc) (deployment {ours}) {ALARM_EVENT}" in messages
    assert f"(service svc) rolling back to deployment {before}." in messages
    settled = svc.settle()
    assert settled["taskDefinition"].endswith("svc:1")  # back on the revision it ran before


@mock_aws
def test_an_alarm_during_the_bake_time_counts_however_late_the_service_is_read(extension, monkeypatch):
    # The failed deployment stays listed long enough to be read late on a busy machine too.
    monkeypatch.setattr(ecs_deployments, "ROLLBACK_LINGER_SECONDS", STEP * 10)
    svc = Service()
    ours = svc.deploy()
    time.sleep(STEP * 1.3)
    assert deployment(svc.describe(), ours)["rolloutState"] == "IN_PROGRESS"  # baking
    svc.alarm("svc-5xx-rate")
    time.sleep(STEP * 2)  # the bake time is over by the next read, but the alarm came first
    assert deployment(svc.describe(), ours)["rolloutState"] == "FAILED"
    assert svc.settle()["taskDefinition"].endswith("svc:1")


@mock_aws
def test_an_alarm_already_in_alarm_when_the_rollout_starts_is_ignored(extension):
    svc = Service()
    svc.alarm("svc-5xx-rate")
    ours = svc.deploy()
    done = svc.settle()
    assert done["deployments"][0]["id"] == ours and done["taskDefinition"].endswith("svc:2")


@mock_aws
def test_without_rollback_the_deployment_only_fails(extension):
    svc = Service(rollback=False)
    ours = svc.deploy()
    svc.alarm("svc-5xx-rate")
    failed = deployment(svc.describe(), ours)
    assert (failed["status"], failed["rolloutState"]) == ("PRIMARY", "FAILED")  # no rollback deployment


@mock_aws
def test_an_alarm_after_the_rollout_completed_changes_nothing(extension):
    svc = Service()
    ours = svc.deploy()
    svc.settle()
    svc.alarm("svc-5xx-rate")
    [done] = svc.describe()["deployments"]
    assert (done["id"], done["rolloutState"]) == (ours, "COMPLETED")
