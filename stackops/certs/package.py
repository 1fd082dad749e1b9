"""The renewal function's deployment package: one reproducible .zip for the certificate-renewal Lambda.

`build_package()` writes `build/cert-renewer.zip` by default (`renewer_package(env)`, what `inv`
uses, writes `build/cert-renewer-py<version>.zip` per target Python), with a stamp beside it, and
returns its path, its base64 SHA-256 (what Terraform's `filebase64sha256` and Lambda's CodeSha256 give) and its size:

- third-party code: the distributions the function imports (certbot, certbot-dns-route53, acme, boto3,
  python-hcl2, rich, and everything they require for the target, by their installed metadata), with
  the versions and `--hash` lines of `requirements.lock`, installed by
  `pip install --target --no-deps --require-hashes --only-binary=:all: --platform ... --python-version ...`
  (wheels for the Lambda runtime, not this machine: cffi, cryptography, regex and charset-normalizer
  are compiled per interpreter);
- first-party code: the `stackops` package without `stackops/local` (the embedded AWS: the function
  never imports it) and without bytecode;
- both at the root of the zip, where Lambda looks for the handler and its imports;
- byte for byte the same for the same inputs: entries sorted, one timestamp (1980-01-01), modes 0644
  for files and 0755 for folders, one compression level, no .pyc, no console scripts (`bin/`, whose
  shebang names this machine's Python), no pip bookkeeping that names this machine (RECORD lists those
  scripts' hashes; INSTALLER, REQUESTED, direct_url.json);
- cached: the stamp holds a digest of every input (requirement lines, first-party files, target
  Python and platform, the versions of pip, zlib and the building Python); a build whose stamp
  matches (and whose zip still has the recorded hash: hashed again when its file is not the one
  the stamp saw) returns at once. The requirement lines are kept in the stamp too, under a key of
  the lock and the installed distributions' names and versions, so a plan does not read every
  distribution's metadata again;
- written atomically (a temporary file renamed into place), after checking Lambda's size limits.

Lambda facts this relies on (AWS Lambda Developer Guide):
- "Deployment package (.zip file archive) size: 50 MB (zipped, for direct upload), 250 MB (unzipped,
  including layers)", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html ;
  the API's own error says "Unzipped size must be smaller than 262144000 bytes" (250 MiB), so MB here
  are MiB. Over 50 MB a zip can still go through S3; the unzipped limit stays.
- The handler's .py and all dependencies "must be installed at the root of the .zip file"; the first
  place the runtime searches is where the zip is mounted (/var/task); packaged libraries (boto3
  included) take precedence over the runtime's copies; do not ship __pycache__; x86_64 wheels come
  from `pip install --platform manylinux2014_x86_64 --implementation cp --python-version 3.x
  --only-binary=:all:`, https://docs.aws.amazon.com/lambda/latest/dg/python-package.html
- Lambda runs the code as a non-root user: "Lambda requires global read permissions on code files and
  any dependent libraries"; for Python, files 644 and folders 755,
  https://repost.aws/knowledge-center/lambda-deployment-package-errors
- certbot runs as `sys.executable -m stackops.certs certbot ...` with cwd=ROOT (certbot.py). In the
  function ROOT is /var/task (stackops/ sits at the zip root) and `-m` puts the working directory
  first on sys.path, so that subprocess finds stackops and every dependency whatever PYTHONPATH holds
  (Lambda stopped setting PYTHONPATH for Python 3.7+ runtimes: awsdocs/aws-lambda-developer-guide#135).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import importlib.metadata
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackops.environments import Environment
from stackops.errors import OpsError
from stackops.parallel import child_signals
from stackops.paths import ROOT

ZIP_NAME = "cert-renewer.zip"
PYTHON_VERSION = "3.13"  # the function's runtime, python3.13
PLATFORM = "manylinux2014_x86_64"  # its architecture, x86_64 (manylinux2014 wheels load on its glibc)
IMPLEMENTATION = "cp"
# The distributions the function's code imports: certbot and its Route53 plugin (run as a subprocess),
# acme and boto3 (issue.py, acm.py), python-hcl2 (stackops.environments) and rich (stackops.ui).
ROOTS = ("certbot", "certbot-dns-route53", "acme", "boto3", "python-hcl2", "rich")
PACKAGE = "stackops"
EXCLUDED = ("stackops/local",)  # the embedded AWS: only the emulated environment uses it
ZIP_LIMIT = 50 * 2**20  # Lambda's limit for a .zip uploaded directly (see the docstring)
UNZIPPED_LIMIT = 250 * 2**20  # the function's code and layers, extracted
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FILE_MODE = 0o644  # readable by Lambda's non-root user; nothing in the package is executed directly
DIR_MODE = 0o755
COMPRESSLEVEL = 6  # zlib's default, fixed so that the bytes do not depend on a library default
DROPPED_METADATA = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_PLATFORM = re.compile(r"^manylinux(?:1|2010|2014|_\d+_\d+)_(?P<machine>x86_64|aarch64)$")
_PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")
_LOCK_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


@dataclass(frozen=True)
class Package:
    """The built zip: where it is, its base64 SHA-256 (as `filebase64sha256` gives it), its size in bytes."""

    path: Path
    sha256: str
    size: int


# -- what goes in -----------------------------------------------------------------------------------
def marker_environment(python_version: str, platform: str) -> dict[str, str]:
    """PEP 508 marker values for the target (Linux, CPython `python_version`, the platform's machine)."""
    from packaging.markers import default_environment

    match = _PLATFORM.match(platform)
    if not match:
        raise OpsError(f"unsupported platform {platform!r}: Lambda needs a manylinux one (e.g. {PLATFORM})")
    if not _PYTHON_VERSION.match(python_version):
        raise OpsError(f"unsupported Python version {python_version!r}: give major.minor, e.g. {PYTHON_VERSION}")
    full = f"{python_version}.0"
    environment: dict[str, str] = dict(default_environment())
    environment.update({
        "implementation_name": "cpython", "implementation_version": full, "os_name": "posix",
        "platform_machine": match["machine"], "platform_python_implementation": "CPython",
        "platform_release": "", "platform_system": "Linux", "platform_version": "",
        "python_full_version": full, "python_version": python_version, "sys_platform": "linux",
    })  # fmt: skip
    return environment


def closure(roots: Iterable[str], environment: dict[str, str]) -> dict[str, str]:
    """Every distribution `roots` need on the target, by canonical name, with its installed version.

    Read from the installed distributions' metadata (bin/setup installs the lock's versions), with
    each requirement's environment marker evaluated for the target: pywin32 (certbot's, win32 only)
    is skipped; typing-extensions is needed below Python 3.13 only (pyOpenSSL's)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, str] = {}
    done: dict[str, set[str]] = {}
    queue: list[tuple[str, frozenset[str]]] = [(canonicalize_name(name), frozenset()) for name in roots]
    while queue:
        name, extras = queue.pop()
        if name in done and extras <= done[name]:
            continue
        done.setdefault(name, set()).update(extras)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise OpsError(f"{name} is needed by the renewal function but is not installed: run bin/setup") from None
        found[name] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *sorted(extras))
            )
            if wanted:
                queue.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return dict(sorted(found.items()))


def lock_entries(text: str) -> dict[str, tuple[str, str]]:
    """requirements.lock by canonical name: (version, its requirement line and --hash lines, comments dropped)."""
    from packaging.utils import canonicalize_name

    entries: dict[str, tuple[str, str]] = {}
    name = version = ""
    lines: list[str] = []
    for line in [*text.splitlines(), ""]:
        match = _LOCK_ENTRY.match(line)
        if match or not line.strip():
            if name:
                entries[name] = (version, "\n".join(lines))
            name, version, lines = "", "", []
        if match:
            name, version, lines = canonicalize_name(match["name"]), match["version"], [line.rstrip()]
        elif name and line.strip().startswith("--hash="):
            lines.append(line.rstrip())
    return entries


def requirements(
    python_version: str = PYTHON_VERSION, platform: str = PLATFORM, *, lock: Path = ROOT / "requirements.lock"
) -> str:
    """The function's requirements file: the lock's lines (versions and hashes) for exactly the closure."""
    try:
        pinned = lock_entries(lock.read_text())
    except FileNotFoundError:
        raise OpsError(f"{lock} is missing") from None
    blocks = []
    for name, installed in closure(ROOTS, marker_environment(python_version, platform)).items():
        if name not in pinned:
            raise OpsError(f"{name} {installed} is needed by the renewal function but {lock.name} does not pin it")
        version, block = pinned[name]
        if version != installed:
            raise OpsError(f"{lock.name} pins {name}=={version} but {installed} is installed: run bin/setup")
        if "--hash=" not in block:
            raise OpsError(f"{lock.name} has no --hash for {name}: regenerate it with --generate-hashes")
        blocks.append(block)
    return "\n".join(blocks) + "\n"


def first_party_files(root: Path = ROOT) -> list[tuple[str, Path]]:
    """(name in the zip, file) for the stackops package minus EXCLUDED, bytecode and caches."""
    files = []
    for path in sorted((root / PACKAGE).rglob("*")):
        name = path.relative_to(root).as_posix()
        parts = name.split("/")
        if any(name == ex or name.startswith(ex + "/") for ex in EXCLUDED) or "__pycache__" in parts:
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            files.append((name, path))
    return files


def third_party_files(target: Path) -> list[tuple[str, Path]]:
    """(name in the zip, file) for what pip installed into `target`, without bin/, bytecode and pip's bookkeeping."""
    files = []
    for path in sorted(target.rglob("*")):
        name = path.relative_to(target).as_posix()
        parts = name.split("/")
        if parts[0] == "bin" or "__pycache__" in parts or not path.is_file() or path.suffix in (".pyc", ".pyo"):
            continue
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in DROPPED_METADATA:
            continue
        files.append((name, path))
    return files


def inputs_digest(requirement_lines: str, files: Sequence[tuple[str, Path]], python_version: str, platform: str) -> str:
    """A digest of everything the zip's bytes depend on: the stamp that makes a rebuild unnecessary.

    pip's, zlib's and this Python's versions are in it: they shape the installed files, the deflated
    bytes and the zip's layout, so two machines agree on the bytes when these agree."""
    digest = hashlib.sha256()
    header = {
        "format": 1, "python_version": python_version, "platform": platform, "implementation": IMPLEMENTATION,
        "pip": _version("pip"), "zlib": zlib.ZLIB_RUNTIME_VERSION, "builder": list(sys.version_info[:2]),
        "requirements": requirement_lines,
    }  # fmt: skip
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name, path in files:
        digest.update(f"\0{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}".encode())
    return digest.hexdigest()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


# -- building ---------------------------------------------------------------------------------------
def install_third_party(requirements_file: Path, target: Path, *, python_version: str, platform: str) -> None:
    """pip installs the locked, hash-checked wheels for the target into `target` (no dependencies resolved:
    the requirements file is already the closure). pip's own index settings (pip.conf, PIP_*) apply."""
    command = [
        sys.executable, "-m", "pip", "install", "--target", str(target), "--no-deps", "--require-hashes",
        "--only-binary=:all:", "--platform", platform, "--python-version", python_version,
        "--implementation", IMPLEMENTATION, "--no-compile", "--disable-pip-version-check", "--no-input",
        "--progress-bar", "off", "-r", str(requirements_file),
    ]  # fmt: skip
    with child_signals():  # `prepare` builds it in a worker thread
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise OpsError(
            f"pip could not install the renewal function's dependencies for Python {python_version} ({platform}), "
            f"exit {proc.returncode}: {_last_lines(proc.stderr + proc.stdout)} "
            "(is the package index reachable? pip's own settings apply: pip.conf, PIP_INDEX_URL)"
        )


def _last_lines(output: str, count: int = 4) -> str:
    """pip's ERROR lines, else its last lines, in one line (its warnings about ignored find-links are noise)."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return " | ".join((errors or lines)[-count:])[-1500:] or "(no output)"


def write_zip(entries: Sequence[tuple[str, Path]], dest: Path) -> int:
    """Write `entries` (name in the zip, file) to `dest` reproducibly; return the unzipped size in bytes."""
    names = [name for name, _ in entries]
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise OpsError(f"the renewal function's package would hold {twice[:3]} twice (a dependency named stackops?)")
    folders = {"/".join(name.split("/")[:depth]) + "/" for name in names for depth in range(1, name.count("/") + 1)}
    unzipped = 0
    with zipfile.ZipFile(dest, "w") as archive:
        for name, path in sorted([*((folder, None) for folder in folders), *entries]):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.create_system = 3  # Unix: the modes below are read from external_attr
            if path is None:
                info.external_attr = ((stat.S_IFDIR | DIR_MODE) << 16) | 0x10  # 0x10: MS-DOS directory flag
                archive.writestr(info, b"", compress_type=zipfile.ZIP_STORED)
                continue
            data = path.read_bytes()
            unzipped += len(data)
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL)
    return unzipped


def check_limits(zip_size: int, unzipped_size: int) -> None:
    """OpsError when the zip is not under Lambda's direct-upload limit or its contents not under the unzipped one."""
    if zip_size >= ZIP_LIMIT:
        raise OpsError(
            f"the renewal function's package is {_mb(zip_size)} zipped: Lambda takes a .zip uploaded directly only "
            f"under {_mb(ZIP_LIMIT)} (upload it through S3, or trim its dependencies)"
        )
    if unzipped_size >= UNZIPPED_LIMIT:
        raise OpsError(
            f"the renewal function's package is {_mb(unzipped_size)} unzipped: Lambda's limit for a function's "
            f"code and layers is {_mb(UNZIPPED_LIMIT)} (trim its dependencies, or use a container image)"
        )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB ({size} bytes)"  # MB as Lambda counts them: 2**20 bytes


def file_sha256(path: Path) -> str:
    """base64 of the file's SHA-256: Terraform's filebase64sha256, Lambda's CodeSha256."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def stamp_path(out: Path) -> Path:
    return out.with_name(out.name + ".stamp")


def _read_stamp(out: Path) -> dict[str, Any]:
    try:
        stamp = json.loads(stamp_path(out).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def _write_stamp(out: Path, stamp: dict[str, Any]) -> None:
    _replace(stamp_path(out), lambda temporary: temporary.write_text(json.dumps(stamp, indent=2) + "\n"))


def _cached(out: Path, stamp: dict[str, Any], inputs: str) -> Package | None:
    """The existing zip when its stamp names the same inputs and its bytes are the ones the stamp
    recorded: hashed again only when its file is not the one the stamp saw (`_zip_stat`; a zip
    written over is another; Terraform hashes it at each plan anyway)."""
    recorded = stamp.get("sha256")
    if stamp.get("inputs") != inputs or not isinstance(recorded, str):
        return None
    try:
        seen = _zip_stat(out)
    except FileNotFoundError:
        return None
    if seen != stamp.get("stat") and file_sha256(out) != recorded:
        return None
    return Package(out, recorded, seen[0])


def _zip_stat(path: Path) -> list[int]:
    """Size, modification time, inode and change time: `touch` or a copy over it changes one (the
    change time cannot be set back; a rename into place gives a new inode)."""
    seen = path.stat()
    return [seen.st_size, seen.st_mtime_ns, seen.st_ino, seen.st_ctime_ns]


def requirements_key(lock: Path, python_version: str, platform: str) -> str:
    """A digest of what `requirements` answers from, quick to take: the lock's text, the target, and
    the installed distributions' metadata folders (each named by its distribution's name and
    version, and made anew, with another inode and time, at each install, upgrade or reinstall),
    by folder, whatever the order of sys.path. `requirements` itself reads every distribution's
    metadata: 0.1 s of each plan's start, with the import of `packaging`."""
    digest = hashlib.sha256(f"{python_version}\0{platform}\0".encode())
    try:
        digest.update(lock.read_bytes())
    except FileNotFoundError:
        return ""  # `requirements` names the missing lock
    for folder in sorted({os.path.realpath(entry or ".") for entry in sys.path}):
        try:
            found = sorted((e for e in os.scandir(folder) if e.name.endswith((".dist-info", ".egg-info"))),
                           key=lambda e: e.name)  # fmt: skip
        except OSError:  # a zip, or a folder that is not there
            continue
        for metadata in found:
            seen = metadata.stat()
            digest.update(f"\0{folder}\0{metadata.name}\0{seen.st_ino}\0{seen.st_mtime_ns}".encode())
    return digest.hexdigest()


