"""Guards and bad input, through the real command line: each fails with one clear line, a non-zero
exit code, and changes nothing.

The account guard is tested on the emulated AWS: a role profile lands in the account of its
role_arn, so a config where `exiiprod` assumes a role in 999999999999 is a prod profile pointing
at the wrong account (prod declares 222222222222).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from stackops import environments
from stackops.app_secrets.catalogue import load_catalogue
from stackops.app_secrets.sync import sync
from stackops.local import emulator
from tests.conftest import free_port, run_inv
from tests.e2e.fixtures.accounts import (
    DECLARED,
    account_session,
    ensure_state_backend,
    object_keys,
    secret_names,
    write_config,
)

pytestmark = pytest.mark.e2e

LISTING = "valid environments: dev, local, prod"
ACCOUNTS = ("000000000000", "111111111111", "222222222222", "999999999999")


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line the task layer prints for an expected failure (never a traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, f"expected one error line:\n{result.stdout}\n{result.stderr}"
    return lines[0]


def snapshot() -> dict[str, object]:
    """What a guarded command must not change: secrets and objects in the dev/prod/master accounts."""
    return {account: (secret_names(account), object_keys(account)) for account in ACCOUNTS}


@pytest.fixture
def own_state(tmp_path: Path) -> dict[str, str]:
    """A private STACK_STATE_DIR for one command, to see whether it wrote anything (plans, Terraform data)."""
    return {"STACK_STATE_DIR": str(tmp_path / "state")}


def written(state: dict[str, str]) -> list[str]:
    folder = Path(state["STACK_STATE_DIR"])
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def no_emulator(tmp_path: Path) -> dict[str, str]:
    """Variables under which the emulator is not running: an empty state folder and an unused port."""
    folder = tmp_path / "no-emulator"
    folder.mkdir()
    return {"STACK_LOCAL_DIR": str(folder), "STACK_LOCAL_PORT": str(free_port())}


# -- environment names ------------------------------------------------------------------------------


def test_an_unknown_environment_lists_the_valid_ones() -> None:
    result = run_inv("plan", "--env", "nope")
    assert result.returncode == 1
    assert error_line(result) == f"error: unknown environment 'nope'; {LISTING}"


@pytest.mark.parametrize("task", ["plan", "apply", "destroy", "output", "drift", "secrets"])
def test_env_is_never_guessed(task: str) -> None:
    result = run_inv(task, input="")
    assert result.returncode == 1
    assert error_line(result) == f"error: --env is required; {LISTING}"


def test_a_path_as_environment_name_is_refused() -> None:
    result = run_inv("plan", "--env", "../prod")
    assert result.returncode == 1
    assert error_line(result) == f"error: unknown environment '../prod'; {LISTING}"


# -- the tools around ------------------------------------------------------------------------------


def without_terraform() -> dict[str, str]:
    """PATH without any folder holding terraform (python is run by its full path)."""
    path = os.pathsep.join(
        folder for folder in os.environ["PATH"].split(os.pathsep) if not (Path(folder) / "terraform").exists()
    )
    return {"PATH": path, "TERRAFORM": "terraform"}


def test_terraform_missing_from_path(emulated_aws, own_state: dict[str, str]) -> None:
    # Everything else a plan needs is there (state backend, secrets), so Terraform is what is missing.
    ensure_state_backend()
    local = environments.load("local")
    sync(local.session(), local.secret_prefix, load_catalogue(), emulated=True)
    result = run_inv("plan", "--env", "local", env={**without_terraform(), **own_state})
    assert result.returncode == 1
    assert error_line(result).startswith("error: terraform is not on PATH: install Terraform >= 1.11")


def test_terraform_missing_on_a_fresh_machine(emulated_aws, own_state: dict[str, str]) -> None:
    """The first thing a new user runs after `inv local.up` is bootstrap (inv up does it too)."""
    result = run_inv("bootstrap", "--env", "local", "--yes", env={**without_terraform(), **own_state})
    assert result.returncode == 1
    assert error_line(result).startswith("error: terraform is not on PATH")
    doctor = run_inv("doctor", env=without_terraform())
    assert doctor.returncode == 1
    _, verdict, detail = table_rows(doctor.stdout)["terraform"]
    assert verdict == "fail"
    assert detail.startswith("terraform is not on PATH")


def test_local_without_the_emulator_says_how_to_start_it(tmp_path: Path) -> None:
    variables = no_emulator(tmp_path)
    result = run_inv("plan", "--env", "local", env=variables)
    assert result.returncode == 1
    endpoint = f"http://127.0.0.1:{variables['STACK_LOCAL_PORT']}"
    assert error_line(result) == f"error: the emulated AWS is not running at {endpoint}: run `inv local.up`"


def test_local_status_json(emulated_aws) -> None:
    result = run_inv("local.status", "--json")
    assert result.returncode == 0, result.stderr
    local = environments.load("local")
    expected = {
        "endpoint": emulated_aws.endpoint,
        "accounts": {"master": local.master_account_id, "local": local.account_id},
    }
    assert json.loads(result.stdout) == expected
    assert result.stdout.strip() == json.dumps(expected)  # exactly that, nothing else on stdout


def test_local_status_without_the_emulator(tmp_path: Path) -> None:
    result = run_inv("local.status", env=no_emulator(tmp_path))
    assert result.returncode == 1
    assert error_line(result) == "error: the emulated AWS is not running: start it with inv local.up"
    assert result.stdout == ""


def table_rows(text: str) -> dict[str, list[str]]:
    """A rich table's rows by their first cell, each cell's wrapped lines joined."""
    rows: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0]:
            current = [[cell] for cell in cells]
            rows[cells[0]] = current
        elif current:
            for parts, cell in zip(current, cells, strict=False):
                parts.append(cell)
    return {name: [" ".join(p for p in parts if p) for parts in cells] for name, cells in rows.items()}


def test_doctor_lists_the_placeholders_of_dev() -> None:
    result = run_inv("doctor", "--env", "dev", env={"COLUMNS": "400"})  # wide enough for the path
    assert result.returncode == 1
    _, verdict, detail = table_rows(result.stdout)["dev: placeholders"]
    assert verdict == "fail"
    assert detail.startswith("set account_id, master_account_id, zone_name, ci_repository, secret_administrators in ")
    assert f"{environments.ROOT}/environments/dev/variables.tfvars" in detail


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["refresh", "--timeout", "0"], "error: --timeout takes a number of seconds greater than 0, not '0'"),
        (["apply", "--timeout", "1e999"], "error: --timeout takes a number of seconds greater than 0, not '1e999'"),
        (["migrate", "--timeout", "soon"], "error: --timeout takes a number of seconds greater than 0, not 'soon'"),
        (["refresh", "--keep", "0"], "error: --keep takes a whole number greater than 0, not '0'"),
        (["cert", "--renew-within", "-5"], "error: --renew-within takes a number of days greater than 0, not '-5'"),
    ],
)
def test_numbers_a_task_takes_are_checked_first(args: list[str], line: str, tmp_path: Path) -> None:
    result = run_inv(*args, "--env", "local", env=no_emulator(tmp_path))  # refused before the emulator is looked up
    assert result.returncode == 1, result.stdout + result.stderr
    assert error_line(result) == line


def test_tf_without_a_command(emulated_aws, own_state: dict[str, str]) -> None:
    result = run_inv("tf", "--env", "local", env=own_state)
    assert result.returncode == 1
    assert error_line(result) == "error: nothing to run: inv tf --env ENV -- COMMAND [ARGS...]"
    assert written(own_state) == []  # not even an init


# -- the account guard ------------------------------------------------------------------------------


@pytest.fixture
def wrong_prod(emulated_aws, tmp_path: Path) -> dict[str, str]:
    """exiidev and exiimaster where declared; exiiprod in 999999999999 instead of 222222222222."""
    aws = emulator.environ()
    profiles = {**DECLARED, "exiiprod": "999999999999"}
    return {**aws, **write_config(tmp_path / "aws-wrong", profiles)}


@pytest.fixture
def right_prod(emulated_aws, tmp_path: Path) -> dict[str, str]:
    return {**emulator.environ(), **write_config(tmp_path / "aws-right", DECLARED)}


def test_the_guard_refuses_a_prod_profile_in_another_account(
    wrong_prod: dict[str, str], own_state: dict[str, str]
) -> None:
    before = snapshot()
    result = run_inv("plan", "--env", "prod", env={**wrong_prod, **own_state})
    assert result.returncode == 2, result.stdout + result.stderr
    line = error_line(result)
    assert "profile 'exiiprod' is in account 999999999999" in line
    assert "the prod account of prod is 222222222222" in line
    assert "nothing was changed" in line
    assert snapshot() == before
    assert not any(key.startswith("env:/prod/") for _, objects in before.values() for keys in objects.values()
                   for key in keys)  # fmt: skip
    assert written(own_state) == []


def test_the_guard_comes_before_any_apply_too(wrong_prod: dict[str, str], own_state: dict[str, str]) -> None:
    before = snapshot()
    result = run_inv("apply", "--env", "prod", "--yes", env={**wrong_prod, **own_state}, input="")
    assert result.returncode == 2
    assert "profile 'exiiprod' is in account 999999999999" in error_line(result)
    assert snapshot() == before
    assert written(own_state) == []


def test_the_guard_passes_profiles_in_their_declared_accounts(right_prod: dict[str, str]) -> None:
    result = run_inv("doctor", "--env", "prod", env=right_prod)
    rows = table_rows(result.stdout)
    assert rows["prod: profile exiiprod"][1:] == ["pass", "account 222222222222"], result.stdout
    assert rows["prod: profile exiimaster"][1:] == ["pass", "account 000000000000"], result.stdout


def test_prod_destroy_with_yes_alone_is_refused_before_any_plan(
    right_prod: dict[str, str], own_state: dict[str, str]
) -> None:
    before = snapshot()
    result = run_inv("destroy", "--env", "prod", "--yes", env={**right_prod, **own_state}, input="")
    assert result.returncode == 2, result.stdout + result.stderr
    line = error_line(result)
    assert "destroying prod needs its name typed; --yes alone is not enough" in line
    assert "--confirm prod" in line
    assert written(own_state) == []  # no init, no plan
    assert snapshot() == before


def test_prod_destroy_confirmed_with_another_name_is_refused(
    right_prod: dict[str, str], own_state: dict[str, str]
) -> None:
    before = snapshot()
    result = run_inv("destroy", "--env", "prod", "--confirm", "dev", env={**right_prod, **own_state}, input="")
    assert result.returncode == 2, result.stdout + result.stderr
    assert error_line(result) == (
        "error: refused: --confirm 'dev' does not match the environment 'prod'; nothing was changed"
    )
    assert written(own_state) == []
    assert snapshot() == before


@pytest.mark.parametrize("yes", [[], ["--yes"]])
def test_a_passthrough_prod_destroy_gets_the_guard_of_inv_destroy(
    right_prod: dict[str, str], own_state: dict[str, str], yes: list[str]
) -> None:
    before = snapshot()
    result = run_inv("tf", "--env", "prod", *yes, "--", "destroy", "-auto-approve",
                     env={**right_prod, **own_state}, input="")  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    line = error_line(result)
    assert line.startswith("error: refused: destroy") and "--confirm prod" in line, line
    assert written(own_state) == []  # refused before init: Terraform never ran
    assert snapshot() == before


# -- a state bucket someone deleted between runs ------------------------------------------------------


def test_a_deleted_state_bucket_is_refused_with_the_fix(emulated_aws, tmp_path: Path) -> None:
    """The environment's backend names a bucket that existed and was deleted: the command refuses
    before Terraform runs (no init, no empty state silently started), and recreates nothing."""
    import dataclasses

    from stackops import cli, stack
    from stackops.errors import OpsError

    local = cli.open_environment("local")
    s3 = local.session(master=True).client("s3")
    bucket = "exii-terraform-state-deleted"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": local.region})
    s3.delete_bucket(Bucket=bucket)
    gone = dataclasses.replace(local, backend={**local.backend, "bucket": bucket})

    with pytest.raises(OpsError) as refused:
        stack.plan(gone)
    message = str(refused.value)
    assert f"the state bucket {bucket} does not exist in account {local.master_account_id}" in message
    assert "inv bootstrap --env local" in message
    assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not (gone.state_dir / "terraform" / "stackops-init.stamp").exists()


# -- a secret whose environment variable is unset ---------------------------------------------------


def test_a_missing_secret_variable_is_named_and_nothing_else_is_lost(right_prod: dict[str, str]) -> None:
    """dev is a real-account environment (no stand-ins): an unset variable is reported with its name,
    the command exits 1, and the secrets that could be written are written."""
    unset = {name: "" for name in ("STRIPE_SECRET_KEY", "STRIPE_CLIENT_ID", "STRIPE_WEBHOOK_SECRET")}
    # Other tests of the session may have created dev's secrets (as stand-ins): start without these three.
    client = account_session("111111111111", os.environ["AWS_ENDPOINT_URL"]).client("secretsmanager")
    for name in ("stripe-secret-key", "stripe-client-id", "stripe-webhook-secret"):
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_secret(SecretId=f"/exii/dev/{name}", ForceDeleteWithoutRecovery=True)
    before = secret_names("111111111111")
    result = run_inv("secrets", "--env", "dev", "--only", "stripe", env={**right_prod, **unset})
    assert result.returncode == 1
    line = error_line(result)
    assert "3 secret(s) missing" in line
    assert "STRIPE_CLIENT_ID, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET" in line
    assert secret_names("111111111111") == before  # none of the three could be created

    # With one of them set, that one is written and the others are still reported.
    partial = {**unset, "STRIPE_SECRET_KEY": "sk_test_" + "x" * 24}
    result = run_inv("secrets", "--env", "dev", "--only", "stripe", env={**right_prod, **partial})
    assert result.returncode == 1
    assert "STRIPE_CLIENT_ID, STRIPE_WEBHOOK_SECRET" in error_line(result)
    assert set(secret_names("111111111111")) - set(before) == {"/exii/dev/stripe-secret-key"}
    assert "sk_test_" not in result.stdout + result.stderr  # the value is never shown
