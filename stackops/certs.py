"""TLS certificates: Let's Encrypt (or the local pebble) by DNS-01 on Route53, imported into ACM.

`inv cert --env E [--domain D ...]` runs, for one set of names (default: the environment's
hostnames):
  a. validate the names; choose each name's hosted zone explicitly (see `choose_zone`); a name
     outside every public zone of the account, or whose zone is missing, fails before any ACME call;
  b. find the certificate this tool imported for the same names (ACM tag managed-by=stackops,
     matched on DomainName + SubjectAlternativeNames) and decide: renew when less than a third of
     its lifetime is left (or fewer than `--renew-within` days), skip otherwise (`--force` renews);
  c. run certbot certonly, DNS-01 through certbot-dns-route53, held to the chosen zones;
  d. import into ACM in the environment's region (body and chain separately), re-importing into
     the existing ARN (the ARN, and so every listener using it, is kept); tag it;
  e. publish the ARN to SSM `/<project>/<env>/acm/certificate-arn`, which Terraform reads.
`inv cert --renew-all --env E` does b-e for every certificate this tool manages in the account.

Key type: pinned to ECDSA P-256 (`--key-type ecdsa --elliptic-curve secp256r1`) because certbot's
default changed across versions (RSA 2048 before 2.0, ECDSA since); an unpinned renewal could
silently change the key type behind an ARN. A re-import that would change the key type of an
existing ARN is refused.

Zone choice: certbot-dns-route53 5.8 picks the zone itself (the longest public zone name that is a
suffix of the name) and has no option to set it (certbot issue #9966; PR #10480 adding
`--route53-hosted-zone-id` is not released). It is wrong when a longer zone in the account is not
delegated from its parent (the records must go to the parent), and arbitrary when two public zones
share a name. This module chooses the zone itself and runs certbot through a small wrapper
(`python -m stackops.certs certbot ...`) that replaces the plugin's `_find_zone_id_for_domain`
with a lookup in that choice (passed in STACKOPS_ROUTE53_ZONES): no fork, no plugin registration,
every other line of the plugin unchanged; the unit tests fail if the pinned plugin changes shape.

IAM permissions the certificate run needs in the environment's account (narrow):
  route53:ListHostedZones                      (zone choice; the plugin)
  route53:ListResourceRecordSets               (delegation check, only when zones overlap)
  route53:GetChange                            (the plugin waits for INSYNC)
  route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/<zone id> only, with
      "Condition": {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}}
      (and optionally route53:ChangeResourceRecordSetsNormalizedRecordNames like "_acme-challenge.*")
  acm:ListCertificates, acm:ListTagsForCertificate, acm:DescribeCertificate, acm:ImportCertificate,
      acm:AddTagsToCertificate
  ssm:GetParameter, ssm:PutParameter on parameter/<project>/<env>/acm/*
  sts:GetCallerIdentity (the account guard)

Files: certbot's config, work and logs folders live under `env.state_dir / "certbot"`
(git-ignored), one config folder per ACME server; after each run every file in it is made 0600
and every folder 0700. Private keys are never printed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

from stackops.emulator import default_state_dir
from stackops.environments import ROOT, Environment
from stackops.errors import OpsError, Refused

MANAGED_TAG = ("managed-by", "stackops")
ENV_TAG = "stackops:environment"
KEY_TYPE_ARGS = ("--key-type", "ecdsa", "--elliptic-curve", "secp256r1")
KEY_ALGORITHM = "EC_prime256v1"  # ACM's name for what KEY_TYPE_ARGS produce
# ListCertificates returns only RSA_2048 certificates unless asked for the other key types.
ACM_KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"]
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
ZONES_ENV = "STACKOPS_ROUTE53_ZONES"
CHALLENGE_PREFIX = "_acme-challenge."
ISSUED, RENEWED, SKIPPED, FAILED = "issued", "renewed", "skipped", "failed"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


# -- names ----------------------------------------------------------------------------------------
def validate_domain(domain: str) -> str:
    """The domain in canonical form (lower case, no trailing dot); OpsError naming it when malformed.

    A leading `*.` (wildcard, allowed by DNS-01) is accepted; internationalised names must be
    given in their ASCII (xn--) form.
    """
    name = domain.strip().lower()
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    body = labels[1:] if labels[0] == "*" else labels
    problem = None
    if not name.isascii():
        problem = "use its ASCII (xn--) form"
    elif len(name) > 253:
        problem = "longer than 253 characters"
    elif len(body) < 2:
        problem = "needs at least two labels, e.g. app.example.com"
    elif not all(_LABEL.match(label) for label in body):
        problem = "labels are 1-63 letters, digits or inner hyphens"
    elif body[-1].isdigit():
        problem = "the last label cannot be numeric"
    if problem:
        raise OpsError(f"malformed domain {domain!r}: {problem}")
    return name


def normalize_names(domains: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated, sorted names (the identity of a certificate)."""
    names = tuple(sorted({validate_domain(d) for d in domains}))
    if not names:
        raise OpsError("no domain given and the environment declares no hostnames")
    return names


