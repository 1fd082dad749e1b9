"""`stackops.local.emulator`: start, status, environ and stop of the embedded AWS, in a temporary state folder."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from stackops import environments
from stackops.errors import OpsError
from stackops.local import emulator

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "local"
    yield folder
    emulator.stop(folder)  # whatever a failed test left running


def test_start_status_environ_stop(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py sets a session-wide STACK_LOCAL_PORT: start() below without a port must
    # find the running emulator, not ask for that one.
    monkeypatch.delenv("STACK_LOCAL_PORT", raising=False)
    env = environments.load("local")
    port = _free_port()

    started = time.monotonic()
    first = emulator.start(state_dir, port)
    elapsed = time.monotonic() - started

    assert elapsed < 15, f"start() took {elapsed:.1f} s"
    assert first.endpoint == f"http://127.0.0.1:{port}"
    assert first.port == port
    assert first.to_json() == {
        "endpoint": first.endpoint,
        "accounts": {"master": env.master_account_id, "local": env.account_id},
    }
    assert set(first.pids) == {"moto", "pebble", "dns"}
    assert all(_running(pid) for pid in first.pids.values())
    assert first.acme["directory_url"].startswith("https://127.0.0.1:")
    assert Path(first.acme["ca_bundle"]).is_file()
    record = json.loads((state_dir / "emulator.json").read_text())
    assert record["endpoint"] == first.endpoint
    assert record["pids"] == first.pids
    assert (state_dir / "moto.log").is_file()
    assert oct((state_dir / "aws" / "credentials").stat().st_mode & 0o777) == "0o600"

    # Idempotent: a second start returns the same processes, quickly.
    started = time.monotonic()
    again = emulator.start(state_dir)
    assert time.monotonic() - started < 2
    assert again == first
    assert emulator.status(state_dir) == first
    with pytest.raises(OpsError, match=f"already runs at {first.endpoint}"):
        emulator.start(state_dir, _free_port())

    # environ() points boto3 at both accounts through the written profiles.
    variables = emulator.environ(state_dir)
    assert variables["AWS_ENDPOINT_URL"] == variables["AWS_ENDPOINT_URL_STS"] == first.endpoint
    assert Path(variables["AWS_CONFIG_FILE"]).is_file()
    assert Path(variables["AWS_SHARED_CREDENTIALS_FILE"]).is_file()
    for name in emulator.CLEARED_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    master, local = env.session(master=True), env.session()
    assert master.client("sts").get_caller_identity()["Account"] == env.master_account_id
    assert local.client("sts").get_caller_identity()["Account"] == env.account_id
    s3 = master.client("s3")  # path-style, as the state backend uses it
    s3.create_bucket(Bucket="exii-emulator-test", CreateBucketConfiguration={"LocationConstraint": env.region})
    s3.put_object(Bucket="exii-emulator-test", Key="k", Body=b"v")
    assert s3.get_object(Bucket="exii-emulator-test", Key="k")["Body"].read() == b"v"
    iam = local.client("iam")  # MOTO_IAM_LOAD_MANAGED_POLICIES=true: AWS managed policies exist
    policy = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    assert iam.get_policy(PolicyArn=policy)["Policy"]["PolicyName"] == "AmazonECSTaskExecutionRolePolicy"

    assert emulator.stop(state_dir) is True
    assert not any(_running(pid) for pid in first.pids.values())
    assert emulator.status(state_dir) is None
    assert "pids" not in json.loads((state_dir / "emulator.json").read_text())
    assert (state_dir / "moto.log").is_file()  # the log stays for a post-mortem
    with pytest.raises(OpsError, match=rf"not running at {first.endpoint}: run `inv local.up`"):
        emulator.environ(state_dir)
    assert emulator.stop(state_dir) is False


def test_start_without_acme_and_restart_loses_data(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    status = emulator.start(state_dir, port, acme=False)
    assert set(status.pids) == {"moto"}
    for name, value in emulator.environ(state_dir).items():
        monkeypatch.setenv(name, value)
    ssm = boto3.Session(profile_name="exii-local", region_name="eu-west-2").client("ssm")
    ssm.put_parameter(Name="/exii/local/probe", Value="1", Type="String")

    emulator.stop(state_dir)
    emulator.start(state_dir, port, acme=False)

    with pytest.raises(ssm.exceptions.ParameterNotFound):  # moto keeps everything in memory
        ssm.get_parameter(Name="/exii/local/probe")
    emulator.stop(state_dir)


def test_a_port_taken_by_another_program_is_refused(state_dir: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OpsError, match=f"port {port} on 127.0.0.1 is already in use by another program"):
            emulator.start(state_dir, port)
    assert emulator.status(state_dir) is None
    assert not (state_dir / "emulator.json").exists()


def test_the_port_comes_from_the_environment(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_LOCAL_PORT", "not-a-port")
    with pytest.raises(OpsError, match="STACK_LOCAL_PORT='not-a-port' is not a port number"):
        emulator.start(state_dir)
    port = _free_port()
    monkeypatch.setenv("STACK_LOCAL_PORT", str(port))
    monkeypatch.setenv("STACK_LOCAL_DIR", str(state_dir))
    status = emulator.start(acme=False)
    assert (status.port, status.state_dir) == (port, state_dir)
    assert emulator.stop() is True
    assert os.environ["STACK_LOCAL_DIR"] == str(state_dir)


def test_reset_starts_empty_on_the_same_port_and_forgets_the_tool_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private tool state: reset also removes the local environment's Terraform data.
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path / "state"))
    state_dir = tmp_path / "state" / "local"
    monkeypatch.delenv("STACK_LOCAL_PORT", raising=False)
    env = environments.load("local")
    port = _free_port()
    try:
        first = emulator.start(state_dir, port, acme=False)
        for name, value in emulator.environ(state_dir).items():
            monkeypatch.setenv(name, value)
        s3 = boto3.Session(profile_name=env.profile, region_name=env.region).client("s3")
        s3.create_bucket(Bucket="held-before", CreateBucketConfiguration={"LocationConstraint": env.region})
        data = env.state_dir / "terraform"
        data.mkdir(parents=True)
        (data / "stackops-init.stamp").write_text("old")
        again = emulator.reset(state_dir)
        assert again.endpoint == first.endpoint and again.pids["moto"] != first.pids["moto"]
        s3 = boto3.Session(profile_name=env.profile, region_name=env.region).client("s3")
        assert s3.list_buckets()["Buckets"] == []
        assert not data.exists()  # the next inv run initialises Terraform afresh
    finally:
        emulator.stop(state_dir)
