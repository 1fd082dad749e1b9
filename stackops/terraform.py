"""The one Terraform runner: CLI config, init, workspace, plan to a file, apply that plan, outputs.

Each environment gets its own Terraform data folder (TF_DATA_DIR under .state/envs/<name>/), so
switching environments never re-initialises another one and the repository tree stays clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackops import parallel, retries, run_logs, ui
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.paths import ROOT, state_root
from stackops.terraform_adoption import adoption_hint
from stackops.terraform_stream import PlannedChange, StreamView
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


def backend_args(env: Environment) -> list[str]:
    """Init's backend config for the environment's state: backend.hcl, then the state bucket's name
    (Environment.state_bucket: backend.hcl's `bucket`, else the default, which backend.hcl cannot
    compute), so the bucket whose owner the tool checks before each run
    (stackops.stack.require_state_bucket) is the one Terraform is given."""
    backend = overridden_backend_file(env) if env.state_role_override else env.backend_path
    return [f"-backend-config={backend}", f"-backend-config=bucket={env.state_bucket}"]


def overridden_backend_file(env: Environment) -> Path:
    """backend.hcl as the environment holds it after STACK_STATE_ROLE_ARN (no profile, that role in
    assume_role; each value as JSON, which HCL reads alike), for init; named after its text."""
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(env.backend.items()))
    path = env.state_dir / f"backend-{hashlib.sha256(text.encode()).hexdigest()[:12]}.hcl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


@dataclass
class PlanSummary:
    """What a saved plan would do, counted per resource type."""

    adds: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    destroys: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_changes(cls, changes: Iterable[PlannedChange]) -> PlanSummary:
        """The same counts from the plan's `planned_change` messages (no `terraform show` needed)."""
        summary = cls()
        for change in changes:
            if not change.managed:
                continue
            if change.action in ("create", "replace"):
                summary.adds[change.type] += 1
            if change.action in ("delete", "replace"):
                summary.destroys[change.type] += 1
            if change.action == "update":
                summary.changes[change.type] += 1
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
    # As `terraform show -json` has them: read only when a caller needs more than `planned`.
    resource_changes: list[dict[str, Any]] = field(default_factory=list)
    planned: list[PlannedChange] = field(default_factory=list)  # from the plan's own stream
    shown: threading.Thread | None = None  # writes `terraform show` of the plan to the log
    text: str = ""  # that text, once `shown` has finished (read by `plan_text`)

    def changing(self) -> list[PlannedChange]:
        """The managed resources the plan creates, updates, replaces or deletes."""
        return [c for c in self.planned if c.managed and c.operations]

    def discard(self) -> None:
        """Delete the saved plan (once the log has its text)."""
        if self.shown is not None:
            self.shown.join()
        self.path.unlink(missing_ok=True)


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
        var_args: Sequence[str] | Callable[[], Sequence[str]] | None = None,
        label: str | None = None,
    ) -> None:
        """By default the environment's stack: the repository root, its tfvars, backend and workspace.

        `var_args` may be a function, called when a command first needs them: the stack's builds the
        renewal function's package, which a state read (`inv refresh`, `inv logs`) does not need."""
        self.env = env
        self.root = root or env.root
        self.data_dir = data_dir or env.state_dir / "terraform"
        self.plan_dir = self.data_dir / "plans"
        self.workspace = workspace or env.workspace
        self.backend_config = list(backend_config) if backend_config is not None else backend_args(env)
        self._var_args: Sequence[str] | Callable[[], Sequence[str]] = (
            var_args if var_args is not None else [f"-var-file={env.tfvars_path}"]
        )
        self.label = label or env.name  # what the progress lines call this stack

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

    def _execute(
        self,
        args: Sequence[str],
        *,
        workspace: bool,
        capture: bool,
        on_line: Callable[[str], None] | None = None,
        echo_stderr: bool = True,
    ) -> tuple[int, str, str]:
        """Run terraform: stdout captured, given line by line to `on_line`, or left to the terminal;
        stderr always kept (to recognise lock errors) and shown as it comes unless captured.

        Ctrl-C reaches Terraform once (a second one is not forwarded), so it stops gracefully and
        releases the state lock, and the caller exits 130. (Signal handlers exist only in the main
        thread: Terraform runs there; helper threads run AWS calls and children of their own, which
        stackops.parallel.child_signals lets a Ctrl-C reach.)"""
        environ = self.environ()
        if workspace:
            environ["TF_WORKSPACE"] = self.workspace
        piped = capture or on_line is not None
        process = subprocess.Popen(
            self.command(*args), env=environ, stdout=subprocess.PIPE if piped else None, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
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

        main = parallel.on_main_thread()
        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            if capture and on_line is None:
                out, stderr = process.communicate()
            else:
                kept: list[str] = []
                _read_lines(process, on_line, kept, echo=echo_stderr and not capture)
                process.wait()
                out, stderr = "", "".join(kept)
            code = process.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if interrupted:
            raise OpsError(
                f"terraform {args[0]} interrupted; Terraform stopped cleanly and released the state lock",
                exit_code=EXIT_INTERRUPTED,
            )
        return code, out, stderr

    def _raise_for(self, command: str, code: int, errors: str, *, check: bool) -> None:
        if LOCK_MESSAGE in errors:
            raise OpsError(
                f"the state of {self.env.name} is locked by another run (see the lock info above); "
                "wait for it to finish, or if it died: inv tf --env "
                f"{self.env.name} -- force-unlock LOCK_ID"
            )
        if check and code != 0:
            hint = adoption_hint(errors, self.env)
            raise OpsError(
                f"terraform {command} failed (exit {code}) for {self.env.name}" + (f": {hint}" if hint else "")
            )

    def run(
        self, *args: str, capture: bool = False, check: bool = True, workspace: bool = True, quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run terraform; its output streams live unless captured (captured errors are shown unless quiet)."""
        code, out, stderr = self._execute(args, workspace=workspace, capture=capture)
        if capture and code != 0 and not quiet:
            sys.stderr.write(stderr)
        self._raise_for(args[0], code, stderr, check=check)
        return subprocess.CompletedProcess(args, code, out, stderr)

    def stream(self, *args: str, planned: Sequence[PlannedChange] = (), check: bool = True) -> tuple[int, StreamView]:
        """Run a plan, apply or destroy with Terraform's `-json` UI, rendered by StreamView (live on
        a terminal, plain lines elsewhere), every message written to the command's log. With
        STACK_VERBOSE=1 (--verbose), Terraform's own output is streamed instead, and logged too."""
        log = run_logs.for_folder(self.env.state_dir)
        title = f"{args[0]} {self.label}"
        log.section(f"terraform {' '.join(args)}  ({self.label})")
        view = StreamView(ui.err, title, log=log, planned=list(planned))
        if ui.verbose():
            words = [*args[:1], *([] if ui.colour() else ["-no-color"]), *args[1:]]
            code, _, stderr = self._execute(words, workspace=True, capture=False, on_line=_echo(log))
            log.write(stderr)
            self._raise_for(args[0], code, stderr, check=check)
            return code, view
        with view:
            code, _, stderr = self._execute(
                [args[0], "-json", *args[1:]], workspace=True, capture=False, on_line=view.feed, echo_stderr=True
            )
        if stderr.strip():
            log.write(stderr)
        self._raise_for(args[0], code, f"{view.error_text()}\n{stderr}", check=check)
        return code, view

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
        if callable(self._var_args):
            self._var_args = list(self._var_args())
        args = list(self._var_args)
        if self.env.state_role_override and any(arg.startswith("-var-file=") for arg in args):
            args.append(f"-var-file={self._without_profiles()}")  # after the tfvars: it wins
        return args

    def _without_profiles(self) -> Path:
        """A variables file unsetting the tfvars' profiles (STACK_STATE_ROLE_ARN: the default chain)."""
        (path := self.data_dir / "without-profiles.tfvars.json").parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"profile": None, "master_profile": None}))
        return path

    def plan(self, *, destroy: bool = False, extra: Sequence[str] = (), summarize: bool = True) -> PlanResult:
        """Plan into a file; exit code 2 of -detailed-exitcode means there are changes. The summary
        comes from the plan's own stream; `terraform show` writes the plan's text to the log
        meanwhile, in the background (`PlanResult.discard` and `apply` wait for it)."""
        self.plan_dir.mkdir(parents=True, exist_ok=True)
        path = self.plan_dir / ("destroy.tfplan" if destroy else "apply.tfplan")
        args = ["plan", "-input=false", "-detailed-exitcode", f"-out={path}", *self.var_args(), *extra]
        if destroy:
            args.append("-destroy")
        code, view = self.stream(*args, check=False)
        if code not in (0, 2):
            path.unlink(missing_ok=True)
            raise OpsError(f"terraform plan failed for {self.label} (see the error above)")
        plan = PlanResult(path=path, has_changes=code == 2, planned=view.planned)
        if plan.has_changes and ui.verbose():
            # Terraform's own output was streamed, not its messages: what the plan does comes from
            # `show -json` instead (the refusals and rollouts judge the plan by it).
            plan.planned = [PlannedChange.from_resource_change(c) for c in self.plan_details(plan)]
        if plan.has_changes and summarize:
            plan.summary = PlanSummary.from_changes(plan.planned)
            plan.shown = threading.Thread(target=self._log_plan_text, args=(plan,), daemon=True)
            plan.shown.start()
        return plan

    def _log_plan_text(self, plan: PlanResult) -> None:
        log = run_logs.for_folder(self.env.state_dir)
        path = plan.path
        try:
            text = plan.text = self.show_text(path)
        except (OSError, OpsError) as exc:  # the log is a record; a failure here must not fail the run
            text = f"(terraform show of the plan failed: {exc})\n"
        # One write: the text stays whole even when an apply's events are being logged meanwhile.
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        log.write(f"\n===== {stamp} UTC terraform show {path.name}  ({self.label}) =====\n{text}"
                  f"\n===== end of the plan's text (events of a run going on meanwhile follow) =====\n")  # fmt: skip

    def show_text(self, path: Path) -> str:
        """The saved plan as `terraform show` renders it (sensitive values shown as such), no colour."""
        code, out, stderr = self._execute(["show", "-no-color", str(path)], workspace=True, capture=True)
        if code != 0:
            raise OpsError(f"terraform show failed (exit {code}): {stderr.strip()[-500:]}")
        return out

    def plan_text(self, plan: PlanResult) -> str:
        """The saved plan's `terraform show` text: the one the log got, else read now."""
        if plan.shown is not None:
            plan.shown.join()
        return plan.text or self.show_text(plan.path)

    def show_json(self, path: Path | None = None) -> dict[str, Any]:
        args = ["show", "-json"] + ([str(path)] if path else [])
        return json.loads(self.run(*args, capture=True).stdout or "{}")

    def plan_details(self, plan: PlanResult) -> list[dict[str, Any]]:
        """The plan's changes as `terraform show -json` has them (attribute paths, reasons): read
        once, only by the callers that need more than the stream's addresses and actions."""
        if not plan.resource_changes:
            plan.resource_changes = list(self.show_json(plan.path).get("resource_changes", []))
        return plan.resource_changes

    def apply(self, plan: PlanResult) -> None:
        """Apply exactly the saved plan that was shown and confirmed."""
        try:
            self.stream("apply", "-input=false", *self.env.apply_options, str(plan.path), planned=plan.planned)
        finally:
            plan.discard()

    def state(self) -> dict[str, Any]:
        """The raw state (`terraform state pull`); {} when there is none yet."""
        return json.loads(self.run("state", "pull", capture=True).stdout or "{}")

    def state_resources(self) -> list[str]:
        # No state yet is a normal answer here (an empty list), not an error to show.
        result = self.run("state", "list", capture=True, check=False, quiet=True)
        return [line for line in result.stdout.splitlines() if line.strip()]


