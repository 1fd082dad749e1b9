"""The emulated CA's renewal-information front (stackops/local/acme_front.py), in-process: its directory,
its certID routing and each steering mode, over HTTPS with pebble's kind of certificate."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from stackops.local import acme_front, pebble
from tests.unit.ari_support import PEBBLE_DIRECTORY, Front, running_front

CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"  # RFC 9773's example
START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def front(tmp_path: Path) -> Iterator[Front]:
    with running_front(tmp_path / "pebble") as running:
        yield running


def get(front: Front, path: str) -> requests.Response:
    return requests.get(front.base_url + path, verify=str(front.ca), timeout=5)


def test_directory_is_pebbles_plus_renewal_info(front: Front) -> None:
    response = get(front, "/dir")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    directory = response.json()
    assert directory == {**PEBBLE_DIRECTORY, "renewalInfo": front.base_url + "/renewal-info"}
    assert directory["newOrder"].startswith("https://127.0.0.1:14000/")  # everything else stays pebble's


def test_cert_ids_are_routed_and_others_refused(front: Front) -> None:
    assert get(front, "/renewal-info/" + CERT_ID).status_code == 404  # no steering: no window
    bad = get(front, "/renewal-info/no-dot-here")
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    assert bad.json()["type"] == "urn:ietf:params:acme:error:malformed"
    assert get(front, "/renewal-info/a.b/c").status_code == 400
    assert get(front, "/order-plz").status_code == 404  # pebble's own resources are not served here
    assert any(CERT_ID in line and "-> 404 (none)" in line for line in front.lines)


def test_window_mode(front: Front) -> None:
    pebble.set_renewal_info(front.folder.parent, (START, END))
    response = get(front, "/renewal-info/" + CERT_ID)
    assert response.status_code == 200 and response.headers["Retry-After"] == str(acme_front.RETRY_AFTER)
    assert response.json() == {"suggestedWindow": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:00:00Z"}}


def test_none_malformed_and_unreachable_modes(front: Front) -> None:
    state = front.folder.parent
    pebble.set_renewal_info(state, (START, END), mode="none")
    none = get(front, "/renewal-info/" + CERT_ID)
    assert none.status_code == 404 and CERT_ID in none.json()["detail"]

    pebble.set_renewal_info(state, mode="malformed")
    malformed = get(front, "/renewal-info/" + CERT_ID)
    assert malformed.status_code == 200 and "end" not in malformed.json()["suggestedWindow"]

    pebble.set_renewal_info(state, mode="unreachable")
    with pytest.raises(requests.ConnectionError):
        get(front, "/renewal-info/" + CERT_ID)
    assert get(front, "/dir").status_code == 200  # only renewal information is steered

    pebble.set_renewal_info(state, mode="unreachable", status=503)
    unwell = get(front, "/renewal-info/" + CERT_ID)
    assert unwell.status_code == 503 and unwell.json()["type"] == "urn:ietf:params:acme:error:serverInternal"


def test_pebble_down_is_a_502(tmp_path: Path) -> None:
    def down() -> dict[str, object]:
        raise OSError("connection refused")

    with running_front(tmp_path / "pebble", down) as front:
        response = get(front, "/dir")
    assert response.status_code == 502 and "connection refused" in response.json()["detail"]


def test_steering_is_checked_when_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode 'sometimes'"):
        acme_front.write_steering(tmp_path, "sometimes")
    with pytest.raises(ValueError, match="needs a window"):
        acme_front.write_steering(tmp_path, "window")
    with pytest.raises(ValueError, match="not a 5xx"):
        acme_front.write_steering(tmp_path, "unreachable", status=404)
    with pytest.raises(ValueError, match="no time zone"):
        acme_front.write_steering(tmp_path, "window", (dt.datetime(2026, 12, 1), dt.datetime(2026, 12, 2)))
    assert acme_front.read_steering(tmp_path) == {"mode": "none"}  # nothing written: no window
    acme_front.write_steering(tmp_path, "window", (START, END))
    assert json.loads((tmp_path / acme_front.STEERING).read_text())["start"] == "2026-12-01T10:00:00Z"


def test_front_running_reads_pebbles_record(tmp_path: Path) -> None:
    assert not pebble.front_running(tmp_path)
    (tmp_path / "pebble").mkdir()
    (tmp_path / "pebble" / pebble.PROCESSES).write_text(json.dumps({"front_pid": 999_999_999}))
    assert not pebble.front_running(tmp_path)
