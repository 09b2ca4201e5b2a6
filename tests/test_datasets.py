"""Parsing the real data sets (openvclip.data.sets.*, openvclip.data.prepare) from fixtures in their real layouts.

The fixtures (tests/real_layouts.py) are the archives and annotation files as the data sets ship them, with tiny
valid videos; the K600 novel-class tests use the real K400 and K600 class lists (tests/data/).
"""

from pathlib import Path

import pytest

from openvclip.data.archives import extract
from openvclip.data.prepare import RealSet, materialise, parse
from openvclip.data.sets import VideoIndex, hmdb51, join_splits, kinetics, msrvtt, ucf101
from tests import real_layouts as layouts
from tests.real_layouts import contents, manifest

DATA = Path(__file__).with_name("data")
K400 = (DATA / "k400_classes.txt").read_text().splitlines()
K600 = (DATA / "k600_classes.txt").read_text().splitlines()


def test_class_lists_are_the_real_ones():
    assert len(K400) == len(set(K400)) == 400 and len(K600) == len(set(K600)) == 600
    assert "dying hair" in K400 and "dyeing hair" in K600 and "dyeing hair" not in K400


def test_join_splits_sorts_and_deduplicates():
    assert join_splits(["test3", "test1", "test3"]) == "test1 test3"


# -- UCF101 ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    layout = layouts.write_ucf101(root / "files")
    videos = extract(layout.files["UCF101.rar"], root / "raw" / "videos", progress=False)
    splits = extract(layout.files["UCF101TrainTestSplits-RecognitionTask.zip"], root / "raw" / "splits", progress=False)
    return layout, videos, splits


def test_ucf101_rows_labels_and_splits(ucf):
    layout, videos, splits = ucf
    rows, classes, missing = ucf101.parse(videos, splits)
    assert classes == ["apply eye makeup", "archery", "handstand pushups", "yoyo"]
    assert manifest(rows) == layout.rows
    # a video in testlist01 and testlist03 is one row in both splits; train-only videos are no rows
    assert manifest(rows)["v_ApplyEyeMakeup_g01_c02.avi"] == (0, "test1 test3")
    assert not any("_g22_" in r["path"] for r in rows)
    assert all(r["classname"] == classes[r["label"]] for r in rows)
    assert contents(rows) == {name: layout.videos[name] for name in layout.rows}
    assert missing == {"YoYo/v_YoYo_g09_c01.avi": "test2"}


def test_ucf101_handstand_pushups_quirk_resolves_to_the_real_files(ucf):
    layout, videos, splits = ucf
    assert (
        "HandstandPushups/v_HandStandPushups_g01_c01.avi\r\n"
        in layout.extra["lists"]["ucfTrainTestlist/testlist01.txt"]
    )
    rows, classes, _ = ucf101.parse(videos, splits)
    quirk = [r for r in rows if r["classname"] == "handstand pushups"]
    assert len(quirk) == 3
    for row in quirk:
        path = Path(row["path"])
        assert path.is_file() and path.parent.name == "HandstandPushups"
        assert path.name.startswith("v_HandStandPushups_")
        assert row["label"] == 2
        assert path.read_bytes() == layout.videos[path.name]


def test_ucf101_labels_follow_class_ind_not_name_order(tmp_path):
    order = ("YoYo", "Archery", "HandstandPushups", "ApplyEyeMakeup")  # numbered 1.. in this order
    layout = layouts.write_ucf101(tmp_path / "files", classes=order)
    assert layout.extra["lists"]["ucfTrainTestlist/classInd.txt"].startswith("1 YoYo\r\n2 Archery\r\n")
    videos = extract(layout.files["UCF101.rar"], tmp_path / "videos", progress=False)
    splits = extract(layout.files["UCF101TrainTestSplits-RecognitionTask.zip"], tmp_path / "splits", progress=False)
    rows, classes, _ = ucf101.parse(videos, splits)
    assert classes == ["yoyo", "archery", "handstand pushups", "apply eye makeup"]
    assert manifest(rows) == layout.rows
    assert manifest(rows)["v_YoYo_g01_c01.avi"] == (0, "test1")
    assert manifest(rows)["v_ApplyEyeMakeup_g15_c01.avi"] == (3, "test3")


