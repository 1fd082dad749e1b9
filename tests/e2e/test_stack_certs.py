"""End to end on the applied `local` stack: the HTTPS certificate `inv up` issued, and `inv cert`
skipping, renewing in place, picking the environment, and refusing bad input without changing ACM.

Uses the session's shared stack (`local_stack`); a renewal keeps the ARN, so the stack stays as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from cryptography import x509

from stackops.certs.acm import ACM_KEY_TYPES, PLACEHOLDER_TAG
from stackops.local import pebble
from tests.conftest import run_inv

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

HOSTS = {"app.exii.test", "api.exii.test"}
PARAMETER = "/exii/local/acm/certificate-arn"


def output_of(result) -> str:
    return result.stdout + result.stderr


def acm_state(local_stack) -> dict[str, str]:
    """ARN -> serial of every certificate in the account (a failure must change none)."""
    acm = local_stack.client("acm")
    pages = acm.get_paginator("list_certificates").paginate(Includes={"keyTypes": ACM_KEY_TYPES})
    arns = [c["CertificateArn"] for page in pages for c in page["CertificateSummaryList"]]
    return {arn: acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"] for arn in arns}


def https_certificates(local_stack) -> dict[str, list[str]]:
    """Load balancer name -> certificate ARNs of its port-443 listener."""
    elbv2 = local_stack.client("elbv2")
    found = {}
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        listeners = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        https = [item for item in listeners if item["Port"] == 443]
        assert len(https) == 1, lb["LoadBalancerName"]
        assert https[0]["Protocol"] == "HTTPS"
        found[lb["LoadBalancerName"]] = [c["CertificateArn"] for c in https[0].get("Certificates", [])]
    return found


def pem_certificate(local_stack, arn: str) -> x509.Certificate:
    pem = local_stack.client("acm").get_certificate(CertificateArn=arn)["Certificate"]
    return x509.load_pem_x509_certificate(pem.encode())


def challenge_records(local_stack) -> list[dict[str, Any]]:
    route53 = local_stack.client("route53")
    zone_id = local_stack.outputs["hosted_zone"]["id"]
    pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [r for page in pages for r in page["ResourceRecordSets"] if r["Name"].startswith("_acme-challenge")]


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def test_listeners_carry_the_issued_certificate(local_stack):
    arn = local_stack.outputs["certificate_arn"]
    assert arn and arn.startswith("arn:aws:acm:eu-west-2:")
    listeners = https_certificates(local_stack)
    assert set(listeners) == {"exii-local-concept", "exii-local-django"}
    assert all(found == [arn] for found in listeners.values()), listeners

    detail = local_stack.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    assert set(detail["SubjectAlternativeNames"]) == HOSTS
    assert detail["Type"] == "IMPORTED"
    pem = pem_certificate(local_stack, arn)
    names = pem.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == HOSTS
    assert as_utc(detail["NotAfter"]) == pem.not_valid_after_utc
    assert pem.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    # The CA's, in the ARN of the placeholder `inv up` planned the listeners with, and untagged as one.
    assert pem.issuer != pem.subject and "Pebble" in pem.issuer.rfc4514_string()
    tags = {t["Key"] for t in local_stack.client("acm").list_tags_for_certificate(CertificateArn=arn)["Tags"]}
    assert PLACEHOLDER_TAG not in tags and "managed-by" in tags
    # Terraform reads the ARN from the parameter `inv cert` publishes.
    assert local_stack.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"] == arn


def test_cert_inside_the_window_skips(local_stack):
    before = acm_state(local_stack)
    result = run_inv("cert", "--env", "local")
    assert result.returncode == 0, output_of(result)
    assert "skipped" in result.stdout
    assert local_stack.outputs["certificate_arn"] in result.stdout
    assert acm_state(local_stack) == before  # no new certificate, no re-import
    assert "applying" not in output_of(result)


def test_cert_force_reimports_into_the_same_arn(local_stack):
    arn = local_stack.outputs["certificate_arn"]
    before = acm_state(local_stack)
    listeners = https_certificates(local_stack)
    old = pem_certificate(local_stack, arn)

    result = run_inv("cert", "--env", "local", "--force")
    assert result.returncode == 0, output_of(result)
    assert "renewed" in result.stdout
    assert arn in result.stdout
    assert "applying" not in output_of(result)  # same ARN: nothing for Terraform to do

    after = acm_state(local_stack)
    assert set(after) == set(before)  # re-imported, not a new certificate
    assert after[arn] != before[arn]
    new = pem_certificate(local_stack, arn)
    assert new.serial_number != old.serial_number
    assert new.not_valid_after_utc >= old.not_valid_after_utc
    detail = local_stack.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    assert as_utc(detail["NotAfter"]) == new.not_valid_after_utc
    assert set(detail["SubjectAlternativeNames"]) == HOSTS
    assert https_certificates(local_stack) == listeners
    assert local_stack.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"] == arn
    assert challenge_records(local_stack) == []  # certbot cleaned up its TXT records


def test_cert_by_domain_picks_local(local_stack):
    before = acm_state(local_stack)
    result = run_inv("cert", "--domain", "app.exii.test", "--domain", "api.exii.test")
    assert result.returncode == 0, output_of(result)
    assert "skipped" in result.stdout
    # local's certificate and local's parameter: the environment serving both names was chosen.
    assert f"{local_stack.outputs['certificate_arn']}  SSM {PARAMETER}" in result.stdout
    assert acm_state(local_stack) == before


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--env", "local", "--domain", "www.example.org"], 1, "www.example.org is outside every public hosted zone"),
        (["--domain", "www.example.org"], 2, "no environment serves www.example.org"),
        (["--env", "local", "--domain", "bad..name"], 1, "malformed domain 'bad..name'"),
    ],
    ids=["outside-the-zone", "outside-every-environment", "malformed"],
)  # fmt: skip
def test_cert_bad_domain_is_refused(local_stack, args, code, message):
    before = acm_state(local_stack)
    result = run_inv("cert", *args)
    assert result.returncode == code, output_of(result)
    assert message in result.stderr
    assert "Traceback" not in output_of(result)
    assert acm_state(local_stack) == before
    assert challenge_records(local_stack) == []


def test_cert_fails_cleanly_when_dns_answers_nothing(local_stack, emulated_aws):
    before = acm_state(local_stack)
    pebble.set_silent(emulated_aws.state_dir, True)
    try:
        result = run_inv("cert", "--env", "local", "--force")
    finally:
        pebble.set_silent(emulated_aws.state_dir, False)
    assert result.returncode == 1, output_of(result)
    assert "certbot could not obtain a certificate for api.exii.test, app.exii.test" in result.stderr
    # pebble may fail either name first (it then validates no other): the failed lookup is named.
    failed_name = r"Identifier: (ap[ip]\.exii\.test) \| Type: unauthorized \| Detail: [^|]*_acme-challenge\.\1"
    assert re.search(failed_name, result.stderr), result.stderr
    assert "Traceback" not in output_of(result)
    assert acm_state(local_stack) == before
    assert challenge_records(local_stack) == []
    assert https_certificates(local_stack) == {
        name: [local_stack.outputs["certificate_arn"]] for name in ("exii-local-concept", "exii-local-django")
    }
