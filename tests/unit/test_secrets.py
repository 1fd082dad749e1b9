"""The secrets catalogue and its sync to Secrets Manager (moto in-process), and bin/create-secrets.py."""

from __future__ import annotations

import importlib.util
import io
import shutil
import string
import types
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from moto import mock_aws
from rich.console import Console

from stackops import ui
from stackops.app_secrets import catalogue, sync
from stackops.app_secrets.report import print_report
from stackops.errors import OpsError
from stackops.paths import ROOT

PREFIX = "/exii/dev/"
REGION = "eu-west-2"
CATALOGUE = catalogue.load_catalogue()
# A distinct value per environment variable, so a leak of any of them is detectable.
FULL_ENV = {s.env: f"value-of-{s.env}-Zq8" for s in CATALOGUE if s.source == "env"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """An in-process mocked AWS, with nothing from the developer's own AWS set-up leaking in."""
    for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "moto-config"
    config.write_text(profile_config("moto"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        session = boto3.Session(profile_name="moto", region_name=REGION)
        # Reading the config now keeps this session independent of the AWS_PROFILE and
        # AWS_CONFIG_FILE the CLI tests set later (botocore caches the profile map).
        session.client("secretsmanager")
        yield session


def profile_config(*profiles: str) -> str:
    return "".join(
        f"[profile {name}]\nregion = {REGION}\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        for name in profiles
    )


def stored(session, prefix: str = PREFIX) -> dict[str, dict]:
    """Full name -> {value, arn, version, tags} of every secret under prefix."""
    client = session.client("secretsmanager")
    result = {}
    for page in client.get_paginator("list_secrets").paginate():
        for entry in page["SecretList"]:
            if not entry["Name"].startswith(prefix):
                continue
            value = client.get_secret_value(SecretId=entry["Name"])
            result[entry["Name"]] = {
                "value": value["SecretString"],
                "arn": entry["ARN"],
                "version": value["VersionId"],
                "tags": {t["Key"]: t["Value"] for t in entry.get("Tags", [])},
            }
    return result


def actions(report: sync.SyncReport) -> dict[str, str]:
    return {row.name: row.action for row in report.rows}


def record_calls(session) -> list[str]:
    """Names of the Secrets Manager operations the session's clients make from now on."""
    calls: list[str] = []
    session.events.register("before-call.secrets-manager", lambda model, **_: calls.append(model.name))
    return calls


# -- the catalogue -----------------------------------------------------------------------------------
def test_catalogue_matches_the_original_inventory():
    assert 25 <= len(CATALOGUE) <= 40
    by_name = {s.name: s for s in CATALOGUE}
    assert not by_name["django-secret-key"].rotatable
    assert not by_name["db-password"].rotatable
    assert by_name["db-password"].source == "random" and by_name["db-password"].length == 32
    for needed in ("stripe", "xero", "google-analytics", "google-ads", "facebook", "shopify", "sentry"):
        assert any(s.name.startswith(needed) and s.source == "env" for s in CATALOGUE), needed
    assert any(s.source == "random" and s.rotatable and len(s.services) > 1 for s in CATALOGUE)
    assert {c.service for s in CATALOGUE for c in s.consumers} == {"concept", "django", "migrate"}
    assert CATALOGUE.for_service("migrate")["DATABASE_PASSWORD"].name == "db-password"


def test_catalogue_is_plain_yaml_for_terraform():
    text = (ROOT / "secrets.yaml").read_text()
    data = yaml.safe_load(text)
    # yamldecode is YAML 1.2: only true/false are booleans there, and anchors/tags are avoided.
    assert all(entry["rotatable"] in (True, False) for entry in data["secrets"])
    assert "rotatable: yes" not in text and "rotatable: no" not in text
    assert not any(token in line.split("#")[0] for line in text.splitlines() for token in ("&", "*", "!!"))


BASE_ENTRY = {
    "name": "thing",
    "description": "a thing",
    "source": "random",
    "length": 20,
    "rotatable": True,
    "consumers": [{"service": "django", "variable": "THING"}],
}


def write_catalogue(tmp_path: Path, *entries: dict) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump({"secrets": list(entries)}))
    return path


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([{**BASE_ENTRY, "name": "vaulted", "source": "vault"}], "(vaulted): unknown source 'vault'"),
        ([BASE_ENTRY, {**BASE_ENTRY, "consumers": []}], "entry 2 (thing): duplicate name"),
        (
            [{**BASE_ENTRY, "name": "odd", "consumers": [{"service": "worker", "variable": "X"}]}],
            "(odd): unknown consumer service 'worker'",
        ),
        ([{k: v for k, v in BASE_ENTRY.items() if k != "length"}], "(thing): missing length"),
        (
            [{**{k: v for k, v in BASE_ENTRY.items() if k != "length"}, "source": "env", "name": "api"}],
            "(api): missing env",
        ),
        ([{**BASE_ENTRY, "name": "Bad_Name"}], "(Bad_Name): bad name"),
        ([{**BASE_ENTRY, "name": "a/b"}], "(a/b): bad name"),
        ([{**BASE_ENTRY, "rotatable": "yes"}], "(thing): rotatable must be true or false"),
        ([{**BASE_ENTRY, "env": "THING"}], "(thing): unexpected key(s) env"),
        ([{**BASE_ENTRY, "length": 8}], "(thing): length must be"),
        (
            [BASE_ENTRY, {**BASE_ENTRY, "name": "other"}],
            "other and thing both feed THING of django",
        ),
    ],
)
def test_validation_errors_name_the_entry(tmp_path: Path, entries: list[dict], expected: str):
    path = write_catalogue(tmp_path, *entries)
    with pytest.raises(OpsError) as caught:
        catalogue.load_catalogue(path, services={"concept", "django", "migrate"})
    assert expected in str(caught.value)