@pytest.mark.parametrize(
    "name, text",
    [
        ("ApplyEyeMakeup", "apply eye makeup"),
        ("YoYo", "yoyo"),
        ("HandstandPushups", "handstand pushups"),
        ("Archery", "archery"),
        ("BlowDryHair", "blow dry hair"),
        ("PlayingDaf", "playing daf"),
        ("SkyDiving", "sky diving"),
        ("TaiChi", "tai chi"),
        ("PushUps", "push ups"),
        ("Skijet", "skijet"),
        ("BMXRiding", "bmx riding"),  # not a UCF101 class: a run of capitals stays one word
    ],
)
def test_ucf101_class_text(name, text):
    assert ucf101.class_text(name) == text


def test_ucf101_full_adds_every_video(ucf):
    layout, videos, splits = ucf
    rows, classes, missing = ucf101.parse(videos, splits, full=True)
    assert manifest(rows) == layout.extra["full_rows"]
    assert len(rows) == len(layout.videos)  # train-only videos included
    assert all("full" in r["split"].split() for r in rows)
    assert manifest(rows)["v_Archery_g22_c01.avi"] == (1, "full")
    assert manifest(rows)["v_ApplyEyeMakeup_g01_c02.avi"] == (0, "full test1 test3")
    assert missing == {"YoYo/v_YoYo_g09_c01.avi": "test2"}


def test_ucf101_one_split_only(ucf):
    layout, videos, splits = ucf
    rows, _, missing = ucf101.parse(videos, splits, splits=(3,))
    assert manifest(rows) == {n: (label, "test3") for n, (label, s) in layout.rows.items() if "test3" in s.split()}
    assert missing == {}  # the lost video is listed in testlist02 only


def test_ucf101_list_naming_an_unknown_class_fails(tmp_path, ucf):
    layout, videos, splits = ucf
    bad = tmp_path / "splits"
    for path in splits.rglob("*.txt"):
        (bad / path.name).parent.mkdir(parents=True, exist_ok=True)
        (bad / path.name).write_text(path.read_text().replace("Archery/", "Archers/", 1))
    with pytest.raises(ValueError, match="Archers"):
        ucf101.parse(videos, bad)


def test_ucf101_without_split_files_says_which_archive(tmp_path, ucf):
    _, videos, _ = ucf
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="UCF101TrainTestSplits-RecognitionTask.zip"):
        ucf101.parse(videos, tmp_path / "empty")


# -- HMDB51 ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hmdb(tmp_path_factory):
    root = tmp_path_factory.mktemp("hmdb")
    layout = layouts.write_hmdb51(root / "files")
    videos = extract(layout.files["hmdb51_org.rar"], root / "raw" / "videos", nested=True, progress=False)
    splits = extract(layout.files["test_train_splits.rar"], root / "raw" / "splits", progress=False)
    return layout, videos, splits


def test_hmdb51_nested_rar_is_unpacked(hmdb):
    layout, videos, _ = hmdb
    assert layout.extra["inner"] == ["brush_hair.rar", "cartwheel.rar", "ride_bike.rar", "shoot_bow.rar"]
    assert not list(videos.rglob("*.rar"))
    assert sorted(p.name for p in videos.iterdir()) == ["brush_hair", "cartwheel", "ride_bike", "shoot_bow"]
    assert {p.name: p.read_bytes() for p in videos.rglob("*.avi")} == layout.videos


