"""The renewal function's own parts: its environment, the ACME account kept in Secrets Manager,
and the local stand-in for Lambda's runtime (the end-to-end run is tests/e2e/test_stack_renewer.py)."""

from __future__ import annotations

import json
import stat
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stackops.certs.renewer import (
    ENVIRONMENT_VARIABLE,
    RenewalFailed,
    environment_from,
    read_tree,
    restore_account,
    save_account,
    write_tree,
)
from stackops.local.lambda_runner import run_package

SECRET = "/exii/test/acme-account"  # noqa: S105 -- a name
LAMBDA_TMP = "/tmp/stackops"  # noqa: S108 -- the path Lambda gives, which the runner moves
ACCOUNT = {
    "acme-v02.api.letsencrypt.org/directory/0123abcd/meta.json": '{"creation_host": "lambda"}',
    "acme-v02.api.letsencrypt.org/directory/0123abcd/private_key.json": '{"kty": "RSA", "n": "..."}',
    "acme-v02.api.letsencrypt.org/directory/0123abcd/regr.json": '{"body": {}, "uri": "https://..."}',
}


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    with mock_aws():
        client = boto3.client("secretsmanager")
        client.create_secret(Name=SECRET)  # as Terraform creates it: no value
        yield client


def test_environment_from_the_function_variables():
    declared = {"name": "dev", "variables": {"stage": "dev", "region": "eu-west-2", "zone_name": "exii.example"}}
    env = environment_from({ENVIRONMENT_VARIABLE: json.dumps(declared)})
    assert (env.name, env.region, env.zone_name, env.profile) == ("dev", "eu-west-2", "exii.example", None)
    with pytest.raises(RenewalFailed, match=ENVIRONMENT_VARIABLE):
        environment_from({ENVIRONMENT_VARIABLE: "{not json"})
    with pytest.raises(RenewalFailed, match=ENVIRONMENT_VARIABLE):
        environment_from({})


def test_first_run_saves_the_account_and_later_runs_restore_it(secrets, tmp_path):
    folder = tmp_path / "first" / "accounts"
    assert restore_account(secrets, SECRET, folder) == {}  # an empty secret: certbot registers
    write_tree(folder, ACCOUNT)  # what certbot wrote
    assert save_account(secrets, SECRET, folder, {}) is True
    again = tmp_path / "second" / "accounts"
    restored = restore_account(secrets, SECRET, again)
    assert restored == ACCOUNT and read_tree(again) == ACCOUNT
    key = again / "acme-v02.api.letsencrypt.org/directory/0123abcd/private_key.json"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    versions = secrets.list_secret_version_ids(SecretId=SECRET)["Versions"]
    assert save_account(secrets, SECRET, again, restored) is False  # unchanged: no new version
    assert secrets.list_secret_version_ids(SecretId=SECRET)["Versions"] == versions


def test_a_secret_naming_paths_outside_the_folder_is_refused(secrets, tmp_path):
    secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"../../evil": "x"}))
    with pytest.raises(RenewalFailed, match="outside the accounts folder"):
        restore_account(secrets, SECRET, tmp_path / "accounts")
    assert not (tmp_path.parent / "evil").exists()


