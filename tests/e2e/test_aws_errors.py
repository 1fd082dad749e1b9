"""What real AWS would refuse, through the real command line: each injected AWS error (the emulator's
`/_stack/faults`) ends a command with exit 1 and one `error:` line naming the operation, the code
and the fix, never a traceback.

All but the last test fail fast and need no stack: they run on an emulator of their own (no ACME
server), so the session's stack worker is left alone. The Terraform test checks that the provider
(the Go SDK) reads the code from every protocol's error shape and keeps its own 25 attempts.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from stackops import environments, retries
from stackops.local import emulator
from stackops.local.aws import client
from stackops.terraform import Terraform
from tests.conftest import free_port, run_inv

pytestmark = pytest.mark.e2e

FIXTURE_ROOT = Path(__file__).parent / "fixtures" / "faults_root"
LOCAL = environments.load("local")
EXPIRED_FIX = f"refresh them (`aws sso login --profile {LOCAL.profile}`"


@dataclass
class PrivateAws:
    """An emulator of this module's own, and the variables that point `inv` at it."""

    endpoint: str
    state: Path
    env: dict[str, str]

    def trace(self, operation: str) -> list[str]:
        log = self.state / "local" / "moto.log"
        return [line for line in log.read_text().splitlines() if f" {operation} " in line]


@pytest.fixture(scope="module")
def private_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateAws]:
    state = tmp_path_factory.mktemp("faults-state")
    status = emulator.start(state / "local", free_port(), acme=False)
    try:
        variables = {"STACK_STATE_DIR": str(state), "STACK_LOCAL_DIR": str(state / "local"),
                     "STACK_LOCAL_PORT": str(status.port)}  # fmt: skip
        yield PrivateAws(status.endpoint, state, variables)
    finally:
        emulator.stop(state / "local")


