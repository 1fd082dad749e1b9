"""Commands that combine several operations: `inv up`, secrets with refresh, cert with apply, ECS."""

from __future__ import annotations

from collections.abc import Sequence

from stackops import ecs, environments, ui, workflow
from stackops import secrets as secret_ops
from stackops.environments import Environment
from stackops.errors import OpsError

LOCAL = "local"
UP_SUMMARY = ("urls", "load_balancer_dns_names", "certificate_arn", "database_endpoint", "hosted_zone")


def ecs_layout(env: Environment) -> ecs.EcsLayout:
    return ecs.EcsLayout.from_output(workflow.outputs(env), env=env.name)


def sync_secrets(
    env: Environment,
    *,
    rotate: bool = False,
    refresh: bool = False,
    only: str | None = None,
    dry_run: bool = False,
    timeout: float = 600,
) -> int:
    """`inv secrets`: create what is missing, rotate the rotatable ones, roll their consumers."""
    catalogue = secret_ops.load_catalogue()
    session = env.session()
    report = secret_ops.sync(
        session, env.secret_prefix, catalogue, rotate=rotate, only=only, dry_run=dry_run, emulated=env.emulated
    )
    refreshed = False
    results: list[ecs.RolloutResult] = []
    services = report.services_to_refresh()
    if refresh and services and not dry_run:
        layout = ecs_layout(env)
        for service in services:
            results.extend(ecs.refresh(session, layout, service=service, force=True, timeout=timeout))
        refreshed = True
    secret_ops.print_report(report, refreshed, env=env.name)
    if results:
        ecs.print_results(results)
        ecs.raise_on_failure(results)
    if report.failed:
        variables = ", ".join(
            sorted({str(catalogue.get(name.removeprefix(env.secret_prefix)).env) for name in report.missing})
        )
        raise OpsError(f"{len(report.missing)} secret(s) missing: export {variables} and run again")
    return 0


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
) -> None:
    """`inv cert`: issue or renew, import into ACM, and apply when the ARN Terraform reads is new."""
    from stackops import certs

    results = certs.run(
        env, list(domains) or None, renew_all_certs=renew_all, renew_within_days=renew_within,
        force=force, email=email, staging=staging,
    )  # fmt: skip
    if any(r.parameter_changed for r in results):
        ui.err.print("The certificate ARN is new: applying so the HTTPS listeners use it")
        workflow.apply(env, yes=yes)


def pick_cert_environment(name: str | None, domains: Sequence[str]) -> str:
    """`inv cert --domain D` without --env: the one environment whose host names include D."""
    if name:
        return name
    if not domains:
        raise OpsError(f"--env is required without --domain; valid environments: {', '.join(environments.names())}")
    from stackops import certs

    return certs.find_environment_for(domains, [environments.load(n) for n in environments.names()]).name


def up() -> None:
    """`inv up`: the embedded AWS, the state backend, secrets, the `local` stack and its certificate."""
    from stackops import emulator
    from stackops.bootstrap import bootstrap

    status = emulator.start()
    ui.err.print(f"Emulated AWS at {status.endpoint}")
    env = workflow.open_environment(LOCAL)
    bootstrap(env, yes=True)
    sync_secrets(env)
    workflow.apply(env, yes=True)
    certificate(env, yes=True)
    workflow.print_outputs(workflow.outputs(env), only=UP_SUMMARY)
    ui.out.print("All outputs: inv output --env local")
