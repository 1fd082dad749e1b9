"""Tagging for Application Auto Scaling, which moto 5.2.5 does not implement.

The AWS provider reads a scalable target's tags right after creating it (default_tags make it
tag every resource); moto answers NotImplementedError with HTTP 500, which the provider retries
forever. Tags are kept in memory per resource ARN, like everything else in moto.
"""

from __future__ import annotations

import json

_TAGS: dict[str, dict[str, str]] = {}


def install() -> None:
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse as Response

    def list_tags_for_resource(self: Response) -> str:
        return json.dumps({"Tags": _TAGS.get(self._get_param("ResourceARN"), {})})

    def tag_resource(self: Response) -> str:
        _TAGS.setdefault(self._get_param("ResourceARN"), {}).update(self._get_param("Tags") or {})
        return "{}"

    def untag_resource(self: Response) -> str:
        tags = _TAGS.get(self._get_param("ResourceARN"), {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return "{}"

    register = Response.register_scalable_target

    def register_scalable_target(self: Response) -> str:
        # Tags given at registration are ignored by moto; keep them so the next read matches.
        body = register(self)
        arn = json.loads(body or "{}").get("ScalableTargetARN")
        if arn and self._get_param("Tags"):
            _TAGS.setdefault(arn, {}).update(self._get_param("Tags"))
        return body

    for handler in (list_tags_for_resource, tag_resource, untag_resource):
        if not hasattr(Response, handler.__name__):
            setattr(Response, handler.__name__, handler)
    if not getattr(Response.register_scalable_target, "_stackops", False):
        register_scalable_target._stackops = True  # type: ignore[attr-defined]
        Response.register_scalable_target = register_scalable_target  # type: ignore[method-assign]
