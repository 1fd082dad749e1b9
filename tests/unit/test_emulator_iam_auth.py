"""The emulator's IAM authorisation switch and its fixes (stackops/local/aws/iam_auth.py), on moto's in-process mock.

Each test restores moto's settings, S3 action table and policy matcher, so the rest of the process
sees moto unchanged.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stackops.local.aws import IAM_AUTH_PATH, iam_auth
from stackops.local.aws.server import StackRoutes

REGION = "eu-west-2"
OTHER = "111122223333"
ADMIN = iam_auth.Admin("AKIAEMULATEDEXII0000", "emulated-secret", "exii-emulated-admin", ("123456789012", OTHER))


@pytest.fixture
def moto_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import settings
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase
    from moto.s3 import responses
    from moto.sts.responses import TokenResponse

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    monkeypatch.setattr(IAMPolicyStatement, "_check_element_matches", IAMPolicyStatement._check_element_matches)
    monkeypatch.setattr(IAMRequestBase, "_create_aws_request", IAMRequestBase._create_aws_request)
    monkeypatch.setattr(IAMPolicyStatement, "is_action_permitted", IAMPolicyStatement.is_action_permitted)
    monkeypatch.setattr(IAMRequestBase, "__init__", IAMRequestBase.__init__)
    monkeypatch.setattr(
        CloudWatchResponse,
        "_authenticate_and_authorize_normal_action",
        CloudWatchResponse._authenticate_and_authorize_normal_action,
    )
    monkeypatch.setattr(
        TokenResponse,
        "_authenticate_and_authorize_normal_action",
        TokenResponse._authenticate_and_authorize_normal_action,
    )
    table = copy.deepcopy(responses.ACTION_MAP)
    yield
    responses.ACTION_MAP.clear()
    responses.ACTION_MAP.update(table)


def route(method: str, body: Any = None) -> tuple[str, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    environ = {"CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)}
    return StackRoutes._handle(method, IAM_AUTH_PATH, environ)


def test_the_route_switches_authorisation_on_and_off(moto_restored: None) -> None:
    assert route("GET") == ("200 OK", {"enabled": False})
    assert route("POST", {}) == ("200 OK", {"enabled": True})
    assert route("GET") == ("200 OK", {"enabled": True})
    assert route("DELETE") == ("200 OK", {"enabled": False})
    assert iam_auth.enabled() is False


@pytest.mark.parametrize(
    "body",
    [
        {"admin": {"access_key_id": "AKIA1"}},
        {"admin": {**ADMIN.__dict__, "accounts": ["12"]}},
        {"other": 1},
        [1],
    ],
)
def test_a_malformed_request_is_refused_and_changes_nothing(moto_restored: None, body: Any) -> None:
    status, answer = route("POST", body)
    assert status == "400 Bad Request" and answer["error"]
    assert iam_auth.enabled() is False


def test_other_methods_are_not_allowed(moto_restored: None) -> None:
    assert route("PUT")[0] == "405 Method Not Allowed"


def _user_session(policy: dict[str, Any]) -> boto3.Session:
    """An IAM user holding `policy` (created while authorisation is off)."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="operator")
    iam.put_user_policy(UserName="operator", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    return boto3.Session(key["AccessKeyId"], key["SecretAccessKey"], region_name=REGION)


def _allow(actions: list[str], resource: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}


def _denied(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value)


@mock_aws
def test_a_statement_scoped_to_an_arn_grants_its_actions_and_nothing_else(moto_restored: None) -> None:
    iam_auth.install()
    boto3.client("ssm", region_name=REGION).put_parameter(Name="/exii/local/a", Value="v", Type="String")
    session = _user_session(_allow(["ssm:GetParameter"], f"arn:aws:ssm:{REGION}:123456789012:parameter/exii/local/*"))
    iam_auth.enable()
    ssm = session.client("ssm")
    assert ssm.get_parameter(Name="/exii/local/a")["Parameter"]["Value"] == "v"
    assert "ssm:DescribeParameters" in _denied(ssm.describe_parameters)
    # A key IAM does not know is refused, whatever it asks.
    stranger = boto3.client("ssm", region_name=REGION, aws_access_key_id="AKIAUNKNOWN", aws_secret_access_key="x")  # noqa: S106
    assert "InvalidClientTokenId" in _denied(lambda: stranger.get_parameter(Name="/exii/local/a"))
    iam_auth.disable()
    assert stranger.get_parameter(Name="/exii/local/a")["Parameter"]["Value"] == "v"


@mock_aws
def test_without_the_fix_moto_denies_a_scoped_statement(moto_restored: None) -> None:
    """Why the fix exists: moto matches the ARN pattern against the literal "*" it passes for SSM."""
    boto3.client("ssm", region_name=REGION).put_parameter(Name="/exii/local/a", Value="v", Type="String")
    session = _user_session(_allow(["ssm:GetParameter"], f"arn:aws:ssm:{REGION}:123456789012:parameter/exii/local/*"))
    iam_auth.enable()
    assert "ssm:GetParameter" in _denied(lambda: session.client("ssm").get_parameter(Name="/exii/local/a"))


@mock_aws
def test_s3_resources_are_checked_and_named_as_iam_names_them(moto_restored: None) -> None:
    iam_auth.install()
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in ("exii-local-a", "exii-other-b"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    session = _user_session(_allow(["s3:ListBucket"], "arn:aws:s3:::exii-local-*"))
    iam_auth.enable()
    s3 = session.client("s3")
    s3.head_bucket(Bucket="exii-local-a")  # HeadBucket is s3:ListBucket in IAM
    s3.list_objects_v2(Bucket="exii-local-a")
    assert "AccessDenied" in _denied(lambda: s3.list_objects_v2(Bucket="exii-other-b"))  # the ARN is checked
    # No longer read as s3:ListBucket: its own action (s3:GetEncryptionConfiguration) is needed.
    assert "AccessDenied" in _denied(lambda: s3.get_bucket_encryption(Bucket="exii-local-a"))


@mock_aws
def test_the_emulators_own_identity_stays_allowed_everything(moto_restored: None) -> None:
    iam_auth.install()
    iam_auth.enable(ADMIN)
    iam_auth.enable(ADMIN)  # idempotent: the same key, no second user or role
    root = boto3.Session(ADMIN.access_key_id, ADMIN.secret_access_key, region_name=REGION)
    assert root.client("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::123456789012:user/{iam_auth.ADMIN_USER}"
    root.client("ec2").describe_vpcs()
    credentials = root.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER}:role/{ADMIN.role_name}", RoleSessionName="tests"
    )["Credentials"]
    other = boto3.Session(
        credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"], region_name=REGION
    )
    other.client("ssm").describe_parameters()
    wrong = boto3.client("ec2", region_name=REGION, aws_access_key_id=ADMIN.access_key_id, aws_secret_access_key="y")  # noqa: S106
    assert "AuthFailure" in _denied(wrong.describe_vpcs)  # the signature is checked against the real secret


@mock_aws
@pytest.mark.parametrize("fixed", [True, False])
def test_signed_route53_requests_are_authorised(moto_restored: None, fixed: bool) -> None:
    """moto signed Route53's headers as the body of a request without one: every call was refused."""
    if fixed:
        iam_auth.install()
    zone = boto3.client("route53").create_hosted_zone(Name="exii.test", CallerReference="r")["HostedZone"]["Id"]
    session = _user_session(_allow(["route53:ListHostedZones", "route53:GetHostedZone"], "*"))
    iam_auth.enable()
    route53 = session.client("route53")
    if fixed:
        assert [z["Id"] for z in route53.list_hosted_zones()["HostedZones"]] == [zone]
        route53.get_hosted_zone(Id=zone)
        _denied(lambda: route53.list_resource_record_sets(HostedZoneId=zone))  # not granted: still refused
    else:
        _denied(route53.list_hosted_zones)  # granted, yet refused: the signature did not match


@mock_aws
@pytest.mark.parametrize("fixed", [True, False])
def test_signed_lambda_gets_are_authorised(moto_restored: None, fixed: bool) -> None:
    """Lambda's GETs (GetFunction: Terraform's refresh of the renewal function) have no body either."""
    if fixed:
        iam_auth.install()
    role = boto3.client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName="fn",
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": package.getvalue()},
    )
    session = _user_session(_allow(["lambda:GetFunction"], f"arn:aws:lambda:{REGION}:123456789012:function:fn"))
    iam_auth.enable()
    functions = session.client("lambda")
    if fixed:
        assert functions.get_function(FunctionName="fn")["Configuration"]["FunctionName"] == "fn"
        _denied(functions.list_functions)  # not granted: still refused
    else:
        assert "SignatureDoesNotMatch" in _denied(lambda: functions.get_function(FunctionName="fn"))


