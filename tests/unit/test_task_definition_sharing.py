"""The rules that let Terraform and the pipelines share task definitions: which revisions a plan
registers (and why), who registered a revision, what pruning spares, which images stay in ECR."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stackops.ecs.image_retention import KEEP_TAG_PREFIX, RETIRED_TAG_PREFIX, ecr_image, retain_images
from stackops.ecs.layout import EcsLayout, MigrateRef, ServiceRef
from stackops.ecs.task_definitions import IMAGE_TAG, REGISTERED_BY_TAG, prune, register_copy, registered_by
from stackops.ecs.terraform_revisions import NewRevision, new_revisions

REGION = "eu-west-2"
TD = 'module.service["{}"].aws_ecs_task_definition.this'
SERVICE = 'module.service["{}"].aws_ecs_service.this'


def change(address: str, actions: list[str], replace_paths: list[list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"actions": actions}
    if replace_paths is not None:
        body["replace_paths"] = replace_paths
    return {"address": address, "mode": "managed", "change": body}


def test_a_replaced_task_definition_of_an_existing_service_is_rolled_out_with_its_reason() -> None:
    changes = [
        change(TD.format("django"), ["delete", "create"], [["container_definitions"], ["cpu"]]),
        change(TD.format("concept"), ["no-op"]),
        change("aws_ecs_task_definition.migrate", ["delete", "create"], [["container_definitions"]]),
    ]
    assert new_revisions(changes) == [NewRevision("django", "container definitions, cpu changed")]


def test_a_new_service_is_created_on_terraforms_revision_so_there_is_nothing_to_roll() -> None:
    changes = [change(TD.format("django"), ["create"]), change(SERVICE.format("django"), ["create"])]
    assert new_revisions(changes) == []
    # A revision registered although nothing in the code changed: replaced on request, or gone.
    requested = {**change(TD.format("concept"), ["delete", "create"]), "action_reason": "replace_by_request"}
    assert new_revisions([requested]) == [NewRevision("concept", "replace by request")]
    assert new_revisions([change(TD.format("concept"), ["create"])]) == [NewRevision("concept", "registered anew")]


def tags(by: str | None, image: str | None) -> list[dict[str, str]]:
    pairs = [(REGISTERED_BY_TAG, by), (IMAGE_TAG, image), ("Project", "exii")]
    return [{"key": k, "value": v} for k, v in pairs if v is not None]


def td(image: str, principal: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"containerDefinitions": [{"name": "app", "image": image}]}
    if principal:
        body["registeredBy"] = principal
    return body


def test_who_registered_a_revision() -> None:
    assert registered_by(td("repo:1"), tags("terraform", "repo:1"), "app") == "Terraform"
    assert registered_by(td("repo:2"), tags("inv deploy", "repo:2"), "app") == "inv deploy"
    # A pipeline's copy of Terraform's revision, tags and all, but another image: not Terraform's.
    assert registered_by(td("repo:2"), tags("terraform", "repo:1"), "app") == "not Terraform"
    assert registered_by(td("repo:2"), [], "app") == "not Terraform"
    role = "arn:aws:sts::111122223333:assumed-role/ci/run-7"
    assert registered_by(td("repo:2", role), [], "app") == f"not Terraform ({role})"


@mock_aws
def test_prune_spares_protected_revisions_and_those_newer_than_the_running_one() -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    for n in range(1, 9):
        ecs.register_task_definition(
            family="f", containerDefinitions=[{"name": "app", "image": f"i:{n}", "memory": 64}]
        )
    # Runs 5; 1 is the state's, 3 the rollback target; 6-8 are registered and not released yet.
    assert prune(ecs, "f", 1, {"f:1", "f:3", "f:5"}, newer_than=5) == (2, 4)
    arns = ecs.list_task_definitions(familyPrefix="f", status="ACTIVE")["taskDefinitionArns"]
    assert sorted(int(a.rsplit(":", 1)[1]) for a in arns) == [1, 3, 5, 6, 7, 8]


def test_ecr_image_references() -> None:
    image = ecr_image("111122223333.dkr.ecr.eu-west-2.amazonaws.com/exii-dev-django:v2")
    assert image is not None and (image.account, image.region, image.repository, image.tag) == (
        "111122223333",
        "eu-west-2",
        "exii-dev-django",
        "v2",
    )
    digest = "sha256:" + "a" * 64
    pinned = ecr_image(f"111122223333.dkr.ecr.eu-west-2.amazonaws.com/team/app@{digest}")
    assert pinned is not None and (pinned.repository, pinned.digest) == ("team/app", digest)
    assert ecr_image("public.ecr.aws/nginx/nginx:1.27") is None
    assert ecr_image("django:latest") is None


def push(ecr: Any, tag: str) -> str:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
        # moto names an image by its layers (ECR by the manifest's bytes): one layer of its own
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1,
                    "digest": "sha256:" + hashlib.sha256(b"layer " + tag.encode()).hexdigest()}],
    }  # fmt: skip
    return ecr.put_image(repositoryName="app", imageManifest=json.dumps(manifest), imageTag=tag)["image"]["imageId"][
        "imageDigest"
    ]


@mock_aws
def test_images_of_active_revisions_are_kept_and_released_ones_are_not_deleted() -> None:
    session = boto3.Session(region_name=REGION)
    ecs, ecr = session.client("ecs"), session.client("ecr")
    account = session.client("sts").get_caller_identity()["Account"]
    url = f"{account}.dkr.ecr.{REGION}.amazonaws.com/app"
    ecr.create_repository(repositoryName="app")
    digests = {tag: push(ecr, tag) for tag in ("v1", "v2", "v3")}
    arns = {}
    for tag in ("v1", "v2"):
        registered = ecs.register_task_definition(
            family="svc", containerDefinitions=[{"name": "app", "image": f"{url}:{tag}", "memory": 64}]
        )
        arns[tag] = registered["taskDefinition"]["taskDefinitionArn"]
    ecs.register_task_definition(
        family="mig", containerDefinitions=[{"name": "m", "image": f"{url}@{digests['v3']}", "memory": 64}]
    )
    layout = EcsLayout(
        "test", "c", {"svc": ServiceRef("svc", "svc", "svc", "app")}, MigrateRef("mig", "m", "svc", "svc")
    )

    def tags_of() -> dict[str, set[str]]:
        details = ecr.describe_images(repositoryName="app")["imageDetails"]
        return {d["imageDigest"]: set(d.get("imageTags", [])) for d in details}

    retain_images(session, layout)
    keep = {tag: KEEP_TAG_PREFIX + digest.split(":")[1] for tag, digest in digests.items()}
    assert tags_of() == {digests[t]: {t, keep[t]} for t in ("v1", "v2", "v3")}  # by tag and by digest

    # v1's revision goes, and v1's tag moves to another image: its keep tag was its last one.
    ecs.deregister_task_definition(taskDefinition=arns["v1"])
    push(ecr, "v4")
    ecr.batch_delete_image(repositoryName="app", imageIds=[{"imageTag": "v1"}])
    retain_images(session, layout)
    after = tags_of()
    assert after[digests["v1"]] == {RETIRED_TAG_PREFIX + digests["v1"].split(":")[1]}  # not deleted
    assert after[digests["v2"]] == {"v2", keep["v2"]}
    retain_images(session, layout)
    assert tags_of() == after  # nothing left to do

    # A revision naming an image that is not in the repository blocks nothing.
    ecs.register_task_definition(
        family="svc", containerDefinitions=[{"name": "app", "image": f"{url}:gone", "memory": 64}]
    )
    ecs.deregister_task_definition(taskDefinition=arns["v2"])
    retain_images(session, layout)
    assert keep["v2"] not in tags_of()[digests["v2"]]


@pytest.mark.parametrize("reference", ["repo:v1", ""])
def test_no_ecr_image_for_other_registries(reference: str) -> None:
    assert ecr_image(reference) is None


@mock_aws
def test_a_copy_records_only_tag_values_ecs_accepts() -> None:
    ecs = boto3.client("ecs", region_name=REGION)
    base = ecs.register_task_definition(
        family="f", containerDefinitions=[{"name": "app", "image": "repo:1", "memory": 64}],
        tags=[{"key": "Project", "value": "exii"}, {"key": REGISTERED_BY_TAG, "value": "terraform"}],
    )  # fmt: skip
    described = ecs.describe_task_definition(
        taskDefinition=base["taskDefinition"]["taskDefinitionArn"], include=["TAGS"]
    )
    td, tags = described["taskDefinition"], described["tags"]
    long_image = "111122223333.dkr.ecr.eu-west-2.amazonaws.com/" + "a" * 200 + ":" + "t" * 100
    for image, recorded in (("repo:2", True), (long_image, False)):
        arn = register_copy(ecs, td, tags, "app", image, by="inv: migrate follows django")
        copied = {
            t["key"]: t["value"] for t in ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])["tags"]
        }
        assert copied[REGISTERED_BY_TAG] == "inv: migrate follows django" and copied["Project"] == "exii"
        assert (copied.get(IMAGE_TAG) == image) is recorded
        # ECS: letters, numbers, spaces and _ . : / = + - @, at most 256 characters (moto checks nothing)
        assert all(re.fullmatch(r"[\w\s.:/=+\-@]{0,256}", value) for value in copied.values())


def test_the_layout_reads_the_tracked_revisions_from_the_raw_state() -> None:
    ecs_output = {
        "cluster": "exii-dev",
        "services": {"django": {"name": "exii-dev-django", "family": "exii-dev-django", "container": "django"}},
        "migrate": {
            "family": "exii-dev-migrate",
            "container": "migrate",
            "network_from": "django",
            "image_from": "django",
        },
    }
    arn = "arn:aws:ecs:eu-west-2:111122223333:task-definition/exii-dev-django:7"
    state = {  # `terraform state pull`, format version 4
        "version": 4,
        "outputs": {"ecs": {"value": ecs_output, "type": ["object", {}]}},
        "resources": [
            {"module": 'module.service["django"]', "mode": "managed", "type": "aws_ecs_task_definition",
             "name": "this", "instances": [{"attributes": {"family": "exii-dev-django", "arn": arn}}]},
            {"mode": "data", "type": "aws_ecs_task_definition", "name": "x",
             "instances": [{"attributes": {"family": "other", "arn": "arn:other:1"}}]},
        ],
    }  # fmt: skip
    layout = EcsLayout.from_state(state, env="dev")
    assert layout.terraform_revisions == {"exii-dev-django": arn}
    assert layout.tracked("exii-dev-django") == {"exii-dev-django:7"} and layout.tracked("exii-dev-migrate") == set()
    assert layout.migrate is not None and layout.migrate.image_from == "django"
