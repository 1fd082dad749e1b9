"""`inv migrate`: snapshot the database, then run the migrate family's latest revision once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import boto3

from stackops.db.instance import DatabaseRef
from stackops.db.snapshots import take_before_migration
from stackops.ecs.layout import EcsLayout
from stackops.ecs.one_off import run_migration
from stackops.ecs.results import MigrationResult
from stackops.ecs.rollouts import POLL_SECONDS
from stackops.ecs.task_definitions import latest_arn, revision_image
from stackops.errors import OpsError, aws_errors, session_profiles


def migrate(
    session: boto3.Session,
    layout: EcsLayout,
    *,
    database: DatabaseRef | None,
    command: Sequence[str] | str | None = None,
    timeout: float = 600,
    poll: float = POLL_SECONDS,
) -> MigrationResult:
    """Snapshot `database` (None: no snapshot), then run the migrate family's latest revision once,
    wait for it to stop, show its logs. `ok` only when every essential container exited 0."""
    if layout.migrate is None:
        raise OpsError(f"no migrate task in the Terraform output ecs for env {layout.env}")
    ecs = session.client("ecs")
    profiles = session_profiles(session)
    with aws_errors("running the migration task", profiles=profiles):
        arn = latest_arn(ecs, layout.migrate.family)
        image = revision_image(ecs, arn, layout.migrate.container)
    snapshot = None
    if database is not None:
        with aws_errors("snapshotting the database before migrating", profiles=profiles):
            snapshot = take_before_migration(session.client("rds"), database, arn, image).name
    try:
        with aws_errors("running the migration task", profiles=profiles):
            result = run_migration(session, ecs, layout, arn, command, timeout, poll)
    except OpsError as exc:  # it did not start, or did not stop in time: the snapshot is still there
        raise OpsError(f"{exc}{restore_hint(snapshot, layout.env)}") from None
    return dataclasses.replace(result, snapshot=snapshot)


def restore_hint(snapshot: str | None, env: str) -> str:
    """What to say of the snapshot taken before a migration that did not succeed."""
    if not snapshot:
        return ""
    return (
        f"; the database as it was before is snapshot {snapshot}"
        f" (inv db.restore --env {env} --snapshot {snapshot} restores it beside the running one)"
    )


def failure_message(result: MigrationResult, env: str) -> str:
    """What `inv migrate` and `inv deploy --migrate` say when the migration failed."""
    return f"migration failed: {result.detail}{restore_hint(result.snapshot, env)}"
