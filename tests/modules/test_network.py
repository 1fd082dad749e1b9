"""Plan assertions for modules/network: tiers, NAT modes, routes, NACLs, DNS, DB subnet group.

One plan holds the three NAT modes. Which NAT a route uses, or which subnets a NACL covers, are
ids unknown until apply, so those references are checked on a mocked apply (no AWS either).
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.modules.lifecycle import Result, Run, run_lifecycle
from tests.planner import Plan, apply_mocked, once_per_session, plan_instances

AZS = ["eu-west-2a", "eu-west-2b", "eu-west-2c"]
SUBNETS = {
    "public": ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"],
    "private": ["10.0.101.0/24", "10.0.102.0/24", "10.0.103.0/24"],
    "database": ["10.0.201.0/24", "10.0.202.0/24", "10.0.203.0/24"],
}
TIERS = list(SUBNETS)


def rule(number: int, protocol: str, ports: tuple[int, int], cidr: str, **icmp: int) -> dict:
    return {
        "rule_number": number,
        "protocol": protocol,
        "from_port": ports[0],
        "to_port": ports[1],
        "cidr_block": cidr,
        "rule_action": "allow",
        **icmp,
    }


# Different rules per tier, so a rule landing on the wrong tier's NACL shows.
RULES = {
    "public": {
        "inbound": [
            rule(100, "tcp", (443, 443), "0.0.0.0/0"),
            rule(110, "tcp", (80, 80), "0.0.0.0/0"),
            # Path MTU discovery: ICMP "fragmentation needed"; ports mean nothing for ICMP.
            rule(120, "icmp", (0, 0), "0.0.0.0/0", icmp_type=3, icmp_code=4),
        ],
        "outbound": [rule(100, "tcp", (1024, 65535), "0.0.0.0/0")],
    },
    "private": {
        "inbound": [rule(100, "tcp", (80, 80), "10.0.0.0/16"), rule(110, "tcp", (1024, 65535), "0.0.0.0/0")],
        "outbound": [rule(100, "tcp", (443, 443), "0.0.0.0/0"), rule(110, "tcp", (5432, 5432), "10.0.200.0/22")],
    },
    "database": {
        "inbound": [rule(100 + i, "tcp", (5432, 5432), cidr) for i, cidr in enumerate(SUBNETS["private"])],
        "outbound": [rule(100, "tcp", (1024, 65535), "10.0.100.0/22")],
    },
}
NAT_COUNT = {"none": 0, "single": 1, "per_az": len(AZS)}
INSTANCES = {
    mode: {
        "name": f"exii-{mode.replace('_', '')}",
        "account_id": "111122223333",
        "region": "eu-west-2",
        "cidr": "10.0.0.0/16",
        "azs": AZS,
        "public_subnets": SUBNETS["public"],
        "private_subnets": SUBNETS["private"],
        "database_subnets": SUBNETS["database"],
        "nat_mode": mode,
        "nacl_rules": RULES,
    }
    for mode in NAT_COUNT
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "network-plan", partial(plan_instances, "network", INSTANCES))


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "network-mocked", partial(apply_mocked, "network", INSTANCES))


def test_vpc_has_dns_hostnames_and_support(plans):
    vpc = plans["single"].one("aws_vpc")
    assert vpc["cidr_block"] == "10.0.0.0/16"
    assert vpc["enable_dns_hostnames"] is True
    assert vpc["enable_dns_support"] is True


@pytest.mark.parametrize("tier", TIERS)
def test_one_subnet_per_az_in_each_tier(plans, tier):
    plan = plans["single"]
    assert plan.counts["aws_subnet"] == len(TIERS) * len(AZS), plan
    for az, cidr in zip(AZS, SUBNETS[tier], strict=True):
        subnet = plan.resources[f'aws_subnet.{tier}["{az}"]']
        assert (subnet["availability_zone"], subnet["cidr_block"]) == (az, cidr)
        assert subnet["tags"]["Tier"] == tier
        # Nothing gets a public address by being launched in a subnet, not even in the public tier.
        assert subnet["map_public_ip_on_launch"] is False
    assert plan.outputs.get(f"{tier}_subnet_cidrs", SUBNETS[tier]) == SUBNETS[tier]


@pytest.mark.parametrize(("mode", "nat_count"), NAT_COUNT.items())
def test_nat_gateways_per_mode(plans, mode, nat_count):
    plan = plans[mode]
    assert plan.counts["aws_nat_gateway"] == nat_count, plan
    assert [eip["domain"] for eip in plan.of_type("aws_eip").values()] == ["vpc"] * nat_count, plan
    assert [nat["tags"]["Name"] for nat in plan.of_type("aws_nat_gateway").values()] == [
        f"{INSTANCES[mode]['name']}-{az}" for az in AZS[:nat_count]
    ]
    # The public default route, plus one per private route table unless there is no NAT at all.
    assert plan.counts["aws_route"] == 1 + (len(AZS) if nat_count else 0), plan


@pytest.mark.parametrize("mode", NAT_COUNT)
def test_private_route_tables_route_through_the_right_nat(applied, mode):
    state = applied[mode]
    r = state.resources
    for az in AZS[: NAT_COUNT[mode]]:  # each NAT sits in its AZ's public subnet, on its own address
        assert r[f'aws_nat_gateway.this["{az}"]']["subnet_id"] == r[f'aws_subnet.public["{az}"]']["id"]
        assert r[f'aws_nat_gateway.this["{az}"]']["allocation_id"] == r[f'aws_eip.nat["{az}"]']["id"]
    for az in AZS:
        table = r[f'aws_route_table.private["{az}"]']["id"]
        association = r[f'aws_route_table_association.private["{az}"]']
        assert (association["subnet_id"], association["route_table_id"]) == (
            r[f'aws_subnet.private["{az}"]']["id"],
            table,
        )
        routes = [v for v in state.of_type("aws_route").values() if v["route_table_id"] == table]
        if mode == "none":
            assert routes == [], "without NAT the private tier has no route out"
            continue
        nat = az if mode == "per_az" else AZS[0]  # per_az keeps each AZ's egress in that AZ
        assert [(v["destination_cidr_block"], v["nat_gateway_id"]) for v in routes] == [
            ("0.0.0.0/0", r[f'aws_nat_gateway.this["{nat}"]']["id"])
        ]


def test_public_subnets_route_to_the_internet_gateway(applied):
    r = applied["single"].resources
    public_table = r["aws_route_table.public"]["id"]
    route = r["aws_route.public_internet"]
    assert (route["route_table_id"], route["destination_cidr_block"], route["gateway_id"]) == (
        public_table,
        "0.0.0.0/0",
        r["aws_internet_gateway.this"]["id"],
    )
    for az in AZS:
        association = r[f'aws_route_table_association.public["{az}"]']
        assert association["subnet_id"] == r[f'aws_subnet.public["{az}"]']["id"]
        assert association["route_table_id"] == public_table


@pytest.mark.parametrize("mode", NAT_COUNT)
def test_database_tier_has_no_internet_route(applied, mode):
    state = applied[mode]
    r = state.resources
    table = r["aws_route_table.database"]["id"]
    for az in AZS:
        association = r[f'aws_route_table_association.database["{az}"]']
        assert association["subnet_id"] == r[f'aws_subnet.database["{az}"]']["id"]
        assert association["route_table_id"] == table
    assert [a for a, v in state.of_type("aws_route").items() if v["route_table_id"] == table] == []


@pytest.mark.parametrize("tier", TIERS)
def test_each_tier_has_its_own_nacl_with_the_given_rules(plans, applied, tier):
    plan, state = plans["single"], applied["single"]
    assert plan.counts["aws_network_acl"] == len(TIERS), plan
    acl = state.resources[f'aws_network_acl.this["{tier}"]']
    tier_subnets = {v["id"] for a, v in state.of_type("aws_subnet").items() if a.startswith(f"aws_subnet.{tier}[")}
    assert set(acl["subnet_ids"]) == tier_subnets

    planned = plan.of_type("aws_network_acl_rule")
    attached = {a for a, v in state.of_type("aws_network_acl_rule").items() if v["network_acl_id"] == acl["id"]}
    for egress, direction in ((False, "inbound"), (True, "outbound")):
        expected = sorted(RULES[tier][direction], key=lambda x: x["rule_number"])
        got = sorted(
            (v for a, v in planned.items() if a in attached and v["egress"] is egress),
            key=lambda x: x["rule_number"],
        )
        assert [(g["rule_number"], g["protocol"], g["cidr_block"], g["rule_action"]) for g in got] == [
            (e["rule_number"], e["protocol"], e["cidr_block"], e["rule_action"]) for e in expected
        ], f"{tier} {direction}"
        for g, e in zip(got, expected, strict=True):
            if e["protocol"] != "icmp":
                assert (g["from_port"], g["to_port"]) == (e["from_port"], e["to_port"])
    total = sum(len(rules["inbound"]) + len(rules["outbound"]) for rules in RULES.values())
    assert plan.counts["aws_network_acl_rule"] == total, plan


def test_icmp_rule_carries_type_and_code_and_no_ports(plans):
    icmp = [v for v in plans["single"].of_type("aws_network_acl_rule").values() if v["protocol"] == "icmp"]
    assert [(v["icmp_type"], v["icmp_code"], v["from_port"], v["to_port"]) for v in icmp] == [(3, 4, None, None)]
    tcp = [v for v in plans["single"].of_type("aws_network_acl_rule").values() if v["protocol"] == "tcp"]
    assert all(v["icmp_type"] is None and v["icmp_code"] is None for v in tcp)


def test_db_subnet_group_spans_the_database_subnets(plans, applied):
    r = applied["single"].resources
    group = r["aws_db_subnet_group.this"]
    assert set(group["subnet_ids"]) == {r[f'aws_subnet.database["{az}"]']["id"] for az in AZS}
    assert plans["single"].one("aws_db_subnet_group")["name"] == INSTANCES["single"]["name"]
    assert plans["single"].outputs["db_subnet_group_name"] == INSTANCES["single"]["name"]


def test_default_security_group_has_no_rules(plans):
    plan = plans["single"]
    group = plan.one("aws_default_security_group")
    assert group.get("ingress", []) == [] and group.get("egress", []) == []
    # Empty rule lists set explicitly, so the next apply removes a rule someone adds by hand.
    module = plan.raw["configuration"]["root_module"]["module_calls"]["single"]["module"]
    config = next(r for r in module["resources"] if r["address"] == "aws_default_security_group.this")
    assert config["expressions"]["ingress"] == {"constant_value": []}, config["expressions"]
    assert config["expressions"]["egress"] == {"constant_value": []}, config["expressions"]


def test_default_network_acl_is_managed_with_no_rules(plans, applied):
    """The VPC's default NACL allows everything until managed (Prowler: ec2_networkacl_allow_ingress_*)."""
    plan = plans["single"]
    acl = plan.one("aws_default_network_acl")
    # No rule blocks: the provider removes AWS's allow-all rules and only the implicit deny stays.
    assert (acl["ingress"], acl["egress"]) == ([], [])
    # The associations are left alone (no subnet_ids): every subnet belongs to its tier's NACL.
    module = plan.raw["configuration"]["root_module"]["module_calls"]["single"]["module"]
    config = next(r for r in module["resources"] if r["address"] == "aws_default_network_acl.this")
    assert "subnet_ids" not in config["expressions"], config["expressions"]
    r = applied["single"].resources
    assert r["aws_default_network_acl.this"]["default_network_acl_id"] == r["aws_vpc.this"]["default_network_acl_id"]


