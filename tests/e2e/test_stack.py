"""End-to-end on the emulated AWS, the Terratest shape: `inv up`, then assert what exists.

Built once per session by the `local_stack` fixture (the README's own command)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.conftest import run_inv

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def test_network_as_planned(local_stack):
    ec2 = local_stack.client("ec2")
    vpc_id = local_stack.outputs["vpc_id"]
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    by_tier: dict[str, set[tuple[str, str]]] = {}
    for subnet in subnets:
        tier = {t["Key"]: t["Value"] for t in subnet.get("Tags", [])}["Tier"]
        by_tier.setdefault(tier, set()).add((subnet["CidrBlock"], subnet["AvailabilityZone"]))
    assert by_tier == {
        "public": {("10.0.1.0/24", "eu-west-2a"), ("10.0.2.0/24", "eu-west-2b")},
        "private": {("10.0.101.0/24", "eu-west-2a"), ("10.0.102.0/24", "eu-west-2b")},
        "database": {("10.0.201.0/24", "eu-west-2a"), ("10.0.202.0/24", "eu-west-2b")},
    }
    # The same facts through the AWS CLI, as an operator would check them.
    cli = local_stack.aws_cli("ec2", "describe-nat-gateways", "--filter", f"Name=vpc-id,Values={vpc_id}")
    assert len(cli["NatGateways"]) == 1  # nat_mode = "single" in environments/local


def test_load_balancers_cluster_and_services(local_stack):
    elbv2 = local_stack.client("elbv2")
    balancers = {lb["LoadBalancerName"]: lb for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    assert {"exii-local-concept", "exii-local-django"} <= set(balancers)
    dns_names = local_stack.outputs["load_balancer_dns_names"]
    assert {balancers[f"exii-local-{service}"]["DNSName"] for service in ("concept", "django")} == set(
        dns_names.values()
    )
    for lb in balancers.values():
        described = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        listeners = {item["Port"]: item for item in described}
        # `inv up` ended with a certificate: HTTPS forwards, HTTP redirects.
        assert listeners[443]["Certificates"][0]["CertificateArn"] == local_stack.outputs["certificate_arn"]
        assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"

    cluster = local_stack.outputs["ecs"]["cluster"]
    described = local_stack.aws_cli(
        "ecs", "describe-services", "--cluster", cluster, "--services", "exii-local-concept", "exii-local-django"
    )
    services = {s["serviceName"]: s for s in described["services"]}
    assert set(services) == {"exii-local-concept", "exii-local-django"}
    for service in services.values():
        assert service["status"] == "ACTIVE"
        assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
        assert service["launchType"] == "FARGATE"
        # (the circuit breaker is asserted in the plan tests: the emulator does not report it back)


def test_database_buckets_and_parameters(local_stack):
    db = local_stack.client("rds").describe_db_instances(DBInstanceIdentifier="exii-local")["DBInstances"][0]
    assert db["PubliclyAccessible"] is False
    assert db["StorageEncrypted"] is True
    assert local_stack.outputs["database_endpoint"].startswith(db["Endpoint"]["Address"])

    s3 = local_stack.client("s3")
    assert set(local_stack.outputs["bucket_names"]) == {"log", "staging", "trigger", "input", "model", "report"}
    for purpose, bucket in local_stack.outputs["bucket_names"].items():
        assert bucket == f"exii-local-{purpose}-{local_stack.env.account_id}"
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())

    ssm = local_stack.client("ssm")
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path="/exii/local", Recursive=True)
    params = {p["Name"]: p["Value"] for page in pages for p in page["Parameters"]}
    assert params["/exii/local/database/name"] == "app"
    assert params["/exii/local/database/username"] == "exii_admin"  # not the engine's default
    assert params["/exii/local/api-url"] == "https://api.exii.test"
    assert params["/exii/local/buckets/trigger"] == local_stack.outputs["bucket_names"]["trigger"]
    assert params["/exii/local/batch/cluster-name"] == "exii-local-batch"


def test_state_lives_in_the_master_account(local_stack):
    s3 = local_stack.client("s3", master=True)
    bucket = f"exii-terraform-state-{local_stack.env.master_account_id}"  # the default name: no squatter's
    assert local_stack.env.state_bucket == bucket
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}  # the master account's own
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "env:/local/exii/terraform.tfstate" in keys
    table = local_stack.client("dynamodb", master=True).describe_table(TableName="terraform-locks")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "LockID", "KeyType": "HASH"}]


def test_second_up_changes_nothing(local_stack):
    """The second plan is empty: any change in it would be applied (`inv up` applies with --yes)."""
    again = run_inv("up")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "apply: no changes" in again.stderr
    assert "certificate ARN: certificate " in again.stderr  # the issued one: no placeholder again
    assert "certificate: skipped" in again.stderr  # the certificate is still fresh
    assert "local: no changes" in log_of(again).read_text()  # the steps' tables are in the log


def log_of(result) -> Path:
    """The log a command names as its last-but-one line ("full log: PATH")."""
    paths = re.findall(r"^full log: (\S+)$", result.stderr, flags=re.MULTILINE)
    assert len(paths) == 1, result.stderr[-2000:]
    return Path(paths[0])


def test_inv_up_says_what_it_did_in_few_plain_lines(local_stack):
    """Captured (not a terminal): no colour codes, no live view, no cell cut with "…", and
    short: one line per step, the outputs and the services (5,819 lines before)."""
    up = local_stack.up
    text = up.stdout + up.stderr
    assert "\x1b[" not in text
    assert "…" not in text
    assert len(text.splitlines()) < 100, text
    steps = ("emulated AWS:", "state backend:", "secrets:", "certificate ARN: placeholder", "apply: applied",
             "certificate: issued")  # fmt: skip
    for step in steps:
        assert step in up.stderr, up.stderr
    assert "exii-local-concept" in up.stdout  # the services' state
    # One apply of the stack, untargeted, with the HTTPS listeners on the placeholder's ARN, into
    # which the issued certificate went (test_stack_certs checks what the listeners hold now).
    log = log_of(up)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    sections = re.findall(r"^===== \S+ UTC terraform (apply .*)  \((.*)\) =====$", log.read_text(), re.MULTILINE)
    stack_applies = [command for command, label in sections if label == "local"]
    assert len(stack_applies) == 1 and "-target" not in stack_applies[0], sections
    assert 'module.alb["concept"].aws_lb_listener.https[0] will be created' in log.read_text()


def retention(local_stack, group: str) -> int | None:
    groups = local_stack.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return next(g.get("retentionInDays") for g in groups if g["logGroupName"] == group)


def test_drift_detects_a_change_behind_terraforms_back(local_stack):
    # No drift before: the second `inv up`, just before, planned nothing to change.
    group = local_stack.outputs["ecs"]["log_group"]
    planned = retention(local_stack, group)
    local_stack.client("logs").put_retention_policy(logGroupName=group, retentionInDays=1)
    try:
        drift = run_inv("drift", "--env", "local")
        assert drift.returncode == 2, drift.stdout + drift.stderr
        assert "aws_cloudwatch_log_group" in drift.stdout
    finally:
        # Put back as the code has it, directly: an apply would only show Terraform undoing a change
        # (every apply of these tests does), at half a minute of the suite.
        local_stack.client("logs").put_retention_policy(logGroupName=group, retentionInDays=planned)
    assert planned != 1 and retention(local_stack, group) == planned


def test_tf_passes_for_each_addresses_verbatim(local_stack):
    # The quotes inside the address survive: invoke's remainder would have dropped them.
    shown = run_inv("tf", "--env", "local", "--", "state", "show", 'module.bucket["staging"].aws_s3_bucket.this')
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert local_stack.outputs["bucket_names"]["staging"] in shown.stdout


def test_a_resource_missing_from_the_state_is_named_with_the_command_that_adopts_it(local_stack):
    address = 'aws_ssm_parameter.string["api-url"]'
    forgotten = run_inv("tf", "--env", "local", "--yes", "--", "state", "rm", address)
    assert forgotten.returncode == 0, forgotten.stderr[-2000:]
    # What a half-finished apply leaves: the parameter exists in AWS, the state does not know it.
    failed = run_inv("apply", "--env", "local", "--yes")
    assert failed.returncode == 1
    # Terraform's diagnostic in full (summary, resource, file), the log named, the plan's text in it.
    assert "Error: creating SSM Parameter (/exii/local/api-url)" in failed.stderr, failed.stderr[-3000:]
    assert f"with {address}," in failed.stderr and "on parameters.tf line" in failed.stderr
    log = log_of(failed).read_text()
    assert f"# {address} will be created" in log and "Terraform will perform the following actions" in log
    assert "ParameterAlreadyExists" in log
    message = " ".join(failed.stderr.split())
    command = f"inv tf --env local -- import '{address}' /exii/local/api-url"
    assert address in message and command in message, message[-2000:]
    assert "inv up --fresh" in message
    adopted = run_inv("tf", "--env", "local", "--yes", "--", "import", address, "/exii/local/api-url")
    assert adopted.returncode == 0, adopted.stderr[-2000:]
    shown = run_inv("tf", "--env", "local", "--", "state", "show", address)  # in the state again
    assert shown.returncode == 0 and "/exii/local/api-url" in shown.stdout, shown.stderr[-2000:]


def test_a_plan_replacing_the_database_needs_its_name(local_stack):
    """Another database name replaces the instance: --yes alone is refused (exit 2) before anything
    is applied, naming it and the --allow-replace that allows it (that flag's effect on the
    confirmation: tests/unit/test_workflow.py)."""
    address = "module.database.aws_db_instance.this"
    refused = run_inv("apply", "--env", "local", "--yes", env={"TF_VAR_db_name": "renamed"})
    assert refused.returncode == 2, refused.stderr[-3000:]
    message = " ".join(refused.stderr.split())
    assert "needs its name typed; --yes alone is not enough" in message
    assert f"{address} (replace)" in message and f"inv apply --env local --yes --allow-replace {address}" in message
    assert f"stateful replace: {address}" in refused.stdout  # listed apart in the summary
    database = local_stack.client("rds").describe_db_instances()["DBInstances"][0]
    assert database["DBName"] == "app" and database["DBInstanceStatus"] == "available"
