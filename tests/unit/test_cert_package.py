"""The renewal function's deployment package (stackops.certs.package): reproducible, cached, complete.

Real builds run pip against the package index (its cache makes one about 10 s): one for the Lambda
target (Python 3.13) and one for this interpreter, each shared by this module's tests (one xdist
group), plus the reproducibility build. The cache and limit tests use a stand-in for pip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stackops.certs import package
from stackops.certs.package import Package, build_package
from stackops.errors import OpsError
from stackops.paths import ROOT
from tests.conftest import free_port
from tests.unit.test_layout import GRAPH

pytestmark = pytest.mark.xdist_group("cert_package")

HOST = f"{sys.version_info.major}.{sys.version_info.minor}"
# What the function's code and certbot import: importable from the package alone proves the closure.
IMPORTS = ("certbot.main", "certbot_dns_route53", "acme.client", "boto3", "hcl2", "rich", "stackops.certs.issue",
           "stackops.certs.__main__", "stackops.environments", "stackops.ui")  # fmt: skip
# Where the function starts: its handler (once written) and the certbot subprocess.
ENTRY_MODULES = ("stackops.certs.renewer", "stackops.certs.issue", "stackops.certs.__main__")


def source_tree(dest: Path) -> Path:
    """A clean copy of the build's inputs (stackops/ without caches, requirements.lock), safe to edit."""
    shutil.copytree(ROOT / "stackops", dest / "stackops", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "requirements.lock", dest / "requirements.lock")
    return dest


