"""The environment model, the Terraform runner's commands, the account guard and the confirmation rules.

Fast: the runner runs a fake `terraform` (a small script recording its arguments, selected
through $TERRAFORM), the guard runs against moto's in-process mock, and the workflow's order of
checks runs against a recording stand-in for the runner.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import hcl2
import pytest
from moto import mock_aws

from stackops import cli, environments, terraform
from stackops import stack as stack_ops
from stackops.confirm import confirm
from stackops.environments import Environment
from stackops.errors import EXIT_REFUSED, OpsError, Refused
from stackops.guard import check_accounts
from stackops.paths import ROOT
from stackops.terraform import EXIT_INTERRUPTED, PlanResult, PlanSummary, Terraform
from stackops.terraform_stream import PlannedChange

LISTING = "valid environments: dev, local, prod"


# -- the environment model --------------------------------------------------------------------------


def test_the_three_environments() -> None:
    assert environments.names() == ["dev", "local", "prod"]


def test_dev_is_read_from_its_files() -> None:
    dev = environments.load("dev")
    assert (dev.name, dev.region, dev.profile, dev.account_id) == ("dev", "eu-west-2", "exiidev", "111111111111")
    assert (dev.master_profile, dev.master_account_id) == ("exiimaster", "000000000000")
    assert dev.emulated is False
    assert dev.is_production is False
    assert dev.hostnames == ["app-dev.exii-dev.example.com", "api-dev.exii-dev.example.com"]
    assert dev.secret_prefix == "/exii/dev/"  # noqa: S105 (a name, not a secret)
    assert dev.workspace == "dev"
    # backend.hcl names no bucket: the default carries the master account id.
    assert (dev.state_bucket, dev.lock_table) == ("exii-terraform-state-000000000000", "terraform-locks")
    assert dev.tfvars_path == ROOT / "environments" / "dev" / "variables.tfvars"
    assert dev.backend_path == ROOT / "environments" / "dev" / "backend.hcl"
    # The values still to be replaced before a first apply, as `inv doctor` lists them.
    assert dev.placeholders == (
        "account_id", "master_account_id", "zone_name", "ci_repository", "secret_administrators"
    )  # fmt: skip


def test_prod_and_local() -> None:
    prod, local = environments.load("prod"), environments.load("local")
    assert prod.is_production
    assert (prod.profile, prod.account_id) == ("exiiprod", "222222222222")
    assert prod.hostnames == ["app.exii.example.com", "api.exii.example.com"]
    assert local.emulated
    assert not local.is_production
    assert local.placeholders == ()
    # The state profile is the backend's (where Terraform keeps the state), the same as the tfvars say.
    assert local.master_profile == local.backend["profile"] == local.variables["master_profile"]
    assert local.hostnames == ["app.exii.test", "api.exii.test"]


def test_state_dir_is_under_the_tool_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path))
    assert environments.load("dev").state_dir == tmp_path / "envs" / "dev"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (None, f"--env is required; {LISTING}"),
        ("", f"--env is required; {LISTING}"),
        ("nope", f"unknown environment 'nope'; {LISTING}"),
        ("Dev", f"unknown environment 'Dev'; {LISTING}"),
        ("../prod", f"unknown environment '../prod'; {LISTING}"),
    ],
)
def test_unknown_or_missing_names_list_the_valid_ones(name: str | None, message: str) -> None:
    with pytest.raises(OpsError) as info:
        environments.load(name)
    assert str(info.value) == message
    assert info.value.exit_code == 1


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of environments/ to break."""
    shutil.copytree(ROOT / "environments", tmp_path / "environments")
    return tmp_path


def test_missing_tfvars_is_named(tree: Path) -> None:
    (tree / "environments" / "dev" / "variables.tfvars").unlink()
    with pytest.raises(OpsError) as info:
        environments.load("dev", root=tree)
    assert str(info.value) == "environments/dev/variables.tfvars is missing; valid environments: local, prod"


def test_malformed_tfvars_names_the_file(tree: Path) -> None:
    path = tree / "environments" / "prod" / "variables.tfvars"
    path.write_text(path.read_text() + '\nservice_min_count = = "two"\n')
    with pytest.raises(OpsError) as info:
        environments.load("prod", root=tree)
    message = str(info.value)
    assert message.startswith(f"{path} is not valid HCL: ")
    assert "\n" not in message


def test_missing_backend_is_named(tree: Path) -> None:
    path = tree / "environments" / "dev" / "backend.hcl"
    path.unlink()
    with pytest.raises(OpsError, match=f"^{re.escape(str(path))} is missing$"):
        environments.load("dev", root=tree)


def test_profiles_are_optional_the_default_chain_then(tree: Path) -> None:
    tfvars = tree / "environments" / "dev" / "variables.tfvars"
    kept = [line for line in tfvars.read_text().splitlines() if not line.startswith(("profile ", "master_profile "))]
    tfvars.write_text("\n".join(kept))
    backend = tree / "environments" / "dev" / "backend.hcl"
    role = "arn:aws:iam::000000000000:role/terraform-state"
    backend.write_text(
        "\n".join(line for line in backend.read_text().splitlines() if not line.startswith("profile "))
        + f'\nassume_role = {{\n  role_arn = "{role}"\n}}\n'
    )
    dev = environments.load("dev", root=tree)
    assert (dev.profile, dev.master_profile, dev.master_role_arn) == (None, None, role)
    assert dev.credentials_label() == "the default credential chain"
    assert dev.credentials_label(master=True) == f"the default credential chain assuming {role}"
    assert environments.load("dev").credentials_label(master=True) == "profile 'exiimaster'"


def test_assuming_the_state_role_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ROLE_ARN", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    role = {"role_arn": "arn:aws:iam::000000000000:role/terraform-state", "duration": "1h30m"}
    with pytest.raises(OpsError, match="no AWS credentials to assume arn:aws:iam::000000000000:role/terraform-state"):
        environments.assumed_role_session(boto3.Session(region_name="eu-west-2"), role, "eu-west-2")
    assert environments._seconds("1h30m") == 5400 and environments._seconds("900s") == 900
    with pytest.raises(OpsError, match="is not a duration"):
        environments._seconds("an hour")


@pytest.mark.parametrize("key", ["account_id", "master_account_id"])
def test_a_required_variable_left_out_is_named(tree: Path, key: str) -> None:
    path = tree / "environments" / "dev" / "variables.tfvars"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith(f"{key} ")))
    with pytest.raises(OpsError) as info:
        environments.load("dev", root=tree)
    assert str(info.value) == f"{path} does not set {key}"


