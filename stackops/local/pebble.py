"""The local ACME server of the emulated AWS: pebble, its renewal-information front, and its DNS bridge.

`start()` makes a throw-away certificate authority with `cryptography`, starts Let's Encrypt's
`pebble` test server (RFC 8555) on HTTPS behind it, and starts a small DNS server (dnslib) that
answers from the Route53 records of the emulated account (`dns_bridge.py`). certbot and certbot-dns-route53 then run
exactly the DNS-01 flow they run against Let's Encrypt and real Route53: the plugin writes the
`_acme-challenge` TXT record to Route53, pebble resolves it through the bridge, certbot cleans it up.
pebble 2.4 predates renewal information (RFC 9773), so a small HTTPS front (`acme_front.py`) serves
pebble's directory plus a `renewalInfo` URL and answers it; the directory URL handed out is the
front's (`set_renewal_info` steers its answers).

Files under `state_dir`:
  pebble/ca.pem               the root certificate: the bundle certbot trusts (REQUESTS_CA_BUNDLE)
  pebble/localhost.pem, pebble/localhost-key.pem   pebble's HTTPS certificate (127.0.0.1, localhost)
  pebble/config.json          pebble's configuration (ports chosen free at start-up)
  pebble/pebble.log           pebble's log
  pebble/processes.json       pids and ports, read by `stop()`
  pebble/acme-front.log       the renewal-information front's log, one line per request
  pebble/renewal-info.json    test switch: what the front answers for renewal information
                              (`set_renewal_info`; without it, 404: no window)
  dns.log                     the bridge's log, one line per query
  dns-silent                  test switch: while this file exists the bridge answers NXDOMAIN to
                              every query, so an ACME DNS-01 validation fails (checked per query)

The root's private key only lives in memory during `start()`; pebble signs the certificates it
issues with its own intermediate, regenerated at each start (pebble keeps no state).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from stackops.errors import OpsError
from stackops.local import acme_front, processes
from stackops.local.dns_bridge import SILENT_FLAG
from stackops.paths import ROOT

PEBBLE = "pebble"
PROCESSES = "processes.json"
DNS_BRIDGE_MODULE = "stackops.local.dns_bridge"  # run with -m; also its marker in /proc/<pid>/cmdline
# Let's Encrypt's lifetime, so the renewal rule (a third of the lifetime left) behaves as in production.
CERT_VALIDITY = dt.timedelta(days=90)
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0  # per signal: SIGTERM, then SIGKILL
# Quick and deterministic: no random validation sleeps, no injected bad nonces, and no reuse of a
# valid authorization (each order validates again, so a DNS failure always shows).
PEBBLE_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}


# -- certificate authority ------------------------------------------------------------------------
def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def make_ca(folder: Path) -> tuple[Path, Path, Path]:
    """Write a new root CA and pebble's HTTPS certificate signed by it; return (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stackops local ACME root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        folder / "ca.pem",
        folder / "localhost.pem",
        folder / "localhost-key.pem",
    )
    ca_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return ca_path, cert_path, key_path


