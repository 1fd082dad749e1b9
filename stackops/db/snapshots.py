"""Manual RDS snapshots: one before every migration, the listing (`inv db.snapshots`), and pruning.

The tool's own snapshots are known by their tags (`managed-by=stackops`, `stackops:environment`,
`stackops:purpose=pre-migrate`), never by their names: pruning keeps the newest `snapshot_keep`
of those and never touches an automated snapshot or a manual one somebody else took.

Real AWS: a snapshot is `creating` for minutes (PercentProgress climbs), and CreateDBSnapshot with
Tags needs rds:AddTagsToResource besides rds:CreateDBSnapshot; when tags are given the instance's
own tags are not copied onto it (copy_tags_to_snapshot applies only without them). moto marks a
snapshot `available` at once and checks neither permission's resource.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich.markup import escape

from stackops.confirm import confirm
from stackops.db import waits
from stackops.db.instance import DatabaseRef
from stackops.db.waits import Reading
from stackops.environments import Environment
from stackops.errors import aws_error_message, is_aws_error
from stackops.status.render import when
from stackops.ui import Table, err, out

PURPOSE = "pre-migrate"
SNAPSHOT_TIMEOUT = 3600.0  # an hour: a large database's first snapshot copies every block
POLL_SECONDS = 10.0
FAILED_STATES = ("failed", "incompatible-restore", "incompatible-parameters")


@dataclass(frozen=True)
class Snapshot:
    name: str
    kind: str  # "stackops" (taken before a migration), "manual" (somebody else's) or "automated"
    status: str
    created: str | None  # ISO time; None while RDS has not stamped it yet
    size_gib: int | None  # the instance's allocated storage when it was taken
    progress: int | None  # PercentProgress
    revision: str | None  # the migration task definition it was taken before (tool's only)
    image: str | None


def allow_skipping(env: Environment, typed: str | None) -> None:
    """`--no-snapshot`: taken at its word outside prod; in prod only with the name typed
    (`--confirm prod` or at the prompt), else Refused (exit 2) before anything runs."""
    if env.is_production:
        confirm(
            env,
            "migrating without a snapshot",
            typed=typed,
            name_needed_because="--no-snapshot changes the schema with no snapshot to go back to",
        )


def snapshot_name(identifier: str, revision: str, now: dt.datetime) -> str:
    """`exii-prod-premigrate-r12-20261202-010355`: the instance (so the environment), the migration
    task definition's revision, the UTC time. RDS accepts letters, digits and single hyphens,
    starting with a letter, up to 255 characters, and stores the name in lower case."""
    number = revision.rsplit(":", 1)[-1]
    number = number if number.isdigit() else re.sub(r"[^a-z0-9]+", "-", number.lower()).strip("-") or "x"
    return f"{identifier}-premigrate-r{number}-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}".lower()


def tool_tags(database: DatabaseRef, revision: str, image: str | None) -> list[dict[str, str]]:
    tags = {
        "managed-by": "stackops",
        "stackops:environment": database.env,
        "stackops:purpose": PURPOSE,
        "stackops:task-definition": revision,
    }
    if image:
        tags["stackops:image"] = image[:256]  # RDS's limit for a tag value
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _tags(raw: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in raw.get("TagList") or []}


def is_own(raw: Mapping[str, Any], env: str) -> bool:
    """Taken by the tool before a migration: its tags and its name (the operator policy may delete
    only `<instance>-premigrate-*`, so a copy with the tags under another name is not ours)."""
    tags = _tags(raw)
    return (
        raw.get("SnapshotType") == "manual"
        and f"{raw.get('DBInstanceIdentifier')}-premigrate-" in str(raw.get("DBSnapshotIdentifier"))
        and tags.get("managed-by") == "stackops"
        and tags.get("stackops:environment") == env
        and tags.get("stackops:purpose") == PURPOSE
    )


def from_api(raw: Mapping[str, Any], env: str) -> Snapshot:
    tags = _tags(raw)
    own = is_own(raw, env)
    created = raw.get("SnapshotCreateTime")
    return Snapshot(
        name=raw["DBSnapshotIdentifier"],
        kind="stackops" if own else str(raw.get("SnapshotType") or "manual"),
        status=str(raw.get("Status") or "?"),
        created=created.astimezone(dt.UTC).isoformat() if isinstance(created, dt.datetime) else None,
        size_gib=raw.get("AllocatedStorage"),
        progress=raw.get("PercentProgress"),
        revision=tags.get("stackops:task-definition") if own else None,
        image=tags.get("stackops:image") if own else None,
    )


def list_snapshots(rds: Any, database: DatabaseRef) -> list[Snapshot]:
    """Every automated and manual snapshot of the instance (DescribeDBSnapshots' default types),
    newest first; ones still creating (no time yet) come first."""
    found: list[Snapshot] = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=database.identifier):
        found += [from_api(raw, database.env) for raw in page.get("DBSnapshots") or []]
    return sorted(found, key=lambda s: s.created or "9999", reverse=True)


def wait_available(rds: Any, name: str, *, timeout: float = SNAPSHOT_TIMEOUT, poll: float = POLL_SECONDS,
                   **clock: Any) -> dict[str, Any]:  # fmt: skip
    """Poll DescribeDBSnapshots until the snapshot is available, showing its progress."""

    def read() -> Reading:
        raw = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
        status = str(raw.get("Status") or "?")
        progress = raw.get("PercentProgress")
        return status, status + (f" {progress}%" if progress is not None else ""), dict(raw)

    return waits.wait_available(
        f"snapshot {name}", read, failed=FAILED_STATES, if_failed="nothing was migrated",
        if_late="nothing was migrated (it goes on in RDS: inv db.snapshots shows it; a new run takes a new"
        " snapshot; --no-snapshot skips it, in prod with --confirm prod)",
        timeout=timeout, poll=poll, **clock,
    )  # fmt: skip


def prune(rds: Any, database: DatabaseRef, snapshots: Sequence[Snapshot] | None = None) -> list[str]:
    """Delete the tool's snapshots beyond the newest `snapshot_keep` (available ones only: one
    still creating belongs to a run in progress); returns the names deleted."""
    snapshots = list_snapshots(rds, database) if snapshots is None else snapshots
    own = [s for s in snapshots if s.kind == "stackops" and s.status == "available" and s.created]
    own.sort(key=lambda s: dt.datetime.fromisoformat(s.created or ""), reverse=True)
    deleted = []
    for old in own[database.snapshot_keep :]:
        try:  # each on its own: one that cannot go must not keep the others
            rds.delete_db_snapshot(DBSnapshotIdentifier=old.name)
        except Exception as exc:
            if not is_aws_error(exc):
                raise
            err.print(
                f"[yellow]warning: snapshot {escape(old.name)} was not pruned: {escape(aws_error_message(exc))}[/]"
            )
        else:
            deleted.append(old.name)
    return deleted


def take_before_migration(
    rds: Any,
    database: DatabaseRef,
    revision: str,
    image: str | None,
    *,
    now: dt.datetime | None = None,
    timeout: float = SNAPSHOT_TIMEOUT,
    poll: float = POLL_SECONDS,
) -> Snapshot:
    """Snapshot the database, wait until it is available, prune the tool's older ones."""
    database.check_in_use()
    name = snapshot_name(database.identifier, revision, now or dt.datetime.now(dt.UTC))
    # RDS refuses a snapshot while the instance is not available (InvalidDBInstanceState: during its
    # automated backup, a modification, a reboot): wait for it first.
    waits.wait_available(
        f"database {database.identifier}", lambda: _instance_status(rds, database.identifier),
        failed=("failed", "storage-full", "incompatible-parameters", "inaccessible-encryption-credentials"),
        if_failed="nothing was migrated", if_late="nothing was migrated", timeout=timeout, poll=poll,
    )  # fmt: skip
    err.print(f"snapshot: taking {escape(name)} of {escape(database.identifier)} before migrating")
    rds.create_db_snapshot(
        DBSnapshotIdentifier=name,
        DBInstanceIdentifier=database.identifier,
        Tags=tool_tags(database, revision, image),
    )
    raw = wait_available(rds, name, timeout=timeout, poll=poll)
    try:
        deleted = prune(rds, database)
    except Exception as exc:  # the snapshot exists; a failed prune must not stop the migration
        if not is_aws_error(exc):
            raise
        err.print(f"[yellow]warning: the older snapshots were not pruned: {escape(aws_error_message(exc))}[/]")
    else:
        if deleted:
            err.print(f"snapshot: kept the newest {database.snapshot_keep}; deleted {escape(', '.join(deleted))}")
    return from_api(raw, database.env)


def _instance_status(rds: Any, identifier: str) -> Reading:
    instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    status = str(instance.get("DBInstanceStatus") or "?")
    return status, status, dict(instance)


def print_snapshots(snapshots: Sequence[Snapshot], database: DatabaseRef) -> None:
    now = dt.datetime.now(dt.UTC)
    table = Table(title=f"Snapshots of {database.identifier}", title_justify="left")
    for column in ("Snapshot", "Kind", "Created", "Size", "Status", "Taken before"):
        table.add_column(column)
    for s in snapshots:
        status = s.status + (f" {s.progress}%" if s.progress is not None and s.status != "available" else "")
        table.add_row(
            escape(s.name),
            s.kind,
            when(s.created, now, never="-"),
            f"{s.size_gib} GiB" if s.size_gib is not None else "-",
            escape(status),
            escape(s.revision.rsplit("/", 1)[-1] if s.revision else "-"),
        )
    out.print(table)
    own = sum(1 for s in snapshots if s.kind == "stackops")
    out.print(f"{own} taken by the tool before migrations (the newest {database.snapshot_keep} are kept)")


def as_json(snapshots: Sequence[Snapshot]) -> list[dict[str, Any]]:
    return [asdict(s) for s in snapshots]
