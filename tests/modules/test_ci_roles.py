"""Plan assertions for modules/ci-roles and modules/ci-state-roles: the CI system's roles.

The environment roles trust only this repository's tokens (audience, and the exact subjects: pull
requests and the protected branch for the plan role; the branch, or only the deployment
environment, for the apply role); their permissions are the operator policies' documents, split
into managed policies within IAM's quotas. The state roles trust one environment role each; the
plan one never writes the state (tf-init's plan, tests/modules/test_tf_init.py).
"""

from __future__ import annotations

import json
from functools import partial

import pytest

from stackops import environments, operator_policies
from tests.planner import Plan, once_per_session, plan_instances
from tests.unit.test_operator_policies import WRITE, listed, statements

ACCOUNT = "111111111111"
REPOSITORY = "exii/infrastructure"
ISSUER = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
STATE_ROLES = {"plan": "arn:aws:iam::000000000000:role/exii-dev-ci-state-plan",
               "apply": "arn:aws:iam::000000000000:role/exii-dev-ci-state-apply"}  # fmt: skip
FILES = ("plan", "deploy", "cert", "apply")


def inputs(env_name: str, **extra: object) -> dict[str, object]:
    env = environments.load(env_name)
    return {
        "name_prefix": f"exii-{env_name}",
        "account_id": ACCOUNT,
        "repository": REPOSITORY,
        "policies": {name: json.dumps(operator_policies.render(name, env)) for name in FILES},
        "plan_policies": ["plan"],
        "apply_policies": list(FILES),
        "state_role_arns": STATE_ROLES,
        **extra,
    }


INSTANCES = {
    "dev": inputs("dev"),
    "prod": inputs("prod", apply_environment="prod"),
    "existing": inputs("dev", oidc_provider_arn=PROVIDER_ARN, oidc_audience="exii-ci", branch="trunk"),
}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "ci-roles", partial(plan_instances, "ci-roles", INSTANCES))


def trust(plan: Plan, role: str) -> dict:
    (statement,) = json.loads(plan.resources[f'aws_iam_role.this["{role}"]']["assume_role_policy"])["Statement"]
    return statement


@pytest.mark.parametrize(
    ("instance", "role", "subjects"),
    [
        ("dev", "plan", [f"repo:{REPOSITORY}:pull_request", f"repo:{REPOSITORY}:ref:refs/heads/main"]),
        ("dev", "apply", [f"repo:{REPOSITORY}:ref:refs/heads/main"]),
        ("prod", "plan", [f"repo:{REPOSITORY}:pull_request", f"repo:{REPOSITORY}:ref:refs/heads/main"]),
        ("prod", "apply", [f"repo:{REPOSITORY}:environment:prod"]),  # the reviewers' environment only
        ("existing", "apply", [f"repo:{REPOSITORY}:ref:refs/heads/trunk"]),
    ],
)
def test_each_role_trusts_exactly_the_repositorys_subjects_and_audience(plans, instance, role, subjects):
    statement = trust(plans[instance], role)
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    audience = INSTANCES[instance].get("oidc_audience", "sts.amazonaws.com")
    condition = statement["Condition"]
    assert set(condition) == {"StringEquals"}  # no StringLike: no wildcard widens the subjects
    assert condition["StringEquals"][f"{ISSUER}:aud"] == audience
    assert sorted(listed(condition["StringEquals"][f"{ISSUER}:sub"])) == sorted(subjects)


def test_the_identity_provider_is_created_unless_one_is_given(plans):
    provider = plans["dev"].one("aws_iam_openid_connect_provider")
    assert provider["url"] == f"https://{ISSUER}"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert not provider.get("thumbprint_list")  # AWS verifies GitHub's issuer by its trusted CAs
    assert plans["existing"].of_type("aws_iam_openid_connect_provider") == {}
    assert plans["existing"].outputs["oidc_provider_arn"] == PROVIDER_ARN


def role_documents(plan: Plan, role: str) -> list[dict]:
    """The managed policies attached to `role`, and its inline one."""
    names = [address.split('"')[1] for address in plan.of_type("aws_iam_role_policy_attachment")]
    parts = [name.split("/", 1)[1] for name in names if name.startswith(f"{role}/")]
    documents = [json.loads(plan.resources[f'aws_iam_policy.this["{part}"]']["policy"]) for part in parts]
    inline = json.loads(plan.resources[f'aws_iam_role_policy.state["{role}"]']["policy"])
    return [*documents, inline]


@pytest.mark.parametrize("instance", ["dev", "prod"])
def test_the_plan_role_reads_and_assumes_its_state_role_only(plans, instance):
    *documents, inline = role_documents(plans[instance], "plan")
    actions = [a for document in documents for s in statements(document) for a in listed(s["Action"])]
    expected = operator_policies.render("plan", environments.load(instance))
    assert sorted(actions) == sorted(a for s in statements(expected) for a in listed(s["Action"]))
    assert not [a for a in actions if WRITE.search(a)]
    assert statements(inline) == [
        {"Sid": "AssumeTheStateRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": STATE_ROLES["plan"]}
    ]


def test_the_apply_role_holds_every_operator_policy_it_runs(plans):
    *documents, inline = role_documents(plans["prod"], "apply")
    actions = {a for document in documents for s in statements(document) for a in listed(s["Action"])}
    env = environments.load("prod")
    for name in FILES:
        assert {a for s in statements(operator_policies.render(name, env)) for a in listed(s["Action"])} <= actions
    assert statements(inline)[0]["Resource"] == STATE_ROLES["apply"]


@pytest.mark.parametrize("instance", INSTANCES)
def test_no_wildcard_action_and_within_iams_quotas(plans, instance):
    policies = plans[instance].of_type("aws_iam_policy")
    for address, policy in policies.items():
        assert len(policy["policy"]) <= 6144, address  # a managed policy's size (whitespace aside)
        for statement in statements(json.loads(policy["policy"])):
            assert not [a for a in listed(statement["Action"]) if "*" in a], (address, statement["Sid"])
    for role in ("plan", "apply"):
        attached = [a for a in plans[instance].of_type("aws_iam_role_policy_attachment") if f'["{role}/' in a]
        assert 1 <= len(attached) <= 10, attached  # managed policies per role


def test_a_repository_must_be_owner_slash_name(tmp_path):
    with pytest.raises(AssertionError, match="repository must be OWNER/REPO"):
        plan_instances("ci-roles", {"bad": inputs("dev", repository="infrastructure")}, tmp_path)


STATE_INSTANCES = {
    "dev": {
        "roles": {
            "exii-dev-ci-state-plan": {
                "trusted_role_arn": f"arn:aws:iam::{ACCOUNT}:role/exii-dev-ci-plan",
                "policy": json.dumps(operator_policies.render("plan-state", environments.load("dev"))),
            }
        }
    }
}


def test_a_state_role_trusts_its_environment_role_even_before_it_exists(tmp_path):
    plan = plan_instances("ci-state-roles", STATE_INSTANCES, tmp_path)["dev"]
    role = plan.resources['aws_iam_role.this["exii-dev-ci-state-plan"]']
    (statement,) = json.loads(role["assume_role_policy"])["Statement"]
    # The account as principal, narrowed to the role: IAM accepts it before the role exists.
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/exii-dev-ci-plan"
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": role_arn}}
    policy = plan.resources['aws_iam_role_policy.this["exii-dev-ci-state-plan"]']["policy"]
    assert json.loads(policy) == json.loads(STATE_INSTANCES["dev"]["roles"]["exii-dev-ci-state-plan"]["policy"])
