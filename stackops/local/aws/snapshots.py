"""DescribeSnapshots honours OwnerIds: `self` lists the account's own snapshots, not Amazon's.

In AWS, DescribeSnapshots with OwnerIds "scopes the results to snapshots with the specified owners":
Amazon Web Services account IDs, `self` (the caller's account) and `amazon`. moto 5.2.5
(moto/ec2/responses/elastic_block_store.py) ignores the parameter and answers every snapshot of the
region, among them the ~1,282 it creates for its built-in Amazon AMIs (each AMI's "auto-created
snapshot", owned by the AMI's Amazon account). A scanner asking for the account's own snapshots
(Prowler: OwnerIds=["self"]) then checked each of them: minutes of calls and false findings about
snapshots no account of this stack owns.

The fix keeps moto's answer and keeps only the snapshots of the owners asked for: `self` is the
caller's account, `amazon` a snapshot of one of Amazon's AMIs (moto's default AMIs carry the alias
`amazon`), anything else an account ID. Without OwnerIds the answer is moto's, unchanged.
DescribeImages needs no fix: moto already scopes Owners=["self"] to the account (amis.py).
"""

from __future__ import annotations

from typing import Any


def owned_by(snapshot: Any, owners: list[str], account_id: str, amis: dict[str, Any]) -> bool:
    """Whether one of `owners` (account IDs, `self`, `amazon`) owns the snapshot."""
    accounts = {account_id if owner == "self" else owner for owner in owners}
    if snapshot.owner_id in accounts:
        return True
    ami = amis.get(snapshot.from_ami) if snapshot.from_ami else None
    return "amazon" in owners and ami is not None and getattr(ami, "owner_alias", None) == "amazon"


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    describe = ElasticBlockStore.describe_snapshots
    if getattr(describe, "_stackops", False):
        return

    def describe_snapshots(self: Any) -> ActionResult:
        owners = self._get_param("OwnerIds", [])
        if not owners:
            return describe(self)
        snapshots = self.ec2_backend.describe_snapshots(
            snapshot_ids=self._get_param("SnapshotIds", []), filters=self._filters_from_querystring()
        )
        backend = self.ec2_backend
        kept = [s for s in snapshots if owned_by(s, owners, backend.account_id, backend.amis)]
        return ActionResult({"Snapshots": kept})

    describe_snapshots._stackops = True  # type: ignore[attr-defined]
    ElasticBlockStore.describe_snapshots = describe_snapshots  # type: ignore[method-assign]
