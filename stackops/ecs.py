"""ECS operations: roll services to a task definition revision, deploy an image, run the migration.

Everything goes through the ECS, CloudWatch Logs and nothing else, so the same code runs on AWS and
on the emulated AWS. boto3's waiters (services_stable, tasks_stopped) are not used: they time out
or fail without saying why, and the why (the circuit breaker's reason, a task's exit code or stop
reason) is what a person needs. The waits below poll describe_* themselves and report ECS's words.

Rollback memory lives in AWS, on the service itself: before a service is moved to another revision
its current one is written to the service tag `stackops:previous-task-definition`, so `inv rollback`
works from any machine and survives a crash half-way through a deployment.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import shlex
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape
from rich.table import Table

from stackops.errors import OpsError
from stackops.ui import err, out

PREVIOUS_TAG = "stackops:previous-task-definition"
# How often a rollout or a task is looked at: well inside ECS API rate limits, quick to notice.
POLL_SECONDS = 2.0
STARTED_BY = "stackops-migrate"
_EVENT_SKEW = timedelta(seconds=5)  # service events a little older than our call still belong to it


# -- layout: the Terraform output `ecs` ----------------------------------------------------------


@dataclass(frozen=True)
class ServiceRef:
    key: str  # the name users type: concept, django
    name: str  # the ECS service name
    family: str
    container: str


@dataclass(frozen=True)
class MigrateRef:
    family: str
    container: str
    network_from: str  # key (or ECS name) of the service whose network configuration the task uses


@dataclass(frozen=True)
class EcsLayout:
    """What Terraform created, as read from its `ecs` output."""

    env: str
    cluster: str
    services: dict[str, ServiceRef]
    migrate: MigrateRef | None = None
    log_group: str | None = None

    @classmethod
    def from_output(cls, output: Mapping[str, Any] | None, *, env: str | None = None) -> EcsLayout:
        """Build from `terraform output -json` (whole, or just the `ecs` value) of env `env`."""
        env = env or "ENV"
        ecs = _unwrap(output.get("ecs")) if output and "ecs" in output else _unwrap(output)
        if not isinstance(ecs, Mapping) or not ecs.get("cluster"):
            raise OpsError(f"no ECS cluster in Terraform outputs for env {env}: run inv apply --env {env} first")

        def need(mapping: Any, key: str, where: str) -> str:
            value = mapping.get(key) if isinstance(mapping, Mapping) else None
            if not isinstance(value, str) or not value:
                raise OpsError(f"Terraform output ecs.{where}{key} is missing for env {env}: run inv apply --env {env}")
            return value

        raw_services = ecs.get("services") or {}
        if not isinstance(raw_services, Mapping) or not raw_services:
            raise OpsError(f"Terraform output ecs.services is empty for env {env}: run inv apply --env {env}")
        services = {
            key: ServiceRef(
                key=key,
                name=need(raw, "name", f"services.{key}."),
                family=need(raw, "family", f"services.{key}."),
                container=need(raw, "container", f"services.{key}."),
            )
            for key, raw in raw_services.items()
        }
        raw_migrate = ecs.get("migrate")
        migrate = None
        if raw_migrate:
            migrate = MigrateRef(
                family=need(raw_migrate, "family", "migrate."),
                container=need(raw_migrate, "container", "migrate."),
                network_from=need(raw_migrate, "network_from", "migrate."),
            )
        return cls(env, str(ecs["cluster"]), services, migrate, ecs.get("log_group") or None)

    def service(self, name: str) -> ServiceRef:
        """A service by its key (concept) or its ECS name; OpsError listing the known ones."""
        if name in self.services:
            return self.services[name]
        for ref in self.services.values():
            if ref.name == name:
                return ref
        known = ", ".join(sorted(self.services))
        raise OpsError(f"unknown service {name!r} in env {self.env}: known services are {known}")


def _unwrap(value: Any) -> Any:
    # `terraform output -json` wraps each output as {"value": ..., "type": ..., "sensitive": ...}
    if isinstance(value, Mapping) and "value" in value and ("type" in value or "sensitive" in value):
        return value["value"]
    return value


# -- results ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FORCED = "forced"
    REVERTED = "reverted"  # `inv rollback` put the recorded revision back
    ROLLED_BACK = "rolled back"  # ECS's circuit breaker undid our deployment: a failure
    FAILED = "failed"
    TIMED_OUT = "timed out"


_OK = frozenset({Outcome.UPDATED, Outcome.UNCHANGED, Outcome.FORCED, Outcome.REVERTED})


@dataclass(frozen=True)
class RolloutResult:
    service: str
    revision_from: int | None
    revision_to: int | None
    image_from: str | None
    image_to: str | None
    outcome: Outcome
    detail: str = ""
    deregistered: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in _OK


@dataclass(frozen=True)
class MigrationResult:
    task_arn: str
    task_definition: str
    ok: bool
    detail: str
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    stop_code: str | None = None
    stopped_reason: str | None = None
    log_lines: tuple[str, ...] = ()


def print_results(results: Sequence[RolloutResult]) -> None:
    """The end-of-command table, on stdout."""
    table = Table(title="ECS services", title_justify="left")
    for column in ("Service", "Revision", "Image", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        style = "green" if r.ok else "red"
        detail = r.detail
        if r.deregistered:
            pruned = "deregistered old revisions " + ", ".join(map(str, r.deregistered))
            detail = f"{detail}; {pruned}" if detail else pruned
        table.add_row(
            escape(r.service),
            _arrow(r.revision_from, r.revision_to),
            escape(_image_change(r.image_from, r.image_to)),
            f"[{style}]{r.outcome}[/]",
            escape(detail),
        )
    out.print(table)


def raise_on_failure(results: Sequence[RolloutResult]) -> None:
    """OpsError naming every service that did not end up healthy (the task layer exits 1)."""
    failed = [r for r in results if not r.ok]
    if failed:
        raise OpsError("; ".join(f"{r.service}: {r.outcome}: {r.detail}" for r in failed))


def _arrow(before: object, after: object) -> str:
    if before == after:
        return "" if before is None else str(before)
    return f"{'-' if before is None else before} -> {'-' if after is None else after}"


def _image_change(before: str | None, after: str | None) -> str:
    """`repo:v1 -> :v2` when only the tag or digest changed."""
    old = _REFERENCE.match(before or "")
    new = _REFERENCE.match(after or "")
    if old and new and before != after and old["name"] == new["name"]:
        return f"{before} -> {new.string[len(new['name']) :]}"
    return _arrow(before, after)


# -- image references ------------------------------------------------------------------------

# The grammar of github.com/distribution/reference, which Docker and ECS accept.
_ALNUM = r"[a-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_TAG_ONLY = re.compile(rf"^:?(?P<tag>{_TAG})(?:@(?P<digest>{_DIGEST}))?$")
_DIGEST_ONLY = re.compile(rf"^@(?P<digest>{_DIGEST})$")


@dataclass(frozen=True)
class ImageSpec:
    """What `--image` asked for: a full reference, or a tag/digest for the current repository."""

    repository: str | None  # None: keep the repository the container runs now
    tag: str | None
    digest: str | None

    def apply_to(self, current_image: str) -> str:
        repository = self.repository or image_repository(current_image)
        suffix = (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
        return repository + suffix


def parse_image(spec: str) -> ImageSpec:
    """`repo[:tag][@digest]`, or just a tag (`:v2`, `v2`) or digest (`@sha256:...`).

    A word without `/`, `:` or `@` is a tag: service images here always live in a registry path,
    so `v2` means "tag v2 of the current repository", never the Docker Hub image `v2`.
    """
    text = spec.strip()
    if match := _DIGEST_ONLY.match(text):
        return ImageSpec(None, None, match["digest"])
    if text.startswith(":") or not any(ch in text for ch in "/:@"):
        if match := _TAG_ONLY.match(text):
            return ImageSpec(None, match["tag"], match["digest"])
    elif (match := _REFERENCE.match(text)) and len(match["name"]) <= 255:
        return ImageSpec(match["name"], match["tag"], match["digest"])
    raise OpsError(
        f"{spec!r} is not an image reference or tag: use REPOSITORY[:TAG|@sha256:DIGEST] or just a tag (v2, :v2)"
    )


def image_repository(image: str) -> str:
    """The repository part of an image reference (without tag and digest)."""
    match = _REFERENCE.match(image)
    if not match:
        raise OpsError(f"the current image {image!r} is not a valid reference: give a full --image")
    return match["name"]


# -- task definitions ------------------------------------------------------------------------


def _td_name(arn_or_name: str) -> str:
    """`family:revision` from a task definition ARN (or the name itself)."""
    return arn_or_name.rsplit("/", 1)[-1]


def _revision(arn: str | None) -> int | None:
    if not arn:
        return None
    _, _, rev = _td_name(arn).rpartition(":")
    return int(rev) if rev.isdigit() else None


def _active_revisions(ecs: Any, family: str) -> list[str]:
    """ARNs of the ACTIVE revisions of exactly `family`, newest first."""
    arns: list[str] = []
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
    for page in pages:
        # familyPrefix may match other families that start with the same text: keep ours only
        arns += [a for a in page["taskDefinitionArns"] if _td_name(a).rpartition(":")[0] == family]
    return sorted(arns, key=lambda a: _revision(a) or 0, reverse=True)


def _latest(ecs: Any, family: str) -> str:
    arns = _active_revisions(ecs, family)
    if not arns:
        raise OpsError(f"no ACTIVE task definition in family {family}: run inv apply, or register one")
    return arns[0]


def _describe_td(ecs: Any, arn: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    response = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return response["taskDefinition"], response.get("tags") or []


def _container(td: Mapping[str, Any], name: str) -> dict[str, Any]:
    for container in td.get("containerDefinitions", []):
        if container.get("name") == name:
            return container
    names = ", ".join(c.get("name", "?") for c in td.get("containerDefinitions", []))
    raise OpsError(f"task definition {_td_name(td['taskDefinitionArn'])} has no container {name!r} ({names})")


def _image(ecs: Any, arn: str | None, container: str) -> str | None:
    if not arn:
        return None
    td, _ = _describe_td(ecs, arn)
    return _container(td, container).get("image")


def _register_copy(ecs: Any, td: Mapping[str, Any], tags: list[dict[str, str]], container: str, image: str) -> str:
    """Register a revision identical to `td` but for the image of one container; returns its ARN."""
    # Copy every field RegisterTaskDefinition accepts, as this botocore knows them, so a field
    # added to ECS later is carried over too; read-only fields (arn, revision, status...) drop out.
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    params = {k: copy.deepcopy(v) for k, v in td.items() if k in accepted and v not in (None, [], {})}
    _container(params, container)["image"] = image
    user_tags = [t for t in tags if not t["key"].startswith("aws:")]  # aws: tags are reserved
    if user_tags:
        params["tags"] = user_tags
    return ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]


# -- services --------------------------------------------------------------------------------


def _describe_service(ecs: Any, layout: EcsLayout, ref: ServiceRef, *, tags: bool = False) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"cluster": layout.cluster, "services": [ref.name]}
    if tags:
        kwargs["include"] = ["TAGS"]
    response = ecs.describe_services(**kwargs)
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        raise OpsError(f"service {ref.name} not found in cluster {layout.cluster}: run inv apply --env {layout.env}")
    return services[0]


def _tag(service: Mapping[str, Any], key: str) -> str | None:
    return next((t["value"] for t in service.get("tags") or [] if t.get("key") == key), None)


def _protected(ecs: Any, layout: EcsLayout, family: str) -> set[str]:
    """Revisions of `family` that a service runs, is deploying, or would roll back to."""
    keep: set[str] = set()
    for ref in layout.services.values():
        if ref.family != family:
            continue
        svc = _describe_service(ecs, layout, ref, tags=True)
        names = [svc.get("taskDefinition"), _tag(svc, PREVIOUS_TAG)]
        names += [d.get("taskDefinition") for d in svc.get("deployments", [])]
        keep |= {_td_name(n) for n in names if n}
    return keep


def _prune(ecs: Any, family: str, keep: int, protected: set[str]) -> tuple[int, ...]:
    """Deregister ACTIVE revisions beyond the newest `keep`, sparing the protected ones."""
    doomed = [a for a in _active_revisions(ecs, family)[keep:] if _td_name(a) not in protected]
    done: list[int] = []
    for arn in doomed:
        try:
            ecs.deregister_task_definition(taskDefinition=arn)
            done.append(_revision(arn) or 0)
        except ClientError as exc:  # pruning is housekeeping: never fail a good deployment over it
            err.print(f"[yellow]could not deregister {escape(_td_name(arn))}: {escape(str(exc))}[/]")
    if done:
        err.print(f"{escape(family)}: deregistered old revisions {', '.join(map(str, sorted(done)))}")
    return tuple(sorted(done))


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
    is_ours = primary is ours if deployment_id else _td_name(primary.get("taskDefinition", "")) == _td_name(target)
    state = primary.get("rolloutState")
    running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
    seen = f"rev {_revision(primary.get('taskDefinition'))} {state or 'no rollout state'}, {running}/{desired} running"
    if primary.get("failedTasks"):
        seen += f", {primary['failedTasks']} failed tasks"

    def reason(*deps: Mapping[str, Any] | None) -> str:
        parts = [d["rolloutStateReason"] for d in deps if d and d.get("rolloutStateReason")]
        parts += _events(service, since)
        return "; ".join(dict.fromkeys(p.rstrip(".") for p in parts)) or "ECS gave no reason"

    if not is_ours and deployment_id is None:
        # update_service did not show a deployment of the target yet: wait for one to appear
        # (on AWS it always does; a timeout reports this line if it never comes)
        return _Judgement(None, f"no deployment of rev {_revision(target)} yet; PRIMARY is {seen}")
    if not is_ours:
        # ECS made another deployment PRIMARY: the circuit breaker rolled ours back (to the
        # revision the service ran before), or somebody else deployed in the meantime.
        went_to = primary.get("taskDefinition", "")
        if _td_name(went_to) == _td_name(previous):
            return _Judgement(
                Outcome.ROLLED_BACK, seen, f"ECS rolled back to rev {_revision(went_to)}: " + reason(ours, primary)
            )
        return _Judgement(Outcome.FAILED, seen, f"superseded by a deployment of {_td_name(went_to)}: " + reason(ours))
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
    with _status(f"{ref.key}: waiting for the deployment") as status:
        while True:
            judgement = _judge(
                _describe_service(ecs, layout, ref),
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
def _status(text: str) -> Iterator[Any]:
    with err.status(escape(text)) as status:
        yield status


def _roll(
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
) -> RolloutResult:
    """Move one service to `target` (or redeploy it), wait, prune; one result row."""
    current = service["taskDefinition"]
    image_from = _image(ecs, current, ref.container)
    image_to = _image(ecs, target, ref.container) if _td_name(target) != _td_name(current) else image_from
    changing = _td_name(target) != _td_name(current)
    if changing:
        try:  # remember where we came from, in AWS, before changing anything
            ecs.tag_resource(resourceArn=service["serviceArn"], tags=[{"key": PREVIOUS_TAG, "value": current}])
        except ClientError as exc:
            raise OpsError(
                f"could not record the current revision of {ref.name} for rollback ({exc}): nothing changed"
            ) from None
    what = f"rev {_arrow(_revision(current), _revision(target))}" if changing else f"redeploy rev {_revision(current)}"
    err.print(f"{escape(ref.key)}: {what} ({escape(image_to or '?')})")
    since = datetime.now(UTC)
    kwargs: dict[str, Any] = {"cluster": layout.cluster, "service": ref.name, "taskDefinition": target}
    if force:
        kwargs["forceNewDeployment"] = True
    updated = ecs.update_service(**kwargs)["service"]
    primary = next((d for d in updated.get("deployments", []) if d.get("status") == "PRIMARY"), None)
    deployment_id = (
        primary["id"] if primary and _td_name(primary.get("taskDefinition", "")) == _td_name(target) else None
    )
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
    pruned: tuple[int, ...] = ()
    if outcome in _OK and keep_revisions:
        pruned = _prune(ecs, ref.family, keep_revisions, _protected(ecs, layout, ref.family))
    return RolloutResult(
        ref.key, _revision(current), _revision(target), image_from, image_to, outcome, judgement.detail, pruned
    )


def _check_keep(keep_revisions: int) -> None:
    if keep_revisions < 1:
        raise OpsError(f"keep_revisions must be at least 1 (got {keep_revisions})")


# -- operations ------------------------------------------------------------------------------


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

    With force, start a new deployment even when it already runs that revision. Services are
    handled one after another; a failed one does not stop the others (they are independent),
    and `raise_on_failure` turns any failure into the exit code.
    """
    _check_keep(keep_revisions)
    refs = [layout.service(service)] if service else list(layout.services.values())
    ecs = session.client("ecs")
    results = []
    for ref in refs:
        with _aws_errors(f"refresh {ref.key}"):
            svc = _describe_service(ecs, layout, ref)
            latest = _latest(ecs, ref.family)
            current = svc["taskDefinition"]
            if _td_name(latest) == _td_name(current) and not force:
                image = _image(ecs, current, ref.container)
                rev = _revision(current)
                results.append(RolloutResult(ref.key, rev, rev, image, image, Outcome.UNCHANGED, "latest revision"))
                err.print(f"{escape(ref.key)}: already on rev {rev}, the latest")
                continue
            success = Outcome.UPDATED if _td_name(latest) != _td_name(current) else Outcome.FORCED
            results.append(
                _roll(
                    ecs,
                    layout,
                    ref,
                    svc,
                    target=latest,
                    force=force,
                    success=success,
                    timeout=timeout,
                    poll=poll,
                    keep_revisions=keep_revisions,
                )
            )
    return results


