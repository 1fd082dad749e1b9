"""The emulator's request trace: one whole line per AWS request in moto.log, never interleaved.

Each line names what is needed to see a repeated call: the account, the service, the action, the
main identifier of the request (role name, group id, bucket, ...), and the SDK's own retry
headers (`amz-sdk-request: attempt=N; max=M` and the first characters of
`amz-sdk-invocation-id`, which every AWS SDK sends and keeps across its retries):

    call 111122223333 iam CreateRole exii-local-concept-task attempt=1/25 inv=3f2a9c1e -> 200 OK (5 ms)

A second line with the same invocation and attempt=2 is an SDK retry; a second line with another
invocation is a new call by the client.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

_WRITE = threading.Lock()  # one line at a time, whatever thread served the request
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_ATTEMPT = re.compile(r"attempt=(\d+)(?:;\s*max=(\d+))?")
_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2}|v\d+)$")
MAX_BODY = 1 << 20  # larger bodies (uploads) are not read for an identifier
# Parameters that name what a request acts on, in order of preference (query and JSON protocols).
IDENTIFIERS = (
    "RoleName", "PolicyName", "PolicyArn", "UserName", "InstanceProfileName", "GroupId", "GroupName",
    "SecurityGroupRuleId", "VpcId", "SubnetId", "AllocationId", "NatGatewayId", "RouteTableId", "NetworkAclId",
    "LoadBalancerArn", "TargetGroupArn", "ListenerArn", "Name", "Names", "QueueName", "QueueUrl", "SecretId",
    "TableName", "DBInstanceIdentifier", "DBSubnetGroupName", "HostedZoneId", "CertificateArn",
    "logGroupName", "service", "serviceName", "taskDefinition", "family", "task", "cluster", "repositoryName",
    "ResourceId", "ResourceARN", "resourceArn", "Id",
)  # fmt: skip


@dataclass(frozen=True)
class Request:
    """What the trace line says about one request (each part "-" when the request does not say)."""

    account: str = "-"
    service: str = "-"
    action: str = "-"
    identifier: str = "-"
    attempt: str = "-"
    invocation: str = "-"

    def line(self, status: str, milliseconds: float) -> str:
        return (
            f"call {self.account} {self.service} {self.action} {self.identifier} attempt={self.attempt} "
            f"inv={self.invocation} -> {status} ({milliseconds:.0f} ms)"
        )


def _body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for moto to read again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if not 0 < length <= MAX_BODY:
        return b""
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


def _account(access_key: str) -> str:
    from moto.iam.models import get_account_id_from

    try:
        return str(get_account_id_from(access_key))
    except Exception:  # an unknown key: moto's default account answers it
        return "-"


def _first(params: dict[str, Any]) -> str:
    for key in IDENTIFIERS:
        value = params.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value:
            return value.rsplit("/", 1)[-1] if value.startswith(("http://", "https://")) else value
    return "-"


def describe(environ: dict[str, Any]) -> Request:
    """Read the request's account, service, action, identifier and SDK retry headers (the body stays readable)."""
    credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    account, service = (_account(credential.group(1)), credential.group(2)) if credential else ("-", "-")
    attempt_header = _ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
    attempt = "/".join(g for g in attempt_header.groups() if g) if attempt_header else "-"
    invocation = (environ.get("HTTP_AMZ_SDK_INVOCATION_ID") or "-")[:8]
    content_type = environ.get("CONTENT_TYPE", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    params: dict[str, Any] = {}
    if "form-urlencoded" in content_type:  # the query protocol (IAM, EC2, RDS, ...)
        params = parse_qs(_body(environ).decode(errors="replace"))
    elif target or "x-amz-json" in content_type:  # the JSON protocol; never an uploaded JSON object
        try:
            decoded = json.loads(_body(environ) or b"null")
        except ValueError:
            decoded = None
        params = decoded if isinstance(decoded, dict) else {}
    params.update(parse_qs(environ.get("QUERY_STRING", "")))
    if target:
        action, identifier = str(target).rsplit(".", 1)[-1], _first(params)
    elif params.get("Action"):
        action, identifier = str(params["Action"][0]), _first(params)
    else:
        # REST protocols (S3, Route53, Lambda, ...): the method, and the path names the resource
        # (without an API version such as Route53's 2013-04-01).
        parts = [p for p in environ.get("PATH_INFO", "").split("/") if p]
        if parts and _API_VERSION.match(parts[0]):
            parts = parts[1:]
        action, identifier = environ.get("REQUEST_METHOD", "?"), unquote("/".join(parts))[:120] or "/"
    return Request(account, service, action.replace(" ", "_"), identifier.replace(" ", "_") or "-", attempt, invocation)


_LINE = re.compile(r"^call (\S+) (\S+) (\S+) (\S+) attempt=(\d+)\S* inv=(\S+) -> (\d{3})")


def retried_successes(lines: list[str]) -> list[str]:
    """Trace lines of SDK retries (attempt 2 or later) of a call whose earlier attempt this emulator
    answered with 2xx: a response the client never got. The stress test and the soak count them."""
    succeeded: set[str] = set()
    found = []
    for line in lines:
        match = _LINE.match(line)
        if not match or match.group(6) == "-":
            continue
        invocation, attempt, status = match.group(6), int(match.group(5)), match.group(7)
        if attempt > 1 and invocation in succeeded:
            found.append(line)
        if status.startswith("2"):
            succeeded.add(invocation)
    return found


def write(line: str) -> None:
    """One whole line on stderr (moto.log): never split by, or joined with, another thread's line."""
    with _WRITE:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
