"""The environment's ACME profile (tfvars `acme_profile`): Let's Encrypt's names only, refused early,
and passed to certbot as a preferred profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackops import environments
from stackops.certs.certbot import AcmeServer, certbot_command
from stackops.errors import OpsError


def with_profile(value: object) -> environments.Environment:
    env = environments.load("local")
    return environments.Environment(env.name, env.root, {**env.variables, "acme_profile": value}, env.backend)


def test_acme_profile_is_one_of_lets_encrypts() -> None:
    assert environments.load("local").acme_profile is None
    assert with_profile(None).acme_profile is None
    assert [with_profile(p).acme_profile for p in ("classic", "tlsserver", "shortlived")] == list(
        environments.ACME_PROFILES
    )
    with pytest.raises(OpsError, match=r"environments/local/variables\.tfvars sets acme_profile = 'short'.*"
                                       r"classic, tlsserver, shortlived"):  # fmt: skip
        with_profile("short").acme_profile  # noqa: B018


def test_a_bad_acme_profile_fails_at_load(tmp_path: Path) -> None:
    import shutil

    from stackops.paths import ROOT

    shutil.copytree(ROOT / "environments" / "local", tmp_path / "environments" / "local")
    tfvars = tmp_path / "environments" / "local" / "variables.tfvars"
    tfvars.write_text(tfvars.read_text() + '\nacme_profile = "tlsclient"\n')
    with pytest.raises(OpsError, match="sets acme_profile = 'tlsclient'"):
        environments.load("local", root=tmp_path)


def test_the_profile_is_preferred_on_certbots_command_line(tmp_path: Path) -> None:
    dirs = (tmp_path / "config", tmp_path / "work", tmp_path / "logs")
    acme = AcmeServer("https://127.0.0.1:14000/dir")
    command = certbot_command(["app.exii.test"], acme, dirs, email=None, profile="shortlived")
    at = command.index("--preferred-profile")
    assert command[at + 1] == "shortlived" and "--required-profile" not in command
    assert "--preferred-profile" not in certbot_command(["app.exii.test"], acme, dirs, email=None)
    assert json.dumps(command)  # plain strings only
