"""The Prowler scan's verdict (stackops/local/prowler.py) on a recorded output.

fixtures/prowler/findings.ocsf.json holds eight findings of a real scan of the `local` stack
(Prowler 5.40.0, `-M json-ocsf`, run with security/prowler-mutelist.yaml), trimmed to the fields
read: a pass, failures Prowler muted (WAF, a password policy rule, the private NACL's RDP reply
ports, the Route 53 zone filed under us-east-1), and failures it did not (the default master user,
the VPC's unmanaged default NACL).
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from stackops.local import prowler

RECORDED = Path(__file__).parent / "fixtures" / "prowler" / "findings.ocsf.json"


@pytest.fixture
def findings() -> list[prowler.Finding]:
    return prowler.read_findings(RECORDED)


def mutelist(tmp_path: Path, checks: str) -> list[prowler.Mute]:
    path = tmp_path / "mutelist.yaml"
    body = textwrap.indent(textwrap.dedent(checks), " " * 8)
    path.write_text(f'Mutelist:\n  Accounts:\n    "111122223333":\n      Checks:\n{body}')
    return prowler.load_mutelist(path)


WAF = """\
elbv2_waf_acl_attached:
  Regions: ["eu-west-2"]
  Resources: ["^exii-local-(concept|django)$"]
  Description: "trade-off: no WAF in this product yet (CKV2_AWS_28)"
"""


def test_the_output_is_read_as_prowler_wrote_it(findings):
    by_check = {(f.check, f.resource): f for f in findings}
    waf = by_check["elbv2_waf_acl_attached", "exii-local-django"]
    assert (waf.status, waf.muted, waf.region) == ("FAIL", True, "eu-west-2")
    assert waf.resource_uid.startswith("arn:aws:elasticloadbalancing:eu-west-2:111122223333:loadbalancer/app/")
    assert waf.message == "ELBv2 ALB exii-local-django is not protected by WAF Web ACL."
    admin = by_check["rds_instance_default_admin", "exii-local"]
    assert (admin.status, admin.muted) == ("FAIL", False)
    zone = next(f for f in findings if f.check.startswith("route53_"))
    assert zone.region == "us-east-1" and "Project=exii" in zone.tags.split(" | ")
    assert [f.status for f in findings].count("PASS") == 2


def test_a_failing_unmuted_finding_fails_with_check_resource_and_message(findings):
    problems = prowler.verdict(findings, prowler.load_mutelist())
    unmuted = [p for p in problems if p.startswith("failing, not muted: ")]
    assert len(unmuted) == 2, problems
    assert (
        "failing, not muted: rds_instance_default_admin  arn:aws:rds:eu-west-2:111122223333:db:exii-local  "
        "RDS Instance exii-local is using the default master username." in unmuted
    )
    assert any("ec2_networkacl_allow_ingress_tcp_port_3389  arn:aws:ec2:" in p for p in unmuted)


def test_every_failing_finding_muted_and_every_mute_used_passes(findings):
    muted_all = [dataclasses.replace(f, muted=True) if f.failed else f for f in findings]
    # The recorded scan's own mutes, as far as these eight findings go.
    used = [
        m
        for m in prowler.load_mutelist()
        if any(m.mutes(f, p) for f in findings if f.failed and f.muted for p in m.resources)
    ]
    assert {m.check for m in used} == {
        "elbv2_waf_acl_attached", "iam_password_policy_symbol",
        "ec2_networkacl_allow_ingress_tcp_port_3389", "route53_public_hosted_zones_cloudwatch_logging_enabled",
    }  # fmt: skip
    assert prowler.verdict(muted_all, used) == []


def test_a_mute_that_matches_no_failing_finding_is_stale(findings, tmp_path):
    mutes = mutelist(
        tmp_path,
        WAF
        + """\
elbv2_deletion_protection:
  Regions: ["eu-west-2"]
  Resources: ["^exii-local-django$"]
  Description: "local-only: off in local; prod sets true"
s3_bucket_default_encryption:
  Regions: ["eu-west-2"]
  Resources: ["^exii-local-log-111122223333$"]
  Description: "trade-off: a mute of a passing check mutes nothing"
