"""Rollouts: move one service to a revision, record where it came from, wait until ECS says how it went.

The wait polls describe_services and reads ECS's own words (the rollout state, the circuit
breaker's reason, service events) instead of boto3's services_stable waiter.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from rich.markup import escape

from stackops.ecs.layout import EcsLayout, ServiceRef
from stackops.ecs.results import OK, Outcome, RolloutResult, arrow
from stackops.ecs.task_definitions import (
    describe_td,
    find_container,
    latest_arn,
    prune,
    register_copy,
    revision,
    revision_image,
    tag_value,
    td_name,
)
from stackops.errors import OpsError
from stackops.ui import err

PREVIOUS_TAG = "stackops:previous-task-definition"
# How often a rollout or a task is looked at: well inside ECS API rate limits, quick to notice.
POLL_SECONDS = 2.0
_EVENT_SKEW = timedelta(seconds=5)  # service events a little older than our call still belong to it


def describe_service(ecs: Any, layout: EcsLayout, ref: ServiceRef, *, tags: bool = False) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"cluster": layout.cluster, "services": [ref.name]}
    if tags:
        kwargs["include"] = ["TAGS"]
    response = ecs.describe_services(**kwargs)
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise OpsError(f"service {ref.name} not found in cluster {layout.cluster}: run inv apply --env {layout.env}")
    return services[0]


def tag(service: Mapping[str, Any], key: str) -> str | None:
    return tag_value(service.get("tags") or [], key)


def _kept(ecs: Any, layout: EcsLayout, family: str) -> tuple[set[str], int]:
    """Revisions of `family` that pruning must spare, and the newest one a service runs.

    Spared: what a service runs, is deploying, or would roll back to, and the revision Terraform's
    state tracks. (Revisions newer than the running one are spared by `prune` itself.)
    """
    keep = layout.tracked(family)
    running = 0
    for ref in layout.services.values():
        if ref.family != family:
            continue
        svc = describe_service(ecs, layout, ref, tags=True)
        names = [svc.get("taskDefinition"), tag(svc, PREVIOUS_TAG)]
        names += [d.get("taskDefinition") for d in svc.get("deployments", [])]
        keep |= {td_name(n) for n in names if n}
        running = max(running, revision(svc.get("taskDefinition")) or 0)
    return keep, running


def _follow_image(ecs: Any, layout: EcsLayout, ref: ServiceRef, image: str | None, keep: int | None) -> None:
    """The migration task and the jobs on a service's image run the image that service runs:
    register a copy of each when that changed."""
    if not image:
        return
    for follower in layout.followers:
        if follower.image_from not in (ref.key, ref.name):
            continue
        td, tags = describe_td(ecs, latest_arn(ecs, follower.family))
        if find_container(td, follower.container).get("image") == image:
            continue
        arn = register_copy(ecs, td, tags, follower.container, image, by=f"inv: {follower.label} follows {ref.key}")
        err.print(
            f"{escape(follower.label)}: registered {escape(td_name(arn))} with {escape(image)}"
            f" (the image {escape(ref.key)} runs)"
        )
        if keep:
            spared = {td_name(arn)} | layout.tracked(follower.family)
            prune(ecs, follower.family, keep, spared)


@dataclass(frozen=True)
class _Judgement:
    outcome: Outcome | None  # None: still in progress
    seen: str  # what the poll saw, for the progress line and a timeout message
    detail: str = ""


def _events(service: Mapping[str, Any], since: datetime, limit: int = 3) -> list[str]:
    """ECS's service events since our call, newest first."""
    recent = []
    for event in service.get("events") or []:
        created = event.get("createdAt")
        if isinstance(created, datetime) and created.tzinfo and created < since - _EVENT_SKEW:
            continue
        recent.append(str(event.get("message", "")).strip())
    return [m for m in recent if m][:limit]


