"""Terraform's machine-readable UI (`-json`), rendered for a person.

Terraform writes one JSON message per line (https://developer.hashicorp.com/terraform/internals/
machine-readable-ui): `refresh_start`/`refresh_complete` while it reads the state, `planned_change`
and `change_summary` for the plan, `apply_start`/`apply_progress`/`apply_complete`/
`apply_errored` while it changes resources, and `diagnostic` for warnings and errors. An apply
of a saved plan repeats the plan's `planned_change` messages first, so its total is known.

`StreamView` turns them into:
- on a terminal, a live view (phase, a bar of resources done out of the total, the resources in
  flight with their elapsed time, the count of warnings);
- elsewhere (CI, a file), plain lines: at most one per 10 s while Terraform works, naming the
  resources in flight and the resource types whose changes finished since the line before;
- in both, every diagnostic in full (severity, summary, detail, address, file and line), printed
  above the live view, never hidden by it, and one closing line with the counts and the time;
- the human-readable text of every message (Terraform's own `@message`) in the run's log.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.text import Text

HEARTBEAT_SECONDS = 10.0
IN_FLIGHT_SHOWN = 8
# apply_start's action -> the verb Terraform's own output uses while it is in flight.
VERBS = {
    "refresh": "refreshing", "create": "creating", "update": "modifying", "delete": "destroying",
    "read": "reading", "noop": "checking",
}  # fmt: skip
DONE = {"create": "created", "update": "changed", "delete": "destroyed", "read": "read", "noop": "checked"}
# planned_change's actions that change a resource (move, import and remove change only the state).
CHANGING = ("create", "update", "replace", "delete")
# `terraform show -json` actions -> planned_change's action.
SHOWN_ACTIONS = {
    ("create",): "create", ("update",): "update", ("delete",): "delete", ("read",): "read", ("no-op",): "noop",
    ("delete", "create"): "replace", ("create", "delete"): "replace", ("forget",): "remove",
}  # fmt: skip
_DATA_SOURCE = re.compile(r'^(module\.[^.\[]+(\["[^"]*"\]|\[\d+\])?\.)*data\.')


class LogSink(Protocol):
    def write(self, text: str) -> None: ...


@dataclass(frozen=True)
class PlannedChange:
    """One `planned_change` message: what the plan does to one resource instance."""

    address: str
    type: str
    action: str  # create, update, replace, delete, read, noop, move, import, remove
    reason: str = ""

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> PlannedChange:
        change = message.get("change", {})
        resource = change.get("resource", {})
        return cls(
            address=str(resource.get("addr", "")),
            type=str(resource.get("resource_type", "")),
            action=str(change.get("action", "")),
            reason=str(change.get("reason", "") or ""),
        )

    @classmethod
    def from_resource_change(cls, change: Mapping[str, Any]) -> PlannedChange:
        """A `terraform show -json` resource change, as its plan's stream would have given it."""
        actions = list(change.get("change", {}).get("actions", []))
        action = SHOWN_ACTIONS.get(tuple(actions), "+".join(actions))
        address = str(change.get("address", ""))  # a data source's says so: `module.m.data.x.y`
        reason = str(change.get("action_reason", "") or "").lower().removeprefix("replace_because_")
        return cls(address=address, type=str(change.get("type", "")), action=action, reason=reason)

    @property
    def managed(self) -> bool:
        """A managed resource, not a data source (`data.x.y`, `module.m["k"].data.x.y`; a module
        may itself be called `data`: `module.data.aws_db_instance.x` is managed)."""
        return not _DATA_SOURCE.match(self.address)

    @property
    def operations(self) -> int:
        """How many apply_complete messages it will produce: a replacement is a delete and a create."""
        if self.action not in CHANGING:
            return 0
        return 2 if self.action == "replace" else 1


def diagnostic_text(message: Mapping[str, Any]) -> str:
    """A `diagnostic` message as Terraform's own output shows it: severity and summary, the
    resource (`with ADDRESS,`), the file and line, the detail."""
    diagnostic = message.get("diagnostic", {})
    severity = str(diagnostic.get("severity", "error")).capitalize()
    lines = [f"{severity}: {diagnostic.get('summary', message.get('@message', ''))}"]
    if diagnostic.get("address"):
        lines.append(f"  with {diagnostic['address']},")
    where = diagnostic.get("range") or {}
    if where.get("filename"):
        line = where.get("start", {}).get("line")
        lines.append(f"  on {where['filename']}{f' line {line}' if line else ''}")
    snippet = diagnostic.get("snippet") or {}
    if snippet.get("code"):
        lines.append(f"    {snippet['code'].strip()}")
    if diagnostic.get("detail"):
        lines.append("")
        lines.extend(f"  {text}" for text in str(diagnostic["detail"]).splitlines())
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


