"""What CI adds to the tool: the state role of a run (STACK_STATE_ROLE_ARN), `inv doctor --ci`,
`inv ci-token` and `inv pr-comment` (against a local stand-in for GitHub's API), and what
`inv bootstrap` hands tf-init for the CI state roles."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from stackops import doctor, doctor_ci, environments, github_actions, operator_policies
from stackops.bootstrap import ci_environments
from stackops.certs.command import certificate
from stackops.environments import STATE_ROLE_VARIABLE, read_hcl
from stackops.errors import OpsError
from stackops.paths import ROOT
from stackops.terraform import Terraform, backend_args

STATE_ROLE = "arn:aws:iam::000000000000:role/exii-dev-ci-state-plan"


# -- the state role of a CI run ---------------------------------------------------------------------
def test_a_state_role_replaces_the_profiles_and_backend_role(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path))
    assert environments.load("dev").profile == "exiidev"  # as declared, without the variable
    monkeypatch.setenv(STATE_ROLE_VARIABLE, STATE_ROLE)
    env = environments.load("dev")
    assert (env.profile, env.master_profile, env.master_role_arn) == (None, None, STATE_ROLE)
    assert env.credentials_label(master=True) == f"the default credential chain assuming {STATE_ROLE}"
    # Terraform's backend gets the same: backend.hcl as the environment holds it, no profile.
    backend_file = Path(backend_args(env)[0].removeprefix("-backend-config="))
    written = read_hcl(backend_file)
    assert "profile" not in written and written["assume_role"] == {"role_arn": STATE_ROLE}
    assert written["key"] == env.backend["key"] and written["use_lockfile"] is True
    # ...and its provider: the tfvars' profiles unset by a variables file read after them.
    args = Terraform(env).var_args()
    assert args[0] == f"-var-file={env.tfvars_path}"
    assert json.loads(Path(args[-1].removeprefix("-var-file=")).read_text()) == {
        "profile": None,
        "master_profile": None,
    }


def test_without_the_variable_terraform_gets_the_files_as_they_are(monkeypatch) -> None:
    monkeypatch.delenv(STATE_ROLE_VARIABLE, raising=False)
    env = environments.load("dev")
    assert backend_args(env)[0] == f"-backend-config={env.backend_path}"
    assert Terraform(env).var_args() == [f"-var-file={env.tfvars_path}"]


def test_bootstrap_gives_tf_init_the_environments_of_its_backend_with_ci_roles(monkeypatch) -> None:
    monkeypatch.delenv(STATE_ROLE_VARIABLE, raising=False)
    dev, local = environments.load("dev"), environments.load("local")
    found = ci_environments(dev)
    assert sorted(found) == ["dev", "prod"]  # they share the backend; local has its own
    assert found["dev"] == {**operator_policies.placeholders(dev), "project": "exii"}
    assert sorted(ci_environments(local)) == ["local"]


# -- inv doctor --ci ----------------------------------------------------------------------------------
def test_terraform_is_held_to_versions_tf() -> None:
    assert doctor.required_terraform() == (1, 11)


def web_identity(monkeypatch, tmp_path, *, role: str | None, token: str | None, state: str | None) -> list:
    for name, value in (("AWS_ROLE_ARN", role), ("AWS_WEB_IDENTITY_TOKEN_FILE", token), (STATE_ROLE_VARIABLE, state)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return doctor_ci.web_identity_checks(environments.load("dev"))


def test_doctor_ci_says_what_the_runner_lacks(monkeypatch, tmp_path) -> None:
    checks = web_identity(monkeypatch, tmp_path, role=None, token=None, state=None)
    assert [c.ok for c in checks] == [False, False, False]
    assert "not set" in checks[0].detail and "id-token: write" in checks[1].detail
    token = tmp_path / "token"
    token.write_text("a.b.c")
    wrong = "arn:aws:iam::222222222222:role/exii-prod-ci-plan"  # prod's account, for dev
    checks = web_identity(monkeypatch, tmp_path, role=wrong, token=str(token), state=STATE_ROLE)
    assert [c.ok for c in checks] == [False, True, True]
    assert "account 222222222222" in checks[0].detail and "111111111111" in checks[0].detail
    right = "arn:aws:iam::111111111111:role/exii-dev-ci-plan"
    checks = web_identity(monkeypatch, tmp_path, role=right, token=str(token), state=STATE_ROLE)
    assert all(c.ok for c in checks), checks


def test_the_committed_lock_files_cover_the_runners_platform() -> None:
    assert [c.ok for c in doctor_ci.lock_file_checks()] == [True, True], doctor_ci.lock_file_checks()


def test_a_lock_file_without_the_platforms_hash_fails(tmp_path) -> None:
    shutil.copy(ROOT / "versions.tf", tmp_path)
    lock = (ROOT / ".terraform.lock.hcl").read_text()
    other = "h1:" + "A" * 43 + "="  # another platform's package, not linux_amd64's
    (tmp_path / ".terraform.lock.hcl").write_text(re.sub(r'"h1:[^"]+"', f'"{other}"', lock))
    check = doctor_ci.lock_file_check(tmp_path)
    assert not check.ok and "lacks linux_amd64" in check.detail, check
    (tmp_path / ".terraform.lock.hcl").unlink()
    assert "missing" in doctor_ci.lock_file_check(tmp_path).detail


# -- GitHub ---------------------------------------------------------------------------------------------
class FakeGitHub(BaseHTTPRequestHandler):
    """GitHub's issue-comment API and the Actions OIDC token endpoint, in memory."""

    comments: list[dict[str, Any]]
    requests: list[tuple[str, str, dict[str, str]]]

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.requests.append(("GET", self.path, dict(self.headers)))
        if url.path == "/token":
            self._answer(200, {"value": f"token-for-{parse_qs(url.query)['audience'][0]}"})
            return
        page, per_page = int(parse_qs(url.query)["page"][0]), int(parse_qs(url.query)["per_page"][0])
        self._answer(200, self.comments[(page - 1) * per_page : page * per_page])

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:
        self.requests.append(("POST", self.path, dict(self.headers)))
        comment = {"id": max((c["id"] for c in self.comments), default=0) + 1, **self._body()}
        self.comments.append(comment)
        self._answer(201, comment)

    def do_PATCH(self) -> None:
        self.requests.append(("PATCH", self.path, dict(self.headers)))
        number = int(self.path.rsplit("/", 1)[1])
        comment = next(c for c in self.comments if c["id"] == number)
        comment.update(self._body())
        self._answer(200, comment)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github(monkeypatch) -> Iterator[type[FakeGitHub]]:
    handler = type("Handler", (FakeGitHub,), {"comments": [], "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "exii/infrastructure")
    monkeypatch.setenv("GITHUB_TOKEN", "job-token")
    yield handler
    server.shutdown()
    server.server_close()


def test_each_summary_is_one_comment_edited_on_the_next_push(github, tmp_path, monkeypatch) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    github.comments += [{"id": 100 + n, "body": f"a review comment {n}"} for n in range(100)]  # a full first page
    github.comments.append({"id": 500, "body": "quoting <!-- stackops-plan:dev --> is not the comment"})
    dev, prod = tmp_path / "plan-dev.md", tmp_path / "plan-prod.md"
    dev.write_text("<!-- stackops-plan:dev -->\n### Terraform plan for dev: 1 to add")
    prod.write_text("<!-- stackops-plan:prod -->\n### Terraform plan for prod: no changes")
    assert [line.split(" (")[0] for line in github_actions.run([str(dev), str(prod)])] == [
        "created comment 501",
        "created comment 502",
    ]
    dev.write_text("<!-- stackops-plan:dev -->\n### Terraform plan for dev: 2 to add")
    assert github_actions.run([str(dev)]) == ["updated comment 501 (<!-- stackops-plan:dev -->)"]
    ours = [c for c in github.comments if c["body"].startswith("<!-- stackops-plan:")]
    assert [c["body"].splitlines()[1] for c in ours] == [
        "### Terraform plan for dev: 2 to add",
        "### Terraform plan for prod: no changes",
    ]
    assert all(headers["Authorization"] == "Bearer job-token" for _, _, headers in github.requests)
    assert {path.split("?")[0] for method, path, _ in github.requests if method == "POST"} == {
        "/repos/exii/infrastructure/issues/7/comments"
    }


def test_a_body_without_its_marker_or_a_run_without_a_pull_request_is_refused(github, tmp_path, monkeypatch) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("### no marker")
    with pytest.raises(OpsError, match="no marker"):
        github_actions.run([str(plain)], 7)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)
    with pytest.raises(OpsError, match="pass --pr"):
        github_actions.run([str(plain)])
    assert github.comments == []


def test_the_oidc_token_is_written_for_its_audience(github, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{os.environ['GITHUB_API_URL']}/token?api=1")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token")
    out = tmp_path / "ci" / "token"
    github_actions.write_token(str(out), "sts.amazonaws.com")
    assert out.read_text() == "token-for-sts.amazonaws.com"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    ((_, path, headers),) = github.requests
    assert headers["Authorization"] == "bearer request-token" and "api=1" in path
    monkeypatch.delenv("ACTIONS_ID_TOKEN_REQUEST_URL")
    with pytest.raises(OpsError, match="id-token: write"):
        github_actions.write_token(str(out), "sts.amazonaws.com")


def test_unless_renewer_goes_with_renew_all() -> None:
    with pytest.raises(OpsError, match="--unless-renewer goes with --renew-all"):
        certificate(environments.load("dev"), unless_renewer=True)
