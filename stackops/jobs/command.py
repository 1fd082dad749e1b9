"""`inv job.run` and `inv job.list`: the scheduled jobs as Terraform's output `jobs` describes them.

`job.run` runs a job's latest ACTIVE revision once on the batch cluster with the job's own network
configuration, exactly as the schedule would, and judges it like `inv migrate` (stackops/ecs/one_off.py).
`job.list` shows each job's schedule, its state, its next run (computed from the expression and
time zone the schedule holds: stackops/jobs/schedule.py) and its last run, read from the family's
tasks that ECS still knows and from the newest log stream of the job's prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from rich.markup import escape

from stackops.ecs.one_off import OneOff, run_one_off
from stackops.ecs.results import MigrationResult
from stackops.ecs.rollouts import POLL_SECONDS
from stackops.ecs.task_definitions import latest_arn
from stackops.errors import OpsError, aws_errors, session_profiles
from stackops.jobs.schedule import ScheduleError, next_run, parse, timezone
from stackops.status.render import when
from stackops.ui import Table, out

STARTED_BY_PREFIX = "stackops-job-"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class JobRef:
    name: str
    family: str
    container: str
    log_prefix: str
    schedule: str
    expression: str
    timezone: str
    dead_letter_queue: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]

    @property
    def network(self) -> dict[str, Any]:
        """RunTask's networkConfiguration: the schedule's own (private subnets, no public IP)."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.subnets),
                "securityGroups": list(self.security_groups),
                "assignPublicIp": "DISABLED",
            }
        }


@dataclass(frozen=True)
class JobsLayout:
    env: str
    cluster: str
    log_group: str
    jobs: dict[str, JobRef]

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], *, env: str) -> JobsLayout:
        raw = outputs.get("jobs")
        raw = raw.get("value") if isinstance(raw, Mapping) and "value" in raw else raw
        if not isinstance(raw, Mapping) or not raw.get("cluster"):
            raise OpsError(f"no Terraform output jobs for env {env}: run inv apply --env {env} first")
        jobs = {
            name: JobRef(
                name=name,
                family=job["family"],
                container=job["container"],
                log_prefix=job["log_prefix"],
                schedule=job["schedule"],
                expression=job["expression"],
                timezone=job["timezone"],
                dead_letter_queue=job["dead_letter_queue"],
                subnets=tuple(job["network"]["subnets"]),
                security_groups=tuple(job["network"]["security_groups"]),
            )
            for name, job in sorted((raw.get("jobs") or {}).items())
        }
        return cls(env, str(raw["cluster"]), str(raw["log_group"]), jobs)

    def job(self, name: str) -> JobRef:
        """A job by name; OpsError listing the known ones."""
        if name in self.jobs:
            return self.jobs[name]
        known = ", ".join(self.jobs) or "none"
        raise OpsError(f"unknown job {name!r} in env {self.env}: known jobs are {known} (jobs.yaml)")


def run_job(
    session: boto3.Session,
    layout: JobsLayout,
    name: str,
    *,
    command: Sequence[str] | str | None = None,
    timeout: float = 600,
    poll: float = POLL_SECONDS,
) -> MigrationResult:
    """Run the job's latest ACTIVE revision once; `ok` only when every essential container exited 0."""
    job = layout.job(name)
    ecs = session.client("ecs")
    task = OneOff(label=f"job {job.name}", noun=f"task of job {job.name}", cluster=layout.cluster,
                  container=job.container, started_by=STARTED_BY_PREFIX + job.name)  # fmt: skip
    with aws_errors(f"running job {job.name}", profiles=session_profiles(session)):
        return run_one_off(session, ecs, task, latest_arn(ecs, job.family), job.network, command, timeout, poll)


@dataclass(frozen=True)
class JobStatus:
    name: str
    expression: str
    timezone: str
    state: str  # ENABLED | DISABLED (get_schedule), or "missing"
    next_run: str | None  # ISO, UTC
    last_run: str | None  # ISO, UTC
    last_result: str  # "exit 0", "running", "started (log stream)", or "unknown"
    dead_letter_queue: str


