"""The scheduled jobs: the catalogue's validation (before any plan), AWS's schedule expressions and
their next run, the layout the tools read from Terraform's output, and the jobs that follow the
backend's image."""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from stackops import environments, stack
from stackops.ecs.layout import EcsLayout, Follower, MigrateRef, ServiceRef
from stackops.ecs.rollouts import _follow_image
from stackops.ecs.task_definitions import IMAGE_TAG, REGISTERED_BY_TAG, describe_td, latest_arn
from stackops.errors import OpsError
from stackops.jobs.catalogue import load_jobs
from stackops.jobs.command import JobsLayout, list_jobs
from stackops.jobs.schedule import ScheduleError, next_run, parse, timezone
from stackops.paths import ROOT

SECRETS = ("django-secret-key", "db-password")
REPOSITORIES = ("engine", "reports")
GOOD = {
    "name": "clearsessions",
    "description": "Deletes expired sessions",
    "schedule": "cron(30 3 * * ? *)",
    "command": ["python", "manage.py", "clearsessions"],
    "image": "backend",
    "cpu": 256,
    "memory": 512,
    "secrets": [{"secret": "db-password", "variable": "DATABASE_PASSWORD"}],
}


def write(tmp_path: Path, *jobs: dict[str, Any]) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": list(jobs)}))
    return path


def load(path: Path):
    return load_jobs(path, secrets=SECRETS, batch_repositories=REPOSITORIES)


def test_the_shipped_catalogue_is_valid_and_holds_clearsessions() -> None:
    jobs = load_jobs(ROOT / "jobs.yaml", secrets=SECRETS, batch_repositories=REPOSITORIES)
    job = next(j for j in jobs if j.name == "clearsessions")
    assert job.command == ("python", "manage.py", "clearsessions") and job.image == "backend"
    assert {s.secret for s in job.secrets} <= set(SECRETS)


def test_a_good_job_reads_whole(tmp_path) -> None:
    (job,) = load(write(tmp_path, {**GOOD, "timezone": "Europe/London", "image": "batch:engine"}))
    assert (job.name, job.timezone, job.image, job.cpu, job.memory) == (
        "clearsessions", "Europe/London", "batch:engine", 256, 512,
    )  # fmt: skip
    assert job.secrets[0].variable == "DATABASE_PASSWORD"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"shedule": "rate(1 day)"}, "shedule", "unknown field"),
        ({"schedule": "cron(30 3 * * *)"}, "schedule", "six"),
        ({"schedule": "cron(30 3 * * * *)"}, "schedule", "exactly one"),
        ({"schedule": "cron(61 3 * * ? *)"}, "schedule", "outside 0-59"),
        ({"schedule": "cron(0 3 ? * 8 *)"}, "schedule", "outside 1-7"),
        ({"schedule": "cron(0 3 ? * 3#1,6#3 *)"}, "schedule", "only one expression"),
        ({"schedule": "cron(0 3 L * MON *)"}, "schedule", "exactly one"),
        ({"schedule": "cron(0 3 ? * MON W *)"}, "schedule", "six"),
        ({"schedule": "cron(0/0 3 * * ? *)"}, "schedule", "increment"),
        ({"schedule": "rate(5 minute)"}, "schedule", "rate(5 minutes)"),
        ({"schedule": "rate(1 weeks)"}, "schedule", "unit"),
        ({"schedule": "rate(0 days)"}, "schedule", "positive"),
        ({"schedule": "at(2027-02-30T00:00:00)"}, "schedule", "day is out of range"),
        ({"schedule": "every day"}, "schedule", "not cron"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"secrets": [{"secret": "no-such-secret", "variable": "X"}]}, "secrets", "unknown secret"),
        ({"secrets": [{"secret": "db-password", "variable": "lower"}]}, "secrets", "environment variable"),
        ({"image": "batch:nope"}, "image", "not one of backend, batch:engine, batch:reports"),
        ({"image": "nginx:latest"}, "image", "not one of"),
        ({"cpu": 300}, "cpu", "Fargate CPU"),
        ({"memory": 4096}, "memory", "does not go with cpu 256"),
        ({"command": "python manage.py clearsessions"}, "command", "list of words"),
        ({"description": ""}, "description", "non-empty"),
    ],
)
def test_each_bad_field_is_refused_naming_the_job_and_the_field(tmp_path, change, field, words) -> None:
    with pytest.raises(OpsError) as caught:
        load(write(tmp_path, {**GOOD, **change}))
    message = str(caught.value)
    assert message.startswith(f"jobs.yaml: job clearsessions: {field}: "), message
    assert words in message and "\n" not in message


