"""Plan assertions for tf-init/, the root that creates the state bucket and lock table.

tf-init has its own provider block (a profile, and allowed_account_ids, which needs an STS call),
so the plan runs on a copy with an override file that swaps those for mock credentials and the
provider's skip flags. The real guard is checked on the source instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hcl2
import pytest

from stackops import environments, operator_policies
from stackops.paths import ROOT
from tests.planner import Plan, offline_environ, once_per_session, run_plan
from tests.unit.test_operator_policies import listed

# Terraform merges *_override.tf into the block of the same name: these arguments replace the
# originals, and the state stays in the temporary copy whatever backend tf-init declares.
OVERRIDE = """
terraform {
  backend "local" {}
}

provider "aws" {
  profile                     = null
  allowed_account_ids         = null
  access_key                  = "mock"
  secret_key                  = "mock"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
"""
INPUTS = {
    "region": "eu-west-2",
    "account_id": "111111111111",
    "bucket": "exii-terraform-state-test",
    "lock_table": "exii-terraform-locks-test",
    # What inv bootstrap passes for an environment with CI roles (stackops.bootstrap.ci_environments).
    "ci_environments": {"dev": {**operator_policies.placeholders(environments.load("dev")), "project": "exii"}},
}


def plan_tf_init(workdir: Path) -> Plan:
    root = workdir / "tf-init"
    root.mkdir()
    shutil.copytree(ROOT / "modules", workdir / "modules")  # tf-init uses ../modules/tls-only-bucket-policy
    shutil.copytree(ROOT / "operator-policies", workdir / "operator-policies")  # and the state roles' policies
    for source in (ROOT / "tf-init").glob("*.tf"):
        shutil.copy(source, root)
    (root / "offline_override.tf").write_text(OVERRIDE)
    variables = workdir / "inputs.tfvars.json"
    variables.write_text(json.dumps(INPUTS))
    return run_plan(root, offline_environ(workdir), variables)


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Plan:
    return once_per_session(tmp_path_factory, "tf-init", plan_tf_init)


def test_provider_refuses_any_other_account():
    [provider] = hcl2.loads((ROOT / "tf-init" / "main.tf").read_text())["provider"]
    [(name, aws)] = provider.items()
    assert name.strip('"') == "aws"
    assert aws["allowed_account_ids"] == ["${var.account_id}"]


def test_state_bucket_is_versioned_encrypted_and_private(plan):
    assert plan.one("aws_s3_bucket")["bucket"] == INPUTS["bucket"]
    assert plan.one("aws_s3_bucket_versioning")["versioning_configuration"] == [{"status": "Enabled"}]
    [rule] = plan.one("aws_s3_bucket_server_side_encryption_configuration")["rule"]
    assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "AES256"
    block = plan.one("aws_s3_bucket_public_access_block")
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    assert [block[k] for k in flags] == [True] * 4
    assert plan.one("aws_s3_bucket_ownership_controls")["rule"] == [{"object_ownership": "BucketOwnerEnforced"}]


def test_state_bucket_policy_denies_requests_without_tls(plan):
    read = plan.change("module.tls_only.data.aws_iam_policy_document.this")
    [statement] = read["after"]["statement"]
    assert (statement["effect"], statement["actions"]) == ("Deny", ["s3:*"])
    assert statement["principals"] == [{"type": "*", "identifiers": ["*"]}]
    assert statement["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
    config = plan.raw["configuration"]["root_module"]
    assert config["module_calls"]["tls_only"]["source"] == "../modules/tls-only-bucket-policy"
    [policy] = [r for r in config["resources"] if r["address"] == "aws_s3_bucket_policy.state"]
    assert "module.tls_only.json" in policy["expressions"]["policy"]["references"]


def test_lock_table_is_on_demand_keyed_by_lock_id_with_point_in_time_recovery(plan):
    table = plan.one("aws_dynamodb_table")
    assert (table["name"], table["billing_mode"], table["hash_key"]) == (
        INPUTS["lock_table"],
        "PAY_PER_REQUEST",
        "LockID",
    )
    assert table["attribute"] == [{"name": "LockID", "type": "S"}]
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True
    assert plan.outputs["lock_table"] == INPUTS["lock_table"]


def test_everything_is_tagged_as_terraform_state(plan):
    for address, values in plan.resources.items():
        if "tags_all" in values:
            assert values["tags_all"].get("Purpose") == "terraform-state", address


def test_the_ci_state_roles_write_the_state_only_from_the_apply_role(plan):
    state = "arn:aws:s3:::exii-terraform-state-000000000000/env:/dev/exii/terraform.tfstate"
    writes = {}
    for kind in ("plan", "apply"):
        address = f'module.ci_state_roles.aws_iam_role{{}}.this["exii-dev-ci-state-{kind}"]'
        (trust,) = json.loads(plan.resources[address.format("")]["assume_role_policy"])["Statement"]
        role_arn = f"arn:aws:iam::111111111111:role/exii-dev-ci-{kind}"
        assert trust["Condition"]["ArnEquals"]["aws:PrincipalArn"] == role_arn
        policy = json.loads(plan.resources[address.format("_policy")]["policy"])
        writes[kind] = {
            resource
            for statement in policy["Statement"]
            if "s3:PutObject" in statement["Action"]
            for resource in listed(statement["Resource"])
        }
    assert writes["plan"] == {f"{state}.tflock"}  # the lock terraform plan takes, never the state
    assert state in writes["apply"]
