"""End to end on the applied `local` stack: the certificate renewal function (modules/cert-renewer).

Why the Lambda runtime itself is not used: moto stores a function but runs one only in Docker,
which this project neither needs nor has in CI. So the function's own package (the zip Terraform
deployed, checked by its hash against the emulator's CodeSha256) is run by `inv cert.renewer` in
a local process the way Lambda's runtime would (stackops.local.lambda_runner): the package
unzipped read-only, an interpreter with nothing installed, only the package on the path, the
function's environment variables as the emulator holds them, a private /tmp. What that leaves
out (IAM evaluation of the role, Amazon Linux, the timeout) is said there and in the README.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from stackops.certs.metrics import NAMESPACE
from stackops.certs.package import renewer_package
from stackops.certs.renewer_command import renewer_name
from stackops.local import pebble
from tests.conftest import run_inv
from tests.e2e.test_stack_certs import acm_state, challenge_records, https_certificates, output_of

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

ACCOUNT_SECRET = "/exii/local/acme-account"  # noqa: S105 -- the secret's name


def version_ids(secrets) -> list[str]:
    return sorted(v["VersionId"] for v in secrets.list_secret_version_ids(SecretId=ACCOUNT_SECRET)["Versions"])


def test_the_function_its_schedule_role_and_alarms_exist(local_stack):
    name = local_stack.outputs["cert_renewer"]["function_name"]
    assert name == renewer_name(local_stack.env)  # what `inv cert.renewer` invokes
    function = local_stack.client("lambda").get_function_configuration(FunctionName=name)
    assert (function["Runtime"], function["Handler"]) == ("python3.13", "stackops.certs.renewer.handler")
    assert function["CodeSha256"] == renewer_package(local_stack.env).sha256  # the zip built here
    variables = function["Environment"]["Variables"]
    assert json.loads(variables["STACKOPS_ENVIRONMENT"])["name"] == "local"
    assert variables["STACKOPS_ACME_ACCOUNT_SECRET"] == ACCOUNT_SECRET

    schedule = local_stack.client("scheduler").get_schedule(Name=name)
    assert schedule["ScheduleExpression"] == "cron(17 3 * * ? *)"
    assert schedule["Target"]["Arn"] == function["FunctionArn"]

    role = function["Role"].rsplit("/", 1)[-1]
    policy = local_stack.client("iam").get_role_policy(RoleName=role, PolicyName="renew-certificates")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert {s["Sid"] for s in document["Statement"]} >= {"ChallengeRecords", "RenewTaggedCertificates", "AcmeAccount"}

    alarms = local_stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]
    topic = local_stack.outputs["cert_renewer"]["alarm_topic"]
    # The environment's one alarm topic (alarms.tf), shared with the services' and database's alarms.
    assert topic.endswith(":exii-local-alarms") and topic == local_stack.outputs["alarms"]["topic"]
    assert sorted(a["AlarmName"] for a in alarms) == [f"{name}-days-remaining", f"{name}-errors"]
    assert all(a["AlarmActions"] == [topic] for a in alarms)
    # `inv up` published the days its certificate has left, so the new alarm starts with data.
    metrics = local_stack.client("cloudwatch").list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert [m["Dimensions"] for m in metrics] == [[{"Name": "Environment", "Value": "local"}]]


def test_the_function_renews_when_the_ca_asks_then_skips_and_a_failure_fails_the_run(local_stack, emulated_aws):
    state_dir = emulated_aws.state_dir
    secrets = local_stack.client("secretsmanager")
    arn = local_stack.outputs["certificate_arn"]
    before, listeners = acm_state(local_stack), https_certificates(local_stack)
    now = dt.datetime.now(dt.UTC)
    try:
        # A young certificate, renewed because the CA's renewal window has opened (RFC 9773).
        pebble.set_renewal_info(state_dir, (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)))
        renewed = run_inv("cert.renewer", "--env", "local")
        assert renewed.returncode == 0, output_of(renewed)
        assert "renewed" in renewed.stdout and "the CA's renewal window" in renewed.stdout
        after = acm_state(local_stack)
        assert set(after) == set(before) and after[arn] != before[arn]  # the same ARN, a new certificate
        assert https_certificates(local_stack) == listeners
        assert challenge_records(local_stack) == []
        account = secrets.get_secret_value(SecretId=ACCOUNT_SECRET)["SecretString"]
        assert any(path.endswith("private_key.json") for path in json.loads(account))  # kept for the next run
        versions = version_ids(secrets)

        # A second run inside the CA's window for the new certificate... which opens later: nothing to do.
        pebble.set_renewal_info(state_dir, (now + dt.timedelta(days=50), now + dt.timedelta(days=52)))
        skipped = run_inv("cert.renewer", "--env", "local")
        assert skipped.returncode == 0, output_of(skipped)
        assert "skipped" in skipped.stdout
        assert acm_state(local_stack) == after

        # The CA asks again, but the DNS answers nothing: the run fails (the errors alarm counts it).
        pebble.set_renewal_info(state_dir, (now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)))
        pebble.set_silent(state_dir, True)
        failed = run_inv("cert.renewer", "--env", "local")
        assert failed.returncode == 1, output_of(failed)
        assert "RenewalFailed" in failed.stderr and "certbot could not obtain" in failed.stderr
        assert "Traceback" not in output_of(failed)
        assert acm_state(local_stack) == after
        assert challenge_records(local_stack) == []
        # certbot ran in a fresh /tmp with the account restored from the secret: none registered anew.
        assert version_ids(secrets) == versions
    finally:
        pebble.set_silent(state_dir, False)
        pebble.set_renewal_info(state_dir, mode="none")
