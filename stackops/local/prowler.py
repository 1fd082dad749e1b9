"""Prowler against the applied `local` stack: the scan's command, its findings, the mutelist's verdict.

Prowler (pinned in security/prowler-requirements.lock, its own virtual environment .venv-prowler,
built by bin/prowler-setup) reads the deployed resources of the `local` account through the
emulated AWS, like any AWS SDK client, and writes its findings as JSON-OCSF. The repository's
mutelist (security/prowler-mutelist.yaml, Prowler's own format) mutes a failing check only for the
resources it names, with one of four reasons in its Description. The verdict:
- every failing finding is muted (else: the check id, the resource and Prowler's message);
- every resource pattern of every mute still mutes a failing finding (else the mute is stale:
  its reason is gone, and so must the entry be).

`bin/prowler-scan` runs it against the running emulator by hand; tests/e2e/test_stack_prowler.py
runs it in the suite against the session's stack.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackops.paths import ROOT

VENV = ROOT / ".venv-prowler"
SETUP = ROOT / "bin" / "prowler-setup"
MUTELIST = ROOT / "security" / "prowler-mutelist.yaml"
REGION = "eu-west-2"
GLOBAL_REGION = "us-east-1"  # where Prowler files the findings of global services (Route 53)
# Prowler's services for what the stack deploys (*.tf, modules/): buckets (s3), the VPC, its subnets,
# security groups, NACLs and flow logs (ec2, vpc), the database (rds), cluster, services and task
# definitions (ecs, ecr), load balancers (elbv2), roles and the OIDC provider (iam), secrets and
# parameters (secretsmanager, ssm), the imported certificate (acm), alarms and log groups
# (cloudwatch), the zone (route53), queues and the alarm topic (sqs, sns), the renewal function
# (awslambda), and kms (no customer keys by choice: it checks that nothing relies on one). Not
# scanned: dynamodb (the lock table is the master account's state backend, not this stack),
# eventbridge (Prowler checks event buses; the jobs use EventBridge Scheduler, which it has no checks
# for), application auto scaling (no Prowler service).
SERVICES = (
    "s3", "ec2", "vpc", "rds", "ecs", "ecr", "elbv2", "iam", "secretsmanager", "ssm", "acm",
    "cloudwatch", "route53", "sqs", "sns", "awslambda", "kms",
)  # fmt: skip
# A mute's Description starts with its reason: one of these, then ": " and the why.
REASONS = ("emulator artefact", "local-only", "account baseline", "trade-off")
SCAN_TIMEOUT = 900.0
# Prowler is pointed at the emulator through AWS_ENDPOINT_URL; anything else it would reach (the
# AWS IP ranges feed of the Route 53 check, a Lambda function's code URL, which moto answers with an
# amazonaws.com address) goes to this proxy, where nothing listens: refused at once, nothing leaves
# the machine. The emulator itself is reached directly (NO_PROXY).
NO_INTERNET = {
    "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One of Prowler's findings, from its JSON-OCSF output."""

    check: str
    status: str  # PASS, FAIL or MANUAL
    muted: bool
    resource: str  # the resource id, what the mutelist's Resources match
    resource_uid: str  # its ARN
    region: str
    message: str
    tags: str = ""  # "Key=Value | Key=Value", what the mutelist's Tags match (as Prowler unrolls them)

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def line(self) -> str:
        return f"{self.check}  {self.resource_uid or self.resource}  {self.message}"


def read_findings(path: Path) -> list[Finding]:
    """The findings of a `-M json-ocsf` output file."""
    findings = []
    for item in json.loads(path.read_text() or "[]"):
        resource = (item.get("resources") or [{}])[0]
        findings.append(
            Finding(
                check=item["metadata"]["event_code"],
                status=item["status_code"],
                muted=item.get("status") == "Suppressed",
                resource=resource.get("name") or "",
                resource_uid=resource.get("uid") or "",
                region=resource.get("region") or "",
                message=item.get("status_detail") or item.get("message") or "",
                # OCSF labels are "Key:Value"; Prowler matches a mute's Tags against "Key=Value | ...".
                tags=" | ".join(label.replace(":", "=", 1) for label in resource.get("labels") or []),
            )
        )
    return findings


