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
    # The host the backend is given instead of this instance's (extra_environment's DATABASE_HOST,
    # the switch-over after `inv db.restore`); None while it uses this instance.
    switched_to: str | None = None

    def check_in_use(self) -> None:
        """OpsError when the backend no longer uses this instance: a snapshot of it would not be
        the database the migration changes."""
        if self.switched_to:
            raise OpsError(
                f"the backend of env {self.env} uses DATABASE_HOST {self.switched_to} (extra_environment), not"
                f" the instance {self.identifier} the tool snapshots: snapshot that database by hand"
                f" (aws rds create-db-snapshot) and migrate with --no-snapshot, or switch back first"
            )

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any] | None, *, env: str) -> DatabaseRef:
        database = (outputs or {}).get("database")
        if not isinstance(database, Mapping) or not database.get("identifier"):
            raise OpsError(f"no database in the Terraform outputs of env {env}: run inv apply --env {env} first")
        keep = database.get("snapshot_keep")
        address, host = database.get("address"), database.get("backend_host")
        return cls(
            env,
            str(database["identifier"]),
            int(keep) if isinstance(keep, int | float) and keep >= 1 else 10,
            switched_to=str(host) if host and address and host != address else None,
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, *, env: str) -> DatabaseRef:
        return cls.from_outputs(outputs_of(dict(state or {})), env=env)
