"""Task definitions: the revisions of a family, the latest one, a copy with another image, pruning."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from rich.markup import escape

from stackops.errors import OpsError
from stackops.ui import err


def td_name(arn_or_name: str) -> str:
    """`family:revision` from a task definition ARN (or the name itself)."""
    return arn_or_name.rsplit("/", 1)[-1]


def revision(arn: str | None) -> int | None:
    if not arn:
        return None
    _, _, rev = td_name(arn).rpartition(":")
    return int(rev) if rev.isdigit() else None


def _active_revisions(ecs: Any, family: str) -> list[str]:
    """ARNs of the ACTIVE revisions of exactly `family`, newest first."""
    arns: list[str] = []
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
    for page in pages:
        # familyPrefix may match other families that start with the same text: keep ours only
        arns += [a for a in page["taskDefinitionArns"] if td_name(a).rpartition(":")[0] == family]
    return sorted(arns, key=lambda a: revision(a) or 0, reverse=True)


def latest_arn(ecs: Any, family: str) -> str:
    arns = _active_revisions(ecs, family)
    if not arns:
        raise OpsError(f"no ACTIVE task definition in family {family}: run inv apply, or register one")
    return arns[0]


def describe_td(ecs: Any, arn: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    response = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    return response["taskDefinition"], response.get("tags") or []


def find_container(td: Mapping[str, Any], name: str) -> dict[str, Any]:
    for container in td.get("containerDefinitions", []):
        if container.get("name") == name:
            return container
    names = ", ".join(c.get("name", "?") for c in td.get("containerDefinitions", []))
    raise OpsError(f"task definition {td_name(td['taskDefinitionArn'])} has no container {name!r} ({names})")


def revision_image(ecs: Any, arn: str | None, container: str) -> str | None:
    if not arn:
        return None
    td, _ = describe_td(ecs, arn)
    return find_container(td, container).get("image")


def register_copy(ecs: Any, td: Mapping[str, Any], tags: list[dict[str, str]], container: str, image: str) -> str:
    """Register a revision identical to `td` but for the image of one container; returns its ARN."""
    # Copy every field RegisterTaskDefinition accepts, as this botocore knows them, so a field
    # added to ECS later is carried over too; read-only fields (arn, revision, status...) drop out.
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    params = {k: copy.deepcopy(v) for k, v in td.items() if k in accepted and v not in (None, [], {})}
    find_container(params, container)["image"] = image
    user_tags = [t for t in tags if not t["key"].startswith("aws:")]  # aws: tags are reserved
    if user_tags:
        params["tags"] = user_tags
    return ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]


def prune(ecs: Any, family: str, keep: int, protected: set[str]) -> tuple[int, ...]:
    """Deregister ACTIVE revisions beyond the newest `keep`, sparing the protected ones."""
    doomed = [a for a in _active_revisions(ecs, family)[keep:] if td_name(a) not in protected]
    done: list[int] = []
    for arn in doomed:
        try:
            ecs.deregister_task_definition(taskDefinition=arn)
            done.append(revision(arn) or 0)
        except ClientError as exc:  # pruning is housekeeping: never fail a good deployment over it
            err.print(f"[yellow]could not deregister {escape(td_name(arn))}: {escape(str(exc))}[/]")
    if done:
        err.print(f"{escape(family)}: deregistered old revisions {', '.join(map(str, sorted(done)))}")
    return tuple(sorted(done))