def test_hmdb51_only_test_ids_become_rows(hmdb):
    layout, videos, splits = hmdb
    line = (splits / "testTrainMulti_7030_splits" / "brush_hair_test_split1.txt").read_text().splitlines()[0]
    assert line == "#20_Rhythm_brush_hair_u_nm_np1_fr_goo_0.avi 2 "  # the release's trailing space
    rows, classes, missing = hmdb51.parse(videos, splits)
    assert classes == ["brush hair", "cartwheel", "ride bike", "shoot bow"]
    assert manifest(rows) == layout.rows
    assert manifest(rows)["#20_Rhythm_ride_bike_u_nm_np1_fr_goo_0.avi"] == (2, "test1 test3")
    assert manifest(rows)["April_09_shoot_bow_u_nm_np1_ba_goo_1.avi"] == (3, "test2")
    # id 1 (train) and id 0 (unused) lines are no rows
    assert not any("Blonde_being" in r["path"] or "Prelinger" in r["path"] for r in rows)
    assert all(
        r["classname"] == classes[r["label"]] and Path(r["path"]).parent.name == classes[r["label"]].replace(" ", "_")
        for r in rows
    )
    assert contents(rows) == {name: layout.videos[name] for name in layout.rows}
    # a lost test video is reported once, with the two splits it is a test video of
    assert missing == {"brush_hair/lost_brush_hair_f_cm_np1_fr_bad_9.avi": "test1 test2"}


def test_hmdb51_split_subset(hmdb):
    layout, videos, splits = hmdb
    rows, _, missing = hmdb51.parse(videos, splits, splits=(2,))
    assert manifest(rows) == {n: (label, "test2") for n, (label, s) in layout.rows.items() if "test2" in s.split()}
    assert len(rows) == 4
    assert missing == {"brush_hair/lost_brush_hair_f_cm_np1_fr_bad_9.avi": "test2"}


def test_hmdb51_class_lacking_a_split_file_fails(tmp_path, hmdb):
    _, videos, splits = hmdb
    bad = tmp_path / "splits"
    for path in splits.rglob("*.txt"):
        if path.name != "cartwheel_test_split2.txt":
            (bad / path.name).parent.mkdir(parents=True, exist_ok=True)
            (bad / path.name).write_text(path.read_text())
    with pytest.raises(FileNotFoundError, match="cartwheel.*\\[2\\]"):
        hmdb51.parse(videos, bad)


def test_hmdb51_class_text():
    assert hmdb51.class_text("brush_hair") == "brush hair"
    assert hmdb51.class_text("shoot_bow") == "shoot bow"


# -- Kinetics-400 ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k400(tmp_path_factory):
    root = tmp_path_factory.mktemp("k400")
    layout = layouts.write_kinetics(root / "files")
    shards = root / "raw" / "videos"
    for name in ("train/part_0.tar.gz", "val/part_0.tar.gz", "val/part_1.tar.gz"):
        extract(layout.files[name], shards / name.replace("/", "_").split(".")[0], progress=False)
    replacement = extract(
        layout.files["replacement_for_corrupted_k400.tgz"], root / "raw" / "replacement", progress=False
    )
    return layout, shards, layout.files["train.csv"].parent, replacement


def test_kinetics_rows_labels_and_missing(k400):
    layout, shards, annotations, replacement = k400
    assert '"passing American football (in game)",x1Y2z3A4b5C,144,154,train,0' in layout.files["train.csv"].read_text()
    rows, classes, missing = kinetics.parse(shards, annotations, {"train": "train.csv", "val": "val.csv"}, replacement)
    assert classes == ["abseiling", "air drumming", "passing American football (in game)", "zumba"]  # sorted
    assert manifest(rows) == layout.rows
    assert all(r["classname"] == classes[r["label"]] for r in rows)
    assert manifest(rows)["--07WQ2iBlw_000001_000011.mp4"] == (0, "train")
    assert missing == {"VAL3lostzz4_000020_000030.mp4": "val"}
    assert contents(rows) == {name: layout.videos[name] for name in layout.rows}


def test_kinetics_replacement_wins_over_the_broken_clip(k400):
    layout, shards, annotations, replacement = k400
    broken = layout.extra["broken"]
    assert len(list(shards.rglob(broken))) == 1  # the broken copy is among the shards
    rows, _, _ = kinetics.parse(shards, annotations, {"val": "val.csv"}, replacement)
    path = Path(next(r["path"] for r in rows if Path(r["path"]).name == broken))
    assert replacement.resolve() in path.parents
    assert path.read_bytes() == layout.videos[broken]
    rows, _, _ = kinetics.parse(shards, annotations, {"val": "val.csv"})  # without it: the broken file
    path = Path(next(r["path"] for r in rows if Path(r["path"]).name == broken))
    assert shards.resolve() in path.parents and path.read_bytes() != layout.videos[broken]


