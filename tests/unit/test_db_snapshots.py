"""The database's snapshots and restores (stackops/db) against moto's in-process RDS.

moto (5.2.5) marks a snapshot and a restored instance `available` at once; the waits' progress
and timeouts are tested with a scripted client instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from stackops.db import restore as restoring
from stackops.db import snapshots
from stackops.db.instance import DatabaseRef
from stackops.errors import OpsError, Refused

REGION = "eu-west-2"
DATABASE = DatabaseRef("dev", "exii-dev", snapshot_keep=3)


@pytest.fixture
def rds(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        client = boto3.client("rds", region_name=REGION)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]
            for i, az in enumerate("ab")
        ]
        group = ec2.create_security_group(GroupName="exii-dev-db", Description="db", VpcId=vpc)["GroupId"]
        client.create_db_subnet_group(
            DBSubnetGroupName="exii-dev-db", DBSubnetGroupDescription="db",
            SubnetIds=[s["SubnetId"] for s in subnets],
        )  # fmt: skip
        client.create_db_parameter_group(
            DBParameterGroupName="exii-dev-pg16", DBParameterGroupFamily="postgres16", Description="pg"
        )
        client.create_db_instance(
            DBInstanceIdentifier="exii-dev", DBInstanceClass="db.t4g.small", Engine="postgres",
            MasterUsername="app_admin", MasterUserPassword="not-a-secret-1", AllocatedStorage=20,
            DBSubnetGroupName="exii-dev-db", VpcSecurityGroupIds=[group], DBParameterGroupName="exii-dev-pg16",
            StorageEncrypted=True, StorageType="gp3", DeletionProtection=True,
            EnableIAMDatabaseAuthentication=True, EnableCloudwatchLogsExports=["postgresql"],
        )  # fmt: skip
        client.group_id = group  # type: ignore[attr-defined]
        yield client


def take(rds: Any, revision: int, minute: int) -> snapshots.Snapshot:
    now = dt.datetime(2026, 12, 2, 1, minute, tzinfo=dt.UTC)
    arn = f"arn:aws:ecs:{REGION}:123456789012:task-definition/exii-dev-migrate:{revision}"
    return snapshots.take_before_migration(rds, DATABASE, arn, "repo/django:v1", now=now, poll=0)


def test_the_name_carries_the_instance_the_revision_and_the_utc_time() -> None:
    now = dt.datetime(2026, 12, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    name = snapshots.snapshot_name("exii-prod", "arn:aws:ecs:eu-west-2:1:task-definition/exii-prod-migrate:12", now)
    assert name == "exii-prod-premigrate-r12-20261202-010405"


def test_a_snapshot_is_taken_tagged_and_available(rds: Any) -> None:
    snapshot = take(rds, 7, 0)
    assert snapshot.kind == "stackops" and snapshot.status == "available"
    assert snapshot.revision and snapshot.revision.endswith("exii-dev-migrate:7")
    [raw] = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot.name)["DBSnapshots"]
    assert {t["Key"]: t["Value"] for t in raw["TagList"]} == {
        "managed-by": "stackops",
        "stackops:environment": "dev",
        "stackops:purpose": "pre-migrate",
        "stackops:task-definition": snapshot.revision,
        "stackops:image": "repo/django:v1",
    }


def test_prune_keeps_the_newest_n_of_its_own_and_never_others(rds: Any) -> None:
    rds.create_db_snapshot(DBSnapshotIdentifier="by-hand", DBInstanceIdentifier="exii-dev")
    rds.create_db_snapshot(  # the tool's tags, but another environment's: not ours to delete
        DBSnapshotIdentifier="other-env", DBInstanceIdentifier="exii-dev",
        Tags=[{"Key": "managed-by", "Value": "stackops"}, {"Key": "stackops:environment", "Value": "prod"},
              {"Key": "stackops:purpose", "Value": "pre-migrate"}],
    )  # fmt: skip
    taken = [take(rds, revision, minute) for revision, minute in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 5))]
    names = {s.name for s in snapshots.list_snapshots(rds, DATABASE)}
    own = {s.name for s in taken[-3:]}
    assert own <= names and not {s.name for s in taken[:2]} & names
    assert {"by-hand", "other-env"} <= names and any(name.startswith("rds:") for name in names)  # automated
    listed = snapshots.list_snapshots(rds, DATABASE)
    assert [s.kind for s in listed].count("stackops") == 3


def test_listing_tells_the_kinds_apart(rds: Any) -> None:
    take(rds, 1, 1)
    rds.create_db_snapshot(DBSnapshotIdentifier="by-hand", DBInstanceIdentifier="exii-dev")
    kinds = {s.name: s.kind for s in snapshots.list_snapshots(rds, DATABASE)}
    automated = [name for name in kinds if name.startswith("rds:exii-dev-")]  # moto takes one at creation
    assert kinds == {
        "exii-dev-premigrate-r1-20261202-010100": "stackops",
        "by-hand": "manual",
        automated[0]: "automated",
    }
    assert all(s.size_gib == 20 for s in snapshots.list_snapshots(rds, DATABASE))


class Scripted:
    """describe_db_snapshots answering the given states in turn (the waits' progress)."""

    def __init__(self, *states: tuple[str, int | None]) -> None:
        self.states = list(states)

    def describe_db_snapshots(self, **_: Any) -> dict[str, Any]:
        status, progress = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"DBSnapshots": [{"DBSnapshotIdentifier": "s", "Status": status, "PercentProgress": progress}]}


