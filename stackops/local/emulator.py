"""The embedded, emulated AWS of the `local` environment: `inv local.up|down|status`.

`start()` runs `python -m stackops.local.aws` (moto's server plus its narrow fixes, see that
package) as a detached process on 127.0.0.1, writes the AWS profiles of the `local`
environment's two accounts, and starts the local ACME server with its DNS bridge
(`stackops.local.pebble`, `stackops.local.dns_bridge`). `activate()` points the calling process
at all of it. The state folder (`$STACK_LOCAL_DIR`, default `<repo>/.state/local/`)
holds:

  emulator.json           endpoint, port, accounts, pids, ACME directory URL and CA bundle
  moto.log                the emulator's log (kept by `stop()`)
  aws/config, aws/credentials   the profiles: exii-local-root (dummy static keys), and one
                          role profile per account (role_arn in that account, source exii-local-root)

moto keeps every resource in memory. Stopping the emulator (`inv local.down`, a crash, a reboot)
loses all of it, the Terraform state bucket included: after a restart, `inv up` builds the stack
again from nothing.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackops import environments
from stackops.certs.certbot import ACME_CA_BUNDLE_ENV, ACME_DIRECTORY_ENV
from stackops.errors import OpsError
from stackops.local import pebble, processes
from stackops.local.aws import client
from stackops.local.pebble import DNS_BRIDGE_MODULE
from stackops.paths import ROOT, state_root
from stackops.ui import err

DEFAULT_PORT = 4566
HOST = "127.0.0.1"
RECORD = "emulator.json"
LOG = "moto.log"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
TAIL_LINES = 6  # of moto.log, quoted in errors
ROOT_PROFILE = "exii-local-root"
ROLE_NAME = "exii-emulated-admin"
# Dummy keys of the root profile: moto accepts any; they open nothing anywhere else.
ROOT_ACCESS_KEY_ID = "AKIAEMULATEDEXII0000"
ROOT_SECRET_ACCESS_KEY = "emulated-aws-dummy-secret-not-a-credential"  # noqa: S105
# How to recognise each recorded process in /proc/<pid>/cmdline (pids get reused).
MOTO_MODULE = "stackops.local.aws"
MARKERS = {"moto": MOTO_MODULE, "pebble": "pebble", "dns": DNS_BRIDGE_MODULE}
# Credentials in the caller's environment would win over the profiles in some tools: the task layer
# removes these from os.environ when it applies environ() for --env local.
CLEARED_ENV_VARS = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
)  # fmt: skip

_children: dict[int, subprocess.Popen[bytes]] = {}  # started by this process: reaped when stopped


@dataclass(frozen=True)
class Status:
    """A running emulator, as recorded in `emulator.json` and confirmed by its health probe."""

    endpoint: str
    port: int
    accounts: dict[str, str]  # {"master": id, "local": id}
    pids: dict[str, int]  # {"moto": pid, "pebble": pid, "dns": pid}
    acme: dict[str, Any] = field(default_factory=dict)  # directory_url, ca_bundle, dns_port
    state_dir: Path = field(default_factory=Path)
    started_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """What `inv local.status --json` prints."""
        return {"endpoint": self.endpoint, "accounts": dict(self.accounts)}


# -- locations -----------------------------------------------------------------------------------
def default_state_dir() -> Path:
    return Path(os.environ.get("STACK_LOCAL_DIR") or state_root() / "local")


def _requested_port(port: int | None) -> int | None:
    if port is not None:
        value: Any = port
    elif os.environ.get("STACK_LOCAL_PORT"):
        value = os.environ["STACK_LOCAL_PORT"]
    else:
        return None
    try:
        number = int(value)
    except ValueError:
        raise OpsError(f"STACK_LOCAL_PORT={value!r} is not a port number: set it to e.g. 4566") from None
    if not 1 <= number <= 65535:
        raise OpsError(f"port {number} is not a TCP port: use 1-65535 (STACK_LOCAL_PORT)")
    return number


def default_port() -> int:
    return _requested_port(None) or DEFAULT_PORT


def endpoint_for(port: int) -> str:
    return f"http://{HOST}:{port}"


def _resolve(state_dir: Path | None) -> Path:
    return Path(state_dir) if state_dir is not None else default_state_dir()


# -- the record ----------------------------------------------------------------------------------
def _read_record(state_dir: Path) -> dict[str, Any]:
    try:
        record = json.loads((state_dir / RECORD).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(state_dir: Path, record: dict[str, Any]) -> None:
    path = state_dir / RECORD
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(record, indent=2) + "\n")
    scratch.replace(path)


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """One start or stop at a time per state folder (two `inv local.up` at once would race)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- processes -----------------------------------------------------------------------------------
def _child(pid: object) -> subprocess.Popen[bytes] | None:
    """The Popen of `pid` when this process started it (polled, so reaped), else None.

    Forgets the children seen to exit: a reaped one has a returncode.
    """
    for done in [known for known, child in _children.items() if child.returncode is not None]:
        del _children[done]
    return _children.get(pid) if isinstance(pid, int) else None


