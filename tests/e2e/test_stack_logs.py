"""End to end on the applied `local` stack: `inv logs` shows the lines the emulator's ECS extension
wrote for the services' running tasks and for the migration, `--follow` ends cleanly on Ctrl-C, and
bad input is one clear error.

Uses the session's shared stack (`local_stack`) and only reads it (a migration runs once if none
has run yet in this session).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stackops.local.aws.ecs_service_logs import STOP_LINE
from stackops.paths import ROOT
from tests.conftest import run_inv
from tests.e2e.ecs_support import output_of

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z)  (\S+)  (.*)$")


def printed(stdout: str) -> list[tuple[str, str, str]]:
    """(time, task id, message) of every line; each line must have that shape."""
    found = [LINE.match(line) for line in stdout.splitlines()]
    assert all(found), stdout
    return [m.groups() for m in found if m]  # type: ignore[misc]


def streams(local_stack: Any, prefix: str) -> dict[str, list[str]]:
    logs = local_stack.client("logs")
    group = local_stack.outputs["ecs"]["log_group"]
    names = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=prefix)[
        "logStreams"]]  # fmt: skip
    return {
        name: [e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=name)["events"]]
        for name in names
    }


def test_a_services_lines_with_the_ids_of_its_running_tasks(local_stack):
    layout = local_stack.outputs["ecs"]
    result = run_inv("logs", "--env", "local", "--service", "django", "--since", "1d")
    assert result.returncode == 0, output_of(result)
    lines = printed(result.stdout)
    assert [t for t, _, _ in lines] == sorted(t for t, _, _ in lines)  # newest last
    service = local_stack.client("ecs").describe_services(cluster=layout["cluster"],
                                                          services=[layout["services"]["django"]["name"]])  # fmt: skip
    desired = service["services"][0]["desiredCount"]
    deadline = time.monotonic() + 10  # the extension looks at the deployments every second
    while True:
        running = {name.rsplit("/", 1)[1] for name, msgs in streams(local_stack, "django/django/").items()
                   if msgs and msgs[-1] != STOP_LINE}  # fmt: skip
        if len(running) == desired or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(running) == desired
    started = {task for _, task, message in lines if message.startswith("emulated task exii-local-django:")}
    assert running <= started, (running, result.stdout)
    assert {task for _, task, _ in lines} <= {n.rsplit("/", 1)[1] for n in streams(local_stack, "django/django/")}
    assert "logs of django: /ecs/exii-local, streams django/django/*" in result.stderr


def test_the_migrations_lines_after_inv_migrate(local_stack):
    if not streams(local_stack, "migrate/migrate/"):  # reuse a run of test_stack_ecs.py when there is one
        migrated = run_inv("migrate", "--env", "local")
        assert migrated.returncode == 0, output_of(migrated)
    runs = streams(local_stack, "migrate/migrate/")
    task_id = sorted(runs)[0].rsplit("/", 1)[1]
    result = run_inv("logs", "--env", "local", "--service", "migrate", "--since", "1d", "--task", task_id)
    assert result.returncode == 0, output_of(result)
    lines = printed(result.stdout)
    assert {task for _, task, _ in lines} == {task_id}
    messages = [message for _, _, message in lines]
    assert messages == runs[f"migrate/migrate/{task_id}"]
    assert messages[0].startswith("emulated task exii-local-migrate") and re.match(r"exit \d+$", messages[-1])


def test_follow_ends_with_0_on_ctrl_c(local_stack, tmp_path: Path):
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "invoke", "logs", "--env", "local", "--service", "concept", "--follow"],
            cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "following" not in errors.read_text() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "following" in errors.read_text(), errors.read_text()
            time.sleep(2.5)  # at least one poll after the first read
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            stdout, _ = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
    text = errors.read_text()
    assert process.returncode == 0, text
    assert time.monotonic() - started < 5
    assert "Traceback" not in text and "interrupted" not in text and "error" not in text, text
    assert "stopped following" in text
    printed(stdout)


def test_bad_input_is_one_clear_error(local_stack):
    unknown = run_inv("logs", "--env", "local", "--service", "web")
    assert unknown.returncode == 1, output_of(unknown)
    assert "error: unknown service 'web' in env local: known are concept, django, migrate" in unknown.stderr
    malformed = run_inv("logs", "--env", "local", "--service", "django", "--since", "15 minutes")
    assert malformed.returncode == 1, output_of(malformed)
    assert "error: --since takes a whole number and a unit s, m, h or d" in malformed.stderr
    for result in (unknown, malformed):
        assert "Traceback" not in result.stderr and not result.stdout
