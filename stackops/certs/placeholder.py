"""`inv up`'s first run: a self-signed placeholder in ACM, so the stack needs one apply, not two.

The HTTPS listeners take their certificate ARN at plan time (the SSM parameter Terraform reads),
but the real certificate can only be issued once the hosted zone exists (DNS-01), and the zone is
created by that same apply. So before the plan, a placeholder is imported under the tool's tags
and its ARN published; while the apply runs, the certificate is issued as soon as the zone exists
and re-imported into the same ARN (ACM keeps an ARN on re-import, and every listener with it), so
the listeners end with the issued certificate and no second apply.

The placeholder is tagged `PLACEHOLDER_TAG`: `renewal.decide` replaces a tagged certificate
whatever its dates say, so a run that fails between the two leaves nothing a later run would skip.
Real ACM also accepts a self-signed certificate with no chain (ImportCertificate), but only `inv up`
imports one, and `inv up` runs on the embedded AWS alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from stackops.certs.acm import (
    PLACEHOLDER_TAG,
    import_certificate,
    managed_certificates,
    match_certificate,
    parameter_name,
    publish_arn,
    tags_for,
)
from stackops.certs.names import normalize_names
from stackops.environments import Environment
from stackops.errors import aws_errors

LIFETIME = dt.timedelta(days=1)  # long enough for any apply; it is replaced within the same run
ORGANIZATION = "stackops placeholder (replaced by the issued certificate)"


def placeholder_pem(names: Sequence[str], now: dt.datetime) -> tuple[str, bytes]:
    """(certificate PEM, private key PEM): self-signed for `names`, with the key type certbot is
    pinned to (ECDSA P-256, certbot.KEY_TYPE_ARGS), so the re-import keeps the ARN's key type."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    # A common name holds at most 64 characters; the names are in the SAN extension either way.
    common = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])] if len(names[0]) <= 64 else []
    subject = x509.Name([*common, x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # a clock slightly behind still accepts it
        .not_valid_after(now + LIFETIME)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    private_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), private_key


@dataclass(frozen=True)
class PublishedArn:
    """What `publish_certificate_arn` left in the parameter Terraform reads."""

    arn: str
    placeholder: bool  # the ARN holds a placeholder (imported now, or by a run that did not finish)
    said: str  # for `inv up`'s line


def publish_certificate_arn(env: Environment, now: dt.datetime | None = None) -> PublishedArn:
    """Make sure the parameter Terraform reads holds a certificate ARN for the environment's
    hostnames before the plan: the managed certificate's when there is one (written back only when
    the parameter is missing), else a new placeholder's."""
    session = env.session()
    acm, ssm = session.client("acm"), session.client("ssm")
    names = normalize_names(env.hostnames)
    parameter = parameter_name(env, names)
    with aws_errors("looking up the certificates this tool imported into ACM", profiles=[env.profile]):
        existing = match_certificate(managed_certificates(acm, env), names)
    publishing = f"publishing the certificate ARN in SSM ({parameter})"
    if existing is not None:
        with aws_errors(publishing, profiles=[env.profile]):
            written = publish_arn(ssm, parameter, existing.arn, only_if_missing=True)
        kind = "placeholder" if existing.placeholder else "certificate"
        said = f"{kind} {existing.arn.rsplit('/', 1)[-1]}{' (ARN published again)' if written else ''}"
        return PublishedArn(existing.arn, existing.placeholder, said)
    body, key = placeholder_pem(names, now or dt.datetime.now(dt.UTC))
    tags = [*tags_for(env, names), {"Key": PLACEHOLDER_TAG, "Value": "true"}]
    with aws_errors("importing the placeholder certificate into ACM", profiles=[env.profile]):
        arn = import_certificate(acm, body, "", key, tags)
    with aws_errors(publishing, profiles=[env.profile]):
        publish_arn(ssm, parameter, arn)
    return PublishedArn(arn, True, f"placeholder {arn.rsplit('/', 1)[-1]} imported until the certificate is issued")