def test_the_wait_shows_progress_until_available(capsys: pytest.CaptureFixture[str]) -> None:
    scripted = Scripted(("creating", 0), ("creating", 40), ("available", 100))
    assert snapshots.wait_available(scripted, "s", poll=0)["Status"] == "available"
    err = capsys.readouterr().err
    assert "s creating 0%" in err and "s creating 40%" in err and "s available 100%" in err


def test_a_snapshot_that_never_becomes_available_stops_the_migration() -> None:
    ticks = iter(range(100))
    with pytest.raises(OpsError, match=r"snapshot s is still creating after 5s: nothing was migrated"):
        snapshots.wait_available(
            Scripted(("creating", 10)), "s", timeout=5, poll=0, clock=lambda: next(ticks),
            sleep=lambda _: None,
        )  # fmt: skip
    with pytest.raises(OpsError, match=r"snapshot s is failed: nothing was migrated"):
        snapshots.wait_available(Scripted(("failed", None)), "s", poll=0)


@dataclass
class Named:
    """What the confirmation reads of an environment."""

    name: str
    is_production: bool


def test_skipping_the_snapshot_in_prod_needs_the_name() -> None:
    prod: Any = Named("prod", True)
    with pytest.raises(Refused, match="--no-snapshot changes the schema"):
        snapshots.allow_skipping(prod, None)  # not a terminal: no prompt
    with pytest.raises(Refused, match="does not match"):
        snapshots.allow_skipping(prod, "dev")
    snapshots.allow_skipping(prod, "prod")
    snapshots.allow_skipping(Named("dev", False), None)  # type: ignore[arg-type]


# -- restore ---------------------------------------------------------------------------------------


def test_restore_creates_a_second_instance_with_the_running_ones_settings(rds: Any) -> None:
    snapshot = take(rds, 1, 1)
    result = restoring.restore(rds, DATABASE, snapshot.name, identifier="exii-dev-restored", poll=0)
    assert result.identifier == "exii-dev-restored" and result.status == "available" and result.endpoint
    instances = {i["DBInstanceIdentifier"]: i for i in rds.describe_db_instances()["DBInstances"]}
    assert set(instances) == {"exii-dev", "exii-dev-restored"}  # the running one untouched
    new = instances["exii-dev-restored"]
    assert new["DBSubnetGroup"]["DBSubnetGroupName"] == "exii-dev-db"
    assert [g["VpcSecurityGroupId"] for g in new["VpcSecurityGroups"]] == [rds.group_id]
    assert [g["DBParameterGroupName"] for g in new["DBParameterGroups"]] == ["exii-dev-pg16"]
    assert new["StorageEncrypted"] and new["DBInstanceClass"] == "db.t4g.small" and not new.get("PubliclyAccessible")
    assert {t["Key"]: t["Value"] for t in new["TagList"]}["stackops:restored-from"] == snapshot.name


def test_restore_refuses_unknown_foreign_and_bad_names(rds: Any) -> None:
    with pytest.raises(OpsError, match=r"unknown snapshot 'nope' for env dev: inv db.snapshots --env dev"):
        restoring.restore(rds, DATABASE, "nope", poll=0)
    snapshot = take(rds, 1, 1)
    other = DatabaseRef("prod", "exii-prod", snapshot_keep=3)
    with pytest.raises(OpsError, match=r"is of instance exii-dev, not of env prod's exii-prod"):
        restoring.restore(rds, other, snapshot.name, poll=0)
    with pytest.raises(OpsError, match="a restore never replaces it"):
        restoring.restore(rds, DATABASE, snapshot.name, identifier="exii-dev", poll=0)
    with pytest.raises(OpsError, match="is not an RDS instance identifier"):
        restoring.restore(rds, DATABASE, snapshot.name, identifier="9-bad--name", poll=0)
    assert len(rds.describe_db_instances()["DBInstances"]) == 1