def list_jobs(session: boto3.Session, layout: JobsLayout, *, now: datetime | None = None) -> list[JobStatus]:
    now = now or datetime.now(UTC)
    scheduler, ecs, logs = session.client("scheduler"), session.client("ecs"), session.client("logs")
    rows = []
    with aws_errors("reading the jobs' schedules and runs", profiles=session_profiles(session)):
        for job in layout.jobs.values():
            try:
                schedule = scheduler.get_schedule(Name=job.schedule)
            except scheduler.exceptions.ResourceNotFoundException:
                schedule = None
            live = schedule or {}
            expression = live.get("ScheduleExpression") or job.expression
            zone = live.get("ScheduleExpressionTimezone") or job.timezone
            # A rate schedule counts from its start date, else from when it was created.
            start = live.get("StartDate") or live.get("CreationDate")
            last_run, last_result = _last_run(ecs, logs, layout, job)
            rows.append(
                JobStatus(
                    name=job.name,
                    expression=expression,
                    timezone=zone,
                    state=schedule.get("State", UNKNOWN) if schedule else "missing",
                    next_run=_next(expression, zone, now, start),
                    last_run=last_run,
                    last_result=last_result,
                    dead_letter_queue=job.dead_letter_queue,
                )
            )
    return rows


def _next(expression: str, zone: str, now: datetime, start: datetime | None) -> str | None:
    try:
        moment = next_run(parse(expression), timezone(zone), now, start=start)
    except ScheduleError:
        return None
    return moment.isoformat() if moment else None


def _last_run(ecs: Any, logs: Any, layout: JobsLayout, job: JobRef) -> tuple[str | None, str]:
    """The newest run ECS still knows of (it forgets stopped tasks after about an hour), else the
    newest log stream of the job's prefix (a run that logged); "unknown" when neither tells."""
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=layout.cluster, family=job.family, desiredStatus=status).get("taskArns", [])
    tasks = ecs.describe_tasks(cluster=layout.cluster, tasks=arns[:100]).get("tasks", []) if arns else []
    if tasks:
        newest = max(tasks, key=lambda t: t.get("createdAt") or datetime.min.replace(tzinfo=UTC))
        started = newest.get("startedAt") or newest.get("createdAt")
        codes = [c.get("exitCode") for c in newest.get("containers", []) if c.get("name") == job.container]
        if newest.get("lastStatus") != "STOPPED":
            result = newest.get("lastStatus", "running").lower()
        else:
            result = f"exit {codes[0]}" if codes and codes[0] is not None else newest.get("stoppedReason") or "stopped"
        return (started.astimezone(UTC).isoformat() if started else None), result
    # With a name prefix, DescribeLogStreams cannot order by event time: all of the job's streams.
    pages = logs.get_paginator("describe_log_streams").paginate(
        logGroupName=layout.log_group, logStreamNamePrefix=f"{job.log_prefix}/"
    )
    streams = [stream for page in pages for stream in page.get("logStreams", [])]
    newest_stream = max(streams, key=lambda s: s.get("lastEventTimestamp") or s.get("creationTime") or 0, default=None)
    if newest_stream is None:
        return None, UNKNOWN
    millis = newest_stream.get("firstEventTimestamp") or newest_stream.get("creationTime")
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(), "ran (log stream; exit code no longer known)"


def print_jobs(rows: Sequence[JobStatus], *, as_json: bool = False, now: datetime | None = None) -> None:
    if as_json:
        print(json.dumps([asdict(row) for row in rows], indent=2, sort_keys=True))
        return
    now = now or datetime.now(UTC)
    table = Table(title="Scheduled jobs", title_justify="left")
    for column in ("Job", "Schedule", "State", "Next run", "Last run", "Dead-letter queue"):
        table.add_column(column)
    for row in rows:
        last = f"{when(row.last_run, now, never=UNKNOWN)}, {row.last_result}" if row.last_run else row.last_result
        table.add_row(
            escape(row.name),
            escape(f"{row.expression} ({row.timezone})"),
            escape(row.state),
            escape(when(row.next_run, now, never="none")),
            escape(last),
            escape(row.dead_letter_queue),
        )
    out.print(table)