@pytest.mark.parametrize("name", ["Clear", "clear_sessions", "-x", "x--y", "a" * 25, 7])
def test_bad_names_are_refused(tmp_path, name) -> None:
    with pytest.raises(OpsError, match=r"jobs.yaml: job 1: name: "):
        load(write(tmp_path, {**GOOD, "name": name}))


def test_a_missing_field_and_a_duplicate_name_are_refused(tmp_path) -> None:
    without = {k: v for k, v in GOOD.items() if k != "memory"}
    with pytest.raises(OpsError, match="job clearsessions: memory: missing"):
        load(write(tmp_path, without))
    with pytest.raises(OpsError, match="job clearsessions: name: used by another job"):
        load(write(tmp_path, GOOD, GOOD))


def test_plan_refuses_a_bad_catalogue_before_any_terraform(tmp_path, monkeypatch) -> None:
    """`stack_variables` (what every plan of the stack is given) checks the environment root's
    catalogue first: a copy of the root with a bad schedule is refused, naming the job."""
    root = tmp_path / "root"
    shutil.copytree(ROOT / "environments", root / "environments")
    for path in [ROOT / "secrets.yaml", *ROOT.glob("*.tf")]:
        shutil.copy(path, root / path.name)
    write(root, {**GOOD, "schedule": "cron(0 25 * * ? *)"})
    env = environments.load("local", root=root)
    packaged: list[str] = []
    monkeypatch.setattr("stackops.certs.package.renewer_package", lambda e: packaged.append(e.name))
    with pytest.raises(OpsError, match=r"job clearsessions: schedule: hours field: '25' is outside 0-23"):
        stack.stack_variables(env)
    assert packaged == []  # refused before anything else is prepared


# -- expressions and their next run ---------------------------------------------------------------

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "zone", "expected"),
    [
        ("cron(30 3 * * ? *)", "UTC", "2026-12-02T03:30:00+00:00"),
        ("cron(0 0 * * ? *)", "UTC", "2026-12-03T00:00:00+00:00"),
        ("cron(0 18 ? * MON-FRI *)", "UTC", "2026-12-02T18:00:00+00:00"),
        ("cron(0 9 ? * SAT,SUN *)", "UTC", "2026-12-05T09:00:00+00:00"),
        ("cron(0 9 ? * 1 *)", "UTC", "2026-12-06T09:00:00+00:00"),  # 1 = Sunday
        ("cron(0 0 L * ? *)", "UTC", "2026-12-31T00:00:00+00:00"),
        ("cron(0 9 ? * 6L *)", "UTC", "2026-12-25T09:00:00+00:00"),  # the last Friday
        ("cron(0 9 ? * 3#2 *)", "UTC", "2026-12-08T09:00:00+00:00"),  # the second Tuesday
        ("cron(0 9 5W * ? *)", "UTC", "2026-12-04T09:00:00+00:00"),  # the 5th is a Saturday
        ("cron(0 9 6W * ? *)", "UTC", "2026-12-07T09:00:00+00:00"),  # the 6th is a Sunday
        ("cron(0/15 * * * ? *)", "UTC", "2026-12-02T01:15:00+00:00"),
        ("cron(0 10 1 JAN ? 2027-2028)", "UTC", "2027-01-01T10:00:00+00:00"),
        ("cron(0 0 29 2 ? *)", "UTC", "2028-02-29T00:00:00+00:00"),
        ("cron(0 0 1 1 ? 2020)", "UTC", None),  # only in the past
        # 03:30 in London is 03:30 UTC in winter, 02:30 UTC in summer
        ("cron(30 3 * * ? *)", "Europe/London", "2026-12-02T03:30:00+00:00"),
        ("cron(0 9 * * ? *)", "America/New_York", "2026-12-02T14:00:00+00:00"),
        ("at(2027-01-01T00:00:00)", "Europe/Paris", "2026-12-31T23:00:00+00:00"),
        ("at(2026-01-01T00:00:00)", "UTC", None),
    ],
)
def test_next_run(expression, zone, expected) -> None:
    moment = next_run(parse(expression), timezone(zone), NOW)
    assert (moment.isoformat() if moment else None) == expected


