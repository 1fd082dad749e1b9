"""The renewal decision: issue, renew or skip, by the CA's renewal window or the certificate's lifetime.

For an existing certificate, in this order (the first rule that applies decides):
  a placeholder           issue (`inv up`'s self-signed stand-in, certs/placeholder.py)
  --force                 renew
  expired                 renew (RFC 9773 §4.2: no renewal information is asked after expiry)
  --renew-within DAYS     renew when fewer than DAYS are left (explicit wins over the CA)
  the CA's window (ARI)   renew once this certificate's point in the window has come (see
                          `ari.renewal_point`): a window wholly past renews now, one wholly ahead skips
  the lifetime rule       renew when less than a third of the lifetime is left; it decides when the
                          CA has no renewal information (no renewalInfo, a 404) and, after a warning,
                          when its answer cannot be used (unreachable, a 5xx, a malformed body)

`renewal_decision` is the one path `inv cert`, `inv cert --renew-all` and the renewal Lambda use:
it asks the CA only when its answer can decide, then calls the pure `decide`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from stackops.certs import ari
from stackops.certs.acm import ManagedCert
from stackops.certs.certbot import AcmeServer


@dataclass(frozen=True)
class Decision:
    action: str  # issue | renew | skip
    reason: str  # which rule decided, for the table's "Why"
    renews: str = ""  # when a skipped certificate renews (the CA's window or the rule's date), for "Renews"
    renews_at: dt.datetime | None = None  # that moment (the point in the CA's window, or the rule's date)


def renewal_due(
    not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime, renew_within_days: float | None = None
) -> bool:
    """Less than a third of the lifetime left, or fewer than `renew_within_days` days when given."""
    return now > lifetime_renewal(not_before, not_after, renew_within_days)


def lifetime_renewal(
    not_before: dt.datetime, not_after: dt.datetime, renew_within_days: float | None = None
) -> dt.datetime:
    """When the lifetime rule renews: a third of the lifetime before expiry (or `renew_within_days`)."""
    if renew_within_days is not None:
        return not_after - dt.timedelta(days=renew_within_days)
    return not_after - (not_after - not_before) / 3


def format_window(start: dt.datetime, end: dt.datetime) -> str:
    """A window as "2026-12-01 10:00 to 12:00 UTC", with both dates when it spans days."""
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    tail = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} to {tail} UTC"


def _moment(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def asks_ca(existing: ManagedCert | None, now: dt.datetime, *, renew_within_days: float | None, force: bool) -> bool:
    """Whether the CA's renewal information can decide (so whether to fetch the certificate and ask)."""
    return (
        existing is not None
        and not existing.placeholder
        and not force
        and renew_within_days is None
        and existing.not_after > now
    )


def decide(
    existing: ManagedCert | None,
    now: dt.datetime,
    *,
    renew_within_days: float | None = None,
    force: bool = False,
    renewal_info: ari.RenewalInfo | None = None,
) -> Decision:
    """The decision for `existing` at `now` (see the module docstring); `renewal_info` is the CA's answer."""
    if existing is None:
        return Decision("issue", "no certificate managed by stackops for these names")
    if existing.placeholder:
        return Decision("issue", "replaces the placeholder inv up imported before the hosted zone existed")
    days = (existing.not_after - now).total_seconds() / 86400
    if force:
        return Decision("renew", f"--force ({days:.0f} days left)")
    if existing.not_after <= now:
        return Decision("renew", f"expired on {_moment(existing.not_after)}")
    info = renewal_info if renew_within_days is None else None
    if info is not None and info.state == ari.WINDOW and info.start and info.end:
        return _by_window(now, info.start, info.end, info.cert_id or existing.arn, days)
    lifetime = round((existing.not_after - existing.not_before).total_seconds() / 86400)  # pebble: 90 d less a second
    rule = f"{renew_within_days:g} days" if renew_within_days is not None else f"a third of its {lifetime}-day lifetime"
    note = {ari.UNKNOWN: "; the CA has no renewal window for it", ari.FAILED: "; the CA's renewal window unusable"}
    suffix = note.get(info.state, "") if info is not None else ""
    at = lifetime_renewal(existing.not_before, existing.not_after, renew_within_days)
    if now > at:
        return Decision("renew", f"{days:.0f} days left, within {rule}{suffix}")
    left = f"{renew_within_days:g} days left" if renew_within_days is not None else "a third left"
    return Decision(
        "skip", f"{days:.0f} days left; renews within {rule}{suffix}", f"{_moment(at)} ({left})", renews_at=at
    )


def _by_window(now: dt.datetime, start: dt.datetime, end: dt.datetime, identity: str, days: float) -> Decision:
    window = format_window(start, end)
    point = ari.renewal_point(start, end, identity)
    if now >= end:
        return Decision("renew", f"the CA's renewal window {window} has passed ({days:.0f} days left)")
    if now >= point:
        return Decision("renew", f"inside the CA's renewal window {window} ({days:.0f} days left)")
    renews = f"{window} (the CA's window)"
    if now < start:
        return Decision("skip", f"the CA's renewal window {window} is ahead ({days:.0f} days left)", renews, point)
    return Decision("skip", f"inside the CA's renewal window {window}; renews from {_moment(point)}", renews, point)


def renewal_decision(
    existing: ManagedCert | None,
    now: dt.datetime,
    *,
    acme: AcmeServer,
    certificate_pem: Callable[[], str],
    renew_within_days: float | None = None,
    force: bool = False,
    warn: Callable[[str], None],
) -> Decision:
    """Ask the CA when it can decide, then decide; an unusable answer is one `warn` line, never a failure.

    `certificate_pem` reads the existing certificate's PEM (ACM's GetCertificate), called only then.
    """
    info = None
    if asks_ca(existing, now, renew_within_days=renew_within_days, force=force):
        info = ari.fetch(acme, certificate_pem())
        if info.warning:
            warn(f"the CA's renewal information could not be used, the lifetime rule decides: {info.warning}")
    return decide(existing, now, renew_within_days=renew_within_days, force=force, renewal_info=info)
