"""The secrets catalogue, `secrets.yaml`: every secret an environment needs, where its value comes
from, whether it may be rotated, and which containers receive it.

Read here (validated, entry by entry, with errors that name the entry) and by Terraform
(`yamldecode` in secrets.tf), so the task definitions' `secrets` lists and the execution role's
permission cannot drift from the list.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackops.environments import read_hcl, read_yaml
from stackops.errors import OpsError
from stackops.paths import ROOT

CATALOGUE_PATH = ROOT / "secrets.yaml"
DEFAULT_SERVICES = frozenset({"concept", "django", "migrate"})
# Task definitions run as one-off tasks: they read secrets when they start, so a rotation needs
# no refresh for them (the next run gets the new value).
ONE_OFF_TASKS = frozenset({"migrate"})

SOURCES = ("random", "env")
# Letters and digits only: safe as an RDS master password ('/', '@', '"', ' ' are refused there),
# in a URL, a shell and a .env file.
ALPHABET = string.ascii_letters + string.digits
MIN_LENGTH, MAX_LENGTH = 16, 4096
STAND_IN_LENGTH = 32
MANAGED_TAG = {"Key": "managed-by", "Value": "stackops"}

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_KEYS = {
    "random": {"name", "description", "source", "length", "rotatable", "consumers"},
    "env": {"name", "description", "source", "env", "rotatable", "consumers"},
}


# -- the catalogue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Consumer:
    """A service that receives a secret, and the container environment variable it lands in."""

    service: str
    variable: str


@dataclass(frozen=True)
class Secret:
    """One catalogue entry. `name` is short; the Secrets Manager name is `prefix + name`."""

    name: str
    description: str
    source: str  # "random" | "env"
    rotatable: bool
    consumers: tuple[Consumer, ...]
    length: int | None = None  # random only
    env: str | None = None  # env only

    def full_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(sorted({c.service for c in self.consumers}))


@dataclass(frozen=True)
class Catalogue:
    secrets: tuple[Secret, ...]
    path: Path
    services: frozenset[str]

    def __iter__(self) -> Iterator[Secret]:
        return iter(self.secrets)

    def __len__(self) -> int:
        return len(self.secrets)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.secrets]

    def get(self, name: str) -> Secret:
        for secret in self.secrets:
            if secret.name == name:
                return secret
        raise OpsError(f"no secret {name!r} in {self.path}")

    def for_service(self, service: str) -> dict[str, Secret]:
        """Container variable -> secret, for one service (what its task definition receives)."""
        return {c.variable: s for s in self.secrets for c in s.consumers if c.service == service}

    def select(self, only: str | None, prefix: str) -> list[Secret]:
        """The entries whose name starts with `only` (a short name, or a full one under `prefix`)."""
        if not only:
            return list(self.secrets)
        short = only
        if only.startswith("/"):
            if not only.startswith(prefix):
                raise OpsError(f"--only {only} is not under this environment's prefix {prefix}")
            short = only[len(prefix) :]
        chosen = [s for s in self.secrets if s.name.startswith(short)]
        if not chosen:
            raise OpsError(f"no secret in {self.path.name} starts with {short!r}; names: {', '.join(self.names)}")
        return chosen


def known_services(root: Path = ROOT) -> frozenset[str]:
    """The task definitions a secret may feed: the services of the Terraform root's
    `locals.services` (a literal map; secrets.tf builds each one's `secrets` list from the same
    names), and the one-off tasks. The default set when the folder holds no Terraform (a
    catalogue checked on its own)."""
    files = sorted(root.glob("*.tf"))
    if not files:
        return DEFAULT_SERVICES
    services: set[str] = set()
    for path in files:
        if "services" not in path.read_text():  # parsing HCL is slow: only the files that can hold it
            continue
        for block in read_hcl(path).get("locals", []):
            if "services" not in block:
                continue
            if not isinstance(block["services"], dict):
                raise OpsError(f"{path}: locals.services must be a literal map of service names")
            services.update(block["services"])
    if not services:
        raise OpsError(f"no locals.services in {root}/*.tf: cannot tell which services a secret may feed")
    return frozenset(services) | ONE_OFF_TASKS


def load_catalogue(path: Path = CATALOGUE_PATH, services: Iterable[str] | None = None) -> Catalogue:
    """Read and validate the catalogue; an invalid entry raises OpsError naming it.

    Consumer services must be in `services` (default: `known_services` of the folder holding the
    catalogue: the Terraform root's services and the one-off tasks).
    """
    known = frozenset(services) if services is not None else known_services(path.parent)
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("secrets"), list):
        raise OpsError(f"{path} must hold a list under the key 'secrets'")
    entries: list[Secret] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["secrets"], start=1):
        secret = _parse_entry(raw, index, path, known)
        if secret.name in seen:
            raise OpsError(f"{path.name}: entry {index} ({secret.name}): duplicate name")
        seen.add(secret.name)
        entries.append(secret)
    catalogue = Catalogue(secrets=tuple(entries), path=path, services=known)
    _check_variables(catalogue)
    return catalogue


def _parse_entry(raw: Any, index: int, path: Path, services: frozenset[str]) -> Secret:
    label = f"{path.name}: entry {index}"
    if not isinstance(raw, dict):
        raise OpsError(f"{label}: expected a mapping with name, description, source, ...")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise OpsError(f"{label} ({name}): bad name; use lowercase letters, digits and single '-'")
    label = f"{label} ({name})"

    def fail(message: str) -> OpsError:
        return OpsError(f"{label}: {message}")

    source = raw.get("source")
    if source not in SOURCES:
        raise fail(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    unknown = sorted(set(raw) - _KEYS[source])
    if unknown:
        raise fail(f"unexpected key(s) {', '.join(unknown)} for source {source}")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise fail("missing description")
    rotatable = raw.get("rotatable")
    if not isinstance(rotatable, bool):
        raise fail("rotatable must be true or false")

    length = env = None
    if source == "random":
        length = raw.get("length")
        if length is None:
            raise fail("missing length (required for source random)")
        if not isinstance(length, int) or isinstance(length, bool) or not MIN_LENGTH <= length <= MAX_LENGTH:
            raise fail(f"length must be a whole number from {MIN_LENGTH} to {MAX_LENGTH}")
    else:
        env = raw.get("env")
        if env is None:
            raise fail("missing env (the environment variable to read, required for source env)")
        if not isinstance(env, str) or not _VARIABLE.match(env):
            raise fail(f"env {env!r} is not an environment variable name (A-Z, 0-9, _)")

    raw_consumers = raw.get("consumers")
    if not isinstance(raw_consumers, list):
        raise fail("consumers must be a list of {service: NAME, variable: VAR} (may be empty)")
    consumers: list[Consumer] = []
    for item in raw_consumers:
        if not isinstance(item, dict) or set(item) != {"service", "variable"}:
            raise fail(f"consumer {item!r} must be {{service: NAME, variable: VAR}}")
        service, variable = item["service"], item["variable"]
        if service not in services:
            raise fail(f"unknown consumer service {service!r}; known: {', '.join(sorted(services))}")
        if not isinstance(variable, str) or not _VARIABLE.match(variable):
            raise fail(f"consumer variable {variable!r} is not an environment variable name")
        consumer = Consumer(service=service, variable=variable)
        if consumer in consumers:
            raise fail(f"consumer {service}/{variable} is listed twice")
        consumers.append(consumer)
    return Secret(
        name=name,
        description=description.strip(),
        source=source,
        rotatable=rotatable,
        consumers=tuple(consumers),
        length=length,
        env=env,
    )


def _check_variables(catalogue: Catalogue) -> None:
    """Refuse two secrets feeding the same variable of one service (the container would get one)."""
    owners: dict[tuple[str, str], str] = {}
    for secret in catalogue:
        for c in secret.consumers:
            other = owners.setdefault((c.service, c.variable), secret.name)
            if other != secret.name:
                raise OpsError(
                    f"{catalogue.path.name}: {secret.name} and {other} both feed {c.variable} of {c.service}"
                )


def generate(length: int) -> str:
    """A cryptographically random value of letters and digits."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))
