"""The emulator's service task logs (stackops/local/aws/ecs_service_logs.py) against moto's in-process
backend: a deployment's running tasks get ids and start-up lines, health checks on schedule, and a
stop line when their deployment goes. `tick` is called directly (the server runs it on a thread)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.ecs.models import ecs_backends

from stackops.local.aws import ecs_service_logs
from stackops.local.aws.ecs_service_logs import HEALTH_LINE, HEALTH_SECONDS, STOP_LINE, tick

REGION = "eu-west-2"
GROUP = "/ecs/exii-test"


@pytest.fixture
def service() -> Any:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("logs").create_log_group(logGroupName=GROUP)
        ecs = session.client("ecs")
        ecs.create_cluster(clusterName="exii-test")
        arn = ecs.register_task_definition(family="exii-test-django", containerDefinitions=[{
            "name": "django", "image": "repo/django:1", "memory": 256, "portMappings": [{"containerPort": 8000}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "django"}},
        }])["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
        ecs.create_service(cluster="exii-test", serviceName="exii-test-django", taskDefinition=arn, desiredCount=2)
        backend = ecs_backends["123456789012"][REGION]
        svc = next(iter(backend.services.values()))
        yield session, svc, arn


def streams(session: boto3.Session) -> dict[str, list[str]]:
    logs = session.client("logs")
    found = logs.describe_log_streams(logGroupName=GROUP)["logStreams"]
    return {
        s["logStreamName"]: [
            e["message"]
            for e in logs.get_log_events(logGroupName=GROUP, logStreamName=s["logStreamName"], startFromHead=True)[
                "events"
            ]
        ]
        for s in found
    }


def test_running_tasks_log_start_up_health_checks_and_their_stop(service):
    session, svc, arn = service
    svc.deployments = [{"id": "ecs-svc/1", "taskDefinition": arn, "runningCount": 0, "status": "PRIMARY"}]
    tick(now=0)
    assert streams(session) == {}  # nothing runs yet: nothing logs

    svc.deployments[0]["runningCount"] = 2
    tick(now=1)
    logged = streams(session)
    assert len(logged) == 2
    for name, lines in logged.items():
        prefix, container, task_id = name.split("/")
        assert (prefix, container) == ("django", "django")
        assert len(task_id) == 32 and int(task_id, 16) >= 0  # an id shaped like ECS's
        assert lines == ["emulated task exii-test-django:1 started (service exii-test-django)",
                         "listening on port 8000"]  # fmt: skip

    tick(now=1 + HEALTH_SECONDS / 2)  # not yet
    tick(now=1 + HEALTH_SECONDS)
    assert all(lines[-1] == HEALTH_LINE and lines.count(HEALTH_LINE) == 1 for lines in streams(session).values())

    svc.deployments = [{"id": "ecs-svc/2", "taskDefinition": arn, "runningCount": 1, "status": "PRIMARY"}]
    tick(now=2 + HEALTH_SECONDS)
    logged = streams(session)
    assert len(logged) == 3
    assert sum(lines[-1] == STOP_LINE for lines in logged.values()) == 2  # the old deployment's tasks
    assert sum(lines[-1] == "listening on port 8000" for lines in logged.values()) == 1  # the new one's


def test_a_missing_log_group_writes_nothing_and_breaks_nothing(service):
    session, svc, arn = service
    session.client("logs").delete_log_group(logGroupName=GROUP)
    svc.deployments = [{"id": "ecs-svc/1", "taskDefinition": arn, "runningCount": 1, "status": "PRIMARY"}]
    tick(now=0)
    assert session.client("logs").describe_log_groups()["logGroups"] == []


def test_the_thread_ticks_under_the_request_lock(monkeypatch):
    import threading

    calls: list[bool] = []
    lock = threading.Lock()
    done = threading.Event()

    def fake_tick() -> None:
        calls.append(lock.locked())
        done.set()

    monkeypatch.setattr(ecs_service_logs, "TICK_SECONDS", 0.01)
    monkeypatch.setattr(ecs_service_logs, "tick", fake_tick)
    stop = threading.Event()
    thread = ecs_service_logs.start(lock, stop)
    try:
        assert done.wait(5) and thread.daemon
        assert calls[0] is True
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
