"""The one retry configuration (stackops/retries.py): the standard mode for boto3 and Terraform.

tests/unit/conftest.py starts each test without AWS_RETRY_MODE and AWS_MAX_ATTEMPTS and undoes what it set.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from stackops import environments, retries
from stackops.terraform import Terraform


def test_the_standard_mode_and_its_attempts_unless_the_user_chose() -> None:
    assert retries.environment({}) == {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"}
    chosen = {"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "10", "OTHER": "x"}
    assert retries.environment(chosen) == {"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "10"}
    environ = {"OTHER": "x"}
    retries.configure(environ)
    assert environ == {"OTHER": "x", "AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "3"}


def test_boto3_clients_made_after_configure_retry_in_standard_mode() -> None:
    retries.configure()
    client = boto3.Session(region_name="eu-west-2").client("secretsmanager")
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": retries.MAX_ATTEMPTS}


def test_terraform_gets_the_same_retry_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tf = Terraform(environments.load("dev"), data_dir=tmp_path / "data")
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path / "state"))  # cli_config() writes there
    environ = tf.environ()
    assert (environ["AWS_RETRY_MODE"], environ["AWS_MAX_ATTEMPTS"]) == ("standard", "3")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert tf.environ()["AWS_RETRY_MODE"] == "adaptive"  # the user's choice reaches Terraform too
