"""The operator commands as roles holding exactly `operator-policies/`, with moto's IAM authorisation on.

On the session stack, each test switches authorisation on (`/_stack/iam-auth`), runs one command as
its family's roles (tests/e2e/fixtures/operators.py) and switches it off again, whatever happens:
the other tests share the emulator. A call the documented policy lacks fails the command, and so
the test, with the AccessDenied naming the action. The emulator's own identity (its root profile
and role, used by the ACME server's DNS bridge and by these tests' boto3) stays allowed
everything while authorisation is on.

What moto 5.2.5's authorisation proves, and what it does not (stackops/local/aws/iam_auth.py):
- every service these commands call is authorised by action: EC2, ELBv2, ECS, ECR, IAM, CloudWatch
  Logs, RDS, S3, SQS, SSM, Secrets Manager, Route53 (after the emulator's signature fix), ACM,
  Application Auto Scaling, DynamoDB and STS;
- resource scopes are checked only for S3 (bucket and object ARNs), SQS (queue ARNs), IAM role
  actions (role ARNs) and sts:AssumeRole; for every other service moto does not name the resource,
  so a scoped statement is taken to cover it: a wrong ARN there passes here and fails in AWS;
- moto checks one action per API call: the extra permissions AWS asks for some calls are not
  checked (secretsmanager:TagResource for CreateSecret with tags, iam:PassRole for
  RegisterTaskDefinition and RunTask, ecs:TagResource for tags at registration); the policies
  grant them from AWS's documentation;
- trust policies are checked only for a role in the caller's own account (the master roles here);
- `sts:GetCallerIdentity` is always allowed, as in AWS.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_inv
from tests.e2e.fixtures import operators as operator_identities
from tests.e2e.fixtures.operators import Operator

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

ROTATED = "internal-api-token"  # rotatable, random: rotating it changes no ARN, so no plan
SECRET = f"/exii/local/{ROTATED}"
DENIED = ("AccessDenied", "not authorized to perform", "InvalidClientTokenId", "SignatureDoesNotMatch")


@pytest.fixture(scope="module")
def operators(local_stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Operator]]:
    folder: Path = tmp_path_factory.mktemp("operators")
    yield operator_identities.create(local_stack.env, folder)
    operator_identities.remove(local_stack.env)


def run_as(operator: Operator, *args: str, timeout: float = 600) -> tuple[int, str, float]:
    """`inv ARGS` as the operator: exit code, its output followed by every request the emulator
    refused meanwhile (from its trace, moto.log), and the seconds it took."""
    started = time.monotonic()
    with operator_identities.refused_requests() as refused:
        result = run_inv(*args, env=operator.environ, timeout=timeout)
    seconds = time.monotonic() - started
    return result.returncode, "\n".join([result.stdout + result.stderr, *refused]), seconds


def assert_allowed(code: int, output: str) -> None:
    refused = [line for line in output.splitlines() if line.startswith("call ") or any(w in line for w in DENIED)]
    assert code == 0 and not refused, "\n".join(refused) or output[-4000:]


def test_plan_as_the_plan_only_role(operators, authorised):
    code, output, seconds = run_as(operators["plan"], "plan", "--env", "local")
    assert_allowed(code, output)
    print(f"inv plan as exii-operator-plan: {seconds:.1f} s")


def test_status_as_the_plan_only_role(operators, authorised):
    # A refused read would only make its section "unavailable" (exit 0): the trace and the text catch it.
    code, output, seconds = run_as(operators["plan"], "status", "--env", "local")
    assert_allowed(code, output)
    assert "unavailable" not in output, output[-4000:]
    print(f"inv status as exii-operator-plan: {seconds:.1f} s")


def test_refresh_as_the_deploy_role(operators, authorised):
    # --force: a real rollout (UpdateService and the wait), onto the revision that runs already.
    code, output, seconds = run_as(operators["deploy"], "refresh", "--env", "local", "--force")
    assert_allowed(code, output)
    print(f"inv refresh --force as exii-operator-deploy: {seconds:.1f} s")


def test_job_list_as_the_plan_only_role(operators, authorised):
    code, output, seconds = run_as(operators["plan"], "job.list", "--env", "local")
    assert_allowed(code, output)
    assert "clearsessions" in output and "ENABLED" in output, output[-4000:]
    print(f"inv job.list as exii-operator-plan: {seconds:.1f} s")


def test_job_run_as_the_deploy_role(operators, authorised):
    code, output, seconds = run_as(operators["deploy"], "job.run", "--env", "local", "clearsessions")
    assert_allowed(code, output)
    assert "job clearsessions succeeded" in output, output[-4000:]
    print(f"inv job.run as exii-operator-deploy: {seconds:.1f} s")


def test_cert_renewal_as_the_cert_role(operators, authorised, local_stack):
    acm = local_stack.client("acm")  # the emulator's own identity: allowed while authorisation is on
    arn = local_stack.outputs["certificate_arn"]
    serial = acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"]
    code, output, seconds = run_as(operators["cert"], "cert", "--env", "local", "--force")
    assert_allowed(code, output)
    # Renewed in place: DNS-01 through Route53 (certbot, as the cert role), re-imported under the same ARN.
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"] != serial
    print(f"inv cert --force as exii-operator-cert: {seconds:.1f} s")


@pytest.fixture
def secret_kept(local_stack) -> Iterator[str]:
    """The rotated secret's value, put back afterwards (the stack is shared)."""
    client = local_stack.client("secretsmanager")
    value = client.get_secret_value(SecretId=SECRET)["SecretString"]
    yield value
    if client.get_secret_value(SecretId=SECRET)["SecretString"] != value:
        client.put_secret_value(SecretId=SECRET, SecretString=value)


