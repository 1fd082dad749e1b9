"""Plan assertions for modules/service: a private Fargate service behind its load balancer."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.modules.lifecycle import Run, run_lifecycle
from tests.planner import Plan, once_per_session, plan_instances

CONTAINERS = [
    {"name": "django", "image": "django:latest", "essential": True, "portMappings": [{"containerPort": 8000}]}
]
INPUTS = {
    "name": "exii-test-django",
    "cluster_arn": "arn:aws:ecs:eu-west-2:111111111111:cluster/exii-test",
    "cluster_name": "exii-test",
    "container_definitions": json.dumps(CONTAINERS),
    "image": "django:latest",
    "container_name": "django",
    "container_port": 8000,
    "cpu": 512,
    "memory": 1024,
    "execution_role_arn": "arn:aws:iam::111111111111:role/exii-test-task-execution",
    "task_role_arn": "arn:aws:iam::111111111111:role/exii-test-django-task",
    "vpc_id": "vpc-0abc",
    "subnet_ids": ["subnet-private-a", "subnet-private-b"],
    "load_balancer_security_group_id": "sg-0loadbalancer",
    "target_group_arn": "arn:aws:elasticloadbalancing:eu-west-2:111111111111:targetgroup/exii-test-django/0123",
    "egress_rules": {"https": {"port": 443, "cidr": "0.0.0.0/0"}, "postgres": {"port": 5432, "cidr": "10.0.200.0/22"}},
    "min_count": 2,
    "max_count": 6,
    "cpu_target_percent": 55,
    "deployment_alarm_names": ["exii-test-django-5xx-rate", "exii-test-django-unhealthy-hosts"],
}


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Plan:
    return once_per_session(tmp_path_factory, "service", partial(plan_instances, "service", {"django": INPUTS}))[
        "django"
    ]


def test_task_definition_is_fargate_awsvpc_with_the_given_roles(plan):
    task = plan.one("aws_ecs_task_definition")
    assert task["family"] == INPUTS["name"]
    assert (task["requires_compatibilities"], task["network_mode"]) == (["FARGATE"], "awsvpc")
    assert (task["cpu"], task["memory"]) == ("512", "1024")
    assert (task["execution_role_arn"], task["task_role_arn"]) == (
        INPUTS["execution_role_arn"],
        INPUTS["task_role_arn"],
    )
    assert json.loads(task["container_definitions"]) == CONTAINERS


def test_task_definition_offers_a_writable_tmp_volume(plan):
    """task-definitions/web.json mounts it at /tmp: the root filesystem is read-only."""
    task = plan.one("aws_ecs_task_definition")
    [volume] = task["volume"]
    assert volume["name"] == "tmp"
    # Task storage (no host path, EFS or Docker volume): what Fargate offers a container to write.
    assert not (volume["host_path"] or volume["efs_volume_configuration"] or volume["docker_volume_configuration"])


def test_task_definitions_are_shared_with_the_pipelines(plan):
    task = plan.one("aws_ecs_task_definition")
    # Compared with the family's latest ACTIVE revision (a pipeline's is no drift), and a
    # replaced revision stays registered (a service may run it, a rollback may need it).
    assert (task["track_latest"], task["skip_destroy"]) == (True, True)
    # Marked as Terraform's, with the image it was given (how `inv` tells it from a copy).
    assert task["tags"] == {"stackops:registered-by": "terraform", "stackops:image": INPUTS["image"]}


def test_service_runs_on_fargate_in_the_private_subnets_without_a_public_ip(plan):
    service = plan.one("aws_ecs_service")
    assert (service["launch_type"], service["cluster"], service["name"]) == (
        "FARGATE",
        INPUTS["cluster_arn"],
        INPUTS["name"],
    )
    [network] = service["network_configuration"]
    assert network["assign_public_ip"] is False
    assert sorted(network["subnets"]) == sorted(INPUTS["subnet_ids"])
    # Its only security group is the module's own (an id known after apply).
    [unknown] = plan.change("aws_ecs_service.this")["after_unknown"]["network_configuration"]
    assert unknown["security_groups"] is True
    [target] = service["load_balancer"]
    assert (target["target_group_arn"], target["container_name"], target["container_port"]) == (
        INPUTS["target_group_arn"],
        "django",
        8000,
    )
    assert service["desired_count"] == INPUTS["min_count"]


def test_a_failed_deployment_rolls_back(plan):
    assert plan.one("aws_ecs_service")["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    # A release that starts but then trips its 5xx-rate or unhealthy-hosts alarm is rolled back by ECS.
    assert plan.one("aws_ecs_service")["alarms"] == [
        {"alarm_names": INPUTS["deployment_alarm_names"], "enable": True, "rollback": True}
    ]


def test_security_group_admits_only_the_load_balancer_group(plan):
    group = plan.one("aws_security_group")
    assert group["vpc_id"] == INPUTS["vpc_id"]
    [ingress] = plan.of_type("aws_vpc_security_group_ingress_rule").values()
    assert ingress["referenced_security_group_id"] == INPUTS["load_balancer_security_group_id"]
    assert (ingress["cidr_ipv4"], ingress["cidr_ipv6"], ingress["prefix_list_id"]) == (None, None, None)
    assert (ingress["ip_protocol"], ingress["from_port"], ingress["to_port"]) == ("tcp", 8000, 8000)


def test_egress_only_where_the_tasks_need_it(plan):
    egress = plan.of_type("aws_vpc_security_group_egress_rule").values()
    assert sorted((r["ip_protocol"], r["from_port"], r["to_port"], r["cidr_ipv4"]) for r in egress) == [
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("tcp", 5432, 5432, "10.0.200.0/22"),
    ]


def test_autoscaling_between_min_and_max_on_cpu(plan):
    target = plan.one("aws_appautoscaling_target")
    assert (target["min_capacity"], target["max_capacity"]) == (2, 6)
    assert (target["service_namespace"], target["scalable_dimension"]) == ("ecs", "ecs:service:DesiredCount")
    assert target["resource_id"] == "service/exii-test/exii-test-django"
    policy = plan.one("aws_appautoscaling_policy")
    assert (policy["policy_type"], policy["resource_id"]) == ("TargetTrackingScaling", target["resource_id"])
    [tracking] = policy["target_tracking_scaling_policy_configuration"]
    assert tracking["target_value"] == 55
    assert tracking["predefined_metric_specification"][0]["predefined_metric_type"] == "ECSServiceAverageCPUUtilization"


def test_security_group_has_a_generated_name(plan):
    """A replacement creates the new group beside the old one, so the names must differ."""
    group = plan.one("aws_security_group")
    assert (group["name_prefix"], group["tags"]["Name"]) == (f"{INPUTS['name']}-service-", f"{INPUTS['name']}-service")
    assert plan.change("aws_security_group.this")["after_unknown"]["name"] is True


REPLACED = [
    "aws_security_group.this",
    "aws_vpc_security_group_ingress_rule.from_load_balancer",
    'aws_vpc_security_group_egress_rule.this["https"]',
]


@pytest.fixture(scope="module")
def replaced(tmp_path_factory):
    runs = [
        Run("create", {"django": INPUTS}),
        Run("replace", {"django": INPUTS}, command="plan", replace=[f"module.django.{a}" for a in REPLACED]),
    ]
    return once_per_session(tmp_path_factory, "service-replaced", partial(run_lifecycle, "service", runs))


def test_a_replaced_group_is_created_before_the_old_one_is_destroyed(replaced):
    changes = replaced["replace"].actions("module.django.")
    for address in REPLACED:  # the running tasks' network interfaces hold the old group until they stop
        assert changes[f"module.django.{address}"] == ["create", "delete"], address
    # The service moves onto the new group in place (a new deployment), never replaced.
    assert changes["module.django.aws_ecs_service.this"] == ["update"]
