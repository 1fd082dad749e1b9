"""Helpers of the ARI unit tests: the renewal-information front in-process, and certificates with an AKI."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stackops.local import acme_front, pebble

# What pebble 2.4's directory holds (its own URLs); the front adds renewalInfo.
PEBBLE_DIRECTORY = {
    "keyChange": "https://127.0.0.1:14000/rollover-account-key",
    "meta": {"externalAccountRequired": False, "termsOfService": "data:text/plain,Do%20what%20thou%20wilt"},
    "newAccount": "https://127.0.0.1:14000/sign-me-up",
    "newNonce": "https://127.0.0.1:14000/nonce-plz",
    "newOrder": "https://127.0.0.1:14000/order-plz",
    "revokeCert": "https://127.0.0.1:14000/revoke-cert",
}


@dataclass
class Front:
    folder: Path
    base_url: str
    ca: Path
    lines: list[str] = field(default_factory=list)

    @property
    def directory_url(self) -> str:
        return self.base_url + acme_front.DIRECTORY_PATH


@contextmanager
def running_front(folder: Path, directory: Callable[[], dict[str, Any]] | None = None) -> Iterator[Front]:
    """The front on a free port with a CA of its own in `folder`, serving until the block ends."""
    ca, _, _ = pebble.make_ca(folder)
    lines: list[str] = []
    server = acme_front.make_server(folder, 0, directory or (lambda: dict(PEBBLE_DIRECTORY)), log=lines.append)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Front(folder, server.base_url, ca, lines)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def cert_with_aki(key_identifier: bytes, serial: int, *, not_before: dt.datetime | None = None, days: int = 90) -> str:
    """A PEM certificate whose Authority Key Identifier and serial are the ones given."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ari.exii.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a test CA")]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier(key_identifier, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()
