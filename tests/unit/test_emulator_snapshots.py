"""The emulator's DescribeSnapshots fix (stackops/local/aws/snapshots.py) against moto's in-process backend.

moto loads its default Amazon AMIs (each with an auto-created snapshot owned by an Amazon account);
the account creates one snapshot of its own. The fix is installed for each test and moto's original
method is restored afterwards.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from stackops.local.aws import snapshots

REGION = "eu-west-2"


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    monkeypatch.setattr(ElasticBlockStore, "describe_snapshots", ElasticBlockStore.describe_snapshots)
    snapshots.install()
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def own_snapshot(ec2: Any) -> str:
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    return ec2.create_snapshot(VolumeId=volume, Description="the account's own")["SnapshotId"]


def listed(ec2: Any, **kwargs: Any) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_snapshots").paginate(**kwargs)
    return [snapshot for page in pages for snapshot in page["Snapshots"]]


def test_self_lists_only_the_accounts_own_snapshots(ec2):
    mine = own_snapshot(ec2)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    everything = listed(ec2)
    assert len(everything) > 100, "moto's default AMIs' snapshots are there (what the fix leaves out)"
    assert [s["SnapshotId"] for s in listed(ec2, OwnerIds=["self"])] == [mine]
    assert [s["SnapshotId"] for s in listed(ec2, OwnerIds=[account])] == [mine]
    assert listed(ec2, OwnerIds=["111122223333"]) == []


def test_amazon_lists_the_snapshots_of_amazons_amis_and_filters_still_apply(ec2):
    mine = own_snapshot(ec2)
    amazon = listed(ec2, OwnerIds=["amazon"])
    assert amazon and mine not in {s["SnapshotId"] for s in amazon}
    assert all(s["Description"].startswith("Auto-created snapshot for AMI") for s in amazon)
    both = listed(ec2, OwnerIds=["self", "amazon"])
    assert len(both) == len(amazon) + 1
    # Filters and snapshot IDs narrow the owners' snapshots as before.
    described = [{"Name": "description", "Values": ["the account's own"]}]
    assert [s["SnapshotId"] for s in listed(ec2, OwnerIds=["self", "amazon"], Filters=described)] == [mine]
    assert [s["SnapshotId"] for s in listed(ec2, OwnerIds=["amazon"], Filters=described)] == []
    assert [s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"], SnapshotIds=[mine])["Snapshots"]] == [
        mine
    ]


def test_without_owner_ids_the_answer_is_motos_own(ec2):
    own_snapshot(ec2)
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore

    assert getattr(ElasticBlockStore.describe_snapshots, "_stackops", False)
    assert len(listed(ec2)) == len(listed(ec2, OwnerIds=["self", "amazon"]))
