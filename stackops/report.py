"""The tables the Terraform-facing commands print: a plan's changes per resource type, the outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from stackops import ui
from stackops.environments import Environment
from stackops.terraform import PlanResult


def print_plan_summary(env: Environment, plan: PlanResult, action: str = "apply") -> None:
    """What `plan` would do, counted per resource type (or that there is nothing to do)."""
    if not plan.has_changes or plan.summary is None:
        ui.out.print(f"[bold]{env.name}[/]: no changes; the infrastructure matches the code.")
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
    ui.out.print(table)


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
