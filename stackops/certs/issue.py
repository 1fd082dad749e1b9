"""The operation: issue, renew or skip one certificate (steps a-e), renew all of them, and `inv cert`."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from stackops.certs.acm import (
    check_key_type,
    import_certificate,
    managed_certificates,
    match_certificate,
    parameter_name,
    publish_arn,
    tags_for,
)
from stackops.certs.certbot import KEY_ALGORITHM, AcmeServer, acme_server, run_certbot
from stackops.certs.metrics import publish_results
from stackops.certs.names import normalize_names
from stackops.certs.pem import certificate_dates, certificate_names, split_pem_chain
from stackops.certs.renewal import lifetime_renewal, renewal_decision
from stackops.certs.zones import delegation_checker, list_zones, zones_for
from stackops.environments import Environment
from stackops.errors import OpsError, Refused, aws_errors

ISSUED, RENEWED, SKIPPED, FAILED = "issued", "renewed", "skipped", "failed"


@dataclass(frozen=True)
class CertResult:
    names: tuple[str, ...]
    action: str  # issued | renewed | skipped | failed
    arn: str | None = None
    not_after: dt.datetime | None = None
    parameter: str | None = None
    arn_new: bool = False  # a new ARN (first import)
    parameter_changed: bool = False  # the SSM parameter now holds another ARN: Terraform must apply
    seconds: float | None = None  # from the start of the run to the ACM import
    reason: str = ""
    renews: str = ""  # when it renews next: the CA's window, or the lifetime rule's date


class IssueOptions(TypedDict, total=False):
    """The options `issue` takes besides the names, which `renew_all` applies to each certificate."""

    renew_within_days: float | None
    force: bool
    email: str | None
    staging: bool
    acme: AcmeServer | None
    now: dt.datetime | None


def issue(
    env: Environment,
    domains: Iterable[str] | None = None,
    *,
    renew_within_days: float | None = None,
    force: bool = False,
    email: str | None = None,
    staging: bool = False,
    acme: AcmeServer | None = None,
    now: dt.datetime | None = None,
    check_account: bool = True,
) -> CertResult:
    """Issue, renew or skip the certificate for `domains` (default: the environment's hostnames).

    `acme` overrides the ACME server (default: `acme_server(env, staging=staging)`, i.e. pebble for
    an emulated environment, where `staging` has no meaning). The decision asks that server's
    renewal information (RFC 9773) unless --force or --renew-within decides (see renewal.py).
    """
    started = time.monotonic()
    names = normalize_names(domains if domains is not None else env.hostnames)
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise OpsError(f"malformed --email {email!r}")
    if check_account:
        from stackops.guard import check_accounts

        check_accounts(env, master=False)
    session = env.session()
    route53, acm, ssm = session.client("route53"), session.client("acm"), session.client("ssm")
    profiles = [env.profile]
    with aws_errors("finding the hosted zone of each name in Route53", profiles=profiles):
        zones = zones_for(names, list_zones(route53), env, delegation_checker(route53))
    with aws_errors("looking up the certificates this tool imported into ACM", profiles=profiles):
        existing = match_certificate(managed_certificates(acm, env), names)
    server = acme or acme_server(env, staging=staging)

    def certificate_pem() -> str:
        assert existing is not None  # asked only for an existing certificate
        with aws_errors("reading the certificate from ACM for the CA's renewal information", profiles=profiles):
            return str(acm.get_certificate(CertificateArn=existing.arn)["Certificate"])

    decision = renewal_decision(
        existing, now or dt.datetime.now(dt.UTC), acme=server, certificate_pem=certificate_pem,
        renew_within_days=renew_within_days, force=force, warn=_warn_for(names),
    )  # fmt: skip
    parameter = parameter_name(env, names)
    publishing = f"publishing the certificate ARN in SSM ({parameter})"
    if decision.action == "skip" and existing is not None:
        # Only a lost parameter is written back: another managed certificate covering the same
        # hostnames may be the one published on purpose.
        with aws_errors(publishing, profiles=profiles):
            changed = publish_arn(ssm, parameter, existing.arn, only_if_missing=True)
        return CertResult(
            names,
            SKIPPED,
            existing.arn,
            existing.not_after,
            parameter,
            parameter_changed=changed,
            reason=decision.reason,
            renews=decision.renews,
        )
    if existing is not None:
        check_key_type(existing.key_algorithm, KEY_ALGORITHM, existing.arn)  # before any ACME call
    live = run_certbot(env, names, zones, server, email=email, profile=env.acme_profile)
    body, chain = split_pem_chain((live / "fullchain.pem").read_text())
    issued_names = certificate_names(body)
    if set(issued_names) != set(names):
        raise OpsError(f"certbot returned a certificate for {', '.join(issued_names)}, not {', '.join(names)}")
    with aws_errors("importing the certificate into ACM", profiles=profiles):
        arn = import_certificate(
            acm, body, chain, (live / "privkey.pem").read_bytes(), tags_for(env, names),
            existing.arn if existing else None, replaces_placeholder=bool(existing and existing.placeholder),
        )  # fmt: skip
    seconds = time.monotonic() - started
    with aws_errors(publishing, profiles=profiles):
        changed = publish_arn(ssm, parameter, arn)
    not_before, not_after = certificate_dates(body)
    # The new certificate's next renewal by the lifetime rule; the CA's window for it is asked next run.
    renews = f"{lifetime_renewal(not_before, not_after, renew_within_days):%Y-%m-%d %H:%M} UTC (lifetime rule)"
    return CertResult(
        names,
        RENEWED if existing and not existing.placeholder else ISSUED,
        arn,
        not_after,
        parameter,
        arn_new=existing is None,
        parameter_changed=changed,
        seconds=seconds,
        reason=decision.reason,
        renews=renews,
    )


def _warn_for(names: Sequence[str]) -> Callable[[str], None]:
    """One stderr line per unusable CA answer, naming the certificate."""

    def warn(message: str) -> None:
        from rich.markup import escape

        from stackops.ui import err

        err.print(f"[yellow]warning: {escape(', '.join(names))}: {escape(message)}[/]", soft_wrap=True)

    return warn


def renew_all(env: Environment, *, zone_only: bool = False, **options: Unpack[IssueOptions]) -> list[CertResult]:
    """Renew each certificate this tool manages in the environment's account that needs it.

    `options` are `issue`'s (renew_within_days, force, email, staging, acme, now). A failure is
    recorded (action "failed") and the others still run; `run` raises at the end. `zone_only`
    (the renewal function, whose role writes challenge records in the environment's zone only)
    skips a certificate with a name outside that zone, saying so.
    """
    from stackops.guard import check_accounts

    check_accounts(env, master=False)
    results = []
    with aws_errors("looking up the certificates this tool imported into ACM", profiles=[env.profile]):
        certificates = managed_certificates(env.session().client("acm"), env)
    for cert in certificates:
        outside = [n for n in cert.names if n != env.zone_name and not n.endswith("." + env.zone_name)]
        if zone_only and outside:
            reason = f"{', '.join(outside)} outside {env.zone_name}, the only zone the function may write"
            results.append(CertResult(cert.names, SKIPPED, cert.arn, cert.not_after, reason=reason))
            continue
        try:
            results.append(issue(env, cert.names, check_account=False, **options))
        except OpsError as exc:
            results.append(CertResult(cert.names, FAILED, cert.arn, cert.not_after, reason=str(exc)))
    return results


def print_results(results: Sequence[CertResult]) -> None:
    """A table of the runs, then one unwrapped line per certificate with its ARN and SSM parameter
    (ARNs are long: kept whole so they can be copied and grepped at any terminal width)."""
    from stackops.ui import Table, out

    table = Table(title="Certificates")
    for column in ("Names", "Action", "Not after", "Renews", "Why"):
        table.add_column(column, overflow="fold")
    for row in results:
        not_after = f"{row.not_after:%Y-%m-%d %H:%M} UTC" if row.not_after else "-"
        table.add_row("\n".join(row.names), row.action, not_after, row.renews or "-", row.reason)
    out.print(table)
    for row in results:
        if row.arn:
            published = f"  SSM {row.parameter}{' (updated)' if row.parameter_changed else ''}" if row.parameter else ""
            out.print(f"{row.names[0]}: {row.arn}{published}", soft_wrap=True, markup=False)


def run(
    env: Environment,
    domains: Sequence[str] | None = None,
    *,
    renew_all_certs: bool = False,
    renew_within_days: float | None = None,
    force: bool = False,
    email: str | None = None,
    staging: bool = False,
) -> list[CertResult]:
    """`inv cert`: issue/renew, print the table, raise OpsError when any certificate failed.

    The caller runs `terraform apply` when any result has `parameter_changed`.
    """
    if renew_all_certs and domains:
        raise OpsError("--renew-all renews every managed certificate: give either --renew-all or --domain")
    options: IssueOptions = {"renew_within_days": renew_within_days, "force": force, "email": email, "staging": staging}
    if renew_all_certs:
        results = renew_all(env, **options)
        if not results:
            from stackops.ui import err

            err.print(f"no certificate managed by stackops in account {env.account_id} for {env.name}")
    else:
        results = [issue(env, domains or None, **options)]
    print_results(results)
    try:
        publish_results(env, results)
    except OpsError as exc:  # the certificate is renewed and published: a lost datapoint must not undo that
        from stackops.ui import err

        err.print(f"warning: {exc}", style="yellow", soft_wrap=True, markup=False)
    failed = [r for r in results if r.action == FAILED]
    if failed:
        raise OpsError("; ".join(f"{', '.join(r.names)}: {r.reason}" for r in failed))
    return results


def find_environment_for(domains: Sequence[str], envs: Iterable[Environment]) -> Environment:
    """The one environment whose hostnames include every domain; refused when none or several do."""
    names = normalize_names(domains)
    envs = list(envs)
    matching = [e for e in envs if set(names) <= set(e.hostnames)]
    if len(matching) == 1:
        return matching[0]
    listing = "; ".join(f"{e.name}: {', '.join(e.hostnames)}" for e in envs) or "no environments"
    if not matching:
        raise Refused(f"refused: no environment serves {', '.join(names)} ({listing}); pass --env")
    raise Refused(
        f"refused: several environments serve {', '.join(names)} ({', '.join(e.name for e in matching)}); pass --env"
    )
