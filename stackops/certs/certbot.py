"""The ACME server and certbot: its folders, command line and environment, and one run of it (step c).

certbot runs as `python -m stackops.certs certbot ...` (see `__main__.py`), which holds the Route53
plugin to the zones chosen here (passed in ZONES_ENV).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackops.certs.names import cert_name
from stackops.certs.zones import HostedZone
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.paths import ROOT

KEY_TYPE_ARGS = ("--key-type", "ecdsa", "--elliptic-curve", "secp256r1")
KEY_ALGORITHM = "EC_prime256v1"  # ACM's name for what KEY_TYPE_ARGS produce
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
ZONES_ENV = "STACKOPS_ROUTE53_ZONES"
CHALLENGE_PREFIX = "_acme-challenge."
# The local ACME server (pebble) of the emulated environment: set by the emulator's activation
# (its `environ()`, applied by `activate()`), read here, so this package never imports the emulator.
ACME_DIRECTORY_ENV = "STACKOPS_ACME_DIRECTORY_URL"
ACME_CA_BUNDLE_ENV = "STACKOPS_ACME_CA_BUNDLE"


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


def acme_server(env: Environment, *, staging: bool = False) -> AcmeServer:
    """The emulator's pebble for an emulated environment, else Let's Encrypt (production or staging).

    The emulated environment's server is the one in ACME_DIRECTORY_ENV and ACME_CA_BUNDLE_ENV,
    which the emulator's activation sets.
    """
    if env.emulated:
        directory_url, ca_bundle = os.environ.get(ACME_DIRECTORY_ENV), os.environ.get(ACME_CA_BUNDLE_ENV)
        if not directory_url or not ca_bundle:
            raise OpsError(
                f"the local ACME server of {env.name} is not known ({ACME_DIRECTORY_ENV} and "
                f"{ACME_CA_BUNDLE_ENV} are not both set): run `inv local.up`"
            )
        return AcmeServer(directory_url=directory_url, ca_bundle=ca_bundle)
    # A real environment ignores the two variables: a stray one must never send prod's certificate
    # requests (and its DNS challenge) to another ACME server.
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


def certbot_command(
    names: Sequence[str],
    acme: AcmeServer,
    dirs: tuple[Path, Path, Path],
    *,
    email: str | None,
    profile: str | None = None,
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
    if profile:
        # Preferred, not required: certbot asks for it only when the CA's directory lists it, so a CA
        # without profiles (pebble 2.4), or one that drops this one later, still issues its default.
        command += ["--preferred-profile", profile]
    for name in names:
        command += ["--domain", name]
    return command


def certbot_environment(env: Environment, acme: AcmeServer, zones: dict[str, HostedZone]) -> dict[str, str]:
    if env.profile:  # the environment's profile, nothing ambient
        environ = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_VARIABLES}
        environ["AWS_PROFILE"] = env.profile
    else:  # the default credential chain (AWS_PROFILE, keys, web identity): what the guard checked
        environ = dict(os.environ)
    environ.update({"AWS_DEFAULT_REGION": env.region, ZONES_ENV: json.dumps(challenge_zones(zones))})
    if acme.ca_bundle:
        environ["REQUESTS_CA_BUNDLE"] = acme.ca_bundle
    return environ


# Ambient keys would win over AWS_PROFILE in botocore's credential chain.
_CREDENTIAL_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"}


def _certbot_failure(output: str, logs_dir: Path) -> str:
    """certbot's reasons in one line: per failed name its `Identifier:`, `Type:` and `Detail:` lines.

    The CA may fail one name of several (the others are then not validated), so the names are
    kept: which `_acme-challenge` lookup failed is in that name's detail.
    """
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    detail = [line for line in lines if line.startswith(("Identifier:", "Detail:", "Type:", "Error", "An unexpected"))]
    pick = detail or lines[-3:]
    return " | ".join(pick)[:1000] + f" (log: {logs_dir / 'letsencrypt.log'})"


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
    env: Environment,
    names: Sequence[str],
    zones: dict[str, HostedZone],
    acme: AcmeServer,
    *,
    email: str | None,
    profile: str | None = None,
) -> Path:
    """Obtain a certificate for `names` (in the ACME `profile` when the CA offers it); return certbot's
    live/ folder of it."""
    from stackops.parallel import child_signals, on_main_thread
    from stackops.ui import err

    dirs = certbot_dirs(env, acme)
    for folder in dirs:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    dirs[0].parent.chmod(0o700)
    command = certbot_command(names, acme, dirs, email=email, profile=profile)
    # A spinner only from the main thread: `inv up` runs certbot in a worker beside the apply's live view.
    waiting = f"certbot: DNS-01 for {', '.join(names)} at {acme.directory_url}"
    spinner = err.status(waiting) if on_main_thread() else nullcontext()
    with spinner, child_signals():
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
