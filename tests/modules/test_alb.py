"""Plan assertions for modules/alb: before a certificate (HTTP forwards) and with one (HTTPS)."""

from __future__ import annotations

from functools import partial
from itertools import zip_longest

import pytest

from tests.modules.lifecycle import Run, run_lifecycle
from tests.planner import Plan, once_per_session, plan_instances

CERTIFICATE = "arn:aws:acm:eu-west-2:111111111111:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789012"
COMMON = {"vpc_id": "vpc-0abc", "vpc_cidr": "10.0.0.0/16", "subnet_ids": ["subnet-pub-a", "subnet-pub-b"]}
INSTANCES = {
    # Defaults everywhere: no certificate yet, port 80, no deletion protection.
    "plain": {**COMMON, "name": "exii-test-concept", "zone_id": "Z0PLAIN", "host_name": "app.example.com"},
    "tls": {
        **COMMON,
        "name": "exii-test-django",
        "zone_id": "Z0TLS",
        "host_name": "api.example.com",
        "target_port": 8000,
        "certificate_arn": CERTIFICATE,
        "deletion_protection": True,
        "access_logs_bucket": "exii-test-logs",
    },
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "alb", partial(plan_instances, "alb", INSTANCES))


def port(instance: str) -> int:
    return INSTANCES[instance].get("target_port", 80)


def forward_targets(plan: Plan, listener: str) -> list[str | bool]:
    """Target group ARNs the listener's default action forwards to, True where known only after
    apply (the module's own target group), whether set as target_group_arn or in a forward block."""
    change = plan.change(listener)
    [after], [unknown] = change["after"]["default_action"], change["after_unknown"]["default_action"]
    found = [unknown.get("target_group_arn") or after.get("target_group_arn")]
    for known, pending in zip_longest(after.get("forward", []), unknown.get("forward", []), fillvalue={}):
        groups = zip_longest(known.get("target_group", []), pending.get("target_group", []), fillvalue={})
        found += [p.get("arn") or k.get("arn") for k, p in groups]
    return [arn for arn in found if arn]


@pytest.mark.parametrize("instance", INSTANCES)
def test_internet_facing_in_the_given_subnets(plans, instance):
    lb = plans[instance].one("aws_lb")
    assert (lb["load_balancer_type"], lb["internal"]) == ("application", False)
    assert sorted(lb["subnets"]) == sorted(COMMON["subnet_ids"])
    assert lb["drop_invalid_header_fields"] is True
    assert lb["name"] == INSTANCES[instance]["name"]
    # The load balancer sits in the module's own group (its id is known only after apply).
    assert plans[instance].change("aws_lb.this")["after_unknown"]["security_groups"] is True


@pytest.mark.parametrize(("instance", "protected"), [("plain", False), ("tls", True)])
def test_deletion_protection_follows_the_input(plans, instance, protected):
    assert plans[instance].one("aws_lb")["enable_deletion_protection"] is protected


def test_access_logs_only_with_a_bucket(plans):
    assert plans["plain"].one("aws_lb")["access_logs"] == []
    [logs] = plans["tls"].one("aws_lb")["access_logs"]
    assert (logs["bucket"], logs["prefix"], logs["enabled"]) == ("exii-test-logs", "exii-test-django", True)


@pytest.mark.parametrize("instance", INSTANCES)
def test_target_group_is_ip_with_the_health_check(plans, instance):
    group = plans[instance].one("aws_lb_target_group")
    assert (group["target_type"], group["protocol"], group["port"]) == ("ip", "HTTP", port(instance))
    [check] = group["health_check"]
    assert (check["path"], check["matcher"]) == ("/_health", "200-302")


def test_http_forwards_to_the_targets_while_there_is_no_certificate(plans):
    plan = plans["plain"]
    assert plan.counts["aws_lb_listener"] == 1, plan
    http = plan.resources["aws_lb_listener.http"]
    [action] = http["default_action"]
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    assert (action["type"], action["redirect"]) == ("forward", [])
    assert forward_targets(plan, "aws_lb_listener.http") == [True]
    assert plan.outputs["url"] == "http://app.example.com"
    assert plan.outputs["https_listener_arn"] is None


def test_http_redirects_to_https_once_there_is_a_certificate(plans):
    http = plans["tls"].resources["aws_lb_listener.http"]
    [action] = http["default_action"]
    assert action["type"] == "redirect"
    assert forward_targets(plans["tls"], "aws_lb_listener.http") == []
    [redirect] = action["redirect"]
    assert (redirect["port"], redirect["protocol"], redirect["status_code"]) == ("443", "HTTPS", "HTTP_301")
    assert plans["tls"].outputs["url"] == "https://api.example.com"


