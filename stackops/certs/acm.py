"""The certificates in ACM (the ones this tool imported, by tag) and the SSM parameter Terraform reads.

`check_key_type` lives here rather than in pem.py: it guards an ACM ARN, and its message names
the ACM tag to remove.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stackops.certs.names import cert_name
from stackops.certs.pem import key_algorithm_of, normalize_key_algorithm
from stackops.environments import Environment
from stackops.errors import Refused

MANAGED_TAG = ("managed-by", "stackops")
ENV_TAG = "stackops:environment"
# A self-signed stand-in `inv up` imports before the hosted zone exists (placeholder.py): always replaced.
PLACEHOLDER_TAG = "stackops:placeholder"
# ListCertificates returns only RSA_2048 certificates unless asked for the other key types.
ACM_KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"]


# -- the certificates in ACM ----------------------------------------------------------------------
@dataclass(frozen=True)
class ManagedCert:
    arn: str
    names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    key_algorithm: str
    placeholder: bool = False  # tagged PLACEHOLDER_TAG: to be replaced by an issued certificate


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def managed_certificates(acm: Any, env: Environment) -> list[ManagedCert]:
    """Certificates in ACM that this tool imported for `env` (tags), with their names and dates."""
    found = []
    for page in acm.get_paginator("list_certificates").paginate(Includes={"keyTypes": ACM_KEY_TYPES}):
        for summary in page["CertificateSummaryList"]:
            arn = summary["CertificateArn"]
            tags = {t["Key"]: t.get("Value", "") for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
            if tags.get(MANAGED_TAG[0]) != MANAGED_TAG[1] or tags.get(ENV_TAG, env.name) != env.name:
                continue
            detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            names = {detail.get("DomainName", ""), *detail.get("SubjectAlternativeNames", [])} - {""}
            found.append(
                ManagedCert(
                    arn=arn,
                    names=tuple(sorted(n.lower() for n in names)),
                    not_before=_as_datetime(detail["NotBefore"]),
                    not_after=_as_datetime(detail["NotAfter"]),
                    key_algorithm=str(detail.get("KeyAlgorithm", "")),
                    placeholder=PLACEHOLDER_TAG in tags,
                )
            )
    return found


def match_certificate(certs: Iterable[ManagedCert], names: Sequence[str]) -> ManagedCert | None:
    """The managed certificate for exactly this set of names (the latest expiry if several)."""
    wanted = {n.lower() for n in names}
    same = [c for c in certs if set(c.names) == wanted]
    return max(same, key=lambda c: c.not_after) if same else None


def check_key_type(existing: str, new: str, arn: str) -> None:
    """Refuse a re-import that would change the key type behind an existing ARN."""
    if normalize_key_algorithm(existing) != normalize_key_algorithm(new):
        raise Refused(
            f"refused: {arn} holds a {existing} certificate and the new one is {new}; re-importing would "
            f"change the key type behind an ARN that listeners use (clients pinned to it, TLS policies "
            f"that lack the new type). Remove its tag {MANAGED_TAG[0]}={MANAGED_TAG[1]} so the next run "
            f"imports a new ARN and publishes it, then delete the old one once unused; nothing was changed"
        )


# -- ACM and SSM ----------------------------------------------------------------------------------
def tags_for(env: Environment, names: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"Key": MANAGED_TAG[0], "Value": MANAGED_TAG[1]},
        {"Key": ENV_TAG, "Value": env.name},
        {"Key": "Name", "Value": cert_name(names)},
    ]


def import_certificate(
    acm: Any,
    body: str,
    chain: str,
    private_key: bytes,
    tags: list[dict[str, str]],
    arn: str | None = None,
    *,
    replaces_placeholder: bool = False,
) -> str:
    """Import into ACM (into `arn` when given, keeping it) and tag it; return the ARN.

    A re-import that would change the key type of `arn` is refused (read from ACM, not assumed).
    `replaces_placeholder`: `arn` held `inv up`'s placeholder, whose tag is removed after the import
    (acm:RemoveTagsFromCertificate; asked only then, so only on the embedded AWS).
    """
    if arn is not None:
        existing = acm.describe_certificate(CertificateArn=arn)["Certificate"].get("KeyAlgorithm", "")
        check_key_type(existing, key_algorithm_of(private_key), arn)
    request: dict[str, Any] = {"Certificate": body.encode(), "PrivateKey": private_key}
    if chain:
        request["CertificateChain"] = chain.encode()
    if arn is not None:
        request["CertificateArn"] = arn  # ACM takes no Tags on a re-import
    else:
        request["Tags"] = tags
    new_arn = str(acm.import_certificate(**request)["CertificateArn"])
    acm.add_tags_to_certificate(CertificateArn=new_arn, Tags=tags)  # idempotent; keeps tags current
    if replaces_placeholder:
        acm.remove_tags_from_certificate(CertificateArn=new_arn, Tags=[{"Key": PLACEHOLDER_TAG}])  # any value
    return new_arn


def parameter_name(env: Environment, names: Sequence[str]) -> str:
    """`/<project>/<env>/acm/certificate-arn` for the certificate covering the environment's hostnames
    (what Terraform reads); `/<project>/<env>/acm/certificates/<cert name>` for other name sets."""
    if set(env.hostnames) <= set(names):
        return f"/{env.project}/{env.name}/acm/certificate-arn"
    return f"/{env.project}/{env.name}/acm/certificates/{cert_name(names)}"


def publish_arn(ssm: Any, parameter: str, arn: str, *, only_if_missing: bool = False) -> bool:
    """Write the ARN to the SSM String parameter; True when its value changed."""
    try:
        current = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        current = None
    if current == arn or (only_if_missing and current is not None):
        return False
    ssm.put_parameter(
        Name=parameter,
        Value=arn,
        Type="String",
        Overwrite=True,
        Description="ACM certificate ARN, written by `inv cert`; read by Terraform",
    )
    return True
