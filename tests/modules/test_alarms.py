"""Plan assertions for modules/alarms: the services' and the database's alarms, to one topic."""

from __future__ import annotations

from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

TOPIC = "arn:aws:sns:eu-west-2:111122223333:exii-test-alarms"
SUFFIXES = {
    "concept": ("app/exii-test-concept/0123456789abcdef", "targetgroup/conce-abc/0123456789abcdef"),
    "django": ("app/exii-test-django/fedcba9876543210", "targetgroup/djang-def/fedcba9876543210"),
}
THRESHOLDS = {
    "target_5xx_percent": 5,
    "unhealthy_hosts": 0,
    "response_time_p95_seconds": 2,
    "service_cpu_percent": 85,
    "service_memory_percent": 85,
    "db_cpu_percent": 80,
    "db_free_storage_gib": 2,
    "db_connections": 80,
    "fast_evaluation_periods": 3,
    "fast_datapoints_to_alarm": 2,
    "evaluation_periods": 3,
}
INPUTS = {
    "environment_name": "test",
    "topic_arn": TOPIC,
    "services": {
        key: {
            "service_name": f"exii-test-{key}",
            "cluster_name": "exii-test",
            "load_balancer_arn_suffix": lb,
            "target_group_arn_suffix": tg,
        }
        for key, (lb, tg) in SUFFIXES.items()
    },
    "database_identifier": "exii-test",
    "thresholds": THRESHOLDS,
}


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Plan:
    return once_per_session(tmp_path_factory, "alarms", partial(plan_instances, "alarms", {"test": INPUTS}))["test"]


def alarms(plan: Plan) -> dict[str, dict]:
    # (of_type splits addresses on dots; the for_each keys hold none, but the values are what matters)
    return {v["alarm_name"]: v for a, v in plan.resources.items() if a.startswith("aws_cloudwatch_metric_alarm.")}


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(plan):
    found = alarms(plan)
    per_service = ["5xx-rate", "unhealthy-hosts", "response-time-p95", "cpu", "memory"]
    expected = [f"exii-test-{s}-{a}" for s in SUFFIXES for a in per_service]
    expected += ["exii-test-db-cpu", "exii-test-db-free-storage", "exii-test-db-connections"]
    assert sorted(found) == sorted(expected)
    for alarm in found.values():
        assert alarm["alarm_actions"] == [TOPIC] and alarm["ok_actions"] == [TOPIC], alarm["alarm_name"]
        assert alarm["treat_missing_data"] == "notBreaching"  # an idle environment stays quiet
    assert sorted(plan.outputs["alarm_names"]) == sorted(expected)


def test_the_5xx_rate_is_metric_math_over_the_target_group(plan):
    alarm = alarms(plan)["exii-test-django-5xx-rate"]
    assert (alarm["comparison_operator"], alarm["threshold"]) == ("GreaterThanThreshold", 5)
    assert (alarm["evaluation_periods"], alarm["datapoints_to_alarm"]) == (3, 2)
    # Metric math: no metric of its own at the top level.
    assert not alarm.get("metric_name") and not alarm.get("namespace") and not alarm.get("statistic")
    queries = {q["id"]: q for q in alarm["metric_query"]}
    assert queries["rate"]["return_data"] is True
    assert queries["rate"]["expression"] == "IF(FILL(requests, 0) > 0, 100 * FILL(errors, 0) / FILL(requests, 0), 0)"
    lb, tg = SUFFIXES["django"]
    for query, metric_name in (("errors", "HTTPCode_Target_5XX_Count"), ("requests", "RequestCount")):
        [metric] = queries[query]["metric"]
        assert (metric["namespace"], metric["metric_name"], metric["stat"], metric["period"]) == (
            "AWS/ApplicationELB",
            metric_name,
            "Sum",
            60,
        )
        assert metric["dimensions"] == {"LoadBalancer": lb, "TargetGroup": tg}
        assert not queries[query]["return_data"]


def test_load_balancer_alarms_use_the_arn_suffixes(plan):
    lb, tg = SUFFIXES["concept"]
    unhealthy = alarms(plan)["exii-test-concept-unhealthy-hosts"]
    assert (unhealthy["namespace"], unhealthy["metric_name"], unhealthy["statistic"]) == (
        "AWS/ApplicationELB",
        "UnHealthyHostCount",
        "Maximum",
    )
    assert unhealthy["dimensions"] == {"LoadBalancer": lb, "TargetGroup": tg}
    assert (unhealthy["comparison_operator"], unhealthy["threshold"], unhealthy["period"]) == (
        "GreaterThanThreshold",
        0,
        60,
    )
    latency = alarms(plan)["exii-test-concept-response-time-p95"]
    assert (latency["metric_name"], latency["extended_statistic"], latency["threshold"]) == (
        "TargetResponseTime",
        "p95",
        2,
    )
    assert not latency.get("statistic")  # statistic and extended_statistic exclude each other
    assert latency["dimensions"] == {"LoadBalancer": lb, "TargetGroup": tg}


def test_ecs_and_database_alarms(plan):
    found = alarms(plan)
    for metric, suffix in (("CPUUtilization", "cpu"), ("MemoryUtilization", "memory")):
        alarm = found[f"exii-test-django-{suffix}"]
        assert (alarm["namespace"], alarm["metric_name"], alarm["statistic"], alarm["threshold"]) == (
            "AWS/ECS",
            metric,
            "Average",
            85,
        )
        assert alarm["dimensions"] == {"ClusterName": "exii-test", "ServiceName": "exii-test-django"}
    storage = found["exii-test-db-free-storage"]
    assert (storage["namespace"], storage["metric_name"], storage["statistic"]) == (
        "AWS/RDS",
        "FreeStorageSpace",
        "Minimum",
    )
    assert (storage["comparison_operator"], storage["threshold"]) == ("LessThanThreshold", 2 * 1024**3)  # bytes
    assert storage["dimensions"] == {"DBInstanceIdentifier": "exii-test"}
    assert (found["exii-test-db-cpu"]["threshold"], found["exii-test-db-connections"]["threshold"]) == (80, 80)
    assert found["exii-test-db-connections"]["statistic"] == "Maximum"


def test_deployment_alarms_are_each_services_5xx_rate_and_unhealthy_hosts(plan):
    assert plan.outputs["deployment_alarm_names"] == {
        s: [f"exii-test-{s}-5xx-rate", f"exii-test-{s}-unhealthy-hosts"] for s in SUFFIXES
    }
