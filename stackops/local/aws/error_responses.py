"""An AWS error response in the shape of the service's protocol, for the faults `faults.py` injects.

Each shape is the one the SDKs read the error code from, so botocore and the Terraform AWS
provider (AWS SDK for Go v2) both see the injected code, retry it when it is a throttling or
transient code, and name it in their error:

- JSON 1.0/1.1 (Secrets Manager, ACM, SSM, ECS, ECR, DynamoDB, Logs, ...): the
  `x-amzn-ErrorType` header and `{"__type": CODE, "message": ...}` (botocore reads `__type`, the
  Go SDK the header first);
- query (STS, IAM, ELB, RDS, SNS, Auto Scaling, ...):
  `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`;
- EC2: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`;
- rest-xml: S3's bare `<Error><Code/><Message/><RequestId/></Error>` (with `x-amz-request-id`),
  the other services' (Route53, CloudFront) `ErrorResponse` as in the query protocol;
- rest-json (Lambda, API Gateway, ...): the `x-amzn-ErrorType` header and
  `{"message": ..., "__type": CODE}`.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from xml.sax.saxutils import escape

JSON, QUERY, EC2, REST_XML, REST_JSON = "json", "query", "ec2", "rest-xml", "rest-json"
PROTOCOLS = (JSON, QUERY, EC2, REST_XML, REST_JSON)


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


def render(
    protocol: str, code: str, message: str, status: int, *, service: str = "", content_type: str = ""
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status line, headers, body) of an error response with `code` in `protocol`'s shape.

    `content_type` is the request's: a JSON-protocol answer names the same JSON version.
    """
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol in (JSON, REST_JSON):
        json_type = content_type if protocol == JSON and "x-amz-json" in content_type else "application/json"
        headers += [("Content-Type", json_type.split(";")[0]), ("x-amzn-ErrorType", code)]
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == EC2:
        headers.append(("Content-Type", "text/xml;charset=UTF-8"))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
    elif protocol == REST_XML and service == "s3":
        headers += [("Content-Type", "application/xml"), ("x-amz-request-id", request_id),
                    ("x-amz-id-2", uuid.uuid4().hex)]  # fmt: skip
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
    elif protocol in (QUERY, REST_XML):
        headers.append(("Content-Type", "text/xml"))
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    else:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    headers.append(("Content-Length", str(len(body))))
    return status_line(status), headers, body
