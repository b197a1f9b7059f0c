"""core.atomic: a target is replaced whole or left as it was."""

import json

import pytest

from core.atomic import atomic_path, write_json, write_text


def test_write_replaces_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "sub" / "table.json"
    write_json(target, {"a": 1})
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["table.json"]


def test_an_error_inside_the_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "results.csv"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a new fi")
            raise RuntimeError("killed while writing")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_files_get_the_usual_permissions(tmp_path):
    import os

    target = tmp_path / "x.json"
    write_json(target, [])
    reference = tmp_path / "plain"
    reference.write_text("")
    assert os.stat(target).st_mode == os.stat(reference).st_mode