def test_kinetics_val_only_keeps_the_val_class_order(k400):
    layout, shards, annotations, replacement = k400
    rows, classes, _ = kinetics.parse(shards, annotations, {"val": "val.csv"}, replacement)
    assert classes == layouts.K400_CLASSES
    assert {r["split"] for r in rows} == {"val"} and len(rows) == 4


@pytest.mark.parametrize(
    "ytid, start, end, name",
    [
        ("--07WQ2iBlw", 1, 11, "--07WQ2iBlw_000001_000011.mp4"),
        ("x1Y2z3A4b5C", "144", "154", "x1Y2z3A4b5C_000144_000154.mp4"),
        ("x1Y2z3A4b5C", "14.0", "24.0", "x1Y2z3A4b5C_000014_000024.mp4"),
        ("abc", 0, 10, "abc_000000_000010.mp4"),
    ],
)
def test_kinetics_clip_name(ytid, start, end, name):
    assert kinetics.clip_name(ytid, start, end) == name


def test_kinetics_annotations_strip_quotes_and_check_columns(tmp_path):
    good = tmp_path / "val.csv"
    good.write_text(
        layouts.kinetics_csv(
            [("abseiling", "a", 1, 2, "val"), ("passing American football (in game)", "b", 3, 4, "val")]
        )
    )
    assert good.read_text().splitlines()[1] == '"abseiling",a,1,2,val,0'
    assert [r["label"] for r in kinetics.read_annotations(good)] == ["abseiling", "passing American football (in game)"]
    bad = tmp_path / "bad.csv"
    bad.write_text("label,youtube_id,time_start\nabseiling,a,1\n")
    with pytest.raises(ValueError, match="time_end"):
        kinetics.read_annotations(bad)


# -- Kinetics-600 novel classes ----------------------------------------------------------------------------------

NOVEL = kinetics.novel_classes(K400, K600)
ER_ZSAR = kinetics.novel_facts()["er_zsar_test_classes"]


def test_novel_classes_are_the_220_of_the_literature():
    assert len(NOVEL) == len(set(NOVEL)) == 220 == kinetics.novel_facts()["novel_count"]
    assert set(NOVEL) <= set(K600) and not set(NOVEL) & set(K400)
    for renamed in (
        "dyeing hair",
        "inflating balloons",
        "waking up",
        "passing american football (not in game)",
        "throwing ball (not baseball or American football)",
        "person collecting garbage",
    ):
        assert renamed in K600 and renamed not in NOVEL
    assert {"acting in play", "arguing", "pillow fight"} <= set(NOVEL)


def test_naive_matching_pitfalls():
    exact = [c for c in K600 if c not in set(K400)]
    assert len(exact) == 232  # renamed K400 classes counted as novel
    renames = kinetics.novel_facts()["k400_to_k600_renames"]
    real_renames = {a: b for a, b in renames.items() if a.lower() != b.lower()}
    assert len(renames) == 12 and len(real_renames) == 11
    seen = {real_renames.get(c, c) for c in K400}
    case_sensitive = [c for c in K600 if c not in seen]
    assert len(case_sensitive) == 221
    assert sorted(set(case_sensitive) - set(NOVEL)) == ["passing american football (not in game)"]
    assert "passing American football (not in game)" in K400


def test_novel_classes_ignore_quotes_underscores_and_case():
    k400 = ['"dying hair"', "passing_American_football_(not_in_game)", "abseiling"]
    k600 = ["dyeing hair", "passing american football (not in game)", '"Abseiling"', '"acting in play"']
    assert kinetics.novel_classes(k400, k600) == ["acting in play"]


