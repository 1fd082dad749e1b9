"""The table `inv secrets` ends with: what happened to each secret, and which services still run old values."""

from __future__ import annotations

from stackops import ui
from stackops.app_secrets.sync import (
    CREATED,
    CREATED_STAND_IN,
    MISSING,
    ROTATED,
    WOULD_CREATE,
    WOULD_CREATE_STAND_IN,
    WOULD_ROTATE,
    SyncReport,
)
from stackops.ui import Table

# -- output ------------------------------------------------------------------------------------------
_STYLES = {
    CREATED: "green",
    CREATED_STAND_IN: "green",
    ROTATED: "yellow",
    MISSING: "bold red",
    WOULD_CREATE: "cyan",
    WOULD_CREATE_STAND_IN: "cyan",
    WOULD_ROTATE: "cyan",
}


def _env_name(prefix: str) -> str:
    parts = [p for p in prefix.split("/") if p]
    return parts[-1] if parts else "E"


def print_report(report: SyncReport, refreshed: bool, *, env: str | None = None) -> None:
    """The end-of-command table; says which services still run old values when not refreshed."""
    env = env or _env_name(report.prefix)
    stale = set() if refreshed else set(report.services_to_refresh())
    title = f"Secrets under {report.prefix}" + (" (dry run: nothing written)" if report.dry_run else "")
    table = Table(title=title, title_justify="left")
    table.add_column("Secret", no_wrap=True)  # short name: the prefix is in the title
    table.add_column("Action", no_wrap=True)
    table.add_column("Rotates", justify="center")
    table.add_column("Consumers")
    table.add_column("Note")
    for row in report.rows:
        services = sorted({c.service for c in row.consumers})
        note = row.note
        old = [s for s in services if s in stale] if row.action == ROTATED else []
        if old:
            note = "[yellow]old value running[/yellow]"
        style = _STYLES.get(row.action, "")
        action = f"[{style}]{row.action}[/{style}]" if style else row.action
        short = row.name.removeprefix(report.prefix)
        table.add_row(short, action, "yes" if row.rotatable else "no", ", ".join(services) or "-", note)

    counts: dict[str, int] = {}
    for row in report.rows:
        counts[row.action] = counts.get(row.action, 0) + 1
    table.caption = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    table.caption_justify = "left"
    ui.out.print(table)

    if report.missing:
        names = ", ".join(report.missing)
        ui.out.print(
            f"[bold red]Missing:[/bold red] {names}: see the notes (export the variables), then run again.",
            soft_wrap=True,
        )
    if stale:
        ui.out.print(
            f"[yellow]Still running the old values:[/yellow] {', '.join(sorted(stale))}. "
            f"Roll them with `inv refresh --env {env} --force` "
            f"(or rotate with `inv secrets --env {env} --rotate --refresh` next time).",
            soft_wrap=True,
        )
    elif report.rotated and refreshed:
        ui.out.print(f"Refreshed: {', '.join(report.services_to_refresh()) or 'no running service'}.")
