"""CloudWatch Logs of the stack's tasks: where a container logs (its awslogs options), one reader of
a log group's events, and `inv logs`.

The awslogs driver names a Fargate task's stream `<awslogs-stream-prefix>/<container>/<task id>`,
so a service's streams share the prefix `<prefix>/<container>/` and the task id is the last part.
`inv migrate` tails its task's stream with the same reader (`LogReader`).

FilterLogEvents, as AWS documents it
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html,
https://docs.aws.amazon.com/boto3/latest/reference/services/logs/paginator/FilterLogEvents.html):
- a page holds at most 1 MB or 10,000 events and may hold none while `nextToken` says there is
  more: the reader follows `nextToken` until it is absent, whatever a page holds;
- `interleaved` is ignored since 2019: events of several streams always come interleaved, sorted
  by timestamp, ingestion time and PutLogEvents request; the reader sorts again by
  (timestamp, ingestion time) as the pages of one call may each be sorted only within themselves;
- `logStreamNames` and `logStreamNamePrefix` together are refused (InvalidParameterException):
  one or the other is sent;
- events arrive late (the agent batches them), so a follow re-reads FOLLOW_OVERLAP_MS before the
  newest event it has seen and drops what it printed already, by `eventId`.
moto 5.2.5 ignores `logStreamNamePrefix` (it searches every stream of the group): the reader also
keeps only the streams under the prefix itself, which changes nothing against AWS.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import boto3
from botocore.exceptions import ClientError

from stackops.ecs.layout import EcsLayout
from stackops.ecs.task_definitions import find_container
from stackops.errors import OpsError, aws_errors, session_profiles
from stackops.ui import err

MIGRATE = "migrate"  # what --service takes for the one-off migration task
DEFAULT_SINCE = "15m"
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FOLLOW_SECONDS = 2.0
FOLLOW_OVERLAP_MS = 10_000
_SINCE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


def parse_since(text: str | None) -> int:
    """`--since` (30s, 15m, 2h, 1d) in seconds; OpsError naming the flag when malformed."""
    if text is None:
        text = DEFAULT_SINCE
    match = _SINCE.match(str(text))
    if not match or int(match[1]) == 0:
        raise OpsError(f"--since takes a whole number and a unit s, m, h or d (30s, 15m, 2h, 1d), not {text!r}")
    return int(match[1]) * SINCE_UNITS[match[2]]


@dataclass(frozen=True)
class LogTarget:
    """Where a container's awslogs driver writes: the group, its region, the stream names."""

    group: str
    region: str | None
    prefix: str | None
    container: str

    def stream(self, task_id: str) -> str:
        return f"{self.stream_prefix}{task_id}"

    @property
    def stream_prefix(self) -> str:
        # without a prefix awslogs names the stream by the task id alone (no shared prefix to filter on)
        return f"{self.prefix}/{self.container}/" if self.prefix else ""


def awslogs_target(container: Mapping[str, Any]) -> LogTarget | None:
    """The container's CloudWatch Logs destination, or None when it does not log with awslogs."""
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return None
    return LogTarget(
        group=options["awslogs-group"],
        region=options.get("awslogs-region") or None,
        prefix=options.get("awslogs-stream-prefix") or None,
        container=str(container["name"]),
    )


def task_id_of(stream: str) -> str:
    """The task id in a stream name `<prefix>/<container>/<task id>` (or a bare task id)."""
    return stream.rsplit("/", 1)[-1]


def format_event(event: Mapping[str, Any]) -> str:
    """One event as a line: its time (UTC, milliseconds), the task id, the message."""
    when = datetime.fromtimestamp(int(event["timestamp"]) / 1000, tz=UTC)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    message = str(event.get("message", "")).rstrip("\n")
    return f"{stamp}  {task_id_of(str(event.get('logStreamName', '')))}  {message}"