def test_flow_logs_record_all_traffic_into_their_own_group(plans):
    plan = plans["single"]
    assert plan.one("aws_flow_log")["traffic_type"] == "ALL"
    assert plan.one("aws_cloudwatch_log_group")["name"] == f"/vpc/{INSTANCES['single']['name']}/flow-logs"
    role = plan.one("aws_iam_role")
    assert role["name"] == f"{INSTANCES['single']['name']}-vpc-flow-logs"
    # The confused-deputy guard of the flow logs guide: only this account's flow logs.
    [trust] = json.loads(role["assume_role_policy"])["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "vpc-flow-logs.amazonaws.com"}, "sts:AssumeRole")
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ec2:eu-west-2:111122223333:vpc-flow-log/*"},
    }


def subnet_ids_in_order(state: Plan) -> dict[str, list[str]]:
    r = state.resources
    return {tier: [r[f'aws_subnet.{tier}["{az}"]']["id"] for az in AZS] for tier in TIERS}


def test_subnet_outputs_follow_the_order_of_azs(applied):
    state = applied["per_az"]
    expected = subnet_ids_in_order(state)
    for tier in TIERS:
        assert state.outputs[f"{tier}_subnet_ids"] == expected[tier]
    assert state.outputs["private_subnet_cidrs"] == SUBNETS["private"]
    assert state.outputs["database_subnet_cidrs"] == SUBNETS["database"]
    assert len(state.outputs["nat_public_ips"]) == len(AZS)


# Removing an AZ (here the middle one, with its CIDRs) after the network exists.
WITHOUT_B = {
    **INSTANCES["per_az"],
    "azs": [AZS[0], AZS[2]],
    **{f"{tier}_subnets": [SUBNETS[tier][0], SUBNETS[tier][2]] for tier in TIERS},
}


@pytest.fixture(scope="module")
def azs_changed(tmp_path_factory) -> dict[str, Result]:
    runs = [
        Run("create", {"net": INSTANCES["per_az"]}),
        Run("drop_b", {"net": WITHOUT_B}, command="plan"),
    ]
    return once_per_session(tmp_path_factory, "network-azs", partial(run_lifecycle, "network", runs))


def test_removing_an_az_touches_only_that_az(azs_changed):
    """Keyed by AZ: the other AZs' subnets, route tables and NAT gateways stay as they are."""
    changes = azs_changed["drop_b"].actions("module.net.")
    b = AZS[1]
    per_az = [
        "aws_subnet.public", "aws_subnet.private", "aws_subnet.database", "aws_route_table.private",
        "aws_route_table_association.public", "aws_route_table_association.private",
        "aws_route_table_association.database", "aws_route.private_nat", "aws_nat_gateway.this", "aws_eip.nat",
    ]  # fmt: skip
    expected = {f'module.net.{kind}["{b}"]': ["delete"] for kind in per_az}
    # The NACLs and the DB subnet group lose that AZ's subnet, in place.
    expected |= {f'module.net.aws_network_acl.this["{tier}"]': ["update"] for tier in TIERS}
    expected["module.net.aws_db_subnet_group.this"] = ["update"]
    assert changes == expected


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"azs": [AZS[0], AZS[0], AZS[2]]}, "azs must not repeat an availability zone"),
        ({"private_subnets": SUBNETS["private"][:2]}, "private_subnets needs one CIDR block per AZ"),
    ],
    ids=["repeated-az", "cidr-missing"],
)
def test_azs_must_not_repeat_and_subnets_need_one_cidr_per_az(tmp_path, change, refusal):
    with pytest.raises(AssertionError) as refused:
        plan_instances("network", {"bad": {**INSTANCES["single"], **change}}, tmp_path)
    assert refusal in " ".join(str(refused.value).split())
