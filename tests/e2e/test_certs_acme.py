"""End to end, offline: pebble + its renewal-information front + DNS bridge + certbot +
certbot-dns-route53 + moto's Route53/ACM/SSM.

One moto server and one local ACME server per module; each test builds on nothing another test
left behind (they may run in any order or on different xdist workers).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackops import environments
from stackops.certs import ari
from stackops.certs.acm import ACM_KEY_TYPES, _as_datetime
from stackops.certs.certbot import (
    ACME_CA_BUNDLE_ENV,
    ACME_DIRECTORY_ENV,
    KEY_ALGORITHM,
    AcmeServer,
    certbot_command,
    certbot_dirs,
    certbot_environment,
)
from stackops.certs.issue import ISSUED, RENEWED, SKIPPED, issue, renew_all, run
from stackops.certs.names import cert_name
from stackops.certs.pem import certificate_dates, certificate_names, normalize_key_algorithm
from stackops.certs.renewal import format_window
from stackops.certs.zones import HostedZone, delegation_checker, list_zones, zones_for
from stackops.errors import OpsError
from stackops.local import acme_front, pebble, processes

pytestmark = pytest.mark.e2e

ZONE = "exii.test"


@dataclasses.dataclass
class Stack:
    env: environments.Environment
    acme_info: dict[str, Any]
    local_dir: Path
    environ: dict[str, str]

    @property
    def acme(self) -> AcmeServer:
        return AcmeServer(self.acme_info["directory_url"], self.acme_info["ca_bundle"])

    def client(self, service: str) -> Any:
        return self.env.session().client(service)

    def zone_id(self, name: str) -> str:
        return next(z.id for z in list_zones(self.client("route53")) if z.name == name)

    def record_names(self, zone: str) -> list[str]:
        paginator = self.client("route53").get_paginator("list_resource_record_sets")
        return [
            r["Name"].rstrip(".")
            for page in paginator.paginate(HostedZoneId=self.zone_id(zone))
            for r in page["ResourceRecordSets"]
        ]

    def acm_state(self) -> dict[str, str]:
        """ARN -> serial of every certificate in the account (to prove a failure changed nothing)."""
        acm = self.client("acm")
        listing = acm.list_certificates(Includes={"keyTypes": ACM_KEY_TYPES})["CertificateSummaryList"]
        arns = [c["CertificateArn"] for c in listing]
        return {arn: acm.describe_certificate(CertificateArn=arn)["Certificate"]["Serial"] for arn in arns}


def _aws_files(folder: Path, account_id: str) -> dict[str, Path]:
    folder.mkdir(parents=True)
    config, credentials = folder / "config", folder / "credentials"
    config.write_text(
        "[profile exii-local-root]\nregion = eu-west-2\n\n"
        f"[profile exii-local]\nregion = eu-west-2\nsource_profile = exii-local-root\n"
        f"role_arn = arn:aws:iam::{account_id}:role/exii-emulated-admin\n"
    )
    credentials.write_text("[exii-local-root]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    return {"AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from moto.server import ThreadedMotoServer

    tmp = tmp_path_factory.mktemp("certs-e2e")
    port = pebble.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = environments.load("local")
    files = _aws_files(tmp / "aws", env.account_id)
    environ = {
        **{k: str(v) for k, v in files.items()},
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    local_dir = tmp / "local"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN", "REQUESTS_CA_BUNDLE"):  # fmt: skip
            mp.delenv(name, raising=False)
        for name, value in environ.items():
            mp.setenv(name, value)
        mp.setenv("STACK_LOCAL_DIR", str(local_dir))
        mp.setenv("STACK_STATE_DIR", str(tmp / "state"))
        env.session().client("route53").create_hosted_zone(Name=ZONE, CallerReference="e2e-exii")
        info = pebble.start(local_dir, environ, env.profile, env.region)
        # what the emulator's activation sets for `inv cert`: where the local ACME server is
        mp.setenv(ACME_DIRECTORY_ENV, info["directory_url"])
        mp.setenv(ACME_CA_BUNDLE_ENV, info["ca_bundle"])
        try:
            yield Stack(env, info, local_dir, environ)
        finally:
            pebble.stop(local_dir)
            server.stop()
    for key in ("pebble_pid", "dns_pid", "front_pid"):
        assert processes.exited(info[key]), f"{key} {info[key]} still running after stop()"


def _describe(stack: Stack, arn: str) -> dict[str, Any]:
    return stack.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]


def test_issue_skip_force_and_publish(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    names = ("app.exii.test", "api.exii.test")
    assert set(stack.env.hostnames) == set(names)
    t0 = time.monotonic()
    (first,) = run(stack.env, list(names))  # the ACME server comes from the emulator's variables
    wall = time.monotonic() - t0
    assert first.action == ISSUED and first.arn_new and first.parameter_changed
    with capsys.disabled():
        print(f"\n[measure] issue -> ACM import: {first.seconds:.2f} s (whole run with SSM and table: {wall:.2f} s)")
    assert first.seconds is not None and first.seconds < 30

    # ACM holds what certbot wrote: same names, same not-after, the key type pinned
    live = certbot_dirs(stack.env, stack.acme)[0] / "live" / cert_name(sorted(names))
    pem = (live / "cert.pem").read_text()
    detail = _describe(stack, first.arn)
    assert set(detail["SubjectAlternativeNames"]) == set(names) == set(certificate_names(pem))
    not_after = certificate_dates(pem)[1]
    assert _as_datetime(detail["NotAfter"]) == not_after == first.not_after
    assert dt.timedelta(days=89) < not_after - certificate_dates(pem)[0] <= dt.timedelta(days=90, hours=1)
    assert normalize_key_algorithm(detail["KeyAlgorithm"]) == KEY_ALGORITHM
    tag_list = stack.client("acm").list_tags_for_certificate(CertificateArn=first.arn)["Tags"]
    tags = {t["Key"]: t["Value"] for t in tag_list}
    assert tags["managed-by"] == "stackops" and tags["stackops:environment"] == "local"

    # Terraform's input
    parameter = stack.client("ssm").get_parameter(Name="/exii/local/acm/certificate-arn")["Parameter"]
    assert parameter["Value"] == first.arn and parameter["Type"] == "String"

    # the challenge records are gone
    assert not [n for n in stack.record_names(ZONE) if n.startswith("_acme-challenge")]

    # certbot's files are private; no key reached the output
    certbot_base = certbot_dirs(stack.env, stack.acme)[0].parent  # config, work and logs
    everything = [certbot_base, *certbot_base.rglob("*")]
    loose = [p for p in everything if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert not loose, loose
    output = capsys.readouterr()
    assert "PRIVATE KEY" not in output.out + output.err
    assert "issued" in output.out and first.arn in output.out

    # inside the renewal window: skipped, nothing re-imported
    (second,) = run(stack.env, list(names))
    assert second.action == SKIPPED and second.arn == first.arn and not second.parameter_changed
    assert _describe(stack, first.arn)["Serial"] == detail["Serial"]
    stack.client("ssm").delete_parameter(Name="/exii/local/acm/certificate-arn")  # a lost parameter is restored
    (repaired,) = run(stack.env, list(names))
    assert repaired.action == SKIPPED and repaired.parameter_changed
    assert stack.client("ssm").get_parameter(Name="/exii/local/acm/certificate-arn")["Parameter"]["Value"] == first.arn

    # --force: a new certificate re-imported into the same ARN; the parameter is unchanged
    t0 = time.monotonic()
    (forced,) = run(stack.env, list(names), force=True)
    with capsys.disabled():
        print(f"[measure] --force re-import: {forced.seconds:.2f} s to ACM ({time.monotonic() - t0:.2f} s in all)")
    assert forced.action == RENEWED and forced.arn == first.arn
    assert not forced.arn_new and not forced.parameter_changed
    renewed = _describe(stack, first.arn)
    assert renewed["Serial"] != detail["Serial"]
    assert set(renewed["SubjectAlternativeNames"]) == set(names)
    assert len(stack.acm_state()) == 1
    assert not [n for n in stack.record_names(ZONE) if n.startswith("_acme-challenge")]

    # --renew-within wider than what is left renews; renew_all sees the one managed certificate
    (all_renewed,) = renew_all(stack.env, renew_within_days=365)
    assert all_renewed.action == RENEWED and all_renewed.arn == first.arn
    (all_skipped,) = renew_all(stack.env)
    assert all_skipped.action == SKIPPED


def test_renewal_follows_the_cas_window(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CA's renewal information (the front beside pebble) decides; without a usable one, the lifetime rule."""
    from stackops import ui

    monkeypatch.setattr(ui.out, "width", 200)  # the table's cells whole, whatever another test left
    names = ["ari.exii.test"]
    (issued,) = run(stack.env, names)
    assert issued.action == ISSUED and issued.renews.endswith("UTC (lifetime rule)")
    pem = stack.client("acm").get_certificate(CertificateArn=issued.arn)["Certificate"]
    serial = _describe(stack, issued.arn)["Serial"]
    now = dt.datetime.now(dt.UTC)
    capsys.readouterr()
    try:
        # no window for it (404): the lifetime rule skips the young certificate, asked by its certID
        pebble.set_renewal_info(stack.local_dir, mode="none")
        t0 = time.monotonic()
        (unknown,) = run(stack.env, names)
        skip_seconds = time.monotonic() - t0
        assert unknown.action == SKIPPED and unknown.reason.endswith("; the CA has no renewal window for it")
        log = (stack.local_dir / "pebble" / acme_front.LOG).read_text()
        assert f"GET /renewal-info/{ari.cert_id(pem)} -> 404 (none)" in log

        # the window is ahead: skipped, and the table says when
        ahead = (now + dt.timedelta(days=20), now + dt.timedelta(days=21))
        pebble.set_renewal_info(stack.local_dir, ahead)
        (waiting,) = run(stack.env, names)
        assert waiting.action == SKIPPED and "is ahead" in waiting.reason
        assert f"{format_window(*ahead)} (the CA's window)" in capsys.readouterr().out

        # the window has opened (wholly past): the young certificate renews now, in place; the
        # preferred profile is one pebble 2.4 does not offer, so certbot asks for none and it issues
        pebble.set_renewal_info(stack.local_dir, (now - dt.timedelta(hours=2), now - dt.timedelta(minutes=1)))
        profiled = dataclasses.replace(stack.env, variables={**stack.env.variables, "acme_profile": "tlsserver"})
        (renewed,) = run(profiled, names)
        assert renewed.action == RENEWED and renewed.arn == issued.arn and "has passed" in renewed.reason
        assert _describe(stack, issued.arn)["Serial"] != serial

        # an answer that cannot be used: one warning line naming it, then the lifetime rule (skip)
        for mode, status, said in [("malformed", None, "HTTP 200 with no renewal window"),
                                   ("unreachable", None, "the CA did not answer"),
                                   ("unreachable", 503, "the CA answered HTTP 503")]:  # fmt: skip
            pebble.set_renewal_info(stack.local_dir, mode=mode, status=status)
            (fallback,) = run(stack.env, names)
            warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
            assert fallback.action == SKIPPED and fallback.reason.endswith("the CA's renewal window unusable")
            assert len(warnings) == 1 and said in warnings[0] and warnings[0].startswith("warning: ari.exii.test")
        everything = renew_all(stack.env)  # --renew-all: the same path for every managed certificate
        assert everything and all(r.action == SKIPPED for r in everything)
        warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
        assert len(warned) == len(everything)  # one line per certificate, none failed

        # pebble's own directory, with no renewalInfo: the lifetime rule, and nothing to warn about
        plain = AcmeServer(stack.acme_info["pebble_directory_url"], stack.acme_info["ca_bundle"])
        unsupported = issue(stack.env, names, acme=plain)
        assert unsupported.action == SKIPPED and unsupported.reason.endswith("a third of its 90-day lifetime")
        assert "warning" not in capsys.readouterr().err
    finally:
        pebble.set_renewal_info(stack.local_dir, mode="none")
    with capsys.disabled():
        print(f"\n[measure] a skip that asked the CA's renewal information: {skip_seconds:.2f} s")