def test_restore_arguments_copy_placement_not_public() -> None:
    current = {
        "DBInstanceClass": "db.m7g.large",
        "DBSubnetGroup": {"DBSubnetGroupName": "g"},
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-1", "Status": "active"}],
        "DBParameterGroups": [{"DBParameterGroupName": "p"}],
        "MultiAZ": True,
        "PubliclyAccessible": True,
        "DeletionProtection": True,
    }
    current["EngineVersion"] = "16.4"
    arguments = restoring.restore_arguments(
        current, {"DBSnapshotIdentifier": "snap", "EngineVersion": "16.3"}, "new", "prod"
    )
    assert arguments["PubliclyAccessible"] is False and arguments["MultiAZ"] is True
    assert arguments["DeletionProtection"] is True and arguments["VpcSecurityGroupIds"] == ["sg-1"]
    assert arguments["DBParameterGroupName"] == "p" and arguments["DBSnapshotIdentifier"] == "snap"
    # A snapshot from before a major upgrade: the group of the new major would be refused.
    older = restoring.restore_arguments(
        current, {"DBSnapshotIdentifier": "snap", "EngineVersion": "15.7"}, "new", "prod"
    )
    assert "DBParameterGroupName" not in older


def test_prune_goes_by_creation_time_and_one_refusal_does_not_stop_it() -> None:
    def own(name: str, created: str) -> snapshots.Snapshot:
        return snapshots.Snapshot(name, "stackops", "available", created, 20, 100, None, None)

    listed = [  # names out of time order: the times decide
        own("exii-dev-premigrate-r9-a", "2026-01-01T00:00:00+00:00"),
        own("exii-dev-premigrate-r1-b", "2026-03-01T00:00:00+00:00"),
        own("exii-dev-premigrate-r5-c", "2026-02-01T00:00:00+00:00"),
        own("exii-dev-premigrate-r7-d", "2025-12-01T00:00:00+00:00"),
        own("exii-dev-premigrate-r8-e", "2025-11-01T00:00:00+00:00"),
    ]

    class Deleting:
        def __init__(self) -> None:
            self.asked: list[str] = []

        def delete_db_snapshot(self, DBSnapshotIdentifier: str) -> None:
            self.asked.append(DBSnapshotIdentifier)
            if DBSnapshotIdentifier.endswith("-d"):
                error = {"Error": {"Code": "InvalidDBSnapshotState", "Message": "in use"}}
                raise botocore.exceptions.ClientError(error, "DeleteDBSnapshot")

    rds = Deleting()
    deleted = snapshots.prune(rds, DATABASE, listed)  # keep 3: b, c, a
    assert rds.asked == ["exii-dev-premigrate-r7-d", "exii-dev-premigrate-r8-e"]
    assert deleted == ["exii-dev-premigrate-r8-e"]  # d refused, e still pruned


def test_a_snapshot_with_the_tags_under_another_name_is_not_the_tools(rds: Any) -> None:
    rds.create_db_snapshot(DBSnapshotIdentifier="copy-of-one", DBInstanceIdentifier="exii-dev", Tags=[
        {"Key": "managed-by", "Value": "stackops"}, {"Key": "stackops:environment", "Value": "dev"},
        {"Key": "stackops:purpose", "Value": "pre-migrate"},
    ])  # fmt: skip
    kinds = {s.name: s.kind for s in snapshots.list_snapshots(rds, DATABASE)}
    assert kinds["copy-of-one"] == "manual"


def test_no_snapshot_of_an_instance_the_backend_no_longer_uses(rds: Any) -> None:
    outputs = {"database": {"identifier": "exii-dev", "address": "a.rds", "backend_host": "b.rds", "snapshot_keep": 3}}
    switched = DatabaseRef.from_outputs(outputs, env="dev")
    assert switched.switched_to == "b.rds"
    with pytest.raises(OpsError, match=r"uses DATABASE_HOST b.rds \(extra_environment\), not the instance exii-dev"):
        snapshots.take_before_migration(rds, switched, "arn:td/exii-dev-migrate:1", None, poll=0)
    assert not rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    outputs["database"]["backend_host"] = "a.rds"
    assert DatabaseRef.from_outputs(outputs, env="dev").switched_to is None


def test_restore_only_into_the_environments_names(rds: Any) -> None:
    snapshot = take(rds, 1, 1)
    with pytest.raises(OpsError, match="--name other-db must start with exii-dev-"):
        restoring.restore(rds, DATABASE, snapshot.name, identifier="other-db", poll=0)
