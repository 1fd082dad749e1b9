"""End to end on the applied `local` stack: Terraform and the application pipelines share the task
definitions without fighting (README, "Who owns a task definition").

A "pipeline" here does what the application repositories do: push an image to ECR, register a
copy of the family's latest revision (tags included) with that image, then `inv refresh`. The
images a test pushed are deleted when it ends (ECR will not delete a repository that holds
images). Tests that only move services run under `restored` (tests/e2e/conftest.py); the one
that applies Terraform changes ends with the stack as Terraform leaves it, its plan empty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from stackops.ecs.image_retention import KEEP_TAG_PREFIX
from stackops.ecs.rollouts import PREVIOUS_TAG
from stackops.local.aws import client as faults
from tests.conftest import run_inv
from tests.e2e.conftest import CALL_FAILED
from tests.e2e.ecs_support import Ecs, output_of, revision, table_row

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


def push_image(local_stack, repository: str, tag: str) -> str:
    """Push a (content-free) image with `tag` to the stack's ECR repository; its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(tag),
            "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        },
        # moto names an image by its layers (ECR by the manifest's bytes): one layer of its own
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 1,
                "digest": "sha256:" + hashlib.sha256(b"layer " + tag.encode()).hexdigest(),
            }
        ],
    }
    image = local_stack.client("ecr").put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
    )["image"]
    return image["imageId"]["imageDigest"]


def image_tags(local_stack, repository: str) -> dict[str, set[str]]:
    """digest -> tags of every image in the repository."""
    described = local_stack.client("ecr").describe_images(repositoryName=repository)["imageDetails"]
    return {d["imageDigest"]: set(d.get("imageTags", [])) for d in described}


class Pipeline:
    """An application pipeline of one service: image pushes and revision registrations."""

    def __init__(self, ecs: Ecs, local_stack, key: str) -> None:
        self.ecs, self.local_stack, self.key = ecs, local_stack, key
        running = ecs.task_definition(ecs.service(key)["taskDefinition"])
        self.repository_url = running["containerDefinitions"][0]["image"].rsplit(":", 1)[0]
        self.repository = self.repository_url.split("/", 1)[1]

    def release(self, tag: str) -> str:
        push_image(self.local_stack, self.repository, tag)

        def with_image(params: dict[str, Any]) -> None:
            params["containerDefinitions"][0]["image"] = f"{self.repository_url}:{tag}"

        return self.ecs.register_copy(self.key, with_image)


@pytest.fixture
def pushed(local_stack) -> Iterator[None]:
    """Delete every image of the stack's repositories when the test ends."""
    yield
    ecr = local_stack.client("ecr")
    for url in local_stack.outputs["ecr_repository_urls"].values():
        repository = url.split("/", 1)[1]
        images = ecr.list_images(repositoryName=repository)["imageIds"]
        if images:
            ecr.batch_delete_image(repositoryName=repository, imageIds=images)


@pytest.fixture
def settled_by_terraform(request, ecs, endpoint, pushed) -> Iterator[None]:
    """After the test: no fault pending, the committed code applied (its plan empty), rolled out.
    A test that passed ends there itself; one that failed half-way is put there by an apply."""
    yield
    faults.clear_faults(endpoint)
    if not request.node.stash.get(CALL_FAILED, True):
        return
    applied = run_inv("apply", "--env", "local", "--yes")
    assert applied.returncode == 0, output_of(applied)[-3000:]
    for key in ecs.layout["services"]:
        ecs.steady(key)


def environment_of(td: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}


def image_of(td: dict[str, Any]) -> str:
    return td["containerDefinitions"][0]["image"]


def latest(ecs: Ecs, family: str) -> dict[str, Any]:
    return ecs.task_definition(ecs.revisions(family)[-1])