def test_backend_without_a_lock_table_is_named(tree: Path) -> None:
    path = tree / "environments" / "dev" / "backend.hcl"
    path.write_text("\n".join(line for line in path.read_text().splitlines() if "dynamodb_table" not in line))
    with pytest.raises(OpsError, match=r"backend\.hcl does not set dynamodb_table"):
        environments.load("dev", root=tree)


def test_stage_must_match_the_folder(tree: Path) -> None:
    shutil.copytree(tree / "environments" / "dev", tree / "environments" / "staging")
    with pytest.raises(OpsError, match="sets stage = 'dev', expected 'staging'"):
        environments.load("staging", root=tree)


def test_an_unconfigured_profile_says_how_to_add_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(OpsError) as info:
        environments.load("dev").session()
    assert str(info.value) == "AWS profile 'exiidev' of dev is not configured (aws configure --profile exiidev)"


def test_without_a_declared_profile_a_missing_aws_profile_says_how_to_add_it(
    tree: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tfvars = tree / "environments" / "dev" / "variables.tfvars"
    tfvars.write_text("\n".join(line for line in tfvars.read_text().splitlines() if not line.startswith("profile ")))
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "gone")
    with pytest.raises(OpsError) as info:
        environments.load("dev", root=tree).session()
    assert str(info.value) == "AWS profile 'gone' of dev is not configured (aws configure --profile gone)"


