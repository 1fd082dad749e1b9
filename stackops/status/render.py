"""`inv status` on screen: the snapshot of stackops.status.collect as tables (stackops.ui: plain
and full width when not a terminal), or as one JSON document."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.markup import escape

from stackops.ui import Table

UNAVAILABLE = "unavailable"


def to_json(snapshot: Mapping[str, Any]) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True)


def when(value: str | None, now: dt.datetime, *, never: str = "never") -> str:
    """An ISO time as "2026-12-01 20:53 UTC (3 h ago)"; `never` for none."""
    if not value:
        return never
    moment = dt.datetime.fromisoformat(value)
    seconds = (now - moment).total_seconds()
    ago = _span(abs(seconds)) + (" ago" if seconds >= 0 else " from now")
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC ({ago})"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.0f} s"


def unavailable(section: Any) -> str | None:
    """The reason a section could not be read, or None when it holds data."""
    if isinstance(section, Mapping) and UNAVAILABLE in section:
        return f"unavailable: {section[UNAVAILABLE]}"
    return None


def _t(value: Any) -> str:
    return escape("" if value is None else str(value))


def render(snapshot: Mapping[str, Any], console: Console, *, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    console.print(f"[bold]{_t(snapshot['environment'])}[/bold] — cluster {_t(snapshot['cluster'])}")
    services = snapshot["services"]
    console.print(services_table(services))
    console.print(deployments_table(services, now))
    console.print(targets_table(services))
    console.print(events_table(services, now))
    console.print(alarms_table(snapshot["alarms"], now))
    console.print(certificate_table(snapshot["certificate"], snapshot["renewer"], now))
    console.print(database_table(snapshot["database"], now))
    console.print(state_line(snapshot["state"], now))


def services_table(services: Mapping[str, Any]) -> Group:
    """One row a service; a service that could not be read is named below the table, with why."""
    table = Table(title="Services", title_justify="left")
    for column in ("service", "revision", "image", "running/desired/pending", "rollout", "targets"):
        table.add_column(column)
    notes = []
    for key, service in services.items():
        reason = unavailable(service)
        if reason:
            table.add_row(_t(key), "unavailable", "", "", "", "")
            notes.append(f"{_t(key)}: {_t(reason)}")
            continue
        primary = next((d for d in service["deployments"] if d["status"] == "PRIMARY"), None)
        rollout = primary["rollout_state"] if primary else "no deployment"
        image = service["image"] or f"unavailable: {service.get('image_unavailable', 'no such container')}"
        counts = f"{service['running']}/{service['desired']}/{service['pending']}"
        table.add_row(_t(key), _t(service["revision"]), _t(image), counts, _t(rollout), _t(target_summary(service)))
    return Group(table, *notes)


def target_summary(service: Mapping[str, Any]) -> str:
    """Counts by state ("2 healthy, 1 unhealthy") over the service's target groups; "none registered" when empty."""
    states: dict[str, int] = {}
    for group in service["target_groups"]:
        if unavailable(group):
            return "unavailable"
        for target in group["targets"]:
            states[target["state"]] = states.get(target["state"], 0) + 1
    return ", ".join(f"{count} {state}" for state, count in sorted(states.items())) or "none registered"


def deployments_table(services: Mapping[str, Any], now: dt.datetime) -> Table:
    table = Table(title="Deployments", title_justify="left")
    for column in ("service", "status", "rollout", "revision", "running/desired/pending", "failed", "updated",
                   "reason"):  # fmt: skip
        table.add_column(column)
    for key, service in services.items():
        for item in [] if unavailable(service) else service["deployments"]:
            counts = f"{item['running']}/{item['desired']}/{item['pending']}"
            updated = when(item["updated_at"], now, never="")
            table.add_row(_t(key), _t(item["status"]), _t(item["rollout_state"]), _t(item["revision"]), counts,
                          _t(item["failed"]), _t(updated), _t(item["rollout_reason"]))  # fmt: skip
    return table


