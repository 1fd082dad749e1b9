"""The emulator's S3 ownership fix (stackops/local/aws/s3_ownership.py) against moto's in-process backend.

Three accounts, each reached through an assumed role as on the emulator: the bucket's owner, a
caller of another account, and a third. What S3 answers in each case is in the module's docstring.
The fix is installed for each test and moto's original methods are restored afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from stackops.local.aws import s3_ownership

REGION = "eu-west-2"
OWNER, CALLER = "999988887777", "123456789012"
BUCKET = "squatted-name"


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.s3.responses import S3Response

    for name in ("_bucket_response", "_key_response"):
        monkeypatch.setattr(S3Response, name, S3Response.__dict__[name])
    s3_ownership.install()


def s3_of(account: str) -> Any:
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/admin", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def error(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def owned_bucket(policy: dict[str, Any] | None = None) -> Any:
    owner = s3_of(OWNER)
    owner.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    owner.put_object(Bucket=BUCKET, Key="k", Body=b"owner's")
    if policy:
        owner.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    return owner


def allow(principal: Any, action: Any = "s3:*", **extra: Any) -> dict[str, Any]:
    resources = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    statement = {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resources, **extra}
    return {"Version": "2012-10-17", "Statement": [statement]}


@mock_aws
def test_moto_alone_lets_any_account_in_and_ignores_the_expected_owner() -> None:
    """Why the fix exists: without it, another account reads and writes the bucket, owner condition or not."""
    owned_bucket()
    other = s3_of(CALLER)
    other.head_bucket(Bucket=BUCKET, ExpectedBucketOwner=CALLER)
    assert other.get_object(Bucket=BUCKET, Key="k", ExpectedBucketOwner=CALLER)["Body"].read() == b"owner's"


@mock_aws
def test_an_expected_owner_that_is_not_the_owner_is_refused(installed: None) -> None:
    # The squatter's policy lets the caller in: only the owner condition tells the bucket is not its own.
    owner = owned_bucket(allow({"AWS": f"arn:aws:iam::{CALLER}:root"}))
    other = s3_of(CALLER)
    assert error(other.head_bucket, Bucket=BUCKET, ExpectedBucketOwner=CALLER) == (403, "403")  # no body: HEAD
    assert error(other.get_bucket_versioning, Bucket=BUCKET, ExpectedBucketOwner=CALLER) == (403, "AccessDenied")
    assert error(other.get_object, Bucket=BUCKET, Key="k", ExpectedBucketOwner=CALLER) == (403, "AccessDenied")
    assert error(other.put_object, Bucket=BUCKET, Key="state", Body=b"x", ExpectedBucketOwner=CALLER) == (
        403, "AccessDenied",
    )  # fmt: skip
    assert error(other.put_bucket_tagging, Bucket=BUCKET, ExpectedBucketOwner=CALLER,
                 Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}) == (403, "AccessDenied")  # fmt: skip
    # Refused before anything was done: no object written, no tag set.
    assert [o["Key"] for o in owner.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["k"]
    assert error(owner.get_bucket_tagging, Bucket=BUCKET)[1] == "NoSuchTagSet"
    # Even the owner is refused when it names another owner.
    assert error(owner.head_bucket, Bucket=BUCKET, ExpectedBucketOwner=CALLER) == (403, "403")
    # With the right owner named, the granted caller gets in.
    other.head_bucket(Bucket=BUCKET, ExpectedBucketOwner=OWNER)
    assert other.get_object(Bucket=BUCKET, Key="k", ExpectedBucketOwner=OWNER)["Body"].read() == b"owner's"


@mock_aws
def test_another_accounts_bucket_without_a_grant_is_unreachable(installed: None) -> None:
    owned_bucket()
    other = s3_of(CALLER)
    assert error(other.head_bucket, Bucket=BUCKET) == (403, "403")
    assert error(other.list_objects_v2, Bucket=BUCKET) == (403, "AccessDenied")
    assert error(other.get_object, Bucket=BUCKET, Key="k") == (403, "AccessDenied")
    assert error(other.get_bucket_policy, Bucket=BUCKET) == (403, "AccessDenied")
    # The owner is unaffected.
    assert s3_of(OWNER).get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"owner's"


@mock_aws
def test_a_policy_grants_only_whom_and_what_it_names(installed: None) -> None:
    read_only = allow({"AWS": CALLER}, ["s3:ListBucket", "s3:GetObject"])
    owned_bucket(read_only)
    caller, third = s3_of(CALLER), s3_of("444455556666")
    caller.head_bucket(Bucket=BUCKET)  # s3:ListBucket
    assert caller.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"owner's"
    assert error(caller.put_object, Bucket=BUCKET, Key="k", Body=b"x") == (403, "AccessDenied")
    assert error(third.head_bucket, Bucket=BUCKET) == (403, "403")


@mock_aws
def test_a_bucket_that_does_not_exist_or_a_name_taken_answer_as_before(installed: None) -> None:
    owned_bucket()
    other = s3_of(CALLER)
    assert error(other.head_bucket, Bucket="no-such-bucket-anywhere", ExpectedBucketOwner=CALLER) == (404, "404")
    taken = error(other.create_bucket, Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    assert taken == (409, "BucketAlreadyExists")
    assert [b["Name"] for b in other.list_buckets()["Buckets"]] == []  # ListBuckets: the caller's own only


def test_grants_reads_principals_actions_and_resources_narrowly() -> None:
    bucket_arn, object_arn = f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/state"
    assert s3_ownership.grants(allow("*"), CALLER, "s3:GetObject", object_arn)
    assert s3_ownership.grants(allow({"AWS": f"arn:aws:iam::{CALLER}:role/admin"}), CALLER, "s3:ListBucket", bucket_arn)
    assert s3_ownership.grants(allow({"AWS": [OWNER, CALLER]}, "S3:Get*"), CALLER, "s3:GetObject", object_arn)
    assert not s3_ownership.grants(allow({"AWS": OWNER}), CALLER, "s3:GetObject", object_arn)
    assert not s3_ownership.grants(allow({"Service": "logging.s3.amazonaws.com"}), CALLER, "s3:PutObject", object_arn)
    assert not s3_ownership.grants(allow("*", "s3:GetObject"), CALLER, "s3:PutObject", object_arn)
    only_bucket = {"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": bucket_arn}}
    assert not s3_ownership.grants(only_bucket, CALLER, "s3:GetObject", object_arn)
    conditional = allow("*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-1"}})
    assert not s3_ownership.grants(conditional, CALLER, "s3:GetObject", object_arn)  # not evaluated: no grant
    deny = {"Statement": [{**allow("*")["Statement"][0], "Effect": "Deny"}]}
    assert not s3_ownership.grants(deny, CALLER, "s3:GetObject", object_arn)
    assert not s3_ownership.grants(None, CALLER, "s3:GetObject", object_arn)


def test_the_action_of_a_request_is_the_one_s3_authorises() -> None:
    assert s3_ownership.action_for("BUCKET", "HEAD", {}) == "s3:ListBucket"
    assert s3_ownership.action_for("BUCKET", "GET", {}) == "s3:ListBucket"
    assert s3_ownership.action_for("BUCKET", "GET", {"versioning": [""]}) == "s3:GetBucketVersioning"
    assert s3_ownership.action_for("BUCKET", "PUT", {}) == "s3:CreateBucket"
    assert s3_ownership.action_for("BUCKET", "POST", {"delete": [""]}) == "s3:DeleteObject"
    assert s3_ownership.action_for("KEY", "HEAD", {}) == "s3:GetObject"
    assert s3_ownership.action_for("KEY", "PUT", {}) == "s3:PutObject"
    assert s3_ownership.action_for("KEY", "DELETE", {}) == "s3:DeleteObject"


def test_the_server_installs_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackops.local.aws import autoscaling, ec2, ecs, policies, server

    installed: list[str] = []
    for module, name in [(ecs, "install"), (ec2, "install"), (autoscaling, "install"), (policies, "install"),
                         (policies, "install_bucket_logging_check"), (s3_ownership, "install")]:  # fmt: skip
        monkeypatch.setattr(module, name, lambda key=f"{module.__name__}.{name}": installed.append(key))
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    server.build_app()
    assert "stackops.local.aws.s3_ownership.install" in installed
