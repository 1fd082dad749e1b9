"""Plan a module (or the root) the tftest way and summarise the plan so tests read like a spec.

Each plan runs on a copy in a temporary folder, so tests leave nothing in the tree and can run in
parallel (pytest-xdist). Module plans need no cloud: mock credentials and the provider's skip flags.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import pickle
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import tftest

from stackops.paths import ROOT
from stackops.terraform import cli_config, terraform_binary

T = TypeVar("T")

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
    prefix: str = ""  # "module.<instance>." for the plans of plan_instances

    def change(self, address: str) -> dict[str, Any]:
        """The planned change of `address` (`after`, `after_unknown`), data sources read at apply included."""
        for change in self.raw.get("resource_changes", []):
            if change["address"] == self.prefix + address:
                return change["change"]
        raise AssertionError(f"no change for {self.prefix + address} in the plan")

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


def run_plan(root: Path, env: dict[str, str], var_file: Path | None = None) -> Plan:
    tf = tftest.TerraformTest(tfdir=root, binary=terraform_binary(), env=env)
    try:
        tf.setup(upgrade=False, output=False)
        result = tf.plan(output=True, tf_var_file=str(var_file) if var_file else None)
    except tftest.TerraformTestError as error:  # its message repeats the whole plan; stderr says why
        raise AssertionError(f"terraform failed in {root}:{error.args[-1]}") from None
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


def _instances_root(module: str, instances: dict[str, dict[str, Any]], workdir: Path) -> Path:
    """A root on a copy of modules/ with one `module "<instance>"` (and an output of it) per instance."""
    shutil.copytree(ROOT / "modules", workdir / "modules")
    root = workdir / "root"
    root.mkdir()
    (root / "inputs.json").write_text(json.dumps(instances))
    blocks = []
    for instance, inputs in instances.items():
        arguments = "\n".join(f"  {name} = local.inputs.{instance}.{name}" for name in inputs)
        blocks.append(f'module "{instance}" {{\n  source = "../modules/{module}"\n{arguments}\n}}\n')
        blocks.append(f'output "{instance}" {{\n  value = module.{instance}\n}}\n')
    (root / "main.tf").write_text(
        OFFLINE_PROVIDER + 'locals {\n  inputs = jsondecode(file("${path.module}/inputs.json"))\n}\n' + "".join(blocks)
    )
    return root


def _split(whole: Plan, instances: dict[str, dict[str, Any]], outputs: dict[str, Any]) -> dict[str, Plan]:
    plans = {}
    for instance in instances:
        prefix = f"module.{instance}."
        resources = {a[len(prefix) :]: v for a, v in whole.resources.items() if a.startswith(prefix)}
        counts = Counter(address.split(".")[-2].split("[")[0] for address in resources)
        plans[instance] = Plan(resources, counts, outputs.get(instance) or {}, raw=whole.raw, prefix=prefix)
    return plans


def plan_instances(module: str, instances: dict[str, dict[str, Any]], workdir: Path) -> dict[str, Plan]:
    """Plan several instances of `modules/<module>` (name -> inputs) in one run, offline.

    A plan costs ~5 s of provider start-ups and ~0.2 s per instance, so one plan holding every
    configuration a test file needs keeps the suite fast. Each instance's Plan has addresses
    relative to the instance (`aws_vpc.this`), the known parts of its outputs, and the whole raw plan.
    """
    whole = run_plan(_instances_root(module, instances, workdir), offline_environ(workdir))
    # An output that is partly unknown has no planned value; its change holds the known parts.
    outputs = {k: v.get("after") for k, v in whole.raw.get("output_changes", {}).items()}
    return _split(whole, instances, outputs)


# Mocked values must still look like what the provider (and the modules' validations) accept: policy JSON, ARNs.
MOCKED_APPLY = """mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[]}"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/mocked"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-2:123456789012:log-group:mocked"
    }
  }
}

run "apply" {
  command = apply
}
"""


def apply_mocked(module: str, instances: dict[str, dict[str, Any]], workdir: Path) -> dict[str, Plan]:
    """Apply instances of `modules/<module>` with Terraform's mock AWS provider (`terraform test`).

    A plan cannot tell which NAT gateway a route uses or which subnets a NACL covers: those ids
    are unknown until apply. The mock provider invents them, so the resulting state shows every
    reference resolved. Values the provider would compute are random strings here, so assert on
    references (`a.id == b.x`) and on inputs, and use plan_instances for everything else.
    """
    root = _instances_root(module, instances, workdir)
    (root / "tests").mkdir()
    (root / "tests" / "mocked.tftest.hcl").write_text(MOCKED_APPLY)
    environ = {**os.environ, **offline_environ(workdir)}
    run = functools.partial(subprocess.run, cwd=root, env=environ, capture_output=True, text=True, check=False)
    init = run([terraform_binary(), "init", "-input=false", "-no-color"])
    assert init.returncode == 0, init.stdout + init.stderr
    test = run([terraform_binary(), "test", "-json", "-verbose", "-no-color"])
    messages = [json.loads(line) for line in test.stdout.splitlines() if line.startswith("{")]
    states = [m["test_state"] for m in messages if m.get("type") == "test_state"]
    problems = [m["@message"] for m in messages if m.get("type") == "diagnostic"]
    assert test.returncode == 0 and states, "\n".join(problems) or test.stderr
    state = {k: v for k, v in states[-1].items() if k != "provider_schemas"}  # 15 MB of no interest
    resources: dict[str, dict[str, Any]] = {}
    _walk(state.get("root_module", {}), resources)
    whole = Plan(resources, Counter(), {}, raw=state)
    outputs = {k: v.get("value") for k, v in state.get("outputs", {}).items()}
    return _split(whole, instances, outputs)


def once_per_session(tmp_path_factory: pytest.TempPathFactory, key: str, produce: Callable[[Path], T]) -> T:
    """`produce(workdir)` once per test session, even when pytest-xdist runs the tests.

    xdist's default scheduling hands a file's tests to both workers, so a module-scoped plan
    fixture would plan once on each: the first worker to ask plans, the other waits for its result.
    Several test files may ask for the same key (the environment plans): each gets the one result.
    """
    if key in _PRODUCED:
        return _PRODUCED[key]
    if "PYTEST_XDIST_WORKER" not in os.environ:
        _PRODUCED[key] = produce(tmp_path_factory.mktemp(key))
        return _PRODUCED[key]
    shared = tmp_path_factory.getbasetemp().parent  # this session's folder, common to its workers
    result = shared / f"{key}.pickle"
    with (shared / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.exists():
            result.write_bytes(pickle.dumps(produce(tmp_path_factory.mktemp(key))))
        _PRODUCED[key] = pickle.loads(result.read_bytes())  # noqa: S301 (written just now by this session)
        return _PRODUCED[key]


_PRODUCED: dict[str, Any] = {}  # once_per_session's results in this process, by key


def offline_environ(workdir: Path) -> dict[str, str]:
    return {
        "TF_CLI_CONFIG_FILE": str(cli_config()),
        "TF_IN_AUTOMATION": "1",
        # The copies have no lock file, so without this every init re-links the shared cache entry
        # and two parallel inits (pytest-xdist) race on it ("mkdir ...: file exists").
        "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
        "TF_DATA_DIR": str(workdir / ".terraform"),
    }
