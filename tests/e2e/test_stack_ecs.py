"""End to end on the applied `local` stack: `inv refresh`, `inv deploy`, `inv rollback` and
`inv migrate` through the real command line, their failure paths through the emulator's ECS faults,
and bad input refused before any change.

Uses the session's shared stack (`local_stack`). Each test runs under `restored`: afterwards the
services run the revision they ran before, revisions the test registered are deregistered, the
rollback tag is put back and no fault is left pending.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import pytest

from stackops.ecs.rollouts import PREVIOUS_TAG
from stackops.local.aws import client as faults
from stackops.local.aws.ecs_deployments import CIRCUIT_BREAKER_REASON
from tests.conftest import run_inv
from tests.e2e.ecs_support import output_of, revision, snapshot, table_row

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack"), pytest.mark.usefixtures("restored")]


# -- refresh ----------------------------------------------------------------------------------------
def test_refresh_rolls_a_pushed_revision(ecs, restored):
    running = ecs.steady("django")["taskDefinition"]
    n = revision(running)
    assert running == ecs.revisions(ecs.family("django"))[-1]  # the latest runs

    def release(params: dict[str, Any]) -> None:  # what a pipeline changes: the image
        container = params["containerDefinitions"][0]
        container["image"] = container["image"].rsplit(":", 1)[0] + ":release-2"

    pushed = ecs.register_copy("django", release)
    assert revision(pushed) == n + 1

    result = run_inv("refresh", "--env", "local", "--service", "django")
    assert result.returncode == 0, output_of(result)
    row = table_row(result.stdout, "django")
    assert f"{n} -> {n + 1}" in row and "updated" in row
    service = ecs.steady("django")
    assert service["taskDefinition"] == pushed
    assert ecs.tag(service, PREVIOUS_TAG) == running  # what `inv rollback` goes back to
    assert ecs.task_definition(service["taskDefinition"])["containerDefinitions"][0]["image"].endswith(":release-2")
    assert ecs.service("concept")["taskDefinition"] == restored.task_definitions["concept"]  # only django

    # Everything already runs the latest revision: nothing to do.
    deployments = {key: ecs.primary(ecs.service(key))["id"] for key in ecs.layout["services"]}
    again = run_inv("refresh", "--env", "local")
    assert again.returncode == 0, output_of(again)
    for key in ecs.layout["services"]:
        assert "unchanged" in table_row(again.stdout, key)
        assert ecs.primary(ecs.service(key))["id"] == deployments[key]
    assert ecs.service("django")["taskDefinition"] == pushed

    # The rollback record is the tooling's, the image the pipeline's: no drift after a refresh.
    drift = run_inv("drift", "--env", "local")
    assert drift.returncode == 0, output_of(drift)[-3000:]


def test_forced_refresh_starts_a_new_deployment_on_the_same_revision(ecs, restored):
    result = run_inv("refresh", "--env", "local", "--service", "concept", "--force")
    assert result.returncode == 0, output_of(result)
    assert "forced" in table_row(result.stdout, "concept")
    service = ecs.steady("concept")
    assert ecs.primary(service)["id"] != restored.deployments["concept"]
    assert service["taskDefinition"] == restored.task_definitions["concept"]
    assert ecs.all_revisions(ecs.family("concept")) == restored.revisions[ecs.family("concept")]


# -- deploy and rollback ----------------------------------------------------------------------------
def test_deploy_an_image_then_roll_back(ecs, restored):
    family = ecs.family("concept")
    old_arn = restored.task_definitions["concept"]
    old = ecs.task_definition(old_arn)
    old_image = old["containerDefinitions"][0]["image"]
    repository = old_image.rsplit(":", 1)[0]

    deployed = run_inv("deploy", "--env", "local", "--service", "concept", "--image", "v2")
    assert deployed.returncode == 0, output_of(deployed)
    service = ecs.steady("concept")
    new_arn = service["taskDefinition"]
    assert new_arn == ecs.revisions(family)[-1]
    assert revision(new_arn) == revision(restored.revisions[family][-1]) + 1
    row = table_row(deployed.stdout, "concept")
    assert f"{revision(old_arn)} -> {revision(new_arn)}" in row and "updated" in row

    new = ecs.task_definition(new_arn)
    assert new["containerDefinitions"][0]["image"] == f"{repository}:v2"
    without_images = [
        [{k: v for k, v in c.items() if k != "image"} for c in td["containerDefinitions"]] for td in (old, new)
    ]
    assert without_images[0] == without_images[1]  # only the image differs
    for field in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn", "requiresCompatibilities"):
        assert new.get(field) == old.get(field), field
    assert ecs.tag(service, PREVIOUS_TAG) == old_arn

    rolled = run_inv("rollback", "--env", "local", "--service", "concept")
    assert rolled.returncode == 0, output_of(rolled)
    row = table_row(rolled.stdout, "concept")
    assert f"{revision(new_arn)} -> {revision(old_arn)}" in row and "reverted" in row
    service = ecs.steady("concept")
    assert service["taskDefinition"] == old_arn
    assert ecs.tag(service, PREVIOUS_TAG) == new_arn  # a second rollback would undo this one


# -- migrate --------------------------------------------------------------------------------------------
def test_migrate_prints_the_task_log(ecs, local_stack):
    result = run_inv("migrate", "--env", "local")
    assert result.returncode == 0, output_of(result)
    assert "migration succeeded: all essential containers exited 0" in result.stdout
    task_id = re.search(r"migrate: started task ([0-9a-f-]{36})", result.stderr)
    assert task_id, result.stderr
    migrate = ecs.layout["migrate"]
    stream = f"{migrate['container']}/{migrate['container']}/{task_id[1]}"
    events = local_stack.client("logs").get_log_events(
        logGroupName=ecs.layout["log_group"], logStreamName=stream, startFromHead=True
    )["events"]
    lines = [e["message"] for e in events]
    assert lines[0] == f"emulated task {migrate['family']} started"
    assert lines[-1] == "exit 0"
    for line in lines:  # every line the task logged is shown to the user
        assert f"| {line}" in result.stderr
    assert "manage.py migrate" in result.stderr
    task = ecs.client.describe_tasks(cluster=ecs.cluster, tasks=[task_id[1]])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["taskDefinitionArn"] == ecs.revisions(migrate["family"])[-1]
    # The database was snapshotted first, under the documented name, and the result table names it.
    number = revision(task["taskDefinitionArn"])
    name = re.search(
        rf"snapshot: taking (exii-local-premigrate-r{number}-\d{{8}}-\d{{6}}) of exii-local", result.stderr
    )
    assert name and result.stderr.index(name[0]) < result.stderr.index("migrate: started task"), result.stderr
    assert name[1] in table_row(result.stdout, task_id[1], title="Migration")
    [taken] = local_stack.client("rds").describe_db_snapshots(DBSnapshotIdentifier=name[1])["DBSnapshots"]
    assert taken["Status"] == "available" and taken["DBInstanceIdentifier"] == "exii-local"


# -- failure paths ----------------------------------------------------------------------------------
def test_refresh_reports_the_circuit_breaker_rollback(ecs, restored, endpoint):
    faults.add_faults(endpoint, next_deployment="rollback")
    result = run_inv("refresh", "--env", "local", "--service", "django", "--force")
    assert result.returncode == 1, output_of(result)
    assert "rolled back" in table_row(result.stdout, "django")
    assert CIRCUIT_BREAKER_REASON.rstrip(".") in result.stderr  # the error line names ECS's reason
    assert "error: django: rolled back" in result.stderr
    assert "Traceback" not in output_of(result)
    assert ecs.steady("django")["taskDefinition"] == restored.task_definitions["django"]


def test_refresh_reports_a_rollback_on_a_deployment_alarm(ecs, restored, local_stack):
    """An alarm that goes to ALARM while the release bakes: ECS (the emulator) rolls it back."""
    alarm = local_stack.outputs["alarms"]["deployment_alarms"]["django"][0]  # its 5xx rate
    cloudwatch = local_stack.client("cloudwatch")
    configured = ecs.service("django")["deploymentConfiguration"]["alarms"]  # as Terraform set it
    assert configured["enable"] and configured["rollback"] and alarm in configured["alarmNames"]
    outcome: dict[str, Any] = {}
    rollout = threading.Thread(
        target=lambda: outcome.update(result=run_inv("refresh", "--env", "local", "--service", "django", "--force"))
    )
    rollout.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # the new deployment, still in progress (its tasks start, then it bakes)
            primary = ecs.primary(ecs.service("django"))
            if primary["id"] != restored.deployments["django"] and primary["rolloutState"] == "IN_PROGRESS":
                break
            assert rollout.is_alive() and time.monotonic() < deadline, outcome
            time.sleep(0.05)
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx in the new release (test)")
        rollout.join(timeout=120)
        # `inv status` then shows the alarm, on the service it belongs to.
        status = run_inv("status", "--env", "local", "--json")
        assert status.returncode == 0, output_of(status)
        shown = {item["name"]: item["service"] for item in json.loads(status.stdout)["alarms"]}
        assert shown.get(alarm) == "django", shown
    finally:
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="test over")
        rollout.join(timeout=120)
    result = outcome["result"]
    assert result.returncode == 1, output_of(result)
    assert "rolled back" in table_row(result.stdout, "django")
    assert f"error: django: rolled back: deployment alarm {alarm} in ALARM" in result.stderr
    assert "Traceback" not in output_of(result)
    service = ecs.steady("django")
    assert service["taskDefinition"] == restored.task_definitions["django"]  # the revision it ran before
    ours = primary["id"]
    assert any(f"(deployment {ours}) deployment failed: alarm detected." in e["message"] for e in service["events"])


def test_migrate_fails_on_a_non_zero_exit(endpoint, local_stack):
    faults.add_faults(endpoint, next_task_exit_code=3)
    result = run_inv("migrate", "--env", "local")
    assert result.returncode == 1, output_of(result)
    assert "error: migration failed: container migrate exited 3" in result.stderr
    assert "| exit 3" in result.stderr
    assert faults.pending_faults(endpoint) == {}  # the task consumed it
    # The snapshot taken before it stays, and the error says how to get back to it.
    name = re.search(r"the database as it was before is snapshot (exii-local-premigrate-r\d+-[\d-]+)", result.stderr)
    assert name and f"inv db.restore --env local --snapshot {name[1]}" in result.stderr, result.stderr
    rds = local_stack.client("rds")
    assert rds.describe_db_snapshots(DBSnapshotIdentifier=name[1])["DBSnapshots"][0]["Status"] == "available"


def test_refresh_times_out_on_a_stuck_deployment(ecs, restored, endpoint):
    faults.add_faults(endpoint, next_deployment="stuck")
    started = time.monotonic()
    result = run_inv("refresh", "--env", "local", "--service", "django", "--force", "--timeout", "3")
    assert result.returncode == 1, output_of(result)
    assert time.monotonic() - started < 60
    assert "timed out" in table_row(result.stdout, "django")
    assert "error: django: timed out: not steady after 3s" in result.stderr
    assert ecs.primary(ecs.service("django"))["rolloutState"] == "IN_PROGRESS"  # left as ECS has it


# -- bad input --------------------------------------------------------------------------------------
def test_refresh_of_an_unknown_service_changes_nothing(ecs, restored):
    result = run_inv("refresh", "--env", "local", "--service", "nope")
    assert result.returncode == 1, output_of(result)
    assert "error: unknown service 'nope' in env local: known services are concept, django" in result.stderr
    assert "Traceback" not in output_of(result)
    assert snapshot(ecs) == restored


def test_deploy_of_a_malformed_image_is_refused_before_any_change(ecs, restored):
    result = run_inv("deploy", "--env", "local", "--service", "django", "--image", "UPPER CASE::bad")
    assert result.returncode == 1, output_of(result)
    assert "'UPPER CASE::bad' is not an image reference or tag" in result.stderr
    assert "Traceback" not in output_of(result)
    assert snapshot(ecs) == restored  # no revision registered, no deployment, no tag
