"""Plan assertions for modules/cert-renewer: the renewal function, its role, schedule and alarms."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from stackops.certs.acm import ENV_TAG, MANAGED_TAG
from stackops.certs.metrics import METRIC, NAMESPACE
from stackops.certs.renewer import ACCOUNT_SECRET_VARIABLE
from stackops.local.lambda_runner import LAMBDA_TMP
from tests.planner import Plan, once_per_session, plan_instances

ZONE_ID = "Z0123456789ABCDEFGHIJ"
TOPIC = "arn:aws:sns:eu-west-2:111122223333:exii-test-alarms"  # the root's aws_sns_topic.alarms


def instances(package: Path) -> dict[str, dict]:
    common = {
        "name": "exii-test-cert-renewer",
        "environment_name": "test",
        "account_id": "111122223333",
        "region": "eu-west-2",
        "package_path": str(package),
        "package_hash": "bm90LWEtcmVhbC1oYXNo",
        "zone_id": ZONE_ID,
        "certificate_parameter_path": "/exii/test/acm",
        "managed_tags": {MANAGED_TAG[0]: MANAGED_TAG[1], ENV_TAG: "test"},
        "account_key_secret_name": "/exii/test/acme-account",
        "environment": {"STACKOPS_ENVIRONMENT": json.dumps({"name": "test", "variables": {}})},
        "alarm_topic_arn": TOPIC,
    }
    return {"plain": common}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    def produce(workdir: Path) -> dict[str, Plan]:
        package = workdir / "package.zip"
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("placeholder.py", "")
        return plan_instances("cert-renewer", instances(package), workdir)

    return once_per_session(tmp_path_factory, "cert-renewer", produce)


@pytest.fixture(scope="module")
def plan(plans) -> Plan:
    return plans["plain"]


def statements(plan: Plan) -> dict[str, dict]:
    policy = json.loads(plan.change("aws_iam_role_policy.function")["after"]["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def test_function_runs_the_renewer_from_the_package(plan):
    function = plan.one("aws_lambda_function")
    assert function["function_name"] == "exii-test-cert-renewer"
    assert function["handler"] == "stackops.certs.renewer.handler"
    assert function["runtime"] == "python3.13"
    assert function["architectures"] == ["x86_64"]
    assert function["source_code_hash"] == "bm90LWEtcmVhbC1oYXNo"
    variables = function["environment"][0]["variables"]
    assert json.loads(variables["STACKOPS_ENVIRONMENT"]) == {"name": "test", "variables": {}}
    assert variables["STACK_STATE_DIR"].startswith(LAMBDA_TMP + "/")  # Lambda's only writable folder
    assert variables[ACCOUNT_SECRET_VARIABLE] == "/exii/test/acme-account"
    assert plan.one("aws_secretsmanager_secret")["name"] == "/exii/test/acme-account"
    assert plan.one("aws_cloudwatch_log_group")["name"] == "/aws/lambda/exii-test-cert-renewer"
    # A failed run is not retried by Lambda (three failed ACME orders a day): the next day's run is.
    assert plan.one("aws_lambda_function_event_invoke_config")["maximum_retry_attempts"] == 0


def test_schedule_runs_it_daily_through_its_own_role(plan):
    schedule = plan.one("aws_scheduler_schedule")
    assert schedule["schedule_expression"] == "cron(17 3 * * ? *)"
    assert schedule["flexible_time_window"] == [{"maximum_window_in_minutes": 60, "mode": "FLEXIBLE"}]
    invoke = json.loads(plan.change("aws_iam_role_policy.scheduler")["after"]["policy"])["Statement"]
    assert [s["Action"] for s in invoke] == ["lambda:InvokeFunction"]
    function = "arn:aws:lambda:eu-west-2:111122223333:function:exii-test-cert-renewer"
    assert sorted(invoke[0]["Resource"]) == [function, f"{function}:*"]
    trust = json.loads(plan.resources["aws_iam_role.scheduler"]["assume_role_policy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    # Scheduler's confused-deputy guard: this account's default schedule group (and the schedule).
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "111122223333"}
    assert sorted(trust["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        "arn:aws:scheduler:eu-west-2:111122223333:schedule-group/default",
        "arn:aws:scheduler:eu-west-2:111122223333:schedule/default/exii-test-cert-renewer",
    ]


def test_the_function_role_trusts_lambda_for_this_account_only(plan):
    [trust] = json.loads(plan.resources["aws_iam_role.function"]["assume_role_policy"])["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")
    # aws:SourceAccount only: Lambda does not say which aws:SourceArn it sets (modules/cert-renewer).
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}


def test_route53_writes_only_challenge_txt_records_in_the_zone(plan):
    challenge = statements(plan)["ChallengeRecords"]
    assert challenge["Action"] == "route53:ChangeResourceRecordSets"
    assert challenge["Resource"] == f"arn:aws:route53:::hostedzone/{ZONE_ID}"
    assert challenge["Condition"] == {
        "ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": "_acme-challenge.*"},
        "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsRecordTypes": "TXT",
            "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
        },
    }
    assert statements(plan)["ChallengeSync"]["Resource"] == "arn:aws:route53:::change/*"


def test_acm_only_on_the_tools_certificates_and_ssm_only_on_its_parameters(plan):
    renew = statements(plan)["RenewTaggedCertificates"]
    assert renew["Resource"] == "arn:aws:acm:eu-west-2:111122223333:certificate/*"
    assert renew["Condition"] == {
        "StringEquals": {f"aws:ResourceTag/{MANAGED_TAG[0]}": MANAGED_TAG[1], f"aws:ResourceTag/{ENV_TAG}": "test"}
    }
    assert "acm:RequestCertificate" not in renew["Action"] and "acm:DeleteCertificate" not in renew["Action"]
    retag = statements(plan)["RetagTaggedCertificates"]
    assert retag["Action"] == "acm:AddTagsToCertificate"
    tag_keys = retag["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
    assert sorted(tag_keys) == sorted([MANAGED_TAG[0], ENV_TAG, "Name"])  # the tool's tags_for, nothing else
    assert retag["Condition"]["StringEquals"][f"aws:RequestTag/{ENV_TAG}"] == "test"  # stays in its environment
    parameters = statements(plan)["CertificateParameters"]
    assert parameters["Resource"] == "arn:aws:ssm:eu-west-2:111122223333:parameter/exii/test/acm/*"
    assert sorted(parameters["Action"]) == ["ssm:GetParameter", "ssm:PutParameter"]
    metric = statements(plan)["DaysRemaining"]
    assert metric["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    every_action = [
        a for s in statements(plan).values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in every_action if a.endswith("*")]


def test_alarms_on_errors_and_on_days_remaining_notify_the_topic(plan):
    alarms = {a["alarm_name"]: a for a in plan.of_type("aws_cloudwatch_metric_alarm").values()}
    errors = alarms["exii-test-cert-renewer-errors"]
    assert (errors["namespace"], errors["metric_name"]) == ("AWS/Lambda", "Errors")
    assert errors["dimensions"] == {"FunctionName": "exii-test-cert-renewer"}
    assert (errors["comparison_operator"], errors["threshold"]) == ("GreaterThanThreshold", 0)
    days = alarms["exii-test-cert-renewer-days-remaining"]
    assert (days["namespace"], days["metric_name"]) == (NAMESPACE, METRIC)
    assert days["dimensions"] == {"Environment": "test"}
    assert (days["comparison_operator"], days["threshold"], days["statistic"]) == ("LessThanThreshold", 10, "Minimum")
    assert days["treat_missing_data"] == "breaching"  # a renewer that stopped reporting alarms too
    assert (days["evaluation_periods"], days["datapoints_to_alarm"]) == (2, 2)
    for alarm in (errors, days):
        assert alarm["alarm_actions"] == [TOPIC]
    assert days["ok_actions"] == [TOPIC]
    # The environment's one topic and its subscriptions are the root's (alarms.tf), not the module's.
    assert plan.counts["aws_sns_topic"] == 0 and plan.counts["aws_sns_topic_subscription"] == 0
