"""What a GitHub Actions job asks of GitHub: its OpenID Connect token, and the plan's comment.

`inv ci-token` writes the job's OIDC token to a file for AWS_WEB_IDENTITY_TOKEN_FILE: GitHub
Actions gives a job with `id-token: write` the URL and bearer token to ask for one
(ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN; `&audience=` picks its `aud`).
botocore, Terraform's provider and backend, and certbot then each call AssumeRoleWithWebIdentity
with it; nothing long-lived is stored. The token is valid for minutes, the role sessions it buys
for an hour: long enough for a job.

`inv pr-comment` posts a review summary (`inv plan --format markdown`) on the pull request as
one comment per summary, edited in place on every push instead of repeated.

The comment is found by the summary's first line, its hidden marker (`<!-- stackops-plan:dev -->`,
stackops.plan_review.MARKER): the pull request's comments are listed (GitHub's REST API,
`GET /repos/{repo}/issues/{number}/comments`, every page) and the first whose body starts with
that marker is edited (`PATCH /repos/{repo}/issues/comments/{id}`), else one is created
(`POST .../issues/{number}/comments`). GitHub Actions gives what it needs: GITHUB_TOKEN (the job's
token, with `pull-requests: write`), GITHUB_REPOSITORY, GITHUB_API_URL, and the pull request's
number in the event (GITHUB_EVENT_PATH).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from stackops.errors import OpsError

_MARKER = re.compile(r"^<!--[^>]*-->$")
PER_PAGE = 100


def marker_of(body: str) -> str:
    """The summary's first line, when it is a hidden marker."""
    first = body.splitlines()[0].strip() if body.strip() else ""
    if not _MARKER.match(first):
        raise OpsError("the comment has no marker on its first line: write it with inv plan --format markdown")
    return first


def pull_request_number(event_path: str | None) -> int:
    """The pull request's number, from the event GitHub Actions wrote for this run."""
    if not event_path or not Path(event_path).is_file():
        raise OpsError("no pull request: pass --pr NUMBER, or run in a pull_request workflow (GITHUB_EVENT_PATH)")
    number = json.loads(Path(event_path).read_text()).get("pull_request", {}).get("number")
    if not isinstance(number, int):
        raise OpsError(f"{event_path} is not a pull request's event: pass --pr NUMBER")
    return number


class GitHub:
    def __init__(self, api_url: str, repository: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 -- the API URL is GitHub's (GITHUB_API_URL), https
            f"{self.api_url}/repos/{self.repository}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise OpsError(f"GitHub answered {exc.code} to {method} {path}: {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise OpsError(f"cannot reach GitHub at {self.api_url}: {exc.reason}") from None

    def comments(self, number: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.call("GET", f"issues/{number}/comments?per_page={PER_PAGE}&page={page}")
            found += batch
            if len(batch) < PER_PAGE:
                return found
            page += 1


def post(github: GitHub, number: int, body: str) -> str:
    """Edit the pull request's comment that starts with the body's marker, or create it; what was done."""
    marker = marker_of(body)
    for comment in github.comments(number):
        if str(comment.get("body") or "").startswith(marker):
            github.call("PATCH", f"issues/comments/{comment['id']}", {"body": body})
            return f"updated comment {comment['id']} ({marker})"
    created = github.call("POST", f"issues/{number}/comments", {"body": body})
    return f"created comment {created['id']} ({marker})"


def write_token(out: str, audience: str) -> str:
    """Ask GitHub Actions for the job's OIDC token (audience `audience`) and write it to `out` (0600)."""
    url, bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"), os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise OpsError("no OIDC token to ask for: run in a GitHub Actions job with permissions id-token: write")
    query = urllib.parse.urlencode({"audience": audience})
    request = urllib.request.Request(  # noqa: S310 -- GitHub's own URL for the job
        f"{url}{'&' if '?' in url else '?'}{query}", headers={"Authorization": f"bearer {bearer}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            token = json.loads(response.read())["value"]
    except urllib.error.HTTPError as exc:
        raise OpsError(f"GitHub answered {exc.code} to the OIDC token request: {exc.reason}") from None
    except (urllib.error.URLError, KeyError, ValueError) as exc:
        raise OpsError(f"no OIDC token from GitHub: {exc}") from None
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token)
    return f"OIDC token for audience {audience} written to {path}"


def run(files: list[str], number: int | None = None) -> list[str]:
    """`inv pr-comment`: each file as its own comment (found again by its marker)."""
    if not files:
        raise OpsError("--file is required (a summary written by inv plan --format markdown --out FILE)")
    missing = [name for name in ("GITHUB_TOKEN", "GITHUB_REPOSITORY") if not os.environ.get(name)]
    if missing:
        raise OpsError(f"{' and '.join(missing)} not set: run in GitHub Actions, or export them")
    github = GitHub(os.environ.get("GITHUB_API_URL", "https://api.github.com"), os.environ["GITHUB_REPOSITORY"],
                    os.environ["GITHUB_TOKEN"])  # fmt: skip
    number = number if number is not None else pull_request_number(os.environ.get("GITHUB_EVENT_PATH"))
    done = []
    for name in files:
        try:
            body = Path(name).read_text()
        except OSError as exc:
            raise OpsError(f"cannot read {name}: {exc.strerror}") from None
        done.append(post(github, number, body))
    return done
