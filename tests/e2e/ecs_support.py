"""What the ECS end-to-end tests share: the stack's ECS read with boto3, and a snapshot of the
services that a test puts back when it ends (the `restored` fixture of each test module)."""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from typing import Any

from stackops.ecs.rollouts import PREVIOUS_TAG

SETTLE_TIMEOUT = 30.0


def output_of(result) -> str:
    return result.stdout + result.stderr


def revision(arn: str) -> int:
    return int(arn.rsplit(":", 1)[1])


def table_row(stdout: str, service: str, title: str = "ECS services") -> str:
    """The line for one service in the table with that title (the end-of-command table by default)."""
    _, found, after = stdout.partition(title)
    assert found, f"no table {title!r} in:\n{stdout}"
    table = after.split("\n└", 1)[0]  # up to the table's bottom border
    lines = [line for line in table.splitlines() if re.match(rf"^[│|]\s*{re.escape(service)}\s*[│|]", line)]
    assert len(lines) == 1, f"no single row for {service} in:\n{stdout}"
    return lines[0]


class Ecs:
    """The stack's ECS, read with boto3 (what the assertions compare against)."""

    def __init__(self, local_stack) -> None:
        self.client = local_stack.client("ecs")
        self.layout = local_stack.outputs["ecs"]
        self.cluster = self.layout["cluster"]
        # The scheduled jobs on the backend image: a rollout registers a revision of each (as of migrate).
        jobs = local_stack.outputs.get("jobs", {}).get("jobs", {})
        self.job_families = [job["family"] for job in jobs.values() if job.get("image_from")]

    def name(self, key: str) -> str:
        return self.layout["services"][key]["name"]

    def family(self, key: str) -> str:
        return self.layout["migrate"]["family"] if key == "migrate" else self.layout["services"][key]["family"]

    @property
    def families(self) -> list[str]:
        return [self.family(key) for key in (*self.layout["services"], "migrate")] + self.job_families

    def service(self, key: str) -> dict[str, Any]:
        described = self.client.describe_services(cluster=self.cluster, services=[self.name(key)], include=["TAGS"])
        return described["services"][0]

    @staticmethod
    def primary(service: dict[str, Any]) -> dict[str, Any]:
        return next(d for d in service["deployments"] if d["status"] == "PRIMARY")

    @staticmethod
    def tag(service: dict[str, Any], key: str) -> str | None:
        return next((t["value"] for t in service.get("tags") or [] if t["key"] == key), None)

    def revisions(self, family: str, status: str = "ACTIVE") -> list[str]:
        arns = self.client.list_task_definitions(familyPrefix=family, status=status)["taskDefinitionArns"]
        return sorted((a for a in arns if a.rsplit("/", 1)[1].rpartition(":")[0] == family), key=revision)

    def all_revisions(self, family: str) -> list[str]:
        return sorted(self.revisions(family) + self.revisions(family, "INACTIVE"), key=revision)

    def task_definition(self, arn: str) -> dict[str, Any]:
        return self.client.describe_task_definition(taskDefinition=arn)["taskDefinition"]

    def steady(self, key: str) -> dict[str, Any]:
        """Wait for one COMPLETED deployment that runs every desired task; return the service."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            service = self.service(key)
            primary = self.primary(service)
            if (
                len(service["deployments"]) == 1
                and primary["rolloutState"] == "COMPLETED"
                and primary["runningCount"] == primary["desiredCount"]
            ):
                return service
            assert time.monotonic() < deadline, f"{key} not steady: {service['deployments']}"
            time.sleep(0.3)

    def register_copy(self, key: str, change) -> str:
        """Register a copy of the family's latest revision with `change(params)` applied (an
        application pipeline pushing a revision); return its ARN."""
        response = self.client.describe_task_definition(taskDefinition=self.family(key), include=["TAGS"])
        accepted = self.client.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
        params = {k: copy.deepcopy(v) for k, v in response["taskDefinition"].items() if k in accepted and v}
        if response.get("tags"):
            params["tags"] = response["tags"]
        change(params)
        return self.client.register_task_definition(**params)["taskDefinition"]["taskDefinitionArn"]


@dataclass(frozen=True)
class Snapshot:
    task_definitions: dict[str, str]  # service key -> the revision it runs
    previous_tags: dict[str, str | None]
    deployments: dict[str, str]  # service key -> PRIMARY deployment id
    revisions: dict[str, list[str]]  # family -> every revision, ACTIVE and INACTIVE


def snapshot(ecs: Ecs) -> Snapshot:
    services = {key: ecs.service(key) for key in ecs.layout["services"]}
    return Snapshot(
        task_definitions={key: s["taskDefinition"] for key, s in services.items()},
        previous_tags={key: ecs.tag(s, PREVIOUS_TAG) for key, s in services.items()},
        deployments={key: ecs.primary(s)["id"] for key, s in services.items()},
        revisions={family: ecs.all_revisions(family) for family in ecs.families},
    )


def restore(ecs: Ecs, before: Snapshot) -> None:
    for key, task_definition in before.task_definitions.items():
        service = ecs.service(key)
        primary = ecs.primary(service)
        settled = len(service["deployments"]) == 1 and primary["rolloutState"] == "COMPLETED"
        if service["taskDefinition"] != task_definition or not settled:
            ecs.client.update_service(
                cluster=ecs.cluster, service=ecs.name(key), taskDefinition=task_definition, forceNewDeployment=True
            )
            ecs.steady(key)
        tag = ecs.tag(ecs.service(key), PREVIOUS_TAG)
        if tag != before.previous_tags[key]:
            if before.previous_tags[key] is None:
                ecs.client.untag_resource(resourceArn=service["serviceArn"], tagKeys=[PREVIOUS_TAG])
            else:
                ecs.client.tag_resource(
                    resourceArn=service["serviceArn"], tags=[{"key": PREVIOUS_TAG, "value": before.previous_tags[key]}]
                )
    for family, known in before.revisions.items():
        for arn in set(ecs.revisions(family)) - set(known):
            ecs.client.deregister_task_definition(taskDefinition=arn)
