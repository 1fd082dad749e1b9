"""An environment is a folder `environments/<name>/` holding `variables.tfvars` and `backend.hcl`.

Everything the tooling needs to know about an environment (its AWS profile and account, the
master account holding its state, its region, its domain, whether it is the emulated one) is
read from those two files, so Terraform and the tooling can never disagree about them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackops.errors import OpsError
from stackops.paths import ROOT, state_root

PLACEHOLDER_MARK = "# PLACEHOLDER"
# python-hcl2's SerializationOptions for every file read; hcl2 itself is imported only to parse one
# (it brings lark: 25 ms of a command's start-up, and most reads come from the cache).
HCL_OPTIONS = {"strip_string_quotes": True, "with_comments": False}
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,20}$")
# `profile` and `master_profile` are optional: without them the default credential chain is used
# (environment keys, web identity, an instance or task role), as AWS CLI and Terraform do.
_REQUIRED = ("stage", "region", "account_id", "master_account_id", "zone_name", "frontend_prefix",
             "backend_prefix")  # fmt: skip
# The ACME certificate profiles Let's Encrypt offers (https://letsencrypt.org/docs/profiles/); the
# root module's `acme_profile` variable validates the same list.
ACME_PROFILES = ("classic", "tlsserver", "shortlived")
# CI (README "Running it from CI"): the state account's role for this run. Set, the environment's
# profiles (tfvars `profile`, `master_profile`, backend.hcl `profile`) are ignored, the default
# credential chain (web identity) reaches the environment's account, and this role, assumed from
# it, the state account: the plan job's and the apply job's state roles differ, backend.hcl is one.
STATE_ROLE_VARIABLE = "STACK_STATE_ROLE_ARN"


def default_state_bucket(project: str, master_account_id: str) -> str:
    """The state bucket's name when backend.hcl does not set one."""
    return f"{project}-terraform-state-{master_account_id}"


def environments_dir(root: Path = ROOT) -> Path:
    return root / "environments"


def names(root: Path = ROOT) -> list[str]:
    """Names of the environments defined under `environments/`."""
    folder = environments_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "variables.tfvars").is_file())


HCL_CACHE_ENTRIES = 200  # parsed files kept (a few KB each); the oldest go first
# In the checkout's git-ignored build folder, beside the renewal package: not tool state, which a
# refused command must leave untouched (tests/e2e/test_guard_and_bad_input.py).
HCL_CACHE_DIR = ROOT / "build" / "hcl-cache"


def read_hcl(path: Path) -> dict[str, Any]:
    """A .tf, .tfvars or .hcl file as python-hcl2 reads it; OpsError naming the file when missing or invalid.

    python-hcl2 is slow (a lark parser: 10-50 ms a file, and a plan reads a dozen, some twice), so
    what it returns is kept as JSON in HCL_CACHE_DIR by the digest of the parser's version
    and the file's text: an unchanged file is parsed once. A cache that cannot be read or written
    is skipped, never an error."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise OpsError(f"{path} is missing") from None
    digest = hashlib.sha256(f"{_parser_key()}\0{text}".encode()).hexdigest()
    cached = HCL_CACHE_DIR / f"{digest}.json"
    try:
        return dict(json.loads(cached.read_text()))
    except (OSError, ValueError):
        pass
    import hcl2

    try:
        parsed: dict[str, Any] = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(**HCL_OPTIONS))
    except Exception as exc:  # the parser raises several lark exception types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OpsError(f"{path} is not valid HCL: {first_line}") from None
    _keep(cached, json.dumps(parsed))
    return parsed


@functools.cache
def _parser_key() -> str:
    """What decides python-hcl2's answer besides a file's text: its installed version, the options."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        parser = version("python-hcl2")
    except PackageNotFoundError:  # importable without its metadata (vendored, PYTHONPATH): ask the module
        import hcl2

        parser = str(hcl2.__version__)
    return f"{parser}\0{json.dumps(HCL_OPTIONS, sort_keys=True)}"


def read_yaml(path: Path) -> Any:
    """A YAML file of the repository (secrets.yaml, jobs.yaml), read with libyaml's safe loader when
    PyYAML has it (the same documents, about 10 times faster than the pure-Python one); OpsError
    naming the file when missing or invalid."""
    import yaml

    try:
        return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except FileNotFoundError:
        raise OpsError(f"{path} is missing") from None
    except yaml.YAMLError as exc:
        raise OpsError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None