def test_known_services_come_from_the_terraform_services(tmp_path: Path):
    assert catalogue.known_services(ROOT) == {"concept", "django", "migrate"}
    assert catalogue.known_services(tmp_path) == {"concept", "django", "migrate"}  # no Terraform: the defaults
    (tmp_path / "main.tf").write_text("locals {\n  services = {\n    worker = { port = 80 }\n  }\n}\n")
    assert catalogue.known_services(tmp_path) == {"worker", "migrate"}
    path = write_catalogue(tmp_path, BASE_ENTRY)  # consumer django is now unknown
    with pytest.raises(OpsError, match=r"\(thing\): unknown consumer service 'django'; known: migrate, worker"):
        catalogue.load_catalogue(path)
    (tmp_path / "main.tf").write_text("locals {\n  name = 1\n}\n")
    with pytest.raises(OpsError, match=r"no locals\.services in"):
        catalogue.known_services(tmp_path)
    (tmp_path / "main.tf").write_text("locals {\n  services = merge(local.a, local.b)\n}\n")
    with pytest.raises(OpsError, match=r"locals\.services must be a literal map"):
        catalogue.known_services(tmp_path)


# -- sync ----------------------------------------------------------------------------------------------
def test_creates_every_secret(aws):
    report = sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    assert set(actions(report).values()) == {sync.CREATED}
    assert not report.failed
    secrets = stored(aws)
    assert set(secrets) == {PREFIX + s.name for s in CATALOGUE}
    alnum = set(string.ascii_letters + string.digits)
    for secret in CATALOGUE:
        entry = secrets[PREFIX + secret.name]
        assert entry["tags"]["managed-by"] == "stackops"
        assert entry["tags"]["rotatable"] == str(secret.rotatable).lower()
        if secret.source == "random":
            assert len(entry["value"]) == secret.length and set(entry["value"]) <= alnum
        else:
            assert entry["value"] == FULL_ENV[secret.env]
    password = secrets[PREFIX + "db-password"]["value"]
    assert not set(password) & set('/@" ')
    randoms = [secrets[PREFIX + s.name]["value"] for s in CATALOGUE if s.source == "random"]
    assert len(set(randoms)) == len(randoms)


