"""Plan assertions for modules/s3: private, encrypted, versioned buckets reachable only over TLS."""

from __future__ import annotations

from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

INSTANCES = {
    "versioned": {"bucket": "exii-test-uploads"},  # versioning and 90-day expiry are the defaults
    "unversioned": {"bucket": "exii-test-scratch", "versioning": False, "noncurrent_version_expiration_days": 30},
    "logs": {"bucket": "exii-test-log", "access_log_sources": ["exii-test-uploads", "exii-test-logged"]},
    "logged": {"bucket": "exii-test-logged", "access_log_bucket": "exii-test-log"},
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "s3", partial(plan_instances, "s3", INSTANCES))


@pytest.mark.parametrize(("instance", "status"), [("versioned", "Enabled"), ("unversioned", "Suspended")])
def test_versioning_follows_the_input(plans, instance, status):
    assert plans[instance].one("aws_s3_bucket")["bucket"] == INSTANCES[instance]["bucket"]
    assert plans[instance].one("aws_s3_bucket_versioning")["versioning_configuration"] == [{"status": status}]


@pytest.mark.parametrize(("instance", "days"), [("versioned", 90), ("unversioned", 30)])
def test_old_versions_and_abandoned_uploads_expire(plans, instance, days):
    [rule] = plans[instance].one("aws_s3_bucket_lifecycle_configuration")["rule"]
    assert rule["status"] == "Enabled"
    assert rule["noncurrent_version_expiration"][0]["noncurrent_days"] == days
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]


@pytest.mark.parametrize("instance", INSTANCES)
def test_encrypted_private_and_owner_enforced(plans, instance):
    plan = plans[instance]
    [rule] = plan.one("aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "AES256"
    block = plan.one("aws_s3_bucket_public_access_block")
    assert [
        block[k] for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    ] == [True] * 4
    assert plan.one("aws_s3_bucket_ownership_controls")["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]


@pytest.mark.parametrize("instance", INSTANCES)
def test_policy_denies_every_request_without_tls(plans, instance):
    plan = plans[instance]
    # The shared statement (modules/tls-only-bucket-policy, tested there) for this bucket's ARN,
    # which is known at apply: the document is read then, its statement is planned.
    read = plan.change("module.tls_only.data.aws_iam_policy_document.this")
    [statement] = read["after"]["statement"]
    assert (statement["sid"], statement["effect"], statement["actions"]) == ("DenyInsecureTransport", "Deny", ["s3:*"])
    assert statement["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
    assert read["after_unknown"]["statement"][0]["resources"] == [True, True]  # the bucket and its objects
    # ... it is merged into the bucket's document, and that document is the bucket's policy.
    module = plan.raw["configuration"]["root_module"]["module_calls"][instance]["module"]
    [document] = [r for r in module["resources"] if r["address"] == "data.aws_iam_policy_document.this"]
    assert "module.tls_only.json" in document["expressions"]["source_policy_documents"]["references"]
    assert module["module_calls"]["tls_only"]["expressions"]["bucket_arn"]["references"][0] == "aws_s3_bucket.this.arn"
    [policy] = [r for r in module["resources"] if r["address"] == "aws_s3_bucket_policy.this"]
    assert "data.aws_iam_policy_document.this" in policy["expressions"]["policy"]["references"]
    assert plan.counts["aws_s3_bucket_policy"] == 1, plan


def test_access_logs_go_to_the_log_bucket_only_when_asked(plans):
    logging = plans["logged"].one("aws_s3_bucket_logging")
    assert (logging["target_bucket"], logging["target_prefix"]) == ("exii-test-log", "s3/exii-test-logged/")
    assert plans["versioned"].counts["aws_s3_bucket_logging"] == 0


def test_log_bucket_admits_log_delivery_from_its_sources_only(plans):
    statements = plans["logs"].change("data.aws_iam_policy_document.this")["after"]["statement"]
    [allow] = [st for st in statements if st.get("sid") == "AllowAccessLogDelivery"]
    assert allow["actions"] == ["s3:PutObject"]
    assert allow["principals"] == [{"type": "Service", "identifiers": ["logging.s3.amazonaws.com"]}]
    assert allow["condition"] == [{
        "test": "ArnLike", "variable": "aws:SourceArn",
        "values": ["arn:aws:s3:::exii-test-uploads", "arn:aws:s3:::exii-test-logged"],
    }]  # fmt: skip
    # Other buckets admit nobody: they have no statement of their own, only the shared TLS deny.
    others = plans["versioned"].change("data.aws_iam_policy_document.this")["after"]
    assert others["statement"] == []
