"""Plan assertions for modules/tls-only-bucket-policy: the one statement every bucket carries."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

ARN = "arn:aws:s3:::exii-test-state"
INSTANCES = {"state": {"bucket_arn": ARN}}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(
        tmp_path_factory, "tls-only-bucket-policy", partial(plan_instances, "tls-only-bucket-policy", INSTANCES)
    )


def test_denies_every_request_without_tls_on_the_bucket_and_its_objects(plans):
    document = json.loads(plans["state"].outputs["json"])
    for statement in document["Statement"]:
        statement["Resource"] = sorted(statement["Resource"])  # the provider orders them its own way
    assert document["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [ARN, f"{ARN}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_a_bucket_arn_is_required(tmp_path):
    with pytest.raises(AssertionError, match="bucket_arn must be an S3 bucket ARN"):
        plan_instances("tls-only-bucket-policy", {"bad": {"bucket_arn": "exii-test-state"}}, tmp_path)