def _metric_policy() -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                 "Condition": {"StringEquals": {"cloudwatch:namespace": "Stackops/Certificates"}}}  # fmt: skip
    return {"Version": "2012-10-17", "Statement": [statement]}


def _put(session: boto3.Session, namespace: str) -> None:
    session.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "M", "Value": 1.0}])


@mock_aws
def test_put_metric_data_is_held_to_its_namespace_condition(moto_restored: None) -> None:
    iam_auth.install()
    session = _user_session(_metric_policy())
    iam_auth.enable()
    _put(session, "Stackops/Certificates")
    assert "cloudwatch:PutMetricData" in _denied(lambda: _put(session, "Other/Namespace"))
    assert iam_auth.request_conditions("cloudwatch", "PutMetricData", "N") == {"cloudwatch:namespace": "N"}
    assert iam_auth.request_conditions("cloudwatch", "GetMetricData", "N") == {}


@mock_aws
def test_without_the_fix_moto_denies_a_namespace_condition(moto_restored: None) -> None:
    """Why the fix exists: moto names the action monitoring:PutMetricData, gives the condition no
    value, and counts the unmet Allow as a Deny."""
    session = _user_session(_metric_policy())
    iam_auth.enable()
    assert "monitoring:PutMetricData" in _denied(lambda: _put(session, "Stackops/Certificates"))


