"""Sync the catalogue to Secrets Manager: create what an environment lacks, rotate the rotatable ones.

The report holds names, actions and consumers, never a value: values go from Python's `secrets`
module (or the caller's environment) straight into Secrets Manager and nowhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from stackops.app_secrets.catalogue import (
    MANAGED_TAG,
    ONE_OFF_TASKS,
    STAND_IN_LENGTH,
    Catalogue,
    Consumer,
    Secret,
    generate,
)
from stackops.errors import OpsError, aws_errors, session_profiles

_PREFIX = re.compile(r"^/([A-Za-z0-9_.-]+/)+$")

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
    profiles = session_profiles(session)
    for secret in chosen:
        with aws_errors(f"syncing {secret.full_name(prefix)} with Secrets Manager", profiles=profiles):
            row = _sync_one(client, secret, prefix, rotate, dry_run, emulated, environ)
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


def missing_secrets(session: Any, prefix: str, catalogue: Catalogue) -> list[str]:
    """Catalogue secrets not yet in Secrets Manager under `prefix` (Terraform looks them up by name)."""
    prefix = normalise_prefix(prefix)
    client = session.client("secretsmanager")
    existing: set[str] = set()
    with aws_errors(f"listing the secrets under {prefix} in Secrets Manager", profiles=session_profiles(session)):
        for page in client.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
            existing.update(item["Name"] for item in page["SecretList"])
    return [secret.name for secret in catalogue if secret.full_name(prefix) not in existing]
