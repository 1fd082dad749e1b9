"""End to end on the applied `local` stack: Prowler, an independent scanner, finds no failing check
that security/prowler-mutelist.yaml does not mute, and every mute still mutes something.

Uses the session's shared stack (`local_stack`) and only reads it: Prowler calls Describe/List/Get
APIs only. Prowler's virtual environment (bin/prowler-setup) is built here if `.ci/run` has not
started it already; the call then waits for that build. What the scan checks and how the verdict is
reached: stackops/local/prowler.py.
"""

from __future__ import annotations

import json
import time

import pytest

from stackops.local import prowler
from stackops.local.aws import client as emulator_routes
from tests.e2e.fixtures import operators as operator_identities

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def test_the_deployed_stack_passes_prowler(local_stack, emulated_aws, tmp_path):
    # The emulator's own identity (an allow-all role, stackops/local/aws/iam_auth.py) exists once a
    # test has switched IAM authorisation on, which the mutelist mutes as an emulator artefact: it
    # is made here too, so the scan finds the same account whichever tests ran before it.
    emulator_routes.enable_iam_auth(emulated_aws.endpoint, operator_identities.admin_identity(local_stack.env))
    emulator_routes.disable_iam_auth(emulated_aws.endpoint)
    installed = prowler.ensure_installed()
    started = time.monotonic()
    findings = prowler.run(tmp_path, local_stack.aws_environ, local_stack.env.profile)
    scanned = time.monotonic() - started
    mutes = prowler.load_mutelist()
    counts = prowler.summary(findings, mutes)
    print(json.dumps({**counts, "install_wait_s": round(installed), "scan_s": round(scanned)}))

    # Prowler read this stack, in its account: the load balancers, the database, the buckets.
    resources = {f.resource for f in findings}
    assert {"exii-local-django", "exii-local-concept", "exii-local"} <= resources, sorted(resources)[:40]
    assert set(local_stack.outputs["bucket_names"].values()) <= resources
    # ARNs name this account, none (S3, Route 53) or AWS's own (its managed policies): no other account.
    accounts = {f.resource_uid.split(":")[4] for f in findings if f.resource_uid.count(":") >= 4}
    assert accounts <= {"", "aws", local_stack.env.account_id}, accounts
    assert counts["checks"] > 100 and counts["passed"] > 50, counts

    problems = prowler.verdict(findings, mutes)
    assert not problems, f"{len(problems)} problems (Prowler's output: {tmp_path}):\n" + "\n".join(problems)
