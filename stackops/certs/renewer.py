"""The renewal function: `inv cert --renew-all`'s code (`renew_all`), run daily by AWS Lambda.

Deployed by modules/cert-renewer (renewal.tf) from the package stackops/certs/package.py builds.
Its configuration is the environment variables Terraform sets:
  STACKOPS_ENVIRONMENT          JSON {"name": ..., "variables": {...}}: the environment's tfvars facts,
                                without profiles (the function's role is its credentials)
  STACKOPS_ACME_ACCOUNT_SECRET  the Secrets Manager secret holding certbot's ACME account
  STACK_STATE_DIR               /tmp/stackops: certbot's config, work and logs folders (Lambda's
                                only writable folder is /tmp)

The ACME account: certbot registers one on its first run; its `accounts/` folder is saved in the
secret and put back before every later run, so renewals reuse one account (Let's Encrypt limits
new accounts per IP, and an account per day would be noise). Its key is never printed.

A run that fails raises, so Lambda counts an error (the errors alarm) and EventBridge Scheduler's
retry applies; the result of a run that succeeds is returned (and printed to its log).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackops.environments import Environment

ENVIRONMENT_VARIABLE = "STACKOPS_ENVIRONMENT"
ACCOUNT_SECRET_VARIABLE = "STACKOPS_ACME_ACCOUNT_SECRET"  # noqa: S105 -- the variable naming the secret


class RenewalFailed(RuntimeError):
    """A certificate could not be renewed: the run fails, so the function's Errors metric counts it."""


def environment_from(variables: Mapping[str, str]) -> Environment:
    """The environment the function renews for, from STACKOPS_ENVIRONMENT (renewal.tf writes it)."""
    from stackops.paths import ROOT

    try:
        declared = json.loads(variables[ENVIRONMENT_VARIABLE])
        name, facts = str(declared["name"]), dict(declared["variables"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RenewalFailed(f"{ENVIRONMENT_VARIABLE} is missing or malformed: {exc}") from None
    return Environment(name=name, root=ROOT, variables=facts, backend={})


def accounts_folder(env: Environment, acme: Any) -> Path:
    """certbot's accounts/ folder for this ACME server (stackops.certs.certbot.certbot_dirs)."""
    from stackops.certs.certbot import certbot_dirs

    return certbot_dirs(env, acme)[0] / "accounts"


def read_tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` as {relative path: text} (certbot's account files are small JSON)."""
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_tree(folder: Path, files: Mapping[str, str]) -> None:
    """Write `files` (read_tree's form) under `folder`, folders 0700 and files 0600."""
    for relative, text in files.items():
        path = folder / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise RenewalFailed(f"the ACME account secret holds a path outside the accounts folder: {relative}")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)


def restore_account(secrets: Any, secret_id: str, folder: Path) -> dict[str, str]:
    """Put the saved ACME account back under `folder`; return what was restored ({} on a first run)."""
    try:
        value = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
    except secrets.exceptions.ResourceNotFoundException:  # created empty by Terraform: no run saved one yet
        return {}
    try:
        files = json.loads(value) if value else {}
    except ValueError:
        files = None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise RenewalFailed(f"the ACME account secret {secret_id} does not hold certbot's accounts folder: "
                            "delete its value and the next run registers a new account")  # fmt: skip
    write_tree(folder, files)
    return dict(files)


def save_account(secrets: Any, secret_id: str, folder: Path, restored: Mapping[str, str]) -> bool:
    """Save certbot's accounts folder when this run changed it (a first registration); True when saved."""
    files = read_tree(folder)
    if not files or files == dict(restored):
        return False
    secrets.put_secret_value(SecretId=secret_id, SecretString=json.dumps(files, sort_keys=True))
    return True


def renew(variables: Mapping[str, str]) -> dict[str, Any]:
    """One run: restore the ACME account, renew what is due, save the account, report."""
    from stackops.certs.certbot import acme_server
    from stackops.certs.issue import FAILED, print_results, renew_all
    from stackops.certs.metrics import publish_results
    from stackops.errors import OpsError

    env = environment_from(variables)
    staging = bool(env.variables.get("acme_staging", False))
    acme = acme_server(env, staging=staging)
    secrets = env.session().client("secretsmanager")
    secret_id = variables.get(ACCOUNT_SECRET_VARIABLE, "")
    folder = accounts_folder(env, acme)
    restored = restore_account(secrets, secret_id, folder) if secret_id else {}
    try:
        results = renew_all(env, staging=staging, acme=acme, zone_only=True)
    except BaseException:
        _save_after_failure(secrets, secret_id, folder, restored)
        raise
    # An account registered by a run that failed is still worth keeping: the results say why it failed.
    saved = save_account(secrets, secret_id, folder, restored) if secret_id else False
    print_results(results)
    try:
        publish_results(env, results)
        unpublished = None
    except OpsError as exc:  # raised after the report: a lost datapoint must not hide the renewals' results
        unpublished = str(exc)
    report = {
        "environment": env.name,
        "account_saved": saved,
        "certificates": [
            {
                "names": list(r.names),
                "action": r.action,
                "not_after": r.not_after.isoformat() if r.not_after else None,
                "renews": r.renews,
                "reason": r.reason,
            }
            for r in results
        ],
    }
    print(json.dumps(report, sort_keys=True))
    failed = [r for r in results if r.action == FAILED]
    if failed:
        raise RenewalFailed("; ".join(f"{', '.join(r.names)}: {r.reason}" for r in failed))
    if unpublished:  # the days-remaining alarm would go blind: the errors alarm says so instead
        raise RenewalFailed(unpublished)
    return report


def _save_after_failure(secrets: Any, secret_id: str, folder: Path, restored: Mapping[str, str]) -> None:
    """Keep an account certbot registered before the run broke, without hiding why it broke."""
    if not secret_id:
        return
    try:
        save_account(secrets, secret_id, folder, restored)
    except Exception as exc:  # the run's own error is the one raised
        print(f"warning: the ACME account could not be saved: {type(exc).__name__}: {exc}")


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (modules/cert-renewer `handler`)."""
    from stackops.errors import OpsError

    try:
        return renew(os.environ)
    except OpsError as exc:  # the tool's errors are one line; raised so the run counts as failed
        raise RenewalFailed(str(exc)) from None
