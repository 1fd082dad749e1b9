"""`terraform fmt` over the repository and `terraform validate` of both roots, offline.

fmt skips hidden folders (.terraform, .state, .venv) by itself. Validation needs no backend:
`init -backend=false` installs the provider from the mirror and leaves the S3 backend alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from stackops.paths import ROOT
from stackops.terraform import terraform_binary
from tests.planner import offline_environ


def terraform(workdir: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, **offline_environ(workdir)}
    command = [terraform_binary(), *args]
    return subprocess.run(command, cwd=cwd or workdir, env=environ, capture_output=True, text=True, check=False)


def test_terraform_files_are_formatted(tmp_path):
    result = terraform(tmp_path, "fmt", "-check", "-recursive", "-list=true", "-diff", "-no-color", str(ROOT))
    assert result.returncode == 0, f"run `terraform fmt -recursive`:\n{result.stdout}{result.stderr}"


def copy_root(target: Path) -> None:
    for source in ROOT.glob("*.tf"):
        shutil.copy(source, target)
    for folder in ("modules", "task-definitions", "operator-policies"):
        shutil.copytree(ROOT / folder, target / folder)
    shutil.copy(ROOT / "secrets.yaml", target)
    shutil.copy(ROOT / "jobs.yaml", target)


def copy_tf_init(target: Path) -> None:
    for source in (ROOT / "tf-init").glob("*.tf"):
        shutil.copy(source, target)
    shutil.copytree(ROOT / "modules", target.parent / "modules")  # its ../modules/tls-only-bucket-policy
    shutil.copytree(ROOT / "operator-policies", target.parent / "operator-policies")  # the CI state roles'


@pytest.mark.parametrize("copy", [copy_root, copy_tf_init], ids=["root", "tf-init"])
def test_configuration_validates(tmp_path, copy):
    config = tmp_path / "config"
    config.mkdir()
    copy(config)
    init = terraform(tmp_path, "init", "-backend=false", "-input=false", "-no-color", cwd=config)
    assert init.returncode == 0, init.stdout + init.stderr
    result = terraform(tmp_path, "validate", "-json", "-no-color", cwd=config)
    report = json.loads(result.stdout)
    problems = [
        f"{d['severity']}: {d['summary']} ({d.get('range', {}).get('filename')})" for d in report["diagnostics"]
    ]
    assert report["valid"] and not problems, "\n".join(problems)


MODULES = sorted(p.name for p in (ROOT / "modules").iterdir() if (p / "main.tf").exists())


def declared(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Blocks of `kind` (variable, output) in a .tf file, by name, in file order."""
    return {
        name.strip('"'): body for block in hcl2.loads(path.read_text()).get(kind, []) for name, body in block.items()
    }


def table(readme: str, heading: str) -> dict[str, list[str]]:
    """Rows of the table under `## heading`, by the name in their first cell."""
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("| ").split(" | ") for line in section.splitlines() if line.startswith("| `")]
    return {row[0].strip("`"): row[1:] for row in rows}


def default_cell(body: dict[str, Any]) -> str:
    if "default" not in body:
        return "required"
    value = body["default"]
    # python-hcl2 may keep the quotes of a string default; JSON spelling matches HCL for the rest.
    text = value if isinstance(value, str) and value.startswith('"') else json.dumps(value)
    return f"`{text}`"


@pytest.mark.parametrize("module", MODULES)
def test_module_readme_lists_its_inputs_and_outputs(module):
    folder = ROOT / "modules" / module
    readme = (folder / "README.md").read_text()
    inputs, outputs = table(readme, "Inputs"), table(readme, "Outputs")
    variables = declared(folder / "variables.tf", "variable")
    assert list(inputs) == list(variables), "README inputs differ from variables.tf (names or order)"
    for name, body in variables.items():
        assert inputs[name][1] == default_cell(body), f"README default of {name}"
    assert list(outputs) == list(declared(folder / "outputs.tf", "output")), "README outputs differ from outputs.tf"
