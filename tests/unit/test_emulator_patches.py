"""The emulator's narrow moto fixes (stackops/local/aws), each against moto's in-process backend.

Each test installs the fix and restores moto's original method afterwards, so the rest of the
process sees moto unchanged."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from stackops.local.aws import autoscaling, ec2, policies


@pytest.fixture
def patched(monkeypatch):
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
    from moto.ec2.models.security_groups import SecurityGroupBackend, SecurityGroupRule
    from moto.iam.access_control import IAMPolicyStatement
    from moto.s3.models import FakeBucket

    monkeypatch.setattr(SecurityGroupRule, "description", SecurityGroupRule.__dict__["description"])
    monkeypatch.setattr(
        SecurityGroupBackend, "modify_security_group_rules", SecurityGroupBackend.modify_security_group_rules
    )
    for owner, name in [
        (IAMPolicyStatement, "is_action_permitted"),
        (ApplicationAutoScalingResponse, "register_scalable_target"),
    ]:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.setattr(
        FakeBucket, "_log_permissions_enabled_policy", FakeBucket.__dict__["_log_permissions_enabled_policy"]
    )
    for name in ("list_tags_for_resource", "tag_resource", "untag_resource"):
        if not hasattr(ApplicationAutoScalingResponse, name):
            monkeypatch.setattr(ApplicationAutoScalingResponse, name, None, raising=False)
            monkeypatch.delattr(ApplicationAutoScalingResponse, name)
    ec2.install()
    policies.install()
    policies.install_bucket_logging_check()
    autoscaling.install()


def _described(client, group: str) -> dict[str, dict[str, str | None]]:
    """Each ingress rule's description by source (group id or CIDR), as both APIs answer it."""
    rules = client.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    by_rule = {
        r.get("ReferencedGroupInfo", {}).get("GroupId") or r.get("CidrIpv4"): r.get("Description")
        for r in rules["SecurityGroupRules"]
        if not r["IsEgress"]
    }
    by_group: dict[str, str | None] = {}
    for permission in client.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]:
        for pair in permission.get("UserIdGroupPairs", []):
            by_group[pair["GroupId"]] = pair.get("Description")
        for cidr in permission.get("IpRanges", []):
            by_group[cidr["CidrIp"]] = cidr.get("Description")
    return {"DescribeSecurityGroupRules": by_rule, "DescribeSecurityGroups": by_group}


@mock_aws
def test_a_rule_referencing_a_group_keeps_its_description(patched):
    client = boto3.client("ec2", region_name="eu-west-2")
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    source = client.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    group = client.create_security_group(GroupName="svc", Description="svc", VpcId=vpc)["GroupId"]
    pair = {"GroupId": source, "Description": "from the load balancer"}
    rule = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "UserIdGroupPairs": [pair]}
    added = client.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])["SecurityGroupRules"]
    assert [r.get("Description") for r in added] == ["from the load balancer"]
    cidr = {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "vpc"}],
    }
    client.authorize_security_group_ingress(GroupId=group, IpPermissions=[cidr])
    expected = {source: "from the load balancer", "10.0.0.0/16": "vpc"}
    assert _described(client, group) == {"DescribeSecurityGroupRules": expected, "DescribeSecurityGroups": expected}

    # The provider changes a rule's description in place (ModifySecurityGroupRules): both APIs answer the new one.
    changed = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "ReferencedGroupId": source, "Description": "new"}
    client.modify_security_group_rules(
        GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": added[0]["SecurityGroupRuleId"],
                                            "SecurityGroupRule": changed}],
    )  # fmt: skip
    expected = {source: "new", "10.0.0.0/16": "vpc"}
    assert _described(client, group) == {"DescribeSecurityGroupRules": expected, "DescribeSecurityGroups": expected}


def test_a_condition_on_a_key_the_request_lacks_does_not_apply(patched):
    from moto.iam.access_control import IAMPolicy, PermissionResult

    deny_without_tls = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }  # fmt: skip
    assert IAMPolicy(json.dumps(deny_without_tls)).is_action_permitted("s3:GetObject", "arn:aws:s3:::b/k") == (
        PermissionResult.NEUTRAL
    )
    unconditional = {**deny_without_tls, "Statement": [{**deny_without_tls["Statement"][0], "Condition": {}}]}
    assert IAMPolicy(json.dumps(unconditional)).is_action_permitted("s3:GetObject", "arn:aws:s3:::b/k") == (
        PermissionResult.DENIED
    )


@mock_aws
def test_bucket_logging_into_a_bucket_with_a_tls_only_policy(patched):
    s3 = boto3.client("s3", region_name="eu-west-2")
    where = {"LocationConstraint": "eu-west-2"}
    s3.create_bucket(Bucket="access-log-target", CreateBucketConfiguration=where)
    s3.create_bucket(Bucket="data-with-logs", CreateBucketConfiguration=where)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::access-log-target/*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::access-log-target/*"},
        ],
    }  # fmt: skip
    s3.put_bucket_policy(Bucket="access-log-target", Policy=json.dumps(policy))
    s3.put_bucket_logging(
        Bucket="data-with-logs",
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "access-log-target", "TargetPrefix": "s3/data/"}},
    )
    assert s3.get_bucket_logging(Bucket="data-with-logs")["LoggingEnabled"]["TargetBucket"] == "access-log-target"


@mock_aws
def test_scalable_targets_keep_their_tags(patched):
    ecs = boto3.client("ecs", region_name="eu-west-2")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="f", containerDefinitions=[{"name": "app", "image": "app", "memory": 64}])
    ecs.create_service(cluster="c", serviceName="s", taskDefinition="f", desiredCount=1)
    client = boto3.client("application-autoscaling", region_name="eu-west-2")
    arn = client.register_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/c/s", ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1, MaxCapacity=2, Tags={"Project": "exii"},
    )["ScalableTargetARN"]  # fmt: skip
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Project": "exii"}
    client.tag_resource(ResourceARN=arn, Tags={"Stage": "local"})
    client.untag_resource(ResourceARN=arn, TagKeys=["Project"])
    assert client.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"Stage": "local"}


@mock_aws
def test_a_family_without_a_revision_names_its_latest_active_revision(monkeypatch):
    from moto.ecs.models import EC2ContainerServiceBackend

    from stackops.local.aws import ecs as emulated_ecs

    monkeypatch.setattr(
        EC2ContainerServiceBackend, "describe_task_definition", EC2ContainerServiceBackend.describe_task_definition
    )
    emulated_ecs.install_latest_active_revision()
    client = boto3.client("ecs", region_name="eu-west-2")
    containers = [{"name": "app", "image": "app:1", "memory": 64}]
    arns = [
        client.register_task_definition(family="f", containerDefinitions=containers)["taskDefinition"][
            "taskDefinitionArn"
        ]
        for _ in range(3)
    ]
    client.deregister_task_definition(taskDefinition=arns[2])

    # ECS: "If a revision isn't specified, the latest ACTIVE revision is used."
    assert client.describe_task_definition(taskDefinition="f")["taskDefinition"]["revision"] == 2
    # A revision asked for by number is still found, INACTIVE or not.
    assert client.describe_task_definition(taskDefinition="f:3")["taskDefinition"]["status"] == "INACTIVE"
    for arn in arns[:2]:
        client.deregister_task_definition(taskDefinition=arn)
    with pytest.raises(client.exceptions.ClientException):
        client.describe_task_definition(taskDefinition="f")