def b64sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return source_tree(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def lambda_zip(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The real artifact: built for python3.13 on x86_64, from a clean tree."""
    return build_package(tmp_path_factory.mktemp("lambda") / package.ZIP_NAME, root=source)


@pytest.fixture(scope="module")
def host_zip(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The same package for this interpreter, so that it can be imported and run here."""
    return build_package(tmp_path_factory.mktemp("host") / package.ZIP_NAME, python_version=HOST, root=source)


class FakePip:
    """Stands in for pip: installs one small module and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, requirements_file: Path, target: Path, *, python_version: str, platform: str) -> None:
        self.calls += 1
        assert "--hash=sha256:" in requirements_file.read_text()
        target.mkdir(parents=True)
        (target / "third_party.py").write_text("VALUE = 1\n")


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> FakePip:
    fake = FakePip()
    monkeypatch.setattr(package, "install_third_party", fake)
    return fake


# -- reproducible and cached ------------------------------------------------------------------------
def test_the_same_inputs_give_the_same_bytes(lambda_zip: Package, tmp_path: Path):
    # Built again into a fresh folder (no stamp), from the checkout itself (__pycache__ folders and all).
    out = tmp_path / "again" / package.ZIP_NAME
    assert not package.stamp_path(out).exists()
    again = build_package(out)
    assert again.path.read_bytes() == lambda_zip.path.read_bytes()
    assert again.sha256 == lambda_zip.sha256 == b64sha256(lambda_zip.path)
    assert again.size == lambda_zip.size == lambda_zip.path.stat().st_size


def test_a_matching_stamp_returns_the_zip_without_pip(lambda_zip: Package, source: Path, monkeypatch):
    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran although the stamp matched")

    monkeypatch.setattr(package, "install_third_party", no_pip)
    assert build_package(lambda_zip.path, root=source) == lambda_zip
    stamp = json.loads(package.stamp_path(lambda_zip.path).read_text())
    assert stamp["sha256"] == lambda_zip.sha256 and stamp["size"] == lambda_zip.size


def test_a_changed_first_party_file_rebuilds(tmp_path: Path, fake_pip: FakePip, capsys):
    root = source_tree(tmp_path / "src")
    out = tmp_path / "build" / package.ZIP_NAME
    first = build_package(out, root=root)
    assert "building the renewal function's package" in capsys.readouterr().err
    assert build_package(out, root=root) == first and fake_pip.calls == 1
    assert capsys.readouterr().err == ""  # a cache hit says nothing

    issue = root / "stackops" / "certs" / "issue.py"
    issue.write_text(issue.read_text() + "# changed\n")
    second = build_package(out, root=root)
    assert fake_pip.calls == 2 and second.sha256 != first.sha256
    with zipfile.ZipFile(out) as archive:
        assert archive.read("stackops/certs/issue.py").endswith(b"# changed\n")
        assert archive.read("third_party.py") == b"VALUE = 1\n"

    (root / "stackops" / "certs" / "__pycache__").mkdir(exist_ok=True)  # caches are not inputs
    (root / "stackops" / "certs" / "__pycache__" / "issue.cpython-311.pyc").write_bytes(b"\0")
    assert build_package(out, root=root) == second and fake_pip.calls == 2


def test_a_zip_that_differs_from_its_stamp_is_rebuilt(tmp_path: Path, fake_pip: FakePip):
    root = source_tree(tmp_path / "src")
    out = tmp_path / "build" / package.ZIP_NAME
    built = build_package(out, root=root)
    out.write_bytes(b"not the zip the stamp describes")
    assert build_package(out, root=root) == built and fake_pip.calls == 2
    out.unlink()
    assert build_package(out, root=root) == built and fake_pip.calls == 3


def test_a_cache_hit_reads_no_distribution_metadata_and_hashes_no_zip(
    tmp_path: Path, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
):
    """What each plan pays: the stamp's requirement lines under their key, the zip's size and time."""
    root = source_tree(tmp_path / "src")
    out = tmp_path / "build" / package.ZIP_NAME
    built = build_package(out, root=root)
    lines = package.requirements(lock=root / "requirements.lock")

    def not_again(*_: object, **__: object) -> str:
        raise AssertionError("read again on a cache hit")

    with monkeypatch.context() as patched:
        patched.setattr(package, "requirements", not_again)
        patched.setattr(package, "file_sha256", not_again)
        assert build_package(out, root=root) == built and fake_pip.calls == 1

    # Another distribution installed: the lines are read again (the same here, so no rebuild).
    (tmp_path / "site" / "newcomer-1.0.dist-info").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    calls: list[str] = []
    original = package.requirements
    monkeypatch.setattr(package, "requirements", lambda *a, **k: calls.append("read") or original(*a, **k))
    assert build_package(out, root=root) == built and calls == ["read"] and fake_pip.calls == 1
    assert build_package(out, root=root) == built and calls == ["read"]  # the stamp has the new key

    # The same version reinstalled (pip makes its metadata folder anew): read again.
    newcomer = tmp_path / "site" / "newcomer-1.0.dist-info"
    newcomer.rmdir()
    newcomer.mkdir()
    os.utime(newcomer, ns=(0, 10**9))  # another time, even within the clock's granularity
    assert build_package(out, root=root) == built and calls == ["read", "read"]

    # The lock edited: read again.
    lock = root / "requirements.lock"
    lock.write_text(lock.read_text() + "\n# a comment\n")
    assert build_package(out, root=root) == built and calls == ["read", "read", "read"]
    assert package._read_stamp(out)["requirements"] == lines


def test_an_older_stamp_is_completed_and_a_zip_touched_or_written_over_hashed_again(
    tmp_path: Path, fake_pip: FakePip, monkeypatch: pytest.MonkeyPatch
):
    root = source_tree(tmp_path / "src")
    out = tmp_path / "build" / package.ZIP_NAME
    built = build_package(out, root=root)
    stamp = package._read_stamp(out)
    old = {key: stamp[key] for key in ("inputs", "sha256", "size")}
    package.stamp_path(out).write_text(json.dumps(old))

    def read_only(*_: object) -> None:
        raise PermissionError("read-only build folder")

    with monkeypatch.context() as patched:  # a stamp that cannot be completed: the zip is still the answer
        patched.setattr(package, "_write_stamp", read_only)
        assert build_package(out, root=root) == built and fake_pip.calls == 1
    assert build_package(out, root=root) == built and fake_pip.calls == 1
    assert package._read_stamp(out) == stamp

    # Touched, the same bytes: hashed once more, and the stamp then knows the file again.
    os.utime(out, ns=(out.stat().st_atime_ns, out.stat().st_mtime_ns + 10**9))
    assert build_package(out, root=root) == built and fake_pip.calls == 1
    assert package._read_stamp(out)["stat"] == package._zip_stat(out)

    data = bytearray(out.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes, the modification time put back: the change time tells
    times = (out.stat().st_atime_ns, out.stat().st_mtime_ns)
    out.write_bytes(bytes(data))
    os.utime(out, ns=times)
    assert build_package(out, root=root) == built and fake_pip.calls == 2


# -- what is in it ----------------------------------------------------------------------------------
def test_the_zip_holds_the_function_and_nothing_of_this_machine(lambda_zip: Package):
    with zipfile.ZipFile(lambda_zip.path) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {"stackops/certs/issue.py", "stackops/certs/__main__.py", "stackops/environments.py"} <= set(names)
    assert {"certbot/", "certbot_dns_route53/", "acme/", "boto3/", "botocore/", "hcl2/", "rich/"} <= set(names)
    assert not [n for n in names if n.startswith(("stackops/local/", "bin/")) or "__pycache__" in n]
    assert not [n for n in names if n.endswith((".pyc", ".pyo"))]
    assert not [n for n in names if n.split("/")[-1] in package.DROPPED_METADATA and ".dist-info/" in n]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.create_system == 3, info.filename
        mode = info.external_attr >> 16
        assert mode == (0o40755 if info.is_dir() else 0o100644), f"{info.filename}: {oct(mode)}"
        if not info.is_dir():
            assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename
    # The interpreter-specific wheels are the Lambda runtime's, not this machine's.
    compiled = [n for n in names if n.endswith(".so")]
    assert "_cffi_backend.cpython-313-x86_64-linux-gnu.so" in names
    assert all("cpython-313-x86_64" in n or ".abi3." in n for n in compiled), compiled
    assert lambda_zip.size < package.ZIP_LIMIT
    assert sum(info.file_size for info in infos) < package.UNZIPPED_LIMIT


def test_the_zip_holds_exactly_the_closure(lambda_zip: Package, source: Path):
    with zipfile.ZipFile(lambda_zip.path) as archive:
        dists = {n.split("/")[0] for n in archive.namelist() if n.split("/")[0].endswith(".dist-info")}
    lines = package.requirements(lock=source / "requirements.lock")
    pinned = {line.split("==")[0] for line in lines.splitlines() if "==" in line}
    from packaging.utils import canonicalize_name

    assert {canonicalize_name(d.removesuffix(".dist-info").rsplit("-", 1)[0]) for d in dists} == pinned
    assert "typing-extensions" not in pinned and "pywin32" not in pinned  # 3.13 and Linux need neither


def test_the_package_imports_and_runs_certbot_on_its_own(host_zip: Package, tmp_path: Path):
    folder = tmp_path / "task"
    with zipfile.ZipFile(host_zip.path) as archive:
        archive.extractall(folder)
    imports = [*IMPORTS, *(["stackops.certs.renewer"] if (folder / "stackops/certs/renewer.py").exists() else [])]
    # -I: no PYTHON* variables, no user site; -S: not even the interpreter's own site-packages.
    probe = (
        "import importlib, importlib.metadata, json, sys\n"
        f"folder = {str(folder)!r}\n"
        "sys.path[:0] = [folder]\n"
        "assert not [p for p in sys.path if 'site-packages' in p], sys.path\n"
        f"modules = [importlib.import_module(name) for name in {imports!r}]\n"
        "outside = [m.__name__ for m in modules if not m.__file__.startswith(folder)]\n"
        "plugins = sorted(ep.name for ep in importlib.metadata.entry_points(group='certbot.plugins'))\n"
        "local = sorted(m for m in sys.modules if m.startswith('stackops.local'))\n"
        "print(json.dumps({'outside': outside, 'plugins': plugins, 'local': local}))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert found["outside"] == [] and found["local"] == []
    assert "dns-route53" in found["plugins"]

    # certbot as certbot.py runs it: `python -m stackops.certs certbot ...` with cwd at the package's
    # root (ROOT in the function), no PYTHONPATH (-E) and no site-packages (-S).
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "STACKOPS_ROUTE53_ZONES": "{}"}
    command = [sys.executable, "-E", "-S", "-m", "stackops.certs", "certbot", "--version"]
    run = subprocess.run(command, cwd=folder, env=environ, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "certbot 5." in run.stdout + run.stderr


def test_the_functions_import_path_never_reaches_the_embedded_aws():
    # Static, lazy imports included (test_layout's graph): what the function can ever import.
    reached, queue = set(), [name for name in ENTRY_MODULES if name in GRAPH]
    assert "stackops.certs.issue" in queue
    while queue:
        name = queue.pop()
        if name not in reached:
            reached.add(name)
            queue += GRAPH.get(name, [])
    assert not [name for name in reached if name.startswith("stackops.local") or name == "stackops.cli"]


# -- requirements -----------------------------------------------------------------------------------
def test_requirements_keep_the_locks_versions_and_hashes():
    from packaging.utils import canonicalize_name

    lines = package.requirements()
    lock = package.lock_entries((ROOT / "requirements.lock").read_text())
    blocks = re.split(r"\n(?=\S)", lines.strip())  # a requirement line, then its indented --hash lines
    names = [canonicalize_name(block.split("==")[0]) for block in blocks]
    assert names == list(package.closure(package.ROOTS, package.marker_environment("3.13", package.PLATFORM)))
    for name, block in zip(names, blocks, strict=True):
        assert block == lock[name][1] and "--hash=sha256:" in block, name
    assert "#" not in lines and "moto" not in names and "pytest" not in names


def test_markers_are_evaluated_for_the_target():
    on_313 = package.closure(package.ROOTS, package.marker_environment("3.13", package.PLATFORM))
    on_312 = package.closure(package.ROOTS, package.marker_environment("3.12", package.PLATFORM))
    assert "typing-extensions" not in on_313 and "typing-extensions" in on_312  # pyOpenSSL's, below 3.13
    assert "pywin32" not in on_313  # certbot's, on win32 only
    assert {"cffi", "pycparser", "cryptography", "lark", "markdown-it-py", "botocore"} <= set(on_313)
    with pytest.raises(OpsError, match="unsupported platform"):
        package.marker_environment("3.13", "win_amd64")
    with pytest.raises(OpsError, match="unsupported Python version"):
        package.marker_environment("3", package.PLATFORM)


def test_a_dependency_the_lock_does_not_pin_is_named(tmp_path: Path):
    lock = tmp_path / "requirements.lock"
    text = (ROOT / "requirements.lock").read_text()
    lock.write_text(text.replace("josepy==", "josepy-renamed=="))
    with pytest.raises(OpsError, match=r"josepy .* requirements.lock does not pin it"):
        package.requirements(lock=lock)


# -- failures ---------------------------------------------------------------------------------------
def test_a_package_over_a_lambda_limit_is_refused_and_not_written(tmp_path: Path, fake_pip: FakePip, monkeypatch):
    root = source_tree(tmp_path / "src")
    out = tmp_path / "build" / package.ZIP_NAME
    good = build_package(out, root=root)
    issue = root / "stackops" / "certs" / "issue.py"
    issue.write_text(issue.read_text() + "# changed\n")

    monkeypatch.setattr(package, "ZIP_LIMIT", 10_000)
    with pytest.raises(OpsError, match=r"is 0\.\d MB \(\d+ bytes\) zipped: .* under 0\.0 MB \(10000 bytes\)"):
        build_package(out, root=root)
    assert sorted(p.name for p in out.parent.iterdir()) == [package.ZIP_NAME]  # no stamp, no temporary file
    assert b64sha256(out) == good.sha256  # the previous zip, untouched

    monkeypatch.setattr(package, "ZIP_LIMIT", 50 * 2**20)
    monkeypatch.setattr(package, "UNZIPPED_LIMIT", 100_000)
    with pytest.raises(OpsError, match=r"unzipped: Lambda's limit .* is 0\.1 MB \(100000 bytes\)"):
        build_package(out, root=root)
    assert sorted(p.name for p in out.parent.iterdir()) == [package.ZIP_NAME]


def test_pip_failing_is_one_clear_error(tmp_path: Path, monkeypatch):
    # No package index: pip's configuration files ignored, an index on a closed port, no find-links.
    (tmp_path / "links").mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    out = tmp_path / "build" / package.ZIP_NAME
    with pytest.raises(OpsError, match=r"pip could not install .* exit 1: ERROR: .*acme==5\.9\.0") as failure:
        build_package(out, root=source_tree(tmp_path / "src"))
    assert "package index reachable" in str(failure.value) and "Traceback" not in str(failure.value)
    assert list(out.parent.iterdir()) == []


# -- the command line -------------------------------------------------------------------------------
def test_the_command_line_prints_path_hash_and_size(tmp_path: Path, fake_pip: FakePip, capsys, monkeypatch):
    root = source_tree(tmp_path / "src")
    out = tmp_path / "cli.zip"
    monkeypatch.setattr(package, "build_package", lambda out, **kw: build_package(out, root=root, **kw))
    package.main(["--out", str(out), "--python-version", HOST])
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"path: {out}", f"sha256: {b64sha256(out)}", f"size: {out.stat().st_size}"]
    with pytest.raises(SystemExit) as done:
        package.main(["--help"])
    assert done.value.code == 0 and "--python-version" in capsys.readouterr().out
    with pytest.raises(SystemExit) as failed:
        package.main(["--out", str(out), "--platform", "win_amd64"])
    assert failed.value.code == 1 and "error: unsupported platform" in capsys.readouterr().err