def test_second_run_changes_nothing(aws):
    sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    before = stored(aws)
    calls = record_calls(aws)
    report = sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    assert set(actions(report).values()) == {sync.UNCHANGED}
    assert stored(aws) == before
    assert "PutSecretValue" not in calls and "CreateSecret" not in calls


def test_rotate_rewrites_only_rotatable_secrets(aws):
    sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    before = stored(aws)
    changed_env = {**FULL_ENV, "STRIPE_SECRET_KEY": "a-new-stripe-key-Kp2", "SENTRY_DSN": "https://new-dsn"}
    report = sync.sync(aws, PREFIX, CATALOGUE, rotate=True, environ=changed_env)
    after = stored(aws)
    got = actions(report)
    for secret in CATALOGUE:
        name = PREFIX + secret.name
        assert after[name]["arn"] == before[name]["arn"]
        if (secret.rotatable and secret.source == "random") or secret.name in (
            "stripe-secret-key",
            "sentry-dsn",
        ):
            assert got[name] == sync.ROTATED
            assert after[name]["value"] != before[name]["value"]
        else:
            assert got[name] == sync.UNCHANGED
            assert after[name] == before[name]
    assert after[PREFIX + "stripe-secret-key"]["value"] == "a-new-stripe-key-Kp2"
    assert report.services_to_refresh() == ["concept", "django"]
    assert report.services_to_refresh(include_one_off=True) == ["concept", "django", "migrate"]


def test_non_rotatable_secrets_are_never_overwritten(aws):
    sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    before = stored(aws)
    for only in ("django-secret-key", "db-password"):
        report = sync.sync(aws, PREFIX, CATALOGUE, rotate=True, only=only, emulated=True, environ={})
        assert [(r.action, r.note) for r in report.rows] == [(sync.UNCHANGED, "not rotatable")]
        assert report.services_to_refresh() == []
    assert stored(aws) == before


def test_only_filters_by_name_prefix(aws):
    report = sync.sync(aws, PREFIX, CATALOGUE, only="stripe", environ=FULL_ENV)
    stripe = {PREFIX + s.name for s in CATALOGUE if s.name.startswith("stripe")}
    assert len(stripe) == 3
    assert actions(report) == dict.fromkeys(stripe, sync.CREATED)
    assert set(stored(aws)) == stripe
    report = sync.sync(aws, PREFIX, CATALOGUE, only=PREFIX + "google-ads", environ=FULL_ENV)
    assert sorted(actions(report)) == [
        PREFIX + n for n in ("google-ads-client-id", "google-ads-client-secret", "google-ads-developer-token")
    ]
    with pytest.raises(OpsError, match="not under this environment's prefix /exii/dev/"):
        sync.sync(aws, PREFIX, CATALOGUE, only="/exii/prod/stripe", environ=FULL_ENV)
    with pytest.raises(OpsError, match=r"no secret in secrets\.yaml starts with 'paypal'"):
        sync.sync(aws, PREFIX, CATALOGUE, only="paypal", environ=FULL_ENV)


def test_dry_run_writes_nothing(aws):
    calls = record_calls(aws)
    report = sync.sync(aws, PREFIX, CATALOGUE, dry_run=True, environ=FULL_ENV)
    assert set(actions(report).values()) == {sync.WOULD_CREATE}
    assert set(calls) == {"DescribeSecret"}
    assert stored(aws) == {}

    sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    before = stored(aws)
    calls.clear()
    report = sync.sync(
        aws, PREFIX, CATALOGUE, rotate=True, dry_run=True, environ={**FULL_ENV, "SENTRY_DSN": "https://new"}
    )
    assert set(calls) == {"DescribeSecret", "GetSecretValue"}  # reads only
    calls.clear()
    assert actions(report)[PREFIX + "sentry-dsn"] == sync.WOULD_ROTATE
    assert actions(report)[PREFIX + "jwt-signing-key"] == sync.WOULD_ROTATE
    assert actions(report)[PREFIX + "db-password"] == sync.UNCHANGED
    assert report.services_to_refresh() == []  # nothing was actually rotated
    assert stored(aws) == before


