"""`inv refresh`: move services to the latest ACTIVE revision of their family (or, with --force,
start a new deployment of the revision each one runs)."""

from __future__ import annotations

import boto3
from rich.markup import escape

from stackops.ecs.image_retention import retain_images
from stackops.ecs.layout import EcsLayout
from stackops.ecs.pending import pending, print_pending
from stackops.ecs.results import Outcome, RolloutResult
from stackops.ecs.rollouts import POLL_SECONDS, check_keep, describe_service, roll
from stackops.ecs.task_definitions import latest_arn, revision, revision_image, td_name
from stackops.errors import aws_errors, session_profiles
from stackops.ui import err


def refresh(
    session: boto3.Session,
    layout: EcsLayout,
    *,
    service: str | None = None,
    force: bool = False,
    timeout: float = 600,
    keep_revisions: int = 5,
    poll: float = POLL_SECONDS,
) -> list[RolloutResult]:
    """Move each service (or the named one) to the latest ACTIVE revision of its family and wait.

    With force, start a new deployment of the revision each service runs now (rotated secrets,
    a re-pulled tag), never a newer one. Services are handled one after another; a failed one
    does not stop the others (they are independent), and `raise_on_failure` turns any failure
    into the exit code.
    """
    check_keep(keep_revisions)
    refs = [layout.service(service)] if service else list(layout.services.values())
    ecs = session.client("ecs")
    profiles = session_profiles(session)
    if not force:  # what it will move to, before it moves
        with aws_errors("listing the revisions each service would move to", profiles=profiles):
            print_pending(
                [p for ref in refs for p in pending(ecs, ref, describe_service(ecs, layout, ref)["taskDefinition"])]
            )
    results = []
    for ref in refs:
        with aws_errors(f"refreshing {ref.key}", profiles=profiles):
            svc = describe_service(ecs, layout, ref)  # now: an earlier service's rollout took time
            current = svc["taskDefinition"]
            target = current if force else latest_arn(ecs, ref.family)
            if td_name(target) == td_name(current) and not force:
                image = revision_image(ecs, current, ref.container)
                rev = revision(current)
                results.append(RolloutResult(ref.key, rev, rev, image, image, Outcome.UNCHANGED, "latest revision"))
                err.print(f"{escape(ref.key)}: already on rev {rev}, the latest")
                continue
            results.append(
                roll(
                    ecs,
                    layout,
                    ref,
                    svc,
                    target=target,
                    force=force,
                    success=Outcome.FORCED if force else Outcome.UPDATED,
                    timeout=timeout,
                    poll=poll,
                    keep_revisions=keep_revisions,
                    cloudwatch=session.client("cloudwatch"),
                )
            )
    retain_images(session, layout)
    return results
