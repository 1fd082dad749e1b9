"""Images that kept revisions use stay in ECR: a keep tag that the lifecycle policy never expires.

modules/ecr's lifecycle policy expires all but the newest images of a repository. A revision kept
for `inv rollback` may name an older one, so after each rollout every image an ACTIVE revision of
the stack's families names carries the tag `stackops-keep-<digest>`: the policy's first rule
selects that prefix and (ECR: "an image that matches the tagging requirements of a higher priority
rule cannot be expired by a rule with a lower priority") the count rule can no longer expire it
(kept images still count among that rule's newest). A revision that names a tag protects the
image the tag points to now: moving a tag (`:latest`) moves the protection with it.
When no ACTIVE revision names an image any more, its keep tag goes; an image left with no other
tag first gets `stackops-retired-<digest>`, so it is not deleted (ECR deletes an image with its
last tag) but falls under the count rule again.

Tags are added the way the ECR guide retags an image: BatchGetImage for the manifest, PutImage
with the new tag. Only images in the session's own registry and region are handled.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape

from stackops.ecs.layout import EcsLayout
from stackops.ecs.task_definitions import active_revisions, describe_td
from stackops.ui import err

KEEP_TAG_PREFIX = "stackops-keep-"  # modules/ecr/main.tf selects this prefix in rule 1
RETIRED_TAG_PREFIX = "stackops-retired-"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>[^@]+))?$"
)
_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]


@dataclass(frozen=True)
class EcrImage:
    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def image_id(self) -> dict[str, str]:
        return {"imageDigest": self.digest} if self.digest else {"imageTag": self.tag or "latest"}


def ecr_image(reference: str) -> EcrImage | None:
    """The parts of an ECR image reference; None for an image from another registry."""
    match = _ECR_IMAGE.match(reference)
    if not match:
        return None
    return EcrImage(match["account"], match["region"], match["repository"], match["tag"], match["digest"])


def keep_tag(digest: str) -> str:
    return KEEP_TAG_PREFIX + digest.split(":", 1)[-1]


def families(layout: EcsLayout) -> list[str]:
    return [ref.family for ref in layout.services.values()] + layout.one_off_families


def images_in_use(ecs: Any, layout: EcsLayout) -> set[str]:
    """Image references named by the ACTIVE revisions of the stack's families."""
    images: set[str] = set()
    for family in families(layout):
        for arn in active_revisions(ecs, family):
            td, _ = describe_td(ecs, arn)
            images |= {c["image"] for c in td.get("containerDefinitions", []) if c.get("image")}
    return images


def retain_images(session: Any, layout: EcsLayout) -> None:
    """Keep tags on exactly the images that ACTIVE revisions use. Housekeeping: never fails."""
    try:
        ecs = session.client("ecs")
        account = session.client("sts").get_caller_identity()["Account"]
        refs = [r for r in map(ecr_image, images_in_use(ecs, layout)) if r]
        mine = [r for r in refs if r.account == account and r.region == session.region_name]
        ecr = session.client("ecr")
        for repository in sorted({r.repository for r in mine}):
            try:
                _retain_in(ecr, repository, [r for r in mine if r.repository == repository])
            except ecr.exceptions.RepositoryNotFoundException:
                continue  # a revision names a repository that is gone: no image there to keep
    except (ClientError, BotoCoreError) as exc:
        err.print(f"[yellow]could not update the images' keep tags: {escape(str(exc))}[/]")


def _images(ecr: Any, repository: str, image_ids: list[dict[str, str]]) -> tuple[list[dict[str, Any]], bool]:
    """BatchGetImage in chunks of 100 (its limit): the images found, and whether every other one
    is known not to exist (ImageNotFound); any other failure leaves an image unknown."""
    found, complete = [], True
    for start in range(0, len(image_ids), 100):
        answer = ecr.batch_get_image(
            repositoryName=repository, imageIds=image_ids[start : start + 100], acceptedMediaTypes=_MEDIA_TYPES
        )
        found += answer.get("images", [])
        complete = complete and all(f.get("failureCode") == "ImageNotFound" for f in answer.get("failures", []))
    return found, complete


def _retain_in(ecr: Any, repository: str, used: Iterable[EcrImage]) -> None:
    # An image that is gone (or a tag that no longer exists) is a failure here, not an error.
    wanted, complete = _images(ecr, repository, [r.image_id for r in used])
    manifests = {i["imageId"]["imageDigest"]: i for i in wanted}
    tags_by_digest: dict[str, set[str]] = {}
    for page in ecr.get_paginator("list_images").paginate(repositoryName=repository, filter={"tagStatus": "TAGGED"}):
        for image_id in page["imageIds"]:
            tags_by_digest.setdefault(image_id["imageDigest"], set()).add(image_id["imageTag"])
    added = []
    for digest, image in manifests.items():
        if keep_tag(digest) not in tags_by_digest.get(digest, set()):
            _add_image_tag(ecr, repository, image, keep_tag(digest))
            added.append(digest)
    released = []
    # Without every in-use image looked up, a keep tag that is still needed could look stale.
    for digest, tags in tags_by_digest.items() if complete else ():
        stale = {t for t in tags if t.startswith(KEEP_TAG_PREFIX)} - (
            {keep_tag(digest)} if digest in manifests else set()
        )
        if not stale:
            continue
        if not tags - stale:  # the keep tag is its last one: give it another, or ECR deletes it
            images, _ = _images(ecr, repository, [{"imageDigest": digest}])
            if not images:
                continue
            _add_image_tag(ecr, repository, images[0], RETIRED_TAG_PREFIX + digest.split(":", 1)[-1])
        ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": t} for t in sorted(stale)])
        released.append(digest)
    if added or released:
        err.print(f"{escape(repository)}: {len(added)} image(s) newly kept for rollback, {len(released)} released")


def _add_image_tag(ecr: Any, repository: str, image: dict[str, Any], tag: str) -> None:
    kwargs = {"imageManifest": image["imageManifest"], "imageTag": tag, "imageDigest": image["imageId"]["imageDigest"]}
    if image.get("imageManifestMediaType"):
        kwargs["imageManifestMediaType"] = image["imageManifestMediaType"]
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):  # tagged meanwhile: as wanted
        ecr.put_image(repositoryName=repository, **kwargs)
