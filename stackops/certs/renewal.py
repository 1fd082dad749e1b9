"""The renewal decision: issue, renew (less than a third of the lifetime left) or skip."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stackops.certs.acm import ManagedCert


@dataclass(frozen=True)
class Decision:
    action: str  # issue | renew | skip
    reason: str


def renewal_due(
    not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime, renew_within_days: float | None = None
) -> bool:
    """Less than a third of the lifetime left, or fewer than `renew_within_days` days when given."""
    left = not_after - now
    if renew_within_days is not None:
        return left < dt.timedelta(days=renew_within_days)
    return left < (not_after - not_before) / 3


def decide(
    existing: ManagedCert | None,
    now: dt.datetime,
    *,
    renew_within_days: float | None = None,
    force: bool = False,
) -> Decision:
    if existing is None:
        return Decision("issue", "no certificate managed by stackops for these names")
    left = existing.not_after - now
    days = left.total_seconds() / 86400
    if force:
        return Decision("renew", f"--force ({days:.0f} days left)")
    if renewal_due(existing.not_before, existing.not_after, now, renew_within_days):
        return Decision("renew", f"{days:.0f} days left")
    window = (
        f"{renew_within_days:g} days"
        if renew_within_days is not None
        else f"a third of its {(existing.not_after - existing.not_before).days}-day lifetime"
    )
    return Decision("skip", f"{days:.0f} days left; renews within {window}")
