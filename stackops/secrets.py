"""The secrets catalogue (`secrets.yaml`) and the one operation on it: sync to Secrets Manager.

`sync` creates the secrets an environment lacks and, when asked, rotates the rotatable ones. Its
report holds names, actions and consumers, never a value: values go from `secrets` (or the
caller's environment) straight into Secrets Manager and nowhere else.
"""

from __future__ import annotations

import os
import re
import secrets as _crypto
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table

from stackops import ui
from stackops.errors import OpsError

ROOT = Path(__file__).resolve().parent.parent
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
_PREFIX = re.compile(r"^/([A-Za-z0-9_.-]+/)+$")
_KEYS = {
    "random": {"name", "description", "source", "length", "rotatable", "consumers"},
    "env": {"name", "description", "source", "env", "rotatable", "consumers"},
}

# Report actions.
CREATED = "created"
CREATED_STAND_IN = "created (stand-in)"
ROTATED = "rotated"
UNCHANGED = "unchanged"
MISSING = "missing"
WOULD_CREATE = "would create"
WOULD_CREATE_STAND_IN = "would create (stand-in)"
WOULD_ROTATE = "would rotate"
WRITE_ACTIONS = frozenset({CREATED, CREATED_STAND_IN, ROTATED})


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
    """Service names = stems of task-definitions/*.json (the default set until those exist)."""
    folder = root / "task-definitions"
    found = frozenset(p.stem for p in folder.glob("*.json")) if folder.is_dir() else frozenset()
    return found or DEFAULT_SERVICES


def load_catalogue(path: Path = CATALOGUE_PATH, services: Iterable[str] | None = None) -> Catalogue:
    """Read and validate the catalogue; an invalid entry raises OpsError naming it.

    Consumer services must be in `services` (default: the task definitions beside the catalogue).
    """
    known = frozenset(services) if services is not None else known_services(path.parent)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise OpsError(f"{path} is missing") from None
    except yaml.YAMLError as exc:
        raise OpsError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
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
    return "".join(_crypto.choice(ALPHABET) for _ in range(length))


# -- the sync report -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncRow:
    name: str  # full Secrets Manager name
    action: str
    consumers: tuple[Consumer, ...]
    rotatable: bool
    note: str = ""


