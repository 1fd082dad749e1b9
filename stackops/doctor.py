"""`inv doctor`: everything that must hold before the first plan, each as pass/fail with the fix."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions

from stackops import environments, ui
from stackops.bootstrap import state_bucket_exists
from stackops.environments import Environment, read_hcl
from stackops.errors import OpsError
from stackops.guard import caller_account, declared_accounts
from stackops.paths import ROOT
from stackops.terraform import provider_mirror, terraform_binary
from stackops.ui import Table


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def required_terraform(root: Path = ROOT) -> tuple[int, ...]:
    """The lowest Terraform version the root's versions.tf accepts (`required_version = ">= X.Y"`)."""
    blocks = read_hcl(root / "versions.tf").get("terraform", [])
    constraint = next((str(block["required_version"]) for block in blocks if "required_version" in block), "")
    match = re.search(r">=\s*(\d+)\.(\d+)(?:\.(\d+))?", constraint)
    if not match:
        raise OpsError(f"{root / 'versions.tf'}: required_version {constraint!r} is not of the form >= X.Y")
    return tuple(int(part) for part in match.groups() if part is not None)


def terraform_checks() -> list[Check]:
    try:
        binary = terraform_binary()
    except OpsError as exc:
        return [Check("terraform", False, str(exc))]
    text = subprocess.run([binary, "version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", text)
    version = tuple(int(x) for x in match.groups()) if match else (0, 0, 0)
    minimum = required_terraform()
    ok = version[: len(minimum)] >= minimum
    found = ".".join(map(str, version))
    need = ".".join(map(str, minimum))
    checks = [Check("terraform", ok, f"{found} at {binary}" + ("" if ok else f"; versions.tf requires >= {need}"))]
    mirror = provider_mirror()
    checks.append(
        Check("providers", True, f"offline mirror {mirror}")
        if mirror
        else Check("providers", True, "no offline mirror: hashicorp/aws is downloaded from the registry")
    )
    return checks


def environment_checks(env: Environment, prepare: Callable[[Environment], None] = lambda env: None) -> list[Check]:
    """Placeholders, then each profile's account; `prepare` readies AWS access first (the emulator for local)."""
    checks = []
    if env.placeholders:
        fields = ", ".join(env.placeholders)
        checks.append(
            Check(f"{env.name}: placeholders", False, f"set {fields} in {env.tfvars_path} (and drop the marker)")
        )
    else:
        checks.append(Check(f"{env.name}: placeholders", True, "none left"))
    try:
        prepare(env)
    except OpsError as exc:
        checks.append(Check(f"{env.name}: emulator", False, str(exc)))
        return checks
    master_ok = False
    for master, expected in declared_accounts(env):
        profile = env.master_profile if master else env.profile
        source = f"profile {profile}" if profile else "default credential chain" + " (state)" * master
        label = f"{env.name}: {source}"
        try:
            actual = caller_account(env.session(master=master), env.credentials_label(master=master), profile)
        except OpsError as exc:
            checks.append(Check(label, False, str(exc)))
            continue
        if actual == expected:
            checks.append(Check(label, True, f"account {actual}"))
            master_ok = master_ok or master
        else:
            checks.append(Check(label, False, f"account {actual}, expected {expected}: fix the profile or the tfvars"))
    if master_ok:  # the bucket is asked about only as the declared master account
        checks.append(state_bucket_check(env))
    return checks


def state_bucket_check(env: Environment) -> Check:
    """The state bucket exists and is the master account's own (asked with ExpectedBucketOwner)."""
    label = f"{env.name}: state bucket {env.state_bucket}"
    try:
        found = state_bucket_exists(env)
    except OpsError as exc:  # Refused too: another account owns the name
        return Check(label, False, str(exc).removeprefix("refused: "))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:  # a failed check, not a crash
        return Check(label, False, f"cannot check it: {exc}")
    if found:
        return Check(label, True, f"owned by the master account {env.master_account_id}")
    return Check(label, False, f"does not exist yet: run inv bootstrap --env {env.name}")


def run(
    name: str | None = None,
    prepare: Callable[[Environment], None] = lambda env: None,
    extra: Callable[[Environment], list[Check]] | None = None,
) -> int:
    """Every check, as a table; 1 when any fails. `prepare(env)` readies AWS access for an environment;
    `extra(env)` adds checks for the one environment named (`--ci`: stackops.doctor_ci.ci_checks)."""
    if extra and not name:
        raise OpsError("inv doctor --ci checks one environment's CI credentials: pass --env")
    checks = terraform_checks()
    for env_name in [name] if name else environments.names():
        try:
            env = environments.load(env_name)
        except OpsError as exc:
            checks.append(Check(f"{env_name}: files", False, str(exc)))
            continue
        if extra:
            checks.extend(extra(env))
        checks.extend(environment_checks(env, prepare))
    table = Table(title="doctor")
    for column in ("check", "result", "detail / fix"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, "[green]pass[/]" if check.ok else "[red]fail[/]", check.detail)
    ui.out.print(table)
    return 0 if all(c.ok for c in checks) else 1