@dataclass
class InFlight:
    address: str
    action: str
    started: float


@dataclass
class StreamView:
    """Renders one Terraform run's `-json` messages; what it saw is kept for the caller."""

    console: Console
    title: str  # e.g. "plan local", "apply local"
    log: LogSink | None = None
    live: bool | None = None  # None: a live view when the console is a terminal
    clock: Callable[[], float] = time.monotonic
    # What the run's apply was planned to do, when known before its first message.
    planned: list[PlannedChange] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # the last change_summary's "changes"

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.phase = "starting"
        self.refreshed = 0
        self.done = 0
        self.errored = 0
        self.in_flight: dict[str, InFlight] = {}
        self.remaining_by_type: Counter[str] = Counter()
        self.done_by_type: Counter[str] = Counter()
        self.verbs_by_type: dict[str, Counter[str]] = {}
        self.finished_types: list[str] = []  # resource types all of whose changes are done, in order
        self._reported = 0  # how many of them a plain line has named
        self._last_line = self.started
        self._live: Live | None = None
        self._planned_by_message = False
        if self.live is None:
            self.live = self.console.is_terminal
        for change in self.planned:
            self.remaining_by_type[change.type] += change.operations

    # -- the caller's side ----------------------------------------------------------------------
    def __enter__(self) -> StreamView:
        if self.live:
            self._live = Live(
                get_renderable=self.renderable, console=self.console, refresh_per_second=4, transient=True
            )
            self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._print(self.closing_line())

    def feed(self, line: str) -> None:
        """One line of Terraform's stdout: a JSON message, or (rarely) plain text, kept as it is."""
        line = line.rstrip("\n")
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self._write_log(line)
            self._print(escape(line))
            return
        self.handle(message)

    def feed_all(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.feed(line)

    @property
    def total(self) -> int:
        """Resource operations the apply will make (0 while the plan is not known)."""
        return sum(change.operations for change in self.planned if change.managed)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [d for d in self.diagnostics if d.get("diagnostic", {}).get("severity") == "error"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [d for d in self.diagnostics if d.get("diagnostic", {}).get("severity") == "warning"]

    def error_text(self) -> str:
        """Every error diagnostic as text (what stackops.terraform reads for lock and adoption hints)."""
        return "\n\n".join(diagnostic_text(d) for d in self.errors)

    # -- messages -------------------------------------------------------------------------------
    def handle(self, message: Mapping[str, Any]) -> None:
        kind = message.get("type", "")
        text = str(message.get("@message", ""))
        if kind == "diagnostic":
            self.diagnostics.append(dict(message))
            full = diagnostic_text(message)
            self._write_log(full)
            diagnostic = message.get("diagnostic", {})
            style = "red" if diagnostic.get("severity") == "error" else "yellow"
            self._print(f"[{style}]{escape(full)}[/]")
            return
        self._write_log(text)
        if kind == "log":  # Terraform speaking for itself: "Interrupt received...", "Stopping operation..."
            self._print(f"[yellow]{escape(text.strip())}[/]")
            return
        hook = message.get("hook", {})
        address = str(hook.get("resource", {}).get("addr", ""))
        now = self.clock()
        if kind == "refresh_start":
            self.phase = "refresh"
            self.in_flight[f"{address} refresh"] = InFlight(address, "refresh", now)
        elif kind == "refresh_complete":
            self.in_flight.pop(f"{address} refresh", None)
            self.refreshed += 1
        elif kind == "planned_change":
            self._end_refresh()
            self.phase = "plan"
            self._add_planned(PlannedChange.from_message(message))
        elif kind == "change_summary":
            self._end_refresh()
            self.summary = dict(message.get("changes", {}))
        elif kind == "apply_start":
            self._end_refresh()
            self.phase = "apply"
            self.in_flight[f"{address} {hook.get('action')}"] = InFlight(address, str(hook.get("action")), now)
        elif kind == "apply_progress":
            pass  # elapsed time is measured here; the message only keeps the plain output alive
        elif kind in ("apply_complete", "apply_errored"):
            action = str(hook.get("action", ""))
            self.in_flight.pop(f"{address} {action}", None)
            if action == "read":
                return
            kind_of = str(hook.get("resource", {}).get("resource_type", ""))
            if kind == "apply_errored":
                self.errored += 1
                return
            self.done += 1
            self.done_by_type[kind_of] += 1
            self.verbs_by_type.setdefault(kind_of, Counter())[DONE.get(action, action)] += 1
            self.remaining_by_type[kind_of] -= 1
            if self.remaining_by_type[kind_of] <= 0:
                self.finished_types.append(kind_of)
        if not self.live and now - self._last_line >= HEARTBEAT_SECONDS:
            self._print(f"  {self.status_line()}{self._finished_since()}")

    def _add_planned(self, change: PlannedChange) -> None:
        if not self._planned_by_message:  # an apply of a saved plan repeats the plan: it is the truth
            self._planned_by_message = True
            self.planned = []
            self.remaining_by_type = Counter()
        self.planned.append(change)
        if change.managed:
            self.remaining_by_type[change.type] += change.operations

    def _end_refresh(self) -> None:
        # Terraform refreshes and plans resource by resource: the phases interleave.
        if self.phase == "refresh":
            self.phase = "plan"

    def _type_line(self, kind: str) -> str:
        verbs = ", ".join(f"{count} {verb}" for verb, count in sorted(self.verbs_by_type.get(kind, {}).items()))
        return f"{kind} ({verbs})"

    def _finished_since(self) -> str:
        """The resource types finished since the last plain line (at most one line per 10 s)."""
        fresh = self.finished_types[self._reported :]
        self._reported = len(self.finished_types)
        return f"; finished: {', '.join(self._type_line(kind) for kind in fresh)}" if fresh else ""

    # -- what is shown --------------------------------------------------------------------------
    def status_line(self) -> str:
        elapsed = _clock(self.clock() - self.started)
        if self.phase == "apply":
            head = f"{self.title}: {self.done}/{self.total or '?'} done ({elapsed})"
        elif self.phase == "refresh":
            head = f"{self.title}: refreshing, {self.refreshed} read ({elapsed})"
        else:
            head = f"{self.title}: {self.phase} ({elapsed})"
        flying = self._flying()[:3]
        if flying:
            head += "; in flight: " + ", ".join(flying)
        return head

    def _flying(self) -> list[str]:
        now = self.clock()
        items = sorted(self.in_flight.values(), key=lambda item: item.started)
        return [f"{i.address} — {VERBS.get(i.action, i.action)} {_clock(now - i.started)}" for i in items]

    def renderable(self) -> RenderableType:
        """The live view: a status line, the bar, the oldest resources in flight."""
        parts: list[RenderableType] = []
        warnings = len(self.warnings)
        head = Text(self.status_line().split("; in flight")[0], style="bold")
        if warnings:
            head.append(f"  {warnings} warning(s)", style="yellow")
        parts.append(head)
        if self.phase == "apply" and self.total:
            parts.append(ProgressBar(total=self.total, completed=self.done, width=40))
        flying = self._flying()
        for item in flying[:IN_FLIGHT_SHOWN]:
            parts.append(Text(f"  {item}", style="dim"))
        if len(flying) > IN_FLIGHT_SHOWN:
            parts.append(Text(f"  ... and {len(flying) - IN_FLIGHT_SHOWN} more", style="dim"))
        return Group(*parts)

    def closing_line(self) -> str:
        elapsed = _clock(self.clock() - self.started)
        counts = []
        if self.summary:
            operation = self.summary.get("operation", "")
            if operation == "plan":
                counts.append(
                    f"{self.summary.get('add', 0)} to add, {self.summary.get('change', 0)} to change, "
                    f"{self.summary.get('remove', 0)} to destroy"
                )
            else:
                counts.append(
                    f"{self.summary.get('add', 0)} added, {self.summary.get('change', 0)} changed, "
                    f"{self.summary.get('remove', 0)} destroyed"
                )
        elif self.done:
            counts.append(f"{self.done}/{self.total} done")
        if self.refreshed and not self.done:
            counts.append(f"{self.refreshed} refreshed")
        if self.errored:
            counts.append(f"{self.errored} failed")
        if self.errors:
            counts.append(f"{len(self.errors)} error(s)")
        if self.warnings:
            counts.append(f"{len(self.warnings)} warning(s)")
        return f"{self.title}: {'; '.join(counts) or 'done'} ({elapsed})"

    def _print(self, markup: str) -> None:
        self._last_line = self.clock()
        target = self._live.console if self._live is not None else self.console
        target.print(markup, soft_wrap=True)

    def _write_log(self, text: str) -> None:
        if self.log is not None and text:
            self.log.write(text + "\n")
