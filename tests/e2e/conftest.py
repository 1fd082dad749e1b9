"""The Terratest shape: one emulated AWS and one applied `local` stack per test session.

The stack is built by the README's own command (`inv up`) and shared by every test that only
reads it, or that changes it and puts it back. Tests that break things (locks, signals) use
small fixture roots of their own. Tests using the stack carry `xdist_group("stack")` so that
with `pytest -n 2 --dist loadgroup` one worker builds it once.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from stackops import environments
from stackops.local import emulator
from stackops.local.aws import client as faults
from tests.conftest import run_inv
from tests.e2e.ecs_support import Ecs, Snapshot, restore, snapshot
from tests.e2e.test_environment_plans import ENVIRONMENTS, EnvironmentPlan, plan_all
from tests.planner import once_per_session


@dataclass
class LocalStack:
    """The applied `local` environment: its outputs, the output of `inv up`, and AWS access."""

    env: environments.Environment
    outputs: dict[str, Any]
    up: subprocess.CompletedProcess[str]
    aws_environ: dict[str, str]

    def session(self, *, master: bool = False) -> boto3.Session:
        return self.env.session(master=master)

    def client(self, service: str, *, master: bool = False) -> Any:
        return self.session(master=master).client(service)

    def aws_cli(self, *args: str, master: bool = False) -> Any:
        """The AWS CLI against the emulator, JSON-decoded."""
        profile = self.env.master_profile if master else self.env.profile
        # A HOME of its own: the CLI caches assumed-role credentials under ~/.aws/cli/cache, and
        # ones from an earlier emulator would land in moto's default account.
        home = Path(os.environ["STACK_STATE_DIR"]) / "aws-cli-home"
        environ = {**os.environ, **self.aws_environ, "AWS_PROFILE": profile, "HOME": str(home)}
        result = subprocess.run(
            ["aws", *args, "--output", "json"], env=environ, capture_output=True, text=True, check=True
        )
        return json.loads(result.stdout or "{}")


@pytest.fixture(scope="session")
def emulated_aws(isolated_state) -> Iterator[emulator.Status]:
    try:
        status = emulator.start()
    except BaseException:
        emulator.stop()  # what a half-started emulator left running
        raise
    aws = emulator.environ()
    os.environ.update(aws)  # boto3 in the tests reaches the emulator through the same variables
    yield status
    emulator.stop()


@pytest.fixture(scope="session")
def local_stack(emulated_aws) -> Iterator[LocalStack]:
    up = run_inv("up", timeout=900)
    assert up.returncode == 0, f"inv up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
    out = run_inv("output", "--env", "local", "--json")
    assert out.returncode == 0, out.stderr
    stack = LocalStack(
        env=environments.load("local"), outputs=json.loads(out.stdout), up=up, aws_environ=emulator.environ()
    )
    yield stack
    # Terratest's `defer terraform.Destroy`, with its assertions: everything goes but the state backend.
    destroyed = run_inv("destroy", "--env", "local", "--confirm", "local", timeout=900)
    assert destroyed.returncode == 0, f"inv destroy failed:\n{destroyed.stderr[-4000:]}"
    assert_only_state_backend_left(stack)


def assert_only_state_backend_left(stack: LocalStack) -> None:
    outputs = stack.outputs
    ec2 = stack.client("ec2")
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [outputs["vpc_id"]]}])["Vpcs"]
    assert not stack.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert not stack.client("rds").describe_db_instances()["DBInstances"]
    clusters = stack.client("ecs").describe_clusters(clusters=[outputs["ecs"]["cluster"]])["clusters"]
    assert all(c["status"] == "INACTIVE" for c in clusters)
    buckets = {b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]}
    assert not buckets & set(outputs["bucket_names"].values())
    assert not stack.client("route53").list_hosted_zones()["HostedZones"]
    # The state backend stays, in the master account, with the (now empty) state of local.
    s3 = stack.client("s3", master=True)
    state = json.loads(
        s3.get_object(Bucket=stack.env.state_bucket, Key="env:/local/exii/terraform.tfstate")["Body"].read()
    )
    assert state["resources"] == []
    stack.client("dynamodb", master=True).describe_table(TableName=stack.env.lock_table)
    # With nothing applied, the ECS commands say so instead of failing obscurely.
    refresh = run_inv("refresh", "--env", "local")
    assert refresh.returncode == 1 and "run inv apply --env local" in refresh.stderr, refresh.stderr
    logs = run_inv("logs", "--env", "local", "--service", "django")
    assert logs.returncode == 1 and "run inv apply --env local" in logs.stderr, logs.stderr


# -- the ECS tests' fixtures (tests/e2e/ecs_support.py) -------------------------------------------
@pytest.fixture
def ecs(local_stack) -> Ecs:
    return Ecs(local_stack)


@pytest.fixture
def restored(ecs, emulated_aws) -> Iterator[Snapshot]:
    for key in ecs.layout["services"]:
        ecs.steady(key)
    before = snapshot(ecs)
    yield before
    faults.clear_faults(emulated_aws.endpoint)
    restore(ecs, before)


@pytest.fixture
def authorised(local_stack, emulated_aws) -> Iterator[str]:
    """moto's IAM authorisation on for one test, and off again however the test ends (the emulator's
    own identity, used by the tests' boto3 and the ACME server's DNS bridge, stays allowed everything)."""
    from stackops.local.aws import client as emulator_routes
    from tests.e2e.fixtures import operators as operator_identities

    endpoint = emulated_aws.endpoint
    emulator_routes.enable_iam_auth(endpoint, operator_identities.admin_identity(local_stack.env))
    try:
        assert emulator_routes.iam_auth_enabled(endpoint)
        yield endpoint
    finally:
        emulator_routes.disable_iam_auth(endpoint)


@pytest.fixture
def endpoint(emulated_aws) -> Iterator[str]:
    """The emulator's endpoint for fault injection; faults are cleared however the test ends."""
    faults.clear_faults(emulated_aws.endpoint)
    try:
        yield emulated_aws.endpoint
    finally:
        faults.clear_faults(emulated_aws.endpoint)


CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Record whether a test's body failed, for fixtures that repair only what a failure left."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


# -- the dev, prod and local plans (test_environment_plans, the policy lint and the task-role tests) --


@pytest.fixture(scope="module")
def plans(emulated_aws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, EnvironmentPlan]:
    return once_per_session(tmp_path_factory, "environment-plans", plan_all)


@pytest.fixture(params=ENVIRONMENTS)
def each(request: pytest.FixtureRequest, plans: dict[str, EnvironmentPlan]) -> EnvironmentPlan:
    return plans[request.param]