def test_pipeline_revisions_and_terraform_changes_share_the_family(ecs, local_stack, endpoint, settled_by_terraform):
    family = ecs.family("django")
    terraform_revision = ecs.steady("django")["taskDefinition"]  # what Terraform registered; django runs it
    concept = ecs.steady("concept")["taskDefinition"]
    pipeline = Pipeline(ecs, local_stack, "django")

    # Eight pipeline revisions, refreshed in two batches, pruned down to five revisions each time.
    for batch in (range(6), range(6, 8)):
        for n in batch:
            pipeline.release(f"pipeline-{n}")
        refreshed = run_inv("refresh", "--env", "local", "--service", "django")
        assert refreshed.returncode == 0, output_of(refreshed)
        assert "Revisions newer than the running one" in refreshed.stdout
        assert "not Terraform" in refreshed.stdout  # a copy with the tags but another image
        assert image_of(ecs.task_definition(ecs.steady("django")["taskDefinition"])).endswith(f":pipeline-{n}")
    running = ecs.steady("django")["taskDefinition"]
    assert terraform_revision in ecs.revisions(family)  # pruning spares the revision the state tracks
    # The migration follows the image the backend runs.
    assert image_of(latest(ecs, ecs.family("migrate"))) == f"{pipeline.repository_url}:pipeline-7"

    # Terraform agrees: no drift (the plan `inv apply` would apply is empty), django keeps its image.
    drift = run_inv("drift", "--env", "local")
    assert drift.returncode == 0, output_of(drift)[-3000:]
    assert "no changes" in drift.stdout
    assert ecs.steady("django")["taskDefinition"] == running

    # A setting added in the code: a new revision with it and the running image, rolled out.
    feature = {"TF_VAR_extra_environment": json.dumps({"django": {"FEATURE_FLAG": "on"}})}
    applied = run_inv("apply", "--env", "local", "--yes", env=feature)
    assert applied.returncode == 0, output_of(applied)[-3000:]
    service = ecs.steady("django")
    now = ecs.task_definition(service["taskDefinition"])
    assert revision(service["taskDefinition"]) > revision(running)
    assert environment_of(now)["FEATURE_FLAG"] == "on"
    assert image_of(now) == f"{pipeline.repository_url}:pipeline-7"
    assert (
        f"django: rev {revision(running)} -> {revision(service['taskDefinition'])}"
        " (container definitions changed; image kept :pipeline-7)"
    ) in " ".join(applied.stderr.split())
    assert "updated" in table_row(applied.stdout, "django")
    assert ecs.tag(service, PREVIOUS_TAG) == running  # `inv rollback` goes back to the pipeline's revision
    migrate = latest(ecs, ecs.family("migrate"))
    assert environment_of(migrate)["FEATURE_FLAG"] == "on" and image_of(migrate) == image_of(now)
    assert ecs.service("concept")["taskDefinition"] == concept  # untouched

    # (An apply of the same code plans nothing: test_second_up_changes_nothing shows it for the stack.)

    # The next change's rollout fails (ECS's circuit breaker rolls it back): apply exits 1 naming it.
    faults.add_faults(endpoint, next_deployment="rollback")
    off = {"TF_VAR_extra_environment": json.dumps({"django": {"FEATURE_FLAG": "off"}})}
    failed = run_inv("apply", "--env", "local", "--yes", env=off)
    assert failed.returncode == 1, output_of(failed)[-3000:]
    assert "error: django: rolled back" in failed.stderr
    assert "Traceback" not in output_of(failed)
    assert ecs.steady("django")["taskDefinition"] == service["taskDefinition"]
    # The failed revision is deregistered: a refresh will not retry it (the next plan proposes it anew).
    assert ecs.revisions(family)[-1] == service["taskDefinition"]

    # Back to the committed code, without a rollout: registered, left for `inv refresh`.
    registered = run_inv("apply", "--env", "local", "--yes", "--no-rollout")
    assert registered.returncode == 0, output_of(registered)[-3000:]
    assert "inv refresh --env local --service django rolls it out" in " ".join(registered.stderr.split())
    assert ecs.steady("django")["taskDefinition"] == service["taskDefinition"]
    newest = latest(ecs, family)
    assert "FEATURE_FLAG" not in environment_of(newest) and image_of(newest) == image_of(now)
    refreshed = run_inv("refresh", "--env", "local", "--service", "django")
    assert refreshed.returncode == 0, output_of(refreshed)
    pending = table_row(refreshed.stdout, "django", "Revisions newer than the running one")
    assert pending.split("│")[-2].strip() == "Terraform"  # who registered it
    assert ecs.steady("django")["taskDefinition"] == newest["taskDefinitionArn"]


def test_forced_refresh_redeploys_the_running_revision_not_a_newer_one(ecs, restored, local_stack, pushed):
    running = restored.task_definitions["django"]
    unreleased = Pipeline(ecs, local_stack, "django").release("unreleased")

    forced = run_inv("refresh", "--env", "local", "--service", "django", "--force")
    assert forced.returncode == 0, output_of(forced)
    assert "forced" in table_row(forced.stdout, "django")
    service = ecs.steady("django")
    assert service["taskDefinition"] == running
    assert ecs.primary(service)["id"] != restored.deployments["django"]  # restarted, on what it ran
    assert unreleased in ecs.revisions(ecs.family("django"))  # never pruned: newer than the running one

    # A Terraform change of django now would put a revision with the running image over the
    # unreleased one (and `inv refresh` would never pick it): refused before anything changes.
    feature = {"TF_VAR_extra_environment": json.dumps({"django": {"FEATURE_FLAG": "on"}})}
    refused = run_inv("apply", "--env", "local", "--yes", env=feature)
    assert refused.returncode == 2, output_of(refused)[-3000:]
    assert f"django: rev {revision(unreleased)} (not Terraform, :unreleased) is newer than the running rev" in (
        " ".join(refused.stderr.split())
    )
    assert ecs.revisions(ecs.family("django"))[-1] == unreleased
    assert ecs.service("django")["taskDefinition"] == running


def test_rollback_after_pruning_finds_its_revision_and_its_image(ecs, restored, local_stack, pushed):
    pipeline = Pipeline(ecs, local_stack, "django")
    released = {}
    for n in range(3):
        released[n] = pipeline.release(f"r{n}")
        refreshed = run_inv("refresh", "--env", "local", "--service", "django", "--keep", "1")
        assert refreshed.returncode == 0, output_of(refreshed)
    active = ecs.revisions(ecs.family("django"))
    assert released[0] not in active  # pruned
    assert released[1] in active and released[2] in active  # the rollback target and the running one
    assert restored.task_definitions["django"] in active  # the state's (what Terraform registered)

    # The images of the kept revisions carry the keep tag the ECR lifecycle never expires; the
    # pruned revisions' images lost theirs (and keep their own tags).
    tags = image_tags(local_stack, pipeline.repository)
    by_tag = {tag: digest for digest, names in tags.items() for tag in names}
    for n in (1, 2):
        assert KEEP_TAG_PREFIX + by_tag[f"r{n}"].split(":")[1] in tags[by_tag[f"r{n}"]]
    assert not any(t.startswith(KEEP_TAG_PREFIX) for t in tags[by_tag["r0"]])

    rolled = run_inv("rollback", "--env", "local", "--service", "django")
    assert rolled.returncode == 0, output_of(rolled)
    service = ecs.steady("django")
    assert service["taskDefinition"] == released[1]
    assert image_of(ecs.task_definition(released[1])) == f"{pipeline.repository_url}:r1"
    assert "r1" in image_tags(local_stack, pipeline.repository)[by_tag["r1"]]  # its image is there
