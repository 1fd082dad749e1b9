"""Plan assertions for modules/rds: a private, encrypted Postgres whose password never enters a plan."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import pytest

from tests.modules.lifecycle import Result, Run, run_lifecycle
from tests.planner import Plan, once_per_session, plan_instances

PASSWORDS = {"prod": "Pr0d-Literal-Password-7f3a9c", "dev": "D3v-Literal-Password-b81e2d"}
TOPIC = "arn:aws:sns:eu-west-2:111111111111:exii-test-alarms"
COMMON = {
    "vpc_id": "vpc-0abc",
    "allowed_security_group_ids": {"django": "sg-0django", "migrate": "sg-0migrate"},
    "event_topic_arn": TOPIC,
}
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
    [("prod", True, True, r"exii-prod-final-\d{14}", 14), ("dev", False, False, None, 7)],
)
def test_availability_and_safety_follow_the_inputs(plans, instance, multi_az, protected, final_snapshot, retention):
    db = plans[instance].one("aws_db_instance")
    assert db["multi_az"] is multi_az
    assert db["deletion_protection"] is protected
    assert db["skip_final_snapshot"] is (final_snapshot is None)
    if final_snapshot is None:
        assert db["final_snapshot_identifier"] is None
    else:  # the identifier and the time of the plan that created the database (YYYYMMDDhhmmss)
        assert re.fullmatch(final_snapshot, db["final_snapshot_identifier"]), db["final_snapshot_identifier"]
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


@pytest.mark.parametrize("instance", INSTANCES)
def test_master_user_is_not_the_engines_default(plans, instance):
    """Prowler's rds_instance_default_admin fails on `postgres` and `admin`."""
    assert plans[instance].one("aws_db_instance")["username"] == "exii_admin"


@pytest.mark.parametrize(
    ("username", "refusal"),
    [
        ("postgres", "must not be the engine's default"),
        ("Admin", "must not be the engine's default"),
        ("user", "must not be the engine's default"),  # a reserved word: cannot name a role
        ("rdsadmin", "must not be the engine's default"),  # RDS's own role
        ("pg_owner", "must not be the engine's default"),
        ("exii-admin", "must be 1 to 16 letters, digits or underscores"),
        ("1admin", "must be 1 to 16 letters, digits or underscores"),
        ("exii_administrator", "must be 1 to 16 letters, digits or underscores"),  # 18 characters
    ],
)
def test_master_user_must_be_a_name_rds_accepts_and_not_a_default(tmp_path, username, refusal):
    with pytest.raises(AssertionError) as refused:
        plan_instances("rds", {"bad": {**INSTANCES["dev"], "username": username}}, tmp_path)
    assert f"username {refusal}" in " ".join(str(refused.value).split())


@pytest.mark.parametrize("instance", INSTANCES)
def test_every_event_of_the_instance_goes_to_the_alarm_topic(plans, instance):
    """Failures, failovers, low storage, maintenance, configuration changes (Prowler's
    rds_instance_critical_event_subscription: all categories, or exactly three)."""
    subscription = plans[instance].one("aws_db_event_subscription")
    identifier = INSTANCES[instance]["identifier"]
    assert subscription["name"] == f"{identifier}-events"
    assert (subscription["sns_topic"], subscription["source_type"]) == (TOPIC, "db-instance")
    assert subscription["source_ids"] == [identifier]
    assert not subscription.get("event_categories")  # none named: every category
    assert subscription["enabled"] is True


# -- lifecycles that real AWS accepts -------------------------------------------------------------------


@pytest.mark.parametrize("instance", INSTANCES)
def test_security_group_has_a_generated_name(plans, instance):
    """A replacement creates the new group beside the old one, so the names must differ."""
    group = plans[instance].one("aws_security_group")
    identifier = INSTANCES[instance]["identifier"]
    assert (group["name_prefix"], group["tags"]["Name"]) == (f"{identifier}-db-", f"{identifier}-db")
    assert plans[instance].change("aws_security_group.this")["after_unknown"]["name"] is True


REPLACED = ["aws_security_group.this", 'aws_vpc_security_group_ingress_rule.postgres["django"]']


def lifecycle(workdir: Path) -> tuple[dict[str, Result], dict[str, Result]]:
    """The prod database created, planned again a moment later, its group replaced; then the
    same database created anew in an empty state (a destroyed environment built again)."""
    runs = [
        Run("create", {"prod": INSTANCES["prod"]}),
        Run("again", {"prod": INSTANCES["prod"]}, command="plan", pause_before=True),
        Run("replace", {"prod": INSTANCES["prod"]}, command="plan", replace=[f"module.prod.{a}" for a in REPLACED]),
    ]
    first = run_lifecycle("rds", runs, workdir / "first")
    recreated = run_lifecycle("rds", [Run("create", {"prod": INSTANCES["prod"]})], workdir / "recreated")
    return first, recreated


@pytest.fixture(scope="module")
def lifecycles(tmp_path_factory) -> tuple[dict[str, Result], dict[str, Result]]:
    return once_per_session(tmp_path_factory, "rds-lifecycle", lifecycle)


def final_snapshot(result: Result) -> str:
    return result.values["module.prod.aws_db_instance.this"]["final_snapshot_identifier"]


def test_final_snapshot_name_is_stable_for_the_stack_and_new_for_a_new_one(lifecycles):
    first, recreated = lifecycles
    created = final_snapshot(first["create"])
    assert re.fullmatch(r"exii-prod-final-\d{14}", created), created
    assert first["create"].outputs["prod"]["final_snapshot_identifier"] == created
    # A later plan (another time) changes nothing: no perpetual diff, the name stays.
    assert first["again"].actions("module.prod.") == {}
    assert final_snapshot(first["again"]) == created
    # A database built again after a destroy snapshots under another name: AWS refuses a name twice.
    assert final_snapshot(recreated["create"]) != created


def test_a_replaced_group_is_created_before_the_old_one_is_destroyed(lifecycles):
    changes = lifecycles[0]["replace"].actions("module.prod.")
    for address in REPLACED:  # the instance holds the old group until RDS has moved it
        assert changes[f"module.prod.{address}"] == ["create", "delete"], address
    assert changes["module.prod.aws_db_instance.this"] == ["update"]