def _alive(pid: object, marker: str) -> bool:
    """True when `pid` still runs the program recorded for it."""
    return processes.runs(pid, marker, _child(pid))


def _terminate(pid: int, marker: str) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT seconds; returns once the process is gone."""
    processes.terminate(pid, marker, STOP_TIMEOUT, _child(pid))


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def _spawn_moto(state_dir: Path, port: int) -> int:
    """Start the launcher detached and wait until it answers; return its pid."""
    endpoint = endpoint_for(port)
    if _port_in_use(port):
        other = client.health(endpoint)
        if other:
            raise OpsError(
                f"port {port} is taken by another emulated AWS (pid {other.get('pid')}) that {state_dir} "
                "does not record: stop it, or set STACK_LOCAL_PORT to a free port"
            )
        raise OpsError(
            f"port {port} on {HOST} is already in use by another program: stop it, or set "
            "STACK_LOCAL_PORT to a free port"
        )
    log = state_dir / LOG
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    with log.open("ab") as handle:
        handle.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} starting on {endpoint}\n".encode())
        handle.flush()
        # A session of its own: the emulator outlives `inv local.up` and ignores its Ctrl-C.
        process = subprocess.Popen(
            [sys.executable, "-m", MOTO_MODULE, "--port", str(port), "--host", HOST],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[process.pid] = process
    started = time.monotonic()
    with err.status(f"starting the emulated AWS on {endpoint}", spinner="dots"):
        while True:
            if process.poll() is not None:
                _children.pop(process.pid, None)
                raise OpsError(
                    f"the emulated AWS exited with code {process.returncode} while starting: "
                    f"{processes.log_tail(log, TAIL_LINES)} (see {log})"
                )
            answer = client.health(endpoint, timeout=0.5)
            if answer and answer.get("pid") == process.pid:
                break
            if time.monotonic() - started > START_TIMEOUT:
                _terminate(process.pid, MARKERS["moto"])
                raise OpsError(
                    f"the emulated AWS did not answer at {endpoint} within {START_TIMEOUT:.0f} s: "
                    f"{processes.log_tail(log, TAIL_LINES)} (see {log})"
                )
            time.sleep(0.1)
    err.print(f"emulated AWS ready at {endpoint} (pid {process.pid}, {time.monotonic() - started:.1f} s)")
    return process.pid


# -- profiles and environment --------------------------------------------------------------------
def write_profiles(state_dir: Path, env: environments.Environment | None = None) -> tuple[Path, Path]:
    """Write `<state>/aws/config` and `<state>/aws/credentials` for the `local` environment's accounts."""
    env = env or environments.load("local")
    folder = Path(state_dir) / "aws"
    folder.mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser(interpolation=None)
    path_style = "\naddressing_style = path"  # the emulator serves S3 path-style only
    config[f"profile {ROOT_PROFILE}"] = {"region": env.region, "s3": path_style}
    for profile, account in ((env.master_profile, env.master_account_id), (env.profile, env.account_id)):
        config[f"profile {profile}"] = {
            "role_arn": f"arn:aws:iam::{account}:role/{ROLE_NAME}",
            "source_profile": ROOT_PROFILE,
            "role_session_name": "stackops-local",
            "region": env.region,
            "s3": path_style,
        }
    credentials = configparser.ConfigParser(interpolation=None)
    credentials[ROOT_PROFILE] = {
        "aws_access_key_id": ROOT_ACCESS_KEY_ID,
        "aws_secret_access_key": ROOT_SECRET_ACCESS_KEY,
    }
    config_path, credentials_path = folder / "config", folder / "credentials"
    with config_path.open("w") as handle:
        config.write(handle)
    credentials_path.touch(mode=0o600, exist_ok=True)
    with credentials_path.open("w") as handle:
        credentials.write(handle)
    return config_path, credentials_path


