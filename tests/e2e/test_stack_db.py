"""End to end on the applied `local` stack: the snapshots `inv migrate` leaves, their pruning,
`inv db.snapshots` and `inv db.restore` through the real command line.

(The snapshot a migration takes, also when it fails, is asserted in test_stack_ecs.py's migrate
tests.) moto marks snapshots and restored instances available at once; AWS takes minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stackops.db.snapshots import PURPOSE
from tests.conftest import run_inv
from tests.e2e.ecs_support import output_of

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

INSTANCE = "exii-local"
KEEP = 10  # the default of db_snapshot_keep, which local keeps
TOOL_TAGS = [
    {"Key": "managed-by", "Value": "stackops"},
    {"Key": "stackops:environment", "Value": "local"},
    {"Key": "stackops:purpose", "Value": PURPOSE},
]


def listed() -> list[dict]:
    result = run_inv("db.snapshots", "--env", "local", "--json")
    assert result.returncode == 0, output_of(result)
    return json.loads(result.stdout)


@pytest.fixture
def rds(local_stack) -> Iterator[object]:
    """The emulator's RDS; what a test snapshotted by hand is deleted afterwards."""
    client = local_stack.client("rds")
    before = {
        s["DBSnapshotIdentifier"] for s in client.describe_db_snapshots(DBInstanceIdentifier=INSTANCE)["DBSnapshots"]
    }
    yield client
    for snapshot in client.describe_db_snapshots(DBInstanceIdentifier=INSTANCE, SnapshotType="manual")["DBSnapshots"]:
        if snapshot["DBSnapshotIdentifier"] not in before and "premigrate" not in snapshot["DBSnapshotIdentifier"]:
            client.delete_db_snapshot(DBSnapshotIdentifier=snapshot["DBSnapshotIdentifier"])


def test_migrate_prunes_the_tools_snapshots_to_the_newest_n_and_never_others(rds):
    # Older migrations' snapshots (more than KEEP of them), a person's manual snapshot, the automated ones.
    for day in range(1, KEEP + 2):
        rds.create_db_snapshot(
            DBSnapshotIdentifier=f"{INSTANCE}-premigrate-r0-202601{day:02d}-000000",
            DBInstanceIdentifier=INSTANCE, Tags=TOOL_TAGS,
        )  # fmt: skip
    rds.create_db_snapshot(DBSnapshotIdentifier="before-the-upgrade-by-hand", DBInstanceIdentifier=INSTANCE)
    before = listed()
    own_before = sorted((s for s in before if s["kind"] == "stackops"), key=lambda s: s["created"], reverse=True)
    automated = {s["name"] for s in before if s["kind"] == "automated"}
    assert automated, before  # moto takes one when the instance is created, as AWS does with backups on

    result = run_inv("migrate", "--env", "local")
    assert result.returncode == 0, output_of(result)

    after = listed()
    own = [s for s in after if s["kind"] == "stackops"]
    new = [s for s in own if s["name"] not in {b["name"] for b in before}]
    assert len(new) == 1 and len(own) == KEEP
    assert {s["name"] for s in own} == {new[0]["name"], *(s["name"] for s in own_before[: KEEP - 1])}
    deleted = {s["name"] for s in own_before[KEEP - 1 :]}
    assert f"kept the newest {KEEP}; deleted" in result.stderr and all(name in result.stderr for name in deleted)
    names = {s["name"] for s in after}
    assert "before-the-upgrade-by-hand" in names and automated <= names


def test_restore_creates_a_second_instance_and_leaves_the_first_untouched(rds, local_stack):
    table = run_inv("db.snapshots", "--env", "local")
    assert table.returncode == 0, output_of(table)
    assert f"Snapshots of {INSTANCE}" in table.stdout and "stackops" in table.stdout
    rds.create_db_snapshot(DBSnapshotIdentifier="exii-local-premigrate-r0-20260301-000000",
                           DBInstanceIdentifier=INSTANCE, Tags=TOOL_TAGS)  # fmt: skip
    running = rds.describe_db_instances(DBInstanceIdentifier=INSTANCE)["DBInstances"][0]
    target = "exii-local-restored-e2e"
    try:
        result = run_inv("db.restore", "--env", "local", "--snapshot", "exii-local-premigrate-r0-20260301-000000",
                         "--name", target)  # fmt: skip
        assert result.returncode == 0, output_of(result)
        new = rds.describe_db_instances(DBInstanceIdentifier=target)["DBInstances"][0]
        assert f"endpoint {new['Endpoint']['Address']}:{new['Endpoint']['Port']}" in result.stdout
        assert f'DATABASE_HOST = "{new["Endpoint"]["Address"]}"' in result.stdout  # how to switch over
        assert new["DBSubnetGroup"]["DBSubnetGroupName"] == running["DBSubnetGroup"]["DBSubnetGroupName"]
        assert new["VpcSecurityGroups"] == running["VpcSecurityGroups"] and new["StorageEncrypted"]
        still = rds.describe_db_instances(DBInstanceIdentifier=INSTANCE)["DBInstances"][0]
        assert still["DBInstanceStatus"] == "available" and still["Endpoint"] == running["Endpoint"]
        assert (
            local_stack.outputs["database"]["endpoint"] == f"{still['Endpoint']['Address']}:{still['Endpoint']['Port']}"
        )
    finally:
        if any(i["DBInstanceIdentifier"] == target for i in rds.describe_db_instances()["DBInstances"]):
            rds.delete_db_instance(DBInstanceIdentifier=target, SkipFinalSnapshot=True)
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [INSTANCE]


def test_restore_of_an_unknown_snapshot_changes_nothing(rds):
    result = run_inv("db.restore", "--env", "local", "--snapshot", "no-such-snapshot")
    assert result.returncode == 1, output_of(result)
    assert "error: unknown snapshot 'no-such-snapshot' for env local: inv db.snapshots --env local" in result.stderr
    assert "Traceback" not in output_of(result)
    assert [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]] == [INSTANCE]