@dataclass(frozen=True)
class Mute:
    """One check of the mutelist: the resources it mutes, in the regions given, and why."""

    check: str
    regions: tuple[str, ...]
    resources: tuple[str, ...]  # regular expressions on the resource id (re.search, as Prowler)
    description: str
    tags: tuple[str, ...] = ()  # each must match the finding's tags
    except_tags: tuple[str, ...] = ()  # Exceptions.Tags: a finding matching all of these is not muted
    unsupported: tuple[str, ...] = ()  # keys this verdict does not evaluate

    @property
    def reason(self) -> str:
        return self.description.split(":", 1)[0]

    def region_matches(self, region: str) -> bool:
        return "*" in self.regions or region in self.regions

    def check_matches(self, check: str) -> bool:
        # Prowler also reads a check name as a regular expression: "^id$" gives a check a second entry.
        return check == self.check or (self.check.startswith("^") and bool(re.fullmatch(self.check, check)))

    def mutes(self, finding: Finding, pattern: str) -> bool:
        return (
            self.check_matches(finding.check)
            and self.region_matches(finding.region)
            and bool(re.search(pattern, finding.resource))
            and all(re.search(tag, finding.tags) for tag in self.tags)
            and not (self.except_tags and all(re.search(tag, finding.tags) for tag in self.except_tags))
        )


def load_mutelist(path: Path = MUTELIST) -> list[Mute]:
    accounts = (yaml.safe_load(path.read_text()) or {}).get("Mutelist", {}).get("Accounts", {})
    return [
        Mute(
            check=check,
            regions=tuple(entry.get("Regions") or ()),
            resources=tuple(entry.get("Resources") or ()),
            description=str(entry.get("Description") or ""),
            tags=tuple(entry.get("Tags") or ()),
            except_tags=tuple((entry.get("Exceptions") or {}).get("Tags") or ()),
            unsupported=tuple(sorted(set(entry) - {"Regions", "Resources", "Description", "Tags", "Exceptions"}))
            + tuple(sorted(set(entry.get("Exceptions") or {}) - {"Tags"})),
        )
        for account in accounts.values()
        for check, entry in (account.get("Checks") or {}).items()
    ]


def mutelist_problems(mutes: Iterable[Mute]) -> list[str]:
    """What breaks the mutelist's rules: a reason per entry, named resources, no wildcard."""
    problems = []
    for mute in mutes:
        if mute.reason not in REASONS or not mute.description.split(":", 1)[-1].strip():
            problems.append(f"{mute.check}: the Description must start with one of {REASONS}, then ': why'")
        if "\n" in mute.description.strip():
            problems.append(f"{mute.check}: the reason must fit on one line")
        if mute.unsupported:
            problems.append(
                f"{mute.check}: {list(mute.unsupported)} are not evaluated here (stale mutes would go unseen)"
            )
        if "*" in mute.check or not mute.resources:
            problems.append(f"{mute.check}: a mute names one check and the resources it covers")
        for pattern in mute.resources:
            # Prowler turns `*` into `.*`: a wildcard would mute whatever the service adds next.
            if "*" in pattern or not pattern.startswith("^") or not pattern.endswith("$"):
                problems.append(f"{mute.check}: resource {pattern!r} must be an anchored pattern without '*'")
        if any("*" in tag for tag in mute.tags + mute.except_tags):
            problems.append(f"{mute.check}: tags {list(mute.tags + mute.except_tags)} must not hold '*'")
        if not mute.regions or not set(mute.regions) <= {REGION, GLOBAL_REGION}:
            problems.append(
                f"{mute.check}: regions {list(mute.regions)} (the stack is in {REGION}, Route 53 in {GLOBAL_REGION})"
            )
    return problems


def unmuted_failures(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.failed and not f.muted]


def stale_mutes(mutes: Iterable[Mute], findings: Iterable[Finding]) -> list[str]:
    """Each mutelist resource pattern that mutes no failing finding: its reason is gone."""
    failing = [f for f in findings if f.failed]
    return [
        f"{mute.check}: {pattern!r} matches no failing finding ({mute.description})"
        for mute in mutes
        for pattern in mute.resources
        if not any(mute.mutes(finding, pattern) for finding in failing)
    ]


