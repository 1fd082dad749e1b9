"""The one Terraform runner: CLI config, init, workspace, plan to a file, apply that plan, outputs.

Each environment gets its own Terraform data folder (TF_DATA_DIR under .state/envs/<name>/), so
switching environments never re-initialises another one and the repository tree stays clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackops import retries
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.paths import ROOT, state_root
from stackops.ui import err

# Where machine images keep an offline copy of the providers (the folder holding registry.terraform.io).
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "/usr/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "~/.terraform.d/plugins",
)
LOCK_MESSAGE = "Error acquiring the state lock"
EXIT_INTERRUPTED = 130


def terraform_binary() -> str:
    binary = shutil.which(os.environ.get("TERRAFORM", "terraform"))
    if not binary:
        raise OpsError(
            "terraform is not on PATH: install Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)"
        )
    return binary


def provider_mirror() -> Path | None:
    """The offline provider mirror, if this machine has one (STACK_PROVIDER_MIRROR overrides)."""
    configured = os.environ.get("STACK_PROVIDER_MIRROR")
    candidates = [configured] if configured else list(MIRROR_CANDIDATES)
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if (path / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return path
    return None


def cli_config(folder: Path | None = None) -> Path:
    """Write the runner's own Terraform CLI config (mirror or direct, plus a plugin cache)."""
    folder = folder or state_root()
    cache = folder / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    mirror = provider_mirror()
    if mirror:
        installation = (
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/*/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
        )
    else:
        installation = "provider_installation {\n  direct {}\n}\n"
    text = f'{installation}plugin_cache_dir = "{cache}"\n'
    path = folder / "terraform.rc"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# "Error: creating IAM Role (exii-local-concept-task): ... EntityAlreadyExists: ..." then "with ADDRESS,".
# BucketAlreadyExists is not among them: that name belongs to another account, there is nothing to adopt.
_ALREADY_EXISTS = re.compile(
    r"Error: creating [^(\n]*?(?:\((?P<id>[^)\n]+)\))?:[^\n]*?"
    r"(?P<code>\b(?!BucketAlreadyExists\b)[\w.]*(?:AlreadyExists|Duplicate|AlreadyOwnedByYou|ResourceExists)[\w.]*)"
    r"[^\n]*\n(?:(?!Error:).*\n)*?\s*with (?P<address>[^,\n]+),"
)
# Resource types whose import ID is the name the provider's "creating X (NAME)" error gives; for
# the others (security groups, load balancers, queues, ...) the import ID is an id, ARN or URL.
IMPORTED_BY_NAME = frozenset({
    "aws_iam_role", "aws_ssm_parameter", "aws_s3_bucket", "aws_ecr_repository", "aws_cloudwatch_log_group",
    "aws_db_instance", "aws_db_subnet_group", "aws_dynamodb_table", "aws_ecs_cluster",
})  # fmt: skip


def _resource_type(address: str) -> str:
    """`module.ecs.aws_iam_role.task["concept"]` -> `aws_iam_role`."""
    parts = re.sub(r"\[[^]]*\]", "", address).split(".")
    return parts[-2] if len(parts) >= 2 else ""


def adoption_hint(stderr: str, env: Environment) -> str:
    """For an apply that failed on resources that exist in AWS but not in the state (a half-finished
    earlier apply, or made by hand): which, and the import command that adopts each."""
    text = "\n".join(line.lstrip("│ ").rstrip() for line in _ANSI.sub("", stderr).splitlines())
    found = {m["address"].strip(): (m["id"], m["code"]) for m in _ALREADY_EXISTS.finditer(text)}
    if not found:
        return ""
    commands = []
    for address, (name, _) in found.items():
        ident = shlex.quote(name) if name and _resource_type(address) in IMPORTED_BY_NAME else "ID"
        commands.append(f"inv tf --env {env.name} -- import {shlex.quote(address)} {ident}")
    codes = ", ".join(sorted({code for _, code in found.values()}))
    hint = (
        f"{', '.join(found)} already exist(s) in AWS ({codes}) but not in the state (a half-finished earlier "
        f"apply, or made outside Terraform): adopt with {'; '.join(commands)} (an ID is the import ID of the "
        "resource's Import section in the provider's documentation), then apply again"
    )
    if env.emulated:
        hint += "; or throw the embedded AWS away and start clean: inv up --fresh"
    else:
        hint += "; first make sure each one is this stack's and not another's of the same account"
    return hint


def backend_args(env: Environment) -> list[str]:
    """Init's backend config for the environment's state: backend.hcl, then the state bucket's name
    (Environment.state_bucket: backend.hcl's `bucket`, else the default, which backend.hcl cannot
    compute), so the bucket whose owner the tool checks before each run
    (stackops.stack.require_state_bucket) is the one Terraform is given."""
    return [f"-backend-config={env.backend_path}", f"-backend-config=bucket={env.state_bucket}"]


@dataclass
class PlanSummary:
    """What a saved plan would do, counted per resource type."""

    adds: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    destroys: Counter[str] = field(default_factory=Counter)
    output_changes: int = 0

    @classmethod
    def from_plan_json(cls, plan: Mapping[str, Any]) -> PlanSummary:
        summary = cls()
        for change in plan.get("resource_changes", []):
            if change.get("mode") != "managed":
                continue
            actions = change["change"]["actions"]
            kind = change["type"]
            if "create" in actions:
                summary.adds[kind] += 1
            if "delete" in actions:
                summary.destroys[kind] += 1
            if actions == ["update"]:
                summary.changes[kind] += 1
        summary.output_changes = sum(
            1 for c in plan.get("output_changes", {}).values() if c.get("actions") != ["no-op"]
        )
        return summary

    @property
    def empty(self) -> bool:
        return not (self.adds or self.changes or self.destroys)

    def rows(self) -> list[tuple[str, int, int, int]]:
        kinds = sorted(set(self.adds) | set(self.changes) | set(self.destroys))
        return [(k, self.adds[k], self.changes[k], self.destroys[k]) for k in kinds]


@dataclass
class PlanResult:
    path: Path
    has_changes: bool
    summary: PlanSummary | None = None
    resource_changes: list[dict[str, Any]] = field(default_factory=list)  # as `show -json` has them


class Terraform:
    """Runs Terraform for one environment on the root configuration (or another root)."""

    def __init__(
        self,
        env: Environment,
        *,
        root: Path | None = None,
        data_dir: Path | None = None,
        workspace: str | None = None,
        backend_config: Sequence[str] | None = None,
        var_args: Sequence[str] | None = None,
    ) -> None:
        """By default the environment's stack: the repository root, its tfvars, backend and workspace."""
        self.env = env
        self.root = root or env.root
        self.data_dir = data_dir or env.state_dir / "terraform"
        self.plan_dir = self.data_dir / "plans"
        self.workspace = workspace or env.workspace
        self.backend_config = list(backend_config) if backend_config is not None else backend_args(env)
        self._var_args = list(var_args) if var_args is not None else [f"-var-file={env.tfvars_path}"]

    # -- process plumbing ----------------------------------------------------------------------
    def environ(self) -> dict[str, str]:
        environ = dict(os.environ)
        environ.update(retries.environment(environ))  # the provider's retry mode is boto3's
        environ["TF_CLI_CONFIG_FILE"] = str(cli_config())
        environ["TF_DATA_DIR"] = str(self.data_dir)
        environ["TF_IN_AUTOMATION"] = "1"
        environ.pop("TF_WORKSPACE", None)
        return environ

    def command(self, *args: str) -> list[str]:
        return [terraform_binary(), f"-chdir={self.root}", *args]

    def run(
        self, *args: str, capture: bool = False, check: bool = True, workspace: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run terraform; output streams live unless captured. Ctrl-C reaches Terraform once (a
        second one is not forwarded), so it stops gracefully and releases the state lock, and the
        caller exits 130."""
        environ = self.environ()
        if workspace:
            environ["TF_WORKSPACE"] = self.workspace
        stdout = subprocess.PIPE if capture else None
        # stderr is always captured as well as shown, to recognise lock errors.
        process = subprocess.Popen(
            self.command(*args), env=environ, stdout=stdout, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        interrupted: list[int] = []

        def forward(signum: int, _frame: Any) -> None:
            interrupted.append(signum)
            if process.poll() is not None:
                return
            if len(interrupted) == 1:
                process.send_signal(signal.SIGINT)
            else:
                # Terraform takes a second interrupt as "exit immediately": state unsaved, lock
                # held. Only the first is forwarded. os.write: safe inside a signal handler.
                os.write(2, f"stackops: Terraform is still stopping (it saves the state and releases the lock);"
                            f" waiting for it (if it hangs: kill {process.pid})\n".encode())  # fmt: skip

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if capture:
                out, stderr = process.communicate()
                if process.returncode != 0 and not quiet:
                    sys.stderr.write(stderr)
            else:
                # Shown line by line as Terraform writes it, and kept to recognise a lock error.
                assert process.stderr is not None
                lines = []
                for line in process.stderr:
                    lines.append(line)
                    sys.stderr.write(line)
                out, stderr = "", "".join(lines)
            code = process.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if interrupted:
            raise OpsError(
                f"terraform {args[0]} interrupted; Terraform stopped cleanly and released the state lock",
                exit_code=EXIT_INTERRUPTED,
            )
        if LOCK_MESSAGE in stderr:
            raise OpsError(
                f"the state of {self.env.name} is locked by another run (see the lock info above); "
                "wait for it to finish, or if it died: inv tf --env "
                f"{self.env.name} -- force-unlock LOCK_ID"
            )
        if check and code != 0:
            hint = adoption_hint(stderr, self.env)
            raise OpsError(
                f"terraform {args[0]} failed (exit {code}) for {self.env.name}" + (f": {hint}" if hint else "")
            )
        return subprocess.CompletedProcess(args, code, out, stderr)

    # -- steps ---------------------------------------------------------------------------------
    def _init_stamp(self) -> str:
        """Changes whenever init must run again: backend config, providers, module sources."""
        digest = hashlib.sha256("\n".join([str(self.root), *self.backend_config]).encode())
        digest.update(self.env.backend_path.read_bytes())
        if self.lock_file.exists():  # a pulled provider upgrade must reach the data folder
            digest.update(self.lock_file.read_bytes())
        # The root's files and every module's (this repository's modules/, which tf-init uses too).
        modules = {*self.root.glob("modules/*/*.tf"), *(ROOT / "modules").glob("*/*.tf")}
        for tf in sorted({*self.root.glob("*.tf"), *modules}):
            for line in tf.read_text().splitlines():
                stripped = line.strip()
                if stripped.startswith(("source", "version", "required_version")):
                    digest.update(f"{tf.name}:{stripped}".encode())
        return digest.hexdigest()

    def init(self, *, force: bool = False) -> None:
        """Init with the environment's backend and select (or create) its workspace, once."""
        stamp = self.data_dir / "stackops-init.stamp"
        wanted = self._init_stamp()
        if not force and stamp.exists() and stamp.read_text() == wanted:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        locked = self.lock_file.read_bytes() if self.lock_file.exists() else None
        # In CI the committed lock is the truth: init fails rather than change it.
        lockfile = ["-lockfile=readonly"] if os.environ.get("CI") and locked is not None else []
        self.run(
            "init", "-input=false", "-reconfigure", *lockfile, *self.backend_config, capture=True, workspace=False,
        )  # fmt: skip
        if (self.lock_file.read_bytes() if self.lock_file.exists() else None) != locked:
            err.print(
                f"note: terraform init {'wrote' if locked is None else 'changed'} {self.lock_file} (provider "
                "versions or hashes): review the change and commit it",
                soft_wrap=True,
            )
        self.run("workspace", "select", "-or-create=true", self.workspace, capture=True, workspace=False)
        stamp.write_text(self._init_stamp())  # after init: with the lock file as init left it

    @property
    def lock_file(self) -> Path:
        """The dependency lock file Terraform keeps beside the configuration (committed)."""
        return self.root / ".terraform.lock.hcl"

    def var_args(self) -> list[str]:
        return list(self._var_args)

    def plan(self, *, destroy: bool = False, extra: Sequence[str] = (), summarize: bool = True) -> PlanResult:
        """Plan into a file; exit code 2 of -detailed-exitcode means there are changes."""
        self.plan_dir.mkdir(parents=True, exist_ok=True)
        path = self.plan_dir / ("destroy.tfplan" if destroy else "apply.tfplan")
        args = ["plan", "-input=false", "-detailed-exitcode", f"-out={path}", *self.var_args(), *extra]
        if destroy:
            args.append("-destroy")
        result = self.run(*args, check=False)
        if result.returncode not in (0, 2):
            path.unlink(missing_ok=True)
            raise OpsError(f"terraform plan failed for {self.env.name} (see the error above)")
        plan = PlanResult(path=path, has_changes=result.returncode == 2)
        if plan.has_changes and summarize:
            shown = self.show_json(path)
            plan.summary = PlanSummary.from_plan_json(shown)
            plan.resource_changes = list(shown.get("resource_changes", []))
        return plan

    def show_json(self, path: Path | None = None) -> dict[str, Any]:
        args = ["show", "-json"] + ([str(path)] if path else [])
        return json.loads(self.run(*args, capture=True).stdout or "{}")

    def apply(self, plan: PlanResult) -> None:
        """Apply exactly the saved plan that was shown and confirmed."""
        try:
            self.run("apply", "-input=false", str(plan.path))
        finally:
            plan.path.unlink(missing_ok=True)

    def state(self) -> dict[str, Any]:
        """The raw state (`terraform state pull`); {} when there is none yet."""
        return json.loads(self.run("state", "pull", capture=True).stdout or "{}")

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("output", "-json", capture=True).stdout or "{}")
        return {name: item.get("value") for name, item in raw.items()}

    def state_resources(self) -> list[str]:
        # No state yet is a normal answer here (an empty list), not an error to show.
        result = self.run("state", "list", capture=True, check=False, quiet=True)
        return [line for line in result.stdout.splitlines() if line.strip()]