def test_next_run_in_summer_time() -> None:
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    moment = next_run(parse("cron(30 3 * * ? *)"), timezone("Europe/London"), summer)
    assert moment == datetime(2026, 7, 2, 2, 30, tzinfo=UTC)


def test_a_rate_counts_from_its_start_and_is_unknown_without_one() -> None:
    schedule = parse("rate(6 hours)")
    start = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    assert next_run(schedule, timezone(None), NOW, start=start) == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert next_run(parse("rate(1 day)"), timezone(None), NOW, start=NOW) == datetime(2026, 12, 3, 1, tzinfo=UTC)
    assert next_run(schedule, timezone(None), NOW) is None


@pytest.mark.parametrize(
    "expression",
    ["cron(* * * * ? *)", "cron(0 12 ? JAN-MAR MON#1 *)", "cron(15 10 ? * 6L 2022-2199)", "rate(1 minute)"],
)
def test_expressions_aws_documents_are_accepted(expression) -> None:
    parse(expression)


@pytest.mark.parametrize(
    "expression", ["cron(0 12 ? * MON#6 *)", "cron(0 12 32 * ? *)", "cron(0 12 * 13 ? *)", "cron(0 12 * * ? 1969)",
                   "cron(0 12 5-1 * ? *)", "cron(0 ? * * ? *)", "cron(0 12 LW * ? *)"],
)  # fmt: skip
def test_expressions_aws_refuses_are_refused(expression) -> None:
    with pytest.raises(ScheduleError):
        parse(expression)


# -- the layout and the image the jobs follow ---------------------------------------------------------

JOBS_OUTPUT = {
    "cluster": "exii-dev-batch",
    "log_group": "/ecs/exii-dev",
    "jobs": {
        "clearsessions": {
            "family": "exii-dev-job-clearsessions", "container": "job", "log_prefix": "job-clearsessions",
            "image_from": "django", "schedule": "exii-dev-job-clearsessions", "expression": "cron(30 3 * * ? *)",
            "timezone": "Europe/London", "dead_letter_queue": "https://sqs/exii-dev-job-clearsessions-dead-letter",
            "network": {"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"]},
        },
        "report": {
            "family": "exii-dev-job-report", "container": "job", "log_prefix": "job-report", "image_from": None,
            "schedule": "exii-dev-job-report", "expression": "rate(1 day)", "timezone": "UTC",
            "dead_letter_queue": "https://sqs/q", "network": {"subnets": ["subnet-1"], "security_groups": ["sg-2"]},
        },
    },
}  # fmt: skip
ECS_OUTPUT = {
    "cluster": "exii-dev",
    "services": {"django": {"name": "exii-dev-django", "family": "exii-dev-django", "container": "django"}},
    "migrate": {"family": "exii-dev-migrate", "container": "migrate", "network_from": "django", "image_from": "django"},
}


def test_the_jobs_layout_names_each_jobs_network_and_refuses_unknown_jobs() -> None:
    layout = JobsLayout.from_outputs({"jobs": {"value": JOBS_OUTPUT, "type": []}}, env="dev")
    job = layout.job("clearsessions")
    assert job.network == {
        "awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"],
                                "assignPublicIp": "DISABLED"},
    }  # fmt: skip
    with pytest.raises(OpsError, match=r"^unknown job 'nope' in env dev: known jobs are clearsessions, report"):
        layout.job("nope")
    with pytest.raises(OpsError, match="no Terraform output jobs"):
        JobsLayout.from_outputs({}, env="dev")


