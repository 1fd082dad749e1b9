"""Security group rules that reference another group keep their description.

AWS keeps a rule's description whatever its source: a permission that names a group
(UserIdGroupPair.Description in AuthorizeSecurityGroupIngress/Egress) answers it in
DescribeSecurityGroups (IpPermissions[].UserIdGroupPairs[].Description) and in
DescribeSecurityGroupRules (SecurityGroupRule.Description), and ModifySecurityGroupRules changes it
in both.

moto 5.2.5 (moto/ec2/models/security_groups.py) keeps the description with the group pair, but:
- `SecurityGroupRule.description` reads the description of a CIDR range only, so
  DescribeSecurityGroupRules (and the Authorize answer) has none for a group-referencing rule. The
  provider reads `aws_vpc_security_group_ingress_rule` (with `referenced_security_group_id`) that
  way, so every plan after an apply wanted to set the description again (the services' rules from
  their load balancer, the database's from each service);
- `SecurityGroupBackend.modify_security_group_rules` writes a new description beside an empty CIDR
  range instead of onto the pair, so DescribeSecurityGroups kept answering the old one after the
  provider updated a rule's description.

The fix reads the pair's description when the rule has no CIDR one, and moves a description that
ModifySecurityGroupRules gave a group-referencing rule onto its pair.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.ec2.models.security_groups import SecurityGroupBackend, SecurityGroupRule

    if not getattr(SecurityGroupRule.description.fget, "_stackops", False):

        def description(self: Any) -> str | None:
            return self.ip_range.get("Description") or (self.source_group or {}).get("Description")

        description._stackops = True  # type: ignore[attr-defined]
        SecurityGroupRule.description = property(description)  # type: ignore[assignment,method-assign]

    modify = SecurityGroupBackend.modify_security_group_rules
    if getattr(modify, "_stackops", False):
        return

    def modify_security_group_rules(self: Any, group_id: str, rules: dict[str, dict[str, Any]]) -> None:
        modify(self, group_id, rules)
        group = self.get_security_group_by_name_or_id(group_id)
        for rule_id in rules:
            rule = group.get_rule(rule_id)
            # moto left the new description as the only key of the CIDR range of a rule that has none.
            if rule is not None and rule.source_group and set(rule.ip_range) == {"Description"}:
                rule.source_group["Description"] = rule.ip_range.pop("Description")

    modify_security_group_rules._stackops = True  # type: ignore[attr-defined]
    SecurityGroupBackend.modify_security_group_rules = modify_security_group_rules  # type: ignore[method-assign]
