"""Renewal by the CA's renewal information (RFC 9773): the certID, the point in the window, the
decision's rules and their precedence, the client against the emulated CA's front, and the table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from acme import messages
from cryptography import x509

from stackops.certs import ari
from stackops.certs.acm import ManagedCert
from stackops.certs.certbot import AcmeServer
from stackops.certs.issue import CertResult, print_results
from stackops.certs.renewal import decide, format_window, renewal_decision
from stackops.local import pebble
from tests.unit.ari_support import Front, cert_with_aki, running_front

NOW = dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
# RFC 9773 §4.1's example: this keyIdentifier and serial 0x87654321 (DER 00 87 65 43 21).
RFC_AKI = bytes.fromhex("69885B6B874640 41E1B37B847BA0AE2CDE01C8D4".replace(" ", ""))
RFC_CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def young(age_days: float = 10, lifetime: int = 90) -> ManagedCert:
    not_before = NOW - dt.timedelta(days=age_days)
    return ManagedCert("arn:young", ("ari.exii.test",), not_before, not_before + dt.timedelta(days=lifetime), "EC")


def window(start: dt.datetime, end: dt.datetime, identity: str = RFC_CERT_ID) -> ari.RenewalInfo:
    return ari.RenewalInfo(ari.WINDOW, start, end, cert_id=identity)


# -- the certID and the point in the window --------------------------------------------------------
def test_cert_id_of_the_rfc_example() -> None:
    assert ari.cert_id(cert_with_aki(RFC_AKI, 0x87654321)) == RFC_CERT_ID


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF, 0x0100, 0x87654321, 2**159 - 1, 2**152 + 5])
def test_cert_id_agrees_with_acme(serial: int) -> None:
    """acme's own (private) construction, where the sign byte is the usual trap."""
    from acme.client import _renewal_info_path_component

    pem = cert_with_aki(RFC_AKI, serial)
    assert ari.cert_id(pem) == _renewal_info_path_component(x509.load_pem_x509_certificate(pem.encode()))


def test_renewal_point_is_fixed_per_certificate_and_spread() -> None:
    start, end = NOW, NOW + dt.timedelta(days=2)
    points = [ari.renewal_point(start, end, f"id-{n}") for n in range(400)]
    assert all(start <= p <= end for p in points)
    assert ari.renewal_point(start, end, "id-7") == points[7]  # the same at every run
    fractions = [(p - start) / (end - start) for p in points]
    assert 0.4 < sum(fractions) / len(fractions) < 0.6 and min(fractions) < 0.1 and max(fractions) > 0.9


def test_format_window() -> None:
    assert format_window(NOW - HOUR, NOW + HOUR) == "2026-12-01 10:00 to 12:00 UTC"
    assert format_window(NOW, NOW + dt.timedelta(days=2)) == "2026-12-01 11:00 to 2026-12-03 11:00 UTC"


# -- the decision ---------------------------------------------------------------------------------
def test_window_in_the_past_renews_a_young_certificate() -> None:
    decision = decide(young(), NOW, renewal_info=window(NOW - 3 * HOUR, NOW - HOUR))
    assert decision.action == "renew"
    assert decision.reason == "the CA's renewal window 2026-12-01 08:00 to 10:00 UTC has passed (80 days left)"


def test_window_ahead_skips_an_old_certificate() -> None:
    old = young(age_days=85)  # 5 days left: the lifetime rule alone would renew
    decision = decide(old, NOW, renewal_info=window(NOW + dt.timedelta(days=2), NOW + dt.timedelta(days=3)))
    assert decision.action == "skip" and "is ahead" in decision.reason
    assert decision.renews == "2026-12-03 11:00 to 2026-12-04 11:00 UTC (the CA's window)"
    assert decision.renews_at is not None and NOW + dt.timedelta(days=2) <= decision.renews_at


def test_inside_the_window_the_certificates_point_decides() -> None:
    start, end = NOW - HOUR, NOW + HOUR
    point = ari.renewal_point(start, end, RFC_CERT_ID)
    before, after = point - dt.timedelta(minutes=1), point + dt.timedelta(minutes=1)
    waiting = decide(young(), before, renewal_info=window(start, end))
    assert waiting.action == "skip" and waiting.renews_at == point
    assert f"renews from {point:%Y-%m-%d %H:%M} UTC" in waiting.reason
    due = decide(young(), after, renewal_info=window(start, end))
    assert due.action == "renew" and due.reason.startswith("inside the CA's renewal window 2026-12-01 10:00 to 12:00")


@pytest.mark.parametrize(
    ("info", "note"),
    [
        (None, ""),
        (ari.RenewalInfo(ari.UNSUPPORTED), ""),
        (ari.RenewalInfo(ari.UNKNOWN), "; the CA has no renewal window for it"),
        (ari.RenewalInfo(ari.FAILED, detail="the CA did not answer"), "; the CA's renewal window unusable"),
    ],
)
def test_without_a_window_the_lifetime_rule_decides(info: ari.RenewalInfo | None, note: str) -> None:
    fresh = decide(young(10), NOW, renewal_info=info)
    assert fresh.action == "skip"
    assert fresh.reason == f"80 days left; renews within a third of its 90-day lifetime{note}"
    assert fresh.renews == "2027-01-20 11:00 UTC (a third left)"  # 60 days after its start
    assert decide(young(61), NOW, renewal_info=info).action == "renew"