def cert_name(names: Sequence[str]) -> str:
    """A stable, readable name for a set of names (certbot lineage, SSM suffix)."""
    first = names[0].replace("*", "wildcard")
    if len(names) == 1:
        return first
    digest = hashlib.sha256(" ".join(names).encode()).hexdigest()[:8]
    return f"{first}-{digest}"


# -- zones ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostedZone:
    id: str  # without the /hostedzone/ prefix
    name: str  # lower case, no trailing dot
    private: bool = False


def _in_zone(domain: str, zone_name: str) -> bool:
    return domain == zone_name or domain.endswith("." + zone_name)


def list_zones(route53: Any) -> list[HostedZone]:
    """Every hosted zone of the account (public and private)."""
    zones = []
    for page in route53.get_paginator("list_hosted_zones").paginate():
        for zone in page["HostedZones"]:
            zones.append(
                HostedZone(
                    id=zone["Id"].rsplit("/", 1)[-1],
                    name=zone["Name"].rstrip(".").lower(),
                    private=bool(zone.get("Config", {}).get("PrivateZone")),
                )
            )
    return zones


def delegation_checker(route53: Any) -> Callable[[HostedZone, HostedZone], bool]:
    """`delegates(parent, child)`: does the parent zone hold NS records for the child's name?"""

    def delegates(parent: HostedZone, child: HostedZone) -> bool:
        page = route53.list_resource_record_sets(
            HostedZoneId=parent.id, StartRecordName=child.name + ".", StartRecordType="NS", MaxItems="1"
        )
        sets = page.get("ResourceRecordSets", [])
        return bool(sets) and sets[0]["Type"] == "NS" and sets[0]["Name"].rstrip(".").lower() == child.name

    return delegates


def choose_zone(
    domain: str,
    zones: Iterable[HostedZone],
    delegates: Callable[[HostedZone, HostedZone], bool] | None = None,
) -> HostedZone | None:
    """The public zone of the account that answers for `domain`, or None.

    The longest public zone whose name is a suffix of the domain, as public DNS reaches it: from
    the shortest such zone, descend into a longer one only when the current zone delegates it
    (NS records; `delegates`), so a longer zone that was never delegated is not used. Without
    `delegates`, simply the longest. Two public zones with the same name are refused.
    """
    name = domain.removeprefix("*.")
    candidates = sorted((z for z in zones if not z.private and _in_zone(name, z.name)), key=lambda z: len(z.name))
    if not candidates:
        return None
    seen: dict[str, HostedZone] = {}
    for zone in candidates:
        if zone.name in seen:
            raise OpsError(
                f"two public hosted zones are named {zone.name} ({seen[zone.name].id}, {zone.id}); "
                f"cannot tell which one answers for {domain}: delete the unused one"
            )
        seen[zone.name] = zone
    current = candidates[0]
    for zone in candidates[1:]:
        if delegates is None or delegates(current, zone):
            current = zone
    return current


