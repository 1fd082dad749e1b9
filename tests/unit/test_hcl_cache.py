"""read_hcl's cache of python-hcl2's answers (stackops/environments.py): the same answer as the
parser for every HCL file of the repository, never a stale one, and never an error of its own;
read_yaml: libyaml's reading of the catalogues is the pure-Python loader's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import hcl2
import pytest

from stackops import environments
from stackops.environments import HCL_OPTIONS, read_hcl, read_yaml
from stackops.errors import OpsError
from stackops.paths import ROOT


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(environments, "HCL_CACHE_DIR", tmp_path / "hcl-cache")
    return tmp_path / "hcl-cache"


def repository_hcl() -> list[Path]:
    files = [*ROOT.glob("*.tf"), *ROOT.glob("modules/*/*.tf"), *ROOT.glob("tf-init/*.tf")]
    return sorted([*files, *ROOT.glob("environments/*/*.tfvars"), *ROOT.glob("environments/*/*.hcl")])


def test_a_cached_answer_is_the_parsers_for_every_file_of_the_repository(cache: Path) -> None:
    files = repository_hcl()
    assert len(files) > 30
    for path in files:
        parsed = hcl2.loads(path.read_text(), serialization_options=hcl2.SerializationOptions(**HCL_OPTIONS))
        assert read_hcl(path) == parsed, path  # parsed, and kept
        assert read_hcl(path) == parsed, path  # from the cache
    assert len(list(cache.glob("*.json"))) == len({p.read_text() for p in files})


def test_a_cached_file_is_not_parsed_again_even_by_another_process(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "variables.tfvars"
    path.write_text('stage = "dev"\n')
    assert read_hcl(path) == {"stage": "dev"}

    def no_parser(*_: object, **__: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr(hcl2, "loads", no_parser)
    assert read_hcl(path) == {"stage": "dev"}  # the entry on disk: what a second process reads
    assert not list(cache.glob("*.tmp"))  # written whole, then moved into place


def test_an_edited_file_is_parsed_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "variables.tfvars"
    path.write_text('stage = "dev"\n')
    assert read_hcl(path) == {"stage": "dev"}
    path.write_text('stage = "prod"\n')
    assert read_hcl(path) == {"stage": "prod"}


def test_a_damaged_entry_is_parsed_again_and_an_unwritable_cache_is_skipped(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.tfvars"
    path.write_text("count = 3\n")
    assert read_hcl(path) == {"count": 3}
    (entry,) = cache.glob("*.json")
    entry.write_text('{"count": ')  # half an entry
    assert read_hcl(path) == {"count": 3}
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache's parent folder would be")  # even root cannot mkdir under it
    monkeypatch.setattr(environments, "HCL_CACHE_DIR", blocked / "hcl-cache")
    path.write_text("count = 4\n")
    assert read_hcl(path) == {"count": 4}


def test_invalid_and_missing_files_are_named_and_not_cached(cache: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tf"
    bad.write_text('variable "x" {\n')
    for _ in range(2):
        with pytest.raises(OpsError, match=r"bad\.tf is not valid HCL"):
            read_hcl(bad)
    with pytest.raises(OpsError, match=r"gone\.tf is missing"):
        read_hcl(tmp_path / "gone.tf")
    assert not list(cache.glob("*.json"))


def test_the_oldest_entries_are_pruned(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environments, "HCL_CACHE_ENTRIES", 3)
    path = tmp_path / "n.tfvars"
    for n in range(5):
        path.write_text(f"n = {n}\n")
        read_hcl(path)
        for entry in cache.glob("*.json"):  # distinct write times, oldest first, whatever the clock's grain
            if json.loads(entry.read_text())["n"] == n:
                os.utime(entry, (1_000_000 + n, 1_000_000 + n))
    assert sorted(json.loads(e.read_text())["n"] for e in cache.glob("*.json")) == [2, 3, 4]


def test_the_catalogues_read_as_the_pure_python_safe_loader_reads_them() -> None:
    import yaml

    for name in ("secrets.yaml", "jobs.yaml"):
        path = ROOT / name
        assert read_yaml(path) == yaml.safe_load(path.read_text()), name


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "jobs.yaml"
    bad.write_text("jobs: [unclosed\n")
    with pytest.raises(OpsError, match=r"jobs\.yaml is not valid YAML: "):
        read_yaml(bad)
    with pytest.raises(OpsError, match=r"gone\.yaml is missing"):
        read_yaml(tmp_path / "gone.yaml")
