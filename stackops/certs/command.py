"""`inv cert`: pick the environment, issue or renew, and attach the certificate when its ARN is new."""

from __future__ import annotations

from collections.abc import Sequence

from stackops import environments, stack, ui
from stackops.certs.issue import CertResult, find_environment_for, run
from stackops.environments import Environment
from stackops.errors import OpsError


def certificate(
    env: Environment,
    domains: Sequence[str] = (),
    *,
    renew_all: bool = False,
    renew_within: float | None = None,
    force: bool = False,
    email: str | None = None,
    staging: bool = False,
    yes: bool = False,
    attach: bool = True,
    unless_renewer: bool = False,
) -> list[CertResult]:
    """Issue or renew, import into ACM, and apply when the ARN Terraform reads is new (unless
    `attach` is False: `inv up` issues the certificate beside the stack's one apply, into the ARN
    that apply was planned with). With
    `unless_renewer` (and `renew_all`), nothing when the environment's renewal function is deployed:
    it renews them itself (the daily CI job runs `inv cert --renew-all --unless-renewer`)."""
    if unless_renewer:
        from stackops.certs.renewer_command import renewer_deployed, renewer_name

        if not renew_all:
            raise OpsError("--unless-renewer goes with --renew-all")
        if renewer_deployed(env):
            ui.out.print(f"{env.name}: the renewal function {renewer_name(env)} is deployed and renews: nothing to do")
            return []
    results = run(
        env, list(domains) or None, renew_all_certs=renew_all, renew_within_days=renew_within,
        force=force, email=email, staging=staging,
    )  # fmt: skip
    if attach and any(r.parameter_changed for r in results):
        ui.err.print("The certificate ARN is new: applying it to the HTTPS listeners (nothing else)")
        stack.apply_certificate(env, yes=yes)
    return results


def pick_environment(name: str | None, domains: Sequence[str]) -> str:
    """`inv cert --domain D` without --env: the one environment whose host names include D."""
    if name:
        return name
    if not domains:
        raise OpsError(f"--env is required without --domain; valid environments: {', '.join(environments.names())}")
    return find_environment_for(domains, [environments.load(n) for n in environments.names()]).name
