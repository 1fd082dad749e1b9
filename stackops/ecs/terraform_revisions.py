"""Task definition revisions that Terraform registers: what they start from, and rolling them out.

The pipelines own the images, Terraform everything else in a revision (settings, sizes, roles).
So before a plan, `running_images` reads the image each service runs now (Terraform's
`running_images` variable; a new revision keeps it), and after an apply that registered a new
revision for a service, `roll_out` moves the service onto it and judges the rollout exactly as
`inv refresh` does: what a console click on "update service" did in the original.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape

from stackops.ecs.image_retention import retain_images
from stackops.ecs.layout import EcsLayout
from stackops.ecs.pending import pending
from stackops.ecs.results import Outcome, RolloutResult, image_change, image_suffix
from stackops.ecs.rollouts import POLL_SECONDS, describe_service, retire_if_rolled_back, roll
from stackops.ecs.task_definitions import describe_td, find_container, revision, revision_image, td_name
from stackops.errors import OpsError, Refused
from stackops.ui import err

# Where the root module keeps each service's task definition and service (main.tf, module "service").
_ADDRESS = re.compile(r'^module\.service\["(?P<key>[^"]+)"\]\.aws_ecs_(?P<kind>task_definition|service)\.this$')
_READABLE = {
    "container_definitions": "container definitions",
    "task_role_arn": "task role",
    "execution_role_arn": "execution role",
}


def running_images(ecs: Any, layout: EcsLayout) -> dict[str, str]:
    """service key -> the image its container runs now; services that do not exist are left out."""
    refs = list(layout.services.values())
    images: dict[str, str] = {}
    for start in range(0, len(refs), 10):  # DescribeServices takes at most 10 services
        chunk = {ref.name: ref for ref in refs[start : start + 10]}
        described = ecs.describe_services(cluster=layout.cluster, services=list(chunk))
        for service in described.get("services", []):
            ref = chunk.get(service.get("serviceName", ""))
            if ref and service.get("status") == "ACTIVE" and service.get("taskDefinition"):
                image = revision_image(ecs, service["taskDefinition"], ref.container)
                if image:
                    images[ref.key] = image
    return images


@dataclasses.dataclass(frozen=True)
class NewRevision:
    """A service whose family the plan gives a new revision (and the service already exists)."""

    service: str
    reason: str


def new_revisions(resource_changes: Sequence[Mapping[str, Any]]) -> list[NewRevision]:
    """Services whose task definition the plan registers anew, with why; new services are left
    out (they are created on Terraform's revision)."""
    registered: dict[str, str] = {}
    created_services: set[str] = set()
    for change in resource_changes:
        match = _ADDRESS.match(change.get("address", ""))
        actions = change.get("change", {}).get("actions", [])
        if not match or "create" not in actions:
            continue
        if match["kind"] == "service":
            created_services.add(match["key"])
            continue
        paths = change.get("change", {}).get("replace_paths") or []
        fields = dict.fromkeys(_READABLE.get(str(p[0]), str(p[0]).replace("_", " ")) for p in paths if p)
        # No replace_paths: replaced on request (-replace, a taint) or missing from the state.
        why = str(change.get("action_reason") or "registered anew").lower().replace("_", " ")
        registered[match["key"]] = f"{', '.join(fields)} changed" if fields else why
    return [NewRevision(key, why) for key, why in sorted(registered.items()) if key not in created_services]


def refuse_to_shadow_unreleased(ecs: Any, layout: EcsLayout, changes: Sequence[NewRevision]) -> None:
    """Refuse (before anything changes) when a service that gets a Terraform revision has newer
    revisions it does not run yet: Terraform's would become the family's latest, with the image
    that runs now, and `inv refresh` would never pick the pipeline's release."""
    blocked = []
    for change in changes:
        ref = layout.service(change.service)
        for row in pending(ecs, ref, describe_service(ecs, layout, ref)["taskDefinition"]):
            blocked.append(
                f"{row.service}: rev {row.revision} ({row.registered_by}, {image_suffix(row.image)}) is newer than"
                f" the running rev {row.running}"
            )
    if blocked:
        raise Refused(
            "; ".join(blocked) + f". The apply would register a newer revision with the running image over it:"
            f" release it first (inv refresh --env {layout.env}), or deregister it; nothing was applied"
        )


def roll_out(
    session: Any,
    layout: EcsLayout,
    changes: Sequence[NewRevision],
    images_before: Mapping[str, str],
    *,
    timeout: float,
    keep_revisions: int = 5,
    poll: float = POLL_SECONDS,
) -> list[RolloutResult]:
    """Move each changed service onto the revision Terraform's state now tracks, and wait."""
    ecs = session.client("ecs")
    results = []
    for change in changes:
        ref = layout.service(change.service)
        target = layout.terraform_revisions.get(ref.family)
        if not target:
            raise OpsError(f"no task definition of {ref.family} in the state of {layout.env} after the apply")
        try:
            svc = describe_service(ecs, layout, ref)
            image = find_container(describe_td(ecs, target)[0], ref.container).get("image")
            before = images_before.get(change.service)
            kept = f"image kept {image_suffix(image)}" if image == before else f"image {image_change(before, image)}"
            detail = f"{change.reason}; {kept}"
            current = svc["taskDefinition"]
            err.print(f"{escape(ref.key)}: rev {revision(current)} -> {revision(target)} ({escape(detail)})")
            if td_name(current) == td_name(target):  # somebody rolled it out in the meantime
                rev = revision(target)
                results.append(RolloutResult(ref.key, rev, rev, image, image, Outcome.UNCHANGED, detail))
                continue
            result = roll(
                ecs, layout, ref, svc, target=target, force=False, success=Outcome.UPDATED,
                timeout=timeout, poll=poll, keep_revisions=keep_revisions, cloudwatch=session.client("cloudwatch"),
            )  # fmt: skip
            # The state keeps the failed revision's ARN; the next plan compares with the latest
            # ACTIVE one again and proposes the change anew.
            result = retire_if_rolled_back(ecs, result, target)
        except (ClientError, BotoCoreError) as exc:  # the others are independent: go on with them
            results.append(RolloutResult(ref.key, None, revision(target), None, None, Outcome.FAILED, str(exc)))
            continue
        # A failure keeps ECS's reason as its detail; a success says what changed.
        results.append(result if not result.ok else dataclasses.replace(result, detail=detail))
    retain_images(session, layout)
    return results
