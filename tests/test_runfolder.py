"""The run folder: what hpsearch owns in it, its lock, its manifest, its readers."""

import os

import pytest

from hpsearch.errors import RunError
from hpsearch.execution import runfolder


def test_a_complete_run_deletes_only_its_own_states(tmp_path):
    states = tmp_path / "_states"
    states.mkdir()
    (states / "123-0-4.state").write_bytes(b"ours")
    (states / "keep.npz").write_bytes(b"theirs")
    runfolder.remove_states(tmp_path)
    assert [p.name for p in states.iterdir()] == ["keep.npz"]


def test_foreign_entries_are_what_hpsearch_does_not_write(tmp_path):
    names = ("config.toml", "trials.jsonl", "curve_trials.png", "summary.csv")
    for name in names:
        (tmp_path / name).write_text("x")
    # without a manifest nothing is hpsearch's, whatever its name (a user's report.html is theirs)
    assert runfolder.foreign_entries(tmp_path) == sorted(names)
    runfolder.write_manifest(tmp_path, [*names, "_states"])
    assert runfolder.foreign_entries(tmp_path) == []
    (tmp_path / "notes.txt").write_text("mine")
    os.symlink(tmp_path / "notes.txt", tmp_path / "report.html")
    (tmp_path / "_states").mkdir()
    (tmp_path / "_states" / "important.npz").write_text("mine")
    assert runfolder.foreign_entries(tmp_path) == ["notes.txt", "report.html (a symbolic link)",
                                                   "_states/important.npz"]


def test_a_name_is_claimed_before_it_is_written_and_never_over_a_users_file(tmp_path):
    runfolder.claim(tmp_path, ["trials.csv"])
    assert runfolder.read_manifest(tmp_path) == ["trials.csv"]
    (tmp_path / "trials.csv").write_text("x")
    runfolder.claim(tmp_path, ["trials.csv"])  # already hpsearch's: fine
    (tmp_path / "report.html").write_text("mine")
    with pytest.raises(RunError, match="report.html exists and hpsearch did not write it"):
        runfolder.claim(tmp_path, ["report.html"])
    os.link(tmp_path / "trials.csv", tmp_path.parent / f"{tmp_path.name}-outside")
    assert runfolder.foreign_entries(tmp_path) == ["report.html", "trials.csv (a hard link to a file elsewhere)"]


def test_a_manifest_of_an_earlier_version_still_owns_its_names(tmp_path):
    (tmp_path / "trials.csv").write_text("x")
    (tmp_path / "mine.txt").write_text("x")
    (tmp_path / "manifest.json").write_text('{"written_by": "hpsearch", "files": ["config.toml"]}')
    assert runfolder.read_manifest(tmp_path) == ["config.toml", "trials.csv"]
    assert runfolder.foreign_entries(tmp_path) == ["mine.txt"]


def test_a_refused_lock_changes_nothing_and_a_failed_first_run_leaves_no_folder(tmp_path):
    out = tmp_path / "a" / "b"
    with pytest.raises(ValueError):
        with runfolder.locked(out):
            raise ValueError("bad data")
    assert not (tmp_path / "a").exists()
    with runfolder.locked(out):
        with pytest.raises(RunError, match="is in use by process"):
            with runfolder.locked(out):
                pass
        assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_a_lock_file_that_is_a_link_is_refused(tmp_path):
    target = tmp_path / "passwd"
    target.write_text("root:x")
    (tmp_path / "run").mkdir()
    os.symlink(target, tmp_path / "run" / ".lock")
    with pytest.raises(RunError, match="symbolic link"):
        with runfolder.locked(tmp_path / "run"):
            pass
    assert target.read_text() == "root:x"