def rollback(
    session: boto3.Session, layout: EcsLayout, service: str, *, timeout: float = 600, poll: float = POLL_SECONDS
) -> RolloutResult:
    """Point the service back at the revision it ran before the last refresh/deploy, and wait.

    The revision it leaves is recorded in turn, so a second rollback undoes the first.
    """
    ref = layout.service(service)
    ecs = session.client("ecs")
    with _aws_errors(f"rollback {ref.key}"):
        svc = _describe_service(ecs, layout, ref, tags=True)
        previous = _tag(svc, PREVIOUS_TAG)
        if not previous:
            raise OpsError(
                f"nothing to roll back to for {ref.key}: no previous revision recorded on service {ref.name}"
                " (inv refresh/deploy record it)"
            )
        if _td_name(previous) == _td_name(svc["taskDefinition"]):
            raise OpsError(f"{ref.key} already runs {_td_name(previous)}, the recorded previous revision")
        td, _ = _describe_td(ecs, previous)
        if td.get("status") != "ACTIVE":
            raise OpsError(f"cannot roll {ref.key} back: {_td_name(previous)} has been deregistered")
        result = _roll(
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
        )
        latest = _latest(ecs, ref.family)
        if result.ok and _td_name(latest) != _td_name(previous):
            note = f"rev {_revision(latest)} is still the latest of {ref.family}: inv refresh would deploy it again"
            result = dataclasses.replace(result, detail=note)
        return result


