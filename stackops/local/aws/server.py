"""moto's WSGI application with the ECS extension installed and a few `/_stack/` routes in front.

Routes (JSON in and out):
  GET    /_stack/health       {"service": "stackops-emulated-aws", "pid": ..., "moto": "5.2.5"}
  GET    /_stack/ecs/faults   the pending ECS faults
  POST   /_stack/ecs/faults   add faults, e.g. {"next_deployment": "rollback"}; returns the pending ones
                              (400 with {"error": ...} for an unknown key or a wrong value)
  DELETE /_stack/ecs/faults   drop every pending fault
  GET    /_stack/iam-auth     {"enabled": bool}: whether moto authorises requests (iam_auth.py)
  POST   /_stack/iam-auth     authorise every request from now on; an optional {"admin": {"access_key_id",
                              "secret_access_key", "role_name", "accounts"}} keeps the emulator's own
                              identity working (400 with {"error": ...} when malformed)
  DELETE /_stack/iam-auth     authorise nothing again (how the emulator starts)
  GET    /_stack/faults       the injected AWS errors (faults.py), with their hits
  POST   /_stack/faults       inject one, e.g. {"service": "sts", "operation": "GetCallerIdentity",
                              "code": "ExpiredToken", "count": 1}; returns it with its id (400 when invalid)
  DELETE /_stack/faults       drop every injected error
Every other path goes to moto unchanged, unless an injected error matches it: then the error is the
answer, in the shape of the service's protocol, and moto never sees the request.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from stackops.local.aws import (
    FAULTS_PATH,
    HEALTH_PATH,
    IAM_AUTH_PATH,
    REQUEST_FAULTS_PATH,
    SERVICE_MARK,
    iam_auth,
    request_trace,
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StackRoutes:
    """WSGI middleware: answers `/_stack/...` itself and passes everything else to moto."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        # moto's backends are plain dicts and lists, not thread-safe, and some are created lazily
        # on first use (an account's IAM backend with its managed policies): one request at a
        # time, its trace description included; each takes milliseconds.
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/_stack/"):
            statuses: list[str] = []

            def recording_start_response(status: str, headers: Any, *args: Any) -> Any:
                statuses.append(status)
                return start_response(status, headers, *args)

            started = time.monotonic()
            with self.lock:
                request = request_trace.describe(environ)  # reads moto's accounts: under the lock too
                injected = injected_error(request, environ)
                if injected is not None:
                    status, headers, body = injected
                    statuses.append(f"{status} (injected)")
                    start_response(status, headers)
                else:
                    # moto builds the whole body inside the call; materialise it under the lock, as
                    # one piece (the handler sends headers and body together, see request_handler).
                    body = b"".join(self.app(environ, recording_start_response))
            # One line per call, so a failed apply can be traced to the request that caused it.
            request_trace.write(request.line(statuses[0] if statuses else "?", (time.monotonic() - started) * 1000))
            return [body]
        if path.rstrip("/") == IAM_AUTH_PATH:
            with self.lock:  # it changes moto's settings and IAM backends: not in the middle of a request
                status, body = self._handle(environ.get("REQUEST_METHOD", "GET"), path.rstrip("/"), environ)
        else:
            status, body = self._handle(environ.get("REQUEST_METHOD", "GET"), path.rstrip("/"), environ)
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    @staticmethod
    def _handle(method: str, path: str, environ: dict[str, Any]) -> tuple[str, Any]:
        import moto

        from stackops.local.aws import ecs_state, faults

        if path == HEALTH_PATH and method == "GET":
            return "200 OK", {"service": SERVICE_MARK, "pid": os.getpid(), "moto": moto.__version__}
        if path == IAM_AUTH_PATH:
            return StackRoutes._iam_auth(method, environ)
        store = {FAULTS_PATH: ecs_state.FAULTS, REQUEST_FAULTS_PATH: faults.FAULTS}.get(path)
        if store is None:
            return "404 Not Found", {"error": f"no route {method} {path}"}
        if method == "GET":
            return "200 OK", store.pending()
        if method == "DELETE":
            store.clear()
            return "200 OK", {}
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                return "200 OK", store.add(json.loads(raw or b"{}"))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError too
                return "400 Bad Request", {"error": str(exc)}
        return "405 Method Not Allowed", {"error": f"{method} is not allowed on {path}"}

    @staticmethod
    def _iam_auth(method: str, environ: dict[str, Any]) -> tuple[str, Any]:
        if method == "GET":
            return "200 OK", iam_auth.state()
        if method == "DELETE":
            return "200 OK", iam_auth.disable()
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict) or set(body) - {"admin"}:
                    raise ValueError('the body may hold only {"admin": {...}}')
                admin = iam_auth.Admin.from_json(body["admin"]) if "admin" in body else None
                return "200 OK", iam_auth.enable(admin)
            except ValueError as exc:
                return "400 Bad Request", {"error": str(exc)}
        return "405 Method Not Allowed", {"error": f"{method} is not allowed on {IAM_AUTH_PATH}"}


