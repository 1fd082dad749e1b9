"""Plan assertions for modules/ecr: scanned, encrypted repositories that keep the newest N images."""

from __future__ import annotations

import json
from functools import partial

import pytest

from stackops.ecs.image_retention import KEEP_TAG_PREFIX
from tests.planner import Plan, once_per_session, plan_instances

INSTANCES = {
    "default": {"names": ["concept", "django"]},  # keep_images defaults to 30
    "keep5": {"names": ["migrate"], "keep_images": 5},
    "disposable": {"names": ["throwaway"], "force_delete": True},  # dev, local
}
KEEP = {"default": 30, "keep5": 5, "disposable": 30}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Plan]:
    return once_per_session(tmp_path_factory, "ecr", partial(plan_instances, "ecr", INSTANCES))


def lifecycle_rules(plan: Plan, name: str) -> list[dict]:
    policy = plan.resources[f'aws_ecr_lifecycle_policy.this["{name}"]']
    assert policy["repository"] == name
    return json.loads(policy["policy"])["rules"]


@pytest.mark.parametrize("instance", INSTANCES)
def test_one_scanned_encrypted_repository_per_name(plans, instance):
    repositories = plans[instance].of_type("aws_ecr_repository")
    assert sorted(r["name"] for r in repositories.values()) == sorted(INSTANCES[instance]["names"])
    for repository in repositories.values():
        assert repository["image_scanning_configuration"] == [{"scan_on_push": True}]
        assert repository["encryption_configuration"][0]["encryption_type"] == "KMS"
        # Unless asked (dev, local), a repository that holds images is never deleted with them.
        assert repository["force_delete"] is (instance == "disposable")
        assert repository["image_tag_mutability"] == "MUTABLE"  # the pipelines push :latest


@pytest.mark.parametrize("instance", INSTANCES)
def test_lifecycle_keeps_the_newest_n_images_and_every_image_a_kept_revision_uses(plans, instance):
    for name in INSTANCES[instance]["names"]:
        keep, newest = lifecycle_rules(plans[instance], name)
        # ECR evaluates rules by priority; an image a higher-priority rule's tag selection matches
        # cannot be expired by a lower one, and the `any` rule must have the highest number.
        assert (keep["rulePriority"], newest["rulePriority"]) == (1, 2)
        assert keep["selection"]["tagStatus"] == "tagged"
        assert keep["selection"]["tagPrefixList"] == [KEEP_TAG_PREFIX]  # what `inv` tags them with
        assert keep["selection"]["countNumber"] >= 1000
        assert newest["selection"] == {
            "tagStatus": "any",
            "countType": "imageCountMoreThan",
            "countNumber": KEEP[instance],
        }
        assert keep["action"] == newest["action"] == {"type": "expire"}
