"""The emulated AWS's transport and trace (stackops/local/aws/server.py, request_trace.py), without moto's backends.

The request handler is exercised with a tiny WSGI application, so moto's classes stay unpatched in
this process.
"""

from __future__ import annotations

import http.client
import io
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from stackops.local.aws import request_trace as trace
from stackops.local.aws.server import request_handler

SMALL = b'{"QueueUrl": "http://127.0.0.1:4566/111122223333/q"}' * 9  # about the size of a common answer
LARGE = b"<DescribeSecurityGroupsResponse>" + b"x" * 65536 + b"</DescribeSecurityGroupsResponse>"
BODY = SMALL


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(BODY)))])
    return [BODY]


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every chunk a socket of this process hands to the kernel, in order."""
    chunks: list[bytes] = []
    for name in ("send", "sendall"):
        original = getattr(socket.socket, name)

        def record(self: socket.socket, data: Any, *args: Any, _original: Any = original) -> Any:
            chunks.append(bytes(data))
            return _original(self, data, *args)

        monkeypatch.setattr(socket.socket, name, record)
    return chunks


def serve(handler: Any) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def responses(chunks: list[bytes]) -> list[bytes]:
    return [chunk for chunk in chunks if chunk.startswith(b"HTTP/1.1") or BODY[:20] in chunk]


def call(port: int) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "AmazonSQS.GetQueueUrl"})
    answer = connection.getresponse().read()
    connection.close()
    return answer


@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["small", "64-KiB"])
def test_headers_and_body_leave_in_one_send(sends: list[bytes], monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    monkeypatch.setattr(sys.modules[__name__], "BODY", body)
    for port in serve(request_handler()):
        assert call(port) == body
    [response] = [chunk for chunk in sends if chunk.startswith(b"HTTP/1.1")]
    # One send: the client never sees the headers without the body, whatever its size.
    assert response.startswith(b"HTTP/1.1 200 OK") and response.endswith(body)


def test_motos_own_handler_sends_the_headers_alone(sends: list[bytes]) -> None:
    # What the fix is for: with moto's handler (unbuffered), headers and body are separate sends.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    for port in serve(MotoRequestHandler):
        assert call(port) == BODY
    headers, body = responses(sends)
    assert headers.startswith(b"HTTP/1.1 200 OK") and headers.endswith(b"\r\n\r\n") and body == BODY


def environ(body: bytes, **headers: str) -> dict[str, Any]:
    return {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "REQUEST_METHOD": "POST",
            "PATH_INFO": "/", **headers}  # fmt: skip


def test_a_trace_line_names_account_service_action_identifier_and_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "_account", lambda key: {"ASIAEXAMPLE": "111122223333"}.get(key, "-"))
    request = environ(
        b"Action=CreateRole&RoleName=exii-local-concept-task&Version=2010-05-08",
        CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
        HTTP_AUTHORIZATION="AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261201/us-east-1/iam/aws4_request, ...",
        HTTP_AMZ_SDK_REQUEST="attempt=2; max=25",
        HTTP_AMZ_SDK_INVOCATION_ID="3f2a9c1e-0000-4000-8000-000000000000",
    )
    described = trace.describe(request)
    assert described.line("200 OK", 5.2) == (
        "call 111122223333 iam CreateRole exii-local-concept-task attempt=2/25 inv=3f2a9c1e -> 200 OK (5 ms)"
    )
    assert request["wsgi.input"].read() == b"Action=CreateRole&RoleName=exii-local-concept-task&Version=2010-05-08"


def test_json_and_rest_requests_are_named_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "_account", lambda key: "111122223333")
    auth = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261201/eu-west-2/{}/aws4_request"
    json_call = trace.describe(environ(b'{"QueueUrl": "http://127.0.0.1:4566/111122223333/jobs"}',
                                       CONTENT_TYPE="application/x-amz-json-1.0",
                                       HTTP_X_AMZ_TARGET="AmazonSQS.GetQueueAttributes",
                                       HTTP_AUTHORIZATION=auth.format("sqs")))  # fmt: skip
    assert (json_call.service, json_call.action, json_call.identifier) == ("sqs", "GetQueueAttributes", "jobs")
    ecs = environ(b'{"cluster": "exii-local", "service": "exii-local-django"}',
                  CONTENT_TYPE="application/x-amz-json-1.1",
                  HTTP_X_AMZ_TARGET="AmazonEC2ContainerServiceV20141113.UpdateService")  # fmt: skip
    ecs_call = trace.describe(ecs)
    assert ecs_call.identifier == "exii-local-django"  # the service, not its cluster
    # An uploaded JSON object (the Terraform state) is not parsed for a name.
    state = environ(b'{"Name": "not-an-identifier"}', CONTENT_TYPE="application/json", REQUEST_METHOD="PUT",
                    HTTP_AUTHORIZATION=auth.format("s3"))  # fmt: skip
    state["PATH_INFO"] = "/exii-terraform-state/env:/local/exii/terraform.tfstate"
    state_call = trace.describe(state)
    assert (state_call.service, state_call.action) == ("s3", "PUT")
    assert state_call.identifier == "exii-terraform-state/env:/local/exii/terraform.tfstate"
    zone = environ(b"", HTTP_AUTHORIZATION=auth.format("route53"), REQUEST_METHOD="POST")
    zone["PATH_INFO"] = "/2013-04-01/hostedzone/Z123/rrset/"
    assert trace.describe(zone).identifier == "hostedzone/Z123/rrset"  # without the API version


def test_retried_successes_are_the_retries_of_calls_that_were_answered() -> None:
    lines = [
        "call 1 iam CreateRole r attempt=1/25 inv=aaaaaaaa -> 200 OK (5 ms)",
        "call 1 iam GetRole r attempt=1/25 inv=bbbbbbbb -> 500 INTERNAL SERVER ERROR (5 ms)",
        "call 1 iam GetRole r attempt=2/25 inv=bbbbbbbb -> 200 OK (5 ms)",  # a retry after an error: fine
        "call 1 iam CreateRole r attempt=2/25 inv=aaaaaaaa -> 409 CONFLICT (5 ms)",  # the answer was lost
        "stackops: something else",
        trace.Request("1", "s3", "PUT", "state/env:/local/tfstate", "1/3", "cccccccc").line("200 OK", 4),
        trace.Request("1", "s3", "PUT", "state/env:/local/tfstate", "2/3", "cccccccc").line("200 OK", 4),
    ]
    assert trace.retried_successes(lines) == [lines[3], lines[6]]


def test_a_trace_line_is_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # print() writes the text and the newline apart, so two threads' lines could join; one write
    # of the whole line, under a lock, cannot.
    writes: list[str] = []
    stream = type("Stream", (), {"write": lambda self, text: writes.append(text), "flush": lambda self: None})()
    monkeypatch.setattr(sys, "stderr", stream)
    trace.write("call 111122223333 iam CreateRole r attempt=1/25 inv=aaaaaaaa -> 200 OK (5 ms)")
    assert writes == ["call 111122223333 iam CreateRole r attempt=1/25 inv=aaaaaaaa -> 200 OK (5 ms)\n"]