def test_er_zsar_splits():
    lists = kinetics.novel_splits(NOVEL, "er_zsar")
    assert len(lists) == 3
    for split in lists:
        assert len(split) == len(set(split)) == 160 and set(split) <= set(NOVEL)
    assert len({tuple(sorted(s)) for s in lists}) == 3
    assert [len(set(a) & set(b)) for a, b in ((lists[0], lists[1]), (lists[0], lists[2]), (lists[1], lists[2]))] == [
        110,
        116,
        117,
    ]


def test_er_zsar_splits_need_every_class():
    with pytest.raises(ValueError, match="seeded"):
        kinetics.novel_splits([c for c in NOVEL if c != "arguing"], "er_zsar")


def test_seeded_splits_are_deterministic_per_seed():
    first = kinetics.novel_splits(NOVEL, "seeded", seed=0)
    assert first == kinetics.novel_splits(NOVEL, "seeded", seed=0)
    assert first == kinetics.novel_splits(list(reversed(NOVEL)), "seeded", seed=0)  # input order does not matter
    other = kinetics.novel_splits(NOVEL, "seeded", seed=1)
    assert all(a != b for a, b in zip(first, other))
    for split in first:
        assert len(split) == len(set(split)) == 160 and set(split) <= set(NOVEL)
    assert len({tuple(s) for s in first}) == 3
    with pytest.raises(ValueError, match="unknown"):
        kinetics.novel_splits(NOVEL, "random")
    with pytest.raises(ValueError, match="only 100"):
        kinetics.novel_splits(NOVEL[:100], "seeded")


VAL_VIDEOS = (
    "arguing",
    "adjusting glasses",
    "chewing gum",
    "pillow fight",  # novel (pillow fight: in no split)
    "dyeing hair",
    "passing american football (not in game)",
    "abseiling",
)  # seen in K400
TEST_VIDEOS = ("base jumping", "arguing", "waking up")


@pytest.fixture(scope="module")
def k600(tmp_path_factory):
    root = tmp_path_factory.mktemp("k600")
    return layouts.write_kinetics600(root, K400, K600, VAL_VIDEOS, TEST_VIDEOS)


def test_parse_novel_rows_membership_and_missing(k600):
    rows, classes, missing = kinetics.parse_novel(k600.files["videos"], k600.folder / "k600", k600.folder / "k400")
    assert classes == NOVEL
    val_clip = k600.extra["val_clip"]
    assert manifest(rows) == {
        val_clip["arguing"]: (NOVEL.index("arguing"), "test1 test2 test3"),
        val_clip["adjusting glasses"]: (NOVEL.index("adjusting glasses"), "test1 test3"),
        val_clip["chewing gum"]: (NOVEL.index("chewing gum"), "test2"),
    }
    assert all(r["classname"] == classes[r["label"]] for r in rows)
    for row in rows:  # the membership is what ER-ZSAR's lists say
        expected = [f"test{k + 1}" for k in range(3) if row["classname"] in ER_ZSAR[k]]
        assert row["split"] == join_splits(expected)
    in_a_split = {c for c in NOVEL if any(c in s for s in ER_ZSAR)}
    assert len(in_a_split) == 217
    assert sorted(missing) == sorted(val_clip[c] for c in in_a_split - set(VAL_VIDEOS))
    assert len(missing) == 214  # only novel classes' clips are looked for: seen ones are neither rows nor missing
    # each with the splits its class is in, as a row's split field
    assert all(v and set(v.split()) <= {"test1", "test2", "test3"} for v in missing.values())


def test_parse_novel_test_videos(k600):
    rows, classes, missing = kinetics.parse_novel(
        k600.files["videos"], k600.folder / "k600", k600.folder / "k400", videos_from="test"
    )
    test_clip = k600.extra["test_clip"]
    assert manifest(rows) == {
        test_clip["base jumping"]: (NOVEL.index("base jumping"), "test1 test2 test3"),
        test_clip["arguing"]: (NOVEL.index("arguing"), "test1 test2 test3"),
    }
    assert len(missing) == 215 and test_clip["arguing"] not in missing
    with pytest.raises(ValueError, match="videos_from"):
        kinetics.parse_novel(k600.files["videos"], k600.folder / "k600", k600.folder / "k400", videos_from="train")