def deploy(
    session: boto3.Session,
    layout: EcsLayout,
    service: str,
    image: str,
    *,
    migrate: bool = False,
    command: Sequence[str] | str | None = None,
    timeout: float = 600,
    keep_revisions: int = 5,
    poll: float = POLL_SECONDS,
) -> RolloutResult:
    """Register a copy of the family's latest revision with a new image and roll the service to it.

    With migrate, the migrate family first gets a revision with the same image (it must run the
    same repository as the service) and runs once; if it fails, that revision is deregistered
    again and the service is not touched. If ECS rolls the deployment back, the new service
    revision is deregistered again too.
    """
    spec = parse_image(image)  # refuse nonsense before any call
    _check_keep(keep_revisions)
    ref = layout.service(service)
    if migrate and layout.migrate is None:
        raise OpsError(f"no migrate task in the Terraform output ecs for env {layout.env}")
    ecs = session.client("ecs")
    with _aws_errors(f"deploy {ref.key}"):
        svc = _describe_service(ecs, layout, ref)
        base_td, base_tags = _describe_td(ecs, _latest(ecs, ref.family))
        current_image = _container(base_td, ref.container)["image"]
        new_image = spec.apply_to(current_image)
        if migrate:
            assert layout.migrate is not None
            _migrate_with_image(
                session, ecs, layout, ref, current_image, new_image, command, timeout, poll, keep_revisions
            )
        target = _register_copy(ecs, base_td, base_tags, ref.container, new_image)
        err.print(f"{escape(ref.key)}: registered {escape(_td_name(target))} with {escape(new_image)}")
        result = _roll(
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
        )
        if result.outcome is Outcome.ROLLED_BACK:
            # ECS put the old revision back: retire the one we just made, so that the latest
            # revision is again what runs and a later `inv refresh` does not retry the bad image
            ecs.deregister_task_definition(taskDefinition=target)
            result = dataclasses.replace(result, detail=f"{result.detail}; deregistered {_td_name(target)}")
        return result