@pytest.fixture
def aws(private_aws: PrivateAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateAws]:
    """The private emulator, its faults cleared; boto3 in this test reaches it too."""
    for name in (*emulator.CLEARED_ENV_VARS, "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):  # the attempts are stackops'
        monkeypatch.delenv(name, raising=False)
    for name, value in {**private_aws.env, **emulator.environ(private_aws.state / "local")}.items():
        monkeypatch.setenv(name, value)
    client.clear_request_faults(private_aws.endpoint)
    yield private_aws
    client.clear_request_faults(private_aws.endpoint)


def session(*, master: bool = False) -> boto3.Session:
    return boto3.Session(profile_name=LOCAL.master_profile if master else LOCAL.profile, region_name=LOCAL.region)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 1, and stderr is exactly one `error:` line (no traceback, nothing else)."""
    assert result.returncode == 1, f"exit {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- ExpiredToken at the account guard, the first call of every command ------------------------------
@pytest.mark.parametrize("command", [["secrets", "--dry-run"], ["plan"], ["refresh"], ["cert"]])
def test_expired_credentials_stop_every_command_at_the_account_guard(aws: PrivateAws, command: list[str]) -> None:
    # The guard asks both accounts at once (stackops/guard.py): both answers say expired, and the
    # environment's is the one reported, as when it was asked first.
    client.add_request_fault(aws.endpoint, "sts", "GetCallerIdentity", "ExpiredToken", count=2,
                             message="The security token included in the request is expired")  # fmt: skip
    line = one_error_line(run_inv(command[0], "--env", "local", *command[1:], env=aws.env, timeout=120))
    assert line == (
        f"error: checking the account of {LOCAL.credentials_label()}: sts:GetCallerIdentity failed with "
        "ExpiredToken (The security token included in the request is expired): the credentials have expired: "
        f"{EXPIRED_FIX}, or your CI's role), run again"
    )


# -- AccessDenied ------------------------------------------------------------------------------------
def test_access_denied_to_secrets_manager_names_the_action(aws: PrivateAws) -> None:
    client.add_request_fault(aws.endpoint, "secretsmanager", "DescribeSecret", "AccessDeniedException", count=1,
                             message="User is not authorized to perform: secretsmanager:DescribeSecret")  # fmt: skip
    line = one_error_line(run_inv("secrets", "--env", "local", "--dry-run", env=aws.env, timeout=120))
    assert line.startswith(f"error: syncing {LOCAL.secret_prefix}")
    assert line.endswith(
        " with Secrets Manager: secretsmanager:DescribeSecret failed with AccessDeniedException (User is not "
        "authorized to perform: secretsmanager:DescribeSecret): access denied: the profile's IAM policy must allow "
        "secretsmanager:DescribeSecret (see the README's 'Operator policies' and operator-policies/)"
    )


def test_access_denied_to_route53_points_at_certbots_permissions(aws: PrivateAws) -> None:
    client.add_request_fault(aws.endpoint, "route53", "ListHostedZones", "AccessDenied", status=403, count=1)
    line = one_error_line(run_inv("cert", "--env", "local", env=aws.env, timeout=120))
    assert line.startswith(
        "error: finding the hosted zone of each name in Route53: route53:ListHostedZones failed with AccessDenied"
    )
    assert line.endswith(
        "access denied: the profile's IAM policy must allow route53:ListHostedZones (see the README's "
        "'Certificates' (certbot's Route53 permissions))"
    )


# -- ExpiredToken in the ACM look-up ------------------------------------------------------------------
def test_expired_credentials_in_the_acm_look_up(aws: PrivateAws) -> None:
    route53 = session().client("route53")
    if not route53.list_hosted_zones_by_name(DNSName=LOCAL.zone_name, MaxItems="1")["HostedZones"]:
        route53.create_hosted_zone(Name=LOCAL.zone_name, CallerReference="faults-test")
    client.add_request_fault(aws.endpoint, "acm", "ListCertificates", "ExpiredTokenException", count=1)
    line = one_error_line(run_inv("cert", "--env", "local", env=aws.env, timeout=120))
    assert line.startswith(
        "error: looking up the certificates this tool imported into ACM: acm:ListCertificates failed with "
        "ExpiredTokenException"
    )
    assert f"the credentials have expired: {EXPIRED_FIX}" in line


# -- ThrottlingException beyond the SDK's retries -----------------------------------------------------
def test_throttling_beyond_the_retries_stops_the_plan_before_terraform(aws: PrivateAws) -> None:
    s3 = session(master=True).client("s3")  # the state bucket the plan's first check looks for
    if LOCAL.state_bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=LOCAL.state_bucket, CreateBucketConfiguration={"LocationConstraint": LOCAL.region})
    client.add_request_fault(aws.endpoint, "secretsmanager", "ListSecrets", "ThrottlingException",
                             count=retries.MAX_ATTEMPTS + 1, message="Rate exceeded")  # fmt: skip
    before = len(aws.trace("ListSecrets"))
    line = one_error_line(run_inv("plan", "--env", "local", env=aws.env, timeout=120))
    assert line == (
        f"error: listing the secrets under {LOCAL.secret_prefix} in Secrets Manager: secretsmanager:ListSecrets "
        f"failed with ThrottlingException (Rate exceeded): throttled: AWS still refused after the SDK's "
        f"{retries.MAX_ATTEMPTS} attempts (standard retry mode): try again later, or allow more attempts with "
        "AWS_MAX_ATTEMPTS"
    )
    attempts = [line.split(" attempt=")[1].split()[0] for line in aws.trace("ListSecrets")[before:]]
    assert attempts == [f"{n}/{retries.MAX_ATTEMPTS}" for n in range(1, retries.MAX_ATTEMPTS + 1)]
    assert not (aws.state / "envs" / "local" / "terraform").exists()  # refused before Terraform ran


# -- the Terraform provider reads every shape ----------------------------------------------------------
def test_the_provider_reads_each_protocols_error_and_keeps_its_own_attempts(
    aws: PrivateAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", LOCAL.profile)  # the fixture root's provider names no profile
    s3 = session().client("s3")
    s3.create_bucket(Bucket="exii-faults-probe", CreateBucketConfiguration={"LocationConstraint": LOCAL.region})
    injected = {
        ("ssm", "GetParametersByPath"): ("AccessDeniedException", 400),  # JSON 1.1
        ("ec2", "DescribeVpcs"): ("UnauthorizedOperation", 403),  # EC2
        ("s3", "ListObjectsV2"): ("AccessDenied", 403),  # S3's <Error>
        ("route53", "ListHostedZones"): ("AccessDenied", 403),  # rest-xml's <ErrorResponse>
        ("iam", "ListRoles"): ("AccessDenied", 403),  # query
    }
    for (service, operation), (code, status) in injected.items():
        client.add_request_fault(aws.endpoint, service, operation, code, status=status, count=1)
    client.add_request_fault(aws.endpoint, "elasticloadbalancing", "DescribeLoadBalancers", "Throttling", count=1)
    tf = Terraform(LOCAL, root=FIXTURE_ROOT, data_dir=tmp_path / "data", workspace="default", backend_config=[],
                   var_args=["-var=bucket=exii-faults-probe"])  # fmt: skip
    tf.run("init", "-input=false", capture=True, workspace=False)
    plan = tf.run("plan", "-input=false", "-no-color", *tf.var_args(), capture=True, check=False, quiet=True)
    assert plan.returncode == 1
    errors = " ".join(plan.stderr.split())
    for (_, operation), (code, status) in injected.items():
        assert f"{operation}, https response error StatusCode: {status}" in errors, errors
        assert f"api error {code}: {code} injected by the embedded AWS" in errors, errors
    assert client.request_faults(aws.endpoint) == []  # each fault answered once: none was retried
    # Throttling is retried (and then succeeds) with the provider's 25 attempts, although the
    # environment Terraform got says AWS_MAX_ATTEMPTS=3 (stackops.retries: boto3's).
    assert tf.environ()["AWS_MAX_ATTEMPTS"] == "3" and tf.environ()["AWS_RETRY_MODE"] == "standard"
    balancers = [line.split(" attempt=")[1].split()[0] for line in aws.trace("DescribeLoadBalancers")]
    assert balancers[-2:] == ["1/25", "2/25"], balancers


# -- on the session's stack: an ECS call refused in `inv refresh` -------------------------------------
@pytest.mark.xdist_group("stack")
def test_access_denied_in_refresh(local_stack, emulated_aws) -> None:
    client.clear_request_faults(emulated_aws.endpoint)
    client.add_request_fault(emulated_aws.endpoint, "ecs", "DescribeServices", "AccessDeniedException", count=1)
    try:
        line = one_error_line(run_inv("refresh", "--env", "local", timeout=120))
    finally:
        client.clear_request_faults(emulated_aws.endpoint)
    assert line.startswith(
        "error: listing the revisions each service would move to: ecs:DescribeServices failed with "
        "AccessDeniedException"
    )
    assert "the profile's IAM policy must allow ecs:DescribeServices" in line