class LogReader:
    """The events of a log group not returned before: of one stream, or of the streams under a prefix.

    Each `fetch()` reads every page of filter_log_events from the start time on; afterwards the start
    moves to FOLLOW_OVERLAP_MS before the newest event seen, and the events already returned are
    dropped by their eventId (remembered only while they can come back).
    """

    def __init__(
        self,
        logs: Any,
        group: str,
        *,
        stream: str | None = None,
        stream_prefix: str | None = None,
        start_ms: int | None = None,
        pattern: str | None = None,
    ) -> None:
        self.logs, self.group = logs, group
        self.stream, self.stream_prefix = stream, stream_prefix
        self.start_ms, self.pattern = start_ms, pattern
        self.seen: dict[str, int] = {}  # eventId -> timestamp
        self.not_found = False  # the group (or, on AWS, the one stream asked for) does not exist yet
        self.returned = 0

    def _request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"logGroupName": self.group}
        if self.stream:
            request["logStreamNames"] = [self.stream]
        elif self.stream_prefix:
            request["logStreamNamePrefix"] = self.stream_prefix
        if self.start_ms is not None:
            request["startTime"] = self.start_ms
        if self.pattern:
            request["filterPattern"] = self.pattern
        return request

    def _wanted(self, event: Mapping[str, Any]) -> bool:
        name = str(event.get("logStreamName", ""))
        if self.stream:
            return name == self.stream
        return name.startswith(self.stream_prefix or "")  # moto ignores logStreamNamePrefix

    def fetch(self) -> list[dict[str, Any]]:
        request = self._request()
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            try:
                page = self.logs.filter_log_events(**request, **({"nextToken": token} if token else {}))
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    self.not_found = True
                    return []
                raise
            self.not_found = False
            events += [e for e in page.get("events", []) if self._wanted(e) and e.get("eventId") not in self.seen]
            next_token = page.get("nextToken")
            if not next_token or next_token == token:  # the same token again: nothing more will come
                break
            token = next_token
        events.sort(key=lambda e: (int(e.get("timestamp", 0)), int(e.get("ingestionTime", 0))))
        self.returned += len(events)
        for event in events:
            self.seen[str(event.get("eventId"))] = int(event.get("timestamp", 0))
        if self.seen:
            self.start_ms = max(self.start_ms or 0, max(self.seen.values()) - FOLLOW_OVERLAP_MS)
            self.seen = {k: ts for k, ts in self.seen.items() if ts >= self.start_ms}
        return events


@dataclass(frozen=True)
class LogSource:
    """What `inv logs --service S` reads: the task definition family and container of S, where it logs."""

    name: str
    family: str
    target: LogTarget


def log_source(ecs: Any, layout: EcsLayout, service: str | None) -> LogSource:
    """The family, container and awslogs target of a service (by key or ECS name) or of `migrate`."""
    known = [*sorted(layout.services), *([MIGRATE] if layout.migrate else [])]
    if not service:
        raise OpsError(f"--service is required: one of {', '.join(known)}")
    if service == MIGRATE and layout.migrate:
        family, container_name = layout.migrate.family, layout.migrate.container
    else:
        ref = next((r for r in layout.services.values() if service in (r.key, r.name)), None)
        if ref is None:
            raise OpsError(f"unknown service {service!r} in env {layout.env}: known are {', '.join(known)}")
        family, container_name = ref.family, ref.container
    # the family's latest ACTIVE revision: the logging options of the revisions a service runs
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    container = find_container(td, container_name)
    target = awslogs_target(container)
    if target is None:
        raise OpsError(f"container {container_name} of {family} does not log to CloudWatch (no awslogs driver)")
    return LogSource(service, family, target)


def show_logs(
    session: boto3.Session,
    layout: EcsLayout,
    service: str | None,
    *,
    since_seconds: int,
    follow: bool = False,
    pattern: str | None = None,
    task: str | None = None,
    poll: float = FOLLOW_SECONDS,
    out: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the events of a service's (or the migration's) tasks, newest last; with `follow`, keep
    polling every `poll` seconds until Ctrl-C, which ends it with 0. Returns the number printed."""
    stream = out or sys.stdout
    profiles = session_profiles(session)
    with aws_errors("reading the task definition's logging options", profiles=profiles):
        source = log_source(session.client("ecs"), layout, service)
    target = source.target
    logs = session.client("logs", region_name=target.region or session.region_name)
    reader = LogReader(
        logs,
        target.group,
        stream_prefix=f"{target.stream_prefix}{task or ''}" or None,  # a task id, or the start of one
        start_ms=int((clock() - since_seconds) * 1000),
        pattern=pattern,
    )
    where = f"{target.group}, streams {reader.stream_prefix or ''}*"
    err.print(f"logs of {source.name}: {where}, since {_ago(since_seconds)} (times in UTC)", markup=False)
    printed = 0

    def drain() -> None:
        nonlocal printed
        with aws_errors(f"reading the log group {target.group}", profiles=profiles):
            events = reader.fetch()
        for event in events:
            stream.write(format_event(event) + "\n")
        stream.flush()
        printed += len(events)

    def check_group() -> None:
        if reader.not_found:
            raise OpsError(f"log group {target.group} does not exist: run inv apply --env {layout.env}")

    try:
        if not follow:
            drain()
            check_group()
            if not printed:
                err.print(f"no log events since {_ago(since_seconds)}: try a longer --since", markup=False)
            return printed
        try:
            drain()
            check_group()
            err.print("following: new events every few seconds; Ctrl-C stops", markup=False)
            while True:
                sleep(poll)
                drain()
        except KeyboardInterrupt:  # how a follow is meant to end: not an interrupted operation
            err.print("stopped following", markup=False)
    except BrokenPipeError:  # `inv logs ... | head`: the reader has all it wanted
        _silence(stream)
    return printed


def _silence(stream: TextIO) -> None:
    """Point a closed pipe's file descriptor at /dev/null, so that the flush at exit is not an error."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())


def _ago(seconds: int) -> str:
    for unit, size in sorted(SINCE_UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def stream_lines(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The messages of events, without their trailing newline (what `inv migrate` shows and keeps)."""
    return [str(e.get("message", "")).rstrip("\n") for e in events]
