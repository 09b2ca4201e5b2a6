"""`openvclip classify` and `openvclip retrieve` on synthetic videos with a small CLIP pretrained by the test."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from openvclip.cli import main
from openvclip.data.synthetic import World, object_name, render_video
from openvclip.data.videos import write_video
from openvclip.models import build_tokenizer, vision_parameters
from openvclip.train.pretrain import PretrainConfig, pretrain_clip
from openvclip.weights import interpolate, load_weights, save_weights

from .conftest import make_clip, tiny_config

OBJECTS = [
    ("red", "circle"),
    ("blue", "square"),
    ("green", "triangle"),
    ("yellow", "cross"),
    ("magenta", "star"),
    ("cyan", "ring"),
]
SPEC = json.dumps({"config": tiny_config()})
SAMPLING = ["--frames", "4", "--views", "1", "--rate", "0"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """theta0 of a tiny CLIP taught the six objects' names (a few seconds), and two videos of each object."""
    root = tmp_path_factory.mktemp("inference")
    torch.manual_seed(0)
    model = make_clip(seed=0)
    world = World(image_size=32, num_frames=4)
    pretrain_clip(
        model,
        build_tokenizer({"config": tiny_config()}),
        world,
        OBJECTS,
        PretrainConfig(steps=300, warmup_steps=20, images_per_object=16, exposure_share=0.0, exposures_per_motion=1),
        progress=False,
    )
    save_weights(model.state_dict(), root / "theta0.safetensors")
    rng = np.random.default_rng(1)
    videos = {}
    for obj in OBJECTS:
        for k in range(2):
            path = root / "videos" / f"{obj[0]}_{obj[1]}_{k}.mp4"
            write_video(path, render_video(world, obj, "still", rng))
            videos[path] = object_name(obj)
    return root, videos


def test_classify_ranks_the_true_label_first_for_a_clear_majority(demo, capsys):
    root, videos = demo
    labels = ",".join(object_name(o) for o in OBJECTS)
    code = main(
        [
            "--no-progress",
            "classify",
            *map(str, videos),
            "--labels",
            labels,
            "--model",
            SPEC,
            "--theta0",
            str(root / "theta0.safetensors"),
            "--templates",
            "none",
            "--topk",
            "3",
            "--json",
            *SAMPLING,
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unreadable"] == {} and [r["video"] for r in out["results"]] == list(map(str, videos))
    right = sum(r["top"][0]["label"] == videos[Path(r["video"])] for r in out["results"])
    assert right >= 2 * len(videos) / 3, f"{right} of {len(videos)}"
    for r in out["results"]:
        assert len(r["top"]) == 3 and r["top"][0]["score"] >= r["top"][1]["score"] >= r["top"][2]["score"]
        assert 0 < sum(t["probability"] for t in r["top"]) <= 1.0 + 1e-6


def test_a_checkpoint_is_interpolated_on_load(demo, tmp_path, capsys):
    root, videos = demo
    theta0 = make_clip(seed=0)
    generator = torch.Generator().manual_seed(3)
    moved = {
        k: v.detach() + 0.2 * torch.randn(v.shape, generator=generator) for k, v in vision_parameters(theta0).items()
    }
    save_weights(moved, tmp_path / "trained.safetensors")
    common = [
        "--no-progress",
        "classify",
        *map(str, list(videos)[:4]),
        "--labels",
        ",".join(object_name(o) for o in OBJECTS),
        "--model",
        SPEC,
        "--theta0",
        str(root / "theta0.safetensors"),
        "--templates",
        "none",
        "--json",
        "--no-temporal",
        *SAMPLING,
    ]

    def scores(*extra):
        assert main(common + list(extra)) == 0
        return [[t["score"] for t in r["top"]] for r in json.loads(capsys.readouterr().out)["results"]]

    plain = scores()
    # r = 1 is theta0 exactly: the same scores as no checkpoint; r = 0 is the moved weights: other scores.
    assert scores("--checkpoint", str(tmp_path / "trained.safetensors"), "--ratio", "1.0") == plain
    trained = scores("--checkpoint", str(tmp_path / "trained.safetensors"), "--ratio", "0.0")
    assert trained != plain
    # A middle ratio is the mix `interpolate` makes, loaded as it is: 0.3 theta0 + 0.7 the checkpoint.
    base = load_weights(root / "theta0.safetensors")
    save_weights(interpolate({k: base[k] for k in moved}, moved, 0.3), tmp_path / "mixed.safetensors")
    middle = scores("--checkpoint", str(tmp_path / "trained.safetensors"), "--ratio", "0.3")
    mixed = scores("--checkpoint", str(tmp_path / "mixed.safetensors"), "--ratio", "0.0")
    assert np.allclose(middle, mixed, atol=2e-5)  # the JSON's scores have 5 decimals
    assert middle != plain and middle != trained


def test_retrieve_finds_the_matching_video_and_caches_embeddings(demo, capsys):
    root, videos = demo
    folder = root / "videos"
    queries = [f"a photo of a {object_name(o)}." for o in OBJECTS]
    args = [
        "--no-progress",
        "retrieve",
        "--videos",
        str(folder),
        "--model",
        SPEC,
        "--theta0",
        str(root / "theta0.safetensors"),
        "--json",
        "--topk",
        "2",
        *SAMPLING,
    ]
    for q in queries:
        args += ["--query", q]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cache"]["encoded"] == len(videos) and out["cache"]["reused"] == 0
    hits = sum(videos[Path(r["top"][0]["video"])] in r["query"] for r in out["results"])
    assert hits >= 2 * len(queries) / 3, f"{hits} of {len(queries)}"
    # A second query encodes no video; a changed video is encoded again.
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cache"] == {**out["cache"], "encoded": 0, "reused": len(videos)}
    assert again["results"] == out["results"]
    changed = next(iter(videos))
    write_video(
        changed, render_video(World(image_size=32, num_frames=4), OBJECTS[0], "still", np.random.default_rng(9))
    )
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["cache"]["encoded"] == 1


def test_unreadable_videos_are_skipped_and_set_the_exit_code(demo, tmp_path, capsys):
    root, videos = demo
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    first = next(iter(videos))
    code = main(
        [
            "--no-progress",
            "classify",
            str(first),
            str(broken),
            str(tmp_path / "gone.mp4"),
            "--labels",
            "red circle,blue square",
            "--model",
            SPEC,
            "--theta0",
            str(root / "theta0.safetensors"),
            "--json",
            *SAMPLING,
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    out = json.loads(captured.out)
    assert [r["video"] for r in out["results"]] == [str(first)]
    assert set(out["unreadable"]) == {str(broken), str(tmp_path / "gone.mp4")}
    assert "no such file" in out["unreadable"][str(tmp_path / "gone.mp4")]
    assert f"skipped unreadable video {broken}" in captured.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify", "x.mp4", "--labels", "only one"], "--labels holds 1 label ('only one'): give at least two"),
        (["classify", "x.mp4", "--labels-file", "missing.txt"], "argument --labels-file: missing.txt does not exist"),
        (
            ["retrieve", "--videos", "no/such/folder", "--query", "a dog"],
            "argument --videos: no/such/folder does not exist",
        ),
        (["classify", "x.mp4", "--labels", "a,b", "--templates", "[oops"], "--templates must be"),
    ],
)
def test_bad_arguments_are_named(demo, args, message, capsys):
    root, _ = demo
    code = main(["--no-progress", *args, "--model", SPEC, "--theta0", str(root / "theta0.safetensors")])
    assert code == 2 and message in capsys.readouterr().err


def test_a_model_without_weights_is_refused(capsys):
    assert main(["classify", "x.mp4", "--labels", "a,b", "--model", SPEC]) == 2
    assert "has no weights" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, file_text, message",
    [
        (
            ["classify", "x.mp4", "--labels-file", "{file}"],
            "# a comment\n\n   \n",
            "--labels-file {file} holds 0 labels",
        ),
        (["classify", "x.mp4", "--labels-file", "{file}"], "run\njump\nrun\n", "--labels-file {file} repeats ['run']"),
        (["classify", "x.mp4", "--labels", "run", "--labels-file", "{file}"], "run\n", "repeats ['run']"),
        (["retrieve", "--videos", "{folder}", "--query", "  "], None, "--query is empty"),
        (["retrieve", "--videos", "{folder}", "--query", "a dog"], None, "--videos {folder} holds no video files"),
    ],
)
def test_bad_inputs_are_refused_by_name_before_the_model_loads(tmp_path, monkeypatch, capsys, args, file_text, message):
    """`classify clip.mp4 --labels-file empty.txt --model ViT-B-16:openai` once fetched the weights first."""
    import openvclip.inference

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(openvclip.inference, "load_video_model", no_model)
    file, folder = tmp_path / "labels.txt", tmp_path / "empty folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a video")
    if file_text is not None:
        file.write_text(file_text)
    filled = [a.format(file=file, folder=folder) for a in args]
    assert main(["--no-progress", *filled, "--model", "ViT-B-16:openai"]) == 2
    err = capsys.readouterr().err
    assert message.format(file=file, folder=folder) in err and err.count("\n") == 1 and "Traceback" not in err