@mock_aws
@pytest.mark.parametrize("fixed", [True, False])
def test_web_identity_sign_in_is_unsigned_and_its_session_is_authorised(moto_restored: None, fixed: bool) -> None:
    """AssumeRoleWithWebIdentity carries a token, no signature: AWS serves it so, moto refused it."""
    from botocore import UNSIGNED
    from botocore.config import Config

    if fixed:
        iam_auth.install()
    iam = boto3.client("iam", region_name=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
             "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.example"}}]}  # fmt: skip
    role = iam.create_role(RoleName="ci-plan", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = _allow(["ssm:DescribeParameters"], "*")
    iam.put_role_policy(RoleName="ci-plan", PolicyName="plan", PolicyDocument=json.dumps(policy))
    iam_auth.enable()
    sts = boto3.client("sts", region_name=REGION, config=Config(signature_version=UNSIGNED))
    sign_in = functools.partial(sts.assume_role_with_web_identity, RoleArn=role, RoleSessionName="ci",
                                WebIdentityToken="any.jwt.token")  # fmt: skip
    if not fixed:
        with pytest.raises(KeyError, match="AUTHORIZATION"):  # moto looks for the signature it lacks
            sign_in()
        return
    credentials = sign_in()["Credentials"]
    ssm = boto3.client(
        "ssm", region_name=REGION, aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"],
    )  # fmt: skip
    ssm.describe_parameters()  # the role's policy grants it
    assert "ssm:PutParameter" in _denied(lambda: ssm.put_parameter(Name="/x", Value="v", Type="String"))
