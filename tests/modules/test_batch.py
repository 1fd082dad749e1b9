"""Plan assertions for modules/batch: the batch cluster and its image repositories."""

from __future__ import annotations

import json
from functools import partial

import pytest

from tests.planner import Plan, once_per_session, plan_instances

INSTANCES = {"batch": {"name": "exii-test-batch", "repositories": ["report", "import"], "keep_images": 10}}


@pytest.fixture(scope="module")
def plan(tmp_path_factory) -> Plan:
    return once_per_session(tmp_path_factory, "batch", partial(plan_instances, "batch", INSTANCES))["batch"]


def test_cluster_without_container_insights_by_default(plan):
    cluster = plan.one("aws_ecs_cluster")
    assert cluster["name"] == "exii-test-batch"
    assert cluster["setting"] == [{"name": "containerInsights", "value": "disabled"}]
    assert plan.outputs["cluster_name"] == "exii-test-batch"


def test_a_scanned_repository_per_job_keeping_the_newest_images(plan):
    repositories = plan.of_type("aws_ecr_repository")
    assert sorted(r["name"] for r in repositories.values()) == ["import", "report"]
    assert all(r["image_scanning_configuration"] == [{"scan_on_push": True}] for r in repositories.values())
    policies = plan.of_type("aws_ecr_lifecycle_policy")
    assert sorted(p["repository"] for p in policies.values()) == ["import", "report"]
    for policy in policies.values():
        kept, newest = json.loads(policy["policy"])["rules"]  # modules/ecr: kept revisions' images, then the newest N
        assert kept["selection"]["tagPrefixList"] == ["stackops-keep-"]
        assert newest["selection"]["countNumber"] == 10
