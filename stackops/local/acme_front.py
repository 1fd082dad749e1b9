"""The local ACME server's renewal information (RFC 9773, ARI): a small HTTPS front beside pebble.

Debian's pebble 2.4 predates ARI, so this narrow addition gives the emulated CA what Let's
Encrypt serves: its directory carries a `renewalInfo` URL, and `GET <renewalInfo>/<certID>`
answers a suggested renewal window. The front serves two things only:

  GET /dir                      pebble's own directory JSON plus "renewalInfo": <front>/renewal-info;
                                every other URL in it (newNonce, newAccount, newOrder, ...) stays
                                pebble's, so certbot talks to pebble itself for everything else
  GET /renewal-info/<certID>    the answer the steering file asks for (below); certID is
                                base64url(AKI keyIdentifier) "." base64url(serial), RFC 9773 §4.1

It listens on HTTPS with pebble's own certificate (`localhost.pem`), which the CA bundle handed to
certbot already trusts. It runs as `python -m stackops.local.acme_front --port P --folder F
--pebble URL`, started and stopped with pebble by `stackops.local.pebble`, and recorded in the
same processes.json. Only the emulated environment ever reaches it.

The steering file `renewal-info.json` in the pebble folder (written by tests through
`pebble.set_renewal_info`, read at every request) decides the answer; without it: "none".
  window       200 {"suggestedWindow": {"start", "end"}} with Retry-After, as Let's Encrypt answers
  none         404 with a problem document (the CA has no renewal information for it)
  malformed    200 with a body that is not a renewal window
  unreachable  the connection is dropped without an answer, or, when the file names a status, a
               5xx problem document with that status
Each request is one line of the front's log (`acme-front.log`), its certID included.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import socket
import ssl
import sys
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODULE = "stackops.local.acme_front"  # run with -m; also its marker in /proc/<pid>/cmdline
STEERING = "renewal-info.json"
LOG = "acme-front.log"
DIRECTORY_PATH = "/dir"
RENEWAL_INFO_PATH = "/renewal-info"
MODES = ("window", "none", "malformed", "unreachable")
RETRY_AFTER = 21600  # seconds: what Let's Encrypt sends with its answers (6 hours)
# Two unpadded base64url parts joined by a dot (RFC 9773 §4.1).
_CERT_ID = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
PROBLEM = "application/problem+json"


# -- steering -------------------------------------------------------------------------------------
def write_steering(
    folder: Path,
    mode: str,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    *,
    status: int | None = None,
    retry_after: int = RETRY_AFTER,
) -> None:
    """Write the steering file the front reads at each request (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "window" and window is None:
        raise ValueError('mode "window" needs a window (start, end)')
    if status is not None and not 500 <= status <= 599:
        raise ValueError(f"status {status} is not a 5xx")
    record: dict[str, Any] = {"mode": mode, "retry_after": retry_after}
    if window is not None:
        record["start"], record["end"] = (_rfc3339(moment) for moment in window)
    if status is not None:
        record["status"] = status
    path = Path(folder) / STEERING
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(path)  # a request never reads half a file


def read_steering(folder: Path) -> dict[str, Any]:
    try:
        record = json.loads((Path(folder) / STEERING).read_text())
    except FileNotFoundError:
        return {"mode": "none"}
    return record if isinstance(record, dict) else {"mode": "none"}


def _rfc3339(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- answers --------------------------------------------------------------------------------------
def answer(path: str, steering: dict[str, Any], directory: Callable[[], dict[str, Any]], base_url: str) -> Any:
    """(status, headers, body bytes) for a GET of `path`, or None to drop the connection."""
    if path == DIRECTORY_PATH:
        merged = {**directory(), "renewalInfo": base_url + RENEWAL_INFO_PATH}
        return 200, {"Content-Type": "application/json"}, json.dumps(merged, indent=2).encode()
    prefix = RENEWAL_INFO_PATH + "/"
    if not path.startswith(prefix):
        return _problem(404, "malformed", f"no resource {path} here (only {DIRECTORY_PATH} and {prefix}<certID>)")
    cert_id = path.removeprefix(prefix)
    if not _CERT_ID.match(cert_id):
        return _problem(400, "malformed", f"{cert_id!r} is not a certID (base64url AKI '.' base64url serial)")
    mode = steering.get("mode")
    if mode == "window":
        body = {"suggestedWindow": {"start": steering["start"], "end": steering["end"]}}
        headers = {"Content-Type": "application/json", "Retry-After": str(steering.get("retry_after", RETRY_AFTER))}
        return 200, headers, json.dumps(body).encode()
    if mode == "malformed":  # a start that is no date, and no end
        return 200, {"Content-Type": "application/json"}, b'{"suggestedWindow": {"start": "soon"}}'
    if mode == "unreachable":
        status = steering.get("status")
        return _problem(int(status), "serverInternal", "the CA is unwell (steered)") if status else None
    return _problem(404, "malformed", f"no renewal information for certificate {cert_id}")


def _problem(status: int, kind: str, detail: str) -> tuple[int, dict[str, str], bytes]:
    body = {"type": f"urn:ietf:params:acme:error:{kind}", "detail": detail, "status": status}
    return status, {"Content-Type": PROBLEM}, json.dumps(body).encode()


def pebble_directory(url: str, ca: Path) -> Callable[[], dict[str, Any]]:
    """Reads pebble's directory at each call (it is small, and pebble may restart behind us)."""
    context = ssl.create_default_context(cafile=str(ca))

    def read() -> dict[str, Any]:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:  # noqa: S310 -- https to pebble
            return dict(json.loads(response.read()))

    return read


# -- the server -----------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    folder: Path
    directory: Callable[[], dict[str, Any]]
    context: ssl.SSLContext
    log: Callable[[str], None]

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def get_request(self) -> tuple[Any, Any]:
        # The TLS handshake happens in the request's thread, so one silent client cannot hold the
        # accept loop.
        raw, address = self.socket.accept()
        return self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False), address


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        steering = read_steering(self.server.folder)
        try:
            reply = answer(self.path.split("?", 1)[0], steering, self.server.directory, self.server.base_url)
        except Exception as exc:  # pebble down or a broken steering file: say so, in the log too
            reply = _problem(502, "serverInternal", f"the front could not answer: {exc}")
        if reply is None:
            self.server.log(f"GET {self.path} -> dropped ({steering.get('mode')})")
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, body = reply
        self.server.log(f"GET {self.path} -> {status} ({steering.get('mode')})")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """do_GET writes the request's line itself (with the steering mode)."""

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own lines (errors) go to the front's log too."""
        self.server.log(format % args)


def make_server(
    folder: Path, port: int, directory: Callable[[], dict[str, Any]], log: Callable[[str], None] | None = None
) -> _Server:
    """The front bound to 127.0.0.1:`port` (0: any free port), serving with `folder`'s pebble certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(Path(folder) / "localhost.pem"), str(Path(folder) / "localhost-key.pem"))
    server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=True)
    server.folder, server.directory, server.context = Path(folder), directory, context
    server.log = log or (lambda line: print(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {line}", flush=True))
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description="pebble's directory plus ARI")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True, help="pebble's folder: certificates and steering")
    parser.add_argument("--pebble", required=True, help="pebble's own directory URL")
    args = parser.parse_args(argv)
    server = make_server(args.folder, args.port, pebble_directory(args.pebble, args.folder / "ca.pem"))
    print(f"serving {server.base_url}{DIRECTORY_PATH} in front of {args.pebble}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
