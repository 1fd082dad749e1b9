"""`inv rollback`: put a service back on the revision recorded in its rollback tag."""

from __future__ import annotations

import dataclasses

import boto3

from stackops.ecs.layout import EcsLayout
from stackops.ecs.results import Outcome, RolloutResult
from stackops.ecs.rollouts import POLL_SECONDS, PREVIOUS_TAG, describe_service, roll, tag
from stackops.ecs.task_definitions import describe_td, latest_arn, revision, td_name
from stackops.errors import OpsError, aws_errors, session_profiles


def rollback(
    session: boto3.Session, layout: EcsLayout, service: str, *, timeout: float = 600, poll: float = POLL_SECONDS
) -> RolloutResult:
    """Point the service back at the revision it ran before the last refresh/deploy, and wait.

    The revision it leaves is recorded in turn, so a second rollback undoes the first.
    """
    ref = layout.service(service)
    ecs = session.client("ecs")
    with aws_errors(f"rolling back {ref.key}", profiles=session_profiles(session)):
        svc = describe_service(ecs, layout, ref, tags=True)
        previous = tag(svc, PREVIOUS_TAG)
        if not previous:
            raise OpsError(
                f"nothing to roll back to for {ref.key}: no previous revision recorded on service {ref.name}"
                " (inv refresh/deploy record it)"
            )
        if td_name(previous) == td_name(svc["taskDefinition"]):
            raise OpsError(f"{ref.key} already runs {td_name(previous)}, the recorded previous revision")
        td, _ = describe_td(ecs, previous)
        if td.get("status") != "ACTIVE":
            raise OpsError(f"cannot roll {ref.key} back: {td_name(previous)} has been deregistered")
        result = roll(
            ecs,
            layout,
            ref,
            svc,
            target=td["taskDefinitionArn"],
            force=False,
            success=Outcome.REVERTED,
            timeout=timeout,
            poll=poll,
            keep_revisions=None,
            cloudwatch=session.client("cloudwatch"),
        )
        latest = latest_arn(ecs, ref.family)
        if result.ok and td_name(latest) != td_name(previous):
            note = f"rev {revision(latest)} is still the latest of {ref.family}: inv refresh would deploy it again"
            result = dataclasses.replace(result, detail=note)
        return result