def _environ_for(state_dir: Path, endpoint: str) -> dict[str, str]:
    return {
        "AWS_CONFIG_FILE": str(state_dir / "aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(state_dir / "aws" / "credentials"),
        "AWS_ENDPOINT_URL": endpoint,
        # The role profiles assume their role through STS; Terraform's provider reads this one.
        "AWS_ENDPOINT_URL_STS": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def environ(state_dir: Path | None = None) -> dict[str, str]:
    """Variables that point boto3, the AWS CLI and Terraform at the running emulator.

    Raises OpsError when it does not answer (moto keeps its data in memory: after a restart the
    resources created before are gone).
    """
    state_dir = _resolve(state_dir)
    current = status(state_dir)
    if current is None:
        endpoint = _read_record(state_dir).get("endpoint") or endpoint_for(default_port())
        raise OpsError(f"the emulated AWS is not running at {endpoint}: run `inv local.up`")
    variables = _environ_for(state_dir, current.endpoint)
    if current.acme.get("directory_url") and current.acme.get("ca_bundle"):
        # Where `inv cert` finds the local ACME server of an emulated environment.
        variables[ACME_DIRECTORY_ENV] = str(current.acme["directory_url"])
        variables[ACME_CA_BUNDLE_ENV] = str(current.acme["ca_bundle"])
    return variables


# -- lifecycle -----------------------------------------------------------------------------------
def status(state_dir: Path | None = None) -> Status | None:
    """The running emulator recorded in `state_dir`, or None when it is not running."""
    state_dir = _resolve(state_dir)
    record = _read_record(state_dir)
    pids = record.get("pids") or {}
    moto_pid, endpoint = pids.get("moto"), record.get("endpoint")
    if not endpoint or not _alive(moto_pid, MARKERS["moto"]):
        return None
    answer = client.health(endpoint)
    if not answer or answer.get("pid") != moto_pid:
        return None
    return Status(
        endpoint=endpoint,
        port=int(record["port"]),
        accounts=dict(record.get("accounts") or {}),
        pids={name: pid for name, pid in pids.items() if _alive(pid, MARKERS.get(name, "\0"))},
        acme=dict(record.get("acme") or {}),
        state_dir=state_dir,
        started_at=str(record.get("started_at", "")),
    )


def activate(state_dir: Path | None = None, *, profiles: bool = True) -> None:
    """Point this process (boto3, and the AWS CLI and Terraform it starts) at the running emulator.

    Stray credentials in the caller's shell would win over the emulator's profiles: they are
    removed, unless the environment names no profiles (`profiles=False`): then the default
    credential chain (keys, web identity) is how it reaches the emulator, as on AWS.
    """
    os.environ.update(environ(state_dir))
    for name in CLEARED_ENV_VARS if profiles else ():
        os.environ.pop(name, None)


def start(state_dir: Path | None = None, port: int | None = None, *, acme: bool = True) -> Status:
    """Start the emulated AWS (idempotent: a running, healthy one is returned as it is).

    Spawns the launcher detached (log in `<state>/moto.log`), waits up to 30 s for it to answer,
    writes the profiles and `emulator.json`, then starts pebble and the DNS bridge through
    `stackops.local.pebble` unless `acme` is False or they already run. Raises OpsError when the port
    is taken by something else or the emulator does not come up. Its data lives in memory only.
    """
    state_dir = _resolve(state_dir)
    requested = _requested_port(port)
    env = environments.load("local")
    with _locked(state_dir):
        current = status(state_dir)
        if current is not None and requested not in (None, current.port):
            raise OpsError(
                f"the emulated AWS already runs at {current.endpoint} (state {state_dir}): "
                f"run `inv local.down` first to move it to port {requested}"
            )
        record = _read_record(state_dir)
        if current is None:
            # A half-dead earlier run (moto gone or hung): clear what is left of it first.
            for name, pid in (record.get("pids") or {}).items():
                if isinstance(pid, int):
                    _terminate(pid, MARKERS.get(name, "\0"))
            chosen = requested or DEFAULT_PORT
            moto_pid = _spawn_moto(state_dir, chosen)
            record = {
                "endpoint": endpoint_for(chosen),
                "port": chosen,
                "accounts": {"master": env.master_account_id, "local": env.account_id},
                "pids": {"moto": moto_pid},
                "acme": {},
                "log": str(state_dir / LOG),
                "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        write_profiles(state_dir, env)
        _write_record(state_dir, record)
        pids = record["pids"]
        # The renewal-information front is pebble's own record (processes.json), not emulator.json's.
        acme_running = all(_alive(pids.get(name), MARKERS[name]) for name in ("pebble", "dns"))
        acme_running = acme_running and pebble.front_running(state_dir)
        if acme and not acme_running:
            # pebble and its DNS bridge need the emulator's Route53.

            with err.status("starting the local ACME server (pebble) and its DNS bridge", spinner="dots"):
                aws = _environ_for(state_dir, record["endpoint"])
                info = pebble.start(state_dir, aws, env.profile, env.region)
            pids.update(pebble=int(info["pebble_pid"]), dns=int(info["dns_pid"]))
            record["acme"] = {key: info[key] for key in ("directory_url", "ca_bundle", "dns_port") if key in info}
            _write_record(state_dir, record)
    current = status(state_dir)
    if current is None:
        tail = processes.log_tail(state_dir / LOG, TAIL_LINES)
        raise OpsError(f"the emulated AWS stopped right after starting: {tail}")
    return current


def stop(state_dir: Path | None = None) -> bool:
    """Stop every process recorded in `state_dir` (SIGTERM, then SIGKILL); True if any was running.

    Removes the pids from `emulator.json` and keeps `moto.log`. Everything the emulator held in
    memory is lost.
    """
    state_dir = _resolve(state_dir)
    if not state_dir.is_dir():
        return False
    with _locked(state_dir):
        record = _read_record(state_dir)
        pids = {name: pid for name, pid in (record.get("pids") or {}).items() if isinstance(pid, int)}
        running = {name: pid for name, pid in pids.items() if _alive(pid, MARKERS.get(name, "\0"))}
        pebble.stop(state_dir)  # pebble and the DNS bridge; it also removes its own record
        for name, pid in running.items():
            _terminate(pid, MARKERS[name])
        if record:  # keep where it ran (named by environ()'s error), drop the pids and ACME details
            kept = {key: record[key] for key in ("endpoint", "port", "accounts", "log") if key in record}
            kept["stopped_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            _write_record(state_dir, kept)
        return bool(running)


def reset(state_dir: Path | None = None) -> Status:
    """Stop the emulator (everything it held is lost) and start it again, empty, on the same port.

    The tool's own files that describe what the old emulator held go too: tf-init's state of the
    state backend and the `local` environment's Terraform data, which would otherwise point at a
    bucket and workspace that no longer exist.
    """
    from stackops.bootstrap import tf_init_folder
    from stackops.terraform import Terraform

    state_dir = _resolve(state_dir)
    current = status(state_dir)
    stop(state_dir)
    env = environments.load("local")
    for folder in (tf_init_folder(env), Terraform(env).data_dir):
        shutil.rmtree(folder, ignore_errors=True)
    return start(state_dir, current.port if current else None)
