"""Plan assertions for modules/scheduled-job: a job's task definition, its schedule on the batch
cluster, the scheduler's role held to the job's family and roles, the dead-letter queue."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

ACCOUNT, REGION = "111111111111", "eu-west-2"
CLUSTER = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/exii-test-batch"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/exii-test-task-execution"
NAME = "exii-test-job-clearsessions"
FAMILY_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{NAME}"
CONTAINERS = [
    {"name": "job", "image": "django:v1", "essential": True, "command": ["python", "manage.py", "clearsessions"],
     "readonlyRootFilesystem": True, "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp"}]},  # noqa: S108
]  # fmt: skip
INPUTS = {
    "name": NAME,
    "description": "Deletes expired sessions",
    "account_id": ACCOUNT,
    "region": REGION,
    "schedule_expression": "cron(30 3 * * ? *)",
    "schedule_timezone": "Europe/London",
    "cluster_arn": CLUSTER,
    "container_definitions": json.dumps(CONTAINERS),
    "image": "django:v1",
    "cpu": 256,
    "memory": 512,
    "execution_role_arn": EXECUTION_ROLE,
    "vpc_id": "vpc-0abc",
    "subnet_ids": ["subnet-private-a", "subnet-private-b"],
    "egress_rules": {
        "https": {"port": 443, "cidr": "0.0.0.0/0"},
        "postgres-0": {"port": 5432, "cidr": "10.0.200.0/24"},
    },
}


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Plan:
    produce = partial(plan_instances, "scheduled-job", {"job": INPUTS})
    return once_per_session(tmp_path_factory, "scheduled-job", produce)["job"]


def policy(plan: Plan, address: str) -> dict[str, dict]:
    document = json.loads(plan.change(address)["after"]["policy"])
    return {s["Sid"]: s for s in document["Statement"]}


def test_the_schedule_runs_the_latest_revision_of_the_family_on_the_batch_cluster(plan):
    schedule = plan.one("aws_scheduler_schedule")
    assert (schedule["name"], schedule["schedule_expression"], schedule["schedule_expression_timezone"]) == (
        NAME, "cron(30 3 * * ? *)", "Europe/London",
    )  # fmt: skip
    [target] = schedule["target"]
    assert target["arn"] == CLUSTER
    [ecs] = target["ecs_parameters"]
    # No revision: RunTask takes the latest ACTIVE one, the one the tools register after a rollout.
    assert ecs["task_definition_arn"] == FAMILY_ARN
    assert (ecs["launch_type"], ecs["task_count"]) == ("FARGATE", 1)
    [network] = ecs["network_configuration"]
    assert network["subnets"] == ["subnet-private-a", "subnet-private-b"]
    assert network["assign_public_ip"] is False
    assert schedule["flexible_time_window"] == [{"maximum_window_in_minutes": None, "mode": "OFF"}]


def test_runs_that_cannot_start_are_retried_then_dead_lettered(plan):
    [target] = plan.one("aws_scheduler_schedule")["target"]
    assert target["retry_policy"] == [{"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 3}]
    queue = plan.one("aws_sqs_queue")
    assert queue["name"] == f"{NAME}-dead-letter"
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["message_retention_seconds"] == 1209600
    # The queue's ARN is known only after apply; the scheduler role may send to exactly that name.
    assert plan.change("aws_scheduler_schedule.this")["after_unknown"]["target"][0]["dead_letter_config"]
    assert policy(plan, "aws_iam_role_policy.scheduler")["DeadLetters"] == {
        "Sid": "DeadLetters", "Effect": "Allow", "Action": "sqs:SendMessage",
        "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}-dead-letter",
    }  # fmt: skip


def test_the_scheduler_role_runs_only_this_family_and_passes_only_its_roles(plan):
    statements = policy(plan, "aws_iam_role_policy.scheduler")
    run = statements["RunTheJob"]
    assert run["Action"] == "ecs:RunTask"
    assert run["Resource"] == f"{FAMILY_ARN}:*"  # every revision of this family, no other
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER}}
    passing = statements["PassTheJobsRoles"]
    assert passing["Action"] == "iam:PassRole"
    assert sorted(passing["Resource"]) == sorted([EXECUTION_ROLE, f"arn:aws:iam::{ACCOUNT}:role/{NAME}-task"])
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert set(statements) == {"RunTheJob", "PassTheJobsRoles", "DeadLetters"}  # no ecs:TagResource: no tags at launch


def test_the_roles_trust_only_their_service_in_this_account(plan):
    roles = {r["name"]: json.loads(r["assume_role_policy"]) for r in plan.of_type("aws_iam_role").values()}
    [scheduler] = roles[f"{NAME}-scheduler"]["Statement"]
    assert scheduler["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert scheduler["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(scheduler["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/default",
        f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{NAME}",
    ]
    [task] = roles[f"{NAME}-task"]["Statement"]
    assert task["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert task["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
    }
    # clearsessions reaches only the database: its task role holds no policy at all.
    assert plan.counts["aws_iam_role_policy"] == 1


def test_the_task_definition_is_shared_with_the_tools_and_writes_only_to_tmp(plan):
    task = plan.one("aws_ecs_task_definition")
    assert task["family"] == NAME
    assert (task["requires_compatibilities"], task["network_mode"], task["cpu"], task["memory"]) == (
        ["FARGATE"], "awsvpc", "256", "512",
    )  # fmt: skip
    assert (task["track_latest"], task["skip_destroy"]) == (True, True)
    assert task["tags"] == {"stackops:registered-by": "terraform", "stackops:image": "django:v1"}
    assert task["execution_role_arn"] == EXECUTION_ROLE
    assert [v["name"] for v in task["volume"]] == ["tmp"]
    assert json.loads(task["container_definitions"])[0]["readonlyRootFilesystem"] is True


def test_the_security_group_lets_out_only_https_and_postgres(plan):
    egress = plan.of_type("aws_vpc_security_group_egress_rule").values()
    rules = sorted((r["from_port"], r["cidr_ipv4"]) for r in egress)
    assert rules == [(443, "0.0.0.0/0"), (5432, "10.0.200.0/24")]
    assert plan.counts["aws_vpc_security_group_ingress_rule"] == 0
