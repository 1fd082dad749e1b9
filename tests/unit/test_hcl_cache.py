"""read_hcl's cache of python-hcl2's answers (stackops/environments.py): the same answer as the
parser for every HCL file of the repository, never a stale one, and never an error of its own."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from stackops import environments
from stackops.environments import _HCL_OPTIONS, read_hcl
from stackops.errors import OpsError
from stackops.paths import ROOT


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STACK_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state" / "cache" / "hcl"


def repository_hcl() -> list[Path]:
    files = [*ROOT.glob("*.tf"), *ROOT.glob("modules/*/*.tf"), *ROOT.glob("tf-init/*.tf")]
    return sorted([*files, *ROOT.glob("environments/*/*.tfvars"), *ROOT.glob("environments/*/*.hcl")])


def test_a_cached_answer_is_the_parsers_for_every_file_of_the_repository(cache: Path) -> None:
    files = repository_hcl()
    assert len(files) > 30
    for path in files:
        parsed = hcl2.loads(path.read_text(), serialization_options=_HCL_OPTIONS)
        assert read_hcl(path) == parsed, path  # parsed, and kept
        assert read_hcl(path) == parsed, path  # from the cache
    assert len(list(cache.glob("*.json"))) == len({p.read_text() for p in files})


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
    (blocked / "cache").parent.mkdir()
    (blocked / "cache").write_text("a file where the cache folder would be")  # even root cannot mkdir it
    monkeypatch.setenv("STACK_STATE_DIR", str(blocked))
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
    assert len(list(cache.glob("*.json"))) == 3