def _replace(dest: Path, write: Callable[[Path], object]) -> None:
    """Write to a temporary file beside `dest`, then rename it into place: never a half-written `dest`."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        temporary.chmod(0o644)
        os.replace(temporary, dest)
    finally:
        temporary.unlink(missing_ok=True)


def build_package(
    out: Path | None = None, *, python_version: str = PYTHON_VERSION, platform: str = PLATFORM, root: Path = ROOT
) -> Package:
    """Build the renewal function's zip (default `ROOT/build/cert-renewer.zip`), or return it at once when
    its stamp matches. `root` is the checkout holding `stackops/` and `requirements.lock`.

    OpsError when a needed distribution is missing from the lock or the installed environment, when pip
    fails (no package index, a hash mismatch), or when the zip breaks a Lambda size limit."""
    from rich.markup import escape

    from stackops.ui import err

    out = Path(out) if out is not None else root / "build" / ZIP_NAME
    lock = root / "requirements.lock"
    stamp = _read_stamp(out)
    key = requirements_key(lock, python_version, platform)
    # The stamp keeps the requirement lines it was made from, with their key: the same key, the same lines.
    known = stamp.get("requirements") if key and stamp.get("requirements_key") == key else None
    requirement_lines = known if isinstance(known, str) else requirements(python_version, platform, lock=lock)
    files = first_party_files(root)
    inputs = inputs_digest(requirement_lines, files, python_version, platform)
    cached = _cached(out, stamp, inputs)
    if cached is not None:
        fresh = _stamp(cached, inputs, key, requirement_lines)
        if fresh != stamp:  # an older stamp, other packages installed, the zip touched: kept for next time
            with contextlib.suppress(OSError):  # a read-only build folder: the next plan reads them again
                _write_stamp(out, fresh)
        return cached
    err.print(f"building the renewal function's package for Python {python_version} ({platform}): {escape(str(out))}")
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp_path(out).unlink(missing_ok=True)  # a stale stamp must never vouch for a new zip
    with tempfile.TemporaryDirectory(prefix="cert-renewer-") as work:
        requirements_file = Path(work) / "requirements.txt"
        requirements_file.write_text(requirement_lines)
        target = Path(work) / "site"
        install_third_party(requirements_file, target, python_version=python_version, platform=platform)
        entries = [*files, *third_party_files(target)]

        def write(temporary: Path) -> None:
            unzipped = write_zip(entries, temporary)
            check_limits(temporary.stat().st_size, unzipped)

        _replace(out, write)
    package = Package(out, file_sha256(out), out.stat().st_size)
    _write_stamp(out, _stamp(package, inputs, key, requirement_lines))
    return package


def _stamp(package: Package, inputs: str, key: str, requirement_lines: str) -> dict[str, Any]:
    """What the stamp records: the inputs' digest, the zip's hash and size, the file it saw
    (`_zip_stat`), and the requirement lines with the key they were read under (`requirements_key`)."""
    return {"inputs": inputs, "sha256": package.sha256, "size": package.size, "stat": _zip_stat(package.path),
            "requirements_key": key, "requirements": requirement_lines}  # fmt: skip


def renewer_package(env: Environment) -> Package:
    """The package an environment's function runs: for Lambda's python3.13, or for an emulated
    environment this machine's Python (the embedded AWS has no Lambda runtime: `inv cert.renewer`
    and the tests run the package locally, and cffi's and cryptography's wheels are built per
    interpreter). One zip per target under `<checkout>/build/`, so switching environments rebuilds nothing."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}" if env.emulated else PYTHON_VERSION
    out = env.root / "build" / f"cert-renewer-py{version.replace('.', '')}.zip"
    return build_package(out, python_version=version, root=env.root)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stackops.certs.package",
        description="Build the certificate-renewal Lambda function's deployment package (a reproducible .zip); "
        "print its path, base64 SHA-256 (Terraform's filebase64sha256) and size.",
    )
    parser.add_argument(
        "--python-version", default=PYTHON_VERSION, help=f"target Python, major.minor (default {PYTHON_VERSION})"
    )
    parser.add_argument("--platform", default=PLATFORM, help=f"target wheel platform (default {PLATFORM})")
    parser.add_argument("--out", type=Path, default=None, help=f"the zip to write (default build/{ZIP_NAME})")
    args = parser.parse_args(argv)
    try:
        package = build_package(args.out, python_version=args.python_version, platform=args.platform)
    except OpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    print(f"path: {package.path}\nsha256: {package.sha256}\nsize: {package.size}")


if __name__ == "__main__":
    main()
