"""The state bucket must be the master account's own: the tool's S3 calls name the expected owner,
and a bucket of another account is refused (exit 2) before Terraform runs.

Against moto's in-process mock with the emulator's ownership fix installed (as the embedded AWS
has it; moto alone ignores ExpectedBucketOwner): the master account is moto's default account
(the `local` environment's, 123456789012), the squatter another account reached by AssumeRole.
"""

from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from stackops import bootstrap, doctor, environments, stack
from stackops.environments import Environment
from stackops.errors import EXIT_REFUSED, OpsError, Refused
from stackops.local.aws import s3_ownership
from stackops.paths import ROOT
from stackops.terraform import Terraform

REGION = "eu-west-2"
SQUATTER = "999988887777"


@pytest.fixture
def local() -> Environment:
    env = environments.load("local")
    assert env.master_account_id == "123456789012"  # moto's default account: boto3's calls land there
    return env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, local: Environment) -> Any:
    """moto with the ownership fix; the environment's sessions are plain ones in the master account."""
    from moto.s3.responses import S3Response

    for name in ("_bucket_response", "_key_response"):
        monkeypatch.setattr(S3Response, name, S3Response.__dict__[name])
    with mock_aws():
        s3_ownership.install()
        yield


@pytest.fixture(autouse=True)
def plain_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment's sessions without its profiles: boto3's defaults (moto's default account under the mock)."""
    monkeypatch.setattr(Environment, "session", lambda self, master=False: boto3.Session(region_name=REGION))


def squatter_s3() -> Any:
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{SQUATTER}:role/admin", RoleSessionName="squatter"
    )["Credentials"]
    return boto3.client(
        "s3", region_name=REGION, aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"],
    )  # fmt: skip


def squat(bucket: str, *, let_master_in: bool) -> Any:
    s3 = squatter_s3()
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    if let_master_in:  # the worst case: the squatter's policy lets the master account read and write
        statement = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "s3:*",
                     "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}  # fmt: skip
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    return s3


def own_bucket(bucket: str) -> None:
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )


# -- the name -------------------------------------------------------------------------------------


def test_the_default_name_carries_the_master_account_and_an_explicit_one_is_kept(local: Environment) -> None:
    assert "bucket" not in local.backend
    assert local.state_bucket == "exii-terraform-state-123456789012"
    assert not local.state_bucket_named
    kept = dataclasses.replace(local, backend={**local.backend, "bucket": "exii-terraform-state"})
    assert (kept.state_bucket, kept.state_bucket_named) == ("exii-terraform-state", True)
    # The one name reaches both Terraform roots: the environment's backend and tf-init.
    for env in (local, kept):
        assert Terraform(env).backend_config == [
            f"-backend-config={env.backend_path}", f"-backend-config=bucket={env.state_bucket}"
        ]  # fmt: skip
        assert f"-var=bucket={env.state_bucket}" in bootstrap.tf_init(env).var_args()


def test_no_backend_hcl_of_the_repository_names_a_bucket() -> None:
    """The default applies to every environment; one that keeps an old name sets it explicitly."""
    for name in environments.names():
        assert "bucket" not in environments.read_hcl(ROOT / "environments" / name / "backend.hcl"), name


def test_an_explicit_bucket_in_backend_hcl_is_read(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "environments", tmp_path / "environments")
    path = tmp_path / "environments" / "dev" / "backend.hcl"
    path.write_text(path.read_text() + 'bucket = "exii-terraform-state"\n')
    assert environments.load("dev", root=tmp_path).state_bucket == "exii-terraform-state"
    assert environments.load("prod", root=tmp_path).state_bucket == "exii-terraform-state-000000000000"


# -- every call names the owner -------------------------------------------------------------------


