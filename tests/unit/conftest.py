"""Unit tests run against moto's in-process mock only.

An end-to-end fixture in the same worker may have pointed AWS_ENDPOINT_URL and the AWS config at
the session's emulator; boto3 would then send a unit test's calls there instead of to the mock."""

from __future__ import annotations

import pytest

from tests.conftest import AMBIENT_AWS


@pytest.fixture(autouse=True)
def in_process_aws_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*AMBIENT_AWS, "AWS_EC2_METADATA_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):  # set by entry points (stackops.retries): undone after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