def test_videos_with_spaces_and_accents_in_their_paths_are_classified(demo, tmp_path, capsys):
    root, videos = demo
    folder = tmp_path / "my clips, été"
    source, name = next(iter(videos.items()))
    target = folder / "Ünïcode clip 1.mp4"
    folder.mkdir()
    target.write_bytes(source.read_bytes())
    labels = ",".join(object_name(obj) for obj in OBJECTS)
    args = ["--no-progress", "classify", str(target), "--labels", labels, "--json", *SAMPLING]
    code = main([*args, "--model", SPEC, "--theta0", str(root / "theta0.safetensors")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["unreadable"] == {} and [r["video"] for r in out["results"]] == [str(target)]


def test_weights_that_cannot_be_downloaded_are_one_line_naming_the_ways_round(monkeypatch, capsys):
    """No network: open_clip's RuntimeError becomes one line (what failed, the cache it looked in, the fixes);
    any other RuntimeError from open_clip is a bug and keeps its traceback."""
    import open_clip

    def offline(*_args, **_kwargs):
        raise RuntimeError(
            "Failed to download weights for tag 'openai': Failed to download file (open_clip_pytorch_model.bin) "
            "for timm/vit_base_patch16_clip_224.openai. Last error: check your connection"
        )

    monkeypatch.setattr(open_clip, "create_model", offline)
    args = ["classify", "x.mp4", "--labels", "a,b", "--model", "ViT-B-16:openai"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "could not download the CLIP weights ViT-B-16:openai" in err and "open_clip_pytorch_model.bin" in err
    assert "connect this machine to the internet" in err and "local weights file" in err

    def broken(*_args, **_kwargs):
        raise RuntimeError("size mismatch for visual.proj")

    monkeypatch.setattr(open_clip, "create_model", broken)
    with pytest.raises(RuntimeError, match="size mismatch"):
        main(args)
