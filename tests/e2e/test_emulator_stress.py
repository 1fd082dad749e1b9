"""The embedded AWS answers every request exactly once, under the load of a parallel apply.

A root of cheap resources of several services (fixtures/stress_root: IAM roles and policies, SSM
parameters, SQS queues, security groups with rules that reference each other, the VPC's default
group: 156 resources) is applied and destroyed three times with -parallelism=30 against the
session's emulator. Every run must be clean, every second plan empty, and the emulator's trace must
hold no SDK retry of a call it had already answered with success (a response the client never
got: before the transport fix, about one call in a thousand, and the cause of the repeated
CreateRole / AuthorizeSecurityGroupEgress failures).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stackops import environments
from stackops.local.aws.request_trace import retried_successes
from stackops.terraform import cli_config, terraform_binary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent / "fixtures" / "stress_root"
RUNS = 3
PER_SERVICE = 22  # 7 resources each, plus the VPC and its default group
PARALLELISM = "30"


def test_parallel_applies_are_clean_and_answered_once(emulated_aws, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "main.tf", root)
    env = environments.load("local")
    environ = {
        **os.environ, "AWS_PROFILE": env.profile, "TF_CLI_CONFIG_FILE": str(cli_config()), "TF_IN_AUTOMATION": "1",
        "TF_DATA_DIR": str(tmp_path / ".terraform"), "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "true",
    }  # fmt: skip
    log = emulated_aws.state_dir / "moto.log"
    start = log.stat().st_size

    def terraform(*args: str) -> subprocess.CompletedProcess[str]:
        command = [terraform_binary(), f"-chdir={root}", *args, "-input=false", "-no-color"]
        return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=600, check=False)

    init = terraform("init")
    assert init.returncode == 0, init.stderr
    for run in range(RUNS):
        variables = [f"-var=name=stress{run}", f"-var=per_service={PER_SERVICE}"]
        applied = terraform("apply", "-auto-approve", f"-parallelism={PARALLELISM}", *variables)
        assert applied.returncode == 0, f"run {run}: apply failed:\n{applied.stderr[-3000:]}"
        assert f"{7 * PER_SERVICE + 2} added" in applied.stdout
        second = terraform("plan", "-detailed-exitcode", *variables)
        assert second.returncode == 0, f"run {run}: the second plan is not empty:\n{second.stdout[-3000:]}"
        destroyed = terraform("destroy", "-auto-approve", f"-parallelism={PARALLELISM}", *variables)
        assert destroyed.returncode == 0, f"run {run}: destroy failed:\n{destroyed.stderr[-3000:]}"
    with log.open() as handle:
        handle.seek(start)
        lines = handle.read().splitlines()
    assert sum(line.startswith("call ") for line in lines) > 2000 * RUNS // 2  # the trace saw the runs
    assert retried_successes(lines) == []