def _judge(
    service: Mapping[str, Any], *, target: str, previous: str, deployment_id: str | None, since: datetime
) -> _Judgement:
    """Read one describe_services answer: done, failed, or still rolling out."""
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return _Judgement(None, "no PRIMARY deployment yet")
    ours = next((d for d in deployments if deployment_id and d.get("id") == deployment_id), None)
    is_ours = primary is ours if deployment_id else td_name(primary.get("taskDefinition", "")) == td_name(target)
    state = primary.get("rolloutState")
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    seen = f"rev {revision(primary.get('taskDefinition'))} {state or 'no rollout state'}, {running}/{desired} running"
    if primary.get("failedTasks"):
        seen += f", {primary['failedTasks']} failed tasks"

    def reason(*deps: Mapping[str, Any] | None) -> str:
        parts = [d["rolloutStateReason"] for d in deps if d and d.get("rolloutStateReason")]
        parts += _events(service, since)
        return "; ".join(dict.fromkeys(p.rstrip(".") for p in parts)) or "ECS gave no reason"

    if not is_ours and deployment_id is None:
        # update_service did not show a deployment of the target yet: wait for one to appear
        # (on AWS it always does; a timeout reports this line if it never comes)
        return _Judgement(None, f"no deployment of rev {revision(target)} yet; PRIMARY is {seen}")
    if not is_ours:
        # ECS made another deployment PRIMARY: the circuit breaker rolled ours back (to the
        # revision the service ran before), or somebody else deployed in the meantime.
        went_to = primary.get("taskDefinition", "")
        if td_name(went_to) == td_name(previous):
            return _Judgement(
                Outcome.ROLLED_BACK, seen, f"ECS rolled back to rev {revision(went_to)}: " + reason(ours, primary)
            )
        return _Judgement(Outcome.FAILED, seen, f"superseded by a deployment of {td_name(went_to)}: " + reason(ours))
    if state == "FAILED":  # circuit breaker without automatic rollback
        return _Judgement(Outcome.FAILED, seen, reason(primary))
    if running == desired and (state == "COMPLETED" or (state is None and len(deployments) == 1)):
        return _Judgement(Outcome.UPDATED, seen)
    return _Judgement(None, seen)


def _wait_rollout(
    ecs: Any,
    layout: EcsLayout,
    ref: ServiceRef,
    *,
    target: str,
    previous: str,
    deployment_id: str | None,
    since: datetime,
    timeout: float,
    poll: float,
) -> _Judgement:
    deadline = time.monotonic() + timeout
    last_seen = ""
    with spinner(f"{ref.key}: waiting for the deployment") as status:
        while True:
            judgement = _judge(
                describe_service(ecs, layout, ref),
                target=target,
                previous=previous,
                deployment_id=deployment_id,
                since=since,
            )
            if judgement.seen != last_seen:
                err.print(f"  {escape(ref.key)}: {escape(judgement.seen)}")
                last_seen = judgement.seen
            status.update(f"{escape(ref.key)}: {escape(judgement.seen)}")
            if judgement.outcome is not None:
                return judgement
            if time.monotonic() >= deadline:
                return _Judgement(
                    Outcome.TIMED_OUT, last_seen, f"not steady after {timeout:g}s; last seen: {last_seen}"
                )
            time.sleep(poll)


@contextmanager
def spinner(text: str) -> Iterator[Any]:
    with err.status(escape(text)) as status:
        yield status


def deployment_alarms(service: Mapping[str, Any]) -> list[str]:
    """The alarms ECS watches during the service's deployments (none unless they are on)."""
    alarms = (service.get("deploymentConfiguration") or {}).get("alarms") or {}
    return list(alarms.get("alarmNames") or []) if alarms.get("enable") else []


