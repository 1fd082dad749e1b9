"""What real AWS would refuse (or allow) the task roles, asserted on the dev, prod and local plans.

moto evaluates no IAM here (the emulator runs without INITIAL_NO_AUTH_ACTION_COUNT), so a missing
permission only shows on AWS: these tests evaluate the planned documents the way IAM matches a
request (action and resource wildcards, the conditions the statements carry) for the requests the
applications make. The plans are the environment plans' (one per session).
"""

from __future__ import annotations

import re
from typing import Any

import parliament
import pytest

from tests.e2e.test_environment_plans import EnvironmentPlan
from tests.policy_lint import PolicyDocument, plan_documents

pytestmark = pytest.mark.e2e

TASK_ROLES = ("concept", "django")


# -- IAM's matching, for the statements these documents use -----------------------------------------


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def iam_match(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` and `:` included), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    """The condition operators these documents use; a key the request lacks fails the condition."""
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator in ("StringEquals", "ArnEquals") and actual not in _as_list(expected):
                return False
            if operator in ("StringLike", "ArnLike") and not any(iam_match(e, actual) for e in _as_list(expected)):
                return False
            if operator not in ("StringEquals", "ArnEquals", "StringLike", "ArnLike"):
                raise AssertionError(f"condition operator {operator} is not evaluated here: add it")
    return True


def allowing(doc: PolicyDocument, action: str, resource: str, context: dict[str, str] | None = None) -> list[str]:
    """The Sids of the Allow statements of `doc` that grant `action` on `resource` (none denies here)."""
    sids = []
    for st in _as_list(doc.document.get("Statement")):
        assert "NotAction" not in st and "NotResource" not in st, f"evaluate {st} here first"
        if st.get("Effect") != "Allow":
            continue
        if not any(iam_match(a, action, case=False) for a in _as_list(st.get("Action"))):
            continue
        if any(iam_match(r, resource) for r in _as_list(st.get("Resource"))) and conditions_hold(st, context or {}):
            sids.append(st.get("Sid", "?"))
    return sids


def task_policy(each: EnvironmentPlan, role: str) -> PolicyDocument:
    source = f"data.aws_iam_policy_document.{role}_task"
    found = [doc for doc in plan_documents(each.plan.raw) if source in doc.sources]
    assert len(found) == 1, f"no {source} in the plan"
    return found[0]


def identity_policies(each: EnvironmentPlan) -> list[PolicyDocument]:
    """The identity policies of the stack's running roles (tasks, execution, flow logs, renewal,
    schedulers). Not the CI roles': their apply role is what Terraform runs as, which creates the
    buckets and passes the roles by design (operator-policies/apply.json, tests/modules/test_ci_roles.py)."""
    return [
        doc
        for doc in plan_documents(each.plan.raw)
        if doc.kind == "identity" and not any(source.startswith("module.ci_roles[") for source in doc.sources)
    ]


def arn(each: EnvironmentPlan, service: str, rest: str) -> str:
    variables = each.plan.raw["variables"]
    region = "" if service in ("iam", "s3") else variables["region"]["value"]
    account = "" if service == "s3" else variables["account_id"]["value"]
    return f"arn:aws:{service}:{region}:{account}:{rest}"


def role_arn(each: EnvironmentPlan, address: str) -> str:
    role = each.plan.resources[address]
    return arn(each, "iam", f"role{role.get('path') or '/'}{role['name']}")


# -- the task roles' documents are known when the plan is reviewed ---------------------------------


def test_task_role_policies_are_whole_in_the_plan(each: EnvironmentPlan) -> None:
    """No ARN "known after apply": the plan shows, and these tests read, each task role's whole policy."""
    for role in TASK_ROLES:
        doc = task_policy(each, role)
        assert not doc.partial, f"{role}: a resource or condition of its policy is unknown at plan time"
        assert f'module.ecs.aws_iam_role_policy.task["{role}"].policy' in doc.sources, doc.sources
    # The ARNs built from names are those of the resources planned.
    django = task_policy(each, "django")
    buckets = sorted(b["bucket"] for b in each.plan.of_type("aws_s3_bucket").values())
    assert [sid for b in buckets for sid in allowing(django, "s3:ListBucket", arn(each, "s3", b))] == [
        "ListOwnBuckets"
    ] * len(buckets)
    for queue in each.plan.of_type("aws_sqs_queue").values():
        # The jobs' dead-letter queues are their schedulers' (modules/scheduled-job), not the backend's.
        own = [] if queue["name"].endswith("-dead-letter") else ["UseOwnQueues"]
        assert allowing(django, "sqs:SendMessage", arn(each, "sqs", queue["name"])) == own, queue["name"]


# -- 1. RunTask of a batch task definition: iam:PassRole on exactly its roles ---------------------


def test_backend_may_pass_exactly_the_batch_jobs_roles_to_ecs_tasks(each: EnvironmentPlan) -> None:
    """AWS refuses RunTask of a task definition naming a task or execution role the caller may not pass."""
    django = task_policy(each, "django")
    # The batch jobs' task definitions name the shared execution role and the backend's task role.
    roles = [role_arn(each, a) for a in ("module.ecs.aws_iam_role.execution", 'module.ecs.aws_iam_role.task["django"]')]
    to_ecs_tasks = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    for role in roles:
        assert allowing(django, "iam:PassRole", role, to_ecs_tasks) == ["PassBatchJobRoles"], role
        assert allowing(django, "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"}) == [], role
    passes = [st for st in django.document["Statement"] if "iam:PassRole" in _as_list(st["Action"])]
    assert [sorted(_as_list(st["Resource"])) for st in passes] == [sorted(roles)]  # those two, nothing else
    assert passes[0]["Condition"] == {"StringEquals": to_ecs_tasks}
    others = ('module.ecs.aws_iam_role.task["concept"]', "module.network.aws_iam_role.flow_logs")
    assert [r for r in others if allowing(django, "iam:PassRole", role_arn(each, r), to_ecs_tasks)] == []
    # No other policy passes any role but the jobs' schedulers: each the execution role and its own
    # job's task role (modules/scheduled-job), never the backend's.
    for doc in identity_policies(each):
        if doc.sources == django.sources:
            continue
        job = next((source.split('"')[1] for source in doc.sources if source.startswith('module.job["')), None)
        if job is None:
            assert allowing(doc, "iam:PassRole", roles[0], to_ecs_tasks) == [], doc.sources
            continue
        own = role_arn(each, f'module.job["{job}"].aws_iam_role.task')
        assert allowing(doc, "iam:PassRole", own, to_ecs_tasks) == ["PassTheJobsRoles"], doc.sources
        assert allowing(doc, "iam:PassRole", roles[0], to_ecs_tasks) == ["PassTheJobsRoles"], doc.sources
        assert allowing(doc, "iam:PassRole", roles[1], to_ecs_tasks) == [], doc.sources
        assert allowing(doc, "iam:PassRole", own, {"iam:PassedToService": "ec2.amazonaws.com"}) == [], doc.sources
    # What the roles are passed for: RunTask of the batch jobs' task definitions, on the batch cluster.
    batch = each.plan.resources["module.batch.aws_ecs_cluster.this"]["name"]
    job = arn(each, "ecs", f"task-definition/{batch}-report:3")
    assert allowing(django, "ecs:RunTask", job, {"ecs:cluster": arn(each, "ecs", f"cluster/{batch}")}) == [
        "RunBatchJobs"
    ]
    assert allowing(django, "ecs:RunTask", job, {"ecs:cluster": arn(each, "ecs", f"cluster/{batch[:-6]}")}) == []


# -- 2. GetParametersByPath is authorised against the path itself ---------------------------------


def test_task_roles_may_read_their_parameters_by_path(each: EnvironmentPlan) -> None:
    """The applications call GetParametersByPath(Path=PARAMETER_PREFIX), /<project>/<env> without a slash."""
    prefix = f"/{each.env.project}/{each.env.name}"
    names = sorted(p["name"] for p in each.plan.of_type("aws_ssm_parameter").values())
    assert names and all(n.startswith(prefix + "/") for n in names), names
    for role in TASK_ROLES:
        doc = task_policy(each, role)
        for path in (prefix, prefix + "/", prefix + "/buckets"):
            assert allowing(doc, "ssm:GetParametersByPath", arn(each, "ssm", f"parameter{path}")), (role, path)
        for name in names:
            assert allowing(doc, "ssm:GetParameter", arn(each, "ssm", f"parameter{name}")), (role, name)
            assert allowing(doc, "ssm:GetParameters", arn(each, "ssm", f"parameter{name}")), (role, name)
        # Neither the parent path (every environment's parameters) nor a sibling that shares the prefix.
        for path in (f"/{each.env.project}", prefix + "x", prefix + "-other/db"):
            assert allowing(doc, "ssm:GetParametersByPath", arn(each, "ssm", f"parameter{path}")) == [], (role, path)


# -- 3. The access logs: readable, never written or deleted by an application ---------------------

# Every S3 action AWS's own reference classes as Write, Permissions management or Tagging.
S3_CHANGES = sorted(
    f"s3:{p['privilege']}"
    for service in parliament.iam_definition
    if service["prefix"] == "s3"
    for p in service["privileges"]
    if p["access_level"] in ("Write", "Permissions management", "Tagging")
)


def test_no_role_may_write_or_delete_in_the_log_bucket(each: EnvironmentPlan) -> None:
    log = each.plan.resources["module.log_bucket.aws_s3_bucket.this"]["bucket"]
    staging = each.plan.resources['module.bucket["staging"].aws_s3_bucket.this']["bucket"]
    # The bucket, and one of its access logs (modules/s3: target_prefix s3/<bucket>/).
    targets = arn(each, "s3", log), arn(each, "s3", f"{log}/s3/{staging}/2026-01-01-00-00-00-ABCDEF0123456789")
    assert len(S3_CHANGES) > 50 and "s3:PutObject" in S3_CHANGES and "s3:DeleteObjectVersion" in S3_CHANGES
    # The task roles, the execution role, the flow logs role. A value unknown at plan time is
    # UNKNOWN_ARN, which matches the log bucket too: a partial document cannot pass by accident.
    for doc in identity_policies(each):
        granted = {(a, t): allowing(doc, a, t) for a in S3_CHANGES for t in targets}
        assert {k: v for k, v in granted.items() if v} == {}, doc.sources
    # What the backend keeps: its own buckets' objects, and reading the access logs.
    django = task_policy(each, "django")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allowing(django, action, arn(each, "s3", f"{staging}/uploads/a.csv")) == ["ReadWriteOwnObjects"]
    assert allowing(django, "s3:GetObject", targets[1]) == ["ReadAccessLogs"]
