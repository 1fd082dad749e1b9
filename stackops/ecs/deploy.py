"""`inv deploy`: register a copy of the latest revision with a new image, optionally migrate, roll."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import boto3
from rich.markup import escape

from stackops.db.instance import DatabaseRef
from stackops.db.snapshots import take_before_migration
from stackops.ecs.image_retention import retain_images
from stackops.ecs.images import image_repository, parse_image
from stackops.ecs.layout import EcsLayout, ServiceRef
from stackops.ecs.migrate import restore_hint
from stackops.ecs.one_off import run_migration
from stackops.ecs.results import Outcome, RolloutResult
from stackops.ecs.rollouts import POLL_SECONDS, check_keep, describe_service, retire_if_rolled_back, roll
from stackops.ecs.task_definitions import describe_td, find_container, latest_arn, prune, register_copy, td_name
from stackops.errors import OpsError, aws_errors, session_profiles
from stackops.ui import err


def deploy(
    session: boto3.Session,
    layout: EcsLayout,
    service: str,
    image: str,
    *,
    migrate: bool = False,
    database: DatabaseRef | None = None,
    command: Sequence[str] | str | None = None,
    timeout: float = 600,
    keep_revisions: int = 5,
    poll: float = POLL_SECONDS,
) -> RolloutResult:
    """Register a copy of the family's latest revision with a new image and roll the service to it.

    With migrate, the migrate family first gets a revision with the same image (it must run the
    same repository as the service) and runs once, after a snapshot of `database` (None: no
    snapshot); if either fails, that revision is deregistered again and the service is not
    touched. If ECS rolls the deployment back, the new service revision is deregistered again too.
    """
    spec = parse_image(image)  # refuse nonsense before any call
    check_keep(keep_revisions)
    ref = layout.service(service)
    if migrate and layout.migrate is None:
        raise OpsError(f"no migrate task in the Terraform output ecs for env {layout.env}")
    ecs = session.client("ecs")
    with aws_errors(f"deploying {ref.key}", profiles=session_profiles(session)):
        svc = describe_service(ecs, layout, ref)
        base_td, base_tags = describe_td(ecs, latest_arn(ecs, ref.family))
        current_image = find_container(base_td, ref.container)["image"]
        new_image = spec.apply_to(current_image)
        snapshot = None
        if migrate:
            assert layout.migrate is not None
            snapshot = _migrate_with_image(
                session, ecs, layout, ref, current_image, new_image, database, command, timeout, poll, keep_revisions
            )
        target = register_copy(ecs, base_td, base_tags, ref.container, new_image, by="inv deploy")
        err.print(f"{escape(ref.key)}: registered {escape(td_name(target))} with {escape(new_image)}")
        result = roll(
            ecs,
            layout,
            ref,
            svc,
            target=target,
            force=False,
            success=Outcome.UPDATED,
            timeout=timeout,
            poll=poll,
            keep_revisions=keep_revisions,
            cloudwatch=session.client("cloudwatch"),
        )
        result = retire_if_rolled_back(ecs, result, target)
    retain_images(session, layout)
    if snapshot:
        migrated = f"migrated after snapshot {snapshot}"
        result = dataclasses.replace(result, detail=f"{result.detail}; {migrated}" if result.detail else migrated)
    return result


def _migrate_with_image(
    session: boto3.Session,
    ecs: Any,
    layout: EcsLayout,
    ref: ServiceRef,
    service_image: str,
    new_image: str,
    database: DatabaseRef | None,
    command: Sequence[str] | str | None,
    timeout: float,
    poll: float,
    keep_revisions: int,
) -> str | None:
    """Migrate with the new image; the snapshot's name (None without one)."""
    assert layout.migrate is not None
    m = layout.migrate
    m_td, m_tags = describe_td(ecs, latest_arn(ecs, m.family))
    m_image = find_container(m_td, m.container)["image"]
    if image_repository(m_image) != image_repository(service_image):
        raise OpsError(
            f"the migrate task runs {image_repository(m_image)}, not {ref.key}'s {image_repository(service_image)}:"
            f" deploy the service that runs the migrations with --migrate"
        )
    m_arn = register_copy(ecs, m_td, m_tags, m.container, new_image, by="inv deploy --migrate")
    err.print(f"migrate: registered {escape(td_name(m_arn))} with {escape(new_image)}")
    snapshot = None
    try:
        if database is not None:
            snapshot = take_before_migration(session.client("rds"), database, m_arn, new_image).name
        result = run_migration(session, ecs, layout, m_arn, command, timeout, poll)
    except BaseException as exc:
        ecs.deregister_task_definition(taskDefinition=m_arn)  # no success with it: the services keep theirs
        if isinstance(exc, OpsError) and snapshot:
            raise OpsError(f"{exc}{restore_hint(snapshot, layout.env)}") from None
        raise
    if not result.ok:
        # keep "latest migrate revision" matching the image the services run
        ecs.deregister_task_definition(taskDefinition=m_arn)
        raise OpsError(
            f"migration failed ({result.detail}): {ref.key} left untouched on {service_image};"
            f" deregistered {td_name(m_arn)} again{restore_hint(snapshot, layout.env)}"
        )
    prune(ecs, m.family, keep_revisions, layout.tracked(m.family))
    return snapshot