def summary(findings: Iterable[Finding], mutes: Iterable[Mute]) -> dict[str, Any]:
    """Checks by outcome: passed, failed and muted (by the mutes' reason), failed; findings too."""
    findings, mutes = list(findings), list(mutes)
    by_check: dict[str, list[Finding]] = {}
    for finding in findings:
        by_check.setdefault(finding.check, []).append(finding)
    passed, failed, manual = 0, 0, 0
    muted: Counter[str] = Counter()
    for found in by_check.values():
        failing = [f for f in found if f.failed]
        if any(not f.muted for f in failing):
            failed += 1
        elif failing:
            reasons = {m.reason for m in mutes for f in failing for p in m.resources if m.mutes(f, p)}
            muted[" + ".join(sorted(reasons)) or "muted by Prowler's defaults"] += 1
        elif any(f.status == "PASS" for f in found):
            passed += 1
        else:
            manual += 1
    return {
        "checks": len(by_check),
        "passed": passed,
        "failed_muted": dict(sorted(muted.items())),
        "failed": failed,
        "manual": manual,
        "findings": len(findings),
    }


def command(output_dir: Path, profile: str | None, mutelist: Path = MUTELIST) -> list[str]:
    """The scan: the stack's region and services, its account's profile, JSON-OCSF into output_dir."""
    return [
        str(VENV / "bin" / "prowler"), "aws",
        *(["--profile", profile] if profile else []),
        "--filter-region", REGION, "--services", *SERVICES,
        "--mutelist-file", str(mutelist),
        "--output-formats", "json-ocsf", "--output-directory", str(output_dir), "--output-filename", "prowler",
        "--no-banner", "--no-color",
        "--ignore-exit-code-3",  # 3 means "some check failed": the verdict is ours, from the findings
    ]  # fmt: skip


def scan_environ(aws_environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment, pointed at the emulator (aws_environ) and away from the internet."""
    environ = {**os.environ, **aws_environ, **NO_INTERNET}
    # Prowler's own .pyc files, written on its first run (some machines turn writing them off).
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    return environ


def ensure_installed() -> float:
    """Builds Prowler's virtual environment unless it is complete (bin/prowler-setup); the seconds it took."""
    started = time.monotonic()
    subprocess.run([str(SETUP)], check=True)
    return time.monotonic() - started


def run(output_dir: Path, aws_environ: Mapping[str, str], profile: str | None) -> list[Finding]:
    """Runs the scan and returns its findings; raises with Prowler's output when it fails."""
    output_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        command(output_dir, profile), env=scan_environ(aws_environ), capture_output=True, text=True,
        timeout=SCAN_TIMEOUT, check=False,
    )  # fmt: skip
    (output_dir / "prowler.log").write_text(result.stdout + result.stderr)
    outputs = sorted(output_dir.glob("prowler*.ocsf.json"))
    if result.returncode != 0 or not outputs:
        raise RuntimeError(f"prowler exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}")
    return read_findings(outputs[-1])


def verdict(findings: list[Finding], mutes: list[Mute]) -> list[str]:
    """What fails the scan, one line each; empty when it passes."""
    lines = [f"mutelist: {problem}" for problem in mutelist_problems(mutes)]
    lines += [f"failing, not muted: {finding.line()}" for finding in unmuted_failures(findings)]
    lines += [f"stale mute: {stale}" for stale in stale_mutes(mutes, findings)]
    return lines


def main() -> int:
    """`bin/prowler-scan [OUTPUT_DIR]`: scans the running emulator's `local` stack, prints the verdict."""
    from stackops import environments
    from stackops.local import emulator

    output_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".state" / "prowler")
    aws_environ = emulator.environ()
    started = time.monotonic()
    findings = run(output_dir, aws_environ, environments.load("local").profile)
    mutes = load_mutelist()
    print(json.dumps({**summary(findings, mutes), "seconds": round(time.monotonic() - started)}, indent=2))
    problems = verdict(findings, mutes)
    print("\n".join(problems) or f"prowler: no failing finding unmuted, no stale mute (output in {output_dir})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
