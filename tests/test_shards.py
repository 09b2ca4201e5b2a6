"""A Kinetics-layout data set fetched in shard jobs (openvclip/data/shards.py): the plan groups each URL list's
archives, a shard job fetches and unpacks only its own, and the gathering `prepare` then fetches nothing and
writes the manifest the unsharded `prepare` writes."""

from pathlib import Path

import pytest

import tests.real_layouts as layouts
from openvclip.data.jobs import prepare
from openvclip.data.manifest import read_manifest
from openvclip.data.parts import parse_part, part
from openvclip.data.shards import ShardFailed, fetch_shard, is_sharded, plan_shards, shard_count


def kinetics_entry(http_server, folder: Path, archives: int = 16) -> dict:
    k400 = layouts.write_kinetics(folder, base_url=http_server.url("k400").rstrip("/"), train_archives=archives)
    urls = http_server.add_tree(k400.folder, prefix="k400")
    return {
        "format": "kinetics",
        "protocol": "closedset",
        "files": layouts.kinetics_files(urls),
    }


def relative_rows(manifest: Path, raw: Path) -> list:
    """A manifest's rows with each video path relative to the raw folder (two runs differ only there)."""
    return [{**r, "path": Path(r["path"]).relative_to(raw.resolve()).as_posix()} for r in read_manifest(manifest)]


def fetch(entry, work: Path, k: int) -> dict:
    files = (work / "plan.json", k, work / "downloads", work / "raw", work / f"{k}.json")
    return fetch_shard(entry, "k400", *files, at_once=2, progress=False)


def archive_requests(http_server) -> int:
    return sum(r.path.endswith(".tar.gz") for r in http_server.requests)


def test_shard_jobs_fetch_their_archives_and_prepare_then_only_parses(http_server, tmp_path):
    entry = kinetics_entry(http_server, tmp_path / "files")
    assert is_sharded(entry, "k400") and not is_sharded({"size": 4}, "demo")
    local = {"videos_train": {"path": "/data/k400/train"}, "videos_val": {"path": "/data/k400/val"}}
    assert not is_sharded({**entry, "files": {**entry["files"], **local}}, "k400")
    work = tmp_path / "sharded"
    plan = plan_shards(entry, "k400", work / "downloads", 5, work / "plan.json")
    # 16 training archives in shards of 5, then the 2 validation archives: a shard never mixes two lists.
    assert [(s["role"], len(s["urls"])) for s in plan["shards"]] == [("videos_train", n) for n in (5, 5, 5, 1)] + [
        ("videos_val", 2)
    ]
    assert shard_count(work / "plan.json") == 5
    record = fetch(entry, work, 1)
    assert [Path(a["file"]).name for a in record["archives"]] == [Path(u).name for u in plan["shards"][1]["urls"]]
    assert sorted(p.name for p in (work / "downloads" / "videos_train").glob("*.tar.gz")) == sorted(
        Path(u).name for u in plan["shards"][1]["urls"]
    )
    assert all(Path(a["placed"]).is_dir() for a in record["archives"])
    for k in (0, 2, 3, 4):
        fetch(entry, work, k)
    fetched = archive_requests(http_server)
    assert fetched == 18
    counts = prepare(entry, "k400", {}, {}, 0, work / "downloads", work / "raw", work / "k400.csv", progress=False)
    assert archive_requests(http_server) == fetched  # every archive was in place: nothing fetched again

    alone = tmp_path / "unsharded"  # the single job, as before shards
    assert prepare(entry, "k400", {}, {}, 0, alone / "d", alone / "r", alone / "k400.csv", False, at_once=3) == counts
    assert relative_rows(work / "k400.csv", work / "raw") == relative_rows(alone / "k400.csv", alone / "r")
    assert len(read_manifest(work / "k400.csv")) == 32 + 4
    assert (work / "k400.missing.csv").read_text() == (alone / "k400.missing.csv").read_text()
    assert (work / "k400.classes.txt").read_text() == (alone / "k400.classes.txt").read_text()


def test_a_failed_shard_names_itself_and_reruns_alone(http_server, tmp_path):
    entry = kinetics_entry(http_server, tmp_path / "files", archives=4)
    work = tmp_path / "w"
    plan = plan_shards(entry, "k400", work / "downloads", 2, work / "plan.json")
    gone = plan["shards"][1]["urls"][1]
    served = f"k400/train/{Path(gone).name}"  # answered 404 once, then served again
    http_server.add(served, tmp_path / "files" / "train" / Path(gone).name, fail=[404])
    with pytest.raises(ShardFailed, match=r"data set k400, shard 1 of 3 \(videos_train: 2 archive\(s\)") as error:
        fetch(entry, work, 1)
    assert "HTTP Error 404" in str(error.value) and Path(gone).name in str(error.value)
    assert not (work / "1.json").exists()
    kept = f"k400/train/{Path(plan['shards'][1]['urls'][0]).name}"
    assert (work / "downloads" / "videos_train" / Path(kept).name).is_file()  # its finished archive is kept
    fetch(entry, work, 1)
    assert len(http_server.requests_for(kept)) == 1 and len(http_server.requests_for(served)) == 2
    assert (work / "1.json").is_file()


def test_parts_cover_the_work_once_in_order():
    for total in (0, 1, 5, 7, 240):
        for n in (1, 2, 3, 21):
            ranges = [part(total, k, n) for k in range(n)]
            assert [i for r in ranges for i in r] == list(range(total))
            assert max(map(len, ranges)) - min(map(len, ranges)) <= 1
    assert parse_part("3/21") == (3, 21)
    for bad in ("3", "21/21", "-1/4", "a/b"):
        with pytest.raises(ValueError, match="part"):
            parse_part(bad)
