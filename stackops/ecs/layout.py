"""The layout: the Terraform output `ecs`, read into the cluster, its services and the migrate task,
plus the task definition revision Terraform's state tracks for each family."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackops.ecs.task_definitions import td_name
from stackops.errors import OpsError


@dataclass(frozen=True)
class ServiceRef:
    key: str  # the name users type: concept, django
    name: str  # the ECS service name
    family: str
    container: str


@dataclass(frozen=True)
class MigrateRef:
    family: str
    container: str
    network_from: str  # key (or ECS name) of the service whose network configuration the task uses
    image_from: str | None = None  # key of the service whose image the task runs (it follows it)


@dataclass(frozen=True)
class Follower:
    """A one-off task definition that runs the image a service runs: the migration task, and the
    scheduled jobs on the backend image (the `jobs` output's image_from)."""

    label: str  # what progress lines call it: migrate, job clearsessions
    family: str
    container: str
    image_from: str  # key of the service whose image it runs


@dataclass(frozen=True)
class EcsLayout:
    """What Terraform created, as read from its `ecs` output."""

    env: str
    cluster: str
    services: dict[str, ServiceRef]
    migrate: MigrateRef | None = None
    log_group: str | None = None
    # family -> the ARN Terraform's state holds (track_latest: the latest ACTIVE at its last refresh)
    terraform_revisions: dict[str, str] = field(default_factory=dict)
    # the scheduled jobs that follow a service's image (the root output `jobs`)
    jobs: tuple[Follower, ...] = ()

    @property
    def followers(self) -> tuple[Follower, ...]:
        """Every one-off family that follows a service's image: the migration task first."""
        m = self.migrate
        first = (Follower("migrate", m.family, m.container, m.image_from),) if m and m.image_from else ()
        return first + self.jobs

    @property
    def one_off_families(self) -> list[str]:
        """The families run as one-off tasks: the migration task's and the jobs' that follow a service."""
        return ([self.migrate.family] if self.migrate else []) + [job.family for job in self.jobs]

    @classmethod
    def from_output(cls, output: Mapping[str, Any] | None, *, env: str | None = None) -> EcsLayout:
        """Build from `terraform output -json` (whole, or just the `ecs` value) of env `env`."""
        env = env or "ENV"
        ecs = _unwrap(output.get("ecs")) if output and "ecs" in output else _unwrap(output)
        if not isinstance(ecs, Mapping) or not ecs.get("cluster"):
            raise OpsError(f"no ECS cluster in Terraform outputs for env {env}: run inv apply --env {env} first")

        def need(mapping: Any, key: str, where: str) -> str:
            value = mapping.get(key) if isinstance(mapping, Mapping) else None
            if not isinstance(value, str) or not value:
                raise OpsError(f"Terraform output ecs.{where}{key} is missing for env {env}: run inv apply --env {env}")
            return value

        raw_services = ecs.get("services") or {}
        if not isinstance(raw_services, Mapping) or not raw_services:
            raise OpsError(f"Terraform output ecs.services is empty for env {env}: run inv apply --env {env}")
        services = {
            key: ServiceRef(
                key=key,
                name=need(raw, "name", f"services.{key}."),
                family=need(raw, "family", f"services.{key}."),
                container=need(raw, "container", f"services.{key}."),
            )
            for key, raw in raw_services.items()
        }
        raw_migrate = ecs.get("migrate")
        migrate = None
        if raw_migrate:
            migrate = MigrateRef(
                family=need(raw_migrate, "family", "migrate."),
                container=need(raw_migrate, "container", "migrate."),
                network_from=need(raw_migrate, "network_from", "migrate."),
                image_from=raw_migrate.get("image_from") or None,
            )
        jobs = _job_followers(output.get("jobs") if output and "ecs" in output else None)
        return cls(env, str(ecs["cluster"]), services, migrate, ecs.get("log_group") or None, jobs=jobs)

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, *, env: str | None = None) -> EcsLayout:
        """Build from the state itself (`terraform state pull`, format version 4): its outputs
        and the ARN of each task definition. (Much quicker than `show -json`, which loads the
        provider's schema.)"""
        state = state or {}
        layout = cls.from_output(state.get("outputs"), env=env)
        tracked = {
            instance["attributes"]["family"]: instance["attributes"]["arn"]
            for resource in state.get("resources") or []
            if resource.get("type") == "aws_ecs_task_definition" and resource.get("mode") == "managed"
            for instance in resource.get("instances") or []
            if (instance.get("attributes") or {}).get("arn")
        }
        return dataclasses.replace(layout, terraform_revisions=tracked)

    def tracked(self, family: str) -> set[str]:
        """`{family:revision}` of the revision Terraform's state tracks, for pruning to spare."""
        arn = self.terraform_revisions.get(family)
        return {td_name(arn)} if arn else set()

    def service(self, name: str) -> ServiceRef:
        """A service by its key (concept) or its ECS name; OpsError listing the known ones."""
        if name in self.services:
            return self.services[name]
        for ref in self.services.values():
            if ref.name == name:
                return ref
        known = ", ".join(sorted(self.services))
        raise OpsError(f"unknown service {name!r} in env {self.env}: known services are {known}")


def _job_followers(output: Any) -> tuple[Follower, ...]:
    """The jobs of the `jobs` output that run a service's image (the others have their own)."""
    jobs = (_unwrap(output) or {}).get("jobs") or {}
    return tuple(
        Follower(f"job {name}", job["family"], job["container"], job["image_from"])
        for name, job in sorted(jobs.items())
        if job.get("image_from")
    )


def _unwrap(value: Any) -> Any:
    # `terraform output -json` wraps each output as {"value": ..., "type": ..., "sensitive": ...}
    if isinstance(value, Mapping) and "value" in value and ("type" in value or "sensitive" in value):
        return value["value"]
    return value
