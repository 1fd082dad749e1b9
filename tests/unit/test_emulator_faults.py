"""Injected AWS errors (stackops/local/aws/faults.py, error_responses.py, the /_stack/faults route).

The emulator's middleware runs in a threaded werkzeug server in this process, in front of a tiny
WSGI application standing in for moto (moto's classes stay unpatched here); boto3 calls it as it
calls AWS, so each protocol's error shape is checked by botocore's own parsers. The Terraform
provider's (Go SDK) parsing of the same shapes is checked end to end in tests/e2e/test_aws_errors.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from werkzeug.serving import make_server

from stackops import retries
from stackops.local.aws import client, faults
from stackops.local.aws.server import StackRoutes, request_handler

REACHED: list[str] = []  # what got past the faults to the stand-in for moto


def stand_in(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    REACHED.append(environ.get("HTTP_X_AMZ_TARGET") or environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", "2")])
    return [b"{}"]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, StackRoutes(stand_in), threaded=True, request_handler=request_handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def clean(endpoint: str) -> Iterator[None]:
    retries.configure()  # as every entry point does (undone after the test: tests/unit/conftest.py)
    REACHED.clear()
    client.clear_request_faults(endpoint)
    yield
    client.clear_request_faults(endpoint)


def aws(endpoint: str, service: str) -> Any:
    config = botocore.config.Config(s3={"addressing_style": "path"})
    keys = {"aws_access_key_id": "AKIATESTFAULTS000000", "aws_secret_access_key": "dummy"}
    return boto3.Session(**keys, region_name="eu-west-2").client(service, endpoint_url=endpoint, config=config)


# -- the route --------------------------------------------------------------------------------------
def test_faults_are_added_listed_and_cleared(endpoint: str) -> None:
    added = client.add_request_fault(endpoint, "secretsmanager", "ListSecrets", "AccessDeniedException", count=2)
    assert added == {"id": added["id"], "service": "secretsmanager", "operation": "ListSecrets",
                     "code": "AccessDeniedException", "status": 400, "count": 2, "remaining": 2, "hits": 0,
                     "message": "AccessDeniedException injected by the embedded AWS into "
                                "secretsmanager:ListSecrets"}  # fmt: skip
    client.add_request_fault(endpoint, "sts", "*", "ExpiredToken", rate=0.5, message="expired")
    listed = client.request_faults(endpoint)
    assert [(f["service"], f.get("count"), f.get("rate")) for f in listed] == [
        ("secretsmanager", 2, None), ("sts", None, 0.5)
    ]  # fmt: skip
    client.clear_request_faults(endpoint)
    assert client.request_faults(endpoint) == []
    # The ECS faults keep their own route.
    assert client.add_faults(endpoint, next_deployment="stuck") == {"next_deployment": "stuck"}
    client.clear_faults(endpoint)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"service": "sts", "operation": "GetCallerIdentity", "code": "ExpiredToken"}, "give exactly one of count"),
        ({"service": "sts", "operation": "GetCallerIdentity", "code": "X", "count": 1, "rate": 1}, "exactly one"),
        ({"service": "STS", "operation": "GetCallerIdentity", "code": "X", "count": 1}, "service must be"),
        ({"service": "sts", "operation": "get_caller_identity", "code": "X", "count": 1}, "operation must be"),
        ({"service": "sts", "operation": "*", "code": "not a code", "count": 1}, "code must be"),
        ({"service": "sts", "operation": "*", "code": "X", "count": 0}, "count must be"),
        ({"service": "sts", "operation": "*", "code": "X", "rate": 1.5}, "rate must be"),
        ({"service": "sts", "operation": "*", "code": "X", "count": 1, "status": 200}, "status must be"),
        ({"service": "sts", "operation": "*", "code": "X", "count": 1, "colour": "red"}, "unknown key 'colour'"),
    ],
)
def test_a_wrong_fault_is_refused_with_the_reason(endpoint: str, fault: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        client._call(endpoint, "POST", "/_stack/faults", fault)
    assert client.request_faults(endpoint) == []


# -- each protocol's shape, as botocore parses it -------------------------------------------------
@pytest.mark.parametrize(
    ("service", "method", "params", "signing", "operation", "code", "status"),
    [
        ("sts", "get_caller_identity", {}, "sts", "GetCallerIdentity", "ExpiredToken", 400),  # query
        ("iam", "list_roles", {}, "iam", "ListRoles", "AccessDenied", 403),  # query
        ("ec2", "describe_vpcs", {}, "ec2", "DescribeVpcs", "UnauthorizedOperation", 403),  # EC2
        ("secretsmanager", "list_secrets", {}, "secretsmanager", "ListSecrets", "AccessDeniedException", 400),
        ("dynamodb", "list_tables", {}, "dynamodb", "ListTables", "AccessDeniedException", 400),  # JSON 1.0
        ("s3", "list_buckets", {}, "s3", "ListBuckets", "AccessDenied", 403),  # rest-xml, S3's <Error>
        ("s3", "get_object", {"Bucket": "b", "Key": "k/e/y"}, "s3", "GetObject", "ExpiredToken", 400),
        ("route53", "list_hosted_zones", {}, "route53", "ListHostedZones", "AccessDenied", 403),  # <ErrorResponse>
        ("lambda", "list_functions", {}, "lambda", "ListFunctions", "AccessDeniedException", 403),  # rest-json
    ],
)  # fmt: skip
def test_each_protocol_carries_the_code_botocore_reads(
    endpoint: str, service: str, method: str, params: dict[str, Any], signing: str, operation: str, code: str,
    status: int,
) -> None:  # fmt: skip
    client.add_request_fault(endpoint, signing, operation, code, status=status, count=1, message="injected here")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        getattr(aws(endpoint, service), method)(**params)
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert error["Error"]["Message"] == "injected here"
    assert error["ResponseMetadata"]["RequestId"]
    assert REACHED == []  # the request never reached moto
    assert client.request_faults(endpoint) == []  # count 1: spent


def test_a_fault_matches_only_its_operation(endpoint: str) -> None:
    client.add_request_fault(endpoint, "secretsmanager", "DescribeSecret", "AccessDeniedException", count=1)
    aws(endpoint, "secretsmanager").list_secrets()  # another operation of the service: through
    assert REACHED == ["secretsmanager.ListSecrets"]
    assert client.request_faults(endpoint)[0]["hits"] == 0


def test_throttling_beyond_the_retries_fails_after_every_attempt(endpoint: str) -> None:
    client.add_request_fault(endpoint, "secretsmanager", "ListSecrets", "ThrottlingException",
                             count=retries.MAX_ATTEMPTS + 1)  # fmt: skip
    secrets = aws(endpoint, "secretsmanager")
    started = time.monotonic()
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        secrets.list_secrets()
    elapsed = time.monotonic() - started
    metadata = caught.value.response["ResponseMetadata"]
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert (metadata["RetryAttempts"], metadata["MaxAttemptsReached"]) == (retries.MAX_ATTEMPTS - 1, True)
    [left] = client.request_faults(endpoint)
    assert (left["hits"], left["remaining"]) == (retries.MAX_ATTEMPTS, 1)
    assert elapsed < 1 + 2 + 1, f"standard mode backs off at most 1 s, then 2 s: {elapsed:.1f} s"
    secrets.list_secrets()  # the last injected error is retried away: the call succeeds
    assert REACHED == ["secretsmanager.ListSecrets"]


def test_a_trace_line_says_the_answer_was_injected(endpoint: str, capfd: pytest.CaptureFixture[str]) -> None:
    client.add_request_fault(endpoint, "sts", "GetCallerIdentity", "ExpiredToken", count=1)
    with pytest.raises(botocore.exceptions.ClientError):
        aws(endpoint, "sts").get_caller_identity()
    trace = [line for line in capfd.readouterr().err.splitlines() if " GetCallerIdentity " in line]
    assert len(trace) == 1 and "-> 400 Bad Request (injected)" in trace[0], trace


# -- the fault store and the REST operations --------------------------------------------------------
def test_a_rate_fails_that_share_of_requests_and_a_count_is_spent() -> None:
    draws = iter([0.2, 0.7, 0.1])
    store = faults.RequestFaults(chance=lambda: next(draws))
    store.add({"service": "acm", "operation": "*", "code": "ThrottlingException", "rate": 0.5})
    store.add({"service": "ssm", "operation": "GetParameter", "code": "AccessDeniedException", "count": 2})
    acm = [store.take("acm", lambda: "ListCertificates") for _ in range(3)]
    assert [fault and fault.code for fault in acm] == ["ThrottlingException", None, "ThrottlingException"]
    assert store.take("ssm", lambda: "PutParameter") is None
    assert [store.take("ssm", lambda: "GetParameter") is not None for _ in range(3)] == [True, True, False]
    assert [f["service"] for f in store.pending()] == ["acm"]  # the spent count is gone


@pytest.mark.parametrize(
    ("service", "method", "path", "query", "operation"),
    [
        ("s3", "GET", "/", "", "ListBuckets"),
        ("s3", "HEAD", "/exii-state", "", "HeadBucket"),
        ("s3", "GET", "/exii-state", "", "ListObjects"),
        ("s3", "GET", "/exii-state", "list-type=2&prefix=env", "ListObjectsV2"),
        ("s3", "GET", "/exii-state", "tagging", "GetBucketTagging"),
        ("s3", "GET", "/exii-state/env:/local/exii/terraform.tfstate", "", "GetObject"),
        ("s3", "PUT", "/exii-state/k", "x-id=PutObject", "PutObject"),
        ("route53", "GET", "/2013-04-01/hostedzone", "", "ListHostedZones"),
        ("route53", "GET", "/2013-04-01/hostedzone/Z1/rrset/", "name=a.", "ListResourceRecordSets"),
        ("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset/", "", "ChangeResourceRecordSets"),
        ("lambda", "GET", "/2015-03-31/functions/", "", "ListFunctions"),
        ("no-such-service", "GET", "/", "", None),
    ],
)
def test_rest_operations_come_from_botocores_model(
    service: str, method: str, path: str, query: str, operation: str | None
) -> None:
    assert faults.rest_operation(service, method, path, query) == operation


@pytest.mark.parametrize(
    ("service", "environ", "expected"),
    [
        ("secretsmanager", {"HTTP_X_AMZ_TARGET": "secretsmanager.ListSecrets"}, "json"),
        ("sts", {"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}, "query"),
        ("ec2", {"CONTENT_TYPE": "application/x-www-form-urlencoded"}, "ec2"),
        ("sts", {"QUERY_STRING": "Action=GetCallerIdentity"}, "query"),  # a GET of the query protocol
        ("s3", {}, "rest-xml"),
        ("lambda", {}, "rest-json"),
    ],
)
def test_the_protocol_comes_from_the_request_or_the_model(service: str, environ: dict[str, str], expected: str) -> None:
    assert faults.protocol(service, environ) == expected
