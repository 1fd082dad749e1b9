"""The root's guards on throw-away settings: prod refuses to delete data or images with the stack.

The variables are planned on their own (their blocks copied from initialize.tf into an empty
root): a validation needs no provider, and the rest of the root would need AWS to plan.
"""

from __future__ import annotations

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
