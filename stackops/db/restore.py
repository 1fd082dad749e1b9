"""`inv db.restore`: a snapshot restored into a NEW instance beside the running one, never over it.

The new instance gets the running instance's subnet group, security group (so the services can
reach it), parameter group, class, storage type, IAM authentication and log exports; its
encryption is the snapshot's (RDS restores an encrypted snapshot with the snapshot's KMS key).
It is not in Terraform's state: switching the services over is a change of settings, printed
at the end, and the instance is deleted by hand once it is no longer needed.

Real AWS: RestoreDBInstanceFromDBSnapshot needs rds:RestoreDBInstanceFromDBSnapshot on the new
db, the snapshot, the subnet group, the parameter and option groups, plus rds:AddTagsToResource
for its tags and ec2:Describe* for the network checks; a restore takes minutes to tens of
minutes. moto returns the instance `available` at once and checks no resource.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from rich.markup import escape

from stackops.db.instance import DatabaseRef
from stackops.db.waits import Reading, wait_available
from stackops.errors import OpsError
from stackops.ui import err, out

RESTORE_TIMEOUT = 3600.0
# DB instance states a restore does not leave by itself (RDS User Guide, "Viewing DB instance status").
FAILED_STATES = (
    "failed", "restore-error", "incompatible-restore", "incompatible-parameters", "incompatible-network",
    "inaccessible-encryption-credentials", "storage-full",
)  # fmt: skip
POLL_SECONDS = 15.0
# What RDS accepts as an instance identifier: a letter, then letters, digits and single hyphens, 1-63.
IDENTIFIER = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,62}(?<!-)$")


@dataclass(frozen=True)
class Restored:
    identifier: str
    snapshot: str
    endpoint: str | None
    status: str


def default_identifier(database: DatabaseRef, now: dt.datetime) -> str:
    return f"{database.identifier}-restored-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}"[:63].rstrip("-")


def find_snapshot(rds: Any, database: DatabaseRef, name: str) -> dict[str, Any]:
    """The snapshot, which must be of this environment's instance and available."""
    try:
        raw = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "DBSnapshotNotFound":
            raise
        raise OpsError(
            f"unknown snapshot {name!r} for env {database.env}: inv db.snapshots --env {database.env} lists them"
        ) from None
    if raw.get("DBInstanceIdentifier") != database.identifier:
        raise OpsError(
            f"snapshot {name} is of instance {raw.get('DBInstanceIdentifier')}, not of env {database.env}'s"
            f" {database.identifier}: nothing was restored"
        )
    if raw.get("Status") != "available":
        raise OpsError(f"snapshot {name} is {raw.get('Status')}, not available yet: nothing was restored")
    return dict(raw)


def restore_arguments(
    current: Mapping[str, Any], found: Mapping[str, Any], identifier: str, env: str
) -> dict[str, Any]:
    """RestoreDBInstanceFromDBSnapshot's arguments: the running instance's placement and settings
    (its parameter group only for a snapshot of the same major version: RDS refuses a group of
    another family, and then gives the engine's default)."""
    snapshot = str(found["DBSnapshotIdentifier"])
    groups = [g["VpcSecurityGroupId"] for g in current.get("VpcSecurityGroups") or [] if g.get("Status") != "removing"]
    parameter_groups = [g["DBParameterGroupName"] for g in current.get("DBParameterGroups") or []]
    arguments: dict[str, Any] = {
        "DBInstanceIdentifier": identifier,
        "DBSnapshotIdentifier": snapshot,
        "DBInstanceClass": current["DBInstanceClass"],
        "DBSubnetGroupName": current["DBSubnetGroup"]["DBSubnetGroupName"],
        "VpcSecurityGroupIds": groups,
        "MultiAZ": bool(current.get("MultiAZ")),
        "PubliclyAccessible": False,
        "AutoMinorVersionUpgrade": bool(current.get("AutoMinorVersionUpgrade", True)),
        "CopyTagsToSnapshot": True,
        "DeletionProtection": bool(current.get("DeletionProtection")),
        "EnableIAMDatabaseAuthentication": bool(current.get("IAMDatabaseAuthenticationEnabled")),
        "Tags": [
            {"Key": "managed-by", "Value": "stackops"},
            {"Key": "stackops:environment", "Value": env},
            {"Key": "stackops:restored-from", "Value": snapshot},
        ],
    }
    if parameter_groups and _major(found.get("EngineVersion")) == _major(current.get("EngineVersion")):
        arguments["DBParameterGroupName"] = parameter_groups[0]
    if current.get("StorageType"):
        arguments["StorageType"] = current["StorageType"]
    if current.get("EnabledCloudwatchLogsExports"):
        arguments["EnableCloudwatchLogsExports"] = list(current["EnabledCloudwatchLogsExports"])
    return arguments