def test_missing_env_var_fails_but_writes_the_others(aws):
    environ = {k: v for k, v in FULL_ENV.items() if k != "XERO_CLIENT_SECRET"}
    report = sync.sync(aws, PREFIX, CATALOGUE, environ={**environ, "SHOPIFY_API_KEY": ""})
    assert report.failed
    assert report.missing == [PREFIX + "xero-client-secret", PREFIX + "shopify-api-key"]
    missing_row = next(r for r in report.rows if r.name == PREFIX + "xero-client-secret")
    assert "XERO_CLIENT_SECRET" in missing_row.note
    assert set(stored(aws)) == {PREFIX + s.name for s in CATALOGUE} - set(report.missing)
    # Once the variable is there, the next run creates it and nothing else.
    report = sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    assert not report.failed
    assert sorted(n for n, a in actions(report).items() if a == sync.CREATED) == sorted(
        [PREFIX + "xero-client-secret", PREFIX + "shopify-api-key"]
    )


def test_emulated_uses_stand_ins_for_unset_variables(aws):
    report = sync.sync(aws, "/exii/local", CATALOGUE, emulated=True, environ={"SENTRY_DSN": "https://dsn"})
    assert not report.failed
    got = actions(report)
    assert got["/exii/local/sentry-dsn"] == sync.CREATED
    assert got["/exii/local/stripe-secret-key"] == sync.CREATED_STAND_IN
    assert got["/exii/local/django-secret-key"] == sync.CREATED
    secrets = stored(aws, "/exii/local/")
    assert len(secrets) == len(CATALOGUE)
    assert secrets["/exii/local/stripe-secret-key"]["tags"]["source"] == "stand-in"
    assert secrets["/exii/local/sentry-dsn"]["value"] == "https://dsn"
    # A stand-in is replaced by the real value on rotation once the variable is set.
    report = sync.sync(
        aws, "/exii/local/", CATALOGUE, rotate=True, only="stripe-secret", emulated=True,
        environ={"STRIPE_SECRET_KEY": "sk_real"},
    )  # fmt: skip
    assert actions(report) == {"/exii/local/stripe-secret-key": sync.ROTATED}
    assert stored(aws, "/exii/local/")["/exii/local/stripe-secret-key"]["value"] == "sk_real"


def test_secret_scheduled_for_deletion_is_reported_not_recreated(aws):
    sync.sync(aws, PREFIX, CATALOGUE, only="codat", environ=FULL_ENV)
    aws.client("secretsmanager").delete_secret(SecretId=PREFIX + "codat-api-key", RecoveryWindowInDays=7)
    report = sync.sync(aws, PREFIX, CATALOGUE, only="codat", environ=FULL_ENV)
    assert report.failed
    assert "restore-secret" in report.rows[0].note


class StubbedSession:
    """A session whose Secrets Manager client answers from a botocore Stubber."""

    def __init__(self, session) -> None:
        self.client_ = session.client("secretsmanager")
        self.stub = Stubber(self.client_)

    def client(self, name: str):
        assert name == "secretsmanager"
        return self.client_


