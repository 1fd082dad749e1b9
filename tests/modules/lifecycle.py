"""Several plans and applies of a module in a row, with Terraform's mock AWS provider (`terraform test`).

A plan of a fresh configuration cannot show what a later change does to resources that exist:
whether changing `azs` moves every subnet, whether a replaced security group is created before the
old one is deleted, whether a second plan is empty. Each `Run` here is one run block of a
`terraform test` file over the same state, so a test applies, changes the inputs, and reads the
plan Terraform makes against what the earlier runs created.

The mock provider never calls AWS, and it does not know which arguments force a replacement (it
plans every change in place); a replacement is asked for with `replace`, and then the order
(create before destroy or the opposite) is Terraform's own, from the configuration's lifecycle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackops.paths import ROOT
from stackops.terraform import terraform_binary
from tests.planner import MOCKED_APPLY, OFFLINE_PROVIDER, offline_environ

# The planner's mock provider, plus ARNs the provider validates where they are passed on.
MOCK_PROVIDER = (
    MOCKED_APPLY.split('run "apply"')[0].rstrip().removesuffix("}")
    + """
  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:loadbalancer/app/mocked/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/mocked/0123456789abcdef"
    }
  }
}
"""
)
# A run that only lets the clock move on, so a plantimestamp() of a later run differs.
PAUSE_MODULE = """resource "terraform_data" "pause" {
  provisioner "local-exec" {
    command = "sleep 1.2"
  }
}
"""


@dataclass
class Run:
    name: str
    inputs: dict[str, dict[str, Any]]  # instance -> module inputs
    command: str = "apply"
    replace: list[str] = field(default_factory=list)  # addresses relative to the root: module.<instance>.<address>
    pause_before: bool = False


@dataclass
class Result:
    """What one run produced: its plan's changes (plan runs) or its state (apply runs)."""

    changes: dict[str, list[str]]  # address -> actions, e.g. ["create", "delete"]
    values: dict[str, dict[str, Any]]  # address -> values after the run (apply) or planned (plan)
    outputs: dict[str, Any]

    def actions(self, prefix: str) -> dict[str, list[str]]:
        """Changes of the addresses that start with `prefix`, other than no-ops."""
        return {a: c for a, c in self.changes.items() if a.startswith(prefix) and c != ["no-op"]}


def _hcl(value: Any) -> str:
    return json.dumps(value)  # JSON is a valid HCL expression (objects take `:`)


def _root(module: str, instances: list[str], workdir: Path, runs: list[Run]) -> Path:
    shutil.copytree(ROOT / "modules", workdir / "modules")
    root = workdir / "root"
    (root / "tests").mkdir(parents=True)
    (root / "pause").mkdir()
    (root / "pause" / "main.tf").write_text(PAUSE_MODULE)
    names = sorted(runs[0].inputs[instances[0]])
    assert all(sorted(i) == names for run in runs for i in run.inputs.values()), "every run sets the same inputs"
    blocks = [OFFLINE_PROVIDER, 'variable "inputs" {\n  type = any\n}\n']
    for instance in instances:
        arguments = "\n".join(f"  {name} = var.inputs.{instance}.{name}" for name in names)
        blocks.append(f'module "{instance}" {{\n  source = "../modules/{module}"\n{arguments}\n}}\n')
        blocks.append(f'output "{instance}" {{\n  value = module.{instance}\n}}\n')
    (root / "main.tf").write_text("".join(blocks))
    text = [MOCK_PROVIDER]
    for run in runs:
        if run.pause_before:
            text.append(f'run "pause_before_{run.name}" {{\n  module {{\n    source = "./pause"\n  }}\n}}\n')
        options = f"  plan_options {{\n    replace = [{', '.join(run.replace)}]\n  }}\n" if run.replace else ""
        text.append(
            f'run "{run.name}" {{\n  command = {run.command}\n  variables {{\n    inputs = {_hcl(run.inputs)}\n  }}\n'
            f"{options}}}\n"
        )
    (root / "tests" / "lifecycle.tftest.hcl").write_text("\n".join(text))
    return root


def _values(module: dict[str, Any], into: dict[str, dict[str, Any]]) -> None:
    for resource in module.get("resources", []):
        if resource.get("mode") == "managed":
            into[resource["address"]] = resource.get("values", {})
    for child in module.get("child_modules", []):
        _values(child, into)


def run_lifecycle(module: str, runs: list[Run], workdir: Path) -> dict[str, Result]:
    """Run `runs` in order over one state of `modules/<module>` (one module block per instance)."""
    instances = sorted({instance for run in runs for instance in run.inputs})
    root = _root(module, instances, workdir, runs)
    environ = {**os.environ, **offline_environ(workdir)}

    def terraform(*args: str) -> subprocess.CompletedProcess[str]:
        command = [terraform_binary(), *args]
        return subprocess.run(command, cwd=root, env=environ, capture_output=True, text=True, check=False)

    init = terraform("init", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    test = terraform("test", "-json", "-verbose", "-no-color")
    messages = [json.loads(line) for line in test.stdout.splitlines() if line.startswith("{")]
    problems = [m["@message"] for m in messages if m.get("type") == "diagnostic"]
    assert test.returncode == 0, "\n".join(problems) or test.stderr
    results: dict[str, Result] = {}
    for message in messages:
        run = message.get("@testrun")
        if message.get("type") == "test_plan":
            plan = message["test_plan"]
            # The planned values of each resource (the known ones), whatever its action.
            values = {c["address"]: c["change"].get("after") or {} for c in plan.get("resource_changes", [])}
            changes = {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])}
            outputs = {k: v.get("after") for k, v in plan.get("output_changes", {}).items()}
            results[run] = Result(changes, values, outputs)
        elif message.get("type") == "test_state" and run in {r.name for r in runs}:
            state = message["test_state"]
            values = {}
            _values(state.get("root_module", {}), values)
            outputs = {k: v.get("value") for k, v in state.get("outputs", {}).items()}
            results[run] = Result({}, values, outputs)
    missing = [r.name for r in runs if r.name not in results]
    assert not missing, f"no plan or state reported for {missing}"
    return results
