"""`inv secrets`: sync the catalogue, then roll the services that consume a rotated secret."""

from __future__ import annotations

from stackops.app_secrets.catalogue import load_catalogue
from stackops.app_secrets.report import print_report
from stackops.app_secrets.sync import sync
from stackops.ecs.refresh import refresh
from stackops.ecs.results import RolloutResult, print_results, raise_on_failure
from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.stack import ecs_layout


def sync_secrets(
    env: Environment,
    *,
    rotate: bool = False,
    refresh_services: bool = False,
    only: str | None = None,
    dry_run: bool = False,
    timeout: float = 600,
) -> int:
    """Create what is missing, rotate the rotatable ones (`rotate`), roll their consumers (`refresh_services`)."""
    catalogue = load_catalogue()
    session = env.session()
    report = sync(
        session, env.secret_prefix, catalogue, rotate=rotate, only=only, dry_run=dry_run, emulated=env.emulated
    )
    refreshed = False
    results: list[RolloutResult] = []
    services = report.services_to_refresh()
    if refresh_services and services and not dry_run:
        layout = ecs_layout(env)
        for service in services:
            results.extend(refresh(session, layout, service=service, force=True, timeout=timeout))
        refreshed = True
    print_report(report, refreshed, env=env.name)
    if results:
        print_results(results)
        raise_on_failure(results)
    if report.failed:
        variables = ", ".join(
            sorted({str(catalogue.get(name.removeprefix(env.secret_prefix)).env) for name in report.missing})
        )
        raise OpsError(f"{len(report.missing)} secret(s) missing: export {variables} and run again")
    return 0
