"""Task definitions: the revisions of a family, the latest one, who registered one, a copy with
another image, pruning."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError
from rich.markup import escape

from stackops.errors import OpsError
from stackops.ui import err

# Tags on a revision: who registered it (Terraform, or the inv command), and the image Terraform
# gave it. Set by modules/service and the migrate task definition, and by register_copy.
REGISTERED_BY_TAG = "stackops:registered-by"
IMAGE_TAG = "stackops:image"
# What ECS accepts as a tag value (the API's Tag shape); moto accepts anything.
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")


def td_name(arn_or_name: str) -> str:
    """`family:revision` from a task definition ARN (or the name itself)."""
    return arn_or_name.rsplit("/", 1)[-1]


def revision(arn: str | None) -> int | None:
    if not arn:
        return None
    _, _, rev = td_name(arn).rpartition(":")
    return int(rev) if rev.isdigit() else None


def active_revisions(ecs: Any, family: str) -> list[str]:
    """ARNs of the ACTIVE revisions of exactly `family`, newest first."""
    arns: list[str] = []
    pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
    for page in pages:
        # familyPrefix may match other families that start with the same text: keep ours only
        arns += [a for a in page["taskDefinitionArns"] if td_name(a).rpartition(":")[0] == family]
    return sorted(arns, key=lambda a: revision(a) or 0, reverse=True)


def latest_arn(ecs: Any, family: str) -> str:
    arns = active_revisions(ecs, family)
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


def tag_value(tags: list[dict[str, str]], key: str) -> str | None:
    """The value of tag `key` in an ECS tag list ([{"key": ..., "value": ...}]), if it is there."""
    return next((t["value"] for t in tags if t.get("key") == key), None)


def registered_by(td: Mapping[str, Any], tags: list[dict[str, str]], container: str) -> str:
    """ "Terraform", the `inv` command that registered the revision, or "not Terraform (...)".

    Terraform and `inv` tag a revision with the image they gave it; a pipeline that copies a
    revision, tags included, with another image is therefore not taken for either.
    """
    by = tag_value(tags, REGISTERED_BY_TAG)
    if by and tag_value(tags, IMAGE_TAG) == find_container(td, container).get("image"):
        return "Terraform" if by == "terraform" else by
    principal = td.get("registeredBy")  # AWS names the principal; the embedded AWS does not
    return f"not Terraform ({principal})" if principal else "not Terraform"


def register_copy(
    ecs: Any, td: Mapping[str, Any], tags: list[dict[str, str]], container: str, image: str, *, by: str
) -> str:
    """Register a revision identical to `td` but for the image of one container; returns its ARN.

    `by` (the command) goes into its registered-by tag, so no copy passes for Terraform's."""
    # Copy every field RegisterTaskDefinition accepts, as this botocore knows them, so a field
    # added to ECS later is carried over too; read-only fields (arn, revision, status...) drop out.
    accepted = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    params = {k: copy.deepcopy(v) for k, v in td.items() if k in accepted and v not in (None, [], {})}
    find_container(params, container)["image"] = image
    ours = (REGISTERED_BY_TAG, IMAGE_TAG)
    # aws: tags are reserved; ours describe the revision they are on, not its copy
    kept = [t for t in tags if not t["key"].startswith("aws:") and t["key"] not in ours]
    marks = [{"key": REGISTERED_BY_TAG, "value": by}, {"key": IMAGE_TAG, "value": image}]
    # An image reference too long for a tag value is not recorded (the copy then reads "not Terraform").
    params["tags"] = [*kept, *(m for m in marks if _TAG_VALUE.match(m["value"]))]
    return ecs.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]


def prune(ecs: Any, family: str, keep: int, protected: set[str], *, newer_than: int | None = None) -> tuple[int, ...]:
    """Deregister ACTIVE revisions beyond the newest `keep`, sparing the protected ones and any
    revision newer than `newer_than` (registered, not released yet)."""
    doomed = [
        a
        for a in active_revisions(ecs, family)[keep:]
        if td_name(a) not in protected and (newer_than is None or (revision(a) or 0) <= newer_than)
    ]
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
