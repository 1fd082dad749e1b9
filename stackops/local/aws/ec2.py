"""Security group rules that reference another group keep their description.

moto 5.2.5's `SecurityGroupRule.description` reads the description of a CIDR range only; a rule
that references a security group keeps its description with the group pair, so
DescribeSecurityGroupRules answers none for it. AWS returns the rule's description either way, and
the provider (`aws_vpc_security_group_ingress_rule` with `referenced_security_group_id`) then
plans to set it again on every run. Targets moto/ec2/models/security_groups.py.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.ec2.models.security_groups import SecurityGroupRule

    if getattr(SecurityGroupRule.description.fget, "_stackops", False):
        return

    def description(self: Any) -> str | None:
        return self.ip_range.get("Description") or (self.source_group or {}).get("Description")

    description._stackops = True  # type: ignore[attr-defined]
    SecurityGroupRule.description = property(description)  # type: ignore[assignment,method-assign]
