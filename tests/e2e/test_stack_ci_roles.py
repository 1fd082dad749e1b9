"""The CI roles the stack created (ci.tf, tf-init/ci.tf), used as a CI job uses them.

With a token file and role ARNs only (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE,
STACK_STATE_ROLE_ARN; no AWS config profile of the tfvars is used), in the repository itself:
the plan role (`exii-local-ci-plan`, through `exii-local-ci-state-plan` in the master account)
plans, the apply role (through `exii-local-ci-state-apply`) refreshes a service, and a role of
another account is refused by the account guard (exit 2) before anything runs.

moto accepts any web identity token: AWS checks it against the role's trust policy (the issuer's
signature, `aud`, `sub`), which the plan tests prove instead (tests/modules/test_ci_roles.py).
With the emulator's IAM authorisation on (stackops/local/aws/iam_auth.py, which lets the unsigned
AssumeRoleWithWebIdentity through as AWS does), each command runs with exactly its role's
policies (the operator policies, as managed policies), and the plan role is refused a write: the
state object, through its state role (S3 resources are checked), and a parameter.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from stackops.environments import STATE_ROLE_VARIABLE
from stackops.paths import ROOT
from tests.e2e.fixtures.operators import refused_requests
from tests.e2e.test_stack_credentials import LOCAL_ACCOUNT, MASTER_ACCOUNT, run_in, web_identity_environ

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

ROLES = {
    "plan": (f"arn:aws:iam::{LOCAL_ACCOUNT}:role/exii-local-ci-plan",
             f"arn:aws:iam::{MASTER_ACCOUNT}:role/exii-local-ci-state-plan"),
    "apply": (f"arn:aws:iam::{LOCAL_ACCOUNT}:role/exii-local-ci-apply",
              f"arn:aws:iam::{MASTER_ACCOUNT}:role/exii-local-ci-state-apply"),
}  # fmt: skip


@pytest.fixture(scope="module")
def jobs(local_stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """A CI job's variables per role, each with its own tool state."""
    assert local_stack.outputs["ci_roles"] == {"plan_role_arn": ROLES["plan"][0],
                                                        "apply_role_arn": ROLES["apply"][0]}  # fmt: skip
    found = {}
    for kind, (role, state_role) in ROLES.items():
        environ = web_identity_environ(tmp_path_factory.mktemp(f"ci-{kind}"), role)
        found[kind] = {**environ, STATE_ROLE_VARIABLE: state_role, "AWS_ROLE_SESSION_NAME": f"ci-{kind}"}
    return found


def test_plan_and_refresh_through_the_ci_roles_with_their_policies_only(jobs, authorised) -> None:
    commands = {"plan": ["plan", "--env", "local"], "apply": ["refresh", "--env", "local", "--service", "concept"]}
    for kind, args in commands.items():
        with refused_requests() as refused:
            result = run_in(ROOT, jobs[kind], *args)
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        assert result.returncode == 0, f"inv {' '.join(args)} as the {kind} role:\n{output}\n" + "\n".join(refused)
        assert refused == [], refused  # not even a refusal the command swallowed
        assert "Traceback" not in result.stderr
    state_dir = Path(jobs["plan"]["STACK_STATE_DIR"]) / "envs" / "local" / "terraform"
    assert state_dir.is_dir()  # the job's own Terraform data: the CI credentials' init and plan


def test_the_plan_role_cannot_write(jobs, authorised, local_stack) -> None:
    """Authorisation is really on, and the plan role's sessions read only."""
    token = Path(jobs["plan"]["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text()
    endpoint = local_stack.aws_environ["AWS_ENDPOINT_URL"]

    def session(role: str, via: boto3.Session | None = None) -> boto3.Session:
        if via is None:
            unsigned = Config(signature_version=UNSIGNED)  # as botocore's web identity provider calls it
            sts = boto3.client("sts", region_name=local_stack.env.region, endpoint_url=endpoint, config=unsigned)
            answer = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="ci", WebIdentityToken=token)
        else:
            answer = via.client("sts", endpoint_url=endpoint).assume_role(RoleArn=role, RoleSessionName="state")
        credentials = answer["Credentials"]
        return boto3.Session(credentials["AccessKeyId"], credentials["SecretAccessKey"],
                             credentials["SessionToken"], region_name=local_stack.env.region)  # fmt: skip

    plan = session(ROLES["plan"][0])
    ssm = plan.client("ssm", endpoint_url=endpoint)
    with pytest.raises(ssm.exceptions.ClientError, match="AccessDenied"):
        ssm.put_parameter(Name="/exii/local/ci-was-here", Value="x", Type="String")
    path_style = Config(s3={"addressing_style": "path"})  # the emulator serves S3 path-style only
    state = session(ROLES["plan"][1], via=plan).client("s3", endpoint_url=endpoint, config=path_style)
    key = "env:/local/exii/terraform.tfstate"
    assert json.loads(state.get_object(Bucket=local_stack.env.state_bucket, Key=key)["Body"].read())["serial"] > 0
    with pytest.raises(state.exceptions.ClientError, match="AccessDenied"):
        state.put_object(Bucket=local_stack.env.state_bucket, Key=key, Body=b"{}")


def test_a_role_of_another_account_is_refused_by_the_guard(jobs) -> None:
    elsewhere = {**jobs["plan"], "AWS_ROLE_ARN": ROLES["plan"][1]}  # a role of the master account
    result = run_in(ROOT, elsewhere, "plan", "--env", "local")
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and MASTER_ACCOUNT in errors[0] and LOCAL_ACCOUNT in errors[0], result.stderr
    assert "Traceback" not in result.stderr
