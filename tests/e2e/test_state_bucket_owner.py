"""The state bucket is ours: a bucket of that name that another account created first is never
adopted, read or written, through the real command line, on an emulated AWS of its own.

Bucket names are global, so anyone can create `exii-terraform-state-<master account>` before a
new user runs `inv bootstrap`. Here a third account (999988887777) does, with a policy that lets
the master account in (the worst case: only the owner condition tells the bucket is not ours).
The emulator is a bare one (no ACME server, no stack) on its own port, so these tests cost seconds
and leave the session's emulator alone. The normal path (the master account's own bucket, created
by `inv up`'s bootstrap) is tests/e2e/test_stack.py's; adoption of an own bucket is unit-tested
(tests/unit/test_state_bucket_owner.py): a real tf-init import and apply would cost a minute here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackops import environments
from stackops.local import emulator
from tests.conftest import free_port, run_inv
from tests.e2e.fixtures.accounts import account_session

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("state_bucket_owner")]

SQUATTER = "999988887777"
LOCAL = environments.load("local")
BUCKET = LOCAL.state_bucket  # the default name, exii-terraform-state-<master account>


@pytest.fixture(scope="module")
def private_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A bare emulator of this module's own; the variables that point `inv` at it."""
    folder = tmp_path_factory.mktemp("owner-aws")
    variables = {"STACK_LOCAL_DIR": str(folder / "local"), "STACK_LOCAL_PORT": str(free_port())}
    try:
        emulator.start(Path(variables["STACK_LOCAL_DIR"]), int(variables["STACK_LOCAL_PORT"]), acme=False)
        yield variables
    finally:
        emulator.stop(Path(variables["STACK_LOCAL_DIR"]))


def client(private_aws: dict[str, str], account: str, service: str) -> Any:
    endpoint = emulator.endpoint_for(int(private_aws["STACK_LOCAL_PORT"]))
    return account_session(account, endpoint).client(service, endpoint_url=endpoint)


@pytest.fixture
def squatted(private_aws: dict[str, str]) -> Any:
    """The state bucket's name, created first by the squatter, with a policy of its own, tags and an object."""
    s3 = client(private_aws, SQUATTER, "s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": LOCAL.region})
        lets_master_in = {
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{LOCAL.master_account_id}:root"},
            "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        }  # fmt: skip
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [lets_master_in]}))
        s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "owner", "Value": "squatter"}]})
        s3.put_object(Bucket=BUCKET, Key="squatter/readme.txt", Body=b"mine")
    return s3


def both_accounts(private_aws: dict[str, str]) -> dict[str, Any]:
    """What a refused command must not change: the squatter's bucket, and the master account."""
    s3 = client(private_aws, SQUATTER, "s3")
    objects = s3.list_object_versions(Bucket=BUCKET)
    master_s3 = client(private_aws, LOCAL.master_account_id, "s3")
    master_dynamodb = client(private_aws, LOCAL.master_account_id, "dynamodb")
    return {
        "objects": [(v["Key"], v["VersionId"], v["ETag"]) for v in objects.get("Versions", [])],
        "policy": json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]),
        "tags": s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"],
        "versioning": s3.get_bucket_versioning(Bucket=BUCKET).get("Status"),
        "master buckets": [b["Name"] for b in master_s3.list_buckets()["Buckets"]],
        "master tables": master_dynamodb.list_tables()["TableNames"],
    }


def refusal(result: Any) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: refused: the state bucket {BUCKET} is not owned by the master account "
                           f"{LOCAL.master_account_id}")  # fmt: skip
    assert f"ExpectedBucketOwner={LOCAL.master_account_id}" in line
    assert 'set bucket = "NAME" in environments/local/backend.hcl' in line
    assert "tf-init as its bucket variable" in line
    return line


def test_bootstrap_refuses_a_state_bucket_another_account_created_first(
    private_aws: dict[str, str], squatted: Any, tmp_path: Path
) -> None:
    before = both_accounts(private_aws)
    state = tmp_path / "state"
    result = run_inv("bootstrap", "--env", "local", "--yes", env={**private_aws, "STACK_STATE_DIR": str(state)})
    refusal(result)
    assert "adopting" not in result.stderr
    assert both_accounts(private_aws) == before
    assert before["master buckets"] == [] and before["master tables"] == []  # no lock table made either
    assert not (state / "bootstrap").exists()  # tf-init never ran: no init, no import


def test_plan_against_a_foreign_state_bucket_is_refused_before_terraform(
    private_aws: dict[str, str], squatted: Any, tmp_path: Path
) -> None:
    before = both_accounts(private_aws)
    state = tmp_path / "state"
    result = run_inv("plan", "--env", "local", env={**private_aws, "STACK_STATE_DIR": str(state)})
    refusal(result)
    assert both_accounts(private_aws) == before
    assert not (state / "envs" / "local" / "terraform").exists()  # no init: Terraform never saw the bucket
