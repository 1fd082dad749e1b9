"""`inv status`: the snapshot collected from moto's in-process AWS, its tables and its JSON, a section
that cannot be read, and an environment with nothing applied."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from rich.console import Console

from stackops import environments
from stackops.certs.acm import import_certificate, tags_for
from stackops.errors import OpsError
from stackops.status import collect as collect_module
from stackops.status.collect import collect
from stackops.status.render import render, to_json
from tests.unit.test_certs import make_cert

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SECTIONS = {"environment", "cluster", "services", "alarms", "certificate", "renewer", "database", "state"}
SERVICE_KEYS = {"name", "revision", "task_definition", "image", "running", "desired", "pending", "deployments",
                "events", "target_groups", "alarms"}  # fmt: skip


@pytest.fixture
def env() -> environments.Environment:
    """`local`, but on the default credential chain (moto's mock), as CI without profiles would be."""
    local = environments.load("local")
    variables = {k: v for k, v in local.variables.items() if k not in ("profile", "master_profile")}
    backend = {k: v for k, v in local.backend.items() if k != "profile"}
    return environments.Environment(local.name, local.root, variables, backend)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def state_document(serial: int = 7) -> dict[str, Any]:
    services = {key: {"name": f"exii-local-{key}", "family": f"exii-local-{key}", "container": key}
                for key in ("concept", "django")}  # fmt: skip
    ecs = {"cluster": "exii-local", "services": services, "log_group": "/ecs/exii-local"}
    return {
        "version": 4,
        "serial": serial,
        "outputs": {"ecs": {"value": ecs, "type": "object"}},
        "resources": [{"mode": "managed", "type": "aws_db_instance", "name": "this",
                       "instances": [{"attributes": {"identifier": "exii-local"}}]}],
    }  # fmt: skip


def write_state(env: environments.Environment, state: dict[str, Any] | None) -> None:
    s3 = boto3.client("s3", region_name=env.region)
    s3.create_bucket(Bucket=env.state_bucket, CreateBucketConfiguration={"LocationConstraint": env.region})
    if state is not None:
        s3.put_object(Bucket=env.state_bucket, Key="env:/local/exii/terraform.tfstate", Body=json.dumps(state))


def build_stack(env: environments.Environment) -> None:
    """Two services behind target groups (one with a registered target), an alarm, the database."""
    region = env.region
    ec2, elbv2, ecs = (boto3.client(name, region_name=region) for name in ("ec2", "elbv2", "ecs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ecs.create_cluster(clusterName="exii-local")
    for key in ("concept", "django"):
        group = elbv2.create_target_group(Name=f"exii-local-{key}-tg", Protocol="HTTP", Port=80, VpcId=vpc,
                                          TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
        if key == "concept":
            elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.0.101.10", "Port": 80}])
        ecs.register_task_definition(
            family=f"exii-local-{key}",
            containerDefinitions=[{"name": key, "image": f"repo/{key}:pipeline-3", "memory": 512}],
        )
        ecs.create_service(cluster="exii-local", serviceName=f"exii-local-{key}", taskDefinition=f"exii-local-{key}",
                           desiredCount=1, loadBalancers=[{"targetGroupArn": group, "containerName": key,
                                                           "containerPort": 80}])  # fmt: skip
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    cloudwatch.put_metric_alarm(
        AlarmName="exii-local-django-5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="exii-local-django-5xx", StateValue="ALARM", StateReason="5xx above 5")
    cloudwatch.put_metric_alarm(  # left in INSUFFICIENT_DATA: not shown
        AlarmName="exii-local-concept-5xx", MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    rds = boto3.client("rds", region_name=region)
    rds.create_db_instance(DBInstanceIdentifier="exii-local", Engine="postgres", DBInstanceClass="db.t4g.micro",
                           AllocatedStorage=20, MasterUsername="exii", MasterUserPassword="not-a-secret-0",
                           BackupRetentionPeriod=1)  # fmt: skip


# -- collected from moto --------------------------------------------------------------------------
def test_collect_reads_every_section(aws: None, env: environments.Environment) -> None:
    write_state(env, state_document())
    build_stack(env)
    body, key = make_cert(sorted(env.hostnames), days=90)
    import_certificate(boto3.client("acm", region_name=env.region), body, "", key, tags_for(env, env.hostnames))
    logs = boto3.client("logs", region_name=env.region)
    logs.create_log_group(logGroupName="/aws/lambda/exii-local-cert-renewer")

    snapshot = collect(env)

    assert set(snapshot) == SECTIONS
    concept, django = snapshot["services"]["concept"], snapshot["services"]["django"]
    assert set(concept) == SERVICE_KEYS
    assert (concept["revision"], concept["image"]) == ("exii-local-concept:1", "repo/concept:pipeline-3")
    assert concept["desired"] == 1 and concept["deployments"][0]["status"] == "PRIMARY"
    (group,) = concept["target_groups"]
    assert group["name"] == "exii-local-concept-tg" and [t["id"] for t in group["targets"]] == ["10.0.101.10"]
    assert django["target_groups"][0]["targets"] == []
    assert [a["name"] for a in snapshot["alarms"]] == ["exii-local-django-5xx"]
    assert snapshot["alarms"][0]["service"] == "django" and django["alarms"] == ["exii-local-django-5xx"]
    assert concept["alarms"] == []
    cert = snapshot["certificate"]
    assert cert["found"] and cert["names"] == sorted(env.hostnames) and cert["days_left"] in (89, 90)
    assert cert["renewal_due"] is False
    assert snapshot["renewer"] == {"function": "exii-local-cert-renewer",
                                   "log_group": "/aws/lambda/exii-local-cert-renewer", "last_run": None}  # fmt: skip
    db = snapshot["database"]
    assert (db["status"], db["engine"], db["allocated_gib"], db["multi_az"]) == ("available", "postgres", 20, False)
    assert db["free_gib"] is None and db["used_gib"] is None  # moto has no FreeStorageSpace datapoints
    assert db["latest_snapshot"]["type"] == "automated"
    assert snapshot["state"]["serial"] == 7 and snapshot["state"]["last_written"]
    json.loads(to_json(snapshot))


def test_a_section_that_fails_is_unavailable_and_the_rest_is_shown(aws: None, env: environments.Environment) -> None:
    write_state(env, state_document())
    build_stack(env)  # no renewal log group, no certificate

    snapshot = collect(env)

    assert snapshot["renewer"]["unavailable"].startswith(
        "logs:DescribeLogStreams failed with ResourceNotFoundException"
    )
    assert snapshot["certificate"] == {"found": False, "names": sorted(env.hostnames)}
    assert snapshot["services"]["concept"]["revision"] == "exii-local-concept:1"
    text = plain(snapshot)
    assert re.search(
        r"last renewal run\W+unavailable: logs:DescribeLogStreams failed with ResourceNotFoundException", text
    )
    assert "none managed by stackops for api.exii.test, app.exii.test: run inv cert" in text


def test_alarms_that_cannot_be_read_are_unavailable(
    aws: None, env: environments.Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(env, state_document())
    build_stack(env)

    def refused(*_: Any) -> None:
        error = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
        raise ClientError(error, "DescribeAlarms")

    monkeypatch.setattr(collect_module, "alarms_in_alarm", refused)
    snapshot = collect(env)
    assert snapshot["alarms"]["unavailable"].startswith("DescribeAlarms failed with AccessDenied")
    assert snapshot["services"]["django"]["alarms"] is None  # unknown, not "none"
    assert re.search(r"unavailable: DescribeAlarms failed with AccessDenied", plain(snapshot))


def test_a_missing_service_is_unavailable_alone(aws: None, env: environments.Environment) -> None:
    write_state(env, state_document())
    build_stack(env)
    boto3.client("ecs", region_name=env.region).delete_service(cluster="exii-local", service="exii-local-django",
                                                               force=True)  # fmt: skip
    services = collect(env)["services"]
    missing = "service exii-local-django not found in cluster exii-local"
    assert services["django"] == {"name": "exii-local-django", "unavailable": missing}
    assert services["concept"]["image"] == "repo/concept:pipeline-3"


# -- nothing applied -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "state", [None, {"version": 4, "serial": 3, "outputs": {}, "resources": []}], ids=["no state", "destroyed"]
)
def test_an_environment_not_applied_names_the_fix(aws: None, env: environments.Environment, state: Any) -> None:
    write_state(env, state)
    with pytest.raises(OpsError, match=r"^local is not applied yet .*: run inv apply --env local$"):
        collect(env)


def test_no_state_bucket_says_run_bootstrap(aws: None, env: environments.Environment) -> None:
    with pytest.raises(OpsError, match=r"does not exist .*: run inv bootstrap --env local"):
        collect(env)


# -- rendering a snapshot -------------------------------------------------------------------------
SNAPSHOT: dict[str, Any] = {
    "environment": "dev",
    "cluster": "exii-dev",
    "services": {
        "concept": {
            "name": "exii-dev-concept", "revision": "exii-dev-concept:12",
            "task_definition": "arn:aws:ecs:eu-west-2:1:task-definition/exii-dev-concept:12",
            "image": "1.dkr.ecr.eu-west-2.amazonaws.com/exii-dev-concept:pipeline-41",
            "running": 2, "desired": 2, "pending": 0,
            "deployments": [
                {"id": "ecs-svc/1", "status": "PRIMARY", "rollout_state": "COMPLETED", "rollout_reason": "done",
                 "revision": "exii-dev-concept:12", "running": 2, "desired": 2, "pending": 0, "failed": 0,
                 "updated_at": "2026-12-01T11:00:00+00:00"},
            ],
            "events": [{"at": "2026-12-01T11:50:00+00:00",
                        "message": "(service exii-dev-concept) has reached a steady state."}],
            "target_groups": [{"name": "exii-dev-concept-1a", "arn": "arn:tg", "targets": [
                {"id": "10.0.1.5", "port": 3000, "state": "healthy", "reason": None, "description": None},
                {"id": "10.0.2.6", "port": 3000, "state": "unhealthy", "reason": "Target.ResponseCodeMismatch",
                 "description": "Health checks failed with these codes: [502]"}]}],
            "alarms": ["exii-dev-concept-unhealthy-hosts"],
        },
        "django": {"name": "exii-dev-django", "unavailable": "ecs:DescribeServices failed with AccessDeniedException"},
    },
    "alarms": [{"name": "exii-dev-concept-unhealthy-hosts", "reason": "1 unhealthy host", "service": "concept",
                "since": "2026-12-01T11:58:00+00:00", "dimensions": {}}],
    "certificate": {"found": True, "arn": "arn:aws:acm:eu-west-2:1:certificate/c",
                    "names": ["api.exii.example", "app.exii.example"],
                    "not_after": "2027-02-01T12:00:00+00:00", "days_left": 62, "renews_at": "2027-01-01T12:00:00+00:00",
                    "renewal_due": False},
    "renewer": {"unavailable": "logs:DescribeLogStreams failed with ResourceNotFoundException (no such group)"},
    "database": {"identifier": "exii-dev", "status": "available", "engine": "postgres", "engine_version": "17.2",
                 "instance_class": "db.t4g.micro", "allocated_gib": 20, "free_gib": 18.5, "used_gib": 1.5,
                 "multi_az": False,
                 "latest_snapshot": {"id": "rds:exii-dev-2026-12-01-03-10", "type": "automated", "status": "available",
                                     "created": "2026-12-01T03:10:00+00:00"}},
    "state": {"bucket": "exii-terraform-state-0", "key": "env:/dev/exii/terraform.tfstate",
              "last_written": "2026-12-01T10:00:00+00:00", "serial": 42},
}  # fmt: skip


def plain(snapshot: dict[str, Any]) -> str:
    buffer = io.StringIO()
    render(snapshot, Console(file=buffer, width=200, color_system=None, highlight=False), now=NOW)
    return buffer.getvalue()


def test_the_tables_hold_every_section() -> None:
    text = plain(SNAPSHOT)
    for title in ("Services", "Deployments", "Load balancer targets", "Recent service events", "Alarms in ALARM",
                  "Certificate", "Database"):  # fmt: skip
        assert title in text
    row = next(line for line in text.splitlines() if "exii-dev-concept:12" in line and "pipeline-41" in line)
    assert "2/2/0" in row and "COMPLETED" in row and "1 healthy, 1 unhealthy" in row
    assert "django: unavailable: ecs:DescribeServices failed with AccessDeniedException" in text
    assert "Target.ResponseCodeMismatch Health checks failed with these codes: [502]" in text
    assert "exii-dev-concept-unhealthy-hosts" in text and "1 unhealthy host" in text
    assert "2027-02-01 12:00 UTC (62 d from now)" in text and "2027-01-01 12:00 UTC (31 d from now)" in text
    assert re.search(r"last renewal run\W+unavailable: logs:DescribeLogStreams failed", text)
    assert "1.5 GiB used of 20 GiB allocated" in text and "postgres 17.2 (db.t4g.micro)" in text
    assert "rds:exii-dev-2026-12-01-03-10 (automated, available) 2026-12-01 03:10 UTC (8 h ago)" in text
    assert "state: last written 2026-12-01 10:00 UTC (2 h ago), serial 42" in text
    assert "\x1b[" not in text


def test_unknown_storage_and_no_snapshot_say_so() -> None:
    database = {**SNAPSHOT["database"], "free_gib": None, "used_gib": None, "latest_snapshot": None}
    text = plain({**SNAPSHOT, "database": database, "alarms": []})
    assert "unknown used of 20 GiB allocated" in text
    assert re.search(r"latest snapshot\W+none", text)
    assert "Alarms in ALARM" in text and "none" in text


def test_the_json_is_the_snapshot() -> None:
    document = json.loads(to_json(SNAPSHOT))
    assert document == SNAPSHOT
    assert to_json(SNAPSHOT) == to_json(json.loads(to_json(SNAPSHOT)))  # sorted keys: stable output