def test_secrets_as_the_secrets_role(operators, authorised, local_stack, secret_kept):
    code, output, seconds = run_as(operators["secrets"], "secrets", "--env", "local", "--dry-run")
    assert_allowed(code, output)
    rotate = ("secrets", "--env", "local", "--rotate", "--only", ROTATED)
    code, output, rotate_seconds = run_as(operators["secrets"], *rotate)
    assert_allowed(code, output)
    current = local_stack.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"]
    assert current != secret_kept  # really written, as the secrets role
    print(f"inv secrets --dry-run: {seconds:.1f} s, --rotate --only {ROTATED}: {rotate_seconds:.1f} s")


def test_authorisation_is_on_the_plan_role_cannot_write_a_secret(operators, authorised, local_stack, secret_kept):
    code, output, _ = run_as(operators["plan"], "secrets", "--env", "local", "--rotate", "--only", ROTATED)
    assert code != 0, output[-3000:]
    assert "secretsmanager:PutSecretValue" in output and "AccessDenied" in output, output[-3000:]
    assert re.search(r"secretsmanager PutSecretValue \S+ .*-> 403 ", output), output[-3000:]  # the trace agrees
    assert local_stack.client("secretsmanager").get_secret_value(SecretId=SECRET)["SecretString"] == secret_kept


def test_migrate_with_its_snapshot_as_the_deploy_role(operators, authorised, local_stack):
    rds = local_stack.client("rds")  # the emulator's own identity: allowed while authorisation is on
    tags = [{"Key": "managed-by", "Value": "stackops"}, {"Key": "stackops:environment", "Value": "local"},
            {"Key": "stackops:purpose", "Value": "pre-migrate"}]  # fmt: skip
    for day in range(1, 11):  # as many as the tool keeps: the new snapshot prunes one, as the deploy role
        name = f"exii-local-premigrate-r0-202602{day:02d}-000000"
        rds.create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier="exii-local", Tags=tags)
    code, output, seconds = run_as(operators["deploy"], "migrate", "--env", "local")
    assert_allowed(code, output)
    assert "snapshot: taking exii-local-premigrate-" in output
    assert "kept the newest 10; deleted" in output and "not pruned" not in output, output[-3000:]
    print(f"inv migrate (snapshot first) as exii-operator-deploy: {seconds:.1f} s")


def test_snapshots_and_a_restore_as_the_database_role(operators, authorised, local_stack):
    code, output, _ = run_as(operators["database"], "db.snapshots", "--env", "local", "--json")
    assert_allowed(code, output)
    snapshots, _ = json.JSONDecoder().raw_decode(output)  # stdout (the JSON) comes first
    newest = next(s for s in snapshots if s["status"] == "available")
    target = "exii-local-restored-operator"
    rds = local_stack.client("rds")  # the emulator's own identity: allowed while authorisation is on
    try:
        code, output, seconds = run_as(
            operators["database"], "db.restore", "--env", "local", "--snapshot", newest["name"], "--name", target
        )
        assert_allowed(code, output)
    finally:
        if any(i["DBInstanceIdentifier"] == target for i in rds.describe_db_instances()["DBInstances"]):
            rds.delete_db_instance(DBInstanceIdentifier=target, SkipFinalSnapshot=True)
    print(f"inv db.restore as exii-operator-database: {seconds:.1f} s")
