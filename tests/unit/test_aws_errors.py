"""The one line an AWS or botocore error becomes (stackops/errors.py), and the task layer's last line of defence.

Errors come from real botocore clients answered by a Stubber, so the operation and the service are
found where they are for a real call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber
from invoke import Exit

import tasks
from stackops import cli
from stackops.errors import OpsError, aws_error_message, aws_errors, session_profiles


@pytest.fixture
def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-2")  # noqa: S106


def failing(session: boto3.Session, service: str, method: str, code: str, **error: Any) -> Iterator[Any]:
    """A client of `service` whose `method` fails with `code` (extra: http_status_code, response_meta...)."""
    client = session.client(service)
    stub = Stubber(client)
    stub.add_client_error(method, service_error_code=code, service_message=error.pop("message", "nope"), **error)
    with stub:
        yield getattr(client, method)


def raised(session: boto3.Session, service: str, method: str, code: str, **kwargs: Any) -> BaseException:
    for call in failing(session, service, method, code, **{k: v for k, v in kwargs.items() if k != "params"}):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            call(**kwargs.get("params", {}))
    return caught.value


def test_expired_credentials_name_the_profiles_to_log_in_with(session: boto3.Session) -> None:
    exc = raised(session, "sts", "get_caller_identity", "ExpiredToken", message="The security token is expired")
    assert aws_error_message(exc, "checking the account", profiles=["exiidev", "exiimaster", "exiidev"]) == (
        "checking the account: sts:GetCallerIdentity failed with ExpiredToken (The security token is expired): "
        "the credentials have expired: refresh them (`aws sso login --profile exiidev`, "
        "`aws sso login --profile exiimaster`, or your CI's role), run again"
    )
    request_expired = raised(session, "ec2", "describe_vpcs", "RequestExpired")
    assert "the credentials have expired (or this machine's clock is wrong)" in aws_error_message(request_expired)


@pytest.mark.parametrize(
    ("service", "method", "code", "action", "docs"),
    [
        ("secretsmanager", "list_secrets", "AccessDeniedException", "secretsmanager:ListSecrets",
         "'Operator policies'"),
        ("ec2", "describe_vpcs", "UnauthorizedOperation", "ec2:DescribeVpcs", "'Operator policies'"),
        ("route53", "list_hosted_zones", "AccessDenied", "route53:ListHostedZones", "'Certificates'"),
    ],
)  # fmt: skip
def test_access_denied_names_the_action_and_where_the_policy_is(
    session: boto3.Session, service: str, method: str, code: str, action: str, docs: str
) -> None:
    line = aws_error_message(raised(session, service, method, code, message="User x is not authorized"))
    assert line.startswith(f"{action} failed with {code} (User x is not authorized): access denied: ")
    assert f"the profile's IAM policy must allow {action} (see the README's {docs}" in line


def test_access_denied_names_the_iam_action_where_it_differs_from_the_operation(session: boto3.Session) -> None:
    head = raised(session, "s3", "head_bucket", "AccessDenied", params={"Bucket": "exii-terraform-state-1"})
    assert "the profile's IAM policy must allow s3:ListBucket (see" in aws_error_message(head)  # not s3:HeadBucket


def test_throttling_says_how_many_attempts_the_sdk_made(session: boto3.Session) -> None:
    meta = {"RetryAttempts": 2, "MaxAttemptsReached": True}
    exc = raised(session, "ssm", "get_parameter", "ThrottlingException", response_meta=meta,
                 params={"Name": "/exii/dev/x"})  # fmt: skip
    assert aws_error_message(exc) == (
        "ssm:GetParameter failed with ThrottlingException (nope): throttled: AWS still refused after the SDK's "
        "3 attempts (standard retry mode): try again later, or allow more attempts with AWS_MAX_ATTEMPTS"
    )
    query = raised(session, "elbv2", "describe_load_balancers", "Throttling")
    assert "elasticloadbalancing:DescribeLoadBalancers failed with Throttling (nope): throttled: " in (
        aws_error_message(query)
    )


def test_a_bucket_of_another_account_and_a_server_error(session: boto3.Session) -> None:
    taken = raised(session, "s3", "create_bucket", "BucketAlreadyExists", params={"Bucket": "exii-state"})
    assert aws_error_message(taken).endswith(
        "the bucket name is owned by another AWS account (bucket names are global): choose another `bucket` in "
        "the environment's backend.hcl"
    )
    down = raised(session, "acm", "list_certificates", "ServiceUnavailable", http_status_code=503,
                  response_meta={"RetryAttempts": 2})  # fmt: skip
    assert aws_error_message(down).endswith("AWS failed on its side after the SDK's 3 attempts: try again later")


def test_an_unknown_code_is_shown_as_aws_said_it(session: boto3.Session) -> None:
    exc = raised(session, "ecs", "describe_services", "ClusterNotFoundException", message="Cluster not found.",
                 params={"services": ["s"]})  # fmt: skip
    assert aws_error_message(exc, "refresh") == (
        "refresh: ecs:DescribeServices failed with ClusterNotFoundException (Cluster not found.)"
    )


def test_without_a_client_on_the_traceback_the_operation_alone_is_named() -> None:
    exc = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "x"}}, "HeadBucket")
    assert aws_error_message(exc).startswith("HeadBucket failed with AccessDenied (x): access denied: ")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (botocore.exceptions.NoCredentialsError(),
         "Unable to locate credentials: configure the profile (`aws configure --profile exiidev`), log in "
         "(`aws sso login --profile exiidev`) or give CI its role"),
        (botocore.exceptions.TokenRetrievalError(provider="sso", error_msg="token expired"),
         "Error when retrieving token from sso: token expired: the SSO session has expired: "
         "`aws sso login --profile exiidev`, then run again"),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="https://sts.eu-west-2.amazonaws.com/"),
         'cannot reach AWS: Could not connect to the endpoint URL: "https://sts.eu-west-2.amazonaws.com/": '
         "check the network or proxy (for --env local: inv local.status)"),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="https://acm"),
         'cannot reach AWS: Read timeout on endpoint URL: "https://acm": check the network or proxy (for '
         "--env local: inv local.status)"),
    ],
)  # fmt: skip
def test_botocore_errors_get_their_fix(exc: BaseException, expected: str) -> None:
    assert aws_error_message(exc, profiles=["exiidev"]) == expected


def test_a_long_message_stays_one_short_line(session: boto3.Session) -> None:
    exc = raised(session, "acm", "list_certificates", "ValidationException", message="bad\nvalue " * 200)
    line = aws_error_message(exc)
    assert "\n" not in line and len(line) < 400


def test_aws_errors_names_what_was_being_done(session: boto3.Session) -> None:
    for call in failing(session, "acm", "import_certificate", "AccessDeniedException"):
        with pytest.raises(OpsError) as caught, aws_errors("importing the certificate into ACM", profiles=["p"]):
            call(Certificate=b"c", PrivateKey=b"k")
    assert str(caught.value).startswith(
        "importing the certificate into ACM: acm:ImportCertificate failed with AccessDeniedException (nope): "
    )
    assert caught.value.exit_code == 1
    with pytest.raises(OpsError, match=r"^not an AWS error$"), aws_errors("anything"):
        raise OpsError("not an AWS error")  # the package's own errors pass unchanged


def test_the_task_layer_turns_an_unwrapped_aws_error_into_the_line(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A command's collector settings are for a command's process, not this test run's.
    monkeypatch.setattr(cli, "tune_garbage_collector", lambda: None)

    @tasks.operation
    def look_up(c: object, env: str | None = None) -> None:
        for call in failing(session, "acm", "list_certificates", "ExpiredTokenException"):
            call()

    with pytest.raises(Exit) as caught:
        look_up(None, env="dev")
    assert caught.value.code == 1
    message = str(caught.value.message)
    assert message.startswith("error: acm:ListCertificates failed with ExpiredTokenException (nope): ")
    assert "(`aws sso login --profile exiidev`, `aws sso login --profile exiimaster`, or your CI's role)" in message
    assert (os.environ["AWS_RETRY_MODE"], os.environ["AWS_MAX_ATTEMPTS"]) == ("standard", "3")  # set first

    @tasks.operation
    def broken(c: object) -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):  # not an AWS error: the traceback stays
        broken(None)


def test_a_sessions_profile_is_the_one_to_log_in_with(session: boto3.Session) -> None:
    assert session_profiles(SimpleNamespace(profile_name="exiidev")) == ["exiidev"]
    assert session_profiles(session) == []  # boto3 says "default" for the default credential chain too
    assert session_profiles(object()) == []  # a stand-in session: the fix says PROFILE
    exc = raised(session, "sts", "get_caller_identity", "ExpiredToken")
    assert "(`aws sso login --profile PROFILE`, or your CI's role)" in aws_error_message(exc, profiles=[None])


def test_create_secrets_py_ends_an_aws_error_with_the_line(
    session: boto3.Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from stackops.paths import ROOT

    spec = importlib.util.spec_from_file_location("create_secrets", ROOT / "bin" / "create-secrets.py")
    assert spec and spec.loader
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)

    calls = failing(session, "secretsmanager", "list_secrets", "ExpiredTokenException")
    call = next(calls)  # the client exists before AWS_PROFILE names a profile this test has not configured

    def run(args: object, environ: object) -> int:
        call()
        return 0

    monkeypatch.setattr(cli, "run", run)
    monkeypatch.setenv("AWS_PROFILE", "exiidev")
    assert cli.main([]) == 1
    calls.close()
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert line.startswith("error: secretsmanager:ListSecrets failed with ExpiredTokenException (nope): ")
    assert "`aws sso login --profile exiidev`" in line
