"""End to end on the applied `local` stack: the secrets catalogue in Secrets Manager, in the task
definitions by ARN, and nowhere else by value; `inv secrets` idempotent, rotating and dry-running.

Uses the session's shared stack (`local_stack`); a test that rotates a value puts it back.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackops.app_secrets import catalogue as secret_catalogue
from tests.conftest import run_inv

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

PREFIX = "/exii/local/"
STATE_KEY = "env:/local/exii/terraform.tfstate"
MIN_SEARCHABLE = 8  # shorter values would match by chance


@pytest.fixture(scope="module")
def catalogue() -> secret_catalogue.Catalogue:
    return secret_catalogue.load_catalogue()


def listed_secrets(local_stack) -> dict[str, dict[str, Any]]:
    """Full name -> list_secrets entry, for everything under the environment's prefix."""
    client = local_stack.client("secretsmanager")
    pages = client.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [PREFIX]}])
    return {item["Name"]: item for page in pages for item in page["SecretList"]}


def current_values(local_stack, catalogue) -> dict[str, tuple[str, str]]:
    """Short name -> (value, AWSCURRENT version id) of every catalogue secret."""
    client = local_stack.client("secretsmanager")
    found = {}
    for secret in catalogue:
        answer = client.get_secret_value(SecretId=secret.full_name(PREFIX))
        found[secret.name] = (answer["SecretString"], answer["VersionId"])
    return found


def output_of(result) -> str:
    return result.stdout + result.stderr


def row(stdout: str, short_name: str) -> str:
    """The table line of one secret (the table shows short names)."""
    lines = [line for line in stdout.splitlines() if re.search(rf"[│|]\s*{re.escape(short_name)}\s*[│|]", line)]
    assert len(lines) == 1, f"no single row for {short_name} in:\n{stdout}"
    return lines[0]


@pytest.fixture
def restore_values(local_stack, catalogue) -> Iterator[None]:
    """Put back the value of any secret a test rotated (the stack is shared)."""
    before = current_values(local_stack, catalogue)
    yield
    client = local_stack.client("secretsmanager")
    for name, (value, _) in before.items():
        full = catalogue.get(name).full_name(PREFIX)
        if client.get_secret_value(SecretId=full)["SecretString"] != value:
            client.put_secret_value(SecretId=full, SecretString=value)


# -- what exists ----------------------------------------------------------------------------------------
def test_every_catalogue_secret_exists(local_stack, catalogue):
    listed = listed_secrets(local_stack)
    expected = {secret.full_name(PREFIX) for secret in catalogue}
    assert expected <= set(listed), f"missing: {sorted(expected - set(listed))}"
    assert len(catalogue) >= 20  # the catalogue is the real one, not an empty file
    for secret in catalogue:
        entry = listed[secret.full_name(PREFIX)]
        assert entry["Description"] == secret.description
        tags = {t["Key"]: t["Value"] for t in entry.get("Tags", [])}
        assert tags["managed-by"] == "stackops"
        assert tags["rotatable"] == str(secret.rotatable).lower()
    # Terraform's output lists the same ARNs Secrets Manager knows.
    arns = local_stack.outputs["secret_arns"]
    assert arns == {secret.name: listed[secret.full_name(PREFIX)]["ARN"] for secret in catalogue}


