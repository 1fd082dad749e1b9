"""PEM certificates and keys: certbot's fullchain split for ACM, names, dates and key algorithms."""

from __future__ import annotations

import datetime as dt
import re

from stackops.errors import OpsError

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


def split_pem_chain(fullchain: str) -> tuple[str, str]:
    """(body, chain): the first certificate, and the rest of the chain ("" when there is none)."""
    blocks = _PEM_CERT.findall(fullchain)
    if not blocks:
        raise OpsError("no PEM certificate found in certbot's fullchain.pem")
    return blocks[0] + "\n", "".join(b + "\n" for b in blocks[1:])


def normalize_key_algorithm(name: str) -> str:
    """ACM spells key algorithms RSA_2048 / EC_prime256v1 in its API and RSA-2048 in DescribeCertificate."""
    kind, _, size = name.replace("-", "_").partition("_")
    return f"{kind.upper()}_{size}"


def key_algorithm_of(private_key_pem: bytes) -> str:
    """ACM's name for the algorithm of a PEM private key (EC_prime256v1, RSA_2048, ...)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = {"secp256r1": "prime256v1"}.get(key.curve.name, key.curve.name)
        return f"EC_{curve}"
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA_{key.key_size}"
    raise OpsError(f"unsupported private key type {type(key).__name__}")


def certificate_names(cert_pem: str) -> tuple[str, ...]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(sorted(n.lower() for n in san.get_values_for_type(x509.DNSName)))


def certificate_dates(cert_pem: str) -> tuple[dt.datetime, dt.datetime]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.not_valid_before_utc, cert.not_valid_after_utc
