"""Plan assertions for modules/rds: a private, encrypted Postgres whose password never enters a plan."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

PASSWORDS = {"prod": "Pr0d-Literal-Password-7f3a9c", "dev": "D3v-Literal-Password-b81e2d"}
COMMON = {"vpc_id": "vpc-0abc", "allowed_security_group_ids": {"django": "sg-0django", "migrate": "sg-0migrate"}}
INSTANCES = {
    "prod": {
        **COMMON,
        "identifier": "exii-prod",
        "db_subnet_group_name": "exii-prod",
        "password": PASSWORDS["prod"],
        "multi_az": True,
        "backup_retention_days": 14,
        # deletion_protection on and a final snapshot are the defaults
    },
    "dev": {
        **COMMON,
        "identifier": "exii-dev",
        "db_subnet_group_name": "exii-dev",
        "password": PASSWORDS["dev"],
        "deletion_protection": False,
        "skip_final_snapshot": True,
    },
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "rds", partial(plan_instances, "rds", INSTANCES))


@pytest.mark.parametrize("instance", INSTANCES)
def test_private_encrypted_postgres(plans, instance):
    db = plans[instance].one("aws_db_instance")
    assert db["publicly_accessible"] is False
    assert (db["storage_encrypted"], db["storage_type"]) == (True, "gp3")
    assert (db["engine"], db["engine_version"]) == ("postgres", "16")
    assert db["db_subnet_group_name"] == INSTANCES[instance]["db_subnet_group_name"]
    # Its only security group is the module's own (an id known after apply).
    assert plans[instance].change("aws_db_instance.this")["after_unknown"]["vpc_security_group_ids"] is True


@pytest.mark.parametrize(
    ("instance", "multi_az", "protected", "final_snapshot", "retention"),
    [("prod", True, True, "exii-prod-final", 14), ("dev", False, False, None, 7)],
)
def test_availability_and_safety_follow_the_inputs(plans, instance, multi_az, protected, final_snapshot, retention):
    db = plans[instance].one("aws_db_instance")
    assert db["multi_az"] is multi_az
    assert db["deletion_protection"] is protected
    assert db["skip_final_snapshot"] is (final_snapshot is None)
    assert db["final_snapshot_identifier"] == final_snapshot
    assert db["backup_retention_period"] == retention


@pytest.mark.parametrize("instance", INSTANCES)
def test_postgres_only_from_the_given_security_groups(plans, instance):
    plan = plans[instance]
    assert plan.one("aws_security_group")["vpc_id"] == COMMON["vpc_id"]
    assert plan.counts["aws_vpc_security_group_egress_rule"] == 0, plan
    rules = plan.of_type("aws_vpc_security_group_ingress_rule")
    assert sorted(r["referenced_security_group_id"] for r in rules.values()) == ["sg-0django", "sg-0migrate"]
    for rule in rules.values():
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 5432, 5432)
        assert (rule["cidr_ipv4"], rule["cidr_ipv6"], rule["prefix_list_id"]) == (None, None, None)


@pytest.mark.parametrize("instance", INSTANCES)
def test_password_is_write_only_and_absent_from_the_plan(plans, instance):
    db = plans[instance].one("aws_db_instance")
    assert db.get("password") is None and db.get("password_wo") is None
    assert db["password_wo_version"] == 1
    text = json.dumps(plans[instance].raw)
    assert PASSWORDS[instance] not in text