def _keep(path: Path, text: str) -> None:
    """Write a cache entry whole (a reader sees the old file, none, or the new one; a damaged one is
    parsed again) and prune the oldest, and any partial write left by a process that died."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(partial, path)
        entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-HCL_CACHE_ENTRIES]:
            old.unlink(missing_ok=True)
        for stale in path.parent.glob("*.tmp"):
            if stale.stat().st_mtime < time.time() - 3600:
                stale.unlink(missing_ok=True)
    except OSError:
        pass


@dataclass(frozen=True)
class Environment:
    """One deployable environment, as declared by its tfvars and backend config."""

    name: str
    root: Path
    variables: dict[str, Any]
    backend: dict[str, Any]
    placeholders: tuple[str, ...] = field(default=())
    state_role_override: bool = False  # STACK_STATE_ROLE_ARN replaced the profiles and backend.hcl's role
    # What this environment's sessions assumed (role profiles, backend.hcl's role), as botocore's
    # assume-role cache, by AWS endpoint (`assumed_roles`).
    _assumed: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, compare=False, repr=False)

    # -- declared facts ------------------------------------------------------------------------
    @property
    def project(self) -> str:
        return str(self.variables.get("project", "exii"))

    @property
    def region(self) -> str:
        return str(self.variables["region"])

    @property
    def profile(self) -> str | None:
        """The environment account's AWS profile; None: the default credential chain."""
        value = self.variables.get("profile")
        return None if value in (None, "", "null") else str(value)

    @property
    def account_id(self) -> str:
        return str(self.variables["account_id"])

    @property
    def master_profile(self) -> str | None:
        """The state (master) account's profile: backend.hcl's, else the tfvars'; None: the default chain."""
        value = self.backend.get("profile", self.variables.get("master_profile"))
        return None if value in (None, "", "null") else str(value)

    @property
    def master_role_arn(self) -> str | None:
        """backend.hcl's `assume_role = { role_arn = ... }`: the state account's role, assumed from the
        master profile's (or the default chain's) credentials, by Terraform's S3 backend and by the tool."""
        assume_role = self.backend.get("assume_role")
        role = assume_role.get("role_arn") if isinstance(assume_role, dict) else None
        return str(role) if role else None

    @property
    def ci_repository(self) -> str | None:
        """The tfvars' `ci_repository` (OWNER/REPO): the environment has CI roles (ci.tf)."""
        value = self.variables.get("ci_repository")
        return None if value in (None, "", "null") else str(value)

    @property
    def master_account_id(self) -> str:
        return str(self.variables["master_account_id"])

    @property
    def emulated(self) -> bool:
        """True for the embedded AWS: the tooling points boto3 and Terraform at the emulator."""
        return bool(self.variables.get("emulated", False))

    @property
    def apply_options(self) -> list[str]:
        """More concurrent Terraform operations on the embedded AWS only: it answers at once, but the
        provider's own fixed waits (S3 lifecycle ~55 s, SQS 25 s, Route53 changes) hold Terraform's
        default 10 slots meanwhile. Real accounts keep the default, under AWS's API rate limits."""
        return ["-parallelism=30"] if self.emulated else []  # the suite's stress test runs at 30 too

    @property
    def acme_profile(self) -> str | None:
        """The tfvars' `acme_profile` (certbot's --preferred-profile); None: the CA's default profile."""
        value = self.variables.get("acme_profile")
        if value in (None, "", "null"):
            return None
        if value not in ACME_PROFILES:
            raise OpsError(
                f"{self.tfvars_path} sets acme_profile = {value!r}: use one of {', '.join(ACME_PROFILES)}, "
                "or leave it out for the CA's default"
            )
        return str(value)

    @property
    def is_production(self) -> bool:
        return self.name == "prod"

    @property
    def zone_name(self) -> str:
        return str(self.variables["zone_name"]).rstrip(".")

    @property
    def frontend_host(self) -> str:
        return f"{self.variables['frontend_prefix']}.{self.zone_name}"

    @property
    def backend_host(self) -> str:
        return f"{self.variables['backend_prefix']}.{self.zone_name}"

    @property
    def hostnames(self) -> list[str]:
        return [self.frontend_host, self.backend_host]

    @property
    def workspace(self) -> str:
        return self.name

    @property
    def state_bucket(self) -> str:
        """The state bucket: backend.hcl's `bucket` when it sets one (an existing deployment keeps
        its name so), else `<project>-terraform-state-<master account id>`. The one place the name
        is decided: Terraform's init gets it as `-backend-config=bucket=...`, tf-init as its `bucket`
        variable. The account id makes the default a name nobody else is likely to hold already
        (bucket names are global); the owner is checked all the same (stackops.bootstrap)."""
        return str(self.backend.get("bucket") or default_state_bucket(self.project, self.master_account_id))

    @property
    def state_bucket_named(self) -> bool:
        """True when backend.hcl names the state bucket itself (False: the default name)."""
        return bool(self.backend.get("bucket"))

    @property
    def lock_table(self) -> str:
        return str(self.backend["dynamodb_table"])

    @property
    def secret_prefix(self) -> str:
        """Secrets Manager names of this environment start with this (in its own account)."""
        return f"/{self.project}/{self.name}/"

    # -- files ---------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return environments_dir(self.root) / self.name

    @property
    def tfvars_path(self) -> Path:
        return self.folder / "variables.tfvars"

    @property
    def backend_path(self) -> Path:
        return self.folder / "backend.hcl"

    @property
    def state_dir(self) -> Path:
        """Git-ignored working folder of this environment (plans, certbot, Terraform data)."""
        return state_root() / "envs" / self.name

    # -- AWS access ----------------------------------------------------------------------------
    def credentials_label(self, *, master: bool = False) -> str:
        """How the tool finds the account's credentials, for messages: "profile 'exiidev'", ..."""
        profile = self.master_profile if master else self.profile
        source = f"profile {profile!r}" if profile else "the default credential chain"
        role = self.master_role_arn if master else None
        return f"{source} assuming {role}" if role else source

    def session(self, *, master: bool = False) -> Any:
        """A boto3 session in the environment's (or the state account's) credentials and region."""
        import boto3
        import botocore.exceptions

        profile = self.master_profile if master else self.profile
        core = _core_session()
        try:
            session = _on_shared_loader(
                boto3.Session(botocore_session=core, profile_name=profile, region_name=self.region)
            )
            if profile is not None and profile not in session.available_profiles:
                # What boto3.Session raises by itself when it makes its own loader (reading the
                # config for it); with the shared one, the first client would raise it instead.
                raise botocore.exceptions.ProfileNotFound(profile=profile)
            # A role profile's credentials come from botocore's assume-role provider, which caches
            # them in the session; this cache is the environment's instead (what the AWS CLI does
            # with its ~/.aws/cli/cache): so each role is assumed once per command, not once per
            # session (a plan's checks made five). Refreshed before they expire, as botocore does.
            # Making the provider reads the profile: an AWS_PROFILE that names none raises here.
            core.get_component("credential_provider").get_provider("assume-role").cache = self.assumed_roles()
        except botocore.exceptions.ProfileNotFound as exc:
            # With no profile declared, the one missing is AWS_PROFILE's (the default chain reads it).
            missing = profile or str(exc.kwargs.get("profile", "AWS_PROFILE"))
            hint = "start the emulator: inv local.up" if self.emulated else f"aws configure --profile {missing}"
            raise OpsError(f"AWS profile {missing!r} of {self.name} is not configured ({hint})") from None
        role = self.master_role_arn if master else None
        if role:
            return assumed_role_session(session, self.backend["assume_role"], self.region, cache=self.assumed_roles())
        return session

    def assumed_roles(self) -> dict[str, Any]:
        """The credentials this environment's sessions assumed, for the AWS endpoint in use: an
        emulator started afresh elsewhere (tests start several) never gets another's."""
        return self._assumed.setdefault(os.environ.get("AWS_ENDPOINT_URL", ""), {})


