"""The container templates (task-definitions/*.json), rendered by Terraform's own templatefile with
stand-in values: every container runs on a read-only root filesystem with /tmp writable.

Prowler's ecs_task_definitions_containers_readonly_access fails a container that may write its root
filesystem. The templates are shared with the pipelines (they register copies of the revisions),
so the setting lives in the template; the `tmp` volume it mounts is the task definitions' (the
modules' plan tests and tests/e2e/test_environment_plans.py check those).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stackops.paths import ROOT
from stackops.terraform import terraform_binary
from tests.planner import offline_environ

TEMPLATES = sorted(path.name for path in (ROOT / "task-definitions").glob("*.json"))
# Placeholders that stand for JSON (a list), and for a number; every other one stands for a string.
JSON_VALUES = {"command", "environment", "secrets"}
NUMBERS = {"port"}


def stand_ins(template: str) -> str:
    """An HCL object with a value for each placeholder of the template."""
    names = sorted(set(re.findall(r"\$\{(\w+)\}", (ROOT / "task-definitions" / template).read_text())))

    def value(name: str) -> str:
        return '"[]"' if name in JSON_VALUES else "8000" if name in NUMBERS else f'"stand-in-{name}"'

    return "{ " + ", ".join(f"{name} = {value(name)}" for name in names) + " }"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("templates")
    shutil.copytree(ROOT / "task-definitions", root / "task-definitions")
    (root / "main.tf").write_text(
        "\n".join(
            f'output "{Path(name).stem}" {{\n'
            f'  value = jsondecode(templatefile("${{path.module}}/task-definitions/{name}", {stand_ins(name)}))\n'
            "}\n"
            for name in TEMPLATES
        )
    )
    environ = {**os.environ, **offline_environ(root)}
    terraform = terraform_binary()
    planned = subprocess.run(
        [terraform, "plan", "-input=false", "-no-color", "-out=plan"],
        cwd=root, env=environ, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    shown = subprocess.run(
        [terraform, "show", "-json", "plan"], cwd=root, env=environ, capture_output=True, text=True, check=True
    )
    outputs = json.loads(shown.stdout)["planned_values"]["outputs"]
    return {name: outputs[Path(name).stem]["value"] for name in TEMPLATES}


def test_there_are_the_three_templates() -> None:
    assert TEMPLATES == ["job.json", "migrate.json", "web.json"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_container_has_a_read_only_root_filesystem_and_a_writable_tmp(rendered, template) -> None:
    for container in rendered[template]:
        assert container["readonlyRootFilesystem"] is True, container["name"]
        mounts = {(m["sourceVolume"], m["containerPath"], m.get("readOnly", False)) for m in container["mountPoints"]}
        assert mounts == {("tmp", "/tmp", False)}, container["name"]  # noqa: S108
