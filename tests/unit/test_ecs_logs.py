"""`inv logs` (stackops.ecs.logs): --since, stream names, the line format, the reader's pagination
and de-duplication (a scripted client), and show_logs against moto's in-process CloudWatch Logs."""

from __future__ import annotations

import io
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from stackops.ecs.layout import EcsLayout, MigrateRef, ServiceRef
from stackops.ecs.logs import (
    FOLLOW_OVERLAP_MS,
    LogReader,
    awslogs_target,
    format_event,
    parse_since,
    show_logs,
    task_id_of,
)
from stackops.errors import OpsError

REGION = "eu-west-2"
GROUP = "/ecs/exii-test"


# -- small pieces -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400),
                                               (" 5m ", 300), (None, 900)])  # fmt: skip
def test_since_takes_a_number_and_a_unit(text, seconds):
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["15", "m", "-1m", "1.5h", "0m", "15 minutes", "", "2w", "15M"])
def test_a_malformed_since_names_the_flag_and_the_forms(text):
    with pytest.raises(OpsError, match=r"--since takes a whole number and a unit .*30s, 15m, 2h, 1d") as caught:
        parse_since(text)
    assert repr(text) in str(caught.value)


def test_the_task_id_is_the_last_part_of_the_stream_name():
    assert task_id_of("django/django/0f3c9a") == "0f3c9a"
    assert task_id_of("a/b/web/0f3c9a") == "0f3c9a"  # a prefix may hold slashes itself
    assert task_id_of("0f3c9a") == "0f3c9a"  # awslogs without a prefix


def test_a_line_has_the_utc_time_the_task_id_and_the_message():
    event = {"timestamp": 1_764_620_223_412, "logStreamName": "django/django/abc123", "message": "ready\n"}
    assert format_event(event) == "2025-12-01 20:17:03.412Z  abc123  ready"


