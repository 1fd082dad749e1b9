"""A review summary of a saved Terraform plan: for a pull-request comment and for scripts.

Built from `terraform show -json PLAN` (only its structure: addresses, types, actions, which
values are sensitive) and `terraform show -no-color PLAN` (the text shown in full). No value of
the plan's JSON (`before`, `after`) ever reaches the summary, so it holds nothing Terraform's own
text would not show: sensitive values stay `(sensitive value)` there and `(sensitive)` here.

    plan = review(tf.show_json(result.path), tf.plan_text(result), env.name)  # result: a PlanResult
    to_markdown(plan)  # the comment body, found again by its first line's marker
    to_json(plan)      # the same, as plain data
    destructive(plan_json["resource_changes"])  # what an apply would replace or destroy
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stackops.terraform_stream import PlannedChange

# Resource types whose destruction (or replacement) loses data that no apply brings back.
STATEFUL_TYPES: frozenset[str] = frozenset({
    # Databases: the rows, and (after the final snapshot, if any) the backups with them.
    "aws_db_instance", "aws_rds_cluster",
    # Stored objects: uploads, logs, and the Terraform state bucket itself.
    "aws_s3_bucket",
    # DNS: a new zone gets new name servers, so the domain's delegation breaks until the registrar is changed.
    "aws_route53_zone",
    # The state lock table (and any application table): its items.
    "aws_dynamodb_table",
    # Container images: every pushed tag, the ones the running revisions and rollbacks need included.
    "aws_ecr_repository",
    # Shared file systems: the files on them.
    "aws_efs_file_system",
    # Keys: whatever was encrypted under a deleted key can never be decrypted again.
    "aws_kms_key",
    # Secrets: their values (only a restore within the recovery window brings them back).
    "aws_secretsmanager_secret",
    # Logs: the retained events of every service and task.
    "aws_cloudwatch_log_group",
})  # fmt: skip

# GitHub refuses a comment body longer than this (characters).
COMMENT_LIMIT = 65_536
MARKER = "<!-- stackops-plan:{env} -->"

# The order of the counts, the heading's totals and the tables of other changes.
ACTIONS = ("add", "change", "replace", "destroy", "import", "move", "forget")
_ALWAYS_COUNTED = ("add", "change", "replace", "destroy")
_OTHER_ORDER = {action: i for i, action in enumerate(("add", "change", "import", "move", "forget"))}
_REPLACE = (["delete", "create"], ["create", "delete"])


@dataclass(frozen=True)
class Destructive:
    """A resource an apply of the plan would replace or destroy."""

    address: str
    type: str
    action: str  # "replace" | "destroy"
    stateful: bool


@dataclass(frozen=True)
class Change:
    """Any other change to a resource: add, change (in place), import, move or forget."""

    address: str
    type: str
    action: str
    previous_address: str = ""  # a move's former address (also set on a moved resource that changes)
    importing: bool = False  # imported by this plan (also set on an imported resource that changes)


@dataclass(frozen=True)
class Drift:
    """An object changed (or deleted) outside Terraform since the last apply, as the refresh found it."""

    address: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class OutputChange:
    name: str
    action: str  # "add" | "change" | "destroy"
    sensitive: bool


@dataclass(frozen=True)
class PlanReview:
    environment: str
    counts: dict[str, int]
    destructive: list[Destructive] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    outputs: list[OutputChange] = field(default_factory=list)
    plan_text: str = ""

    @property
    def has_changes(self) -> bool:
        """What Terraform's -detailed-exitcode calls changes: to resources, or to outputs."""
        return bool(self.destructive or self.changes or self.outputs)


