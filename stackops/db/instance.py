"""The environment's database as Terraform's `database` output names it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stackops.errors import OpsError
from stackops.state_object import outputs_of


@dataclass(frozen=True)
class DatabaseRef:
    env: str
    identifier: str  # the RDS instance identifier
    snapshot_keep: int  # how many of the tool's own snapshots to keep (root variable db_snapshot_keep)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any] | None, *, env: str) -> DatabaseRef:
        database = (outputs or {}).get("database")
        if not isinstance(database, Mapping) or not database.get("identifier"):
            raise OpsError(f"no database in the Terraform outputs of env {env}: run inv apply --env {env} first")
        keep = database.get("snapshot_keep")
        return cls(env, str(database["identifier"]), int(keep) if isinstance(keep, int | float) and keep >= 1 else 10)

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, *, env: str) -> DatabaseRef:
        return cls.from_outputs(outputs_of(dict(state or {})), env=env)