@dataclass
class SyncReport:
    prefix: str
    rotate: bool
    dry_run: bool
    rows: list[SyncRow] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when a required secret could not be created (its environment variable is unset)."""
        return any(row.action == MISSING for row in self.rows)

    @property
    def missing(self) -> list[str]:
        return [row.name for row in self.rows if row.action == MISSING]

    @property
    def rotated(self) -> list[str]:
        return [row.name for row in self.rows if row.action == ROTATED]

    @property
    def changed(self) -> bool:
        return any(row.action in WRITE_ACTIONS for row in self.rows)

    def services_to_refresh(self, include_one_off: bool = False) -> list[str]:
        """Services consuming a rotated secret: they still run the old value until redeployed."""
        services = {c.service for row in self.rows if row.action == ROTATED for c in row.consumers}
        if not include_one_off:
            services -= ONE_OFF_TASKS
        return sorted(services)


# -- sync --------------------------------------------------------------------------------------------
def normalise_prefix(prefix: str) -> str:
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    if not _PREFIX.match(prefix):
        raise OpsError(f"secret prefix {prefix!r} must look like /exii/<env>/")
    return prefix


def sync(
    session: Any,
    prefix: str,
    catalogue: Catalogue,
    *,
    rotate: bool = False,
    only: str | None = None,
    dry_run: bool = False,
    emulated: bool = False,
    environ: Mapping[str, str] = os.environ,
) -> SyncReport:
    """Create the missing secrets under `prefix`; with `rotate`, rewrite the rotatable ones.

    A non-rotatable secret is never overwritten. An env-sourced secret whose variable is unset is
    reported `missing` (or, on the emulated AWS, created with a random stand-in). `dry_run` only
    reads. Values never leave this function except towards Secrets Manager.
    """
    prefix = normalise_prefix(prefix)
    chosen = catalogue.select(only, prefix)
    client = session.client("secretsmanager")
    report = SyncReport(prefix=prefix, rotate=rotate, dry_run=dry_run)
    for secret in chosen:
        try:
            row = _sync_one(client, secret, prefix, rotate, dry_run, emulated, environ)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise OpsError(
                f"Secrets Manager refused {secret.full_name(prefix)}: "
                f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
            ) from None
        except BotoCoreError as exc:  # no credentials, unreachable endpoint, invalid parameters
            detail = " ".join(str(exc).split())
            raise OpsError(f"Secrets Manager call for {secret.full_name(prefix)} failed: {detail}") from None
        report.rows.append(row)
    return report


def _describe(client: Any, name: str) -> dict[str, Any] | None:
    try:
        return client.describe_secret(SecretId=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def _env_value(secret: Secret, environ: Mapping[str, str]) -> str | None:
    value = environ.get(secret.env or "")
    return value or None  # an empty variable is as good as unset: Secrets Manager refuses ""


def _sync_one(
    client: Any,
    secret: Secret,
    prefix: str,
    rotate: bool,
    dry_run: bool,
    emulated: bool,
    environ: Mapping[str, str],
) -> SyncRow:
    name = secret.full_name(prefix)

    def row(action: str, note: str = "") -> SyncRow:
        return SyncRow(name=name, action=action, consumers=secret.consumers, rotatable=secret.rotatable, note=note)

    current = _describe(client, name)
    if current is not None and current.get("DeletedDate"):
        return row(MISSING, f"scheduled for deletion: aws secretsmanager restore-secret --secret-id {name}")

    if current is None:
        stand_in = False
        if secret.source == "random":
            value = generate(secret.length or STAND_IN_LENGTH)
        else:
            value = _env_value(secret, environ)
            if value is None and not emulated:
                return row(MISSING, f"{secret.env} unset")
            if value is None:
                # The emulated AWS has no real third-party service: any value will do.
                value, stand_in = generate(STAND_IN_LENGTH), True
        if dry_run:
            return row(WOULD_CREATE_STAND_IN if stand_in else WOULD_CREATE)
        try:
            client.create_secret(
                Name=name,
                Description=secret.description,
                SecretString=value,
                Tags=[
                    MANAGED_TAG,
                    {"Key": "rotatable", "Value": str(secret.rotatable).lower()},
                    {"Key": "source", "Value": "stand-in" if stand_in else secret.source},
                ],
            )
        except ClientError as exc:
            # Created by someone else between our look and our write: leave theirs alone.
            if exc.response.get("Error", {}).get("Code") == "ResourceExistsException":
                return row(UNCHANGED, "created concurrently")
            raise
        return row(CREATED_STAND_IN if stand_in else CREATED)

    if not rotate:
        return row(UNCHANGED)
    if not secret.rotatable:
        return row(UNCHANGED, "not rotatable")
    if secret.source == "random":
        if dry_run:
            return row(WOULD_ROTATE)
        client.put_secret_value(SecretId=name, SecretString=generate(secret.length or STAND_IN_LENGTH))
        return row(ROTATED)
    value = _env_value(secret, environ)
    if value is None:
        return row(UNCHANGED, "env unset")
    # Compare in memory only; the stored value is not kept or shown.
    stored = client.get_secret_value(SecretId=name).get("SecretString")
    if stored == value:
        return row(UNCHANGED, "same value")
    if dry_run:
        return row(WOULD_ROTATE)
    client.put_secret_value(SecretId=name, SecretString=value)
    return row(ROTATED)


# -- output ------------------------------------------------------------------------------------------
_STYLES = {
    CREATED: "green",
    CREATED_STAND_IN: "green",
    ROTATED: "yellow",
    MISSING: "bold red",
    WOULD_CREATE: "cyan",
    WOULD_CREATE_STAND_IN: "cyan",
    WOULD_ROTATE: "cyan",
}


def _env_name(prefix: str) -> str:
    parts = [p for p in prefix.split("/") if p]
    return parts[-1] if parts else "E"


def print_report(report: SyncReport, refreshed: bool, *, env: str | None = None) -> None:
    """The end-of-command table; says which services still run old values when not refreshed."""
    env = env or _env_name(report.prefix)
    stale = set() if refreshed else set(report.services_to_refresh())
    title = f"Secrets under {report.prefix}" + (" (dry run: nothing written)" if report.dry_run else "")
    table = Table(title=title, title_justify="left")
    table.add_column("Secret", no_wrap=True)  # short name: the prefix is in the title
    table.add_column("Action", no_wrap=True)
    table.add_column("Rotates", justify="center")
    table.add_column("Consumers")
    table.add_column("Note")
    for row in report.rows:
        services = sorted({c.service for c in row.consumers})
        note = row.note
        old = [s for s in services if s in stale] if row.action == ROTATED else []
        if old:
            note = "[yellow]old value running[/yellow]"
        style = _STYLES.get(row.action, "")
        action = f"[{style}]{row.action}[/{style}]" if style else row.action
        short = row.name.removeprefix(report.prefix)
        table.add_row(short, action, "yes" if row.rotatable else "no", ", ".join(services) or "-", note)

    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.action] = counts.get(row.action, 0) + 1
    table.caption = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    table.caption_justify = "left"
    ui.out.print(table)

    if report.missing:
        names = ", ".join(report.missing)
        ui.out.print(
            f"[bold red]Missing:[/bold red] {names}: see the notes (export the variables), then run again.",
            soft_wrap=True,
        )
    if stale:
        ui.out.print(
            f"[yellow]Still running the old values:[/yellow] {', '.join(sorted(stale))}. "
            f"Roll them with `inv refresh --env {env} --force` "
            f"(or rotate with `inv secrets --env {env} --rotate --refresh` next time).",
            soft_wrap=True,
        )
    elif report.rotated and refreshed:
        ui.out.print(f"Refreshed: {', '.join(report.services_to_refresh()) or 'no running service'}.")


def missing_secrets(session: Any, prefix: str, catalogue: Catalogue) -> list[str]:
    """Catalogue secrets not yet in Secrets Manager under `prefix` (Terraform looks them up by name)."""
    prefix = normalise_prefix(prefix)
    client = session.client("secretsmanager")
    existing: set[str] = set()
    for page in client.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        existing.update(item["Name"] for item in page["SecretList"])
    return [secret.name for secret in catalogue if secret.full_name(prefix) not in existing]