def test_sessions_share_one_data_loader_and_ignore_a_stale_aws_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The loader is made without reading a profile's configuration: an AWS_PROFILE naming a profile
    that does not exist must not fail a session of the environment's own, configured profile."""
    (tmp_path / "config").write_text("[profile exiidev]\nregion = eu-west-2\n[profile exiiprod]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "left-over-from-another-shell")
    dev, prod = environments.load("dev").session(), environments.load("prod").session()
    assert (dev.profile_name, prod.profile_name) == ("exiidev", "exiiprod")
    assert dev._session.get_component("data_loader") is prod._session.get_component("data_loader")
    paths = dev._session.get_component("data_loader").search_paths
    assert len(paths) == len(set(paths))  # boto3's folder once, however many sessions were made


def test_a_commands_collector_runs_rarely_and_not_on_the_way_out(tmp_path: Path) -> None:
    """tasks.py's `operation` tunes the collector (stackops.cli.tune_garbage_collector) before the
    task: collections every COLLECT_EVERY allocations, and at exit the objects frozen (out of the
    interpreter's last collection) before the interpreter's teardown."""
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print(gc.get_threshold()[0], gc.get_freeze_count() > 0))\n"
        "python_default = gc.get_threshold()[0]\n"
        "import tasks\n"
        "print(gc.get_threshold()[0] == python_default)\n"  # importing tasks.py changes nothing
        "def noop(c): pass\n"
        "tasks.operation(noop)(None)\n"
        "print(gc.get_freeze_count())\n"  # nothing frozen before the process ends
    )
    env = {**os.environ, "STACK_STATE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "0", str(cli.COLLECT_EVERY), "True"]


# -- the runner: command construction ---------------------------------------------------------------

FAKE_TERRAFORM = """\
#!{python}
# A stand-in for terraform: records each call, then behaves as FAKE_TF_* ask.
import json, os, signal, sys, time
args = sys.argv[1:]
with open(os.environ["FAKE_TF_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "workspace": os.environ.get("TF_WORKSPACE"),
                          "data_dir": os.environ.get("TF_DATA_DIR"),
                          "cli_config": os.environ.get("TF_CLI_CONFIG_FILE")}}) + "\\n")
command = args[1]
if os.environ.get("FAKE_TF_WAIT"):
    received = []
    def stop(signum, frame):
        received.append(signal.Signals(signum).name)
        open(os.environ["FAKE_TF_WAIT"] + ".signal", "w").write(" ".join(received))
        if len(received) == 1 and os.environ.get("FAKE_TF_SLOW_STOP"):
            time.sleep(float(os.environ["FAKE_TF_SLOW_STOP"]))  # saving the state, releasing the lock
        sys.exit(1)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    open(os.environ["FAKE_TF_WAIT"], "w").close()
    if os.environ.get("FAKE_TF_STREAM"):
        print(json.dumps({{"type": "version", "@message": "Terraform 1.11.4"}}), flush=True)
    time.sleep(30)
    sys.exit(0)
if command == "init" and os.environ.get("FAKE_TF_INIT_LOCK"):
    root = args[0].split("=", 1)[1]
    open(os.path.join(root, ".terraform.lock.hcl"), "w").write(os.environ["FAKE_TF_INIT_LOCK"])
if command in ("plan", "apply") and os.environ.get("FAKE_TF_STREAM") and "-json" in args:
    sys.stdout.write(open(os.environ["FAKE_TF_STREAM"]).read())  # a recorded -json stream
if command == "plan":
    out = next(a.split("=", 1)[1] for a in args if a.startswith("-out="))
    open(out, "w").write("plan")
    if os.environ.get("FAKE_TF_LOCKED"):
        if "-json" in args:  # as Terraform reports it with its machine-readable UI: on stdout
            print(json.dumps({{"type": "diagnostic", "@message": "Error: Error acquiring the state lock",
                              "diagnostic": {{"severity": "error", "summary": "Error acquiring the state lock",
                                             "detail": "Lock Info:\\n  ID: 1234"}}}}))
        else:
            sys.stderr.write("Error: Error acquiring the state lock\\nLock Info:\\n  ID: 1234\\n")
        sys.exit(1)
    sys.exit(int(os.environ.get("FAKE_TF_PLAN_EXIT", "0")))
if command == "show":
    print(os.environ.get("FAKE_TF_SHOW", "{{}}"))
if command == "apply":
    sys.exit(int(os.environ.get("FAKE_TF_APPLY_EXIT", "0")))
"""

STREAMS = Path(__file__).parent / "fixtures" / "terraform_streams"  # recorded from its main.tf

PLANNED = [  # as the plan's stream gives them (stackops.terraform_stream.PlannedChange)
    PlannedChange('aws_sqs_queue.this["a"]', "aws_sqs_queue", "create"),
    PlannedChange('aws_sqs_queue.this["b"]', "aws_sqs_queue", "create"),
    PlannedChange("aws_lb.this", "aws_lb", "update"),
    PlannedChange("aws_ecs_service.this", "aws_ecs_service", "replace", "cannot_update"),
    PlannedChange("aws_s3_bucket.old", "aws_s3_bucket", "delete"),
    PlannedChange("data.aws_iam_policy_document.this", "aws_iam_policy_document", "read"),
]
STREAM_ACTIONS = {("create",): "create", ("update",): "update", ("delete",): "delete", ("no-op",): "noop",
                  ("delete", "create"): "replace", ("create", "delete"): "replace"}  # fmt: skip


def as_planned(change: dict[str, Any]) -> PlannedChange:
    """A `show -json` resource change as the stream's planned_change gives it."""
    return PlannedChange(change["address"], change["type"], STREAM_ACTIONS[tuple(change["change"]["actions"])])


class FakeTerraform:
    def __init__(self, folder: Path) -> None:
        self.log = folder / "calls.jsonl"

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[list[str]]:
        """Each call's arguments after -chdir."""
        return [call["args"][1:] for call in self.calls()]


@pytest.fixture
def fake_tf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeTerraform:
    script = tmp_path / "bin" / "terraform"
    script.parent.mkdir()
    script.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("TERRAFORM", str(script))
    monkeypatch.setenv("FAKE_TF_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("TF_WORKSPACE", "leaked-from-the-shell")
    monkeypatch.delenv("CI", raising=False)  # CI makes init keep the lock file read-only (tested below)
    for name in ("FAKE_TF_WAIT", "FAKE_TF_LOCKED", "FAKE_TF_PLAN_EXIT", "FAKE_TF_SHOW", "FAKE_TF_APPLY_EXIT",
                 "FAKE_TF_INIT_LOCK", "FAKE_TF_SLOW_STOP"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return FakeTerraform(tmp_path)


@pytest.fixture
def dev() -> Environment:
    return environments.load("dev")


@pytest.fixture
def runner(dev: Environment, tmp_path: Path) -> Terraform:
    return Terraform(dev, data_dir=tmp_path / "data")


def test_defaults_are_the_environments_stack(dev: Environment) -> None:
    tf = Terraform(dev)
    assert tf.root == ROOT
    assert tf.data_dir == dev.state_dir / "terraform"
    assert tf.workspace == "dev"
    assert tf.backend_config == [f"-backend-config={dev.backend_path}", f"-backend-config=bucket={dev.state_bucket}"]
    assert tf.var_args() == [f"-var-file={dev.tfvars_path}"]


def test_another_root_keeps_what_it_is_given(dev: Environment, tmp_path: Path) -> None:
    tf = Terraform(dev, root=tmp_path, data_dir=tmp_path / "d", workspace="w", backend_config=[], var_args=[])
    assert (tf.root, tf.data_dir, tf.workspace, tf.backend_config, tf.var_args()) == (
        tmp_path, tmp_path / "d", "w", [], []
    )  # fmt: skip


def test_command_and_environment(runner: Terraform, fake_tf: FakeTerraform) -> None:
    assert runner.command("plan", "-x") == [os.environ["TERRAFORM"], f"-chdir={ROOT}", "plan", "-x"]
    environ = runner.environ()
    assert environ["TF_DATA_DIR"] == str(runner.data_dir)
    assert environ["TF_IN_AUTOMATION"] == "1"
    assert "TF_WORKSPACE" not in environ  # a shell's TF_WORKSPACE must never pick the workspace
    assert Path(environ["TF_CLI_CONFIG_FILE"]).is_file()


def test_terraform_missing_from_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TERRAFORM", raising=False)
    with pytest.raises(OpsError, match=r"^terraform is not on PATH: install Terraform >= 1\.11"):
        terraform.terraform_binary()


def test_cli_config_uses_the_offline_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    monkeypatch.setenv("STACK_PROVIDER_MIRROR", str(mirror))
    text = terraform.cli_config(tmp_path).read_text()
    assert f'path    = "{mirror}"' in text
    assert 'exclude = ["registry.terraform.io/*/*"]' in text
    assert f'plugin_cache_dir = "{tmp_path / "plugin-cache"}"' in text
    assert (tmp_path / "plugin-cache").is_dir()


def test_cli_config_without_a_mirror_downloads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STACK_PROVIDER_MIRROR", raising=False)
    monkeypatch.setattr(terraform, "MIRROR_CANDIDATES", (str(tmp_path / "none"),))
    text = terraform.cli_config(tmp_path).read_text()
    assert "provider_installation {\n  direct {}\n}" in text
    assert "filesystem_mirror" not in text


def test_init_configures_the_backend_and_selects_the_workspace_once(
    runner: Terraform, fake_tf: FakeTerraform, dev: Environment
) -> None:
    runner.init()
    runner.init()  # nothing changed: no second init
    assert fake_tf.commands() == [
        ["init", "-input=false", "-reconfigure", f"-backend-config={dev.backend_path}",
         f"-backend-config=bucket={dev.state_bucket}"],
        ["workspace", "select", "-or-create=true", "dev"],
    ]  # fmt: skip
    # Init and workspace selection never run inside a workspace chosen by the environment.
    assert [call["workspace"] for call in fake_tf.calls()] == [None, None]
    assert {call["data_dir"] for call in fake_tf.calls()} == {str(runner.data_dir)}
    runner.init(force=True)
    assert len(fake_tf.calls()) == 4


def test_init_runs_again_when_the_backend_config_changes(
    dev: Environment, fake_tf: FakeTerraform, tmp_path: Path
) -> None:
    Terraform(dev, data_dir=tmp_path / "data").init()
    Terraform(dev, data_dir=tmp_path / "data", backend_config=["-backend-config=key=other"]).init()
    inits = [c for c in fake_tf.commands() if c[0] == "init"]
    assert inits[1] == ["init", "-input=false", "-reconfigure", "-backend-config=key=other"]


def test_the_committed_lock_files_pin_the_provider_of_versions_tf() -> None:
    for root in (ROOT, ROOT / "tf-init"):
        lock = hcl2.loads((root / ".terraform.lock.hcl").read_text())
        [provider] = lock["provider"]
        [(address, pinned)] = provider.items()
        assert address.strip('"') == "registry.terraform.io/hashicorp/aws"
        assert pinned["constraints"].strip('"') == "~> 5.100"
        assert pinned["version"].strip('"') == "5.100.0" and pinned["hashes"]
        assert 'version = "~> 5.100"' in " ".join((root / "versions.tf").read_text().split())


def test_init_says_when_terraform_changed_the_lock_file(
    dev: Environment, fake_tf: FakeTerraform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / ".terraform.lock.hcl").write_text("old\n")
    monkeypatch.setenv("FAKE_TF_INIT_LOCK", "new\n")
    Terraform(dev, root=root, data_dir=tmp_path / "data").init()
    assert f"changed {root / '.terraform.lock.hcl'}" in " ".join(capsys.readouterr().err.split())
    # The stamp holds the lock as init left it: the next run needs no init.
    Terraform(dev, root=root, data_dir=tmp_path / "data").init()
    assert len([c for c in fake_tf.commands() if c[0] == "init"]) == 1
    # A lock that changes afterwards (a pulled provider upgrade) makes the next run initialise again.
    (root / ".terraform.lock.hcl").write_text("pulled\n")
    monkeypatch.setenv("FAKE_TF_INIT_LOCK", "pulled\n")
    Terraform(dev, root=root, data_dir=tmp_path / "data").init()
    assert len([c for c in fake_tf.commands() if c[0] == "init"]) == 2
    assert "lock" not in capsys.readouterr().err  # init left it as it was: nothing to say


def test_init_in_ci_never_rewrites_the_lock_file(
    runner: Terraform, fake_tf: FakeTerraform, dev: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    runner.init()
    assert fake_tf.commands()[0] == [
        "init", "-input=false", "-reconfigure", "-lockfile=readonly", f"-backend-config={dev.backend_path}",
        f"-backend-config=bucket={dev.state_bucket}",
    ]  # fmt: skip


def test_plan_writes_a_file_in_the_workspace(runner: Terraform, fake_tf: FakeTerraform, dev: Environment) -> None:
    result = runner.plan()
    path = runner.plan_dir / "apply.tfplan"
    assert fake_tf.commands() == [
        ["plan", "-json", "-input=false", "-detailed-exitcode", f"-out={path}", f"-var-file={dev.tfvars_path}"]
    ]
    assert fake_tf.calls()[0]["workspace"] == "dev"
    assert (result.path, result.has_changes, result.summary) == (path, False, None)


def test_verbose_streams_terraforms_own_output_without_colour_when_not_a_terminal(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_VERBOSE", "1")
    monkeypatch.setenv("FAKE_TF_PLAN_EXIT", "2")
    monkeypatch.setenv("FAKE_TF_SHOW", json.dumps({"resource_changes": [
        planned(DATABASE, "aws_db_instance", "delete", "create"),
        {**planned("data.aws_iam_policy_document.x", "aws_iam_policy_document", "read"), "mode": "data"},
    ]}))  # fmt: skip
    result = runner.plan()
    result.discard()
    command = fake_tf.commands()[0]
    assert command[:2] == ["plan", "-no-color"] and "-json" not in command
    # What the plan does is still known (from show -json): the refusals and rollouts judge it.
    assert [(c.address, c.action, c.managed) for c in result.planned] == [
        (DATABASE, "replace", True),
        ("data.aws_iam_policy_document.x", "read", False),
    ]
    assert result.summary is not None and result.summary.rows() == [("aws_db_instance", 1, 0, 1)]


def test_plan_with_changes_is_summarised_from_its_own_stream(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_PLAN_EXIT", "2")
    monkeypatch.setenv("FAKE_TF_STREAM", str(STREAMS / "plan-replace.jsonl"))
    result = runner.plan(destroy=True)
    path = runner.plan_dir / "destroy.tfplan"
    assert fake_tf.commands()[0][-1] == "-destroy"
    assert fake_tf.commands()[0][4] == f"-out={path}"
    result.discard()  # waits for the plan's text to reach the log
    # No `show -json` for the summary: only `show -no-color`, for the log.
    assert [c[:2] for c in fake_tf.commands()[1:]] == [["show", "-no-color"]]
    assert result.has_changes
    assert result.summary is not None
    assert result.summary.rows() == [("terraform_data", 1, 0, 1)]
    assert [(c.address, c.action, c.reason) for c in result.planned] == [
        ("terraform_data.migration", "replace", "cannot_update")
    ]


def test_the_plan_text_the_log_got_is_reused_for_the_review(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_PLAN_EXIT", "2")
    monkeypatch.setenv("FAKE_TF_STREAM", str(STREAMS / "plan-replace.jsonl"))
    monkeypatch.setenv("FAKE_TF_SHOW", "Terraform will perform the following actions:")
    result = runner.plan()
    assert runner.plan_text(result).strip() == "Terraform will perform the following actions:"
    assert [c[:2] for c in fake_tf.commands()[1:]] == [["show", "-no-color"]]  # one show, not two
    result.discard()


def test_a_failed_plan_leaves_no_plan_file(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_PLAN_EXIT", "1")
    with pytest.raises(OpsError, match=r"^terraform plan failed for dev"):
        runner.plan()
    assert not (runner.plan_dir / "apply.tfplan").exists()


def test_a_held_lock_is_reported_with_the_way_out(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TF_LOCKED", "1")
    with pytest.raises(OpsError) as info:
        runner.plan()
    assert info.value.exit_code == 1
    assert str(info.value) == (
        "the state of dev is locked by another run (see the lock info above); wait for it to finish, "
        "or if it died: inv tf --env dev -- force-unlock LOCK_ID"
    )


@pytest.mark.parametrize("exit_code", [0, 1])
def test_apply_runs_exactly_the_saved_plan_and_removes_it(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch, exit_code: int
) -> None:
    monkeypatch.setenv("FAKE_TF_APPLY_EXIT", str(exit_code))
    plan = runner.plan()
    if exit_code:
        with pytest.raises(OpsError, match=r"terraform apply failed \(exit 1\) for dev"):
            runner.apply(plan)
    else:
        runner.apply(plan)
    assert fake_tf.commands()[-1] == ["apply", "-json", "-input=false", str(plan.path)]
    assert fake_tf.calls()[-1]["workspace"] == "dev"
    assert not plan.path.exists()


def test_the_embedded_aws_alone_is_applied_with_more_parallelism(fake_tf: FakeTerraform, tmp_path: Path) -> None:
    local = Terraform(environments.load("local"), data_dir=tmp_path / "local")
    local.apply(local.plan())
    assert fake_tf.commands()[-1][:4] == ["apply", "-json", "-input=false", "-parallelism=30"]
    real = Terraform(environments.load("prod"), data_dir=tmp_path / "prod")
    real.apply(real.plan())
    assert not any(arg.startswith("-parallelism") for arg in fake_tf.commands()[-1])  # Terraform's default 10


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "stream"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_reaches_terraform_as_one_interrupt(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, signum: int,
    streamed: bool,
) -> None:  # fmt: skip
    ready = tmp_path / "ready"
    monkeypatch.setenv("FAKE_TF_WAIT", str(ready))
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupt() -> None:
        # Only once Terraform runs and the runner listens (or the test process itself would stop).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if ready.exists() and signal.getsignal(signum) is not before[signum]:
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.01)

    sender = threading.Thread(target=interrupt, daemon=True)
    sender.start()
    started = time.monotonic()
    with pytest.raises(OpsError) as info:
        if streamed:  # with -json, through the progress view
            runner.stream("apply", "-input=false", "plan.tfplan")
        else:
            runner.run("apply", "-input=false", "plan.tfplan")
    sender.join()
    assert time.monotonic() - started < 15
    assert info.value.exit_code == EXIT_INTERRUPTED
    assert str(info.value) == "terraform apply interrupted; Terraform stopped cleanly and released the state lock"
    assert Path(f"{ready}.signal").read_text() == "SIGINT"  # Terraform's graceful stop, whatever the signal
    assert {s: signal.getsignal(s) for s in before} == before  # the caller's handlers are back


def test_a_failure_to_show_the_output_stops_terraform_gracefully(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A closed pipe (`inv apply | head`) must not leave Terraform running with nobody reading it."""
    ready = tmp_path / "ready"
    monkeypatch.setenv("FAKE_TF_WAIT", str(ready))
    monkeypatch.setenv("FAKE_TF_STREAM", "1")

    def broken(self: object, line: str) -> None:
        raise BrokenPipeError("stdout closed")

    monkeypatch.setattr(terraform.StreamView, "feed", broken)
    started = time.monotonic()
    with pytest.raises(BrokenPipeError):
        runner.stream("apply", "-input=false", "plan.tfplan")
    assert time.monotonic() - started < 15
    assert Path(f"{ready}.signal").read_text() == "SIGINT"  # stopped as Ctrl-C stops it, once


def test_a_second_interrupt_is_not_passed_on_while_terraform_stops(
    runner: Terraform, fake_tf: FakeTerraform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ready = tmp_path / "ready"
    monkeypatch.setenv("FAKE_TF_WAIT", str(ready))
    monkeypatch.setenv("FAKE_TF_SLOW_STOP", "1.5")  # Terraform takes its time to stop
    before = signal.getsignal(signal.SIGINT)

    def impatient_user() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (ready.exists() and signal.getsignal(signal.SIGINT) is not before):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
        while not Path(f"{ready}.signal").exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the first reached Terraform: now a second Ctrl-C, while it stops
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=impatient_user, daemon=True)
    sender.start()
    with pytest.raises(OpsError) as info:
        runner.run("apply", "-input=false", "plan.tfplan")
    sender.join()
    assert info.value.exit_code == EXIT_INTERRUPTED
    assert Path(f"{ready}.signal").read_text() == "SIGINT"  # one interrupt, never Terraform's "exit now" pair
    assert "Terraform is still stopping" in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before


# -- the account guard (moto in-process) ------------------------------------------------------------

ROLE_CONFIG = (
    "[profile {name}]\nrole_arn = arn:aws:iam::{account}:role/admin\nsource_profile = root\nregion = eu-west-2\n"
)


@pytest.fixture
def profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Write an AWS config mapping profiles to accounts, inside a mocked AWS."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    credentials.write_text("[root]\naws_access_key_id = AKIAUNITTEST00000000\naws_secret_access_key = dummy\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))

    def write(**accounts: str) -> None:
        config.write_text("\n".join(ROLE_CONFIG.format(name=n, account=a) for n, a in accounts.items()))

    with mock_aws():
        yield write


def test_the_guard_passes_profiles_in_their_declared_accounts(profiles: Callable[..., None], dev: Environment) -> None:
    profiles(exiidev="111111111111", exiimaster="000000000000")
    check_accounts(dev)


def test_the_guard_refuses_a_profile_in_another_account(profiles: Callable[..., None]) -> None:
    profiles(exiiprod="999999999999", exiimaster="000000000000")
    with pytest.raises(Refused) as info:
        check_accounts(environments.load("prod"))
    assert info.value.exit_code == EXIT_REFUSED
    assert str(info.value) == (
        "refused: profile 'exiiprod' is in account 999999999999, but the prod account of prod is 222222222222 "
        "(environments/prod/variables.tfvars); nothing was changed"
    )


def test_the_guard_checks_the_state_account_too(profiles: Callable[..., None], dev: Environment) -> None:
    profiles(exiidev="111111111111", exiimaster="123456789012")
    with pytest.raises(Refused, match="profile 'exiimaster' is in account 123456789012, but the state \\(master\\)"):
        check_accounts(dev)
    check_accounts(dev, master=False)


def test_the_guard_names_a_missing_profile(profiles: Callable[..., None], dev: Environment) -> None:
    profiles(exiimaster="000000000000")
    with pytest.raises(OpsError) as info:
        check_accounts(dev)
    assert info.value.exit_code == 1
    assert "'exiidev' of dev is not configured (aws configure --profile exiidev)" in str(info.value)


def assumed(account: str) -> int:
    """AssumeRole calls moto answered into `account` (its own record of them)."""
    from moto.sts.models import sts_backends

    return len(sts_backends[account]["aws"].assumed_roles)


def test_each_role_is_assumed_once_per_environment(
    profiles: Callable[..., None], dev: Environment, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command's sessions share what botocore assumed (a plan's checks made five AssumeRole
    calls of one role): role profiles and backend.hcl's role alike; another Environment (another
    command) and another endpoint (another emulator) assume again."""
    profiles(exiidev="111111111111", exiimaster="000000000000")
    for _ in range(3):
        check_accounts(dev)
        dev.session().client("sts").get_caller_identity()
    assert (assumed("111111111111"), assumed("000000000000")) == (1, 1)
    check_accounts(environments.load("dev"))
    assert (assumed("111111111111"), assumed("000000000000")) == (2, 2)

    backend = tree / "environments" / "dev" / "backend.hcl"
    backend.write_text(
        backend.read_text() + '\nassume_role = {\n  role_arn = "arn:aws:iam::333333333333:role/state"\n}\n'
    )
    with_role = environments.load("dev", root=tree)
    for _ in range(3):
        account = with_role.session(master=True).client("sts").get_caller_identity()["Account"]
        assert account == "333333333333"
    assert (assumed("333333333333"), assumed("000000000000")) == (1, 3)  # the source profile's once too

    local = with_role.assumed_roles()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert with_role.assumed_roles() is not local and with_role.assumed_roles() == {}


# -- confirmation rules -----------------------------------------------------------------------------


def never_asked(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r}")


def answering(answer: str) -> Callable[[str], str]:
    return lambda prompt: answer


@pytest.mark.parametrize(
    ("name", "action", "kwargs"),
    [
        ("dev", "apply", {"yes": True}),
        ("dev", "destroy", {"yes": True}),
        ("dev", "apply", {"typed": "dev"}),
        ("dev", "apply", {"interactive": True, "ask": answering("yes")}),
        ("prod", "apply", {"yes": True}),
        ("prod", "apply", {"interactive": True, "ask": answering("prod")}),
        ("prod", "destroy", {"typed": "prod"}),
        ("prod", "destroy", {"typed": "prod", "yes": True}),
        ("prod", "destroy", {"yes": True, "interactive": True, "ask": answering("prod")}),
        ("prod", "destroy", {"interactive": True, "ask": answering("prod")}),
    ],
)
def test_confirmed(name: str, action: str, kwargs: dict[str, Any]) -> None:
    kwargs = {"interactive": False, "ask": never_asked, **kwargs}
    confirm(environments.load(name), action, **kwargs)


@pytest.mark.parametrize(
    ("name", "action", "kwargs", "message"),
    [
        ("dev", "apply", {}, "refused: apply on dev needs confirmation; run it in a terminal or pass --yes"),
        ("dev", "apply", {"interactive": True, "ask": answering("y")}, "confirmation 'y' is not 'yes'"),
        ("dev", "apply", {"typed": "prod"}, "--confirm 'prod' does not match the environment 'dev'"),
        ("prod", "apply", {"interactive": True, "ask": answering("yes")}, "confirmation 'yes' is not 'prod'"),
        ("prod", "destroy", {"yes": True}, "destroying prod needs its name typed; --yes alone is not enough"),
        ("prod", "destroy", {"typed": "dev", "yes": True}, "--confirm 'dev' does not match the environment 'prod'"),
        ("prod", "destroy", {"yes": True, "interactive": True, "ask": answering("yes")}, "'yes' is not 'prod'"),
    ],
)
def test_refused(name: str, action: str, kwargs: dict[str, Any], message: str) -> None:
    kwargs = {"interactive": False, "ask": never_asked, **kwargs}
    with pytest.raises(Refused) as info:
        confirm(environments.load(name), action, **kwargs)
    assert message in str(info.value)
    assert info.value.exit_code == EXIT_REFUSED


# -- the workflow's order: guards before Terraform --------------------------------------------------


class RecordingStack:
    """Stands in for the initialised runner; records what the workflow asks of it."""

    def __init__(self, folder: Path, has_changes: bool, opened: list[str]) -> None:
        self.folder, self.has_changes = folder, has_changes
        self.opened = opened  # the workflow's steps before Terraform: secrets checked, stack opened
        self.calls: list[tuple[str, Any]] = []
        self.plans: list[PlanResult] = []
        self.resource_changes: list[dict[str, Any]] = []  # what the next plans hold, as `show -json` has it

    @property
    def data_dir(self) -> Path:
        return self.folder

    def plan(self, *, destroy: bool = False, extra: Sequence[str] = ()) -> PlanResult:
        self.calls.append(("plan", destroy))
        self.extra = list(extra)
        path = self.folder / f"{len(self.plans)}.tfplan"
        path.write_text("plan")
        summary = PlanSummary.from_changes(PLANNED) if self.has_changes else None
        self.plans.append(PlanResult(path=path, has_changes=self.has_changes, summary=summary,
                                     resource_changes=list(self.resource_changes),
                                     planned=[as_planned(c) for c in self.resource_changes]))  # fmt: skip
        return self.plans[-1]

    def plan_details(self, plan: PlanResult) -> list[dict[str, Any]]:
        return plan.resource_changes

    def apply(self, plan: PlanResult) -> None:
        self.calls.append(("apply", plan.path))
        plan.path.unlink()

    def var_args(self) -> list[str]:
        return ["-var-file=x.tfvars"]

    def run(self, *args: str, check: bool = True) -> Any:
        self.calls.append(("run", args))
        return type("Done", (), {"returncode": 0})()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., RecordingStack]:
    """Returns a factory: stack(has_changes) installs a recording runner; secrets checks are recorded too."""
    opened: list[str] = []
    state: dict[str, RecordingStack] = {}
    monkeypatch.setattr(stack_ops, "require_secrets", lambda env: opened.append(f"secrets {env.name}"))
    monkeypatch.setattr(stack_ops, "require_state_bucket", lambda env: opened.append(f"bucket {env.name}"))
    monkeypatch.setattr(stack_ops, "read_state", lambda env: {})  # no state yet: no service runs an image
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal, like automation

    def install(has_changes: bool = True) -> RecordingStack:
        state["stack"] = RecordingStack(tmp_path, has_changes, opened)

        def open_stack(env: Environment, **_: object) -> RecordingStack:
            opened.append(f"stack {env.name}")
            return state["stack"]

        monkeypatch.setattr(stack_ops, "stack", open_stack)
        return state["stack"]

    return install


def test_prod_destroy_with_yes_alone_is_refused_before_any_plan(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    with pytest.raises(Refused, match="destroying prod needs its name typed"):
        stack_ops.apply(environments.load("prod"), yes=True, destroy=True, ask=never_asked)
    assert tf.opened == []
    assert tf.calls == []


def test_a_wrong_typed_name_is_refused_before_any_plan(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    for destroy in (False, True):
        with pytest.raises(Refused, match="--confirm 'dev' does not match the environment 'prod'"):
            stack_ops.apply(environments.load("prod"), typed="dev", destroy=destroy, ask=never_asked)
    assert tf.calls == []


def test_secrets_are_checked_before_terraform(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    stack_ops.apply(environments.load("dev"), yes=True)
    assert tf.opened == ["bucket dev", "secrets dev", "stack dev"]


def test_nothing_to_change_asks_nothing(stack: Callable[..., RecordingStack]) -> None:
    tf = stack(has_changes=False)
    assert stack_ops.apply(environments.load("prod"), ask=never_asked) is False
    assert tf.calls == [("plan", False)]
    assert not tf.plans[0].path.exists()


DATABASE = "module.database.aws_db_instance.this"


def test_replacing_the_database_needs_the_name_even_with_yes(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    tf.resource_changes = [planned(DATABASE, "aws_db_instance", "delete", "create")]
    with pytest.raises(Refused) as info:
        stack_ops.apply(environments.load("dev"), yes=True, ask=never_asked)
    message = str(info.value)
    assert "needs its name typed; --yes alone is not enough" in message
    assert f"{DATABASE} (replace)" in message and f"--allow-replace {DATABASE}" in message
    assert tf.calls == [("plan", False)] and not tf.plans[0].path.exists()
    # Typed, it goes ahead; named with --allow-replace, --yes is enough again.
    assert stack_ops.apply(environments.load("dev"), typed="dev", ask=never_asked) is True
    assert stack_ops.apply(environments.load("dev"), yes=True, allow_replace=[DATABASE], ask=never_asked) is True
    assert [call[0] for call in tf.calls] == ["plan", "plan", "apply", "plan", "apply"]


def test_allow_replace_names_each_address_and_other_replacements_need_nothing(
    stack: Callable[..., RecordingStack],
) -> None:
    tf = stack()
    tf.resource_changes = [
        planned(DATABASE, "aws_db_instance", "delete", "create"),
        planned('module.bucket["input"].aws_s3_bucket.this', "aws_s3_bucket", "delete"),
        planned("aws_ecs_task_definition.migrate", "aws_ecs_task_definition", "delete", "create"),
    ]
    with pytest.raises(Refused, match=r"aws_s3_bucket\.this \(destroy\)") as info:
        stack_ops.apply(environments.load("dev"), yes=True, allow_replace=[DATABASE], ask=never_asked)
    assert DATABASE not in str(info.value)  # allowed; the bucket is not
    tf.resource_changes = [planned("aws_ecs_task_definition.migrate", "aws_ecs_task_definition", "delete", "create")]
    assert stack_ops.apply(environments.load("dev"), yes=True, ask=never_asked) is True  # not stateful


def test_a_destroy_deleting_stateful_resources_needs_the_name(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    tf.resource_changes = [planned(DATABASE, "aws_db_instance", "delete")]
    with pytest.raises(Refused, match=r"destroying dev needs its name typed.*the destroy deletes 1 stateful"):
        stack_ops.apply(environments.load("dev"), yes=True, destroy=True, ask=never_asked)
    assert stack_ops.apply(environments.load("dev"), typed="dev", destroy=True, ask=never_asked) is True
    assert tf.calls[-1][0] == "apply"


def test_unconfirmed_changes_are_not_applied(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    with pytest.raises(Refused, match="apply on dev needs confirmation"):
        stack_ops.apply(environments.load("dev"), ask=never_asked)
    assert tf.calls == [("plan", False)]
    assert not tf.plans[0].path.exists()  # a refused plan is not left to apply later


def test_confirmed_changes_apply_the_plan_that_was_shown(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    assert stack_ops.apply(environments.load("prod"), typed="prod", destroy=True, ask=never_asked) is True
    assert tf.calls == [("plan", True), ("apply", tf.plans[0].path)]
    assert tf.opened == ["bucket prod", "stack prod"]  # a destroy needs no secrets


def planned(address: str, kind: str, *actions: str) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "type": kind, "change": {"actions": list(actions)}}


LISTENERS = [
    planned('module.alb["concept"].aws_lb_listener.https[0]', "aws_lb_listener", "create"),
    planned('module.alb["concept"].aws_lb_listener.http', "aws_lb_listener", "update"),
    planned('module.alb["concept"].aws_lb.this', "aws_lb", "no-op"),
]


def test_a_new_certificate_applies_only_the_listeners(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    tf.resource_changes = LISTENERS
    with pytest.raises(Refused, match="apply on prod needs confirmation"):
        stack_ops.apply_certificate(environments.load("prod"), ask=never_asked)
    assert stack_ops.apply_certificate(environments.load("prod"), yes=True, ask=never_asked) is True
    assert tf.calls == [("plan", False), ("plan", False), ("apply", tf.plans[1].path)]
    assert "-target=module.alb" in tf.extra
    assert not any(plan.path.exists() for plan in tf.plans)


def test_a_new_certificate_with_other_pending_changes_applies_nothing(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    tf.resource_changes = [
        *LISTENERS,
        planned('module.alb["django"].aws_lb_target_group.this', "aws_lb_target_group", "delete", "create"),
        planned("module.network.aws_security_group.alb", "aws_security_group", "update"),
    ]
    with pytest.raises(Refused) as refused:
        stack_ops.apply_certificate(environments.load("prod"), yes=True, ask=never_asked)
    assert str(refused.value) == (
        "refused: attaching the certificate would also change 2 other resource(s) of prod "
        '(module.alb["django"].aws_lb_target_group.this, module.network.aws_security_group.alb); nothing was '
        "applied. Review them with inv plan --env prod, then inv apply --env prod, which attaches the "
        "certificate too (the ARN is published: inv cert will not apply it again)"
    )
    assert [call[0] for call in tf.calls] == ["plan"]
    assert not tf.plans[0].path.exists()


def test_drift_exit_codes(stack: Callable[..., RecordingStack]) -> None:
    stack(has_changes=True)
    assert stack_ops.drift(environments.load("dev")) == EXIT_REFUSED
    stack(has_changes=False)
    assert stack_ops.drift(environments.load("dev")) == 0


def test_passthrough_adds_the_var_file_where_it_applies(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    dev = environments.load("dev")
    with pytest.raises(OpsError, match="nothing to run"):
        stack_ops.passthrough(dev, [])
    assert tf.calls == []
    stack_ops.passthrough(dev, ["plan", "-target=x"])
    stack_ops.passthrough(dev, ["state", "list"])
    stack_ops.passthrough(dev, ["validate"])
    images = tf.folder / "running-images.tfvars.json"
    assert [args for _, args in tf.calls] == [
        ("plan", "-var-file=x.tfvars", f"-var-file={images}", "-target=x"), ("state", "list"), ("validate",),
    ]  # fmt: skip
    assert json.loads(images.read_text()) == {"running_images": {}}  # nothing runs yet


@pytest.mark.parametrize(
    ("args", "action"),
    [
        (["destroy", "-auto-approve"], "destroy"),
        (["apply", "-destroy"], "destroy"),
        (["apply", "-destroy=true"], "destroy"),
        (["apply", "--destroy"], "destroy"),
        (["apply", "-destroy=false"], "apply"),
        (["apply", "-input=false", "destroy.tfplan"], "apply a saved plan"),
        (["refresh"], "refresh"),
        (["init", "-migrate-state"], "init moving the state"),
        (["init", "-reconfigure"], None),
        (["apply", "-auto-approve"], "apply"),
        (["import", "aws_s3_bucket.x", "b"], "import"),
        (["state", "rm", 'module.bucket["staging"]'], "state rm"),
        (["state", "mv", "a", "b"], "state mv"),
        (["state", "push", "f"], "state push"),
        (["taint", "a"], "taint"),
        (["force-unlock", "id"], "force-unlock"),
        (["workspace", "delete", "x"], "workspace delete"),
        (["state", "list"], None),
        (["state", "show", "a"], None),
        (["plan"], None),
        (["output", "-json"], None),
    ],
)
def test_passthrough_knows_which_commands_change_something(args: list[str], action: str | None) -> None:
    assert stack_ops.changing_action(args) == action


def test_a_changing_passthrough_is_confirmed_before_anything_runs(stack: Callable[..., RecordingStack]) -> None:
    tf = stack()
    prod, dev = environments.load("prod"), environments.load("dev")
    with pytest.raises(Refused, match="destroying prod needs its name typed; --yes alone is not enough"):
        stack_ops.passthrough(prod, ["destroy", "-auto-approve"], yes=True, ask=never_asked)
    with pytest.raises(Refused, match="--confirm 'dev' does not match the environment 'prod'"):
        stack_ops.passthrough(prod, ["apply", "-destroy"], typed="dev", ask=never_asked)
    with pytest.raises(Refused, match="apply a saved plan on prod needs its name typed; --yes alone is not enough"):
        stack_ops.passthrough(prod, ["apply", "destroy.tfplan"], yes=True, ask=never_asked)
    with pytest.raises(Refused, match="destroying prod needs its name typed"):
        stack_ops.passthrough(prod, ["apply", "--destroy=true", "-auto-approve"], yes=True, ask=never_asked)
    with pytest.raises(Refused, match="state rm on dev needs confirmation"):
        stack_ops.passthrough(dev, ["state", "rm", "aws_s3_bucket.x"], ask=never_asked)
    assert tf.calls == [] and tf.opened == []  # refused before the state bucket check, init or terraform
    stack_ops.passthrough(dev, ["state", "rm", "aws_s3_bucket.x"], yes=True)
    stack_ops.passthrough(prod, ["destroy", "-auto-approve"], typed="prod")
    assert [args[:2] for _, args in tf.calls] == [("state", "rm"), ("destroy", "-var-file=x.tfvars")]


def test_numbers_of_flags() -> None:
    assert cli.positive(None, "--timeout", default=600) == 600
    assert cli.positive("1.5", "--timeout", default=600) == 1.5
    assert cli.positive(30, "--timeout", default=600) == 30
    for bad in ("0", "-5", "nan", "inf", "abc", ""):
        with pytest.raises(OpsError, match=f"--timeout takes a number of seconds greater than 0, not '{bad}'"):
            cli.positive(bad, "--timeout", default=600)
    assert cli.positive_count("3", "--keep", default=5) == 3
    assert cli.positive_count(None, "--keep", default=5) == 5
    with pytest.raises(OpsError, match=re.escape("--keep takes a whole number greater than 0, not '2.5'")):
        cli.positive_count("2.5", "--keep", default=5)


def test_open_environment_runs_the_guard_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    guarded: list[str] = []
    monkeypatch.setattr(cli, "check_accounts", lambda env: guarded.append(env.name))
    assert cli.open_environment("prod").name == "prod"
    assert cli.open_environment("dev", guard=False).name == "dev"
    assert guarded == ["prod"]
    with pytest.raises(OpsError, match=f"unknown environment 'staging'; {LISTING}"):
        cli.open_environment("staging")
    assert guarded == ["prod"]


def test_plan_summary_counts_a_replacement_as_an_add_and_a_destroy() -> None:
    summary = PlanSummary.from_changes(PLANNED)
    assert summary.adds == {"aws_sqs_queue": 2, "aws_ecs_service": 1}
    assert summary.changes == {"aws_lb": 1}
    assert summary.destroys == {"aws_ecs_service": 1, "aws_s3_bucket": 1}
    assert not summary.empty
    assert PlanSummary.from_changes(PLANNED[-1:]).empty  # a data source read changes nothing


def test_passthrough_words_keep_their_quotes() -> None:
    address = 'module.bucket["staging"].aws_s3_bucket.this'
    argv = ["inv", "tf", "--env", "local", "--", "state", "show", address]
    # invoke's remainder is the words joined with spaces: split again, the quotes would be lost.
    assert cli.passthrough_args(f"state show {address}", argv) == ["state", "show", address]
    # invoke run from Python (its argv is not sys.argv): the remainder is all there is.
    assert cli.passthrough_args("state list", ["pytest"]) == ["state", "list"]
    assert cli.passthrough_args("", ["inv", "tf", "--env", "dev"]) == []


def diagnostic(summary: str, address: str) -> str:
    """Terraform's rendering of an error diagnostic, colours included."""
    return (
        "\x1b[31m╷\x1b[0m\x1b[0m\n"
        f"\x1b[31m│\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1m{summary}\x1b[0m\n"
        "\x1b[31m│\x1b[0m \x1b[0m\n"
        f"\x1b[31m│\x1b[0m \x1b[0m\x1b[0m  with {address},\n"
        '\x1b[31m│\x1b[0m \x1b[0m  on modules/x/main.tf line 40, in resource "x" "y":\n'
        "\x1b[31m╵\x1b[0m\x1b[0m\n"
    )


ROLE_EXISTS = diagnostic(
    "creating IAM Role (exii-local-concept-task): operation error IAM: CreateRole, https response error "
    "StatusCode: 409, RequestID: 1, EntityAlreadyExists: Role with name exii-local-concept-task already exists.",
    'module.ecs.aws_iam_role.task["concept"]',
)
GROUP_EXISTS = diagnostic(
    "creating Security Group (exii-dev-web): operation error EC2: CreateSecurityGroup, https response error "
    "StatusCode: 400, RequestID: 2, api error InvalidGroup.Duplicate: The security group 'exii-dev-web' already exists",
    'module.service["concept"].aws_security_group.this',
)


def test_adoption_hint_names_each_address_and_its_import_command() -> None:
    local, dev = environments.load("local"), environments.load("dev")
    hint = terraform.adoption_hint("Plan: 3 to add\n" + ROLE_EXISTS + GROUP_EXISTS, local)
    assert "inv tf --env local -- import 'module.ecs.aws_iam_role.task[\"concept\"]' exii-local-concept-task" in hint
    # A security group is imported by its id, which the error does not give: a placeholder, not the name.
    assert "inv tf --env local -- import 'module.service[\"concept\"].aws_security_group.this' ID" in hint
    assert "EntityAlreadyExists, InvalidGroup.Duplicate" in hint and "inv up --fresh" in hint
    real = terraform.adoption_hint(ROLE_EXISTS, dev)
    assert "inv tf --env dev -- import" in real and "inv up --fresh" not in real
    assert "not another's" in real


def test_no_adoption_hint_for_other_failures() -> None:
    local = environments.load("local")
    foreign = diagnostic(
        "creating S3 Bucket (exii-dev-log): operation error S3: CreateBucket, https response error StatusCode: 409, "
        "BucketAlreadyExists: The requested bucket name is not available.",
        'module.bucket["log"].aws_s3_bucket.this',
    )
    assert terraform.adoption_hint(foreign, local) == ""  # another account's bucket: nothing to adopt
    denied = diagnostic("creating IAM Role (x): AccessDenied: not authorized", "aws_iam_role.x")
    assert terraform.adoption_hint(denied, local) == ""
