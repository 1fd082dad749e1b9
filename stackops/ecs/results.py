"""Results: how a rollout or the migration ended, the end-of-command table, the exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from rich.markup import escape

from stackops.ecs.images import REFERENCE
from stackops.errors import OpsError
from stackops.ui import Table, out


class Outcome(StrEnum):
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FORCED = "forced"
    REVERTED = "reverted"  # `inv rollback` put the recorded revision back
    ROLLED_BACK = "rolled back"  # ECS's circuit breaker undid our deployment: a failure
    FAILED = "failed"
    TIMED_OUT = "timed out"


OK = frozenset({Outcome.UPDATED, Outcome.UNCHANGED, Outcome.FORCED, Outcome.REVERTED})


@dataclass(frozen=True)
class RolloutResult:
    service: str
    revision_from: int | None
    revision_to: int | None
    image_from: str | None
    image_to: str | None
    outcome: Outcome
    detail: str = ""
    deregistered: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome in OK


@dataclass(frozen=True)
class MigrationResult:
    task_arn: str
    task_definition: str
    ok: bool
    detail: str
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    stop_code: str | None = None
    stopped_reason: str | None = None
    log_lines: tuple[str, ...] = ()
    snapshot: str | None = None  # the database snapshot taken before it ran (None: --no-snapshot)


def print_results(results: Sequence[RolloutResult]) -> None:
    """The end-of-command table, on stdout."""
    table = Table(title="ECS services", title_justify="left")
    for column in ("Service", "Revision", "Image", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        style = "green" if r.ok else "red"
        detail = r.detail
        if r.deregistered:
            pruned = "deregistered old revisions " + ", ".join(map(str, r.deregistered))
            detail = f"{detail}; {pruned}" if detail else pruned
        table.add_row(
            escape(r.service),
            arrow(r.revision_from, r.revision_to),
            escape(image_change(r.image_from, r.image_to)),
            f"[{style}]{r.outcome}[/]",
            escape(detail),
        )
    out.print(table)


def print_migration(result: MigrationResult) -> None:
    """`inv migrate`'s end-of-command table, on stdout: the run, how it ended, the snapshot before it."""
    table = Table(title="Migration", title_justify="left")
    for column in ("Task", "Revision", "Result", "Snapshot before", "Detail"):
        table.add_column(column, overflow="fold")
    style = "green" if result.ok else "red"
    table.add_row(
        escape(result.task_arn.rsplit("/", 1)[-1]),
        escape(result.task_definition.rsplit("/", 1)[-1]),
        f"[{style}]{'succeeded' if result.ok else 'failed'}[/]",
        escape(result.snapshot or "none (--no-snapshot)"),
        escape(result.detail),
    )
    out.print(table)


def raise_on_failure(results: Sequence[RolloutResult]) -> None:
    """OpsError naming every service that did not end up healthy (the task layer exits 1)."""
    failed = [r for r in results if not r.ok]
    if failed:
        raise OpsError("; ".join(f"{r.service}: {r.outcome}: {r.detail}" for r in failed))


def arrow(before: object, after: object) -> str:
    if before == after:
        return "" if before is None else str(before)
    return f"{'-' if before is None else before} -> {'-' if after is None else after}"


def image_suffix(image: str | None) -> str:
    """`:v2` (or `@sha256:...`) of an image reference; the whole reference if it has neither."""
    match = REFERENCE.match(image or "")
    suffix = match.string[len(match["name"]) :] if match else ""
    return suffix or (image or "?")


def image_change(before: str | None, after: str | None) -> str:
    """`repo:v1 -> :v2` when only the tag or digest changed."""
    old = REFERENCE.match(before or "")
    new = REFERENCE.match(after or "")
    if old and new and before != after and old["name"] == new["name"]:
        return f"{before} -> {new.string[len(new['name']) :]}"
    return arrow(before, after)
