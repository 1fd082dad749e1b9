"""A client for the emulator's own routes (health, ECS faults, injected AWS errors, IAM authorisation), for tests and
`stackops.local.emulator`.

Plain urllib: importing this does not import moto.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from stackops.local.aws import FAULTS_PATH, HEALTH_PATH, IAM_AUTH_PATH, REQUEST_FAULTS_PATH, SERVICE_MARK


def _call(endpoint: str, method: str, path: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the endpoint is the emulator's http URL
        endpoint.rstrip("/") + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        raise ValueError(f"{method} {path}: {message}") from None


def health(endpoint: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The health record when `endpoint` is this emulator; None when nothing or something else answers."""
    try:
        answer = _call(endpoint, "GET", HEALTH_PATH, timeout=timeout)
    except (OSError, ValueError):
        return None
    if isinstance(answer, dict) and answer.get("service") == SERVICE_MARK:
        return answer
    return None


def add_faults(
    endpoint: str,
    *,
    next_deployment: str | None = None,
    next_task_exit_code: int | None = None,
    next_task_never_starts: str | None = None,
) -> dict[str, Any]:
    """Queue one-shot ECS faults (see stackops.local.aws.ecs); returns every pending fault."""
    faults = {
        "next_deployment": next_deployment,
        "next_task_exit_code": next_task_exit_code,
        "next_task_never_starts": next_task_never_starts,
    }
    return _call(endpoint, "POST", FAULTS_PATH, {k: v for k, v in faults.items() if v is not None})


def pending_faults(endpoint: str) -> dict[str, Any]:
    return _call(endpoint, "GET", FAULTS_PATH)


def clear_faults(endpoint: str) -> None:
    _call(endpoint, "DELETE", FAULTS_PATH)


def add_request_fault(
    endpoint: str,
    service: str,
    operation: str,
    code: str,
    *,
    status: int = 400,
    count: int | None = None,
    rate: float | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Make the next `count` requests (or a `rate` of them) to `service`'s `operation` fail with
    `code` (see stackops.local.aws.faults); returns the fault with its id."""
    fault = {"service": service, "operation": operation, "code": code, "status": status, "count": count,
             "rate": rate, "message": message}  # fmt: skip
    return _call(endpoint, "POST", REQUEST_FAULTS_PATH, {k: v for k, v in fault.items() if v is not None})


def request_faults(endpoint: str) -> list[dict[str, Any]]:
    """The injected errors still pending, with how many requests each has answered (`hits`)."""
    return _call(endpoint, "GET", REQUEST_FAULTS_PATH)


def clear_request_faults(endpoint: str) -> None:
    _call(endpoint, "DELETE", REQUEST_FAULTS_PATH)


def iam_auth_enabled(endpoint: str) -> bool:
    """Whether the emulator authorises requests against IAM policies (stackops.local.aws.iam_auth)."""
    return bool(_call(endpoint, "GET", IAM_AUTH_PATH)["enabled"])


def enable_iam_auth(endpoint: str, admin: dict[str, Any] | None = None) -> None:
    """Authorise every request from now on; `admin` ({"access_key_id", "secret_access_key",
    "role_name", "accounts"}) stays allowed everything. Switch it off again with disable_iam_auth."""
    _call(endpoint, "POST", IAM_AUTH_PATH, {} if admin is None else {"admin": admin})


def disable_iam_auth(endpoint: str) -> None:
    _call(endpoint, "DELETE", IAM_AUTH_PATH)
