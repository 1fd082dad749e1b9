"""Plan assertions for modules/service-trust-policy: a service role's trust, held to this account."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

ACCOUNT = "111122223333"
ECS_SOURCE = f"arn:aws:ecs:eu-west-2:{ACCOUNT}:*"
SCHEDULES = [
    f"arn:aws:scheduler:eu-west-2:{ACCOUNT}:schedule-group/default",
    f"arn:aws:scheduler:eu-west-2:{ACCOUNT}:schedule/default/exii-test-job",
]
INSTANCES = {
    "ecs": {"service": "ecs-tasks.amazonaws.com", "account_id": ACCOUNT, "source_arns": [ECS_SOURCE]},
    "scheduler": {
        "service": "scheduler.amazonaws.com",
        "account_id": ACCOUNT,
        "source_arns": SCHEDULES,
        "source_arn_test": "ArnEquals",
    },
    "lambda": {"service": "lambda.amazonaws.com", "account_id": ACCOUNT},
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(
        tmp_path_factory, "service-trust-policy", partial(plan_instances, "service-trust-policy", INSTANCES)
    )


def statement(plan: Plan) -> dict:
    [only] = json.loads(plan.outputs["json"])["Statement"]
    return only


def test_the_service_may_assume_the_role_for_this_account_and_its_source_arns(plans):
    assert statement(plans["ecs"]) == {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}, "ArnLike": {"aws:SourceArn": ECS_SOURCE}},
    }


def test_exact_source_arns_take_arn_equals(plans):
    condition = statement(plans["scheduler"])["Condition"]
    assert condition["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(condition["ArnEquals"]["aws:SourceArn"]) == SCHEDULES
    assert set(condition) == {"StringEquals", "ArnEquals"}


def test_without_source_arns_only_the_account_is_held(plans):
    only = statement(plans["lambda"])
    assert only["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert only["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


# Every rule in one plan (Terraform reports each failed validation): one plan, not one per rule.
BAD_INPUTS = [
    ({"service": "ecs-tasks"}, "service must be an AWS service principal"),
    ({"account_id": "1111"}, "account_id must be a 12-digit AWS account id"),
    ({"source_arn_test": "StringLike"}, "source_arn_test must be ArnLike or ArnEquals"),
]


def test_inputs_are_validated(tmp_path):
    instances = {f"bad{i}": {**INSTANCES["ecs"], **change} for i, (change, _) in enumerate(BAD_INPUTS)}
    with pytest.raises(AssertionError) as failed:
        plan_instances("service-trust-policy", instances, tmp_path)
    errors = " ".join(str(failed.value).split())  # Terraform wraps its messages
    for i, (_, message) in enumerate(BAD_INPUTS):
        assert message in errors, f"bad{i}: {message}"
    assert errors.count("Invalid value for variable") == len(BAD_INPUTS)


def test_a_source_arn_of_another_account_is_refused(tmp_path):
    # Checked against account_id, so Terraform checks it only once the single-variable rules pass.
    other = {**INSTANCES["ecs"], "source_arns": ["arn:aws:ecs:eu-west-2:999999999999:*"]}
    with pytest.raises(AssertionError, match="source_arns must be ARNs"):
        plan_instances("service-trust-policy", {"bad": other}, tmp_path)