def test_parse_novel_seeded_splits(k600):
    rows, classes, _ = kinetics.parse_novel(
        k600.files["videos"], k600.folder / "k600", k600.folder / "k400", split_source="seeded", seed=3
    )
    lists = kinetics.novel_splits(NOVEL, "seeded", seed=3)
    expected = {
        k600.extra["val_clip"][c]: (NOVEL.index(c), join_splits(f"test{k + 1}" for k in range(3) if c in lists[k]))
        for c in VAL_VIDEOS
        if c in NOVEL and any(c in s for s in lists)
    }
    assert manifest(rows) == expected and rows


def test_parse_novel_rejects_a_wrong_novel_count(tmp_path):
    layout = layouts.write_kinetics600(tmp_path, K400, K600[:-1] + ["a class nobody knows"], ["arguing"], [])
    with pytest.raises(ValueError, match="found 221 K600 classes absent from K400, expected 220"):
        kinetics.parse_novel(layout.files["videos"], tmp_path / "k600", tmp_path / "k400")


# -- MSR-VTT -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index_column", [False, True])
def test_msrvtt_rows_in_csv_order(tmp_path, index_column):
    layout = layouts.write_msrvtt(tmp_path / "files", index_column)
    videos = extract(layout.files["MSRVTT.zip"], tmp_path / "videos", progress=False)
    annotations = extract(layout.files["msrvtt_data.zip"], tmp_path / "annotations", progress=False)
    rows, classes, missing = msrvtt.parse(videos, annotations)
    assert [Path(r["path"]).name for r in rows] == ["video7579.mp4", "video7725.mp4", "video7365.mp4"]
    assert manifest(rows) == layout.rows
    assert classes == ["video7579", "video7725", "video7365"] == [r["classname"] for r in rows]
    assert [r["caption"] for r in rows] == [layout.extra["captions"][Path(r["path"]).name] for r in rows]
    assert rows[1]["caption"] == "young people sit around the edges of a room clapping, and playing music"
    assert missing == {"video9258": "test"}
    assert all(Path(r["path"]).parent.as_posix().endswith("MSRVTT/videos/all") for r in rows)


# -- VideoIndex --------------------------------------------------------------------------------------------------


def test_video_index_ignores_top_folder_and_case(tmp_path):
    (tmp_path / "UCF101" / "YoYo").mkdir(parents=True)
    video = tmp_path / "UCF101" / "YoYo" / "v_YoYo_g01_c01.avi"
    video.write_bytes(b"x")
    (tmp_path / "UCF101" / "YoYo" / "notes.txt").write_text("not a video")
    index = VideoIndex(tmp_path)
    assert index.find("YoYo/v_YoYo_g01_c01.avi") == video.resolve()
    assert index.find("yoyo/V_YOYO_G01_C01.AVI") == video.resolve()
    assert index.find("UCF-101\\YoYo\\v_YoYo_g01_c01.avi") == video.resolve()
    assert index.find("notes.txt") is None and index.find("YoYo/v_YoYo_g02_c01.avi") is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no video files"):
        VideoIndex(tmp_path / "empty")


# -- prepare -----------------------------------------------------------------------------------------------------


def test_real_set_rejects_a_missing_role():
    with pytest.raises(ValueError, match=r"lacks role\(s\) \['splits'\].*hmdb51"):
        RealSet.from_dict(
            {"format": "hmdb51", "protocol": "zeroshot", "files": {"videos": "/data/hmdb51_org.rar"}}, "hmdb51"
        )
    with pytest.raises(ValueError, match=r"\['val_csv'\].*kinetics"):
        RealSet.from_dict(
            {
                "format": "kinetics",
                "protocol": "closedset",
                "files": {"videos_val": "/k/val", "train_csv": "/k/train.csv"},
            },
            "k400",
        )
    with pytest.raises(ValueError, match="k600_test_csv"):
        RealSet.from_dict(
            {
                "format": "kinetics600_novel",
                "protocol": "zeroshot",
                "videos_from": "test",
                "files": {
                    r: "/x" for r in ("videos", "k600_train_csv", "k600_val_csv", "k400_train_csv", "k400_val_csv")
                },
            },
            "k600",
        )


