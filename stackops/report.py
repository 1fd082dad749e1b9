"""What the Terraform-facing commands print: a plan's changes per resource type, what it replaces
or destroys, the review summary (markdown or JSON) for a pull request, the outputs."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from stackops import plan_review, ui
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.terraform import PlanResult
from stackops.ui import Table

if TYPE_CHECKING:
    from stackops.terraform import Terraform


def print_plan_summary(
    env: Environment, plan: PlanResult, action: str = "apply", console: Console | None = None
) -> None:
    """What `plan` would do, counted per resource type (or that there is nothing to do); then
    what it replaces or destroys, stateful resources first. (What changed outside Terraform and
    may affect the plan is in the plan's text, in the log, and in the review summary.)"""
    console = console or ui.out
    if not plan.has_changes or plan.summary is None:
        console.print(f"[bold]{env.name}[/]: no changes; the infrastructure matches the code.")
        return
    table = Table(title=f"{action} {env.name}: planned changes by resource type")
    for column in ("resource type", "add", "change", "destroy"):
        table.add_column(column, justify="left" if column == "resource type" else "right")
    for kind, adds, changes, destroys in plan.summary.rows():
        table.add_row(kind, str(adds or ""), str(changes or ""), str(destroys or ""))
    s = plan.summary
    table.caption = (
        f"{sum(s.adds.values())} to add, {sum(s.changes.values())} to change, {sum(s.destroys.values())} to destroy"
    )
    console.print(table)
    for item in plan_review.destructive_planned(plan.changing()):
        mark = "[bold red]stateful[/] " if item.stateful else ""
        console.print(f"  {mark}{item.action}: {escape(item.address)}", soft_wrap=True)


def write_review(env: Environment, tf: Terraform, plan: PlanResult, fmt: str, out: str | None) -> None:
    """The review summary of the saved plan (stackops.plan_review), to `out` or stdout."""
    shown = tf.show_json(plan.path) if plan.has_changes else {}
    text = tf.plan_text(plan) if plan.has_changes else ""
    review = plan_review.review(shown, text, env.name)
    body = plan_review.to_markdown(review) if fmt == "markdown" else json.dumps(plan_review.to_json(review), indent=2)
    if out is None:
        print(body)
        return
    path = Path(out)
    partial: str | None = None
    try:
        # Written whole to a new private file beside it, then renamed: a reader (a CI step posting
        # the comment) never sees half of it, and no planted file or link is written through.
        descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(body.rstrip("\n") + "\n")
        os.replace(partial, path)
    except OSError as exc:
        if partial is not None:
            Path(partial).unlink(missing_ok=True)
        raise OpsError(f"cannot write the plan summary to {out}: {exc.strerror or exc}") from None
    ui.err.print(f"plan summary ({fmt}) written to {path}", soft_wrap=True)


def print_outputs(values: dict[str, Any], only: Sequence[str] | None = None) -> None:
    """The Terraform outputs as a name/value table (maps one `key: value` per line)."""
    table = Table(title="outputs")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for name, value in sorted(values.items()):
        if only is not None and name not in only:
            continue
        text = "\n".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        table.add_row(name, text)
    ui.out.print(table)
