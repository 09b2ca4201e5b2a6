"""The one atomic-write helper: a reader sees the old output or the whole new one, never half of one."""

import pytest

from openvclip.io import atomic_path, temporary_name


def test_the_output_appears_whole_and_only_when_the_block_completes(tmp_path):
    target = tmp_path / "deep" / "out.csv"
    with atomic_path(target) as tmp:
        assert tmp == tmp_path / "deep" / "out.csv.tmp" and tmp.parent.is_dir()
        tmp.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new" and not tmp.exists()


def test_a_failed_write_keeps_the_old_output_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt  # Ctrl-C half way
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_folders_and_suffix_keeping_writers(tmp_path):
    assert temporary_name(tmp_path / "plot.png", keep_suffix=True).name == "plot.png.tmp.png"
    store = tmp_path / "store"
    (tmp_path / "store.tmp").mkdir()
    (tmp_path / "store.tmp" / "stale").write_text("a killed run's leftover")
    with atomic_path(store) as tmp:
        assert not tmp.exists()  # the leftover folder is gone before the block starts
        tmp.mkdir()
        (tmp / "rows").write_text("rows")
    assert [p.name for p in store.iterdir()] == ["rows"]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "other") as tmp:
            tmp.mkdir()
            (tmp / "part").write_text("x")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
