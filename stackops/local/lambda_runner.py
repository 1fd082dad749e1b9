"""Run a Lambda function of the embedded AWS from its package, in a local process, as Lambda would.

moto stores a function but runs it only in Docker, which this project does not need or use; so
for the emulated environment `inv cert.renewer` (and the tests) run the function's own package
here instead. What Lambda's Python runtime gives a function, and how it is stood in for:
  the package unzipped, read-only        unzipped into a folder made read-only (0444 / 0555; as
                                         root, which ignores modes, this is not enforced)
  an interpreter with nothing installed  a fresh virtual environment without pip (no site-packages
                                         of this project's .venv or of the base interpreter)
  PYTHONPATH = the package (/var/task)   the same (certbot runs as `sys.executable -m ...`: the
                                         child process finds the package the same way)
  the function's environment variables  read from the function's configuration in the emulator
  a writable /tmp                        a private folder; a variable starting with /tmp is moved there
  the role's credentials, AWS_REGION     the environment's emulator credentials and region
What it does not stand in for: the role's IAM policy (the emulator evaluates none unless its IAM
authorisation is on), the timeout and memory limits, and Amazon Linux itself (the package is
built for this machine's Python here; for Lambda's python3.13 for real environments).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import venv
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError, aws_errors

RESULT_MARK = "@@lambda-result@@ "
# Lambda's runtime puts the task folder first on sys.path itself (its PYTHONPATH names only the
# runtime's own folder, /var/runtime): a child process (certbot) finds the package through its
# working directory, the task folder, as it must in Lambda.
_BOOTSTRAP = f"""
import importlib, json, os, sys
sys.path.insert(0, os.getcwd())
module, _, name = sys.argv[1].rpartition(".")
try:
    result = getattr(importlib.import_module(module), name)(json.loads(sys.argv[2]), None)
except Exception as exc:
    print({RESULT_MARK!r} + json.dumps({{"errorType": type(exc).__name__, "errorMessage": str(exc)}}), flush=True)
    sys.exit(1)
print({RESULT_MARK!r} + json.dumps(result, default=str), flush=True)
"""


@dataclass(frozen=True)
class Invocation:
    """What Lambda's Invoke answers: the handler's result or its error, and the run's log."""

    payload: dict[str, Any]
    function_error: bool
    log: str


def _read_only(folder: Path) -> None:
    for path in folder.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    folder.chmod(0o555)


def run_package(
    package: Path,
    handler: str,
    function_environment: Mapping[str, str],
    aws_environment: Mapping[str, str],
    *,
    event: Mapping[str, Any] | None = None,
    timeout: float = 600,
) -> Invocation:
    """Run `handler` of the zip `package` once with `event`; the log is its stdout and stderr."""
    with tempfile.TemporaryDirectory(prefix="lambda-") as scratch:
        root = Path(scratch)
        task, runtime, tmp, runtime_dir = root / "task", root / "runtime", root / "tmp", root / "var-runtime"
        with zipfile.ZipFile(package) as archive:
            archive.extractall(task)
        _read_only(task)
        venv.EnvBuilder(with_pip=False, symlinks=True).create(runtime)
        tmp.mkdir(mode=0o700)
        runtime_dir.mkdir()
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TMPDIR": str(tmp),
            "HOME": str(tmp),
            **{k: _under(v, tmp) for k, v in function_environment.items()},
            **aws_environment,
            "PYTHONPATH": str(runtime_dir),
            "PYTHONNOUSERSITE": "1",
        }
        process = subprocess.Popen(
            [str(runtime / "bin" / "python"), "-c", _BOOTSTRAP, handler, json.dumps(dict(event or {}))],
            env=environment,
            cwd=task,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a timeout stops certbot too
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise OpsError(f"the function did not finish in {timeout:.0f} s") from None
        finally:
            for path in [task, *task.rglob("*")]:  # writable again, so the folder can be removed
                if path.is_dir():
                    path.chmod(0o755)
        log = stderr + "".join(line + "\n" for line in stdout.splitlines() if not line.startswith(RESULT_MARK))
        marked = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
        if not marked:
            payload = {"errorType": "Runtime.ExitError", "errorMessage": f"exited with {process.returncode}"}
            return Invocation(payload, True, log)
        return Invocation(json.loads(marked[-1].removeprefix(RESULT_MARK)), process.returncode != 0, log)


LAMBDA_TMP = "/tmp"  # noqa: S108 -- Lambda's writable folder, which the runner replaces by a private one


def _under(value: str, tmp: Path) -> str:
    """A value naming Lambda's /tmp names the private folder instead."""
    if value == LAMBDA_TMP or value.startswith(LAMBDA_TMP + "/"):
        return str(tmp / value.removeprefix(LAMBDA_TMP).lstrip("/"))
    return value


def run_deployed(env: Environment, name: str) -> tuple[dict[str, Any], bool, str]:
    """The embedded AWS: the function's package (the one built here, checked against the code the
    emulator holds) run locally with the function's configuration."""
    from stackops.certs.package import renewer_package
    from stackops.certs.renewer_command import not_deployed

    client = env.session().client("lambda")
    with aws_errors(f"reading the renewal function {name}", profiles=[env.profile]):
        try:
            config = client.get_function_configuration(FunctionName=name)
        except client.exceptions.ResourceNotFoundException:
            raise not_deployed(env, name) from None
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