def test_aws_refusal_becomes_a_one_line_error(aws):
    session = StubbedSession(aws)
    session.stub.add_client_error("describe_secret", "AccessDeniedException", "not allowed here")
    with session.stub, pytest.raises(OpsError) as caught:
        sync.sync(session, PREFIX, CATALOGUE, only="db-password")
    assert str(caught.value) == (
        "syncing /exii/dev/db-password with Secrets Manager: secretsmanager:DescribeSecret failed with "
        "AccessDeniedException (not allowed here): access denied: the profile's IAM policy must allow "
        "secretsmanager:DescribeSecret (see the README's 'Operator policies' and operator-policies/)"
    )


def test_client_side_failure_becomes_a_one_line_error(aws, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sync, "generate", lambda length: "")  # Secrets Manager refuses an empty value
    with pytest.raises(OpsError) as caught:
        sync.sync(aws, PREFIX, CATALOGUE, only="db-password")
    message = str(caught.value)
    assert message.startswith("syncing /exii/dev/db-password with Secrets Manager: a request stackops built was ")
    assert "\n" not in message


# -- the report ----------------------------------------------------------------------------------------
@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(ui, "out", Console(file=buffer, width=250, highlight=False, color_system=None))
    return buffer


def test_printed_report_shows_no_value_and_says_who_runs_old_values(aws, console: io.StringIO):
    created = sync.sync(aws, PREFIX, CATALOGUE, environ=FULL_ENV)
    print_report(created, refreshed=False)
    new_env = {**FULL_ENV, "XERO_CLIENT_ID": "new-xero-client-id-Wm4"}
    rotated = sync.sync(aws, PREFIX, CATALOGUE, rotate=True, environ=new_env)
    assert actions(rotated)[PREFIX + "xero-client-id"] == sync.ROTATED
    print_report(rotated, refreshed=False)
    text = console.getvalue()
    assert f"Secrets under {PREFIX}" in text and "stripe-secret-key" in text
    assert "concept, django, migrate" not in text  # no secret goes to all three
    assert "django, migrate" in text
    values = [entry["value"] for entry in stored(aws).values()] + list(new_env.values())
    leaked = [v for v in values if v in text or v[:12] in text]
    assert leaked == []
    report_text = repr(created) + repr(rotated)
    assert [v for v in values if v in report_text] == []
    assert "Still running the old values: concept, django" in text
    assert "old value running" in text
    assert "inv refresh --env dev --force" in text
    assert "inv secrets --env dev --rotate --refresh" in text

    console.truncate(0)
    console.seek(0)
    print_report(rotated, refreshed=True)
    text = console.getvalue()
    assert "old value" not in text.lower() and "Still running" not in text
    assert [v for v in values if v in text] == []
    assert "Refreshed: concept, django" in text


def test_printed_report_lists_missing_secrets(aws, console: io.StringIO):
    report = sync.sync(aws, PREFIX, CATALOGUE, only="facebook", environ={})
    print_report(report, refreshed=False)
    text = console.getvalue()
    assert "Missing: /exii/dev/facebook-app-id, /exii/dev/facebook-app-secret" in text
    assert "FACEBOOK_APP_SECRET unset" in text