def zones_for(
    names: Sequence[str],
    zones: Sequence[HostedZone],
    env: Environment,
    delegates: Callable[[HostedZone, HostedZone], bool] | None = None,
) -> dict[str, HostedZone]:
    """The chosen zone of each name; OpsError naming the domain and the zone when there is none."""
    chosen: dict[str, HostedZone] = {}
    public = sorted(z.name for z in zones if not z.private)
    for name in names:
        zone = choose_zone(name, zones, delegates)
        if zone is not None:
            chosen[name] = zone
        elif _in_zone(name.removeprefix("*."), env.zone_name):
            raise OpsError(
                f"no public hosted zone {env.zone_name} for {name} in account {env.account_id} "
                f"(profile {env.profile}): create it first (`inv apply --env {env.name}`)"
            )
        else:
            listing = ", ".join(public) or "none"
            raise OpsError(
                f"{name} is outside every public hosted zone of account {env.account_id} "
                f"(zones: {listing}): use a name under {env.zone_name}"
            )
    return chosen


# -- the certificates in ACM ----------------------------------------------------------------------
@dataclass(frozen=True)
class ManagedCert:
    arn: str
    names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    key_algorithm: str


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
                )
            )
    return found


def match_certificate(certs: Iterable[ManagedCert], names: Sequence[str]) -> ManagedCert | None:
    """The managed certificate for exactly this set of names (the latest expiry if several)."""
    wanted = {n.lower() for n in names}
    same = [c for c in certs if set(c.names) == wanted]
    return max(same, key=lambda c: c.not_after) if same else None


# -- renewal --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    action: str  # issue | renew | skip
    reason: str


def renewal_due(
    not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime, renew_within_days: float | None = None
) -> bool:
    """Less than a third of the lifetime left, or fewer than `renew_within_days` days when given."""
    left = not_after - now
    if renew_within_days is not None:
        return left < dt.timedelta(days=renew_within_days)
    return left < (not_after - not_before) / 3


def decide(
    existing: ManagedCert | None,
    now: dt.datetime,
    *,
    renew_within_days: float | None = None,
    force: bool = False,
) -> Decision:
    if existing is None:
        return Decision("issue", "no certificate managed by stackops for these names")
    left = existing.not_after - now
    days = left.total_seconds() / 86400
    if force:
        return Decision("renew", f"--force ({days:.0f} days left)")
    if renewal_due(existing.not_before, existing.not_after, now, renew_within_days):
        return Decision("renew", f"{days:.0f} days left")
    window = (
        f"{renew_within_days:g} days"
        if renew_within_days is not None
        else f"a third of its {(existing.not_after - existing.not_before).days}-day lifetime"
    )
    return Decision("skip", f"{days:.0f} days left; renews within {window}")


# -- PEM and keys ---------------------------------------------------------------------------------
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


def check_key_type(existing: str, new: str, arn: str) -> None:
    """Refuse a re-import that would change the key type behind an existing ARN."""
    if normalize_key_algorithm(existing) != normalize_key_algorithm(new):
        raise Refused(
            f"refused: {arn} holds a {existing} certificate and the new one is {new}; re-importing would "
            f"change the key type behind an ARN that listeners use (clients pinned to it, TLS policies "
            f"that lack the new type). Remove its tag {MANAGED_TAG[0]}={MANAGED_TAG[1]} so the next run "
            f"imports a new ARN and publishes it, then delete the old one once unused; nothing was changed"
        )


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
) -> str:
    """Import into ACM (into `arn` when given, keeping it) and tag it; return the ARN.

    A re-import that would change the key type of `arn` is refused (read from ACM, not assumed).
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


# -- the ACME server ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AcmeServer:
    directory_url: str
    ca_bundle: str | None = None  # a CA file certbot must trust (REQUESTS_CA_BUNDLE), for pebble

    @property
    def key(self) -> str:
        """Folder name of certbot's state for this server (accounts are per server)."""
        if self.directory_url == LETS_ENCRYPT:
            return "letsencrypt"
        if self.directory_url == LETS_ENCRYPT_STAGING:
            return "letsencrypt-staging"
        # pebble gets a new CA (and forgets its accounts) at each start: key on the CA as well.
        try:
            ca = Path(self.ca_bundle).read_bytes() if self.ca_bundle else b""
        except FileNotFoundError:
            raise OpsError(f"the ACME server's CA bundle {self.ca_bundle} is missing: run `inv local.up`") from None
        return "acme-" + hashlib.sha256(self.directory_url.encode() + ca).hexdigest()[:12]


