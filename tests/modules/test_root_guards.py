"""The root's guards on throw-away settings: prod refuses to delete data or images with the stack.

The variables are planned on their own (their blocks copied from initialize.tf into an empty
root): a validation needs no provider, and the rest of the root would need AWS to plan.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from stackops.paths import ROOT
from stackops.terraform import terraform_binary
from tests.planner import offline_environ

GUARDED = ("force_destroy_buckets", "force_delete_repositories")


def variable_block(text: str, name: str) -> str:
    """The text of `variable "<name>" { ... }`, braces matched."""
    start = re.search(rf'^variable "{name}" {{', text, re.MULTILINE)
    assert start, f"no variable {name}"
    depth = 0
    for index in range(start.start(), len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0 and text[index] == "}":
            return text[start.start() : index + 1]
    raise AssertionError(f"unbalanced braces in variable {name}")


@pytest.mark.parametrize("stage", ["prod", "dev"])
@pytest.mark.parametrize("variable", GUARDED)
def test_throw_away_settings_are_refused_in_prod_only(tmp_path: Path, variable: str, stage: str) -> None:
    initialize = (ROOT / "initialize.tf").read_text()
    (tmp_path / "variables.tf").write_text(
        "\n\n".join(variable_block(initialize, name) for name in ("stage", variable))
        + f'\n\noutput "value" {{\n  value = var.{variable}\n}}\n'
    )
    environ = {**os.environ, **offline_environ(tmp_path)}
    command = [terraform_binary(), "plan", "-input=false", "-no-color", f"-var=stage={stage}", f"-var={variable}=true"]
    result = subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, check=False)
    if stage == "prod":
        assert result.returncode == 1
        assert f"{variable} must stay false in prod" in " ".join(result.stderr.split())
    else:
        assert result.returncode == 0, result.stderr


def plan_variable(tmp_path: Path, name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    initialize = (ROOT / "initialize.tf").read_text()
    (tmp_path / "variables.tf").write_text(
        variable_block(initialize, name) + f'\n\noutput "value" {{\n  value = var.{name}\n}}\n'
    )
    environ = {**os.environ, **offline_environ(tmp_path)}
    command = [terraform_binary(), "plan", "-input=false", "-no-color", "-out=plan", *arguments]
    return subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, check=False)


def test_alarm_thresholds_default_and_override_one_by_one(tmp_path: Path) -> None:
    result = plan_variable(tmp_path, "alarm_thresholds", "-var=alarm_thresholds={target_5xx_percent = 2}")
    assert result.returncode == 0, result.stderr
    environ = {**os.environ, **offline_environ(tmp_path)}
    shown = subprocess.run(
        [terraform_binary(), "show", "-json", "plan"], cwd=tmp_path, env=environ, capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["planned_values"]["outputs"]["value"]["value"] == {
        "target_5xx_percent": 2,  # the one given; the others keep their defaults
        "unhealthy_hosts": 0,
        "response_time_p95_seconds": 2,
        "service_cpu_percent": 85,
        "service_memory_percent": 85,
        "db_cpu_percent": 80,
        "db_free_storage_gib": 2,
        "db_connections": 80,
        "fast_evaluation_periods": 3,
        "fast_datapoints_to_alarm": 2,
        "evaluation_periods": 3,
    }


def test_alarm_thresholds_refuse_more_datapoints_than_periods(tmp_path: Path) -> None:
    result = plan_variable(tmp_path, "alarm_thresholds", "-var=alarm_thresholds={fast_datapoints_to_alarm = 4}")
    assert result.returncode == 1
    assert "fast_datapoints_to_alarm cannot exceed fast_evaluation_periods" in " ".join(result.stderr.split())


@pytest.mark.parametrize("keep", ["0", "2.5", "-1"])
def test_the_snapshot_retention_keeps_at_least_the_snapshot_just_taken(tmp_path: Path, keep: str) -> None:
    result = plan_variable(tmp_path, "db_snapshot_keep", f"-var=db_snapshot_keep={keep}")
    assert result.returncode == 1
    assert "db_snapshot_keep must be a whole number of at least 1" in " ".join(result.stderr.split())


def test_the_snapshot_retention_defaults_to_ten(tmp_path: Path) -> None:
    result = plan_variable(tmp_path, "db_snapshot_keep")
    assert result.returncode == 0, result.stderr
    environ = {**os.environ, **offline_environ(tmp_path)}
    shown = subprocess.run(
        [terraform_binary(), "show", "-json", "plan"], cwd=tmp_path, env=environ, capture_output=True, text=True
    )
    assert json.loads(shown.stdout)["planned_values"]["outputs"]["value"]["value"] == 10


ADMIN = "arn:aws:iam::111122223333:role/exii-local-admin"


@pytest.mark.parametrize(
    ("administrators", "accepted"),
    [
        (f'["{ADMIN}", "arn:aws:iam::111122223333:user/ops"]', True),
        ("[]", False),  # no one could change the policies: the secrets would be locked for good
        ('["arn:aws:iam::111122223333:role/exii-*"]', False),  # aws:PrincipalArn is compared exactly
        ('["arn:aws:iam::999999999999:role/exii-local-admin"]', False),  # another account
        ('["arn:aws:iam::111122223333:root"]', False),  # a role or a user, named
    ],
)
def test_the_secret_administrators_are_named_roles_or_users_of_the_account(
    tmp_path: Path, administrators: str, accepted: bool
) -> None:
    initialize = (ROOT / "initialize.tf").read_text()
    (tmp_path / "variables.tf").write_text(
        "\n\n".join(variable_block(initialize, name) for name in ("account_id", "secret_administrators"))
    )
    environ = {**os.environ, **offline_environ(tmp_path)}
    arguments = ["-var=account_id=111122223333", f"-var=secret_administrators={administrators}"]
    command = [terraform_binary(), "plan", "-input=false", "-no-color", *arguments]
    result = subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, check=False)
    if accepted:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 1
        assert "secret_administrators needs at least one IAM role or user ARN of account_id" in " ".join(
            result.stderr.split()
        )
