"""The policy linter (tests/policy_lint.py) on small plans made here, and the operators' policy files.

The operators' least-privilege policies, plain JSON files in operator-policies/ at the root, are
linted one test per file once the folder exists (no folder, no test).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackops import environments, operator_policies
from stackops.paths import ROOT
from tests.policy_lint import UNKNOWN_ARN, Allowed, lint, plan_documents, rebuild, unexplained, unlintable

OPERATOR_POLICIES = ROOT / "operator-policies"

# Findings judged wrong in the operators' files, each with its reason.
OPERATOR_ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        "RESOURCE_MISMATCH",
        "identity",
        r"-state\.json",
        r'"s3:(Get|Put|Delete)Object"',
        "the state object's key is `env:/<env>/...`: parliament splits object ARNs at every colon, S3 "
        "takes any character in a key (the ARN is the bucket's, a slash, the key)",
    ),
    Allowed(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "identity",
        r"deploy\.json",
        r'"iam:passrole"',
        "registering a task definition that names roles needs iam:PassRole on them; deploy.json scopes it "
        "to the environment's roles and to ecs-tasks.amazonaws.com (the auditor flags PassRole whatever its scope)",
    ),
    Allowed(
        "RESOURCE_STAR",
        "identity",
        r"deploy\.json",
        r'\["ecs:RegisterTaskDefinition"\]',
        "a new revision has no ARN until it is registered; AWS's ECS policies grant RegisterTaskDefinition on "
        "*, and a scoped statement would deny it wherever AWS authorises it against no resource",
    ),
    Allowed(
        "RESOURCE_STAR",
        "identity",
        r"plan\.json",
        r'\["ec2:DescribeVpcAttribute", "rds:DescribeDBInstances"\]',
        "read-only; the provider calls DescribeDBInstances with a filter on the resource id (authorised against "
        "db:* , not the instance's name) and DescribeVpcAttribute during every refresh",
    ),
    # apply.json is what Terraform needs to create the environment, its IAM roles and policies
    # included: whoever holds it administers the environment's roles (exii-<env>-*, the CI apply
    # role among them) and could widen them. That is what applying the stack means; the role is
    # held by the protected branch's runs and, for prod, only after a reviewer's approval.
    Allowed(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        "identity",
        r"apply\.json",
        r'"(iam|s3|sns|sqs):',
        "Terraform creates, changes and deletes the environment's roles and policies (and the queues', topics' and "
        "buckets' policies): scoped to exii-<env>-* names",
    ),
    Allowed(
        "PRIVILEGE_ESCALATION",
        "identity",
        r"apply\.json",
        r'"(CreateNewPolicyVersion|EditExistingLambdaFunctionWithRole)"',
        "the stack's managed policies (the CI roles') and its renewal function are Terraform's to update",
    ),
    Allowed(
        "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
        "identity",
        r"apply\.json",
        r"s3:PutBucketPolicy",
        "Terraform writes the environment's bucket policies (TLS only, the log delivery); it reads no object",
    ),
    Allowed(
        "RESOURCE_MISMATCH",
        "identity",
        r"apply\.json",
        r'"required_format": "arn:\*:(elasticloadbalancing:\*:\*:listener/net|route53:::healthcheck)',
        "parliament wants every resource type the reference lists (listener/app and listener/net, hostedzone and "
        "healthcheck); a request names one of them, and the stack has application listeners and hosted zones only",
    ),
)


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_parliament_finds_what_aws_would_refuse() -> None:
    """The linter can fail: a misspelt action, an object action on a bucket ARN, a wrong condition key."""
    assert lint(document({"Effect": "Allow", "Action": "s3:GetObjects", "Resource": "arn:aws:s3:::b/*"}), "t")
    issues = {
        f.issue
        for f in lint(document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b"}), "t")
    }
    assert issues == {"RESOURCE_MISMATCH"}
    wrong_key = {"StringEquals": {"iam:PassedToServices": "ecs-tasks.amazonaws.com"}}
    passing = {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::111111111111:role/r"}
    assert "UNKNOWN_CONDITION_FOR_ACTION" in {f.issue for f in lint(document({**passing, "Condition": wrong_key}), "t")}
    right_key = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert {f.issue for f in lint(document({**passing, "Condition": right_key}), "t")} == {
        "PERMISSIONS_MANAGEMENT_ACTIONS"
    }


def test_a_document_read_at_apply_is_rebuilt_with_its_unknown_values_marked() -> None:
    after = {
        "statement": [
            {
                "sid": "Logs",
                "effect": None,
                "actions": ["logs:PutLogEvents", "logs:CreateLogStream"],
                "resources": [None],
                "condition": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["true"]}],
                "principals": [],
                "not_principals": [],
            }
        ]
    }
    rebuilt, partial = rebuild(after)
    assert partial
    assert rebuilt["Statement"] == [
        {
            "Effect": "Allow",
            "Sid": "Logs",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": UNKNOWN_ARN,
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},  # one value alone, as the provider writes it
        }
    ]


def _plan(policy: Any, *, configured: list[str]) -> dict[str, Any]:
    trust = document(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}
    )
    return {
        "variables": {"account_id": {"value": "111111111111"}},
        "resource_changes": [
            {
                "address": "aws_iam_role.r",
                "mode": "managed",
                "type": "aws_iam_role",
                "change": {"after": {"name": "r", "path": "/", "assume_role_policy": trust}, "after_unknown": {}},
            },
            {
                "address": "aws_iam_role_policy.p",
                "mode": "managed",
                "type": "aws_iam_role_policy",
                "change": {"after": {"policy": policy}, "after_unknown": {} if policy else {"policy": True}},
            },
        ],
        "configuration": {
            "root_module": {
                "resources": [
                    {"address": "aws_iam_role_policy.p", "expressions": {"policy": {"references": configured}}}
                ]
            }
        },
    }


def test_a_trust_policy_is_linted_against_its_role() -> None:
    (trust,) = plan_documents(_plan(None, configured=["data.aws_iam_policy_document.p.json"]))
    assert trust.kind == "trust" and trust.sources == ["aws_iam_role.r.assume_role_policy"]
    assert trust.document["Statement"][0]["Resource"] == "arn:aws:iam::111111111111:role/r"


def test_an_inline_policy_unknown_at_plan_time_is_reported_unlintable() -> None:
    assert unlintable(_plan(None, configured=["data.aws_iam_policy_document.p.json"])) == []
    assert unlintable(_plan(None, configured=["aws_s3_bucket.b.arn"])) == [
        "aws_iam_role_policy.p.policy (from ['aws_s3_bucket.b.arn'])"
    ]


def test_an_allow_list_entry_covers_only_its_finding() -> None:
    entry = Allowed("CREDENTIALS_EXPOSURE", "trust", r"\.assume_role_policy", r"sts:assumerole", "reason")
    (finding,) = lint(
        document({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::111111111111:role/r"}), "x"
    )
    assert finding.issue == "CREDENTIALS_EXPOSURE"
    assert unexplained([finding], [entry]) == [finding]  # an identity policy handing out credentials


if OPERATOR_POLICIES.is_dir():

    @pytest.mark.parametrize("path", sorted(OPERATOR_POLICIES.rglob("*.json")), ids=lambda p: p.name)
    @pytest.mark.parametrize("env", ["dev", "prod"])
    def test_operator_policy_lints_clean(path: Path, env: str) -> None:
        """Each file as an operator installs it: its placeholders filled for the environment."""
        text = json.dumps(operator_policies.render(path.stem, environments.load(env)))
        assert [str(f) for f in unexplained(lint(text, f"{path} ({env})"), OPERATOR_ALLOWED)] == []
