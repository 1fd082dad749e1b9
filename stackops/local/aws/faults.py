"""Injected AWS errors for any service and operation: what real AWS would refuse, on demand.

A test adds a fault over HTTP (`POST /_stack/faults`, see `server.py`; `client.add_request_fault`):

    {"service": "secretsmanager", "operation": "ListSecrets", "code": "AccessDeniedException",
     "status": 400, "count": 3, "message": "..."}

- `service`: the service as the request is signed for it (SigV4 credential scope), which is also
  how the request trace names it: `sts`, `s3`, `secretsmanager`, `acm`, `ssm`, `ecs`, `route53`,
  `elasticloadbalancing`, ...
- `operation`: the API operation (`GetCallerIdentity`, `ListCertificates`, `HeadBucket`), or `*`
  for every operation of the service. JSON and query requests name it themselves (X-Amz-Target,
  Action); for REST services (S3, Route53, Lambda, ...) it is found in botocore's model of the
  service from the method, the path and the query.
- `code`, `status` (default 400), `message` (default: says it was injected): the error returned.
- either `count` (the next N matching requests fail, then the fault is gone) or `rate` (each
  matching request fails with that probability, until the faults are cleared).

Matching requests are answered with the error in the service protocol's shape
(`error_responses.py`) and never reach moto, so nothing is changed. A count larger than the
SDK's attempts (botocore's standard mode: 3; the Terraform provider: 25) outlasts its retries.
Faults are cleared with `DELETE /_stack/faults` (tests do it however they end).
"""

from __future__ import annotations

import functools
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from stackops.local.aws import error_responses as shapes

_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9.]*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_OPERATION = re.compile(r"^(\*|[A-Z][A-Za-z0-9]*)$")
_KEYS = ("service", "operation", "code", "status", "message", "count", "rate")
# rest-xml services whose model cannot be found by their signing name (none among this stack's).
_REST_XML = frozenset({"s3", "route53", "cloudfront"})


@dataclass
class RequestFault:
    """One injected error: which requests it matches, what they get, and how many times."""

    id: int
    service: str
    operation: str
    code: str
    status: int = 400
    message: str = ""
    count: int | None = None  # None: `rate` decides
    rate: float | None = None
    hits: int = field(default=0)

    def matches(self, service: str, operation: Callable[[], str | None]) -> bool:
        return self.service == service and (self.operation == "*" or self.operation == operation())

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"id": self.id, "service": self.service, "operation": self.operation,
                                  "code": self.code, "status": self.status, "message": self.message,
                                  "hits": self.hits}  # fmt: skip
        if self.count is not None:
            answer.update(count=self.count, remaining=self.count - self.hits)
        else:
            answer["rate"] = self.rate
        return answer


def validate(data: Any) -> dict[str, Any]:
    """The fault's fields from a request body; ValueError naming the first wrong key or value."""
    if not isinstance(data, Mapping):
        raise ValueError("a fault must be a JSON object")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; a fault has {', '.join(_KEYS)}")
    service, operation, code = data.get("service"), data.get("operation"), data.get("code")
    if not isinstance(service, str) or not _NAME.match(service):
        raise ValueError(f"service must be a signing name such as secretsmanager or sts, not {service!r}")
    if not isinstance(operation, str) or not _OPERATION.match(operation):
        raise ValueError(f"operation must be an API operation such as ListSecrets, or *, not {operation!r}")
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValueError(f"code must be an AWS error code such as AccessDeniedException, not {code!r}")
    status = data.get("status", 400)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"status must be an HTTP error status from 400 to 599, not {status!r}")
    message = data.get("message")
    if message is None:
        message = f"{code} injected by the embedded AWS into {service}:{operation}"
    elif not isinstance(message, str):
        raise ValueError("message must be a string")
    count, rate = data.get("count"), data.get("rate")
    if (count is None) == (rate is None):
        raise ValueError("give exactly one of count (the next N requests fail) or rate (a probability)")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a whole number of requests, 1 or more, not {count!r}")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1):
        raise ValueError(f"rate must be a probability above 0, at most 1, not {rate!r}")
    return {"service": service, "operation": operation, "code": code, "status": status, "message": message,
            "count": count, "rate": None if rate is None else float(rate)}  # fmt: skip


class RequestFaults:
    """The injected faults, in the order they were added; the first matching one answers a request."""

    def __init__(self, chance: Callable[[], float] = random.random) -> None:
        self._chance = chance
        self._lock = threading.Lock()
        self._faults: list[RequestFault] = []
        self._next_id = 1

    def add(self, data: Any) -> dict[str, Any]:
        fault_fields = validate(data)
        with self._lock:
            fault = RequestFault(id=self._next_id, **fault_fields)
            self._next_id += 1
            self._faults.append(fault)
            return fault.to_json()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, service: str, operation: Callable[[], str | None]) -> RequestFault | None:
        """The fault that answers this request, if any (its hit counted; a spent count removes it).

        `operation` is called only when a fault of `service` names an operation.
        """
        resolved = functools.cache(operation)
        with self._lock:
            for fault in self._faults:
                if not fault.matches(service, resolved):
                    continue
                if fault.rate is not None and self._chance() >= fault.rate:
                    continue
                fault.hits += 1
                if fault.count is not None and fault.hits >= fault.count:
                    self._faults.remove(fault)
                return fault
        return None


FAULTS = RequestFaults()


# -- the request: its protocol and, for REST services, its operation ------------------------------
@functools.cache
def _service_model(service: str) -> Any:
    """botocore's model of the service signed as `service` (None when botocore has none by that name)."""
    import botocore.exceptions
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(service)
    except botocore.exceptions.UnknownServiceError:
        return None


def protocol(service: str, environ: Mapping[str, Any]) -> str:
    """The protocol of the request: JSON and query requests say so, the others take the model's."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return shapes.JSON
    if "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        return shapes.EC2 if service == "ec2" else shapes.QUERY
    model = _service_model(service)
    if model is not None and model.protocol in shapes.PROTOCOLS:  # botocore's names for them
        return str(model.protocol)
    return shapes.REST_XML if service in _REST_XML else shapes.REST_JSON


def _template_pattern(template: str) -> tuple[re.Pattern[str], int]:
    """A requestUri path template as a regex, and how many literal characters it has."""
    pattern, literal = "", 0
    for part in re.split(r"(\{[^}]+\})", template.rstrip("/") or "/"):
        if part.startswith("{"):
            pattern += ".+" if part.endswith("+}") else "[^/]+"
        else:
            pattern += re.escape(part)
            literal += len(part)
    return re.compile(pattern), literal


def rest_operation(service: str, method: str, path: str, query: str) -> str | None:
    """The operation of a REST request, from botocore's model: the operation whose method, path
    template and query markers (`?tagging`, `?list-type=2`) match, the most specific one first."""
    model = _service_model(service)
    if model is None:
        return None
    params = parse_qs(query, keep_blank_values=True)
    if "x-id" in params:  # the SDKs name S3 operations themselves
        return params["x-id"][0]
    path = path.rstrip("/") or "/"
    best: tuple[int, int, str] | None = None
    for name in model.operation_names:
        http = model.operation_model(name).http
        if http.get("method") != method:
            continue
        template, _, markers = http.get("requestUri", "/").partition("?")
        required = [marker.partition("=") for marker in markers.split("&") if marker and not marker.startswith("x-id=")]
        if any(key not in params or (value and params[key][0] != value) for key, _, value in required):
            continue
        regex, literal = _template_pattern(template)
        if regex.fullmatch(path):
            score = (len(required), literal, name)
            best = score if best is None or score[:2] > best[:2] else best
    return best[2] if best else None