_shared_loader: Any = None


def _core_session() -> Any:
    """A new botocore session sharing the process's one data loader. Each session would otherwise
    parse the service models and endpoint files again (measured: six clients of a plan's checks
    took 0.38 s, 0.12 s with one loader); the loader only reads botocore's and boto3's installed
    JSON files (and AWS_DATA_PATH's), and caches what it read. It is made without reading any
    profile's configuration (botocore's own would read `data_path` from it, under AWS_PROFILE)."""
    import botocore.loaders
    import botocore.session

    global _shared_loader
    if _shared_loader is None:
        _shared_loader = botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))
    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader)
    return core


def _on_shared_loader(session: Any) -> Any:
    """The boto3 session, after boto3 appended its own data folder to the shared loader's search
    paths (it does so once per session): kept to one entry each, so the list does not grow."""
    paths = _shared_loader.search_paths
    paths[:] = list(dict.fromkeys(paths))
    return session


def assumed_role_session(
    source: Any, assume_role: dict[str, Any], region: str, *, cache: dict[str, Any] | None = None
) -> Any:
    """A boto3 session in backend.hcl's `assume_role` role, assumed from `source`'s credentials when
    first used and refreshed before they expire (botocore's own assume-role fetcher, as a role
    profile gets). The block's role_arn, session_name, external_id and duration are honoured, as
    Terraform's S3 backend honours them; the source profile's configuration is kept. `cache`:
    where the fetcher keeps what it assumed (`Environment.assumed_roles`), else its own."""
    import boto3
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

    credentials = source.get_credentials()
    if credentials is None:
        raise OpsError(
            f"no AWS credentials to assume {assume_role['role_arn']} from: set a profile (master_profile) or "
            "give the default credential chain credentials (environment keys, web identity, a role)"
        )
    extra: dict[str, Any] = {"RoleSessionName": str(assume_role.get("session_name") or "stackops")}
    if assume_role.get("external_id"):
        extra["ExternalId"] = str(assume_role["external_id"])
    if assume_role.get("duration"):  # Terraform takes a duration string ("1h"); botocore wants seconds
        extra["DurationSeconds"] = _seconds(str(assume_role["duration"]))
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source._session.create_client,
        source_credentials=credentials,
        role_arn=str(assume_role["role_arn"]),
        extra_args=extra,
        cache=cache,
    )
    core = _core_session()
    if source.profile_name != "default":
        core.set_config_variable("profile", source.profile_name)
    # botocore has no public setter for a session's credentials object; this is how its own
    # credential providers hand refreshable credentials to a session.
    core._credentials = DeferredRefreshableCredentials(method="assume-role", refresh_using=fetcher.fetch_credentials)
    return _on_shared_loader(boto3.Session(botocore_session=core, region_name=region))