def _read_lines(
    process: subprocess.Popen[str], on_line: Callable[[str], None] | None, kept: list[str], *, echo: bool
) -> None:
    """Terraform's stdout line by line to `on_line` (when piped) and its stderr into `kept` (shown
    as it comes when `echo`), both as they come, so that neither pipe fills up and stalls it.

    In this, the main, thread: a reader thread could be the one the kernel hands a Ctrl-C to,
    and the handler that forwards it to Terraform would then wait for the main thread's next
    line. If showing a line fails (a closed pipe, say), Terraform is stopped as Ctrl-C stops it
    (once: it saves the state and releases the lock), its output read to the end and dropped,
    and the error raised once it has finished."""
    streams = {"err": process.stderr} | ({"out": process.stdout} if on_line is not None else {})
    buffers = dict.fromkeys(streams, b"")
    failure: BaseException | None = None

    def deliver(name: str, raw: bytes) -> None:
        nonlocal failure
        line = raw.decode("utf-8", errors="replace")
        if name == "err":
            kept.append(line)
            if echo:
                sys.stderr.write(line)
        elif failure is None and on_line is not None:
            try:
                on_line(line)
            except BaseException as exc:  # re-raised below, once Terraform has stopped
                failure = exc
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)

    with selectors.DefaultSelector() as selector:
        for name, stream in streams.items():
            assert stream is not None
            selector.register(stream.fileno(), selectors.EVENT_READ, name)
        while selector.get_map():
            for key, _ in selector.select():
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    if buffers[key.data]:
                        deliver(key.data, buffers[key.data])
                    continue
                *lines, buffers[key.data] = (buffers[key.data] + chunk).split(b"\n")
                for line in lines:
                    deliver(key.data, line + b"\n")
    if failure is not None:
        process.wait()
        raise failure


def _echo(log: run_logs.RunLog) -> Callable[[str], None]:
    """--verbose: Terraform's own output to stderr (stdout may carry a review summary), and to the log."""

    def echo(line: str) -> None:
        sys.stderr.write(line)
        sys.stderr.flush()
        log.write(line)

    return echo
