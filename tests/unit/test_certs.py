"""Unit tests of the certificate logic (pure functions, and ACM/Route53/SSM in moto's in-process mock)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from moto import mock_aws

from stackops import environments
from stackops.certs.acm import (
    ManagedCert,
    check_key_type,
    import_certificate,
    managed_certificates,
    match_certificate,
    parameter_name,
    publish_arn,
    tags_for,
)
from stackops.certs.certbot import (
    ACME_CA_BUNDLE_ENV,
    ACME_DIRECTORY_ENV,
    KEY_ALGORITHM,
    KEY_TYPE_ARGS,
    LETS_ENCRYPT,
    LETS_ENCRYPT_STAGING,
    ZONES_ENV,
    AcmeServer,
    _certbot_failure,
    acme_server,
    certbot_command,
    certbot_dirs,
    certbot_environment,
    challenge_zones,
    pinned_zone_finder,
    tighten_permissions,
)
from stackops.certs.issue import find_environment_for, issue, run
from stackops.certs.names import cert_name, normalize_names, validate_domain
from stackops.certs.pem import certificate_names, key_algorithm_of, normalize_key_algorithm, split_pem_chain
from stackops.certs.renewal import decide, renewal_due
from stackops.certs.zones import HostedZone, choose_zone, delegation_checker, list_zones, zones_for
from stackops.errors import OpsError, Refused
from stackops.local import dns_bridge

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def env() -> environments.Environment:
    return environments.load("local")  # zone exii.test, hostnames app/api.exii.test, account 111122223333


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    with mock_aws():
        yield


def make_cert(
    names: list[str], *, key_type: str = "ec", not_before: dt.datetime | None = None, days: int = 90
) -> tuple[str, bytes]:
    """A self-signed certificate (PEM) and its private key (PEM)."""
    key: Any = ec.generate_private_key(ec.SECP256R1()) if key_type == "ec" else rsa.generate_private_key(65537, 2048)
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def managed(names: tuple[str, ...], lifetime_days: int, age_days: float, arn: str = "arn:1") -> ManagedCert:
    not_before = NOW - dt.timedelta(days=age_days)
    return ManagedCert(arn, names, not_before, not_before + dt.timedelta(days=lifetime_days), "EC_prime256v1")


# -- renewal decision -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lifetime", "age", "due"),
    [
        (90, 0, False),
        (90, 59, False),
        (90, 60, False),  # exactly a third (30 days) left: not yet
        (90, 61, True),
        (90, 89, True),
        (90, 95, True),  # expired
        (64, 42, False),  # 22 days left > 21.3
        (64, 43, True),
        (45, 29, False),  # 16 days left > 15
        (45, 31, True),
    ],
)
def test_renewal_due_at_a_third_of_the_lifetime(lifetime: int, age: float, due: bool) -> None:
    cert = managed(("app.exii.test",), lifetime, age)
    assert renewal_due(cert.not_before, cert.not_after, NOW) is due
    assert decide(cert, NOW).action == ("renew" if due else "skip")


@pytest.mark.parametrize(
    ("lifetime", "age", "within", "due"),
    [
        (90, 10, 85, True),  # 80 days left < 85
        (90, 10, 79, False),
        (90, 61, 10, False),  # the window replaces the third: 29 days left is not within 10
        (45, 44, 2, True),
    ],
)
def test_renew_within_days(lifetime: int, age: float, within: float, due: bool) -> None:
    cert = managed(("app.exii.test",), lifetime, age)
    assert renewal_due(cert.not_before, cert.not_after, NOW, within) is due
    decision = decide(cert, NOW, renew_within_days=within)
    assert decision.action == ("renew" if due else "skip")
    if not due:
        assert f"{within:g} days" in decision.reason


def test_decide_issue_force_and_reasons() -> None:
    assert decide(None, NOW).action == "issue"
    fresh = managed(("app.exii.test",), 90, 1)
    assert decide(fresh, NOW).action == "skip"
    assert "a third of its 90-day lifetime" in decide(fresh, NOW).reason
    forced = decide(fresh, NOW, force=True)
    assert forced.action == "renew" and "--force" in forced.reason
    assert decide(None, NOW, force=True).action == "issue"


# -- names and matching ---------------------------------------------------------------------------
def test_normalize_names_sorts_dedups_and_lowercases() -> None:
    assert normalize_names(["App.Exii.Test.", "api.exii.test", "app.exii.test"]) == (
        "api.exii.test",
        "app.exii.test",
    )
    with pytest.raises(OpsError, match="no domain"):
        normalize_names([])


def test_match_certificate_on_the_exact_name_set() -> None:
    pair = managed(("api.exii.test", "app.exii.test"), 90, 10, "arn:pair")
    single = managed(("app.exii.test",), 90, 10, "arn:single")
    triple = managed(("api.exii.test", "app.exii.test", "www.exii.test"), 90, 10, "arn:triple")
    pool = [single, pair, triple]
    assert match_certificate(pool, ["APP.exii.test", "api.exii.test"]) == pair
    assert match_certificate(pool, ["app.exii.test"]) == single
    assert match_certificate(pool, ["www.exii.test"]) is None
    newer = managed(("api.exii.test", "app.exii.test"), 90, 1, "arn:newer")
    assert match_certificate([pair, newer], ["api.exii.test", "app.exii.test"]) == newer


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("App.Exii.Test.", "app.exii.test"),
        ("*.exii.test", "*.exii.test"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_valid_domains(given: str, canonical: str) -> None:
    assert validate_domain(given) == canonical


@pytest.mark.parametrize(
    "bad",
    ["", "exii", "bad..exii.test", "-app.exii.test", "app-.exii.test", "a" * 64 + ".test", "app exii.test",
     "app_x.exii.test", "*.*.exii.test", "app.exii.123", "bücher.example", "a." * 127 + "test", "app.*.exii.test"],
)  # fmt: skip
def test_malformed_domains_are_named(bad: str) -> None:
    with pytest.raises(OpsError, match="malformed domain") as caught:
        validate_domain(bad)
    assert repr(bad) in str(caught.value)


def test_cert_name_is_stable_and_safe() -> None:
    assert cert_name(["app.exii.test"]) == "app.exii.test"
    two = cert_name(["api.exii.test", "app.exii.test"])
    assert two.startswith("api.exii.test-") and two == cert_name(["api.exii.test", "app.exii.test"])
    assert two != cert_name(["api.exii.test", "www.exii.test"])
    assert cert_name(["*.exii.test"]) == "wildcard.exii.test"


# -- zone choice ----------------------------------------------------------------------------------
PARENT = HostedZone("ZPARENT", "example.test")
CHILD = HostedZone("ZCHILD", "sub.example.test")
PRIVATE = HostedZone("ZPRIVATE", "sub.example.test", private=True)
OTHER = HostedZone("ZOTHER", "notexample.test")


def test_choose_zone_longest_match() -> None:
    zones = [PARENT, CHILD, OTHER]
    assert choose_zone("x.sub.example.test", zones) == CHILD
    assert choose_zone("sub.example.test", zones) == CHILD
    assert choose_zone("y.example.test", zones) == PARENT
    assert choose_zone("*.sub.example.test", zones) == CHILD
    assert choose_zone("example.test", [OTHER]) is None  # a suffix of characters is not of labels
    assert choose_zone("x.nowhere.test", zones) is None


def test_choose_zone_overlapping_follows_delegation() -> None:
    zones = [CHILD, PARENT]
    assert choose_zone("x.sub.example.test", zones, lambda parent, child: True) == CHILD
    assert choose_zone("x.sub.example.test", zones, lambda parent, child: False) == PARENT
    asked: list[tuple[str, str]] = []
    choose_zone("x.sub.example.test", zones, lambda p, c: asked.append((p.name, c.name)) or True)
    assert asked == [("example.test", "sub.example.test")]


def test_choose_zone_ignores_private_and_refuses_duplicates() -> None:
    assert choose_zone("x.sub.example.test", [PARENT, PRIVATE]) == PARENT
    twin = HostedZone("ZTWIN", "example.test")
    with pytest.raises(OpsError, match=r"two public hosted zones are named example\.test \(ZPARENT, ZTWIN\)"):
        choose_zone("app.example.test", [PARENT, twin])


def test_zones_for_names_the_domain_and_zone(env: environments.Environment) -> None:
    exii = HostedZone("ZEXII", "exii.test")
    assert zones_for(["app.exii.test"], [exii, PARENT], env) == {"app.exii.test": exii}
    with pytest.raises(OpsError, match=r"no public hosted zone exii\.test for app\.exii\.test in account 111122223333"):
        zones_for(["app.exii.test"], [PARENT], env)
    with pytest.raises(OpsError, match=r"app\.other\.test is outside every public hosted zone .*zones: example\.test"):
        zones_for(["app.exii.test", "app.other.test"], [exii, PARENT], env)


def _zone(route53: Any, name: str) -> str:
    return route53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].rsplit("/", 1)[-1]


def _ns(route53: Any, zone_id: str, name: str) -> None:
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
            "Name": name, "Type": "NS", "TTL": 300, "ResourceRecords": [{"Value": "ns-1.awsdns-01.org."}]}}]},
    )  # fmt: skip


def test_delegation_checker_reads_ns_records(aws: None) -> None:
    route53 = boto3.client("route53")
    parent, child = _zone(route53, "example.test"), _zone(route53, "sub.example.test")
    zones = list_zones(route53)
    assert {z.name for z in zones} == {"example.test", "sub.example.test"}
    delegates = delegation_checker(route53)
    assert choose_zone("x.sub.example.test", zones, delegates).id == parent
    _ns(route53, parent, "sub.example.test.")
    assert choose_zone("x.sub.example.test", zones, delegates).id == child


def test_the_route53_plugin_is_held_to_the_chosen_zone(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """certbot-dns-route53 alone writes into the longest zone; pinned, into the one we chose."""
    from certbot import errors
    from certbot_dns_route53._internal.dns_route53 import Authenticator

    route53 = boto3.client("route53")
    parent, child = _zone(route53, "example.test"), _zone(route53, "sub.example.test")
    plugin = Authenticator(SimpleNamespace(), "dns-route53")
    validation = "_acme-challenge.x.sub.example.test"
    assert plugin._find_zone_id_for_domain(validation).endswith(child)  # its own (wrong here) choice

    chosen = {"x.sub.example.test": HostedZone(parent, "example.test")}
    monkeypatch.setattr(Authenticator, "_find_zone_id_for_domain", pinned_zone_finder(challenge_zones(chosen)))
    plugin._change_txt_record("UPSERT", validation, "token-value")
    names = {
        zone: [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]]
        for zone in (parent, child)
    }
    assert validation + "." in names[parent] and validation + "." not in names[child]
    with pytest.raises(errors.PluginError, match="chose no hosted zone"):
        plugin._find_zone_id_for_domain("_acme-challenge.y.example.test")


def test_challenge_zones_are_keyed_by_validation_name() -> None:
    chosen = {"app.exii.test": HostedZone("Z1", "exii.test"), "*.exii.test": HostedZone("Z1", "exii.test")}
    assert challenge_zones(chosen) == {"_acme-challenge.app.exii.test": "Z1", "_acme-challenge.exii.test": "Z1"}


# -- PEM and keys ---------------------------------------------------------------------------------
def test_split_pem_chain() -> None:
    leaf, _ = make_cert(["app.exii.test"])
    intermediate, _ = make_cert(["intermediate.test"])
    root, _ = make_cert(["root.test"])
    body, chain = split_pem_chain(leaf + intermediate + root)
    assert body == leaf and chain == intermediate + root
    assert split_pem_chain(leaf) == (leaf, "")
    assert certificate_names(body) == ("app.exii.test",)
    with pytest.raises(OpsError, match="no PEM certificate"):
        split_pem_chain("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")


def test_key_algorithms() -> None:
    assert key_algorithm_of(make_cert(["a.test"])[1]) == "EC_prime256v1" == KEY_ALGORITHM
    assert key_algorithm_of(make_cert(["a.test"], key_type="rsa")[1]) == "RSA_2048"
    assert normalize_key_algorithm("EC-prime256v1") == normalize_key_algorithm("EC_prime256v1")
    assert normalize_key_algorithm("RSA-2048") == "RSA_2048"
    check_key_type("EC-prime256v1", "EC_prime256v1", "arn:x")
    assert KEY_TYPE_ARGS[:2] == ("--key-type", "ecdsa")


# -- ACM ------------------------------------------------------------------------------------------
def test_reimport_that_changes_the_key_type_is_refused(aws: None, env: environments.Environment) -> None:
    acm = boto3.client("acm")
    names = ["api.exii.test", "app.exii.test"]
    rsa_body, rsa_key = make_cert(names, key_type="rsa")
    arn = import_certificate(acm, rsa_body, "", rsa_key, tags_for(env, names))
    (found,) = managed_certificates(acm, env)
    assert found.arn == arn and normalize_key_algorithm(found.key_algorithm) == "RSA_2048"
    serial = acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"]

    ec_body, ec_key = make_cert(names)
    with pytest.raises(Refused, match=r"holds a RSA_2048 certificate and the new one is EC_prime256v1") as caught:
        import_certificate(acm, ec_body, "", ec_key, tags_for(env, names), arn)
    assert arn in str(caught.value) and caught.value.exit_code == 2
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"] == serial
    with pytest.raises(Refused):  # the same check runs before any ACME call
        check_key_type(found.key_algorithm, KEY_ALGORITHM, arn)


def test_reimport_keeps_the_arn_and_the_tags(aws: None, env: environments.Environment) -> None:
    acm = boto3.client("acm")
    names = ["api.exii.test", "app.exii.test"]
    body, key = make_cert(names)
    root, _ = make_cert(["root.test"])
    arn = import_certificate(acm, body, root, key, tags_for(env, names))
    body2, key2 = make_cert(names)
    assert import_certificate(acm, body2, "", key2, tags_for(env, names), arn) == arn
    tags = {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]}
    assert tags == {"managed-by": "stackops", "stackops:environment": "local", "Name": cert_name(names)}
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert str(x509.load_pem_x509_certificate(body2.encode()).serial_number) == detail["Serial"]


def test_managed_certificates_are_the_tagged_ones_of_the_environment(aws: None, env: environments.Environment) -> None:
    acm = boto3.client("acm")
    body, key = make_cert(["app.exii.test", "api.exii.test"], days=64)
    mine = import_certificate(acm, body, "", key, tags_for(env, ["api.exii.test", "app.exii.test"]))
    body, key = make_cert(["app.exii.test"])
    acm.import_certificate(Certificate=body.encode(), PrivateKey=key)  # not ours: untagged
    other_env = dataclasses.replace(env, name="dev")
    body, key = make_cert(["www.exii.test"])
    import_certificate(acm, body, "", key, tags_for(other_env, ["www.exii.test"]))
    (found,) = managed_certificates(acm, env)
    assert found.arn == mine and found.names == ("api.exii.test", "app.exii.test")
    assert (found.not_after - found.not_before) == dt.timedelta(days=64)


# -- SSM ------------------------------------------------------------------------------------------
def test_parameter_name(env: environments.Environment) -> None:
    assert parameter_name(env, ["app.exii.test", "api.exii.test"]) == "/exii/local/acm/certificate-arn"
    assert parameter_name(env, ["api.exii.test", "app.exii.test", "www.exii.test"]).endswith("/certificate-arn")
    assert parameter_name(env, ["www.exii.test"]) == "/exii/local/acm/certificates/www.exii.test"


def test_publish_arn(aws: None) -> None:
    ssm = boto3.client("ssm")
    name = "/exii/local/acm/certificate-arn"
    assert publish_arn(ssm, name, "arn:one") is True
    assert publish_arn(ssm, name, "arn:one") is False
    assert publish_arn(ssm, name, "arn:two", only_if_missing=True) is False
    assert publish_arn(ssm, name, "arn:two") is True
    assert publish_arn(ssm, "/exii/local/acm/other", "arn:three", only_if_missing=True) is True
    parameter = ssm.get_parameter(Name=name)["Parameter"]
    assert parameter["Value"] == "arn:two" and parameter["Type"] == "String"


# -- ACME server and certbot ----------------------------------------------------------------------
def test_acme_server_choice(env: environments.Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ACME_DIRECTORY_ENV, raising=False)
    monkeypatch.delenv(ACME_CA_BUNDLE_ENV, raising=False)
    with pytest.raises(OpsError, match=r"local ACME server of local is not known.*: run `inv local\.up`"):
        acme_server(env)
    ca = tmp_path / "ca.pem"
    ca.write_text("first CA")
    monkeypatch.setenv(ACME_DIRECTORY_ENV, "https://127.0.0.1:14000/dir")  # what the emulator's activation sets
    with pytest.raises(OpsError, match=r"not known.*: run `inv local\.up`"):  # one of the two is not enough
        acme_server(env)
    monkeypatch.setenv(ACME_CA_BUNDLE_ENV, str(ca))
    local = acme_server(env, staging=True)  # staging means nothing for pebble
    assert local == AcmeServer("https://127.0.0.1:14000/dir", str(ca))
    key = local.key
    ca.write_text("second CA")  # a restarted pebble: a fresh certbot account folder
    assert local.key != key and key.startswith("acme-")
    ca.unlink()
    with pytest.raises(OpsError, match=r"CA bundle .* is missing"):
        certbot_dirs(env, local)
    dev = environments.load("dev")  # a real environment ignores the variables, still set here
    assert acme_server(dev) == AcmeServer(LETS_ENCRYPT)
    assert acme_server(dev, staging=True).directory_url == LETS_ENCRYPT_STAGING
    assert AcmeServer(LETS_ENCRYPT).key == "letsencrypt"


def test_certbot_command_and_environment(
    env: environments.Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    (tmp_path / "ca.pem").write_text("a CA")
    acme = AcmeServer("https://127.0.0.1:14000/dir", str(tmp_path / "ca.pem"))
    dirs = certbot_dirs(env, acme)
    assert all(d.is_relative_to(tmp_path / "envs" / "local" / "certbot") for d in dirs)
    names = ["api.exii.test", "app.exii.test"]
    command = certbot_command(names, acme, dirs, email=None)
    assert command[1:4] == ["-m", "stackops.certs", "certbot"]
    joined = " ".join(command)
    for part in ("certonly", "--non-interactive", "--agree-tos", "--authenticator dns-route53",
                 "--server https://127.0.0.1:14000/dir", "--key-type ecdsa", "--elliptic-curve secp256r1",
                 "--force-renewal", "--register-unsafely-without-email",
                 "--domain api.exii.test", "--domain app.exii.test", f"--config-dir {dirs[0]}"):  # fmt: skip
        assert part in joined
    assert "--email ops@example.com" in " ".join(certbot_command(names, acme, dirs, email="ops@example.com"))

    zones = {n: HostedZone("ZEXII", "exii.test") for n in names}
    environ = certbot_environment(env, acme, zones)
    assert environ["AWS_PROFILE"] == "exii-local" and "AWS_ACCESS_KEY_ID" not in environ
    assert environ["REQUESTS_CA_BUNDLE"] == str(tmp_path / "ca.pem")
    assert json.loads(environ[ZONES_ENV]) == {
        "_acme-challenge.api.exii.test": "ZEXII",
        "_acme-challenge.app.exii.test": "ZEXII",
    }
    assert "REQUESTS_CA_BUNDLE" not in certbot_environment(env, AcmeServer(LETS_ENCRYPT), zones)


def test_tighten_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "certbot"
    (folder / "archive" / "x").mkdir(parents=True)
    (folder / "archive" / "x" / "cert1.pem").write_text("cert")
    (folder / "archive" / "x" / "cert1.pem").chmod(0o644)
    (folder / "key.json").write_text("{}")
    (folder / "key.json").chmod(0o400)
    (folder / "live").mkdir()
    (folder / "live" / "cert.pem").symlink_to(folder / "archive" / "x" / "cert1.pem")
    tighten_permissions(folder)
    assert stat.S_IMODE((folder / "archive" / "x" / "cert1.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "key.json").stat().st_mode) == 0o400
    assert stat.S_IMODE((folder / "archive").stat().st_mode) == 0o700


def test_issue_validates_before_touching_aws(env: environments.Environment) -> None:
    with pytest.raises(OpsError, match=r"malformed domain 'bad\.\.exii\.test'"):
        issue(env, ["app.exii.test", "bad..exii.test"])
    with pytest.raises(OpsError, match="malformed --email"):
        issue(env, ["app.exii.test"], email="not-an-address")
    with pytest.raises(OpsError, match="either --renew-all or --domain"):
        run(env, ["app.exii.test"], renew_all_certs=True)


# -- picking the environment ----------------------------------------------------------------------
def test_find_environment_for() -> None:
    envs = [environments.load(name) for name in environments.names()]
    assert find_environment_for(["app.exii.test"], envs).name == "local"
    assert find_environment_for(["app.exii.test", "api.exii.test"], envs).name == "local"
    with pytest.raises(Refused, match=r"no environment serves www\.exii\.test .*local: app\.exii\.test") as caught:
        find_environment_for(["www.exii.test"], envs)
    assert caught.value.exit_code == 2
    twin = dataclasses.replace(envs[0], name="twin", variables=dict(environments.load("local").variables))
    with pytest.raises(Refused, match=r"several environments serve app\.exii\.test \(.*local.*twin"):
        find_environment_for(["app.exii.test"], [*envs, twin])


# -- the DNS bridge's answers ---------------------------------------------------------------------
MOTO_SOA_VALUE = "{'Value': 'ns-2048.awsdns-64.com. hostmaster.example.com. 1 7200'}"  # moto 5.2.5 stores this
MOTO_SOA = {"Name": "exii.test.", "Type": "SOA", "TTL": 900, "ResourceRecords": [{"Value": MOTO_SOA_VALUE}]}
RRSETS = [
    MOTO_SOA,
    {"Name": "_acme-challenge.app.exii.test.", "Type": "TXT", "TTL": 10, "ResourceRecords": [{"Value": '"tok en"'}]},
    {"Name": "www.exii.test.", "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": "app.exii.test"}]},
    {"Name": "app.exii.test.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.1"}]},
    {"Name": "\\052.wild.exii.test.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.9"}]},
    {"Name": "x.deep.exii.test.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.7"}]},
]


def test_bridge_answers_from_route53_records() -> None:
    rcode, answers, _ = dns_bridge.answer("_acme-challenge.app.exii.test.", "TXT", "exii.test.", RRSETS)
    assert rcode == "NOERROR" and [str(rr.rdata) for rr in answers] == ['"tok en"']
    rcode, answers, _ = dns_bridge.answer("WWW.exii.test", "A", "exii.test", RRSETS)
    assert [rr.rtype for rr in answers] == [5, 1] and str(answers[-1].rdata) == "192.0.2.1"  # CNAME, then A
    rcode, answers, _ = dns_bridge.answer("a.wild.exii.test", "A", "exii.test", RRSETS)
    assert str(answers[0].rname) == "a.wild.exii.test." and str(answers[0].rdata) == "192.0.2.9"
    rcode, answers, authority = dns_bridge.answer("_acme-challenge.api.exii.test", "TXT", "exii.test", RRSETS)
    assert rcode == "NXDOMAIN" and not answers and authority[0].rtype == 6  # a usable SOA despite moto's
    rcode, answers, authority = dns_bridge.answer("app.exii.test", "TXT", "exii.test", RRSETS)
    assert rcode == "NOERROR" and not answers and authority
    assert dns_bridge.answer("deep.exii.test", "A", "exii.test", RRSETS)[:2] == ("NOERROR", [])  # empty non-terminal


def test_certbot_failure_names_the_identifier_that_failed(tmp_path: Path) -> None:
    # certbot 5.8's report when the CA failed one name of two (recorded from a run against pebble).
    output = """Certbot failed to authenticate some domains (authenticator: dns-route53). The Certificate Authority reported these problems:
  Identifier: api.exii.test
  Type:   unauthorized
  Detail: Error retrieving TXT records for DNS challenge ("DNS lookup for \\"_acme-challenge.api.exii.test\\" returned an unsuccessful response: '\\\\x03'")

Hint: The Certificate Authority failed to verify the DNS TXT records created by --dns-route53.
"""  # noqa: E501
    message = _certbot_failure(output, tmp_path)
    assert message.startswith("Identifier: api.exii.test | Type: unauthorized | Detail: Error retrieving TXT records")
    assert "_acme-challenge.api.exii.test" in message
    assert message.endswith(f"(log: {tmp_path / 'letsencrypt.log'})")