@pytest.mark.parametrize("service", ["concept", "django", "migrate"])
def test_task_definitions_reference_exactly_the_catalogue_by_arn(local_stack, catalogue, service):
    ecs_out = local_stack.outputs["ecs"]
    family = ecs_out["migrate"]["family"] if service == "migrate" else ecs_out["services"][service]["family"]
    container = ecs_out["migrate"]["container"] if service == "migrate" else ecs_out["services"][service]["container"]
    listed = listed_secrets(local_stack)
    td = local_stack.client("ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]
    definition = next(c for c in td["containerDefinitions"] if c["name"] == container)
    actual = {item["name"]: item["valueFrom"] for item in definition.get("secrets", [])}
    assert len(actual) == len(definition.get("secrets", [])), "a variable is bound twice"
    expected = {variable: listed[s.full_name(PREFIX)]["ARN"] for variable, s in catalogue.for_service(service).items()}
    assert expected, f"the catalogue gives {service} no secret"
    assert actual == expected
    # Secrets arrive only through `secrets`, never as plain environment values.
    plain = {item["name"] for item in definition.get("environment", [])}
    assert not plain & set(expected)


# -- no value anywhere ---------------------------------------------------------------------------------
def _files_under(folder: Path) -> Iterator[tuple[str, bytes]]:
    """(label, bytes) of every regular file under `folder` (symlinks, i.e. providers, skipped);
    the members of zip files (Terraform plans) too, since they are compressed."""
    for directory, _, files in os.walk(folder):
        for name in files:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            yield str(path), data
            yield from _zip_members(str(path), data)


def _zip_members(label: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            yield f"{label}!{member}", archive.read(member)


def _hits(values: dict[str, str], haystacks: dict[str, bytes]) -> list[str]:
    return [
        f"{name} in {where}"
        for where, data in haystacks.items()
        for name, value in values.items()
        if value.encode() in data
    ]


def test_no_secret_value_in_state_plan_output_or_logs(local_stack, catalogue, tmp_path):
    values = {name: value for name, (value, _) in current_values(local_stack, catalogue).items()}
    assert "db-password" in values
    searchable = {name: value for name, value in values.items() if len(value) >= MIN_SEARCHABLE}
    assert len(searchable) == len(values)  # 32-50 characters each: every one is searched

    s3 = local_stack.client("s3", master=True)
    state = s3.get_object(Bucket=local_stack.env.state_bucket, Key=STATE_KEY)["Body"].read()
    shown = run_inv("tf", "--env", "local", "--", "show", "-json")
    assert shown.returncode == 0, shown.stderr[-3000:]
    plan_file = tmp_path / "p.tfplan"
    planned = run_inv("tf", "--env", "local", "--", "plan", "-input=false", f"-out={plan_file}")
    assert planned.returncode == 0, planned.stderr[-3000:]
    plan_json = run_inv("tf", "--env", "local", "--", "show", "-json", str(plan_file))
    assert plan_json.returncode == 0, plan_json.stderr[-3000:]

    # The haystacks are the real thing: the state and plan hold the secrets' ARNs and the database.
    db_arn = local_stack.outputs["secret_arns"]["db-password"]
    assert db_arn.encode() in state
    assert json.loads(shown.stdout)["values"]["root_module"]["resources"]
    plan = json.loads(plan_json.stdout)
    assert plan["planned_values"] and db_arn in plan_json.stdout
    assert '"aws_db_instance"' in plan_json.stdout

    haystacks: dict[str, bytes] = {
        "the state object": state,
        "terraform show -json": shown.stdout.encode(),
        "the plan's JSON": plan_json.stdout.encode(),
        "the plan file": plan_file.read_bytes(),
        "inv up (stdout)": local_stack.up.stdout.encode(),
        "inv up (stderr)": local_stack.up.stderr.encode(),
    }
    haystacks.update(_zip_members("the plan file", plan_file.read_bytes()))
    for label, result in (("inv tf show", shown), ("inv tf plan", planned), ("inv tf show plan", plan_json)):
        haystacks[f"{label} (output)"] = output_of(result).encode()
    state_dir = Path(os.environ["STACK_STATE_DIR"])
    files = dict(_files_under(state_dir))
    assert any(label.endswith("moto.log") for label in files)  # the emulator's log is searched too
    haystacks.update(files)

    assert _hits(searchable, haystacks) == []


# -- inv secrets ----------------------------------------------------------------------------------------
def test_second_run_changes_nothing(local_stack, catalogue):
    before = current_values(local_stack, catalogue)
    result = run_inv("secrets", "--env", "local")
    assert result.returncode == 0, output_of(result)
    for secret in catalogue:
        assert re.search(r"[│|]\s*unchanged\s*[│|]", row(result.stdout, secret.name)), secret.name
    assert f"{len(catalogue)} unchanged" in result.stdout
    assert current_values(local_stack, catalogue) == before


def test_rotate_only_jwt_then_refresh_consumers(local_stack, catalogue, restore_values):
    client = local_stack.client("secretsmanager")
    before = current_values(local_stack, catalogue)
    jwt = catalogue.get("jwt-signing-key").full_name(PREFIX)
    arn_before = client.describe_secret(SecretId=jwt)["ARN"]

    rotated = run_inv("secrets", "--env", "local", "--rotate", "--only", "jwt")
    assert rotated.returncode == 0, output_of(rotated)
    after = current_values(local_stack, catalogue)
    assert after["jwt-signing-key"][0] != before["jwt-signing-key"][0]
    assert len(after["jwt-signing-key"][0]) == catalogue.get("jwt-signing-key").length
    assert client.describe_secret(SecretId=jwt)["ARN"] == arn_before
    assert {n: v for n, v in after.items() if n != "jwt-signing-key"} == {
        n: v for n, v in before.items() if n != "jwt-signing-key"
    }  # django-secret-key (not rotatable) and every other secret untouched
    jwt_row = row(rotated.stdout, "jwt-signing-key")
    assert "rotated" in jwt_row and "old value running" in jwt_row
    assert re.search(r"Still running the old values: concept, django\.", rotated.stdout)
    assert "django-secret-key" not in rotated.stdout  # --only: one row
    assert after["jwt-signing-key"][0] not in output_of(rotated)

    ecs = local_stack.client("ecs")
    cluster = local_stack.outputs["ecs"]["cluster"]
    names = {key: svc["name"] for key, svc in local_stack.outputs["ecs"]["services"].items()}

    def deployments() -> dict[str, tuple[str, str]]:
        described = ecs.describe_services(cluster=cluster, services=list(names.values()))["services"]
        by_name = {s["serviceName"]: s for s in described}
        found = {}
        for key, name in names.items():
            primary = next(d for d in by_name[name]["deployments"] if d["status"] == "PRIMARY")
            found[key] = (primary["id"], by_name[name]["taskDefinition"])
        return found

    running = deployments()
    refreshed = run_inv("secrets", "--env", "local", "--rotate", "--refresh", "--only", "internal-api-token")
    assert refreshed.returncode == 0, output_of(refreshed)
    final = current_values(local_stack, catalogue)
    assert final["internal-api-token"][0] != after["internal-api-token"][0]
    assert final["internal-api-token"][0] not in output_of(refreshed)
    assert "Refreshed: concept, django." in refreshed.stdout
    assert "old value running" not in refreshed.stdout
    now = deployments()
    for key in ("concept", "django"):  # a new deployment each, on the revision they ran
        assert now[key][0] != running[key][0], key
        assert now[key][1] == running[key][1], key
        assert re.search(rf"[│|]\s*{key}\s*[│|].*[│|]\s*forced\s*[│|]", refreshed.stdout), refreshed.stdout
    primaries = ecs.describe_services(cluster=cluster, services=list(names.values()))["services"]
    for service in primaries:
        primary = next(d for d in service["deployments"] if d["status"] == "PRIMARY")
        assert primary["rolloutState"] == "COMPLETED"


def test_dry_run_rotate_writes_nothing(local_stack, catalogue, restore_values):
    before = current_values(local_stack, catalogue)
    result = run_inv("secrets", "--env", "local", "--dry-run", "--rotate")
    assert result.returncode == 0, output_of(result)
    assert "dry run: nothing written" in result.stdout
    rotatable_random = [s for s in catalogue if s.rotatable and s.source == "random"]
    assert rotatable_random
    for secret in rotatable_random:
        assert "would rotate" in row(result.stdout, secret.name), secret.name
    for secret in catalogue:
        if not secret.rotatable:
            assert "not rotatable" in row(result.stdout, secret.name)
    assert current_values(local_stack, catalogue) == before  # values and AWSCURRENT versions
