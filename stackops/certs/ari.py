"""The CA's renewal information (ACME Renewal Information, RFC 9773): when it suggests renewing.

A CA that supports it names a `renewalInfo` URL in its directory; `GET <renewalInfo>/<certID>`
answers `{"suggestedWindow": {"start": ..., "end": ...}}` with a Retry-After header. Let's
Encrypt serves it in production and staging: its directory holds
"renewalInfo": "https://acme-v02.api.letsencrypt.org/draft-ietf-acme-ari-03/renewalInfo" (staging:
acme-staging-v02...), and it answers a window two days wide, with Retry-After: 21600 (see
https://letsencrypt.org/2024/04/25/guide-to-integrating-ari-into-existing-acme-clients/).
The emulated CA gets the same from `stackops.local.acme_front`.

Why not `acme.client.ClientV2.renewal_time` (acme 5.9, which needs no account) as it is: it
returns one uniformly random time per call and drops the window, so daily runs would each draw
anew and the table could not show the window; a 404 ("no information for this certificate")
raises the same ARIError as a 5xx or a dropped connection (its cause, acme's messages.Error,
keeps no HTTP status); and a malformed body escapes as josepy's DeserializationError (or a
TypeError for a window without an end) rather than an ARIError. So this module uses acme's
pieces — `ClientV2.get_directory`, `ClientNetwork`'s session, `messages.RenewalInfo` to parse the
window — and sorts the answers itself. `renewal_time`'s other rule, no request for an expired
certificate (RFC 9773 §4.2), is `renewal.decide`'s.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from stackops.certs.certbot import AcmeServer

TIMEOUT = 10  # seconds per request: a CA that does not answer falls back to the lifetime rule
USER_AGENT = "stackops (acme-python)"
WINDOW, UNSUPPORTED, UNKNOWN, FAILED = "window", "unsupported", "unknown", "failed"


@dataclass(frozen=True)
class RenewalInfo:
    """What the CA said about one certificate.

    state: window (start, end set), unsupported (no renewalInfo in the directory), unknown (404:
    the CA has nothing for it), failed (unreachable, a 5xx, or a body that is no window; `detail`
    says which).
    """

    state: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    detail: str = ""
    url: str = ""
    cert_id: str = ""  # the certificate's RFC 9773 certID, once known

    @property
    def warning(self) -> str | None:
        """One line for stderr when the CA's answer could not be used; None otherwise."""
        if self.state != FAILED:
            return None
        return f"{self.detail} ({self.url})" if self.url else self.detail


def cert_id(cert_pem: str | bytes) -> str:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial as DER INTEGER content), unpadded."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    if aki is None:
        raise ValueError("the certificate's Authority Key Identifier has no keyIdentifier")
    serial = cert.serial_number
    # DER's INTEGER is two's complement: a serial whose top bit is set gets a leading zero byte.
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{_b64url(aki)}.{_b64url(serial_bytes)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def renewal_point(start: dt.datetime, end: dt.datetime, identity: str) -> dt.datetime:
    """The moment in [start, end] at which this certificate renews: fixed per certificate.

    RFC 9773 §4.2 has a client pick a uniformly random time in the window. A run that draws anew
    each day would renew at the first run whose draw falls before now, which bunches renewals at
    the window's start; a point derived from the certificate (its certID, so its serial) is as
    uniform across certificates, and the same at every run: the decision flips once, and the
    table can say when.
    """
    fraction = int.from_bytes(hashlib.sha256(identity.encode()).digest()[:8], "big") / 2**64
    return start + (end - start) * fraction


def fetch(acme: AcmeServer, cert_pem: str, *, timeout: int = TIMEOUT) -> RenewalInfo:
    """Ask `acme`'s CA for its renewal window for `cert_pem`; never raises for the CA's answer."""
    import josepy
    import requests
    from acme import client, messages

    net = client.ClientNetwork(user_agent=USER_AGENT, timeout=timeout)
    if acme.ca_bundle:
        # acme hands verify_ssl to requests' `verify`, which takes a CA file as well (pebble's CA).
        net.verify_ssl = acme.ca_bundle  # type: ignore[assignment]
    try:
        directory = client.ClientV2.get_directory(acme.directory_url, net)
    except Exception as exc:  # acme raises requests', its own and josepy's errors here
        return RenewalInfo(FAILED, detail=f"the CA's directory could not be read: {_one_line(exc)}",
                           url=acme.directory_url)  # fmt: skip
    try:
        base = str(directory["renewalInfo"])
    except KeyError:
        return RenewalInfo(UNSUPPORTED, url=acme.directory_url)
    try:
        identity = cert_id(cert_pem)
    except ValueError as exc:  # no Authority Key Identifier, or not a certificate (x509's errors are ValueErrors)
        return RenewalInfo(FAILED, detail=f"the certificate has no ARI identity: {_one_line(exc)}", url=base)
    url = f"{base.rstrip('/')}/{identity}"
    try:
        response = net.session.get(url, verify=net.verify_ssl, timeout=timeout, headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        return RenewalInfo(FAILED, detail=f"the CA did not answer: {_one_line(exc)}", url=url, cert_id=identity)
    if response.status_code == 404:
        return RenewalInfo(UNKNOWN, url=url, cert_id=identity)
    body = " ".join(response.text.split())[:200]
    if not response.ok:
        return RenewalInfo(FAILED, detail=f"the CA answered HTTP {response.status_code}: {body}", url=url,
                           cert_id=identity)  # fmt: skip
    try:
        window = messages.RenewalInfo.from_json(response.json()).suggested_window
        start, end = window.start, window.end
        if start is None or end is None or end < start:
            raise ValueError("no window")
    except (ValueError, TypeError, josepy.errors.DeserializationError):
        return RenewalInfo(FAILED, detail=f"the CA answered HTTP 200 with no renewal window: {body}", url=url,
                           cert_id=identity)  # fmt: skip
    return RenewalInfo(WINDOW, start.astimezone(dt.UTC), end.astimezone(dt.UTC), url=url, cert_id=identity)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
