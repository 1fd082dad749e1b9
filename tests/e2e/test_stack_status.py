"""`inv status` on the session's stack, through the real command line: every section, the revision
and image ECS runs, the targets; `--json` agrees with AWS; quick; and bad input fails clearly.

The not-applied case runs on an emulator of its own (no ACME server), so the session's stack is
never touched: its state bucket exists and holds no state.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stackops import environments
from stackops.local import emulator
from stackops.status.collect import collect
from tests.conftest import free_port, run_inv

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

LOCAL = environments.load("local")
SECTIONS = ("Services", "Deployments", "Load balancer targets", "Recent service events", "Alarms in ALARM",
            "Certificate", "Database", "state: last written")  # fmt: skip
# The command line's own start (Python, invoke, boto3) included; the reads themselves take well under that.
BOUND_SECONDS = 10


def status(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = run_inv("status", *args, env=env, timeout=120)
    return result, time.monotonic() - start


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, f"expected one error line:\n{result.stdout}\n{result.stderr}"
    return lines[0]


def running(ecs: Any, cluster: str, name: str) -> tuple[str, str, dict[str, Any]]:
    """What ECS says a service runs: `family:revision`, the image of its container, the service."""
    service = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    td = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    return service["taskDefinition"].rsplit("/", 1)[-1], td["containerDefinitions"][0]["image"], service


def test_status_shows_every_section_with_what_ecs_runs(local_stack) -> None:
    result, seconds = status("--env", "local")
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    started = time.monotonic()
    collect(local_stack.env)  # the reads alone, without the command line's start
    reads = time.monotonic() - started
    # The screen and the times, in the test log (-s).
    print(f"{text}\ninv status --env local: {seconds:.2f} s, of which the reads {reads:.2f} s")
    assert seconds < BOUND_SECONDS
    for section in SECTIONS:
        assert section in text, text
    assert "unavailable" not in text, text
    ecs, layout = local_stack.client("ecs"), local_stack.outputs["ecs"]
    for key, ref in layout["services"].items():
        revision, image, _ = running(ecs, layout["cluster"], ref["name"])
        row = next((line for line in text.splitlines() if f" {key} " in line and revision in line), None)
        assert row is not None and image in row, text


def test_status_json_agrees_with_aws(local_stack) -> None:
    result, _ = status("--env", "local", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"environment", "cluster", "services", "alarms", "certificate", "renewer", "database",
                             "state"}  # fmt: skip
    ecs, elbv2, layout = local_stack.client("ecs"), local_stack.client("elbv2"), local_stack.outputs["ecs"]
    for key, ref in layout["services"].items():
        shown = document["services"][key]
        revision, image, service = running(ecs, layout["cluster"], ref["name"])
        assert (shown["revision"], shown["image"]) == (revision, image)
        assert (shown["running"], shown["desired"]) == (service["runningCount"], service["desiredCount"])
        assert [d["revision"] for d in shown["deployments"]][:1] == [revision]
        groups = [lb["targetGroupArn"] for lb in service["loadBalancers"]]
        assert [g["arn"] for g in shown["target_groups"]] == groups and groups
        for group in shown["target_groups"]:
            targets = elbv2.describe_target_health(TargetGroupArn=group["arn"])["TargetHealthDescriptions"]
            assert [t["id"] for t in group["targets"]] == [t["Target"]["Id"] for t in targets]
    assert isinstance(document["alarms"], list)
    cert = document["certificate"]
    assert cert["found"] and set(cert["names"]) == set(LOCAL.hostnames) and cert["days_left"] > 0
    assert cert["arn"] == local_stack.outputs["certificate_arn"]
    assert document["renewer"]["function"] == local_stack.outputs["cert_renewer"]["function_name"]
    assert "unavailable" not in document["renewer"]
    database = document["database"]
    assert (database["status"], database["engine"]) == ("available", "postgres")
    assert database["free_gib"] is None  # the emulator has no FreeStorageSpace datapoints: "unknown"
    state = json.loads(
        local_stack.client("s3", master=True)
        .get_object(Bucket=LOCAL.state_bucket, Key="env:/local/exii/terraform.tfstate")["Body"]
        .read()
    )
    assert document["state"]["serial"] == state["serial"]


def test_an_unknown_environment_lists_the_valid_ones() -> None:
    result, _ = status("--env", "nope")
    assert result.returncode == 1
    assert error_line(result) == "error: unknown environment 'nope'; valid environments: dev, local, prod"


@pytest.fixture
def bare_aws(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """An emulator of this test's own with nothing in it; the variables pointing `inv` (and boto3) at it."""
    state = tmp_path_factory.mktemp("status-bare")
    local: Path = state / "local"
    started = emulator.start(local, free_port(), acme=False)
    try:
        for name in emulator.CLEARED_ENV_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in emulator.environ(local).items():
            monkeypatch.setenv(name, value)
        yield {"STACK_STATE_DIR": str(state), "STACK_LOCAL_DIR": str(local), "STACK_LOCAL_PORT": str(started.port)}
    finally:
        emulator.stop(local)


def test_an_environment_not_applied_says_what_to_run(bare_aws: dict[str, str]) -> None:
    # (Without the state bucket it says to run inv bootstrap: tests/unit/test_status.py.)
    master = boto3.Session(profile_name=LOCAL.master_profile, region_name=LOCAL.region).client("s3")
    master.create_bucket(Bucket=LOCAL.state_bucket, CreateBucketConfiguration={"LocationConstraint": LOCAL.region})
    result, _ = status("--env", "local", env=bare_aws)
    assert result.returncode == 1
    assert (
        error_line(result) == "error: local is not applied yet (it has no Terraform state): run inv apply --env local"
    )
