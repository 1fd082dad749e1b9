"""Route53 hosted zones: which zone of the account answers for each name (see `choose_zone`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError


@dataclass(frozen=True)
class HostedZone:
    id: str  # without the /hostedzone/ prefix
    name: str  # lower case, no trailing dot
    private: bool = False


def _in_zone(domain: str, zone_name: str) -> bool:
    return domain == zone_name or domain.endswith("." + zone_name)


def list_zones(route53: Any) -> list[HostedZone]:
    """Every hosted zone of the account (public and private)."""
    zones = []
    for page in route53.get_paginator("list_hosted_zones").paginate():
        for zone in page["HostedZones"]:
            zones.append(
                HostedZone(
                    id=zone["Id"].rsplit("/", 1)[-1],
                    name=zone["Name"].rstrip(".").lower(),
                    private=bool(zone.get("Config", {}).get("PrivateZone")),
                )
            )
    return zones


def delegation_checker(route53: Any) -> Callable[[HostedZone, HostedZone], bool]:
    """`delegates(parent, child)`: does the parent zone hold NS records for the child's name?"""

    def delegates(parent: HostedZone, child: HostedZone) -> bool:
        page = route53.list_resource_record_sets(
            HostedZoneId=parent.id, StartRecordName=child.name + ".", StartRecordType="NS", MaxItems="1"
        )
        sets = page.get("ResourceRecordSets", [])
        return bool(sets) and sets[0]["Type"] == "NS" and sets[0]["Name"].rstrip(".").lower() == child.name

    return delegates


def choose_zone(
    domain: str,
    zones: Iterable[HostedZone],
    delegates: Callable[[HostedZone, HostedZone], bool] | None = None,
) -> HostedZone | None:
    """The public zone of the account that answers for `domain`, or None.

    The longest public zone whose name is a suffix of the domain, as public DNS reaches it: from
    the shortest such zone, descend into a longer one only when the current zone delegates it
    (NS records; `delegates`), so a longer zone that was never delegated is not used. Without
    `delegates`, simply the longest. Two public zones with the same name are refused.
    """
    name = domain.removeprefix("*.")
    candidates = sorted((z for z in zones if not z.private and _in_zone(name, z.name)), key=lambda z: len(z.name))
    if not candidates:
        return None
    seen: dict[str, HostedZone] = {}
    for zone in candidates:
        if zone.name in seen:
            raise OpsError(
                f"two public hosted zones are named {zone.name} ({seen[zone.name].id}, {zone.id}); "
                f"cannot tell which one answers for {domain}: delete the unused one"
            )
        seen[zone.name] = zone
    current = candidates[0]
    for zone in candidates[1:]:
        if delegates is None or delegates(current, zone):
            current = zone
    return current


def zones_for(
    names: Sequence[str],
    zones: Sequence[HostedZone],
    env: Environment,
    delegates: Callable[[HostedZone, HostedZone], bool] | None = None,
) -> dict[str, HostedZone]:
    """The chosen zone of each name; OpsError naming the domain and the zone when there is none."""
    chosen: dict[str, HostedZone] = {}
    public = sorted(z.name for z in zones if not z.private)
    for name in names:
        zone = choose_zone(name, zones, delegates)
        if zone is not None:
            chosen[name] = zone
        elif _in_zone(name.removeprefix("*."), env.zone_name):
            raise OpsError(
                f"no public hosted zone {env.zone_name} for {name} in account {env.account_id} "
                f"({env.credentials_label()}): create it first (`inv apply --env {env.name}`)"
            )
        else:
            listing = ", ".join(public) or "none"
            raise OpsError(
                f"{name} is outside every public hosted zone of account {env.account_id} "
                f"(zones: {listing}): use a name under {env.zone_name}"
            )
    return chosen