def test_the_ecs_layout_makes_the_backend_jobs_follow_its_image() -> None:
    layout = EcsLayout.from_output({"ecs": ECS_OUTPUT, "jobs": JOBS_OUTPUT}, env="dev")
    assert [f.label for f in layout.followers] == ["migrate", "job clearsessions"]  # report has its own image
    assert layout.one_off_families == ["exii-dev-migrate", "exii-dev-job-clearsessions"]


@mock_aws
def test_after_a_rollout_the_migration_and_the_backend_jobs_get_its_image() -> None:
    ecs = boto3.client("ecs", region_name="eu-west-2")
    for family, container in (("mig", "migrate"), ("job-a", "job"), ("job-b", "job")):
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": container, "image": "repo:1", "memory": 64}],
            tags=[{"key": REGISTERED_BY_TAG, "value": "terraform"}, {"key": IMAGE_TAG, "value": "repo:1"}],
        )  # fmt: skip
    django = ServiceRef("django", "exii-dev-django", "exii-dev-django", "django")
    layout = dataclasses.replace(
        EcsLayout("dev", "c", {"django": django}, MigrateRef("mig", "migrate", "django", "django")),
        jobs=(Follower("job a", "job-a", "job", "django"), Follower("job b", "job-b", "job", "concept")),
    )
    _follow_image(ecs, layout, django, "repo:2", keep=5)

    def image_and_tags(family: str) -> tuple[str, dict[str, str]]:
        td, tags = describe_td(ecs, latest_arn(ecs, family))
        return td["containerDefinitions"][0]["image"], {t["key"]: t["value"] for t in tags}

    image, tags = image_and_tags("job-a")
    assert image == "repo:2" and tags[REGISTERED_BY_TAG] == "inv: job a follows django"
    assert image_and_tags("mig")[0] == "repo:2"
    assert image_and_tags("job-b")[0] == "repo:1"  # follows another service
    revisions = len(ecs.list_task_definitions(familyPrefix="job-a")["taskDefinitionArns"])
    _follow_image(ecs, layout, django, "repo:2", keep=5)  # the same image again: nothing to register
    assert len(ecs.list_task_definitions(familyPrefix="job-a")["taskDefinitionArns"]) == revisions


@mock_aws
def test_the_last_run_comes_from_the_newest_log_stream_when_ecs_forgot_the_task() -> None:
    session = boto3.Session(region_name="eu-west-2")
    session.client("ecs").create_cluster(clusterName="exii-dev-batch")
    logs = session.client("logs")
    logs.create_log_group(logGroupName="/ecs/exii-dev")
    layout = JobsLayout.from_outputs({"jobs": JOBS_OUTPUT}, env="dev")
    now = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    rows = {row.name: row for row in list_jobs(session, layout, now=now)}
    # No schedule, no task, no stream: said so, not guessed; the next run still follows from the catalogue.
    assert (rows["report"].state, rows["report"].last_run, rows["report"].last_result) == ("missing", None, "unknown")
    assert rows["clearsessions"].next_run == "2026-12-02T03:30:00+00:00"
    hour = 3_600_000
    newest = int(time.time() * 1000) // hour * hour - hour  # CloudWatch takes events of the last 14 days only
    streams = (("job-clearsessions/job/old", newest - 5 * hour), ("job-clearsessions/job/new", newest))
    for stream, millis in streams:
        logs.create_log_stream(logGroupName="/ecs/exii-dev", logStreamName=stream)
        logs.put_log_events(logGroupName="/ecs/exii-dev", logStreamName=stream,
                            logEvents=[{"timestamp": millis, "message": "exit 0"}])  # fmt: skip
    logs.create_log_stream(logGroupName="/ecs/exii-dev", logStreamName="job-report-x/job/other")  # not report's
    rows = {row.name: row for row in list_jobs(session, layout, now=now)}
    assert rows["clearsessions"].last_run == datetime.fromtimestamp(newest / 1000, UTC).isoformat()
    assert rows["clearsessions"].last_result.startswith("ran (log stream")
    assert rows["report"].last_result == "unknown"
