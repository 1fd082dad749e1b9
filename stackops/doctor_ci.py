"""`inv doctor --ci`: what a CI runner needs before `inv plan|apply` can run there, each as pass/fail.

- (Terraform at the version versions.tf requires is `inv doctor`'s own first check;)
- the web identity: AWS_ROLE_ARN and a readable AWS_WEB_IDENTITY_TOKEN_FILE (what the CI system's
  token step writes), the role in the environment's declared account, and STACK_STATE_ROLE_ARN in
  the master account; whether the roles are really assumable is the environment checks' caller
  identity (stackops.doctor.environment_checks), which assumes them;
- the committed provider lock files (root and tf-init/) covering linux_amd64, the CI runners'
  platform: `terraform providers lock -platform=linux_amd64` on a copy must leave them unchanged
  (it adds the hashes a lock lacks), from the offline mirror when the machine has one, else the
  registry.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from stackops.doctor import Check
from stackops.environments import STATE_ROLE_VARIABLE, Environment
from stackops.paths import ROOT
from stackops.terraform import cli_config, provider_mirror, terraform_binary

CI_PLATFORM = "linux_amd64"
ROOTS = (ROOT, ROOT / "tf-init")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")


def web_identity_checks(env: Environment) -> list[Check]:
    """The CI credentials' variables, and the accounts their roles are in (before any AWS call)."""
    checks = []
    role = os.environ.get("AWS_ROLE_ARN", "")
    token = os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE", "")
    match = _ROLE_ARN.match(role)
    if not match:
        checks.append(Check("ci: AWS_ROLE_ARN", False, f"{role or 'not set'}: set it to {env.name}'s CI role ARN "
                            "(the repository variable; inv output --env E shows ci_roles)"))  # fmt: skip
    elif match[1] != env.account_id:
        checks.append(Check("ci: AWS_ROLE_ARN", False, f"{role} is in account {match[1]}, {env.name} is in "
                            f"{env.account_id} ({env.tfvars_path})"))  # fmt: skip
    else:
        checks.append(Check("ci: AWS_ROLE_ARN", True, f"{role} (account {env.account_id})"))
    if not token:
        fix = "write the CI system's OIDC token to a file and name it there (the job needs id-token: write)"
        checks.append(Check("ci: web identity token", False, f"AWS_WEB_IDENTITY_TOKEN_FILE is not set: {fix}"))
    elif not Path(token).is_file() or not Path(token).read_text().strip():
        checks.append(Check("ci: web identity token", False, f"{token} is missing or empty"))
    else:
        checks.append(Check("ci: web identity token", True, token))
    state_role = os.environ.get(STATE_ROLE_VARIABLE, "")
    state_match = _ROLE_ARN.match(state_role)
    if state_match and state_match[1] == env.master_account_id:
        checks.append(Check(f"ci: {STATE_ROLE_VARIABLE}", True, f"{state_role} (the master account)"))
    else:
        found = f"{state_role} is not in the master account {env.master_account_id}" if state_role else "not set"
        checks.append(Check(f"ci: {STATE_ROLE_VARIABLE}", False, f"{found}: set it to the job's state role "
                            "(tf-init's output ci_state_role_arns)"))  # fmt: skip
    return checks


def lock_file_checks() -> list[Check]:
    return [lock_file_check(root) for root in ROOTS]


def lock_file_check(root: Path) -> Check:
    lock = root / ".terraform.lock.hcl"
    label = f"ci: {lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock}"
    if not lock.is_file():
        return Check(label, False, f"missing: run terraform init in {root}, commit the lock file")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder)
        shutil.copy(root / "versions.tf", copy)
        shutil.copy(lock, copy)
        mirror = provider_mirror()
        source = [f"-fs-mirror={mirror}"] if mirror else []
        environ = {**os.environ, "TF_CLI_CONFIG_FILE": str(cli_config())}
        command = [terraform_binary(), f"-chdir={copy}", "providers", "lock", "-no-color", f"-platform={CI_PLATFORM}"]
        result = subprocess.run([*command, *source], capture_output=True, text=True, env=environ, check=False)
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()] or ["no output"]
            why = next((line for line in lines if line.startswith("Error:")), lines[-1])
            return Check(label, False, f"cannot check it for {CI_PLATFORM}: {why}")
        if (copy / ".terraform.lock.hcl").read_text() != lock.read_text():
            return Check(label, False, f"lacks {CI_PLATFORM}'s hashes: run terraform providers lock "
                         f"-platform={CI_PLATFORM} in {root} and commit it")  # fmt: skip
    return Check(label, True, f"covers {CI_PLATFORM}")


def ci_checks(env: Environment) -> list[Check]:
    return [*web_identity_checks(env), *lock_file_checks()]