# -- bin/create-secrets.py -----------------------------------------------------------------------------
@pytest.fixture
def cli() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("create_secrets", ROOT / "bin" / "create-secrets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def profile_env(aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """AWS_PROFILE=exiidev defined in a temporary AWS config file, as a user of the original had it."""
    config = tmp_path / "aws-config"
    config.write_text(profile_config("exiidev"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "exiidev")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111111111111")  # dev's declared account: the guard passes
    for var, value in FULL_ENV.items():
        monkeypatch.setenv(var, value)
    return aws


def test_cli_creates_then_rotates_with_the_original_flags(cli, profile_env, console):
    assert cli.main([]) == 0
    before = stored(profile_env)
    assert set(before) == {PREFIX + s.name for s in CATALOGUE}
    assert cli.main(["--rotate=yes"]) == 0
    after = stored(profile_env)
    assert after[PREFIX + "jwt-signing-key"]["value"] != before[PREFIX + "jwt-signing-key"]["value"]
    assert after[PREFIX + "db-password"] == before[PREFIX + "db-password"]
    assert "inv refresh --env dev --force" in console.getvalue()


def test_cli_prefix_argument_and_missing_variable(cli, profile_env, console, monkeypatch):
    monkeypatch.delenv("SHOPIFY_API_SECRET_KEY")
    assert cli.main(["shopify"]) == 1
    assert set(stored(profile_env)) == {PREFIX + "shopify-api-key"}
    assert cli.main(["--rotate=yes", "google-analytics"]) == 0
    assert set(stored(profile_env)) == {PREFIX + "shopify-api-key"} | {
        PREFIX + "google-analytics-client-id", PREFIX + "google-analytics-client-secret"
    }  # fmt: skip
    assert cli.main(["--dry-run", "xero"]) == 0
    assert len(stored(profile_env)) == 3


def test_cli_refuses_an_unknown_profile(cli, profile_env, monkeypatch, capsys):
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    assert cli.main([]) == 1
    message = capsys.readouterr().err
    assert "no environment uses AWS_PROFILE=someone-else" in message
    assert "dev (profile exiidev)" in message and "prod (profile exiiprod)" in message
    assert stored(profile_env) == {}


def test_cli_refuses_a_profile_in_another_account(cli, profile_env, monkeypatch, capsys):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "999999999999")
    assert cli.main([]) == 2
    assert "profile 'exiidev' is in account 999999999999, but the dev account of dev is 111111111111" in (
        capsys.readouterr().err
    )
    assert stored(profile_env) == {}  # nothing written in the wrong account


def test_cli_env_flag_and_help(cli, profile_env, monkeypatch, console, capsys):
    monkeypatch.delenv("AWS_PROFILE")
    assert cli.main(["--env", "dev", "--rotate", "db"]) == 0
    assert set(stored(profile_env)) == {PREFIX + "db-password"}
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    assert "--rotate" in capsys.readouterr().out


def test_cli_emulated_environment_gets_stand_ins(cli, aws, monkeypatch, tmp_path, console):
    config = tmp_path / "emulator-config"
    config.write_text("[profile exii-local]\nregion = eu-west-2\naws_access_key_id = a\naws_secret_access_key = b\n")
    # The emulator itself is not running here: its activation is replaced by pointing at a config file.
    monkeypatch.setattr(cli, "point_at_emulator", lambda env: monkeypatch.setenv("AWS_CONFIG_FILE", str(config)))
    monkeypatch.setenv("AWS_PROFILE", "exii-local")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")  # the local environment's declared account
    for var in FULL_ENV:
        monkeypatch.delenv(var, raising=False)
    assert cli.main([]) == 0
    secrets = stored(aws, "/exii/local/")
    assert len(secrets) == len(CATALOGUE)
    assert secrets["/exii/local/shopify-api-key"]["tags"]["source"] == "stand-in"


def copy_environment(root: Path, source: str, name: str) -> None:
    folder = root / "environments" / name
    shutil.copytree(ROOT / "environments" / source, folder)
    tfvars = folder / "variables.tfvars"
    tfvars.write_text(tfvars.read_text().replace(f'stage             = "{source}"', f'stage             = "{name}"'))


def test_profile_shared_by_two_environments_is_refused(cli, tmp_path: Path):
    copy_environment(tmp_path, "dev", "dev")
    copy_environment(tmp_path, "dev", "staging")
    with pytest.raises(OpsError, match=r"several environments use AWS_PROFILE=exiidev \(dev, staging\)"):
        cli.resolve_environment(None, {"AWS_PROFILE": "exiidev"}, tmp_path)
    assert cli.resolve_environment("staging", {"AWS_PROFILE": "exiidev"}, tmp_path).name == "staging"
    with pytest.raises(OpsError, match="AWS_PROFILE is not set"):
        cli.resolve_environment(None, {}, tmp_path)
