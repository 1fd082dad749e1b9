"""Plan a module (or the root) the tftest way and summarise the plan so tests read like a spec.

Each plan runs on a copy in a temporary folder, so tests leave nothing in the tree and can run in
parallel (pytest-xdist). Module plans need no cloud: mock credentials and the provider's skip flags.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tftest

from stackops.environments import ROOT
from stackops.terraform import cli_config, terraform_binary

OFFLINE_PROVIDER = """
provider "aws" {
  region                      = "eu-west-2"
  access_key                  = "mock"
  secret_key                  = "mock"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
"""


@dataclass
class Plan:
    """Planned values by resource address, counts by type, outputs, and the raw plan."""

    resources: dict[str, dict[str, Any]]
    counts: Counter[str]
    outputs: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {a: v for a, v in self.resources.items() if a.split(".")[-2].split("[")[0] == kind}

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_type(kind)
        assert len(found) == 1, f"expected one {kind}, plan has {sorted(found)}"
        return next(iter(found.values()))

    def __str__(self) -> str:  # shown when an assertion fails, so the fix is obvious
        return json.dumps({"counts": dict(self.counts), "addresses": sorted(self.resources)}, indent=1)


def _walk(module: dict[str, Any], into: dict[str, dict[str, Any]]) -> None:
    for resource in module.get("resources", []):
        if resource.get("mode") == "managed":
            into[resource["address"]] = resource.get("values", {})
    for child in module.get("child_modules", []):
        _walk(child, into)


def summarise(raw: dict[str, Any]) -> Plan:
    resources: dict[str, dict[str, Any]] = {}
    _walk(raw.get("planned_values", {}).get("root_module", {}), resources)
    counts = Counter(address.split(".")[-2].split("[")[0] for address in resources)
    outputs = {k: v.get("value") for k, v in raw.get("planned_values", {}).get("outputs", {}).items()}
    return Plan(resources=resources, counts=counts, outputs=outputs, raw=raw)


def run_plan(root: Path, env: dict[str, str], *args: str) -> Plan:
    tf = tftest.TerraformTest(tfdir=root, binary=terraform_binary(), env=env)
    tf.setup(upgrade=False, output=False)
    result = tf.plan(output=True, *args)
    return summarise(result._raw)


def plan_module(module: str, inputs: dict[str, Any], workdir: Path) -> Plan:
    """Plan `modules/<module>` with `inputs`, offline, on a copy under `workdir`."""
    shutil.copytree(ROOT / "modules", workdir / "modules")
    root = workdir / "root"
    root.mkdir()
    (root / "inputs.json").write_text(json.dumps(inputs))
    arguments = "\n".join(f"  {name} = local.inputs.{name}" for name in inputs)
    (root / "main.tf").write_text(
        OFFLINE_PROVIDER
        + 'locals {\n  inputs = jsondecode(file("${path.module}/inputs.json"))\n}\n'
        + f'module "this" {{\n  source = "../modules/{module}"\n{arguments}\n}}\n'
    )
    return run_plan(root, offline_environ(workdir))


def offline_environ(workdir: Path) -> dict[str, str]:
    return {
        "TF_CLI_CONFIG_FILE": str(cli_config(ROOT / ".state")),
        "TF_IN_AUTOMATION": "1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TF_DATA_DIR": str(workdir / ".terraform"),
    }