def test_https_listener_only_with_a_certificate_and_tls13(plans):
    assert "aws_lb_listener.https[0]" not in plans["plain"].resources
    plan = plans["tls"]
    https = plan.resources["aws_lb_listener.https[0]"]
    assert (https["port"], https["protocol"], https["certificate_arn"]) == (443, "HTTPS", CERTIFICATE)
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["default_action"][0]["type"] == "forward"
    assert forward_targets(plan, "aws_lb_listener.https[0]") == [True]


@pytest.mark.parametrize("instance", INSTANCES)
def test_route53_alias_names_the_host(plans, instance):
    record = plans[instance].one("aws_route53_record")
    assert (record["name"], record["type"], record["zone_id"]) == (
        INSTANCES[instance]["host_name"],
        "A",
        INSTANCES[instance]["zone_id"],
    )
    [alias] = record["alias"]
    assert alias["evaluate_target_health"] is True
    assert record["records"] is None and record["ttl"] is None  # an alias, not a plain record


@pytest.mark.parametrize("instance", INSTANCES)
def test_security_group_admits_web_and_reaches_only_the_vpc_on_the_target_port(plans, instance):
    plan = plans[instance]
    assert plan.one("aws_security_group")["vpc_id"] == COMMON["vpc_id"]
    ingress = plan.of_type("aws_vpc_security_group_ingress_rule").values()
    assert sorted((r["ip_protocol"], r["from_port"], r["to_port"], r["cidr_ipv4"]) for r in ingress) == [
        ("tcp", 80, 80, "0.0.0.0/0"),
        ("tcp", 443, 443, "0.0.0.0/0"),
    ]
    [egress] = plan.of_type("aws_vpc_security_group_egress_rule").values()
    assert (egress["ip_protocol"], egress["from_port"], egress["to_port"], egress["cidr_ipv4"]) == (
        "tcp",
        port(instance),
        port(instance),
        COMMON["vpc_cidr"],
    )
    assert plan.counts["aws_security_group_rule"] == 0, plan  # no legacy inline-style rules


# -- lifecycles that real AWS accepts -------------------------------------------------------------------


@pytest.mark.parametrize("instance", INSTANCES)
def test_security_group_and_target_group_have_generated_names(plans, instance):
    """A replacement can create the new group before the old one goes: names may not collide."""
    plan, name = plans[instance], INSTANCES[instance]["name"]
    group = plan.one("aws_security_group")
    assert (group["name_prefix"], group["tags"]["Name"]) == (f"{name}-alb-", f"{name}-alb")
    assert plan.change("aws_security_group.this")["after_unknown"]["name"] is True
    target_group = plan.one("aws_lb_target_group")
    # AWS allows 32 characters and the provider appends 26: the prefix is the service's, cut to 6.
    assert target_group["name_prefix"] == name.split("-")[-1][:5] + "-"
    assert target_group["tags"]["Name"] == name
    assert plan.change("aws_lb_target_group.this")["after_unknown"]["name"] is True


def test_a_service_waits_for_the_listeners_before_using_the_target_group(plans):
    # ECS refuses a target group that no listener forwards to, on create and when moved to a new one.
    module = plans["tls"].raw["configuration"]["root_module"]["module_calls"]["tls"]["module"]
    output = module["outputs"]["target_group_arn"]
    assert sorted(output["depends_on"]) == ["aws_lb_listener.http", "aws_lb_listener.https"]


REPLACED = [
    "aws_security_group.this",
    'aws_vpc_security_group_ingress_rule.web["443"]',
    "aws_vpc_security_group_egress_rule.targets",
    "aws_lb_target_group.this",
]


@pytest.fixture(scope="module")
def replaced(tmp_path_factory):
    tls = {k: v for k, v in INSTANCES["tls"].items() if k != "access_logs_bucket"}
    runs = [
        Run("create", {"tls": tls}),
        Run("replace", {"tls": tls}, command="plan", replace=[f"module.tls.{a}" for a in REPLACED]),
    ]
    return once_per_session(tmp_path_factory, "alb-replaced", partial(run_lifecycle, "alb", runs))


def test_replaced_groups_are_created_before_the_old_ones_are_destroyed(replaced):
    changes = replaced["replace"].actions("module.tls.")
    for address in REPLACED:  # the old group is still in use by the listeners and the load balancer
        assert changes[f"module.tls.{address}"] == ["create", "delete"], address
    # What uses them moves onto the new ones in place.
    for address in ("aws_lb.this", "aws_lb_listener.https[0]"):
        assert changes[f"module.tls.{address}"] == ["update"], address