def _managed(resource_changes: Iterable[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    return [rc for rc in resource_changes or () if rc.get("mode", "managed") == "managed"]


def _actions(entry: Mapping[str, Any]) -> list[str]:
    return list((entry.get("change") or {}).get("actions") or [])


def destructive(resource_changes: Iterable[Mapping[str, Any]] | None) -> list[Destructive]:
    """The managed resources `resource_changes` replaces or destroys: stateful ones first, then by address."""
    found = []
    for entry in _managed(resource_changes):
        actions = _actions(entry)
        if actions in _REPLACE:
            action = "replace"
        elif actions == ["delete"]:
            action = "destroy"
        else:
            continue
        kind = str(entry.get("type", ""))
        found.append(Destructive(str(entry["address"]), kind, action, kind in STATEFUL_TYPES))
    return _stateful_first(found)


def destructive_planned(planned: Iterable[PlannedChange]) -> list[Destructive]:
    """The same from the plan's own stream (`planned_change` messages), so that an apply can be
    judged without `terraform show -json`: `replace` and `delete` of managed resources."""
    found = [
        Destructive(c.address, c.type, "replace" if c.action == "replace" else "destroy", c.type in STATEFUL_TYPES)
        for c in planned
        if c.managed and c.action in ("replace", "delete")
    ]
    return _stateful_first(found)


def _stateful_first(found: list[Destructive]) -> list[Destructive]:
    return sorted(found, key=lambda d: (not d.stateful, d.address))


def _other(entry: Mapping[str, Any]) -> Change | None:
    actions = _actions(entry)
    change = entry.get("change") or {}
    previous = str(entry.get("previous_address") or "")
    importing = change.get("importing") is not None
    if actions == ["create"]:
        action = "add"
    elif actions == ["update"]:
        action = "change"
    elif actions == ["forget"]:
        action = "forget"
    elif importing:
        action = "import"
    elif previous:
        action = "move"
    else:
        return None  # no-op, or replace/destroy (destructive)
    return Change(str(entry["address"]), str(entry.get("type", "")), action, previous, importing)


def _output_action(actions: list[str]) -> str | None:
    if actions == ["create"]:
        return "add"
    if actions == ["delete"]:
        return "destroy"
    if actions == ["update"] or actions in _REPLACE:
        return "change"
    return None


def review(plan_json: Mapping[str, Any], plan_text: str, env_name: str) -> PlanReview:
    """The review of one saved plan: `terraform show -json` of it, `terraform show -no-color` of it."""
    managed = _managed(plan_json.get("resource_changes"))
    gone = destructive(managed)
    others = sorted(
        (c for c in map(_other, managed) if c is not None), key=lambda c: (_OTHER_ORDER[c.action], c.address)
    )
    counts = dict.fromkeys(ACTIONS, 0)
    for change in others:
        if change.action in ("add", "change", "forget"):
            counts[change.action] += 1
    for item in gone:
        counts[item.action] += 1
    for entry in managed:  # an import or a move may come with a change: counted as both, as Terraform does
        if (entry.get("change") or {}).get("importing") is not None:
            counts["import"] += 1
        if entry.get("previous_address"):
            counts["move"] += 1
    # Terraform reports every refreshed difference in resource_drift (computed attributes too); like
    # its own "changes made outside of Terraform" section, only those that may affect this plan
    # (relevant_attributes) are listed. A plan with no relevant_attributes at all lists them all.
    relevant = {str(r.get("resource")) for r in plan_json.get("relevant_attributes") or []}
    drift = sorted(
        (
            Drift(str(d["address"]), tuple(_actions(d)))
            for d in _managed(plan_json.get("resource_drift"))
            if not relevant or d["address"] in relevant
        ),
        key=lambda d: d.address,
    )
    outputs = []
    for name, change in sorted((plan_json.get("output_changes") or {}).items()):
        action = _output_action(list(change.get("actions") or []))
        if action:
            sensitive = bool(change.get("before_sensitive") or change.get("after_sensitive"))
            outputs.append(OutputChange(name, action, sensitive))
    return PlanReview(env_name, counts, gone, others, drift, outputs, plan_text)


# -- Markdown ----------------------------------------------------------------------------------------------------


def totals(plan: PlanReview) -> str:
    """`1 to add, 1 to change, 1 to replace, 0 to destroy` (import, move and forget only when any)."""
    shown = [a for a in ACTIONS if a in _ALWAYS_COUNTED or plan.counts.get(a)]
    return ", ".join(f"{plan.counts.get(a, 0)} to {a}" for a in shown)


def _longest_run(text: str, char: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def fence(text: str) -> str:
    """A code fence no backtick run in `text` can close: longer than the longest, at least three."""
    return "`" * max(3, _longest_run(text, "`") + 1)


def _code(text: str) -> str:
    """`text` as an inline code span fit for a table cell (backticks and pipes in for_each keys)."""
    text = text.replace("\n", " ").replace("|", "\\|")
    ticks = "`" * (_longest_run(text, "`") + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _destructive_rows(plan: PlanReview) -> list[tuple[str, ...]]:
    rows = []
    for item in plan.destructive:
        if item.stateful:
            rows.append((f"**{item.action}**", f"**{_code(item.address)}**", _code(item.type), "**stateful**"))
        else:
            rows.append((item.action, _code(item.address), _code(item.type), ""))
    return rows


def _change_rows(plan: PlanReview) -> list[tuple[str, ...]]:
    rows = []
    for change in plan.changes:
        notes = []
        if change.previous_address:
            notes.append(f"moved from {_code(change.previous_address)}")
        if change.importing and change.action != "import":
            notes.append("imported")
        rows.append((change.action, _code(change.address), _code(change.type), "; ".join(notes)))
    return rows


def _sections(plan: PlanReview) -> list[str]:
    """Everything but the full plan: marker, heading, tables."""
    lines = [MARKER.format(env=plan.environment)]
    if not plan.has_changes:
        lines.append(f"### Terraform plan for {plan.environment}: no changes")
    else:
        lines.append(f"### Terraform plan for {plan.environment}: {totals(plan)}")
    if plan.destructive:
        lines += ["", "#### Replaced or destroyed", ""]
        lines += _table(("Action", "Address", "Type", "Note"), _destructive_rows(plan))
    if plan.changes:
        lines += ["", "#### Other changes", ""]
        lines += _table(("Action", "Address", "Type", "Note"), _change_rows(plan))
    if plan.outputs:
        rows = [(o.action, _code(o.name) + (" (sensitive)" if o.sensitive else "")) for o in plan.outputs]
        lines += ["", "#### Outputs", "", *_table(("Action", "Output"), rows)]
    if plan.drift:
        rows = [(_code(d.address), ", ".join(d.actions)) for d in plan.drift]
        lines += ["", "#### Changed outside Terraform", "", *_table(("Address", "Found"), rows)]
    return lines


def _details(text: str, ticks: str, note: str) -> str:
    body = ["", "<details><summary>Full plan</summary>", "", f"{ticks}text", text, ticks, ""]
    if note:
        body += [note, ""]
    return "\n".join([*body, "</details>", ""])


def _cut_note(kept: int) -> str:
    return f"_plan cut at {kept} characters; the full plan is in the log_"


def to_markdown(plan: PlanReview, limit: int = COMMENT_LIMIT) -> str:
    """The pull-request comment: marker, heading, tables, then Terraform's text folded away.

    The whole stays within `limit` (GitHub's) by cutting the plan text, at a line's end where it
    can, and saying so; the tables are never cut."""
    head = "\n".join(_sections(plan)) + "\n"
    text = plan.plan_text.strip("\n")
    if not plan.has_changes or not text:
        return head
    ticks = fence(text)
    whole = head + _details(text, ticks, "")
    if len(whole) <= limit:
        return whole
    # The note's length with the most digits it can have, so that whatever is kept fits beside it.
    room = limit - len(head) - len(_details("", ticks, _cut_note(len(text))))
    kept = text[: max(room, 0)]
    if "\n" in kept and not text[len(kept) :].startswith("\n"):
        kept = kept[: kept.rindex("\n")]
    return head + _details(kept, ticks, _cut_note(len(kept)))


# -- JSON ----------------------------------------------------------------------------------------------------------


def to_json(plan: PlanReview) -> dict[str, Any]:
    """The review as plain data for scripts: addresses, types and actions only, never a value."""
    return {
        "environment": plan.environment,
        "has_changes": plan.has_changes,
        "counts": dict(plan.counts),
        "destructive": [
            {"address": d.address, "type": d.type, "action": d.action, "stateful": d.stateful} for d in plan.destructive
        ],
        "changes": [
            {
                "address": c.address,
                "type": c.type,
                "action": c.action,
                "previous_address": c.previous_address or None,
                "importing": c.importing,
            }
            for c in plan.changes
        ],
        "drift": [{"address": d.address, "actions": list(d.actions)} for d in plan.drift],
        "outputs": [{"name": o.name, "action": o.action, "sensitive": o.sensitive} for o in plan.outputs],
    }
