"""End to end on the applied `local` stack: the scheduled jobs of jobs.yaml. The schedule exists as
the catalogue says and targets the batch cluster (boto3 and the AWS CLI); `inv job.run` runs the
shipped job and shows its log lines, an injected non-zero exit fails it, an unknown job is refused;
`inv job.list` shows the job with its next run.

Uses the session's shared stack (`local_stack`) and changes nothing in it but the tasks it runs
(one-off tasks on the batch cluster, which stop by themselves) and the log streams they write.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stackops.local.aws import client as faults
from tests.conftest import run_inv
from tests.e2e.ecs_support import output_of

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

JOB = "clearsessions"


@pytest.fixture(scope="module")
def jobs(local_stack) -> dict:
    return local_stack.outputs["jobs"]


def test_the_schedule_runs_the_catalogue_expression_on_the_batch_cluster(local_stack, jobs):
    job = jobs["jobs"][JOB]
    assert (job["expression"], job["timezone"]) == ("cron(30 3 * * ? *)", "Europe/London")
    batch = local_stack.client("ecs").describe_clusters(clusters=[jobs["cluster"]])["clusters"][0]
    assert batch["clusterName"] == local_stack.outputs["batch_cluster_name"] == jobs["cluster"]
    schedule = local_stack.client("scheduler").get_schedule(Name=job["schedule"])
    cli = local_stack.aws_cli("scheduler", "get-schedule", "--name", job["schedule"])
    for got in (schedule, cli):
        assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"]) == (job["expression"], job["timezone"])
        assert got["State"] == "ENABLED"
        target = got["Target"]
        assert target["Arn"] == batch["clusterArn"]
        ecs = target["EcsParameters"]
        assert ecs["TaskDefinitionArn"].endswith(f":task-definition/{job['family']}")  # no revision: the latest
        assert ecs["LaunchType"] == "FARGATE"
        network = ecs["NetworkConfiguration"]["awsvpcConfiguration"]
        assert sorted(network["Subnets"]) == sorted(job["network"]["subnets"])  # the private ones (a set)
        assert network["SecurityGroups"] == job["network"]["security_groups"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert target["DeadLetterConfig"]["Arn"].endswith(f":{job['family']}-dead-letter")
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 3


def test_job_run_shows_the_log_lines_and_exits_0_then_job_list_shows_it(local_stack, jobs):
    job = jobs["jobs"][JOB]
    result = run_inv("job.run", "--env", "local", JOB)
    assert result.returncode == 0, output_of(result)
    assert f"job {JOB} succeeded: all essential containers exited 0" in result.stdout
    task_id = re.search(rf"job {JOB}: started task ([0-9a-f-]{{36}})", result.stderr)
    assert task_id, result.stderr
    events = local_stack.client("logs").get_log_events(
        logGroupName=jobs["log_group"], logStreamName=f"{job['log_prefix']}/{job['container']}/{task_id[1]}",
        startFromHead=True,
    )["events"]  # fmt: skip
    lines = [e["message"] for e in events]
    assert lines[0] == f"emulated task {job['family']} started" and lines[-1] == "exit 0"
    for line in lines:
        assert f"| {line}" in result.stderr
    assert "manage.py clearsessions" in result.stderr
    task = local_stack.client("ecs").describe_tasks(cluster=jobs["cluster"], tasks=[task_id[1]])["tasks"][0]
    assert task["startedBy"] == f"stackops-job-{JOB}"
    assert task["lastStatus"] == "STOPPED"

    listed = run_inv("job.list", "--env", "local", "--json")
    assert listed.returncode == 0, output_of(listed)
    [row] = [r for r in json.loads(listed.stdout) if r["name"] == JOB]
    assert (row["expression"], row["timezone"], row["state"]) == ("cron(30 3 * * ? *)", "Europe/London", "ENABLED")
    next_run = datetime.fromisoformat(row["next_run"])
    assert 0 < (next_run - datetime.now(UTC)).total_seconds() <= 25 * 3600  # daily
    assert (next_run.astimezone(ZoneInfo("Europe/London")).hour, next_run.minute) == (3, 30)
    assert row["last_result"] == "exit 0" and row["last_run"]
    table = run_inv("job.list", "--env", "local")
    assert table.returncode == 0, output_of(table)
    assert JOB in table.stdout and "cron(30 3 * * ? *) (Europe/London)" in table.stdout and "ENABLED" in table.stdout


def test_job_run_fails_on_a_non_zero_exit(endpoint):
    faults.add_faults(endpoint, next_task_exit_code=4)
    result = run_inv("job.run", "--env", "local", JOB, "--command", "python manage.py clearsessions --verbosity 2")
    assert result.returncode == 1, output_of(result)
    assert f"error: job {JOB} failed: container job exited 4" in result.stderr
    assert "| exit 4" in result.stderr
    assert "--verbosity 2" in result.stderr  # the command given replaced the job's
    assert faults.pending_faults(endpoint) == {}


def test_an_unknown_job_is_refused_naming_the_known_ones():
    result = run_inv("job.run", "--env", "local", "nosuchjob")
    assert result.returncode == 1, output_of(result)
    assert f"error: unknown job 'nosuchjob' in env local: known jobs are {JOB}" in result.stderr
