"""`inv cert.renewer --env E`: run the deployed renewal function now; show its result and its log.

A real environment's function is invoked in Lambda (synchronously, with the tail of its log). The
embedded AWS stores the function but has no Lambda runtime (moto runs functions only in Docker),
so there the function's own package runs in a local process as Lambda would
(stackops.local.lambda_runner.run_deployed, handed in by stackops.cli), with the configuration
the emulator holds for it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError, aws_errors

# Longer than the function's timeout (modules/cert-renewer: 600 s): a read timeout must not
# retry an Invoke, which would run the renewal twice.
INVOKE_READ_TIMEOUT = 700
LOG_LINES_SHOWN = 40


def renewer_name(env: Environment) -> str:
    """The function's name: renewal.tf names it `<project>-<env>-cert-renewer` (the stack's
    `cert_renewer` output says the same; not read, so this needs no access to the state account)."""
    return f"{env.project}-{env.name}-cert-renewer"


def renewer_deployed(env: Environment) -> bool:
    """Whether the environment's renewal function exists (lambda:GetFunctionConfiguration, in cert.json)."""
    name = renewer_name(env)
    client = env.session().client("lambda")
    with aws_errors(f"looking for the renewal function {name}", profiles=[env.profile]):
        try:
            client.get_function_configuration(FunctionName=name)
        except client.exceptions.ResourceNotFoundException:
            return False
    return True


def not_deployed(env: Environment, name: str) -> OpsError:
    return OpsError(f"{env.name} has no renewal function {name} yet: run inv apply --env {env.name}")


def invoke_in_lambda(env: Environment, name: str) -> tuple[dict[str, Any], bool, str]:
    """Invoke the function synchronously: (payload, failed, the last 4 KB of its log)."""
    from botocore.config import Config

    config = Config(read_timeout=INVOKE_READ_TIMEOUT, retries={"total_max_attempts": 1})
    client = env.session().client("lambda", config=config)
    with aws_errors(f"invoking the renewal function {name}", profiles=[env.profile]):
        try:
            answer = client.invoke(
                FunctionName=name, InvocationType="RequestResponse", LogType="Tail", Payload=b'{"source": "inv"}'
            )
        except client.exceptions.ResourceNotFoundException:
            raise not_deployed(env, name) from None
    payload = json.loads(answer["Payload"].read() or b"null") or {}
    log = base64.b64decode(answer.get("LogResult", "")).decode(errors="replace")
    return payload, "FunctionError" in answer, log


Invoker = Callable[[Environment, str], tuple[dict[str, Any], bool, str]]


def run_renewer(env: Environment, invoke: Invoker = invoke_in_lambda) -> dict[str, Any]:
    """Run the function once (`invoke`: Lambda's Invoke; for the embedded AWS, stackops.cli hands
    in the local runner), print its certificates and log lines; OpsError when the run failed."""
    from stackops.ui import Table, err, out

    name = renewer_name(env)
    with err.status(f"running {name}{' (locally, from its package)' if env.emulated else ''}"):
        payload, failed, log = invoke(env, name)
    lines = [line for line in log.splitlines() if line.strip()]
    if lines:
        out.print(f"last lines of the run's log ({min(len(lines), LOG_LINES_SHOWN)} of {len(lines)}):")
        for line in lines[-LOG_LINES_SHOWN:]:
            out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if failed:
        kind = payload.get("errorType", "error")
        raise OpsError(f"{name} failed ({kind}): {payload.get('errorMessage', payload)}")
    table = Table(title=f"{name}: certificates")
    for column in ("Names", "Action", "Not after", "Renews", "Why"):
        table.add_column(column, overflow="fold")
    for row in payload.get("certificates", []):
        names, not_after = "\n".join(row["names"]), row.get("not_after") or "-"
        table.add_row(names, row["action"], not_after, row.get("renews", ""), row.get("reason", ""))
    out.print(table)
    return payload