def targets_table(services: Mapping[str, Any]) -> Table:
    table = Table(title="Load balancer targets", title_justify="left")
    for column in ("service", "target group", "target", "state", "reason"):
        table.add_column(column)
    for key, service in services.items():
        for group in [] if unavailable(service) else service["target_groups"]:
            reason = unavailable(group)
            if reason:
                table.add_row(_t(key), "", "", "", _t(reason))
            elif not group["targets"]:
                table.add_row(_t(key), _t(group["name"]), "none registered", "", "")
            for target in [] if reason else group["targets"]:
                where = f"{target['id']}:{target['port']}" if target.get("port") else str(target["id"])
                why = " ".join(str(p) for p in (target.get("reason"), target.get("description")) if p)
                table.add_row(_t(key), _t(group["name"]), _t(where), _t(target["state"]), _t(why))
    return table


def events_table(services: Mapping[str, Any], now: dt.datetime) -> Table:
    table = Table(title="Recent service events", title_justify="left")
    for column in ("service", "when", "event"):
        table.add_column(column)
    for key, service in services.items():
        for event in [] if unavailable(service) else service["events"]:
            table.add_row(_t(key), _t(when(event["at"], now, never="")), _t(event["message"]))
    return table


def alarms_table(alarms: Any, now: dt.datetime) -> Table:
    table = Table(title="Alarms in ALARM", title_justify="left")
    for column in ("alarm", "service", "since", "reason"):
        table.add_column(column)
    reason = unavailable(alarms)
    if reason:
        table.add_row(_t(reason), "", "", "")
    elif not alarms:
        table.add_row("none", "", "", "")
    for alarm in [] if reason else alarms:
        table.add_row(_t(alarm["name"]), _t(alarm.get("service") or "-"), _t(when(alarm["since"], now, never="")),
                      _t(alarm["reason"]))  # fmt: skip
    return table


def _pairs(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, value in rows:
        table.add_row(_t(name), _t(value))
    return table


def certificate_table(cert: Any, renewer: Any, now: dt.datetime) -> Table:
    reason = unavailable(cert)
    if reason:
        rows = [("certificate", reason)]
    elif not cert["found"]:
        rows = [("certificate", f"none managed by stackops for {', '.join(cert['names'])}: run inv cert")]
    else:
        renews = "due now (the next renewal run)" if cert["renewal_due"] else when(cert["renews_at"], now)
        rows = [
            ("names", ", ".join(cert["names"])),
            ("not after", when(cert["not_after"], now)),
            ("days left", str(cert["days_left"])),
            ("renews", f"{renews}, by the lifetime rule (a third left)"),
            ("arn", cert["arn"]),
        ]
    renewer_reason = unavailable(renewer)
    last_run = renewer_reason or when(renewer["last_run"], now)
    name = "" if renewer_reason else f" ({renewer['function']})"
    rows.append((f"last renewal run{name}", last_run))
    return _pairs("Certificate", rows)


def database_table(db: Any, now: dt.datetime) -> Table:
    reason = unavailable(db)
    if reason:
        return _pairs("Database", [("database", reason)])
    used = "unknown" if db["used_gib"] is None else f"{db['used_gib']} GiB"
    snapshot = db["latest_snapshot"]
    if unavailable(snapshot):
        latest = str(unavailable(snapshot))
    elif snapshot is None:
        latest = "none"
    else:
        latest = f"{snapshot['id']} ({snapshot['type']}, {snapshot['status']}) {when(snapshot['created'], now)}"
    return _pairs(
        "Database",
        [
            ("identifier", db["identifier"]),
            ("status", db["status"]),
            ("engine", f"{db['engine']} {db['engine_version']} ({db['instance_class']})"),
            ("storage", f"{used} used of {db['allocated_gib']} GiB allocated"),
            ("multi-AZ", "yes" if db["multi_az"] else "no"),
            ("latest snapshot", latest),
        ],
    )


def state_line(state: Any, now: dt.datetime) -> str:
    reason = unavailable(state)
    if reason:
        return f"state: {escape(reason)}"
    written = when(state["last_written"], now)
    return escape(f"state: last written {written}, serial {state['serial']} (s3://{state['bucket']}/{state['key']})")
