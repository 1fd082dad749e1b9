"""The jobs catalogue, `jobs.yaml`: the scheduled jobs on the batch cluster.

Read here (validated, job by job, with one-line errors naming the job and the field) before any
plan of the stack (stackops/stack.py, `stack_variables`), and by Terraform (`yamldecode` in
jobs.tf), which creates each job's task definition, schedule, roles and dead-letter queue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackops.app_secrets.catalogue import load_catalogue
from stackops.environments import Environment, read_hcl, read_yaml
from stackops.errors import OpsError
from stackops.jobs.schedule import ScheduleError, parse, timezone

CATALOGUE_FILE = "jobs.yaml"
BACKEND_IMAGE = "backend"  # the image the backend service (django) runs, followed like migrate's
BATCH_PREFIX = "batch:"  # batch:<repository>, one of var.batch_repositories
# A job's name goes into its family, schedule, queue, security group and roles
# (<project>-<stage>-job-<name>-scheduler must stay within IAM's 64 characters).
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
NAME_MAX = 24
_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
REQUIRED = ("name", "description", "schedule", "command", "image", "cpu", "memory")
OPTIONAL = ("timezone", "secrets")
# Fargate's CPU units -> the memory sizes (MiB) it takes with them (ECS developer guide, task size).
FARGATE_MEMORY = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


@dataclass(frozen=True)
class JobSecret:
    secret: str  # the secrets catalogue's name
    variable: str  # the container environment variable it arrives in


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    schedule: str
    timezone: str | None
    command: tuple[str, ...]
    image: str  # "backend" or "batch:<repository>"
    cpu: int
    memory: int
    secrets: tuple[JobSecret, ...]


def load_jobs(path: Path, *, secrets: Iterable[str], batch_repositories: Iterable[str]) -> list[Job]:
    """Read and validate the catalogue; the first invalid job raises OpsError naming it and the field."""
    data = read_yaml(path)
    if not isinstance(data, dict) or set(data) != {"jobs"} or not isinstance(data["jobs"], list):
        raise OpsError(f"{path.name} must hold a list under the one key 'jobs'")
    known_secrets, repositories = frozenset(secrets), frozenset(batch_repositories)
    jobs: list[Job] = []
    for index, raw in enumerate(data["jobs"], start=1):
        job = _parse_job(raw, path.name, index, known_secrets, repositories)
        if any(j.name == job.name for j in jobs):
            raise OpsError(f"{path.name}: job {job.name}: name: used by another job")
        jobs.append(job)
    return jobs


def check_environment(env: Environment) -> list[Job]:
    """The catalogue of the environment's root, checked against its secrets catalogue and its
    batch repositories (the tfvars' `batch_repositories`, else the variable's default)."""
    secret_names = load_catalogue(env.root / "secrets.yaml").names
    return load_jobs(env.root / CATALOGUE_FILE, secrets=secret_names, batch_repositories=batch_repositories(env))


def batch_repositories(env: Environment) -> list[str]:
    configured = env.variables.get("batch_repositories")
    if configured is not None:
        return list(configured)
    for block in read_hcl(env.root / "initialize.tf").get("variable", []):
        if "batch_repositories" in block:
            return list(block["batch_repositories"].get("default") or [])
    raise OpsError(f"no variable batch_repositories in {env.root / 'initialize.tf'}")


def _parse_job(raw: Any, file: str, index: int, secrets: frozenset[str], repositories: frozenset[str]) -> Job:
    label = f"{file}: job {index}"
    if not isinstance(raw, dict):
        raise OpsError(f"{label}: expected a mapping with {', '.join(REQUIRED)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > NAME_MAX:
        raise OpsError(
            f"{label}: name: {name!r} is not lowercase letters, digits and single '-', starting with a letter,"
            f" at most {NAME_MAX} characters"
        )

    def fail(field: str, message: str) -> OpsError:
        return OpsError(f"{file}: job {name}: {field}: {message}")

    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise fail(unknown[0], f"unknown field (fields: {', '.join(REQUIRED + OPTIONAL)})")
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise fail(missing[0], "missing")
    description = raw["description"]
    if not isinstance(description, str) or not description.strip():
        raise fail("description", "must be a non-empty text")
    schedule, zone = raw["schedule"], raw.get("timezone")
    if not isinstance(schedule, str):
        raise fail("schedule", "must be a text: cron(...), rate(...) or at(...)")
    try:
        parse(schedule)
    except ScheduleError as exc:
        raise fail("schedule", str(exc)) from None
    if zone is not None:
        if not isinstance(zone, str):
            raise fail("timezone", "must be an IANA time zone name")
        try:
            timezone(zone)
        except ScheduleError as exc:
            raise fail("timezone", str(exc)) from None
    command = raw["command"]
    if not isinstance(command, list) or not command or not all(isinstance(w, str) and w for w in command):
        raise fail("command", "must be a non-empty list of words ([python, manage.py, clearsessions])")
    image = raw["image"]
    if image != BACKEND_IMAGE:
        repository = image[len(BATCH_PREFIX) :] if isinstance(image, str) and image.startswith(BATCH_PREFIX) else None
        if repository not in repositories:
            choices = ", ".join([BACKEND_IMAGE, *(BATCH_PREFIX + r for r in sorted(repositories))])
            raise fail("image", f"{image!r} is not one of {choices}")
    cpu, memory = raw["cpu"], raw["memory"]
    if not isinstance(cpu, int) or isinstance(cpu, bool) or cpu not in FARGATE_MEMORY:
        raise fail("cpu", f"{cpu!r} is not a Fargate CPU size ({', '.join(map(str, FARGATE_MEMORY))})")
    if not isinstance(memory, int) or isinstance(memory, bool) or memory not in FARGATE_MEMORY[cpu]:
        sizes = FARGATE_MEMORY[cpu]
        raise fail("memory", f"{memory!r} MiB does not go with cpu {cpu} on Fargate ({sizes[0]}-{sizes[-1]} MiB)")
    return Job(
        name=name,
        description=description.strip(),
        schedule=schedule,
        timezone=zone,
        command=tuple(command),
        image=image,
        cpu=cpu,
        memory=memory,
        secrets=_secrets(raw.get("secrets"), secrets, fail),
    )


def _secrets(raw: Any, known: frozenset[str], fail: Any) -> tuple[JobSecret, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail("secrets", "must be a list of {secret: NAME, variable: VARIABLE}")
    bindings: list[JobSecret] = []
    for entry in raw:
        if not isinstance(entry, dict) or set(entry) != {"secret", "variable"}:
            raise fail("secrets", f"{entry!r} is not {{secret: NAME, variable: VARIABLE}}")
        secret, variable = entry["secret"], entry["variable"]
        if secret not in known:
            raise fail("secrets", f"unknown secret {secret!r} (not in secrets.yaml)")
        if not isinstance(variable, str) or not _VARIABLE.match(variable):
            raise fail("secrets", f"variable {variable!r} is not an environment variable name (UPPER_CASE)")
        if any(b.variable == variable for b in bindings):
            raise fail("secrets", f"variable {variable} is given twice")
        bindings.append(JobSecret(secret, variable))
    return tuple(bindings)
