"""Repeated security group rule calls, answered as the first one was.

Under load in CI, the AWS provider was seen sending AuthorizeSecurityGroupEgress twice for one
rule, about two seconds apart; the emulator had answered the first with 200, so the second got
InvalidPermission.Duplicate and the apply failed (the emulator's trace in moto.log shows the
pair). That pattern is an SDK retry of a call whose response it did not receive; the cause on the
transport side was not pinned down. Here a call that repeats, within a short window, a rule this
emulator just added returns that rule instead of the error. A duplicate of an older rule (a real
configuration mistake) still fails, as on AWS. Targets moto 5.2.5 (moto/ec2/models/security_groups.py).
"""

from __future__ import annotations

import sys
import time
from typing import Any

REPEAT_WINDOW_SECONDS = 30.0
_added_at: dict[str, float] = {}  # rule id -> when this emulator added it


def install() -> None:
    from moto.ec2.exceptions import InvalidPermissionDuplicateError
    from moto.ec2.models.security_groups import SecurityGroupBackend

    for direction in ("ingress", "egress"):
        name = f"authorize_security_group_{direction}"
        original = getattr(SecurityGroupBackend, name)
        if getattr(original, "_stackops", False):
            continue

        def authorize(self: Any, *args: Any, _original: Any = original, _direction: str = direction,
                      **kwargs: Any) -> Any:  # fmt: skip
            try:
                rules, group = _original(self, *args, **kwargs)
            except InvalidPermissionDuplicateError:
                repeated = _recent_rules(self, _direction, kwargs)
                if repeated is None:
                    raise
                print(f"stackops: repeated {_direction} rule call answered with {[r.id for r in repeated]}",
                      file=sys.stderr)  # fmt: skip
                return repeated, self.get_security_group_by_name_or_id(kwargs["group_name_or_id"], kwargs.get("vpc_id"))
            now = time.monotonic()
            for rule in rules:
                _added_at[rule.id] = now
            return rules, group

        authorize._stackops = True  # type: ignore[attr-defined]
        setattr(SecurityGroupBackend, name, authorize)


def _recent_rules(backend: Any, direction: str, kwargs: dict[str, Any]) -> list[Any] | None:
    """The existing rules a repeated call asks for, if every one was added within the window."""
    group = backend.get_security_group_by_name_or_id(kwargs["group_name_or_id"], kwargs.get("vpc_id"))
    existing = group.egress_rules if direction == "egress" else group.ingress_rules
    candidates = backend._iterate_security_rules(
        kwargs["ip_protocol"], group.group_id, kwargs["from_port"], kwargs["to_port"], kwargs["ip_ranges"],
        backend._add_source_group(kwargs.get("source_groups"), kwargs.get("vpc_id")),
        kwargs.get("prefix_list_ids") or [], is_egress=direction == "egress", tags=kwargs.get("sgrule_tags") or {},
    )  # fmt: skip
    found = []
    now = time.monotonic()
    for candidate in candidates:
        match = next((rule for rule in existing if rule == candidate), None)
        if match is None or now - _added_at.get(match.id, float("-inf")) > REPEAT_WINDOW_SECONDS:
            return None
        found.append(match)
    return found or None