@pytest.mark.parametrize(
    ("domains", "message"),
    [
        (["app.other.test"], "app.other.test is outside every public hosted zone"),
        (["bad..exii.test"], "malformed domain 'bad..exii.test'"),
        (["-app.exii.test"], "malformed domain '-app.exii.test'"),
    ],
)
def test_refused_before_acme(stack: Stack, domains: list[str], message: str) -> None:
    before = stack.acm_state()
    with pytest.raises(OpsError, match=message) as caught:
        run(stack.env, domains)
    assert caught.value.exit_code != 0
    assert stack.acm_state() == before


def test_missing_zone(stack: Stack) -> None:
    env = dataclasses.replace(stack.env, variables={**stack.env.variables, "zone_name": "nozone.test"})
    before = stack.acm_state()
    with pytest.raises(OpsError, match=r"no public hosted zone nozone\.test for a\w\w\.nozone\.test") as caught:
        run(env)
    assert caught.value.exit_code != 0
    assert stack.acm_state() == before


def test_acme_rejects_when_dns_answers_nothing(stack: Stack) -> None:
    before = stack.acm_state()
    pebble.set_silent(stack.local_dir, True)
    try:
        with pytest.raises(OpsError, match=r"certbot could not obtain a certificate for silent\.exii\.test") as caught:
            run(stack.env, ["silent.exii.test"])
    finally:
        pebble.set_silent(stack.local_dir, False)
    assert caught.value.exit_code != 0
    assert "Detail" in str(caught.value)  # pebble's reason reaches the message
    assert stack.acm_state() == before
    assert not [n for n in stack.record_names(ZONE) if n.startswith("_acme-challenge")]
    ssm = stack.client("ssm")
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name="/exii/local/acm/certificates/silent.exii.test")