def package(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "package.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("handler_module.py", source)
    return path


def test_the_runner_gives_the_handler_only_its_package_its_variables_and_a_private_tmp(tmp_path):
    source = """
import json, os, sys
def handler(event, context):
    try:
        import pytest  # installed in the project's .venv, not in the package
        seen = "pytest"
    except ImportError:
        seen = None
    state = os.environ["STACK_STATE_DIR"]
    os.makedirs(state)
    return {"event": event, "setting": os.environ["SETTING"], "imported": seen,
            "path": sys.path, "handler_file": __file__, "state": state, "python": sys.executable}
"""
    result = run_package(
        package(tmp_path, source), "handler_module.handler",
        {"SETTING": "on", "STACK_STATE_DIR": LAMBDA_TMP}, {"AWS_REGION": "eu-west-2"},
        event={"source": "test"},
    )  # fmt: skip
    assert not result.function_error, result
    assert result.payload["event"] == {"source": "test"}
    assert result.payload["setting"] == "on"
    assert result.payload["imported"] is None  # nothing of the .venv is visible
    assert not [p for p in result.payload["path"] if "site-packages" in p and ".venv" in p]
    assert result.payload["path"][0] == str(Path(result.payload["handler_file"]).parent)  # the task folder first
    assert not result.payload["state"].startswith(LAMBDA_TMP)  # Lambda's /tmp, made private
    assert result.payload["python"] != sys.executable


def test_the_runner_reports_a_raised_error_as_lambda_does(tmp_path):
    source = "def handler(event, context):\n    print('working')\n    raise RuntimeError('renewal failed')\n"
    result = run_package(package(tmp_path, source), "handler_module.handler", {}, {})
    assert result.function_error
    assert result.payload == {"errorType": "RuntimeError", "errorMessage": "renewal failed"}
    assert "working" in result.log


def test_days_remaining_is_published_for_the_environments_certificate_only(monkeypatch):
    import datetime as dt

    from stackops import environments
    from stackops.certs.issue import FAILED, SKIPPED, CertResult
    from stackops.certs.metrics import METRIC, NAMESPACE, publish_results

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    env = environments.load("local")
    monkeypatch.setattr(type(env), "session", lambda self, master=False: boto3.Session(region_name="eu-west-2"))
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    other = CertResult(("www.example.org",), SKIPPED, "arn:other", now + dt.timedelta(days=80))
    with mock_aws():
        assert publish_results(env, [other], now) is None  # not the listeners' certificate
        ours = CertResult(tuple(sorted(env.hostnames)), FAILED, "arn:ours", now + dt.timedelta(days=5, hours=12))
        assert publish_results(env, [other, ours], now) == 5.5  # a failed renewal still reports its days
        metrics = boto3.client("cloudwatch").list_metrics(Namespace=NAMESPACE)["Metrics"]
        assert metrics == [
            {"Namespace": NAMESPACE, "MetricName": METRIC, "Dimensions": [{"Name": "Environment", "Value": "local"}]}
        ]


def test_cert_renewer_invokes_the_function_and_reports_its_failure(monkeypatch, capsys):
    import base64
    import io

    from botocore.stub import Stubber

    from stackops import environments
    from stackops.certs import renewer_command
    from stackops.errors import OpsError

    env = environments.load("dev")
    client = boto3.client("lambda", region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
    stub = Stubber(client)
    log = base64.b64encode(b"START\ncertbot could not obtain a certificate\nEND\n").decode()
    failure = {"errorType": "RenewalFailed", "errorMessage": "api.exii.dev: certbot could not obtain a certificate"}
    expected = {"FunctionName": "exii-dev-cert-renewer", "InvocationType": "RequestResponse", "LogType": "Tail",
                "Payload": b'{"source": "inv"}'}  # fmt: skip
    answer = {"StatusCode": 200, "FunctionError": "Unhandled", "LogResult": log,
              "Payload": io.BytesIO(json.dumps(failure).encode())}  # fmt: skip
    stub.add_response("invoke", answer, expected)
    monkeypatch.setattr(
        type(env), "session", lambda self, master=False: type("S", (), {"client": lambda *a, **k: client})()
    )
    monkeypatch.setattr(renewer_command, "renewer_name", lambda env: "exii-dev-cert-renewer")
    with (
        stub,
        pytest.raises(OpsError, match=r"exii-dev-cert-renewer failed \(RenewalFailed\): api\.exii\.dev: certbot"),
    ):
        renewer_command.run_renewer(env)
    assert "certbot could not obtain a certificate" in capsys.readouterr().out  # the log's lines are shown


def test_cert_renewer_without_a_deployed_function_names_the_fix(monkeypatch):
    from botocore.stub import Stubber

    from stackops import environments
    from stackops.certs import renewer_command
    from stackops.errors import OpsError

    env = environments.load("dev")
    assert renewer_command.renewer_name(env) == "exii-dev-cert-renewer"  # renewal.tf's name
    client = boto3.client("lambda", region_name="eu-west-2", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106
    stub = Stubber(client)
    stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found", 404)
    monkeypatch.setattr(
        type(env), "session", lambda self, master=False: type("S", (), {"client": lambda *a, **k: client})()
    )
    with (
        stub,
        pytest.raises(OpsError, match="dev has no renewal function exii-dev-cert-renewer yet: run inv apply --env dev"),
    ):
        renewer_command.run_renewer(env)