""",
    )
    stale = prowler.stale_mutes(mutes, findings)
    assert [s.split(":")[0] for s in stale] == ["elbv2_deletion_protection", "s3_bucket_default_encryption"]
    assert "'^exii-local-django$' matches no failing finding (local-only: off in local; prod sets true)" in stale[0]


def test_each_resource_pattern_must_still_match(findings, tmp_path):
    mutes = mutelist(
        tmp_path, WAF.replace('["^exii-local-(concept|django)$"]', '["^exii-local-django$", "^exii-local-gone$"]')
    )
    assert prowler.stale_mutes(mutes, findings) == [
        "elbv2_waf_acl_attached: '^exii-local-gone$' matches no failing finding "
        "(trade-off: no WAF in this product yet (CKV2_AWS_28))"
    ]


def test_region_and_tags_narrow_a_mute(findings, tmp_path):
    nacl = """\
ec2_networkacl_allow_ingress_tcp_port_3389:
  Regions: ["eu-west-2"]
  Resources: ["^acl-[0-9a-f]+$"]
  Tags: ["Name=exii-local-(public|private)"]
  Description: "trade-off: ephemeral reply ports"
route53_public_hosted_zones_cloudwatch_logging_enabled:
  Regions: ["eu-west-2"]
  Resources: ["^[A-Z0-9]+$"]
  Description: "trade-off: query logging needs us-east-1"
"""
    nacl_mute, zone_mute = mutelist(tmp_path, nacl)
    nacls = [f for f in findings if f.check == nacl_mute.check and f.failed]
    assert [nacl_mute.mutes(f, nacl_mute.resources[0]) for f in nacls] == [bool(f.tags) for f in nacls] == [
        False, True,
    ]  # fmt: skip
    # Route 53 is global: Prowler files its findings under us-east-1, which this mute does not name.
    assert prowler.stale_mutes([zone_mute], findings) != []
    excepted = mutelist(
        tmp_path,
        nacl.replace('  Tags: ["Name=exii-local-(public|private)"]\n', '  Exceptions:\n    Tags: ["Project=exii"]\n'),
    )[0]
    assert [excepted.mutes(f, excepted.resources[0]) for f in nacls] == [True, False]


def test_the_mutelists_rules(tmp_path):
    mutes = mutelist(
        tmp_path,
        """\
s3_bucket_kms_encryption:
  Regions: ["*"]
  Resources: ["exii-local-*"]
  Description: "we do not want it"
"ec2_*":
  Regions: ["eu-west-2"]
  Resources: []
  Description: "emulator artefact: moto"
sns_topics_kms_encryption_at_rest_enabled:
  Regions: ["eu-west-2"]
  Resources: ["^exii-local-alarms$"]
  Tags: ["Name=*"]
  Exceptions:
    Accounts: ["111122223333"]
  Description: "trade-off: CloudWatch alarms cannot publish to a topic under aws/sns (CKV_AWS_26)"
""",
    )
    problems = prowler.mutelist_problems(mutes)
    assert [p.split(":")[0] for p in problems] == [
        "s3_bucket_kms_encryption", "s3_bucket_kms_encryption", "s3_bucket_kms_encryption",
        "ec2_*", "sns_topics_kms_encryption_at_rest_enabled", "sns_topics_kms_encryption_at_rest_enabled",
    ], problems  # fmt: skip
    assert prowler.verdict([], mutes)[0].startswith("mutelist: s3_bucket_kms_encryption: the Description must")


def test_the_repositorys_mutelist_keeps_the_rules():
    mutes = prowler.load_mutelist()
    assert mutes and prowler.mutelist_problems(mutes) == []
    assert len({m.check for m in mutes}) == len(mutes)
    assert {m.reason for m in mutes} <= set(prowler.REASONS)


def test_summary_counts_checks_by_outcome_and_reason(findings):
    counts = prowler.summary(findings, prowler.load_mutelist())
    assert counts == {
        "checks": 6,
        "passed": 1,
        "failed_muted": {"account baseline": 1, "trade-off": 2},
        "failed": 2,
        "manual": 0,
        "findings": 8,
    }


def test_the_scan_reads_only_the_emulator(tmp_path):
    aws = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_CONFIG_FILE": "/x/config"}
    environ = prowler.scan_environ(aws)
    assert environ["AWS_ENDPOINT_URL"] == aws["AWS_ENDPOINT_URL"]
    assert environ["HTTPS_PROXY"] == environ["HTTP_PROXY"] == "http://127.0.0.1:9"
    assert environ["NO_PROXY"] == "127.0.0.1,localhost"
    command = prowler.command(tmp_path, "exii-local")
    assert command[:2] == [str(prowler.VENV / "bin" / "prowler"), "aws"]
    joined = " ".join(command)
    assert "--profile exii-local --filter-region eu-west-2 --services s3 ec2 vpc rds" in joined
    assert f"--mutelist-file {prowler.MUTELIST}" in joined and "--output-formats json-ocsf" in joined