def test_force_and_renew_within_win_over_the_window() -> None:
    ahead = window(NOW + dt.timedelta(days=20), NOW + dt.timedelta(days=21))
    past = window(NOW - 2 * HOUR, NOW - HOUR)
    forced = decide(young(), NOW, force=True, renewal_info=ahead)
    assert forced.action == "renew" and "--force" in forced.reason
    assert decide(young(), NOW, renew_within_days=85, renewal_info=ahead).action == "renew"
    within = decide(young(), NOW, renew_within_days=10, renewal_info=past)
    assert within.action == "skip" and "renews within 10 days" in within.reason and "CA" not in within.reason


def test_an_expired_certificate_renews_without_asking() -> None:
    expired = young(age_days=91)
    decision = decide(expired, NOW, renewal_info=window(NOW + HOUR, NOW + 2 * HOUR))
    assert decision.action == "renew" and decision.reason.startswith("expired on 2026-11-30")


def test_renewal_decision_asks_the_ca_only_when_it_can_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fetch(acme: AcmeServer, pem: str) -> ari.RenewalInfo:
        asked.append(pem)
        return ari.RenewalInfo(ari.FAILED, detail="the CA answered HTTP 503: busy", url="https://ca/ri/x.y")

    monkeypatch.setattr(ari, "fetch", fetch)
    warnings: list[str] = []
    options = {"acme": AcmeServer("https://ca/dir"), "certificate_pem": lambda: "PEM", "warn": warnings.append}
    for existing, extra in [(None, {}), (young(), {"force": True}), (young(), {"renew_within_days": 30.0}),
                            (young(age_days=91), {})]:  # fmt: skip
        renewal_decision(existing, NOW, **options, **extra)  # type: ignore[arg-type]
    assert asked == [] and warnings == []
    decision = renewal_decision(young(), NOW, **options)  # type: ignore[arg-type]
    assert asked == ["PEM"] and decision.action == "skip"
    assert warnings == [
        "the CA's renewal information could not be used, the lifetime rule decides: "
        "the CA answered HTTP 503: busy (https://ca/ri/x.y)"
    ]


# -- the client against the emulated CA's front ---------------------------------------------------
@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    with running_front(tmp_path / "pebble") as running:
        yield running


def ask(front: Front, pem: str | None = None) -> ari.RenewalInfo:
    return ari.fetch(AcmeServer(front.directory_url, str(front.ca)), pem or cert_with_aki(RFC_AKI, 0x87654321))


def test_fetch_reads_the_window(front: Front) -> None:
    start, end = NOW - HOUR, NOW + HOUR
    pebble.set_renewal_info(front.folder.parent, (start, end))
    info = ask(front)
    assert (info.state, info.start, info.end, info.cert_id) == (ari.WINDOW, start, end, RFC_CERT_ID)
    assert info.url == f"{front.base_url}/renewal-info/{RFC_CERT_ID}" and info.warning is None
    assert any(f"/renewal-info/{RFC_CERT_ID} -> 200 (window)" in line for line in front.lines)


def test_fetch_sorts_the_other_answers(front: Front) -> None:
    state = front.folder.parent
    assert ask(front).state == ari.UNKNOWN  # no steering: 404
    pebble.set_renewal_info(state, mode="malformed")
    malformed = ask(front)
    assert malformed.state == ari.FAILED and malformed.warning is not None
    assert "HTTP 200 with no renewal window" in malformed.warning and '"start": "soon"' in malformed.warning
    pebble.set_renewal_info(state, mode="unreachable")
    dropped = ask(front)
    assert dropped.state == ari.FAILED and "the CA did not answer: ConnectionError" in str(dropped.warning)
    pebble.set_renewal_info(state, mode="unreachable", status=503)
    assert "the CA answered HTTP 503" in str(ask(front).warning)
    pebble.set_renewal_info(state, (NOW + HOUR, NOW - HOUR))  # ends before it starts
    assert ask(front).state == ari.FAILED


def test_fetch_without_renewal_info_or_directory(front: Front, monkeypatch: pytest.MonkeyPatch) -> None:
    from acme import client

    plain = messages.Directory.from_json({"newOrder": "https://ca/order"})
    with monkeypatch.context() as patch:
        patch.setattr(client.ClientV2, "get_directory", classmethod(lambda cls, url, net: plain))
        assert ask(front).state == ari.UNSUPPORTED
    gone = ari.fetch(AcmeServer("https://127.0.0.1:9/dir", str(front.ca)), cert_with_aki(RFC_AKI, 5))
    assert gone.state == ari.FAILED and "directory could not be read" in str(gone.warning)


# -- the table ------------------------------------------------------------------------------------
def test_the_table_shows_when_each_certificate_renews(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackops import ui

    monkeypatch.setattr(ui.out, "width", 200)  # another test may have left the console at 80 columns
    rows = [
        CertResult(("a.exii.test",), "skipped", "arn:a", NOW, reason="why", renews="2026-12-01 10:00 to 12:00 UTC"),
        CertResult(("b.exii.test",), "renewed", "arn:b", NOW, reason="why", renews="2027-01-30 11:00 UTC"),
        CertResult(("c.exii.test",), "failed", reason="boom"),
    ]
    print_results(rows)
    out = capsys.readouterr().out
    assert "Renews" in out and "2026-12-01 10:00 to 12:00 UTC" in out and "2027-01-30 11:00 UTC" in out
