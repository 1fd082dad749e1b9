"""No profile at all: the tool on the default credential chain, as a CI job with web identity runs it.

A copy of the repository whose `local` environment names no profile (tfvars) and reaches the state
account by assuming a role there (backend.hcl `assume_role`, what Terraform's S3 backend and the
tool both read) is run against the session's stack with only `AWS_ROLE_ARN` +
`AWS_WEB_IDENTITY_TOKEN_FILE` set: botocore, Terraform's provider and backend, and certbot each
call AssumeRoleWithWebIdentity themselves. moto accepts any token (AWS checks it against the
role's OIDC trust policy); the account guard still compares the callers' accounts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stackops.local.emulator import ROLE_NAME
from stackops.paths import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

LOCAL_ACCOUNT, MASTER_ACCOUNT = "111122223333", "123456789012"


def copy_without_profiles(target: Path) -> Path:
    """The repository's tracked files (as they are in the working tree), `local` without profiles."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if (ROOT / "build").is_dir():  # the renewal function's package: the same inputs, so its stamp matches
        shutil.copytree(ROOT / "build", target / "build")
    folder = target / "environments" / "local"
    tfvars = folder / "variables.tfvars"
    tfvars.write_text(
        "\n".join(
            line for line in tfvars.read_text().splitlines() if not line.startswith(("profile ", "master_profile "))
        )
    )
    backend = folder / "backend.hcl"
    kept = [line for line in backend.read_text().splitlines() if not line.startswith("profile ")]
    role = f"arn:aws:iam::{MASTER_ACCOUNT}:role/{ROLE_NAME}"
    backend.write_text("\n".join([*kept, f'assume_role = {{\n  role_arn = "{role}"\n}}\n']))
    return target


def web_identity_environ(folder: Path, role_arn: str) -> dict[str, str]:
    """What a CI job's `inv` runs with: no profile, a token file and the role to assume with it; its
    own tool state under `folder`, the session's emulator."""
    token = folder / "web-identity-token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmV4aWkvaW5mcmEifQ.c2lnbmF0dXJl")  # any JWT-shaped text
    return {
        **{k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")},
        "STACK_STATE_DIR": str(folder / "state"),  # its own Terraform data and certbot folders
        "STACK_LOCAL_DIR": os.environ["STACK_LOCAL_DIR"],  # the session's emulator
        "AWS_ROLE_ARN": role_arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_SESSION_NAME": "ci",
        "COLUMNS": "200",
    }


@pytest.fixture(scope="module")
def ci_checkout(local_stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("ci")
    checkout = copy_without_profiles(folder / "checkout")
    environ = web_identity_environ(folder, f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{ROLE_NAME}")
    environ["PYTHONPATH"] = str(checkout)  # the copy's stackops, so its environments/ is the one read
    return checkout, environ


def run_in(checkout: Path, environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=checkout, env=environ, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def test_plan_secrets_cert_and_refresh_run_on_web_identity_alone(ci_checkout) -> None:
    checkout, environ = ci_checkout
    doctor = run_in(checkout, environ, "doctor", "--env", "local")
    assert "local: default credential chain " in doctor.stdout and f"account {LOCAL_ACCOUNT}" in doctor.stdout, (
        doctor.stdout
    )
    assert f"account {MASTER_ACCOUNT}" in doctor.stdout, doctor.stdout  # the state account, through assume_role

    for args in (
        ["plan", "--env", "local"],
        ["secrets", "--env", "local", "--dry-run"],
        ["cert", "--env", "local", "--force", "--yes"],  # certbot's Route53 plugin on the chain too
        ["refresh", "--env", "local", "--service", "concept"],
    ):
        result = run_in(checkout, environ, *args)
        assert result.returncode == 0, f"inv {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr
    plan_dir = Path(environ["STACK_STATE_DIR"]) / "envs" / "local" / "terraform"
    assert plan_dir.is_dir()  # the copy's own Terraform data: it really ran from the copy


def test_without_any_credentials_the_guard_says_so(ci_checkout) -> None:
    checkout, environ = ci_checkout
    bare = {k: v for k, v in environ.items() if k not in ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")}
    result = run_in(checkout, bare, "plan", "--env", "local")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    no_credentials = "checking the account of the default credential chain: Unable to locate credentials"
    assert len(errors) == 1 and no_credentials in errors[0], result.stderr
