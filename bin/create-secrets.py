#!/usr/bin/env python3
"""Create the secrets of an environment in Secrets Manager; rotate the rotatable ones on request.

The original command line, kept working:

    export AWS_REGION=eu-west-2 AWS_PROFILE=exiidev EMAIL_HOST_PASSWORD=...
    python bin/create-secrets.py                  # create what is missing
    python bin/create-secrets.py --rotate=yes     # also rewrite the rotatable ones
    python bin/create-secrets.py stripe           # only the secrets whose name starts with "stripe"

The environment is the one whose `profile` (environments/*/variables.tfvars) is AWS_PROFILE, or
`--env NAME`. The catalogue is secrets.yaml; the work is done by stackops.app_secrets (`inv secrets`
is the same operation). Exit 1 when a required secret could not be created.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.markup import escape

from stackops import environments, retries
from stackops.app_secrets.catalogue import load_catalogue
from stackops.app_secrets.report import print_report
from stackops.app_secrets.sync import sync
from stackops.cli import point_at_emulator
from stackops.errors import EXIT_FAILED, OpsError, aws_error_message
from stackops.guard import check_accounts
from stackops.paths import ROOT
from stackops.ui import err

_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def _rotate_flags(argv: Sequence[str]) -> list[str]:
    """`--rotate=yes|no` (the original's spelling) -> `--rotate` or nothing.

    Done before argparse so a bare `--rotate` never swallows the PREFIX that follows it.
    """
    result = []
    for arg in argv:
        if arg.startswith("--rotate="):
            value = arg.split("=", 1)[1].lower()
            if value not in _YES:
                raise SystemExit(f"create-secrets.py: error: --rotate takes yes or no, not {value!r}")
            if _YES[value]:
                result.append("--rotate")
        else:
            result.append(arg)
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="create-secrets.py",
        description="Create the secrets listed in secrets.yaml under /exii/<env>/ in Secrets Manager. "
        "Random ones are generated; the others are read from environment variables. "
        "AWS_PROFILE picks the environment (or --env).",
    )
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="(also --rotate=yes) rewrite the rotatable secrets: a new random value, or the environment "
        "variable's value when it differs. The Django secret key and the database password never change",
    )
    parser.add_argument("--env", help="environment name (default: the one whose profile is AWS_PROFILE)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    parser.add_argument(
        "prefix",
        nargs="?",
        metavar="PREFIX",
        help="only the secrets whose name starts with PREFIX (e.g. stripe, or /exii/dev/stripe)",
    )
    return parser.parse_args(_rotate_flags(sys.argv[1:] if argv is None else argv))


def resolve_environment(name: str | None, environ: Mapping[str, str], root: Path = ROOT) -> environments.Environment:
    """`--env NAME`, else the single environment whose profile is AWS_PROFILE."""
    if name:
        return environments.load(name, root)
    loaded = [environments.load(n, root) for n in environments.names(root)]
    listing = ", ".join(f"{e.name} (profile {e.profile})" for e in loaded) or "none"
    profile = environ.get("AWS_PROFILE")
    if not profile:
        raise OpsError(f"AWS_PROFILE is not set: export the environment's profile or pass --env; {listing}")
    matches = [e for e in loaded if e.profile == profile]
    if not matches:
        raise OpsError(f"no environment uses AWS_PROFILE={profile}; environments: {listing}")
    if len(matches) > 1:
        names = ", ".join(e.name for e in matches)
        raise OpsError(f"several environments use AWS_PROFILE={profile} ({names}): pass --env NAME")
    return matches[0]


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    env = resolve_environment(args.env, environ)
    region = environ.get("AWS_REGION")
    if region and region != env.region:
        err.print(f"note: AWS_REGION={region} ignored; environment {env.name} lives in {env.region}", soft_wrap=True)
    catalogue = load_catalogue()
    point_at_emulator(env)
    # The account guard of inv secrets, before any Secrets Manager call: only the account written to.
    check_accounts(env, master=False)
    try:
        session = env.session()
    except BotoCoreError as exc:  # e.g. ProfileNotFound
        raise OpsError(f"{exc}: configure it with `aws configure --profile {env.profile or 'NAME'}`") from None
    report = sync(
        session,
        env.secret_prefix,
        catalogue,
        rotate=args.rotate,
        only=args.prefix,
        dry_run=args.dry_run,
        emulated=env.emulated,
        environ=environ,
    )
    print_report(report, refreshed=False, env=env.name)
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    retries.configure()
    try:
        return run(args, os.environ)
    except OpsError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except (BotoCoreError, ClientError) as exc:  # an AWS error nothing above turned into a line
        profiles = [os.environ["AWS_PROFILE"]] if os.environ.get("AWS_PROFILE") else []
        err.print(f"[bold red]error:[/bold red] {escape(aws_error_message(exc, profiles=profiles))}", soft_wrap=True)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
