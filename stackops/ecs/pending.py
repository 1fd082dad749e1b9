"""Revisions registered but not released: ACTIVE revisions newer than the one a service runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.markup import escape

from stackops.ecs.layout import ServiceRef
from stackops.ecs.results import image_suffix
from stackops.ecs.task_definitions import active_revisions, describe_td, find_container, registered_by, revision
from stackops.ui import Table, out


@dataclass(frozen=True)
class Pending:
    """A revision newer than the one the service runs: what a refresh would move it to."""

    service: str
    running: int | None
    revision: int | None
    image: str | None
    registered_by: str


def pending(ecs: Any, ref: ServiceRef, running_arn: str) -> list[Pending]:
    """The ACTIVE revisions of the service's family newer than the one it runs, oldest first."""
    running = revision(running_arn) or 0
    rows = []
    for arn in sorted(active_revisions(ecs, ref.family), key=lambda a: revision(a) or 0):
        if (revision(arn) or 0) <= running:
            continue
        td, tags = describe_td(ecs, arn)
        image = find_container(td, ref.container).get("image")
        rows.append(Pending(ref.key, running, revision(arn), image, registered_by(td, tags, ref.container)))
    return rows


def print_pending(rows: list[Pending]) -> None:
    """What the refresh will move to, before it moves (nothing when every service is on its latest)."""
    if not rows:
        return
    table = Table(title="Revisions newer than the running one", title_justify="left")
    for column in ("Service", "Running", "Newer", "Image", "Registered by"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            escape(row.service), str(row.running), str(row.revision), escape(image_suffix(row.image)),
            escape(row.registered_by),
        )  # fmt: skip
    out.print(table)
