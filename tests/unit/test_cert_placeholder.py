"""`inv up`'s placeholder certificate (stackops/certs/placeholder.py), on moto: what it is, when it
is imported and published, and that the decision and the re-import replace it in the same ARN."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import boto3
import pytest
from cryptography import x509
from moto import mock_aws

from stackops import environments
from stackops.certs.acm import PLACEHOLDER_TAG, import_certificate, managed_certificates, tags_for
from stackops.certs.certbot import KEY_ALGORITHM
from stackops.certs.pem import certificate_names, key_algorithm_of
from stackops.certs.placeholder import LIFETIME, placeholder_pem, publish_certificate_arn
from stackops.certs.renewal import asks_ca, decide
from stackops.environments import Environment
from tests.unit.test_certs import make_cert

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
NAMES = ("api.exii.test", "app.exii.test")
PARAMETER = "/exii/local/acm/certificate-arn"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(Environment, "session", lambda self, master=False: boto3.Session(region_name="eu-west-2"))
    with mock_aws():
        yield environments.load("local")  # hostnames api/app.exii.test


def clients() -> tuple[object, object]:
    return boto3.client("acm", region_name="eu-west-2"), boto3.client("ssm", region_name="eu-west-2")


def test_the_placeholder_is_self_signed_for_the_names_with_the_pinned_key_type() -> None:
    body, key = placeholder_pem(NAMES, NOW)
    cert = x509.load_pem_x509_certificate(body.encode())
    assert certificate_names(body) == NAMES
    assert cert.issuer == cert.subject  # self-signed: never mistaken for an issued one
    assert key_algorithm_of(key) == KEY_ALGORITHM  # so the re-import keeps the ARN's key type
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc == NOW + LIFETIME
    long_name = "a" * 60 + ".exii.test"  # longer than a common name may be: in the SAN only
    assert certificate_names(placeholder_pem((long_name,), NOW)[0]) == (long_name,)


def test_first_run_imports_a_tagged_placeholder_and_publishes_its_arn(env: Environment) -> None:
    acm, ssm = clients()
    published = publish_certificate_arn(env)  # now: ACM (and moto) refuse to import an expired certificate
    (cert,) = managed_certificates(acm, env)
    assert cert.placeholder and cert.names == NAMES
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == cert.arn == published.arn
    assert published.placeholder and published.said.startswith("placeholder ")
    # A second run (the certificate not issued yet) imports nothing more, and knows it is one.
    again = publish_certificate_arn(env)
    assert (again.arn, again.placeholder) == (cert.arn, True)
    assert [c.arn for c in managed_certificates(acm, env)] == [cert.arn]


def test_an_existing_certificate_is_kept_and_only_a_lost_parameter_written_back(env: Environment) -> None:
    acm, ssm = clients()
    body, key = make_cert(list(NAMES))
    arn = import_certificate(acm, body, "", key, tags_for(env, NAMES))
    published = publish_certificate_arn(env)
    assert (published.arn, published.placeholder) == (arn, False) and "ARN published again" in published.said
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == arn
    ssm.put_parameter(Name=PARAMETER, Value="arn:chosen-on-purpose", Type="String", Overwrite=True)
    assert publish_certificate_arn(env).said == f"certificate {arn.rsplit('/', 1)[-1]}"
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "arn:chosen-on-purpose"
    assert [c.arn for c in managed_certificates(acm, env)] == [arn]  # no placeholder beside it


def test_the_decision_always_replaces_a_placeholder_and_never_asks_the_ca(env: Environment) -> None:
    acm, _ = clients()
    publish_certificate_arn(env)
    (placeholder,) = managed_certificates(acm, env)
    now = dt.datetime.now(dt.UTC)
    assert not asks_ca(placeholder, now, renew_within_days=None, force=False)
    for force in (False, True):
        decision = decide(placeholder, now, force=force)
        assert decision.action == "issue" and "placeholder" in decision.reason


def test_the_issued_certificate_goes_into_the_placeholders_arn_without_its_tag(env: Environment) -> None:
    acm, _ = clients()
    publish_certificate_arn(env)
    (placeholder,) = managed_certificates(acm, env)
    body, key = make_cert(list(NAMES))
    arn = import_certificate(acm, body, "", key, tags_for(env, NAMES), placeholder.arn, replaces_placeholder=True)
    assert arn == placeholder.arn
    (issued,) = managed_certificates(acm, env)
    assert not issued.placeholder
    tags = {t["Key"] for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
    assert PLACEHOLDER_TAG not in tags and {"managed-by", "stackops:environment", "Name"} <= tags
