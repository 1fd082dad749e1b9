"""Image references: what `--image` asked for, and the repository part of a reference."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackops.errors import OpsError

# The grammar of github.com/distribution/reference, which Docker and ECS accept.
_ALNUM = r"[a-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?)"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
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
    elif (match := REFERENCE.match(text)) and len(match["name"]) <= 255:
        return ImageSpec(match["name"], match["tag"], match["digest"])
    raise OpsError(
        f"{spec!r} is not an image reference or tag: use REPOSITORY[:TAG|@sha256:DIGEST] or just a tag (v2, :v2)"
    )


def image_repository(image: str) -> str:
    """The repository part of an image reference (without tag and digest)."""
    match = REFERENCE.match(image)
    if not match:
        raise OpsError(f"the current image {image!r} is not a valid reference: give a full --image")
    return match["name"]