def alarms_named(cloudwatch: Any, service: Mapping[str, Any]) -> str:
    """Which deployment alarms are in ALARM, for the detail of a failed rollout ("" if none are on).

    ECS's own words (rolloutStateReason, the "deployment failed: alarm detected." event) do not
    name the alarm, so it is asked of CloudWatch; an alarm back to OK by now is not named.
    """
    names = deployment_alarms(service)
    if not names or cloudwatch is None:
        return ""
    try:
        found = cloudwatch.describe_alarms(AlarmNames=names[:100], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    except ClientError as exc:  # the rollout's result stands; say why the alarm is not named
        return f"deployment alarms {', '.join(names)} not read ({exc.response.get('Error', {}).get('Code')})"
    firing = [
        a["AlarmName"] for kind in ("MetricAlarms", "CompositeAlarms") for a in found.get(kind, [])
        if a.get("StateValue") == "ALARM"
    ]  # fmt: skip
    if firing:
        return "deployment alarm " + ", ".join(f"{name} in ALARM" for name in firing)
    return ""


def roll(
    ecs: Any,
    layout: EcsLayout,
    ref: ServiceRef,
    service: Mapping[str, Any],
    *,
    target: str,
    force: bool,
    success: Outcome,
    timeout: float,
    poll: float,
    keep_revisions: int | None,
    cloudwatch: Any = None,
) -> RolloutResult:
    """Move one service to `target` (or redeploy it), wait, prune; one result row.

    A rollout ECS failed or rolled back names the deployment alarms in ALARM (read with
    `cloudwatch`, when given): ECS rolls back on them as on its circuit breaker."""
    current = service["taskDefinition"]
    image_from = revision_image(ecs, current, ref.container)
    image_to = revision_image(ecs, target, ref.container) if td_name(target) != td_name(current) else image_from
    changing = td_name(target) != td_name(current)
    if changing:
        try:  # remember where we came from, in AWS, before changing anything
            ecs.tag_resource(resourceArn=service["serviceArn"], tags=[{"key": PREVIOUS_TAG, "value": current}])
        except ClientError as exc:
            raise OpsError(
                f"could not record the current revision of {ref.name} for rollback ({exc}): nothing changed"
            ) from None
    what = f"rev {arrow(revision(current), revision(target))}" if changing else f"redeploy rev {revision(current)}"
    err.print(f"{escape(ref.key)}: {what} ({escape(image_to or '?')})")
    since = datetime.now(UTC)
    kwargs: dict[str, Any] = {"cluster": layout.cluster, "service": ref.name, "taskDefinition": target}
    if force:
        kwargs["forceNewDeployment"] = True
    updated = ecs.update_service(**kwargs)["service"]
    primary = next((d for d in updated.get("deployments", []) if d.get("status") == "PRIMARY"), None)
    deployment_id = primary["id"] if primary and td_name(primary.get("taskDefinition", "")) == td_name(target) else None
    judgement = _wait_rollout(
        ecs,
        layout,
        ref,
        target=target,
        previous=current,
        deployment_id=deployment_id,
        since=since,
        timeout=timeout,
        poll=poll,
    )
    outcome = success if judgement.outcome is Outcome.UPDATED else judgement.outcome
    assert outcome is not None
    detail = judgement.detail
    if outcome in (Outcome.ROLLED_BACK, Outcome.FAILED):
        named = alarms_named(cloudwatch, describe_service(ecs, layout, ref))
        detail = f"{named}: {detail}" if named else detail
    pruned: tuple[int, ...] = ()
    if outcome in OK:
        if keep_revisions:
            spared, running = _kept(ecs, layout, ref.family)
            pruned = prune(ecs, ref.family, keep_revisions, spared, newer_than=running)
        _follow_image(ecs, layout, ref, image_to, keep_revisions)
    return RolloutResult(ref.key, revision(current), revision(target), image_from, image_to, outcome, detail, pruned)


def check_keep(keep_revisions: int) -> None:
    if keep_revisions < 1:
        raise OpsError(f"keep_revisions must be at least 1 (got {keep_revisions})")


def retire_if_rolled_back(ecs: Any, result: RolloutResult, target: str) -> RolloutResult:
    """ECS put the old revision back: deregister the one that failed, so the family's latest is
    again what runs and a later `inv refresh` does not retry it (a new apply or deploy may)."""
    if result.outcome is not Outcome.ROLLED_BACK:
        return result
    ecs.deregister_task_definition(taskDefinition=target)
    return dataclasses.replace(result, detail=f"{result.detail}; deregistered {td_name(target)}")
