"""`inv up`'s apply with the certificate beside it (stackops/local/up.py `apply_and_issue`), with
the apply, the zone listing and the issuance replaced by fakes: the thread's timing against the
apply's, and which error a person sees when either fails."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stackops import environments, stack
from stackops.certs.issue import CertResult
from stackops.certs.zones import HostedZone
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.local import up

ZONE = HostedZone("Z1", "exii.test")
ISSUED = [CertResult(("api.exii.test", "app.exii.test"), "issued")]


class Fakes:
    """The zone the fake apply creates, and what each fake saw."""

    def __init__(self) -> None:
        self.zone_made = threading.Event()
        self.issued = 0


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Environment:
    monkeypatch.setattr(Environment, "session", lambda self, master=False: FakeSession())
    return environments.load("local")


class FakeSession:
    def client(self, name: str) -> Any:
        return name  # list_zones is faked: the client is never called


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    made = Fakes()
    monkeypatch.setattr(up, "ZONE_POLL_SECONDS", 0.01)
    monkeypatch.setattr(up, "list_zones", lambda route53: [ZONE] if made.zone_made.is_set() else [])

    def certificate(env: Environment, **_: Any) -> list[CertResult]:
        made.issued += 1
        return ISSUED

    monkeypatch.setattr(up, "certificate", certificate)
    return made


def test_the_certificate_is_issued_once_the_apply_has_made_the_zone(env, fakes, monkeypatch) -> None:
    def apply(env: Environment, **_: Any) -> bool:
        fakes.zone_made.set()  # early in the apply
        return True

    monkeypatch.setattr(stack, "apply", apply)
    results, seconds = up.apply_and_issue(env, placeholder=True)
    assert results == ISSUED and fakes.issued == 1 and seconds >= 0


def test_a_zone_made_just_as_the_apply_ends_is_still_seen(env, fakes, monkeypatch) -> None:
    """The listing that began before the zone existed answers after the apply ended: the thread
    must look once more rather than conclude there is no zone."""
    ended = threading.Event()

    def stale_then_fresh(route53: Any) -> list[HostedZone]:
        if not ended.is_set():
            ended.wait(5)  # the answer from before the zone existed arrives after the apply ended
            return []
        return [ZONE]

    monkeypatch.setattr(up, "list_zones", stale_then_fresh)

    def apply(env: Environment, **_: Any) -> bool:
        ended.set()
        return True

    monkeypatch.setattr(stack, "apply", apply)
    results, _ = up.apply_and_issue(env, placeholder=True)
    assert results == ISSUED


def test_a_failed_apply_starts_no_issuance_and_its_error_is_raised(env, fakes, monkeypatch) -> None:
    def apply(env: Environment, **_: Any) -> bool:
        raise OpsError("terraform apply failed for local (see the error above)")

    monkeypatch.setattr(stack, "apply", apply)
    with pytest.raises(OpsError, match="terraform apply failed"):
        up.apply_and_issue(env, placeholder=True)
    assert fakes.issued == 0


def test_a_failed_issuance_says_the_listeners_hold_the_placeholder_only_when_they_do(env, fakes, monkeypatch) -> None:
    monkeypatch.setattr(stack, "apply", lambda env, **_: fakes.zone_made.set() or True)

    def failing(env: Environment, **_: Any) -> list[CertResult]:
        raise OpsError("certbot failed: DNS problem", exit_code=1)

    monkeypatch.setattr(up, "certificate", failing)
    with pytest.raises(OpsError) as caught:
        up.apply_and_issue(env, placeholder=True)
    assert str(caught.value).startswith("certbot failed: DNS problem; the stack is applied")
    assert "hold the placeholder certificate" in str(caught.value) and "inv cert --env local" in str(caught.value)
    with pytest.raises(OpsError) as caught:
        up.apply_and_issue(env, placeholder=False)  # a renewal of a real certificate failed
    assert str(caught.value) == "certbot failed: DNS problem"


def test_an_apply_that_made_no_zone_is_an_error(env, fakes, monkeypatch) -> None:
    monkeypatch.setattr(stack, "apply", lambda env, **_: True)
    with pytest.raises(OpsError, match=r"the apply created no public hosted zone exii\.test"):
        up.apply_and_issue(env, placeholder=True)
    assert fakes.issued == 0