def test_overlapping_zones_follow_delegation(stack: Stack) -> None:
    """example.test and sub.example.test in one account: records go where public DNS looks."""
    route53 = stack.client("route53")
    route53.create_hosted_zone(Name="example.test", CallerReference="e2e-example")
    route53.create_hosted_zone(Name="sub.example.test", CallerReference="e2e-sub")
    parent, child = stack.zone_id("example.test"), stack.zone_id("sub.example.test")

    # not delegated: the parent answers for x.sub.example.test, so the TXT record must go there;
    # certbot-dns-route53 on its own writes to the longer zone, and the validation fails
    dirs = certbot_dirs(stack.env, stack.acme)
    plain = certbot_command(["plain.sub.example.test"], stack.acme, dirs, email=None)
    plain[1:4] = ["-c", "import sys; from certbot.main import main; sys.exit(main(sys.argv[1:]))"]
    zones = {"plain.sub.example.test": HostedZone(parent, "example.test")}
    proc = subprocess.run(plain, env=certbot_environment(stack.env, stack.acme, zones), capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode != 0, "the unpinned plugin was expected to pick sub.example.test"
    assert "Error retrieving TXT records" in proc.stdout + proc.stderr  # pebble looked in example.test

    (result,) = run(stack.env, ["x.sub.example.test"])
    assert result.action == ISSUED
    assert result.parameter == "/exii/local/acm/certificates/x.sub.example.test"

    # delegated (NS records in the parent): the child zone answers, and is used
    route53.change_resource_record_sets(
        HostedZoneId=parent,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
            "Name": "sub.example.test.", "Type": "NS", "TTL": 300,
            "ResourceRecords": [{"Value": "ns-1.awsdns-01.org."}]}}]},
    )  # fmt: skip
    zones_now = zones_for(["y.sub.example.test"], list_zones(route53), stack.env, delegation_checker(route53))
    assert zones_now["y.sub.example.test"].id == child
    (delegated,) = run(stack.env, ["y.sub.example.test"])
    assert delegated.action == ISSUED
    for zone in ("example.test", "sub.example.test"):
        assert not [n for n in stack.record_names(zone) if n.startswith("_acme-challenge")]