# -- processes ------------------------------------------------------------------------------------
def free_port(udp_too: bool = False) -> int:
    """A port free on 127.0.0.1 (for TCP, and for UDP too when asked)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise OpsError("no free port on 127.0.0.1 for the local ACME server")


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        # A session of its own: the process outlives `inv local.up` and ignores its Ctrl-C.
        return subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# -- start / stop ---------------------------------------------------------------------------------
def start(state_dir: Path, environ: dict[str, str], profile: str, region: str) -> dict[str, Any]:
    """Start pebble, its renewal-information front and the DNS bridge (stopping earlier ones first).

    `environ` points boto3 at the emulator (AWS_CONFIG_FILE, AWS_ENDPOINT_URL, ...); the bridge
    reads Route53 of the account behind `profile` with it. Returns directory_url (the front's),
    pebble_directory_url, ca_bundle, pebble_pid, dns_pid, front_pid and dns_port once all three
    answer; raises OpsError otherwise.
    """
    state_dir = Path(state_dir)
    stop(state_dir)
    folder = state_dir / PEBBLE
    folder.mkdir(parents=True, exist_ok=True)
    (state_dir / SILENT_FLAG).unlink(missing_ok=True)
    (folder / acme_front.STEERING).unlink(missing_ok=True)  # a new CA starts with no renewal windows
    ca, cert, key = make_ca(folder)
    acme_port, management_port, front_port = free_port(), free_port(), free_port()
    dns_port = free_port(udp_too=True)
    config = folder / "config.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme_port}",
                    "managementListenAddress": f"127.0.0.1:{management_port}",
                    "certificate": str(cert),
                    "privateKey": str(key),
                    "httpPort": 5002,  # HTTP-01 / TLS-ALPN-01 only; DNS-01 is the challenge used here
                    "tlsPort": 5001,
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                    "certificateValidityPeriod": int(CERT_VALIDITY.total_seconds()),
                }
            },
            indent=2,
        )
    )
    if shutil.which("pebble") is None:
        raise OpsError("pebble is not installed (it is Debian's `pebble` package): apt-get install pebble")
    record: dict[str, int] = {
        "acme_port": acme_port, "management_port": management_port, "dns_port": dns_port, "front_port": front_port,
    }  # fmt: skip
    dns_env = {**os.environ, **environ, "PYTHONUNBUFFERED": "1"}
    dns = _spawn(
        [sys.executable, "-m", DNS_BRIDGE_MODULE, "--port", str(dns_port),
         "--state-dir", str(state_dir), "--profile", profile, "--region", region],
        dns_env,
        state_dir / "dns.log",
    )  # fmt: skip
    record["dns_pid"] = dns.pid
    (folder / PROCESSES).write_text(json.dumps(record))
    pebble_url = f"https://127.0.0.1:{acme_port}/dir"
    try:
        pebble = _spawn(
            ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{dns_port}"],
            {**os.environ, **PEBBLE_ENV},
            folder / "pebble.log",
        )
    except OSError as exc:
        stop(state_dir)
        raise OpsError(f"cannot start pebble: {exc}") from None
    record["pebble_pid"] = pebble.pid
    (folder / PROCESSES).write_text(json.dumps(record))
    front = _spawn(
        [sys.executable, "-m", acme_front.MODULE, "--port", str(front_port), "--folder", str(folder),
         "--pebble", pebble_url],
        {**os.environ, "PYTHONUNBUFFERED": "1"},
        folder / acme_front.LOG,
    )  # fmt: skip
    record["front_pid"] = front.pid
    (folder / PROCESSES).write_text(json.dumps(record))
    directory_url = f"https://127.0.0.1:{front_port}{acme_front.DIRECTORY_PATH}"
    children = {
        "pebble": (pebble, folder / "pebble.log"),
        "the DNS bridge": (dns, state_dir / "dns.log"),
        "the renewal-information front": (front, folder / acme_front.LOG),
    }
    try:
        _wait_ready(pebble_url, directory_url, ca, dns_port, children, state_dir)
    except OpsError:
        stop(state_dir)
        raise
    return {
        "directory_url": directory_url,  # the front's: pebble's directory plus renewalInfo
        "pebble_directory_url": pebble_url,  # pebble's own, without renewal information
        "ca_bundle": str(ca),
        "pebble_pid": pebble.pid,
        "dns_pid": dns.pid,
        "front_pid": front.pid,
        "dns_port": dns_port,
    }


def _answers(url: str, context: ssl.SSLContext, *keys: str) -> bool:
    """True when `url` answers a JSON object holding every one of `keys`."""
    with contextlib.suppress(OSError, ValueError):
        with urllib.request.urlopen(url, context=context, timeout=1) as response:  # noqa: S310 -- https, local
            body = json.loads(response.read())
        return isinstance(body, dict) and all(key in body for key in keys)
    return False


def _wait_ready(
    pebble_url: str,
    directory_url: str,
    ca: Path,
    dns_port: int,
    children: dict[str, tuple[subprocess.Popen[bytes], Path]],
    state_dir: Path,
) -> None:
    """Until pebble, the front (its directory holds pebble's and renewalInfo) and the DNS bridge answer."""
    from dnslib import DNSRecord

    context = ssl.create_default_context(cafile=str(ca))
    pebble_ok = front_ok = dns_ok = False
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and not (pebble_ok and front_ok and dns_ok):
        for name, (child, log) in children.items():
            if child.poll() is not None:
                tail = processes.log_tail(log, 5 if name == "pebble" else 1, missing="", empty="")
                raise OpsError(f"{name} exited with code {child.returncode}: {tail} (see {log})")
        pebble_ok = pebble_ok or _answers(pebble_url, context, "newOrder")
        front_ok = pebble_ok and (front_ok or _answers(directory_url, context, "newOrder", "renewalInfo"))
        if not dns_ok:
            with contextlib.suppress(OSError):
                DNSRecord.question("ready.stackops.invalid", "SOA").send("127.0.0.1", dns_port, timeout=0.5)
                dns_ok = True
        if not (pebble_ok and front_ok and dns_ok):
            time.sleep(0.05)
    if not pebble_ok:
        raise OpsError(f"pebble did not answer at {pebble_url} in {READY_TIMEOUT:.0f} s "
                       f"(see {state_dir / PEBBLE / 'pebble.log'})")  # fmt: skip
    if not front_ok:
        raise OpsError(f"the renewal-information front did not answer at {directory_url} in {READY_TIMEOUT:.0f} s "
                       f"(see {state_dir / PEBBLE / acme_front.LOG})")  # fmt: skip
    if not dns_ok:
        raise OpsError(f"the DNS bridge did not answer on 127.0.0.1:{dns_port} in {READY_TIMEOUT:.0f} s "
                       f"(see {state_dir / 'dns.log'})")  # fmt: skip


def stop(state_dir: Path) -> None:
    """Stop the pebble, front and DNS bridge processes recorded in `state_dir` (nothing if none)."""
    record = Path(state_dir) / PEBBLE / PROCESSES
    try:
        pids = json.loads(record.read_text())
    except (FileNotFoundError, ValueError):
        return
    for key, marker in (("front_pid", acme_front.MODULE), ("pebble_pid", "pebble"), ("dns_pid", DNS_BRIDGE_MODULE)):
        pid = pids.get(key)
        if isinstance(pid, int) and pid > 0:
            processes.terminate(pid, marker, STOP_TIMEOUT)
    record.unlink(missing_ok=True)


def front_running(state_dir: Path) -> bool:
    """True when the renewal-information front recorded in `state_dir` still runs."""
    try:
        pid = json.loads((Path(state_dir) / PEBBLE / PROCESSES).read_text()).get("front_pid")
    except (FileNotFoundError, ValueError, AttributeError):
        return False
    return processes.runs(pid, acme_front.MODULE)


def set_silent(state_dir: Path, silent: bool) -> None:
    """Make the DNS bridge answer NXDOMAIN to everything (True) or from Route53 again (False)."""
    flag = Path(state_dir) / SILENT_FLAG
    if silent:
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


def set_renewal_info(
    state_dir: Path,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    mode: str = "window",
    *,
    status: int | None = None,
) -> None:
    """Steer the front's renewal information for every certificate (see `acme_front`).

    mode "window" answers `window` (start, end; aware datetimes), "none" 404, "malformed" a body
    that is no window, "unreachable" a dropped connection (or, with `status`, that 5xx).
    """
    acme_front.write_steering(Path(state_dir) / PEBBLE, mode, window, status=status)