def test_the_awslogs_target_comes_from_the_container_options():
    container = {"name": "django", "logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-group": GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": "django"}}}  # fmt: skip
    target = awslogs_target(container)
    assert target is not None
    assert (target.group, target.region, target.stream_prefix) == (GROUP, REGION, "django/django/")
    assert target.stream("t1") == "django/django/t1"
    assert awslogs_target({"name": "x", "logConfiguration": {"logDriver": "json-file"}}) is None


# -- the reader, with a scripted client ---------------------------------------------------------------
class Pages:
    """filter_log_events answering scripted pages, recording each request."""

    def __init__(self, *pages: dict[str, Any]) -> None:
        self.pages = list(pages)
        self.requests: list[dict[str, Any]] = []

    def filter_log_events(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return self.pages.pop(0) if self.pages else {"events": []}


def event(eid: str, ts: int, stream: str = "django/django/t1", message: str = "") -> dict[str, Any]:
    return {"eventId": eid, "timestamp": ts, "ingestionTime": ts, "logStreamName": stream, "message": message or eid}


def test_every_page_is_read_even_an_empty_one_with_a_token():
    pages = Pages(
        {"events": [event("b", 2000)], "nextToken": "t1"},
        {"events": [], "nextToken": "t2"},  # AWS may answer no events while there are more
        {"events": [event("a", 1000)]},
    )
    reader = LogReader(pages, GROUP, stream_prefix="django/django/", start_ms=0, pattern="ERROR")
    assert [e["eventId"] for e in reader.fetch()] == ["a", "b"]  # sorted across pages
    assert [r.get("nextToken") for r in pages.requests] == [None, "t1", "t2"]
    first = pages.requests[0]
    assert first["logStreamNamePrefix"] == "django/django/" and "logStreamNames" not in first  # never both
    assert first["filterPattern"] == "ERROR" and first["startTime"] == 0


def test_a_token_repeated_ends_the_read():
    pages = Pages({"events": [event("a", 1)], "nextToken": "same"}, {"events": [], "nextToken": "same"})
    assert len(LogReader(pages, GROUP, start_ms=0).fetch()) == 1
    assert len(pages.requests) == 2


def test_streams_outside_the_prefix_are_dropped_as_moto_ignores_it():
    pages = Pages({"events": [event("a", 1), event("b", 2, stream="concept/concept/t2")]})
    assert [e["eventId"] for e in LogReader(pages, GROUP, stream_prefix="django/django/").fetch()] == ["a"]


def test_a_follow_rereads_an_overlap_and_prints_each_event_once():
    newest = 100_000
    pages = Pages(
        {"events": [event("a", newest - 1), event("b", newest)]},
        {"events": [event("b", newest), event("c", newest + 5)]},  # b again: inside the overlap
        {"events": [event("c", newest + 5)]},
    )
    reader = LogReader(pages, GROUP, stream_prefix="django/django/", start_ms=0)
    assert [e["eventId"] for e in reader.fetch()] == ["a", "b"]
    assert pages.requests[-1]["startTime"] == 0
    assert [e["eventId"] for e in reader.fetch()] == ["c"]
    assert pages.requests[-1]["startTime"] == newest - FOLLOW_OVERLAP_MS
    assert reader.fetch() == []
    assert set(reader.seen) == {"a", "b", "c"}  # all still inside the window
    assert reader.returned == 3


def test_a_missing_group_is_noted_not_raised():
    class Missing:
        def filter_log_events(self, **request: Any) -> Any:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "FilterLogEvents")

    reader = LogReader(Missing(), GROUP)
    assert reader.fetch() == [] and reader.not_found


# -- show_logs on moto ----------------------------------------------------------------------------------
def _container(name: str) -> dict[str, Any]:
    return {
        "name": name, "image": f"repo/{name}:1", "memory": 256, "essential": True,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": GROUP, "awslogs-region": REGION, "awslogs-stream-prefix": name}},
    }  # fmt: skip


LAYOUT = EcsLayout(
    env="test",
    cluster="exii-test",
    services={key: ServiceRef(key, f"exii-test-{key}", f"exii-test-{key}", key) for key in ("concept", "django")},
    migrate=MigrateRef("exii-test-migrate", "migrate", "django"),
    log_group=GROUP,
)


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        ecs = session.client("ecs")
        for key in ("concept", "django", "migrate"):
            ecs.register_task_definition(family=f"exii-test-{key}", containerDefinitions=[_container(key)])
        logs = session.client("logs")
        logs.create_log_group(logGroupName=GROUP)
        yield session, logs


def put(logs: Any, stream: str, *messages: str, at: float | None = None) -> None:
    if stream not in {s["logStreamName"] for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]}:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    millis = int((at or time.time()) * 1000)
    batch = [{"timestamp": millis + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=batch)


def lines(out: io.StringIO) -> list[tuple[str, str]]:
    """(task id, message) of each printed line."""
    return [tuple(line.split("  ", 2)[1:]) for line in out.getvalue().splitlines()]  # type: ignore[misc]


def test_a_services_events_newest_last_with_their_task_ids(aws):
    session, logs = aws
    now = time.time()
    put(logs, "django/django/t2", "second", at=now - 60)
    put(logs, "django/django/t1", "first", at=now - 120)
    put(logs, "django/django/t1", "third", at=now - 30)
    put(logs, "concept/concept/t3", "not django", at=now - 40)
    put(logs, "django/django/t1", "too old", at=now - 3600)
    out = io.StringIO()
    assert show_logs(session, LAYOUT, "django", since_seconds=900, out=out) == 3
    assert lines(out) == [("t1", "first"), ("t2", "second"), ("t1", "third")]


def test_one_task_a_filter_pattern_and_the_migration(aws):
    session, logs = aws
    put(logs, "django/django/t1", "GET / 200", "ERROR boom")
    put(logs, "django/django/t2", "ERROR other task")
    put(logs, "migrate/migrate/m1", "Applying app.0001_initial... OK", "exit 0")
    out = io.StringIO()
    show_logs(session, LAYOUT, "django", since_seconds=60, task="t1", out=out)
    assert lines(out) == [("t1", "GET / 200"), ("t1", "ERROR boom")]
    out = io.StringIO()
    show_logs(session, LAYOUT, "django", since_seconds=60, pattern="ERROR", out=out)
    assert [m for _, m in lines(out)] == ["ERROR boom", "ERROR other task"]
    out = io.StringIO()
    show_logs(session, LAYOUT, "migrate", since_seconds=60, out=out)
    assert lines(out) == [("m1", "Applying app.0001_initial... OK"), ("m1", "exit 0")]


def test_follow_prints_new_events_once_and_ends_cleanly_on_ctrl_c(aws):
    session, logs = aws
    put(logs, "django/django/t1", "started")
    polls = 0

    def sleep(_: float) -> None:
        nonlocal polls
        polls += 1
        if polls == 1:
            put(logs, "django/django/t1", "health check")
        if polls == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    printed = show_logs(session, LAYOUT, "django", since_seconds=60, follow=True, out=out, sleep=sleep)
    assert printed == 2
    assert [m for _, m in lines(out)] == ["started", "health check"]


def test_an_unknown_service_lists_the_known_ones(aws):
    session, _ = aws
    with pytest.raises(OpsError, match=r"unknown service 'web' in env test: known are concept, django, migrate"):
        show_logs(session, LAYOUT, "web", since_seconds=60, out=io.StringIO())
    with pytest.raises(OpsError, match=r"--service is required: one of concept, django, migrate"):
        show_logs(session, LAYOUT, None, since_seconds=60, out=io.StringIO())


def test_a_missing_log_group_says_to_apply(aws):
    session, logs = aws
    logs.delete_log_group(logGroupName=GROUP)
    with pytest.raises(OpsError, match=r"log group /ecs/exii-test does not exist: run inv apply --env test"):
        show_logs(session, LAYOUT, "django", since_seconds=60, out=io.StringIO())


def test_an_environment_not_applied_yet_says_to_apply():
    with pytest.raises(OpsError, match=r"run inv apply --env dev"):
        EcsLayout.from_state({"outputs": {}}, env="dev")


def test_a_closed_pipe_ends_quietly(aws):
    session, logs = aws
    put(logs, "django/django/t1", "one", "two")

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    assert show_logs(session, LAYOUT, "django", since_seconds=60, out=ClosedPipe()) == 0