def test_the_state_bucket_client_names_the_owner_on_the_state_bucket_only(aws: None, local: Environment) -> None:
    s3 = bootstrap.state_bucket_client(local)
    sent: list[tuple[str, str | None]] = []
    s3.meta.events.register(
        "before-sign.s3", lambda request, operation_name, **_: sent.append(
            (operation_name, request.headers.get("x-amz-expected-bucket-owner")))
    )  # fmt: skip
    s3.create_bucket(Bucket=local.state_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.create_bucket(Bucket="another", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.head_bucket(Bucket=local.state_bucket)
    s3.get_bucket_versioning(Bucket=local.state_bucket)
    s3.put_object(Bucket=local.state_bucket, Key="k", Body=b"v")
    s3.get_object(Bucket=local.state_bucket, Key="k")
    s3.list_objects_v2(Bucket=local.state_bucket)
    s3.head_bucket(Bucket="another")
    s3.list_buckets()
    assert sent == [
        ("CreateBucket", None), ("CreateBucket", None),  # S3 ignores an owner there: none is sent
        ("HeadBucket", "123456789012"), ("GetBucketVersioning", "123456789012"), ("PutObject", "123456789012"),
        ("GetObject", "123456789012"), ("ListObjectsV2", "123456789012"),
        ("HeadBucket", None), ("ListBuckets", None),
    ]  # fmt: skip


# -- the probe ------------------------------------------------------------------------------------


def test_the_master_accounts_own_bucket_exists_and_a_missing_one_does_not(aws: None, local: Environment) -> None:
    assert bootstrap.state_bucket_exists(local) is False
    own_bucket(local.state_bucket)
    assert bootstrap.state_bucket_exists(local) is True
    stack.require_state_bucket(local)  # no error


@pytest.mark.parametrize("let_master_in", [True, False], ids=["policy-lets-master-in", "no-grant"])
def test_another_accounts_bucket_is_refused_naming_the_bucket_the_owner_and_the_fix(
    aws: None, local: Environment, let_master_in: bool
) -> None:
    squatter = squat(local.state_bucket, let_master_in=let_master_in)
    with pytest.raises(Refused) as refused:
        bootstrap.state_bucket_exists(local)
    message = str(refused.value)
    assert refused.value.exit_code == EXIT_REFUSED
    assert message.startswith(f"refused: the state bucket {local.state_bucket} is not owned by the master account "
                              "123456789012 declared in environments/local/variables.tfvars")  # fmt: skip
    assert "ExpectedBucketOwner=123456789012" in message
    assert "another AWS account owns that name" in message
    assert 'set bucket = "NAME" in environments/local/backend.hcl' in message
    assert "tf-init as its bucket variable" in message
    assert "inv bootstrap --env local" in message
    with pytest.raises(Refused):
        stack.require_state_bucket(local)  # the check before each plan, apply, drift, output, tf
    assert "Contents" not in squatter.list_objects_v2(Bucket=local.state_bucket)  # nothing was written


def test_the_master_accounts_own_bucket_it_may_not_read_is_a_permission_error(local: Environment) -> None:
    """S3's 403 to HeadBucket does not say why; the account's own ListBuckets tells its own bucket."""
    s3 = bootstrap.state_bucket_client(local)
    with Stubber(s3) as stub:
        owner = {"Bucket": local.state_bucket, "ExpectedBucketOwner": "123456789012"}
        stub.add_client_error("head_bucket", "403", http_status_code=403, expected_params=owner)
        stub.add_response("list_buckets", {"Buckets": [{"Name": local.state_bucket}]},
                          expected_params={"Prefix": local.state_bucket})  # fmt: skip
        with pytest.raises(OpsError) as error:
            bootstrap.state_bucket_exists(local, s3)
    assert not isinstance(error.value, Refused)
    assert "is the master account 123456789012's, but profile 'exii-local-master' may not read it" in str(error.value)


def test_a_403_it_cannot_tell_apart_is_still_refused(local: Environment) -> None:
    s3 = bootstrap.state_bucket_client(local)
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", "403", http_status_code=403)
        stub.add_client_error("list_buckets", "AccessDenied", http_status_code=403)
        with pytest.raises(Refused, match="or profile 'exii-local-master' may neither read it nor list"):
            bootstrap.state_bucket_exists(local, s3)


# -- bootstrap and doctor -------------------------------------------------------------------------


def test_bootstrap_refuses_before_terraform_runs(
    aws: None, local: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    squat(local.state_bucket, let_master_in=True)
    monkeypatch.setattr(bootstrap, "check_accounts", lambda env, environment: None)
    monkeypatch.setattr(bootstrap, "tf_init", lambda env: pytest.fail("tf-init ran for another account's bucket"))
    with pytest.raises(Refused, match=f"the state bucket {local.state_bucket} is not owned"):
        bootstrap.bootstrap(local, yes=True)


class RecordingTerraform:
    """tf-init as bootstrap drives it, recording the commands; its state starts empty (a new machine)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, ...]] = []

    def init(self) -> None:
        self.commands.append(("init",))

    def state_resources(self) -> list[str]:
        return []

    def var_args(self) -> list[str]:
        return []

    def run(self, *args: str, capture: bool = False) -> None:
        self.commands.append(args)

    def plan(self) -> Any:
        self.commands.append(("plan",))
        return types.SimpleNamespace(has_changes=True, path=Path("/nonexistent/plan"), summary=None)

    def apply(self, plan: Any) -> None:
        self.commands.append(("apply",))


def test_bootstrap_still_adopts_and_applies_the_master_accounts_own_bucket(
    aws: None, local: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    own_bucket(local.state_bucket)
    tf = RecordingTerraform()
    monkeypatch.setattr(bootstrap, "check_accounts", lambda env, environment: None)
    monkeypatch.setattr(bootstrap, "tf_init", lambda env: tf)
    monkeypatch.setattr(bootstrap, "print_plan_summary", lambda *args: None)
    bootstrap.bootstrap(local, yes=True)
    assert tf.commands == [
        ("init",), ("import", "-input=false", "aws_s3_bucket.state", local.state_bucket), ("plan",), ("apply",),
    ]  # fmt: skip


def test_adoption_reads_the_settings_of_the_masters_own_bucket_naming_the_owner(aws: None, local: Environment) -> None:
    own_bucket(local.state_bucket)
    s3 = bootstrap.state_bucket_client(local)
    assert bootstrap.bucket_differences(s3, local.state_bucket) == [
        "versioning is not enabled", "no default encryption", "no public access block",
        "bucket policy does not deny non-TLS access",
    ]  # fmt: skip


def test_doctor_checks_the_state_bucket_and_its_owner(aws: None, local: Environment) -> None:
    missing = doctor.state_bucket_check(local)
    assert (missing.ok, missing.detail) == (False, "does not exist yet: run inv bootstrap --env local")
    squat(local.state_bucket, let_master_in=True)
    foreign = doctor.state_bucket_check(local)
    assert not foreign.ok
    assert foreign.detail.startswith(f"the state bucket {local.state_bucket} is not owned by the master account")
    other = dataclasses.replace(local, backend={**local.backend, "bucket": "exii-state-of-our-own"})
    own_bucket(other.state_bucket)
    owned = doctor.state_bucket_check(other)
    assert (owned.ok, owned.detail) == (True, "owned by the master account 123456789012")


def test_bootstrap_keeps_away_from_a_deployment_in_the_former_default_bucket(
    aws: None, local: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master account holds `exii-terraform-state` (a deployment from before the account id was in
    the name): a new, empty default bucket would make the next plan plan everything as new."""
    own_bucket("exii-terraform-state")
    monkeypatch.setattr(bootstrap, "check_accounts", lambda env, environment: None)
    monkeypatch.setattr(bootstrap, "tf_init", lambda env: pytest.fail("tf-init ran beside the former bucket"))
    with pytest.raises(Refused, match='holds exii-terraform-state, the former default state bucket: keep it by '
                                      'setting bucket = "exii-terraform-state"'):  # fmt: skip
        bootstrap.bootstrap(local, yes=True)


def test_another_accounts_bucket_of_the_former_name_does_not_stop_bootstrap(
    aws: None, local: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    squat("exii-terraform-state", let_master_in=True)  # not ours: nothing to keep
    tf = RecordingTerraform()
    monkeypatch.setattr(bootstrap, "check_accounts", lambda env, environment: None)
    monkeypatch.setattr(bootstrap, "tf_init", lambda env: tf)
    monkeypatch.setattr(bootstrap, "print_plan_summary", lambda *args: None)
    bootstrap.bootstrap(local, yes=True)
    assert tf.commands == [("init",), ("plan",), ("apply",)]