def _migrate_with_image(
    session: boto3.Session,
    ecs: Any,
    layout: EcsLayout,
    ref: ServiceRef,
    service_image: str,
    new_image: str,
    command: Sequence[str] | str | None,
    timeout: float,
    poll: float,
    keep_revisions: int,
) -> None:
    assert layout.migrate is not None
    m = layout.migrate
    m_td, m_tags = _describe_td(ecs, _latest(ecs, m.family))
    m_image = _container(m_td, m.container)["image"]
    if image_repository(m_image) != image_repository(service_image):
        raise OpsError(
            f"the migrate task runs {image_repository(m_image)}, not {ref.key}'s {image_repository(service_image)}:"
            f" deploy the service that runs the migrations with --migrate"
        )
    m_arn = _register_copy(ecs, m_td, m_tags, m.container, new_image)
    err.print(f"migrate: registered {escape(_td_name(m_arn))} with {escape(new_image)}")
    result = _run_migration(session, ecs, layout, m_arn, command, timeout, poll)
    if not result.ok:
        # keep "latest migrate revision" matching the image the services run
        ecs.deregister_task_definition(taskDefinition=m_arn)
        raise OpsError(
            f"migration failed ({result.detail}): {ref.key} left untouched on {service_image};"
            f" deregistered {_td_name(m_arn)} again"
        )
    _prune(ecs, m.family, keep_revisions, set())


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
    with _aws_errors("migrate"):
        return _run_migration(session, ecs, layout, _latest(ecs, layout.migrate.family), command, timeout, poll)


