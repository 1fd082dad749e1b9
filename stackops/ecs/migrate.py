"""`inv migrate`: run the migrate family's latest revision once."""

from __future__ import annotations

from collections.abc import Sequence

import boto3

from stackops.ecs.layout import EcsLayout
from stackops.ecs.one_off import run_migration
from stackops.ecs.results import MigrationResult
from stackops.ecs.rollouts import POLL_SECONDS
from stackops.ecs.task_definitions import latest_arn
from stackops.errors import OpsError, aws_errors, session_profiles


def migrate(
    session: boto3.Session,
    layout: EcsLayout,
    *,
    command: Sequence[str] | str | None = None,
    timeout: float = 600,
    poll: float = POLL_SECONDS,
) -> MigrationResult:
    """Run the migrate family's latest revision once, wait for it to stop, show its logs.

    `ok` only when every essential container exited 0.
    """
    if layout.migrate is None:
        raise OpsError(f"no migrate task in the Terraform output ecs for env {layout.env}")
    ecs = session.client("ecs")
    with aws_errors("running the migration task", profiles=session_profiles(session)):
        return run_migration(session, ecs, layout, latest_arn(ecs, layout.migrate.family), command, timeout, poll)