def _seconds(duration: str) -> int:
    """A Go duration as Terraform's backend takes it ("1h", "15m", "1h30m", "900s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise OpsError(f"backend.hcl assume_role duration {duration!r} is not a duration such as 1h or 15m")
    return sum(int(n) * units[u] for n, u in parts)


def load(name: str | None, root: Path = ROOT) -> Environment:
    """Read environment `name`; refuse an unknown or missing name with the list of valid ones."""
    valid = names(root)
    listing = ", ".join(valid) or "none (environments/ is empty)"
    if not name:
        raise OpsError(f"--env is required; valid environments: {listing}")
    if not _NAME.match(name) or name not in valid:
        if _NAME.match(name) and (environments_dir(root) / name).is_dir():
            raise OpsError(f"environments/{name}/variables.tfvars is missing; valid environments: {listing}")
        raise OpsError(f"unknown environment {name!r}; valid environments: {listing}")
    folder = environments_dir(root) / name
    variables = read_hcl(folder / "variables.tfvars")
    backend = read_hcl(folder / "backend.hcl")
    missing = [key for key in _REQUIRED if key not in variables]
    if missing:
        raise OpsError(f"{folder / 'variables.tfvars'} does not set {', '.join(missing)}")
    for key in ("key", "region", "dynamodb_table"):  # `bucket` is optional: see Environment.state_bucket
        if key not in backend:
            raise OpsError(f"{folder / 'backend.hcl'} does not set {key}")
    if variables["stage"] != name:
        raise OpsError(f"{folder / 'variables.tfvars'} sets stage = {variables['stage']!r}, expected {name!r}")
    placeholders = tuple(
        line.split("=", 1)[0].strip()
        for line in (folder / "variables.tfvars").read_text().splitlines()
        if PLACEHOLDER_MARK in line and "=" in line.split("#", 1)[0]
    )
    state_role = os.environ.get(STATE_ROLE_VARIABLE, "").strip()
    if state_role:
        variables = {k: v for k, v in variables.items() if k not in ("profile", "master_profile")}
        assume_role = backend.get("assume_role") if isinstance(backend.get("assume_role"), dict) else {}
        backend = {k: v for k, v in backend.items() if k != "profile"}
        backend["assume_role"] = {**assume_role, "role_arn": state_role}
    env = Environment(
        name=name, root=root, variables=variables, backend=backend, placeholders=placeholders,
        state_role_override=bool(state_role),
    )  # fmt: skip
    env.acme_profile  # noqa: B018 -- a bad value fails at load, before any command starts
    return env