def _major(version: object) -> str:
    return str(version or "").split(".", 1)[0]


def restore(
    rds: Any,
    database: DatabaseRef,
    snapshot: str,
    *,
    identifier: str | None = None,
    timeout: float = RESTORE_TIMEOUT,
    poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Restored:
    target = (identifier or default_identifier(database, dt.datetime.now(dt.UTC))).lower()
    if not IDENTIFIER.match(target):
        raise OpsError(
            f"--name {target!r} is not an RDS instance identifier (a letter, then letters, digits and single"
            " hyphens, at most 63)"
        )
    if target == database.identifier:
        raise OpsError(f"--name {target} is the running database: a restore never replaces it")
    if not target.startswith(f"{database.identifier}-"):
        # the operator policy (database.json) may restore only into db:<instance>-*
        raise OpsError(f"--name {target} must start with {database.identifier}- (the environment's instances)")
    found = find_snapshot(rds, database, snapshot)
    current = rds.describe_db_instances(DBInstanceIdentifier=database.identifier)["DBInstances"][0]
    err.print(f"restore: {escape(snapshot)} into a new instance {escape(target)} (beside {database.identifier})")
    try:
        rds.restore_db_instance_from_db_snapshot(**restore_arguments(current, found, target, database.env))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "DBInstanceAlreadyExists":
            raise OpsError(f"an instance {target} exists already: choose another --name") from None
        raise

    def read() -> Reading:
        instance = rds.describe_db_instances(DBInstanceIdentifier=target)["DBInstances"][0]
        status = str(instance.get("DBInstanceStatus") or "?")
        return status, status, dict(instance)

    instance = wait_available(
        f"the restored instance {target}", read, failed=FAILED_STATES,
        if_failed=f"it is left as it is and costs money: read its events (aws rds describe-events --source-identifier"
        f" {target} --source-type db-instance), then delete it (aws rds delete-db-instance --db-instance-identifier"
        f" {target} --skip-final-snapshot)",
        if_late=f"it goes on restoring: aws rds describe-db-instances --db-instance-identifier {target}",
        timeout=timeout, poll=poll, clock=clock, sleep=sleep,
    )  # fmt: skip
    endpoint = instance.get("Endpoint") or {}
    address = f"{endpoint['Address']}:{endpoint.get('Port', 5432)}" if endpoint.get("Address") else None
    return Restored(target, snapshot, address, str(instance.get("DBInstanceStatus")))


def print_switch_over(result: Restored, database: DatabaseRef) -> None:
    env = database.env
    out.print(f"restored {result.snapshot} into {result.identifier}: {result.status}, endpoint {result.endpoint}")
    host = (result.endpoint or "").rsplit(":", 1)[0]
    out.print(
        "The running database is untouched. To switch the backend (and its migrations) over, set in"
        f" environments/{env}/variables.tfvars\n"
        f'  extra_environment = {{ django = {{ DATABASE_HOST = "{host}" }} }}\n'
        f"then run inv apply --env {env}. The new instance is not in Terraform's state: when it is no longer"
        f" needed, delete it with\n  aws rds delete-db-instance --db-instance-identifier {result.identifier}"
        " --final-db-snapshot-identifier <name>\n"
        "(with deletion protection on, first aws rds modify-db-instance --no-deletion-protection).\n"
        "While the backend uses it, inv migrate refuses to snapshot the old instance (the output `database`"
        " names it); its master password is the one of the snapshot's time (db-password never rotates)."
    )
