"""`inv cert.renewer --env E`: run the deployed renewal function now; show its result and its log.

A real environment's function is invoked in Lambda (synchronously, with the tail of its log). The
embedded AWS stores the function but has no Lambda runtime (moto runs functions only in Docker),
so there the function's own package runs in a local process as Lambda would
(stackops.local.lambda_runner), with the configuration the emulator holds for it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError, aws_errors
from stackops.state_object import outputs_of, read_state

# Longer than the function's timeout (modules/cert-renewer: 600 s): a read timeout must not
# retry an Invoke, which would run the renewal twice.
INVOKE_READ_TIMEOUT = 700
LOG_LINES_SHOWN = 40


def renewer_name(env: Environment) -> str:
    """The function's name, from the stack's `cert_renewer` output."""
    state = read_state(env)
    if state is None:
        from stackops.stack import current_state, stack

        state = current_state(env, stack(env))
    renewer = outputs_of(state).get("cert_renewer") or {}
    if not renewer.get("function_name"):
        raise OpsError(f"{env.name} has no renewal function yet: run inv apply --env {env.name}")
    return str(renewer["function_name"])


def invoke_in_lambda(env: Environment, name: str) -> tuple[dict[str, Any], bool, str]:
    """Invoke the function synchronously: (payload, failed, the last 4 KB of its log)."""
    from botocore.config import Config

    config = Config(read_timeout=INVOKE_READ_TIMEOUT, retries={"total_max_attempts": 1})
    client = env.session().client("lambda", config=config)
    with aws_errors(f"invoking the renewal function {name}", profiles=[env.profile]):
        answer = client.invoke(
            FunctionName=name, InvocationType="RequestResponse", LogType="Tail", Payload=b'{"source": "inv"}'
        )
    payload = json.loads(answer["Payload"].read() or b"null") or {}
    log = base64.b64decode(answer.get("LogResult", "")).decode(errors="replace")
    return payload, "FunctionError" in answer, log


def run_in_emulator(env: Environment, name: str) -> tuple[dict[str, Any], bool, str]:
    """The embedded AWS: the function's package (the one built here, checked against the code the
    emulator holds) run locally with the function's configuration."""
    from stackops.certs.package import renewer_package
    from stackops.local.lambda_runner import run_package

    with aws_errors(f"reading the renewal function {name}", profiles=[env.profile]):
        config = env.session().client("lambda").get_function_configuration(FunctionName=name)
    package = renewer_package(env)
    if config.get("CodeSha256") != package.sha256:
        raise OpsError(f"{name} holds other code than {package.path}: run inv apply --env {env.name}")
    invocation = run_package(
        package.path,
        str(config["Handler"]),
        (config.get("Environment") or {}).get("Variables", {}),
        emulated_credentials(env),
        event={"source": "inv"},
        timeout=float(config.get("Timeout", 600)),
    )
    return invocation.payload, invocation.function_error, invocation.log


def emulated_credentials(env: Environment) -> dict[str, str]:
    """What Lambda gives a function (its role's keys, its region), from the environment's
    emulator profile; with the emulator's endpoint and ACME server, which activation set."""
    import os

    from stackops.certs.certbot import ACME_CA_BUNDLE_ENV, ACME_DIRECTORY_ENV

    credentials = env.session().get_credentials().get_frozen_credentials()
    variables = {
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_REGION": env.region,
        "AWS_DEFAULT_REGION": env.region,
    }
    if credentials.token:
        variables["AWS_SESSION_TOKEN"] = credentials.token
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", ACME_DIRECTORY_ENV, ACME_CA_BUNDLE_ENV):
        if os.environ.get(key):
            variables[key] = os.environ[key]
    return variables


def run_renewer(env: Environment) -> dict[str, Any]:
    """Run the function once, print its certificates and log lines; OpsError when the run failed."""
    from stackops.ui import Table, err, out

    name = renewer_name(env)
    with err.status(f"running {name}{' (locally, from its package)' if env.emulated else ''}"):
        payload, failed, log = (run_in_emulator if env.emulated else invoke_in_lambda)(env, name)
    lines = [line for line in log.splitlines() if line.strip()]
    if lines:
        out.print(f"last lines of the run's log ({min(len(lines), LOG_LINES_SHOWN)} of {len(lines)}):")
        for line in lines[-LOG_LINES_SHOWN:]:
            out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if failed:
        kind = payload.get("errorType", "error")
        raise OpsError(f"{name} failed ({kind}): {payload.get('errorMessage', payload)}")
    table = Table(title=f"{name}: certificates")
    for column in ("Names", "Action", "Not after", "Why"):
        table.add_column(column, overflow="fold")
    for row in payload.get("certificates", []):
        table.add_row("\n".join(row["names"]), row["action"], row.get("not_after") or "-", row.get("reason", ""))
    out.print(table)
    return payload
