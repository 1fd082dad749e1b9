"""`inv up`: the main job on the embedded default, from nothing to a deployed stack with HTTPS.

The emulated AWS and its ACME server, the state backend, the secrets, the `local` stack, its
certificate (and the follow-up apply for the HTTPS listeners), then a short table of outputs.
Every step is idempotent, so a second `inv up` changes nothing.
"""

from __future__ import annotations

from stackops import stack, ui
from stackops.app_secrets.command import sync_secrets
from stackops.bootstrap import bootstrap
from stackops.certs.command import certificate
from stackops.cli import open_environment
from stackops.local import emulator
from stackops.report import print_outputs

LOCAL = "local"
UP_SUMMARY = ("urls", "load_balancer_dns_names", "certificate_arn", "database_endpoint", "hosted_zone")


def up(*, fresh: bool = False) -> None:
    """The embedded AWS, the state backend, secrets, the `local` stack and its certificate.

    `fresh`: throw away a running emulator and everything in it first (`emulator.reset`).
    """
    status = emulator.reset() if fresh else emulator.start()
    ui.err.print(f"Emulated AWS at {status.endpoint}")
    env = open_environment(LOCAL)
    bootstrap(env, yes=True)
    sync_secrets(env)
    stack.apply(env, yes=True)
    certificate(env, yes=True)
    print_outputs(stack.outputs(env), only=UP_SUMMARY)
    ui.out.print("All outputs: inv output --env local")
