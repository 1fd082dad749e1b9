"""The renderer of Terraform's `-json` UI, on streams recorded from a real Terraform run
(fixtures/terraform_streams/: main.tf planned, applied, made to fail in a provisioner, destroyed),
and the run logs it writes."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from rich.console import Console

from stackops import run_logs
from stackops.terraform_stream import PlannedChange, StreamView

STREAMS = Path(__file__).parent / "fixtures" / "terraform_streams"


class Log:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain_console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, force_terminal=False, color_system=None), buffer


def render(name: str, **kwargs: object) -> tuple[StreamView, str, Log]:
    console, buffer = plain_console()
    log = Log()
    view = StreamView(console, f"{name} test", log=log, **kwargs)  # type: ignore[arg-type]
    with view:
        view.feed_all((STREAMS / f"{name}.jsonl").read_text().splitlines())
    return view, buffer.getvalue(), log


def test_a_plan_is_read_from_its_planned_changes() -> None:
    view, shown, log = render("plan")
    assert sorted((c.address, c.action) for c in view.planned) == [
        ("terraform_data.database", "create"), ("terraform_data.migration", "create"),
        ("terraform_data.web[0]", "create"), ("terraform_data.web[1]", "create"),
    ]  # fmt: skip
    assert view.summary == {"add": 4, "change": 0, "import": 0, "remove": 0, "operation": "plan"}
    assert view.total == 4
    assert shown.strip().splitlines()[-1].startswith("plan test: 4 to add, 0 to change, 0 to destroy (")
    # The log holds Terraform's own words for every message.
    for line in (STREAMS / "plan.jsonl").read_text().splitlines():
        assert json.loads(line)["@message"] in log.text


def test_a_replacement_counts_two_operations_and_the_refresh_is_seen() -> None:
    view, shown, _ = render("plan-replace")
    assert view.refreshed == 4  # the state's four resources were read first
    assert [(c.address, c.action, c.reason) for c in view.planned] == [
        ("terraform_data.migration", "replace", "cannot_update")
    ]
    assert view.total == 2  # a delete and a create
    assert "1 to add, 0 to change, 1 to destroy" in shown


def test_a_failed_apply_shows_terraforms_diagnostic_in_full() -> None:
    view, shown, log = render("apply-failed")
    assert view.errored == 1 and len(view.errors) == 1
    for text in (
        "Error: local-exec provisioner error",
        "with terraform_data.migration,",
        "on main.tf line 17",
        "migration failed: relation users does not exist",
    ):
        assert text in shown and text in log.text and text in view.error_text()
    assert "1 failed; 1 error(s)" in shown.strip().splitlines()[-1]


def test_a_destroy_counts_what_it_destroyed() -> None:
    view, shown, _ = render("destroy")
    assert view.done == view.total == 4
    assert view.verbs_by_type == {"terraform_data": {"destroyed": 4}}
    assert "0 added, 0 changed, 4 destroyed" in shown.strip().splitlines()[-1]


def test_plain_output_says_what_is_in_flight_at_most_every_ten_seconds() -> None:
    console, buffer = plain_console()
    clock = Clock()
    view = StreamView(console, "apply local", clock=clock)

    def hook(kind: str, address: str, resource_type: str, action: str = "create") -> None:
        resource = {"addr": address, "resource_type": resource_type}
        view.handle({"type": kind, "@message": f"{address}: {kind}", "hook": {"resource": resource, "action": action}})

    with view:
        for address in ("aws_db_instance.this", "aws_vpc.this"):
            view.handle({"type": "planned_change", "change": {"resource": {"addr": address,
                         "resource_type": address.split(".")[0]}, "action": "create"}})  # fmt: skip
        hook("apply_start", "aws_db_instance.this", "aws_db_instance")
        hook("apply_start", "aws_vpc.this", "aws_vpc")
        clock.now += 2
        hook("apply_complete", "aws_vpc.this", "aws_vpc")
        assert buffer.getvalue() == ""  # nothing yet: less than 10 s since the start
        clock.now += 45
        hook("apply_progress", "aws_db_instance.this", "aws_db_instance")
        line = buffer.getvalue().strip()
        assert line == (
            "apply local: 1/2 done (0:47); in flight: aws_db_instance.this — creating 0:47; "
            "finished: aws_vpc (1 created)"
        )
        clock.now += 1
        hook("apply_progress", "aws_db_instance.this", "aws_db_instance")
        assert buffer.getvalue().strip() == line  # the next line waits 10 s
        hook("apply_complete", "aws_db_instance.this", "aws_db_instance")
    assert buffer.getvalue().strip().splitlines()[-1] == "apply local: 2/2 done (0:48)"
    assert "\x1b[" not in buffer.getvalue()


def test_the_live_view_shows_the_bar_and_the_resources_in_flight() -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True)
    clock = Clock()
    view = StreamView(console, "apply local", clock=clock, live=False)
    view.handle({"type": "planned_change", "change": {"resource": {"addr": "aws_db_instance.this",
                 "resource_type": "aws_db_instance"}, "action": "create"}})  # fmt: skip
    view.handle({"type": "apply_start", "hook": {"resource": {"addr": "aws_db_instance.this"}, "action": "create"}})
    view.handle({"type": "diagnostic", "diagnostic": {"severity": "warning", "summary": "Deprecated Parameter"}})
    clock.now += 47
    with console.capture() as captured:
        console.print(view.renderable())
    text = captured.get()
    assert "apply local: 0/1 done (0:47)" in text
    assert "1 warning(s)" in text
    assert "aws_db_instance.this — creating 0:47" in text
    assert "━" in text  # the progress bar


def test_warnings_are_shown_in_full_logged_and_counted() -> None:
    console, buffer = plain_console()
    log = Log()
    view = StreamView(console, "apply local", log=log)
    other = {"severity": "warning", "summary": "Deprecated Parameter", "detail": "Use use_lockfile instead."}
    with view:
        view.handle({"type": "diagnostic", "diagnostic": other})
    shown = buffer.getvalue()
    assert "Warning: Deprecated Parameter" in shown and "Use use_lockfile instead." in shown
    assert "Use use_lockfile instead." in log.text
    assert shown.strip().splitlines()[-1] == "apply local: 1 warning(s) (0:00)"


def test_text_that_is_not_json_is_shown_and_logged_as_it_is() -> None:
    console, buffer = plain_console()
    log = Log()
    with StreamView(console, "plan x", log=log) as view:
        view.feed("panic: something [went] wrong\n")
    assert "panic: something [went] wrong" in buffer.getvalue()
    assert "panic: something [went] wrong" in log.text


def test_a_data_source_is_not_a_managed_change() -> None:
    assert not PlannedChange("module.m.data.aws_iam_policy_document.x", "aws_iam_policy_document", "read").managed
    assert not PlannedChange('module.m["a.data.b"].data.aws_caller_identity.x', "aws_caller_identity", "read").managed
    assert PlannedChange("module.data.aws_db_instance.this", "aws_db_instance", "replace").managed  # a module "data"
    assert PlannedChange('module.m["a.data.b"].aws_s3_bucket.x', "aws_s3_bucket", "delete").managed
    assert PlannedChange("module.m.aws_s3_bucket.x", "aws_s3_bucket", "replace").operations == 2


# -- the logs on disk ----------------------------------------------------------------------------


def test_a_commands_log_is_private_named_after_it_and_opened_once(tmp_path: Path) -> None:
    run_logs.begin("apply")
    log = run_logs.for_folder(tmp_path / "envs" / "dev")
    assert run_logs.for_folder(tmp_path / "envs" / "dev") is log
    log.write("\x1b[1mPlan:\x1b[0m 1 to add\n")
    assert log.path.parent == tmp_path / "envs" / "dev" / "logs"
    assert log.path.name.endswith("Z-apply.log")
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600
    assert log.path.read_text() == "Plan: 1 to add\n"  # colour codes stripped
    assert run_logs.opened() == [log.path]


def test_old_logs_are_pruned_to_the_newest_twenty(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for day in range(1, 26):
        (logs / f"202611{day:02d}T000000Z-plan.log").write_text("x")
    removed = run_logs.prune(logs)
    assert [p.name[:8] for p in removed] == [f"202611{day:02d}" for day in range(1, 6)]
    assert len(list(logs.glob("*.log"))) == 20


@pytest.fixture(autouse=True)
def fresh_logs() -> None:
    run_logs.begin("test")


# -- colour and width ----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_is_honoured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackops import ui

    monkeypatch.setenv("NO_COLOR", "1")
    stream = Terminal()
    console = ui._console(stream, stderr=False)
    console.file = stream
    console.print("[red]failed[/]")
    assert "failed" in stream.getvalue() and "\x1b[31m" not in stream.getvalue()


def test_plain_output_is_wide_and_cells_are_never_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackops import ui

    monkeypatch.delenv("COLUMNS", raising=False)
    stream = io.StringIO()
    console = ui._console(stream, stderr=False)
    console.file = stream
    assert console.width == ui.PLAIN_WIDTH
    table = ui.Table()
    table.add_column("secret")
    table.add_row("shopify-api-secret-key-" + "x" * 300)
    console.print(table)
    assert "…" not in stream.getvalue() and "\x1b[" not in stream.getvalue()
    assert "".join(line.strip("│ ") for line in stream.getvalue().splitlines()).count("x") == 300


def test_a_diagnostic_as_rebuilt_still_gets_the_adoption_hint() -> None:
    from stackops import environments
    from stackops.terraform_adoption import adoption_hint
    from stackops.terraform_stream import diagnostic_text

    message = {"type": "diagnostic", "diagnostic": {
        "severity": "error", "address": 'aws_ssm_parameter.string["api-url"]',
        "summary": "creating SSM Parameter (/exii/local/api-url): operation error SSM: PutParameter, "
                   "api error ParameterAlreadyExists: The parameter already exists.",
        "range": {"filename": "parameters.tf", "start": {"line": 23}},
    }}  # fmt: skip
    hint = adoption_hint(diagnostic_text(message), environments.load("local"))
    assert "inv tf --env local -- import 'aws_ssm_parameter.string[\"api-url\"]' /exii/local/api-url" in hint
