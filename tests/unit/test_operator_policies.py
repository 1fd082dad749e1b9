"""The operator policy files (operator-policies/*.json): well-formed, rendered for every environment,
read-only where they say so, and `Resource: "*"` only for actions that have no resource type.

Whether each policy is enough for its commands is proven on the emulator with IAM authorisation on
(tests/e2e/test_operator_policies.py).
"""

from __future__ import annotations

import json
import re

import pytest

from stackops import environments, operator_policies

# Actions that support no resource-level permission (IAM Service Authorization Reference): the
# only ones a statement may grant on "*".
WITHOUT_RESOURCE_TYPES = {
    "ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute", "ec2:DescribeAvailabilityZones", "ec2:DescribeFlowLogs",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways", "ec2:DescribeNetworkAcls", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcAttribute", "ec2:DescribeVpcs",
    "elasticloadbalancing:DescribeCapacityReservation", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetGroups",
    "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition", "logs:DescribeLogGroups", "rds:DescribeDBInstances", "ssm:DescribeParameters",
    "secretsmanager:ListSecrets",
    "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
    "route53:ListHostedZones", "acm:ListCertificates", "cloudwatch:PutMetricData",
    "sns:GetSubscriptionAttributes", "cloudwatch:GetMetricStatistics", "elasticloadbalancing:DescribeTargetHealth",
    "ec2:DescribeNetworkInterfaces", "route53:CreateHostedZone", "sns:Unsubscribe",
}  # fmt: skip
# The conditions a statement may carry (moto's authorisation proves none): PassRole's, which AWS
# documents for ECS (the role may only be handed to ECS tasks; moto does not check PassRole at
# all), and the namespace PutMetricData is held to (it has no resource type).
# apply.json hands the stack's roles to the services Terraform gives them to, and creates only the
# service-linked roles of the services the stack uses.
CONDITIONS = {
    "iam:PassRole": [
        {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        {"StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com",
                                                  "scheduler.amazonaws.com", "vpc-flow-logs.amazonaws.com"]}},
    ],
    "cloudwatch:PutMetricData": [{"StringEquals": {"cloudwatch:namespace": "Stackops/Certificates"}}],
    "iam:CreateServiceLinkedRole": [
        {"StringEquals": {"iam:AWSServiceName": ["ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com",
                                                 "elasticloadbalancing.amazonaws.com", "rds.amazonaws.com"]}}
    ],
}  # fmt: skip
WRITE = re.compile(r":(Create|Put|Delete|Update|Run|Register|Deregister|Tag|Untag|Import|Add|Remove|Change|Modify|"
                   r"Attach|Detach|Start|Stop|Set|Pass|Batch(Delete|Put)|Restore|Rotate)")  # fmt: skip


def statements(document: dict) -> list[dict]:
    found = document["Statement"]
    return [found] if isinstance(found, dict) else list(found)


def listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@pytest.mark.parametrize("env_name", environments.names())
@pytest.mark.parametrize("name", sorted(operator_policies.files()))
def test_each_file_renders_to_a_plain_policy_of_that_environment(name: str, env_name: str) -> None:
    env = environments.load(env_name)
    document = operator_policies.render(name, env)
    text = json.dumps(document)
    assert "${" not in text
    assert document["Version"] == "2012-10-17"
    for statement in statements(document):
        assert statement["Effect"] == "Allow" and "NotAction" not in statement
        if "Condition" in statement:
            (action,) = listed(statement["Action"])
            assert statement["Condition"] in CONDITIONS[action], statement["Sid"]
        for action in listed(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action}"
        for resource in listed(statement["Resource"]):
            if resource == "*":
                assert set(listed(statement["Action"])) <= WITHOUT_RESOURCE_TYPES, (name, statement["Sid"])
            elif resource.startswith("arn:aws:s3:::"):
                buckets = (f"arn:aws:s3:::exii-{env.name}-", f"arn:aws:s3:::{env.state_bucket}")
                assert resource.startswith(buckets), resource
            else:
                account = env.master_account_id if name.endswith("-state") else env.account_id
                assert re.match(rf"arn:aws:[a-z0-9-]+:({env.region})?:({account})?:", resource), resource
                # generated ids, the lock table, and the engine's default groups a restore uses (AWS names them)
                unnamed = ("hostedzone/*", "change/*", "certificate/*", "scalable-target/*", f"table/{env.lock_table}",
                           "oidc-provider/*", "targetgroup/*/*", "aws-service-role/*", ":pg:default.*",
                           ":og:default:*", ":pg:default.postgres*", ":og:default:postgres-*",
                           f"arn:aws:ec2:{env.region}:{env.account_id}:*")  # fmt: skip
                assert env.name in resource or resource.endswith(unnamed), resource


def test_the_families_have_their_files() -> None:
    state = {"plan-state", "deploy-state", "database-state", "apply-state"}
    assert set(operator_policies.FAMILIES) | state == set(operator_policies.files())


def test_the_plan_policy_is_read_only() -> None:
    env = environments.load("dev")
    for statement in statements(operator_policies.render("plan", env)):
        writes = [a for a in listed(statement["Action"]) if WRITE.search(a)]
        assert not writes, writes
    # Its state policy writes only the lock that `terraform plan` takes (the lock file and table item).
    for statement in statements(operator_policies.render("plan-state", env)):
        if any(WRITE.search(a) for a in listed(statement["Action"])):
            lock = (".tflock", f"table/{env.lock_table}")
            assert all(r.endswith(lock) for r in listed(statement["Resource"]))


def test_the_apply_state_policy_writes_only_the_state_and_its_lock() -> None:
    env = environments.load("prod")
    state = f"arn:aws:s3:::{env.state_bucket}/{operator_policies.placeholders(env)['state_object']}"
    table = f"arn:aws:dynamodb:{env.region}:{env.master_account_id}:table/{env.lock_table}"
    for statement in statements(operator_policies.render("apply-state", env)):
        if any(WRITE.search(a) for a in listed(statement["Action"])):
            assert set(listed(statement["Resource"])) <= {state, f"{state}.tflock", table}, statement


@pytest.mark.parametrize("name", ["deploy-state", "database-state"])
def test_the_deploy_and_database_state_policies_only_read(name: str) -> None:
    for statement in statements(operator_policies.render(name, environments.load("prod"))):
        assert not [a for a in listed(statement["Action"]) if WRITE.search(a)]


def test_the_database_password_is_the_only_secret_value_a_plan_reads() -> None:
    document = operator_policies.render("plan", environments.load("prod"))
    reads = [s for s in statements(document) if "secretsmanager:GetSecretValue" in listed(s["Action"])]
    assert [listed(s["Resource"]) for s in reads] == [
        ["arn:aws:secretsmanager:eu-west-2:222222222222:secret:/exii/prod/db-password-*"]
    ]


def test_an_unknown_file_is_refused() -> None:
    with pytest.raises(ValueError, match="no operator policy"):
        operator_policies.render("admin", environments.load("local"))
