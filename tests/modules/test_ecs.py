"""Plan assertions for modules/ecs: cluster, repositories, log group, execution and task roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from tests.planner import Plan, once_per_session, plan_instances

SECRETS = [
    "arn:aws:secretsmanager:eu-west-2:111111111111:secret:/exii/test/django/DATABASE_PASSWORD-AbCdEf",
    "arn:aws:secretsmanager:eu-west-2:111111111111:secret:/exii/test/django/SECRET_KEY-GhIjKl",
]


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TASK_POLICIES = {
    "django": document(
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "arn:aws:sqs:eu-west-2:111111111111:jobs"}
    ),
    "concept": document(
        {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": "arn:aws:ssm:eu-west-2:111111111111:parameter/x"}
    ),
}
INSTANCES = {
    "prod": {
        "name": "exii-prod",
        "account_id": "222222222222",
        "region": "eu-west-2",
        "container_insights": True,
        "repositories": ["concept", "django"],
        "keep_images": 7,
        "log_retention_days": 14,
        "execution_secret_arns": SECRETS,
        "task_role_policies": TASK_POLICIES,
    },
    # Defaults: no Container Insights, 30 days of logs, 30 images.
    "dev": {
        "name": "exii-dev",
        "account_id": "111111111111",
        "region": "eu-west-1",
        "repositories": ["django"],
        "execution_secret_arns": SECRETS[:1],
        "task_role_policies": {"django": TASK_POLICIES["django"]},
    },
}
EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "ecs", partial(plan_instances, "ecs", INSTANCES))


def statements(plan: Plan) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every IAM policy document (a JSON string with a Statement) in the plan."""
    for address, values in plan.resources.items():
        for key, value in values.items():
            if not (isinstance(value, str) and value.startswith("{")):
                continue
            parsed = json.loads(value)
            listed = parsed.get("Statement", [])
            for statement in [listed] if isinstance(listed, dict) else listed:
                yield f"{address}.{key}", statement


def as_list(value: str | list[str] | None) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def assumed_by(policy: str) -> list[Any]:
    return [(s["Action"], s["Effect"], s["Principal"]) for s in json.loads(policy)["Statement"]]


ECS_TASKS = [("sts:AssumeRole", "Allow", {"Service": "ecs-tasks.amazonaws.com"})]


def trusts_only_this_accounts_tasks(policy: str, instance: str) -> None:
    """The confused-deputy guard of the ECS guides: tasks of this account, in this region."""
    assert assumed_by(policy) == ECS_TASKS
    [statement] = json.loads(policy)["Statement"]
    account, region = INSTANCES[instance]["account_id"], INSTANCES[instance]["region"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{region}:{account}:*"},
    }


@pytest.mark.parametrize(("instance", "value"), [("prod", "enabled"), ("dev", "disabled")])
def test_container_insights_follows_the_input(plans, instance, value):
    cluster = plans[instance].one("aws_ecs_cluster")
    assert cluster["name"] == INSTANCES[instance]["name"]
    assert cluster["setting"] == [{"name": "containerInsights", "value": value}]


@pytest.mark.parametrize(("instance", "keep"), [("prod", 7), ("dev", 30)])
def test_repositories_scan_on_push_and_keep_the_newest_images(plans, instance, keep):
    plan = plans[instance]
    repositories = plan.of_type("aws_ecr_repository")
    assert sorted(r["name"] for r in repositories.values()) == INSTANCES[instance]["repositories"]
    assert all(r["image_scanning_configuration"] == [{"scan_on_push": True}] for r in repositories.values())
    policies = plan.of_type("aws_ecr_lifecycle_policy")
    assert sorted(p["repository"] for p in policies.values()) == INSTANCES[instance]["repositories"]
    for policy in policies.values():
        kept, newest = json.loads(policy["policy"])["rules"]  # modules/ecr: kept revisions' images, then the newest N
        assert kept["selection"]["tagPrefixList"] == ["stackops-keep-"]
        assert (newest["selection"]["countType"], newest["selection"]["countNumber"]) == ("imageCountMoreThan", keep)
        assert newest["action"]["type"] == "expire"


@pytest.mark.parametrize(("instance", "days"), [("prod", 14), ("dev", 30)])
def test_log_group_retention(plans, instance, days):
    group = plans[instance].one("aws_cloudwatch_log_group")
    assert (group["name"], group["retention_in_days"]) == (f"/ecs/{INSTANCES[instance]['name']}", days)


@pytest.mark.parametrize("instance", INSTANCES)
def test_execution_role_has_the_managed_policy_and_reads_exactly_the_given_secrets(plans, instance):
    plan = plans[instance]
    name = INSTANCES[instance]["name"]
    role = plan.resources["aws_iam_role.execution"]
    assert role["name"] == f"{name}-task-execution"
    trusts_only_this_accounts_tasks(role["assume_role_policy"], instance)
    attachment = plan.one("aws_iam_role_policy_attachment")
    assert (attachment["role"], attachment["policy_arn"]) == (f"{name}-task-execution", EXECUTION_POLICY)
    [statement] = json.loads(plan.resources["aws_iam_role_policy.execution_secrets"]["policy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    assert sorted(as_list(statement["Resource"])) == sorted(INSTANCES[instance]["execution_secret_arns"])
    assert "Condition" not in statement and "NotResource" not in statement


@pytest.mark.parametrize("instance", INSTANCES)
def test_a_task_role_per_key_with_its_policy(plans, instance):
    plan = plans[instance]
    name, policies = INSTANCES[instance]["name"], INSTANCES[instance]["task_role_policies"]
    roles = {a: v for a, v in plan.of_type("aws_iam_role").items() if a.startswith("aws_iam_role.task[")}
    assert sorted(r["name"] for r in roles.values()) == sorted(f"{name}-{key}-task" for key in policies)
    for key, policy in policies.items():
        trusts_only_this_accounts_tasks(plan.resources[f'aws_iam_role.task["{key}"]']["assume_role_policy"], instance)
        attached = plan.resources[f'aws_iam_role_policy.task["{key}"]']
        assert attached["name"] == f"{key}-task"
        assert json.loads(attached["policy"]) == json.loads(policy)


@pytest.mark.parametrize("instance", INSTANCES)
def test_no_policy_allows_wildcard_actions(plans, instance):
    found = list(statements(plans[instance]))
    # the execution role's trust and secrets policies, then a trust and a policy per task role
    assert len(found) == 2 + 2 * len(INSTANCES[instance]["task_role_policies"]), found
    for where, statement in found:
        assert "NotAction" not in statement, where
        for action in as_list(statement.get("Action")):
            assert action != "*" and not action.endswith(":*"), f"{where}: {action}"