def test_real_set_rejects_an_unknown_format_and_bad_sources():
    with pytest.raises(ValueError, match="ucf102.*known: synthetic, ucf101"):
        RealSet.from_dict({"format": "ucf102", "protocol": "zeroshot", "files": {}}, "ucf")
    with pytest.raises(ValueError, match=r"files\.videos\[1\].*exactly one"):
        RealSet.from_dict(
            {
                "format": "ucf101",
                "protocol": "zeroshot",
                "files": {
                    "videos": [{"url": "http://a/UCF101.rar"}, {"url": "http://b", "path": "/c"}],
                    "splits": "/s.zip",
                },
            },
            "ucf",
        )


def test_real_set_accepts_role_prefixes():
    spec = RealSet.from_dict(
        {
            "format": "kinetics",
            "protocol": "closedset",
            "files": {
                "videos_train": {"url_list": "http://h/k400_train_path.txt"},
                "videos_val": {"path": "/k/val"},
                "train_csv": "/k/train.csv",
                "val_csv": "/k/val.csv",
            },
        },
        "k400",
    )
    assert [s.url_list for s in spec.sources("videos_train")] == ["http://h/k400_train_path.txt"]
    assert spec.annotation_splits == {"train": "train.csv", "val": "val.csv"}


def test_hmdb51_end_to_end_over_http(http_server, tmp_path):
    layout = layouts.write_hmdb51(tmp_path / "files")
    urls = http_server.add_tree(layout.folder, prefix="hmdb")
    spec = RealSet.from_dict(
        {
            "format": "hmdb51",
            "protocol": "zeroshot",
            "files": {"videos": [{"url": urls["hmdb51_org.rar"]}], "splits": {"url": urls["test_train_splits.rar"]}},
        },
        "hmdb51",
    )
    folders = materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False)
    assert len(http_server.requests) == 2
    assert not list((tmp_path / "raw").rglob("*.rar"))  # the inner per-class RARs are unpacked and gone
    assert (tmp_path / "downloads" / "videos" / "hmdb51_org.rar").read_bytes() == layout.files[
        "hmdb51_org.rar"
    ].read_bytes()
    rows, classes, missing = parse(spec, folders)
    assert classes == layout.classes and manifest(rows) == layout.rows and missing == layout.missing
    assert contents(rows) == {name: layout.videos[name] for name in layout.rows}

    again = materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False)
    assert again == folders
    assert len(http_server.requests) == 2  # nothing downloaded again
    assert manifest(parse(spec, again)[0]) == layout.rows


def test_ucf101_from_local_folders_without_a_server(tmp_path):
    layout = layouts.write_ucf101(tmp_path / "files", tree=True)
    spec = RealSet.from_dict(
        {
            "format": "ucf101",
            "protocol": "zeroshot",
            "full": True,
            "files": {
                "videos": {"path": str(layout.files["UCF-101"])},
                "splits": {"path": str(layout.files["UCF101TrainTestSplits-RecognitionTask.zip"])},
            },
        },
        "ucf101",
    )
    folders = materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False)
    assert (tmp_path / "downloads" / "videos" / "UCF-101").is_symlink()  # linked, not copied
    rows, classes, missing = parse(spec, folders)
    assert classes == layout.classes
    assert manifest(rows) == layout.extra["full_rows"]
    assert missing == layout.missing
    assert all(Path(r["path"]).is_relative_to(layout.files["UCF-101"].resolve()) for r in rows)