def test_stop_leaves_no_process(stack: Stack, tmp_path: Path) -> None:
    info = pebble.start(tmp_path, stack.environ, stack.env.profile, stack.env.region)
    pids = [info["pebble_pid"], info["dns_pid"], info["front_pid"]]
    assert all(not processes.exited(pid) for pid in pids)
    pebble.stop(tmp_path)
    assert all(processes.exited(pid) for pid in pids)
    assert not (tmp_path / "pebble" / pebble.PROCESSES).exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or processes.exited(pid)
    pebble.stop(tmp_path)  # idempotent


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and not processes.exited(int(proc.name)):
                found.append(int(proc.name))
    return found


def test_start_failures_are_clear_and_leave_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(OpsError, match="pebble is not installed"):
        pebble.start(state, {}, "default", "eu-west-2")

    # a pebble that dies at start-up: its log reaches the message, the DNS bridge is stopped again
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pebble").write_text("#!/bin/sh\necho 'bad config: boom'\nexit 3\n")
    (bin_dir / "pebble").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    with pytest.raises(OpsError, match=r"pebble exited with code 3: .*bad config: boom"):
        pebble.start(state, {}, "default", "eu-west-2")
    assert not (state / "pebble" / pebble.PROCESSES).exists()
    assert _processes_mentioning(str(state)) == []
