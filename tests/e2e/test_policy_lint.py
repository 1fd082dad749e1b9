"""parliament over every IAM policy document of the dev, prod and local plans: zero findings.

The plans are the environment plans' (tests/e2e/test_environment_plans.py, one per session); the
lint itself takes about a second. What parliament does and does not check: tests/policy_lint.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest

from tests.e2e.test_environment_plans import EnvironmentPlan
from tests.policy_lint import Allowed, lint_document, plan_documents, unexplained, unlintable
from tests.unit.test_policy_lint import OPERATOR_ALLOWED

pytestmark = pytest.mark.e2e

# Where modules/ci-roles puts the part <n> of operator-policies/<file>.json (a regex replacement).
CI_PART = r'aws_iam_policy\\.this\\["\1-\\d+"\\]'
# Findings judged wrong, each with its reason. Keep it tiny and specific.
ALLOWED = (
    Allowed(
        issue="CREDENTIALS_EXPOSURE",
        kind="trust",
        source=r"\.assume_role_policy",
        detail=r'"actions": \["sts:assumerole(withwebidentity)?"\]',
        reason="the community auditor flags sts:AssumeRole as an action returning credentials, which "
        "is right in an identity policy; in a role's trust policy, granting it to the service that "
        "runs as the role (ecs-tasks, vpc-flow-logs), or to the CI system's tokens, is the policy's only purpose",
    ),
    Allowed(
        issue="CREDENTIALS_EXPOSURE",
        kind="identity",
        source=r'aws_iam_role_policy\.state\["(plan|apply)"\]',
        detail=r'"actions": \["sts:assumerole"\]',
        reason="a CI role's one inline statement: assume its own state role in the master account (one ARN), "
        "how Terraform's backend reaches the state",
    ),
    Allowed(
        issue="UNKNOWN_FEDERATION_SOURCE",
        kind="trust",
        source=r"ci_roles\[0\]\.aws_iam_role\.this\[",
        detail=r":oidc-provider/token\.actions\.githubusercontent\.com",
        reason="parliament knows the built-in web identity providers only (Cognito, Amazon, Facebook, Google); "
        "an IAM OpenID Connect provider's ARN is the federated principal AWS documents for GitHub Actions",
    ),
    Allowed(
        issue="UNKNOWN_CONDITION_FOR_ACTION",
        kind="trust",
        source=r"ci_roles\[0\]\.aws_iam_role\.this\[",
        detail=r"token\.actions\.githubusercontent\.com:(aud|sub) for action sts:AssumeRoleWithWebIdentity",
        reason="IAM offers `<issuer>:aud` and `<issuer>:sub` for every OpenID Connect provider (IAM User Guide, "
        "the keys available for web identity federation); parliament lists those of the built-in ones only",
    ),
    Allowed(
        issue="PERMISSIONS_MANAGEMENT_ACTIONS",
        kind="identity",
        source=r"^data\.aws_iam_policy_document\.django_task ",
        detail=r'"actions": \["iam:passrole"\]',
        reason="the auditor flags iam:PassRole wherever it appears, whatever its resources and "
        "conditions; RunTask needs it, and the backend's is limited to the batch jobs' two roles "
        "and to ECS tasks (asserted in tests/e2e/test_task_role_policies.py)",
    ),
    Allowed(
        issue="PERMISSIONS_MANAGEMENT_ACTIONS",
        kind="identity",
        source=r'^module\.job\["[a-z0-9-]+"\]\.data\.aws_iam_policy_document\.scheduler( |$)',
        detail=r'"actions": \["iam:passrole"\]',
        reason="as for the backend: a job's scheduler must pass the roles its task definition names to "
        "RunTask, and passes exactly those two to ECS tasks (tests/e2e/test_task_role_policies.py)",
    ),
    # The CI roles' managed policies are operator-policies/*.json, split in parts (`<file>-<n>`,
    # modules/ci-roles): the operators' files' findings, judged there with their reasons, follow them.
    *(
        dataclasses.replace(entry, source=re.sub(r"(\w+)\\\.json$", CI_PART, entry.source))
        for entry in OPERATOR_ALLOWED
        if "-state" not in entry.source
    ),
)


def test_every_policy_document_is_linted(each: EnvironmentPlan) -> None:
    documents = plan_documents(each.plan.raw)
    sources = {source for doc in documents for source in doc.sources}
    kinds = Counter(doc.kind for doc in documents)
    # The roles' trust policies (ECS tasks, the jobs' task roles among them: the same document;
    # flow logs, the renewal function and its scheduler, the CI plan and apply roles, each job's
    # scheduler), the task, execution, flow log, renewal, CI and job scheduler policies, the bucket
    # policies and the secrets' (the database password's differs: the CI roles read its value).
    jobs = len(each.plan.of_type("aws_scheduler_schedule")) - 1  # the renewal function's is the other
    assert kinds["trust"] == 6 + jobs and kinds["identity"] >= 6 + jobs and kinds["resource"] >= 4, kinds
    for address in each.plan.of_type("aws_iam_role"):
        assert f"{address}.assume_role_policy" in sources, address
    for address in each.plan.of_type("aws_secretsmanager_secret_policy"):
        assert f"{address}.policy" in sources, address
    for address in ("data.aws_iam_policy_document.django_task", "data.aws_iam_policy_document.concept_task"):
        assert address in sources, sorted(sources)
    assert unlintable(each.plan.raw) == []


def test_parliament_finds_nothing(each: EnvironmentPlan) -> None:
    findings = [f for doc in plan_documents(each.plan.raw) for f in lint_document(doc)]
    assert [str(f) for f in unexplained(findings, ALLOWED)] == []


def test_every_allowed_finding_still_occurs(plans: dict[str, EnvironmentPlan]) -> None:
    """An allow-list entry that no longer matches anything is removed, not kept "just in case"."""
    findings = [f for p in plans.values() for doc in plan_documents(p.plan.raw) for f in lint_document(doc)]
    assert [a.issue for a in ALLOWED if not any(a.covers(f) for f in findings)] == []