# -- one-off task ----------------------------------------------------------------------------


class _LogTail:
    """New lines of one CloudWatch Logs stream, read from where the last call stopped."""

    def __init__(self, logs: Any, group: str, stream: str) -> None:
        self.logs, self.group, self.stream = logs, group, stream
        self.token: str | None = None
        self.found = False

    def fetch(self) -> list[str]:
        lines: list[str] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self.token:
                kwargs["nextToken"] = self.token
            try:
                page = self.logs.get_log_events(**kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    return lines  # the stream appears when the container starts logging
                raise
            self.found = True
            lines += [e["message"].rstrip("\n") for e in page.get("events", [])]
            token = page.get("nextForwardToken")
            # the end of the stream answers with the token it was given
            if not page.get("events") or token == self.token:
                self.token = token or self.token
                return lines
            self.token = token


def _network_configuration(ecs: Any, layout: EcsLayout, network_from: str) -> dict[str, Any]:
    ref = layout.services.get(network_from) or ServiceRef(network_from, network_from, "", "")
    svc = _describe_service(ecs, layout, ref)
    vpc = (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not vpc or not vpc.get("subnets"):
        raise OpsError(f"service {ref.name} has no awsvpc network configuration to run the migration with")
    keep = ("subnets", "securityGroups", "assignPublicIp")
    return {"awsvpcConfiguration": {k: vpc[k] for k in keep if vpc.get(k)}}


def _run_migration(
    session: boto3.Session,
    ecs: Any,
    layout: EcsLayout,
    td_arn: str,
    command: Sequence[str] | str | None,
    timeout: float,
    poll: float,
) -> MigrationResult:
    assert layout.migrate is not None
    m = layout.migrate
    td, _ = _describe_td(ecs, td_arn)
    container = _container(td, m.container)
    run: dict[str, Any] = {
        "cluster": layout.cluster,
        "taskDefinition": td_arn,
        "launchType": "FARGATE",
        "count": 1,
        "startedBy": STARTED_BY,
        "networkConfiguration": _network_configuration(ecs, layout, m.network_from),
    }
    if command:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        run["overrides"] = {"containerOverrides": [{"name": m.container, "command": argv}]}
    response = ecs.run_task(**run)
    if response.get("failures") or not response.get("tasks"):
        why = "; ".join(
            f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip()
            for f in response.get("failures", [])
        )
        raise OpsError(f"ECS did not start the migration task {_td_name(td_arn)}: {why or 'no task returned'}")
    task_arn = response["tasks"][0]["taskArn"]
    task_id = task_arn.rsplit("/", 1)[-1]
    err.print(f"migrate: started task {escape(task_id)} ({escape(_td_name(td_arn))} {escape(container['image'])})")

    tail = _log_tail(session, container, task_id)
    lines: list[str] = []

    def drain() -> None:
        if tail:
            for line in tail.fetch():
                lines.append(line)
                err.print(f"  [dim]|[/] {escape(line)}", soft_wrap=True)

    deadline = time.monotonic() + timeout
    last = ""
    with _status("migrate: waiting for the task") as status:
        while True:
            described = ecs.describe_tasks(cluster=layout.cluster, tasks=[task_arn])
            if not described.get("tasks"):
                raise OpsError(f"migration task {task_id} vanished from cluster {layout.cluster}")
            task = described["tasks"][0]
            state = task.get("lastStatus", "?")
            if state != last:
                err.print(f"  migrate: {escape(state)}")
                last = state
            status.update(f"migrate: task {escape(task_id)} {escape(state)}")
            drain()
            if state == "STOPPED":
                break
            if time.monotonic() >= deadline:
                raise OpsError(
                    f"migration task {task_id} still {state} after {timeout:g}s (left running: watch it in"
                    f" the ECS console or stop it with aws ecs stop-task --cluster {layout.cluster} --task {task_id})"
                )
            time.sleep(poll)
    drain()
    if tail and not tail.found:
        err.print(f"  [yellow]no log stream {escape(tail.group)}:{escape(tail.stream)}[/]")
    return _judge_task(task, td, td_arn, lines)


def _log_tail(session: boto3.Session, container: Mapping[str, Any], task_id: str) -> _LogTail | None:
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        err.print(f"  [yellow]container {escape(container['name'])} does not log to CloudWatch: no logs to show[/]")
        return None
    prefix = options.get("awslogs-stream-prefix")
    # awslogs names Fargate streams prefix/container/task-id
    stream = f"{prefix}/{container['name']}/{task_id}" if prefix else task_id
    logs = session.client("logs", region_name=options.get("awslogs-region") or session.region_name)
    return _LogTail(logs, options["awslogs-group"], stream)


def _judge_task(task: Mapping[str, Any], td: Mapping[str, Any], td_arn: str, lines: list[str]) -> MigrationResult:
    essential = {c["name"] for c in td.get("containerDefinitions", []) if c.get("essential", True)}
    codes = {c.get("name", "?"): c.get("exitCode") for c in task.get("containers", [])}
    reasons = {c.get("name", "?"): c.get("reason") for c in task.get("containers", [])}
    stop_code = task.get("stopCode") or None
    stopped_reason = task.get("stoppedReason") or None
    failures = []
    for name in sorted(essential):
        code = codes.get(name)
        if code is None:
            why = reasons.get(name) or stopped_reason or stop_code or "no exit code"
            failures.append(f"container {name} never ran to completion: {why}")
        elif code != 0:
            failures.append(f"container {name} exited {code}" + (f" ({reasons[name]})" if reasons.get(name) else ""))
    if failures and stop_code and stop_code != "EssentialContainerExited":
        failures.append(f"stop code {stop_code}" + (f": {stopped_reason}" if stopped_reason else ""))
    ok = not failures
    detail = "all essential containers exited 0" if ok else "; ".join(failures)
    err.print(f"migrate: [{'green' if ok else 'red'}]{escape(detail)}[/]")
    return MigrationResult(
        task_arn=task["taskArn"],
        task_definition=td_arn,
        ok=ok,
        detail=detail,
        exit_codes=codes,
        stop_code=stop_code,
        stopped_reason=stopped_reason,
        log_lines=tuple(lines),
    )


@contextmanager
def _aws_errors(action: str) -> Iterator[None]:
    """An AWS error the operation did not expect becomes one clear line."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise OpsError(f"{action}: {error.get('Code', 'error')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise OpsError(f"{action}: {exc}") from None