def test_kinetics_end_to_end_over_http_with_shard_lists(http_server, tmp_path):
    base = http_server.url("k400").rstrip("/")
    layout = layouts.write_kinetics(tmp_path / "files", base_url=base)
    urls = http_server.add_tree(layout.folder, prefix="k400")
    spec = RealSet.from_dict(
        {
            "format": "kinetics",
            "protocol": "closedset",
            "files": layouts.kinetics_files(urls),
        },
        "k400",
    )
    folders = materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False)
    rows, classes, missing = parse(spec, folders)
    assert classes == layout.classes and manifest(rows) == layout.rows and missing == layout.missing
    assert contents(rows) == {name: layout.videos[name] for name in layout.rows}  # the replacement won

    shards = [p for p in urls if p.endswith(".tar.gz")]
    assert all(len(http_server.requests_for(f"k400/{p}")) == 1 for p in shards)
    materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False)
    assert all(len(http_server.requests_for(f"k400/{p}")) == 1 for p in shards)  # no shard fetched again
    # nor the shard lists: a finished set of shards is checked offline
    assert all(len(http_server.requests_for(f"k400/{p}")) == 1 for p in urls if p.endswith("_path.txt"))


@pytest.mark.parametrize(
    "videos_from, classes",
    [("test", ("base jumping", "arguing")), ("val", ("arguing", "adjusting glasses", "chewing gum"))],
)
def test_kinetics600_novel_from_local_files(k600, tmp_path, videos_from, classes):
    # the K400 roles first: their train.csv / val.csv must not be taken for K600's
    files = {f"k400_{s}_csv": {"path": str(k600.files[f"k400/{s}.csv"])} for s in ("train", "val")}
    files.update({f"k600_{s}_csv": {"path": str(k600.files[f"k600/{s}.csv"])} for s in ("train", "val", "test")})
    files["videos"] = {"path": str(k600.files["videos"])}
    spec = RealSet.from_dict(
        {"format": "kinetics600_novel", "protocol": "zeroshot", "videos_from": videos_from, "files": files}, "k600"
    )
    folders = materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False)
    rows, found, _ = parse(spec, folders)
    assert found == NOVEL
    assert sorted(Path(r["path"]).name for r in rows) == sorted(k600.extra[f"{videos_from}_clip"][c] for c in classes)


def test_a_changed_local_annotation_file_replaces_the_old_link(k400, tmp_path):
    layout, shards, annotations, replacement = k400
    short = tmp_path / "elsewhere" / "val.csv"  # same name, another file: the first two val clips only
    short.parent.mkdir()
    short.write_text("".join(layout.files["val.csv"].read_text().splitlines(keepends=True)[:3]))

    def prepared(val_csv):
        spec = RealSet.from_dict(
            {
                "format": "kinetics",
                "protocol": "closedset",
                "annotation_splits": {"val": "val.csv"},
                "files": {
                    "videos_val": {"path": str(shards)},
                    "train_csv": {"path": str(layout.files["train.csv"])},
                    "val_csv": {"path": str(val_csv)},
                },
            },
            "k400",
        )
        return parse(spec, materialise(spec, tmp_path / "downloads", tmp_path / "raw", progress=False))[0]

    assert len(prepared(layout.files["val.csv"])) == 4  # the broken clip has no replacement here: still a row
    assert sorted(manifest(prepared(short))) == ["VAL0abseil1_000000_000010.mp4", "b-9_aAZz019_000012_000022.mp4"]


def test_a_manifest_without_a_needed_column_or_label_column_is_named_with_the_fix(tmp_path):
    from openvclip.data.manifest import labelled, read_manifest, write_manifest
    from openvclip.errors import UserError

    broken = tmp_path / "no_split.csv"
    broken.write_text("path,label,classname\na.mp4,0,run\n")
    with pytest.raises(UserError, match=r"lacks column\(s\) \['split'\] \(it has \['path', 'label', 'classname'\]\)"):
        read_manifest(broken)
    manifest = tmp_path / "k400.csv"
    write_manifest(manifest, [{"path": "a.mp4", "label": 0, "classname": "run", "split": "train"}])
    with pytest.raises(UserError, match=r"no column 'motion' to label by .*set the experiment's labels:"):
        labelled(manifest, "motion")