def injected_error(
    request: request_trace.Request, environ: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The response of an injected fault matching this request (faults.py), or None."""
    from stackops.local.aws import error_responses, faults

    def operation() -> str | None:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if request.action != method:
            return request.action  # X-Amz-Target's operation, or the query's Action
        return faults.rest_operation(request.service, method, path, environ.get("QUERY_STRING", ""))

    fault = faults.FAULTS.take(request.service, operation)
    if fault is None:
        return None
    protocol = faults.protocol(request.service, environ)
    return error_responses.render(protocol, fault.code, fault.message, fault.status, service=request.service,
                                  content_type=environ.get("CONTENT_TYPE", ""))  # fmt: skip


def build_app() -> StackRoutes:
    """moto's application (every service, routed by request) with the ECS extension installed."""
    # moto reads this when an account's IAM backend is first created: set it before any request.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from stackops.local.aws import autoscaling, ec2, ecs, policies, s3_ownership, snapshots

    ecs.install()
    ec2.install()
    snapshots.install()
    autoscaling.install()
    policies.install()
    policies.install_bucket_logging_check()
    s3_ownership.install()
    iam_auth.install()
    return StackRoutes(DomainDispatcherApplication(create_backend_app))


class _WholeResponses:
    """A handler's `wfile` that holds what is written until `flush()`, then sends it in one call.

    werkzeug writes a response's status line and headers, then its body, and flushes after each
    body chunk; the application above hands it one chunk, so headers and body leave together,
    whatever their size.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._pending: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self._pending.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._connection.sendall(data)

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.closed = True


@functools.cache
def request_handler() -> Any:
    """moto's request handler, writing each response in one send and leaving the log to the trace."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class RequestHandler(MotoRequestHandler):
        def setup(self) -> None:
            # Headers and body in one send. Unbuffered (socketserver's default), the headers went
            # out alone and, when the server was descheduled before sending the body (a busy
            # machine), the AWS SDK (Go) closed the connection on seeing them and retried a call the
            # emulator had already carried out: the repeated CreateRole, RevokeSecurityGroupEgress,
            # ... (a packet capture showed the client's FIN right after the headers and its RST when
            # the body came; the trace, the same invocation id with attempt=2 after a 200).
            super().setup()
            self.wfile = _WholeResponses(self.connection)

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            """werkzeug's access line would interleave with the trace, which says more (request_trace.py)."""

    return RequestHandler


def make_server(host: str, port: int) -> Any:
    """A threaded werkzeug server for the application (port 0 picks a free one); call serve_forever()."""
    from werkzeug.serving import make_server as werkzeug_server

    from stackops.local.aws import ecs_service_logs

    os.environ.setdefault("MOTO_PORT", str(port))  # moto builds some URLs (SQS queues) from it
    app = build_app()
    ecs_service_logs.start(app.lock)  # the services' tasks write log lines, as their containers would
    return werkzeug_server(host, port, app, threaded=True, request_handler=request_handler())
