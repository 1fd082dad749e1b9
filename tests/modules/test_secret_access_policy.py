"""Plan assertions for modules/secret-access-policy: who is denied a secret, and who is not.

The emulator stores a secret's resource policy but never evaluates it, so what it lets through is
worked out here from the planned document, the way AWS evaluates Deny statements in a resource
policy (an explicit Deny wins; aws:PrincipalArn of a role's session is the role's ARN).
"""

from __future__ import annotations

import fnmatch
import json
from functools import partial
from typing import Any

import pytest

from tests.planner import Plan, once_per_session, plan_instances

ACCOUNT = "111122223333"
SECRET = f"arn:aws:secretsmanager:eu-west-2:{ACCOUNT}:secret:/exii/test/db-password-AbCdEf"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/exii-test-admin"
EXECUTION = f"arn:aws:iam::{ACCOUNT}:role/exii-test-task-execution"
CI_PLAN = f"arn:aws:iam::{ACCOUNT}:role/exii-test-ci-plan"
READ = "secretsmanager:GetSecretValue"
ROLES = {
    "ExecutionRole": {"arn": EXECUTION, "actions": [READ]},
    "CiPlan": {"arn": CI_PLAN, "actions": ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", READ]},
}
INSTANCES = {
    "used": {"secret_arn": SECRET, "administrators": [ADMIN], "roles": ROLES},
    "unused": {"secret_arn": SECRET, "administrators": [ADMIN]},  # no role of the stack reads it
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(
        tmp_path_factory, "secret-access-policy", partial(plan_instances, "secret-access-policy", INSTANCES)
    )


def listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(statement: dict[str, Any], action: str, principal: str) -> bool:
    if "Action" in statement:
        acts = any(fnmatch.fnmatchcase(action, pattern) for pattern in listed(statement["Action"]))
    else:
        acts = not any(fnmatch.fnmatchcase(action, pattern) for pattern in listed(statement["NotAction"]))
    conditions = statement.get("Condition", {})
    for operator, keys in conditions.items():
        (key, values), *others = keys.items()
        assert not others and key == "aws:PrincipalArn" and operator in ("StringEquals", "StringNotEquals"), keys
        named = principal in listed(values)
        if named != (operator == "StringEquals"):
            return False
    return acts


def denied(document: dict[str, Any], action: str, principal: str) -> bool:
    """Whether one of the policy's Deny statements applies to `principal` calling `action` on the secret."""
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    for statement in statements:
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
        assert statement["Resource"] == "*"  # this secret, the only resource of its policy
        if _matches(statement, action, principal):
            return True
    return False


def document(plan: Plan) -> dict[str, Any]:
    policy = plan.one("aws_secretsmanager_secret_policy")
    assert policy["secret_arn"] == SECRET
    assert policy["block_public_policy"] is True  # Secrets Manager refuses a policy granting public access
    assert json.loads(policy["policy"]) == json.loads(plan.outputs["json"])
    return json.loads(policy["policy"])


def test_only_deny_statements_so_the_policy_grants_nothing(plans):
    for plan in plans.values():
        assert {s["Effect"] for s in document(plan)["Statement"]} == {"Deny"}


@pytest.mark.parametrize(
    "stranger",
    [
        f"arn:aws:iam::{ACCOUNT}:root",  # an explicit Deny binds the root user too
        f"arn:aws:iam::{ACCOUNT}:role/exii-test-django-task",  # a task role of the stack: not its secret to read
        "arn:aws:iam::999999999999:role/exii-test-admin",  # the same name in another account
    ],
)
@pytest.mark.parametrize("action", [READ, "secretsmanager:PutSecretValue", "secretsmanager:PutResourcePolicy"])
def test_every_other_principal_is_denied_every_action(plans, stranger, action):
    for plan in plans.values():
        assert denied(document(plan), action, stranger)


@pytest.mark.parametrize(
    "action",
    [READ, "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:PutResourcePolicy"],
)
def test_the_administrators_are_left_to_their_own_policies(plans, action):
    for plan in plans.values():
        assert not denied(document(plan), action, ADMIN)


def test_each_role_of_the_stack_may_take_its_actions_and_no_other(plans):
    policy = document(plans["used"])
    for role in ROLES.values():
        for action in role["actions"]:
            assert not denied(policy, action, role["arn"]), (role, action)
        for action in (
            "secretsmanager:PutSecretValue",
            "secretsmanager:DeleteSecret",
            "secretsmanager:PutResourcePolicy",
        ):
            assert denied(policy, action, role["arn"]), (role, action)
    assert denied(policy, "secretsmanager:DescribeSecret", EXECUTION)  # it only reads the value


def test_a_secret_no_role_uses_is_denied_to_them(plans):
    assert denied(document(plans["unused"]), READ, EXECUTION)


def test_the_check_of_prowler_finds_its_deny_statement(plans):
    """Prowler's secretsmanager_has_restrictive_resource_policy: Deny * on secretsmanager:* unless
    aws:PrincipalArn is one of exact role/user ARNs, with StringNotEquals as the only operator."""
    [everyone] = [s for s in document(plans["used"])["Statement"] if "Action" in s]
    assert (everyone["Action"], list(everyone["Condition"])) == ("secretsmanager:*", ["StringNotEquals"])
    assert sorted(listed(everyone["Condition"]["StringNotEquals"]["aws:PrincipalArn"])) == sorted(
        [ADMIN, EXECUTION, CI_PLAN]
    )


# Every rule in one plan (Terraform reports each failed validation): one plan, not one per rule.
BAD_INPUTS = [
    ({"administrators": []}, "administrators needs at least one IAM role or user ARN"),
    (
        {"administrators": [f"arn:aws:iam::{ACCOUNT}:role/exii-*"]},
        "administrators needs at least one IAM role or user ARN",
    ),
    ({"secret_arn": "/exii/test/db-password"}, "secret_arn must be a Secrets Manager secret ARN"),
    ({"roles": {"ci-plan": ROLES["CiPlan"]}}, "each key is letters and digits only"),
    (
        {"roles": {"Any": {"arn": EXECUTION, "actions": ["secretsmanager:*"]}}},
        "at least one secretsmanager: action, without wildcards",
    ),
    (
        {"roles": {"Any": {"arn": f"arn:aws:iam::{ACCOUNT}:role/*", "actions": [READ]}}},
        "each arn is an IAM role ARN without wildcards",
    ),
]


def test_inputs_are_validated(tmp_path):
    instances = {f"bad{i}": {**INSTANCES["used"], **change} for i, (change, _) in enumerate(BAD_INPUTS)}
    with pytest.raises(AssertionError) as failed:
        plan_instances("secret-access-policy", instances, tmp_path)
    errors = " ".join(str(failed.value).split())  # Terraform wraps its messages
    for i, (_, message) in enumerate(BAD_INPUTS):
        assert message in errors, f"bad{i}: {message}"
    assert errors.count("Invalid value for variable") == len(BAD_INPUTS)