def emulator_acme(local_dir: Path | None = None) -> AcmeServer:
    """The local ACME server recorded by the emulator (`emulator.json`: "acme": {directory_url, ca_bundle})."""
    status = (local_dir or default_state_dir()) / "emulator.json"
    try:
        acme = json.loads(status.read_text())["acme"]
        return AcmeServer(directory_url=str(acme["directory_url"]), ca_bundle=str(acme["ca_bundle"]))
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        raise OpsError(f"the local ACME server is not recorded in {status}: run `inv local.up`") from None


def acme_server(env: Environment, *, staging: bool = False) -> AcmeServer:
    """The emulator's pebble for an emulated environment, else Let's Encrypt (production or staging)."""
    if env.emulated:
        return emulator_acme()
    return AcmeServer(LETS_ENCRYPT_STAGING if staging else LETS_ENCRYPT)


# -- certbot --------------------------------------------------------------------------------------
def certbot_dirs(env: Environment, acme: AcmeServer) -> tuple[Path, Path, Path]:
    base = env.state_dir / "certbot"
    return base / acme.key, base / "work", base / "logs"


def challenge_zones(zones: dict[str, HostedZone]) -> dict[str, str]:
    """{validation name: zone id}: what the plugin's zone lookup is asked, and what it must answer."""
    return {CHALLENGE_PREFIX + name.removeprefix("*."): zone.id for name, zone in zones.items()}


def pinned_zone_finder(zones: dict[str, str]) -> Callable[[Any, str], str]:
    """A replacement for certbot-dns-route53's `Authenticator._find_zone_id_for_domain`."""

    def find_zone_id_for_domain(self: Any, domain: str) -> str:
        from certbot import errors

        zone = zones.get(domain.rstrip(".").lower())
        if zone is None:
            raise errors.PluginError(f"stackops chose no hosted zone for {domain}")
        return zone

    return find_zone_id_for_domain


def _certbot_pinned(argv: list[str]) -> int | str | None:
    """certbot's main with the Route53 plugin held to the zones in STACKOPS_ROUTE53_ZONES."""
    from certbot.main import main as certbot_main
    from certbot_dns_route53._internal.dns_route53 import Authenticator

    Authenticator._find_zone_id_for_domain = pinned_zone_finder(json.loads(os.environ[ZONES_ENV]))  # type: ignore[method-assign]
    return certbot_main(argv)


def certbot_command(
    names: Sequence[str], acme: AcmeServer, dirs: tuple[Path, Path, Path], *, email: str | None
) -> list[str]:
    config_dir, work_dir, logs_dir = dirs
    command = [
        sys.executable, "-m", "stackops.certs", "certbot", "certonly",
        "--non-interactive", "--agree-tos", "--authenticator", "dns-route53",
        "--server", acme.directory_url,
        "--config-dir", str(config_dir), "--work-dir", str(work_dir), "--logs-dir", str(logs_dir),
        "--cert-name", cert_name(names), *KEY_TYPE_ARGS,
        # this tool decided to issue (see `decide`): certbot must not keep an old lineage
        "--force-renewal", "--max-log-backups", "20",
    ]  # fmt: skip
    command += ["--email", email, "--no-eff-email"] if email else ["--register-unsafely-without-email"]
    for name in names:
        command += ["--domain", name]
    return command


def certbot_environment(env: Environment, acme: AcmeServer, zones: dict[str, HostedZone]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_VARIABLES}
    environ.update(
        {
            "AWS_PROFILE": env.profile,  # the environment's credentials, nothing ambient
            "AWS_DEFAULT_REGION": env.region,
            ZONES_ENV: json.dumps(challenge_zones(zones)),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
    )
    if acme.ca_bundle:
        environ["REQUESTS_CA_BUNDLE"] = acme.ca_bundle
    return environ


# Ambient keys would win over AWS_PROFILE in botocore's credential chain.
_CREDENTIAL_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"}


def _certbot_failure(output: str, logs_dir: Path) -> str:
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    detail = [line for line in lines if line.startswith(("Detail:", "Type:", "Error", "An unexpected"))]
    pick = detail or lines[-3:]
    return " | ".join(pick)[:600] + f" (log: {logs_dir / 'letsencrypt.log'})"


def tighten_permissions(folder: Path) -> None:
    """Folders 0700 and files at most 0600 under certbot's folders (keys and account keys included)."""
    if not folder.exists():
        return
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(0o700 if path.is_dir() else mode & 0o600)


def run_certbot(
    env: Environment, names: Sequence[str], zones: dict[str, HostedZone], acme: AcmeServer, *, email: str | None
) -> Path:
    """Obtain a certificate for `names`; return certbot's live/ folder of it."""
    from stackops.ui import err

    dirs = certbot_dirs(env, acme)
    for folder in dirs:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    dirs[0].parent.chmod(0o700)
    command = certbot_command(names, acme, dirs, email=email)
    with err.status(f"certbot: DNS-01 for {', '.join(names)} at {acme.directory_url}"):
        proc = subprocess.run(
            command,
            env=certbot_environment(env, acme, zones),
            cwd=ROOT,
            capture_output=True,
            text=True,
            umask=0o077,
            check=False,
        )
    for folder in dirs:
        tighten_permissions(folder)
    if proc.returncode != 0:
        raise OpsError(
            f"certbot could not obtain a certificate for {', '.join(names)}: "
            f"{_certbot_failure(proc.stderr + proc.stdout, dirs[2])}"
        )
    return dirs[0] / "live" / cert_name(names)


# -- the operation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CertResult:
    names: tuple[str, ...]
    action: str  # issued | renewed | skipped | failed
    arn: str | None = None
    not_after: dt.datetime | None = None
    parameter: str | None = None
    arn_new: bool = False  # a new ARN (first import)
    parameter_changed: bool = False  # the SSM parameter now holds another ARN: Terraform must apply
    seconds: float | None = None  # from the start of the run to the ACM import
    reason: str = ""


class IssueOptions(TypedDict, total=False):
    """The options `issue` takes besides the names, which `renew_all` applies to each certificate."""

    renew_within_days: float | None
    force: bool
    email: str | None
    staging: bool
    acme: AcmeServer | None
    now: dt.datetime | None


def issue(
    env: Environment,
    domains: Iterable[str] | None = None,
    *,
    renew_within_days: float | None = None,
    force: bool = False,
    email: str | None = None,
    staging: bool = False,
    acme: AcmeServer | None = None,
    now: dt.datetime | None = None,
    check_account: bool = True,
) -> CertResult:
    """Issue, renew or skip the certificate for `domains` (default: the environment's hostnames).

    `acme` overrides the ACME server (default: `acme_server(env, staging=staging)`, i.e. pebble for
    an emulated environment, where `staging` has no meaning).
    """
    started = time.monotonic()
    names = normalize_names(domains if domains is not None else env.hostnames)
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise OpsError(f"malformed --email {email!r}")
    if check_account:
        from stackops.guard import check_accounts

        check_accounts(env, master=False)
    session = env.session()
    route53, acm, ssm = session.client("route53"), session.client("acm"), session.client("ssm")
    zones = zones_for(names, list_zones(route53), env, delegation_checker(route53))
    existing = match_certificate(managed_certificates(acm, env), names)
    decision = decide(existing, now or dt.datetime.now(dt.UTC), renew_within_days=renew_within_days, force=force)
    parameter = parameter_name(env, names)
    if decision.action == "skip" and existing is not None:
        # Only a lost parameter is written back: another managed certificate covering the same
        # hostnames may be the one published on purpose.
        changed = publish_arn(ssm, parameter, existing.arn, only_if_missing=True)
        return CertResult(
            names,
            SKIPPED,
            existing.arn,
            existing.not_after,
            parameter,
            parameter_changed=changed,
            reason=decision.reason,
        )
    if existing is not None:
        check_key_type(existing.key_algorithm, KEY_ALGORITHM, existing.arn)  # before any ACME call
    server = acme or acme_server(env, staging=staging)
    live = run_certbot(env, names, zones, server, email=email)
    body, chain = split_pem_chain((live / "fullchain.pem").read_text())
    issued_names = certificate_names(body)
    if set(issued_names) != set(names):
        raise OpsError(f"certbot returned a certificate for {', '.join(issued_names)}, not {', '.join(names)}")
    arn = import_certificate(
        acm, body, chain, (live / "privkey.pem").read_bytes(), tags_for(env, names), existing.arn if existing else None
    )
    seconds = time.monotonic() - started
    changed = publish_arn(ssm, parameter, arn)
    return CertResult(
        names,
        RENEWED if existing else ISSUED,
        arn,
        certificate_dates(body)[1],
        parameter,
        arn_new=existing is None,
        parameter_changed=changed,
        seconds=seconds,
        reason=decision.reason,
    )


def renew_all(env: Environment, **options: Unpack[IssueOptions]) -> list[CertResult]:
    """Renew each certificate this tool manages in the environment's account that needs it.

    `options` are `issue`'s (renew_within_days, force, email, staging, acme, now). A failure is
    recorded (action "failed") and the others still run; `run` raises at the end.
    """
    from stackops.guard import check_accounts

    check_accounts(env, master=False)
    results = []
    for cert in managed_certificates(env.session().client("acm"), env):
        try:
            results.append(issue(env, cert.names, check_account=False, **options))
        except OpsError as exc:
            results.append(CertResult(cert.names, FAILED, cert.arn, cert.not_after, reason=str(exc)))
    return results


def print_results(results: Sequence[CertResult]) -> None:
    """A table of the runs, then one unwrapped line per certificate with its ARN and SSM parameter
    (ARNs are long: kept whole so they can be copied and grepped at any terminal width)."""
    from rich.table import Table

    from stackops.ui import out

    table = Table(title="Certificates")
    for column in ("Names", "Action", "Not after", "Why"):
        table.add_column(column, overflow="fold")
    for row in results:
        not_after = f"{row.not_after:%Y-%m-%d %H:%M} UTC" if row.not_after else "-"
        table.add_row("\n".join(row.names), row.action, not_after, row.reason)
    out.print(table)
    for row in results:
        if row.arn:
            published = f"  SSM {row.parameter}{' (updated)' if row.parameter_changed else ''}" if row.parameter else ""
            out.print(f"{row.names[0]}: {row.arn}{published}", soft_wrap=True, markup=False)


def run(
    env: Environment,
    domains: Sequence[str] | None = None,
    *,
    renew_all_certs: bool = False,
    renew_within_days: float | None = None,
    force: bool = False,
    email: str | None = None,
    staging: bool = False,
) -> list[CertResult]:
    """`inv cert`: issue/renew, print the table, raise OpsError when any certificate failed.

    The caller runs `terraform apply` when any result has `parameter_changed`.
    """
    if renew_all_certs and domains:
        raise OpsError("--renew-all renews every managed certificate: give either --renew-all or --domain")
    options: IssueOptions = {"renew_within_days": renew_within_days, "force": force, "email": email, "staging": staging}
    if renew_all_certs:
        results = renew_all(env, **options)
        if not results:
            from stackops.ui import err

            err.print(f"no certificate managed by stackops in account {env.account_id} for {env.name}")
    else:
        results = [issue(env, domains or None, **options)]
    print_results(results)
    failed = [r for r in results if r.action == FAILED]
    if failed:
        raise OpsError("; ".join(f"{', '.join(r.names)}: {r.reason}" for r in failed))
    return results


def find_environment_for(domains: Sequence[str], envs: Iterable[Environment]) -> Environment:
    """The one environment whose hostnames include every domain; refused when none or several do."""
    names = normalize_names(domains)
    envs = list(envs)
    matching = [e for e in envs if set(names) <= set(e.hostnames)]
    if len(matching) == 1:
        return matching[0]
    listing = "; ".join(f"{e.name}: {', '.join(e.hostnames)}" for e in envs) or "no environments"
    if not matching:
        raise Refused(f"refused: no environment serves {', '.join(names)} ({listing}); pass --env")
    raise Refused(
        f"refused: several environments serve {', '.join(names)} ({', '.join(e.name for e in matching)}); pass --env"
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m stackops.certs certbot ARGS...`: certbot with the Route53 zones pinned (see above)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "certbot":
        sys.exit("usage: python -m stackops.certs certbot CERTBOT_ARGS...")
    sys.exit(_certbot_pinned(args[1:]))


if __name__ == "__main__":
    main()
