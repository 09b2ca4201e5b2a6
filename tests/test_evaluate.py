"""Evaluation: temporal views averaged, videos in several splits, K600-style per-split class sets."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openvclip.errors import UserError
from openvclip.eval import evaluate
from openvclip.eval.evaluate import (
    EvalSet,
    embed_videos,
    factor_accuracy,
    score_set,
    split_mask,
    split_statistics,
    sweep,
)
from openvclip.eval.jobs import class_factors
from openvclip.models import (
    build_classifier,
    build_tokenizer,
    enable_temporal_attention,
    is_text_key,
    vision_parameters,
)
from openvclip.models.descriptions import ClassText
from openvclip.weights import interpolate

from .conftest import make_clip, tiny_config


def test_views_are_embedded_as_separate_clips_and_averaged():
    model = enable_temporal_attention(make_clip()).eval()
    store = np.random.default_rng(0).integers(0, 256, size=(3, 2 * 4, 32, 32, 3), dtype=np.uint8)
    both = embed_videos(model, store, batch_size=2, views=2)
    first = embed_videos(model, np.ascontiguousarray(store[:, :4]), batch_size=2)
    second = embed_videos(model, np.ascontiguousarray(store[:, 4:]), batch_size=2)
    assert torch.allclose(both, (first + second) / 2, atol=1e-6)
    # Not the same as one 8-frame clip: temporal attention would mix the two views.
    assert not torch.allclose(both, embed_videos(model, store, batch_size=2), atol=1e-4)


def test_a_video_counts_in_every_split_it_belongs_to():
    splits = np.array(["test1 test3", "test2", "test3", "train"])
    assert split_mask(splits, "test3").tolist() == [True, False, True, False]
    assert split_mask(splits, "test").tolist() == [False] * 4  # whole names only
    embeddings = F.normalize(torch.eye(3)[[0, 1, 2, 0]], dim=-1)
    item = EvalSet(
        name="toy",
        protocol="zeroshot",
        store=None,
        labels=np.array([0, 1, 2, 1]),
        splits=splits,
        text=torch.eye(3),
        eval_splits=("test1", "test2", "test3"),
    )
    rows = {(r["split"], r["metric"]): r for r in score_set(embeddings, item)}
    assert rows[("test1", "top1")]["n_videos"] == 1 and rows[("test3", "top1")]["n_videos"] == 2
    assert rows[("test1", "top1")]["value"] == 100.0 and rows[("test2", "top1")]["value"] == 100.0


def test_each_split_is_scored_over_its_fixed_class_list_even_where_a_class_lost_its_videos():
    # Every video looks most like class 1, which split test1's list lacks; among {0, 2} each video is right.
    # Class 3 is on test1's list but has no video (all unreadable, say): it still competes, and wins video 2.
    classifier = torch.eye(4)
    embeddings = F.normalize(torch.tensor([[0.5, 1.0, 0.1, 0.0], [0.1, 1.0, 0.5, 0.7]]), dim=-1)
    labels, splits = np.array([0, 2]), np.array(["test1", "test1"])
    common = dict(
        name="k600",
        protocol="zeroshot",
        store=None,
        labels=labels,
        splits=splits,
        text=classifier,
        eval_splits=("test1",),
    )
    whole = {r["metric"]: r for r in score_set(embeddings, EvalSet(**common))}
    listed = {r["metric"]: r for r in score_set(embeddings, EvalSet(**common, split_classes={"test1": [0, 2, 3]}))}
    assert whole["top1"]["value"] == 0.0 and whole["top1"]["n_classes"] == 4
    assert listed["top1"]["value"] == 50.0 and listed["top1"]["n_classes"] == 3
    with pytest.raises(ValueError, match="outside the split's class list"):
        score_set(embeddings, EvalSet(**common, split_classes={"test1": [0, 3]}))


def test_the_k600_split_lists_come_from_the_data_sets_split_settings():
    from openvclip.data.sets.kinetics import novel_classes, novel_splits
    from openvclip.eval.jobs import novel_split_classes

    data = Path(__file__).parent / "data"
    novel = novel_classes(
        (data / "k400_classes.txt").read_text().splitlines(), (data / "k600_classes.txt").read_text().splitlines()
    )
    import yaml

    spec = yaml.safe_load((Path(__file__).parents[1] / "config" / "paper_base.yaml").read_text())["datasets"]["k600"]
    lists = novel_split_classes(spec, "k600", novel)
    assert sorted(lists) == ["test1", "test2", "test3"] and all(len(v) == 160 for v in lists.values())
    assert [novel[i] for i in lists["test2"]] == sorted(novel_splits(novel)[1], key=novel.index)
    seeded = novel_split_classes({**spec, "split_source": "seeded", "seed": 4}, "k600", novel)
    assert seeded["test1"] == sorted(novel.index(c) for c in novel_splits(novel, "seeded", 4)[0])


class CountingStore:
    """An in-memory store that counts how many times each video is read."""

    def __init__(self, frames):
        self.frames, self.reads = frames, np.zeros(len(frames), int)

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, key):
        np.add.at(self.reads, np.arange(len(self.frames))[key], 1)
        return self.frames[key]


def test_a_sweep_decodes_each_video_once_and_scores_every_ratio_with_its_own_weights(monkeypatch):
    model = enable_temporal_attention(make_clip()).eval()
    theta0 = {k: v.detach().clone() for k, v in vision_parameters(model).items()}
    generator = torch.Generator().manual_seed(0)
    theta = {
        k: v + 0.05 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
        for k, v in theta0.items()
    }
    frames = np.random.default_rng(1).integers(0, 256, size=(5, 4, 32, 32, 3), dtype=np.uint8)
    store = CountingStore(frames)
    labels, splits = np.array([0, 1, 2, 0, 1]), np.array(["test1", "test1 test2", "test2", "test3", "test3"])
    classifier = F.normalize(torch.randn(model.visual.output_dim, 3, generator=generator), dim=0)
    item = EvalSet(
        name="toy",
        protocol="zeroshot",
        store=store,
        labels=labels,
        splits=splits,
        text=classifier,
        eval_splits=("test1", "test2", "test3"),
        unreadable={"test2": 4},
        missing={"test1": 1, "test2": 2},
    )
    ratios = [0.0, 0.5, 1.0]
    scored = []
    monkeypatch.setattr(evaluate, "score_set", lambda e, i: scored.append(e) or score_set(e, i))
    rows = sweep(model, theta0, theta, ratios, [item], "v", "hash", batch_size=2, progress=False, chunk_videos=2)
    assert store.reads.tolist() == [1] * 5
    for ratio, embeddings in zip(ratios, scored):
        model.load_state_dict(interpolate(theta0, theta, ratio), strict=False)
        assert torch.allclose(embeddings, embed_videos(model, frames, batch_size=5), atol=1e-5)
        got = {(r["split"], r["metric"]): r for r in rows if r["ratio"] == ratio}
        # Top-1 by hand, from the model's own embeddings at this ratio (not from score_set, the code under test).
        reference = embed_videos(model, frames, batch_size=5)
        hits = (reference @ classifier).argmax(dim=1).numpy() == labels
        for split in ("test1", "test2", "test3"):
            mask = np.array([split in field.split() for field in splits])
            assert got[(split, "top1")]["value"] == pytest.approx(100.0 * hits[mask].mean(), abs=1e-3)
            assert got[(split, "top1")]["n_videos"] == mask.sum() and got[(split, "top1")]["n_classes"] == 3
        assert got[("mean", "top1")]["value"] == pytest.approx(
            np.mean([got[(f"test{k}", "top1")]["value"] for k in (1, 2, 3)]), abs=1e-3
        )
        assert got[("test1", "top5")]["value"] == 100.0  # 3 classes: always in the top 5
    assert not torch.allclose(scored[0], scored[-1], atol=1e-3)
    assert {(r["n_missing"], r["n_unreadable"]) for r in rows if r["split"] == "test2"} == {(2, 4)}
    assert {(r["n_missing"], r["n_unreadable"]) for r in rows if r["split"] == "test3"} == {(0, 0)}
    assert {(r["n_missing"], r["n_unreadable"]) for r in rows if r["split"] == "mean"} == {(3, 4)}
    assert len(rows) == len(ratios) * (3 + 2) * 2  # 3 splits + mean + std, top-1 and top-5


def test_weights_that_trained_the_text_tower_re_embed_the_text_at_every_ratio(monkeypatch):
    """FROSTER trains the text tower: each ratio's classifier is the interpolated text tower's, not the cached one."""
    model = enable_temporal_attention(make_clip()).eval()
    tokenizer = build_tokenizer({"config": tiny_config()})
    theta0 = {k: v.detach().clone() for k, v in model.named_parameters() if k != "logit_scale"}
    generator = torch.Generator().manual_seed(0)
    theta = {k: v + 0.2 * torch.randn(v.shape, generator=generator) for k, v in theta0.items()}
    assert any(is_text_key(k) for k in theta)
    frames = np.random.default_rng(1).integers(0, 256, size=(6, 4, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    texts = [ClassText(name, ()) for name in ("red", "green", "blue")]
    templates = ("a video of {}.", "{}")

    def encode(m):
        return build_classifier(m, tokenizer, [t.name for t in texts], templates, texts=texts)

    cached = encode(model)  # the classifier of theta0's text tower, as embed-text caches it
    item = EvalSet(
        name="toy",
        protocol="zeroshot",
        store=frames,
        labels=labels,
        splits=np.array(["test"] * 6),
        text=cached,
        eval_splits=("test",),
        encode_text=encode,
    )
    used = []
    monkeypatch.setattr(evaluate, "score_set", lambda e, i: used.append(i.text) or score_set(e, i))
    sweep(model, theta0, theta, [0.0, 0.5, 1.0], [item], "v", "hash", batch_size=6, progress=False)
    for ratio, text in zip([0.0, 0.5, 1.0], used):
        model.load_state_dict(interpolate(theta0, theta, ratio), strict=False)
        assert torch.allclose(text, encode(model), atol=1e-5), ratio
    assert torch.allclose(used[-1], cached, atol=1e-5)  # ratio 1 is theta0: the cached classifier
    assert not torch.allclose(used[0], cached, atol=1e-2)
    without = EvalSet(
        name="toy",
        protocol="zeroshot",
        store=frames,
        labels=labels,
        splits=np.array(["test"] * 6),
        text=cached,
        eval_splits=("test",),
    )
    with pytest.raises(UserError, match="no texts to re-embed"):
        sweep(model, theta0, theta, [0.0], [without], "v", "hash", batch_size=4, progress=False)


def test_numbered_test_splits_get_mean_and_sample_std_rows():
    rows = [
        {
            "dataset": "d",
            "split": s,
            "metric": "top1",
            "value": v,
            "n_videos": n,
            "n_classes": c,
            "n_missing": m,
            "n_unreadable": u,
        }
        for s, v, n, c, m, u in (
            ("val", 99.0, 7, 5, 9, 0),
            ("test1", 10.0, 4, 4, 0, 1),
            ("test2", 20.0, 5, 4, 2, 0),
            ("test3", 30.0, 6, 5, 1, 2),
        )
    ]
    stats = {r["split"]: r for r in split_statistics(rows)}
    assert stats["mean"]["value"] == 20.0 and stats["std"]["value"] == 10.0  # sample std, val left out
    assert stats["mean"]["n_videos"] == 15 and stats["mean"]["n_unreadable"] == 3 and stats["mean"]["n_missing"] == 3
    assert split_statistics(rows[:2]) == []  # one numbered split: nothing to average


def test_object_and_action_shares_count_a_top1_class_with_the_right_half_of_its_name():
    # Classes: red circle still (0), red circle circling (1), blue ring still (2), blue ring circling (3).
    rows = [
        {"object": o, "motion": m}
        for o, m in [
            ("red circle", "still"),
            ("red circle", "circling"),
            ("blue ring", "still"),
            ("blue ring", "circling"),
        ]
    ]
    labels = np.array([0, 1, 2, 3])
    factors = class_factors(rows, labels, 4)
    assert factors["object"].tolist() == [1, 1, 0, 0] and factors["action"].tolist() == [1, 0, 1, 0]
    # A class without a video (5 here) cannot be placed: a value of its own, never right, not counted.
    five = class_factors(rows, labels, 5)
    assert five["object"][4] < 0 and five["action"][4] < 0
    classifier = torch.eye(5)
    item = EvalSet(
        name="ucf",
        protocol="zeroshot",
        store=None,
        labels=labels,
        splits=np.array(["test"] * 4),
        text=classifier,
        eval_splits=("test",),
        class_factors=five,
    )
    scored = {r["metric"]: r for r in score_set(torch.eye(5)[[4, 1, 2, 3]], item)}
    assert scored["object_top1"]["value"] == 75.0 and scored["object_top1"]["n_classes"] == 2
    # Under motion labels a class shows several objects: only the action is a factor of the classes.
    assert set(class_factors(rows, np.array([0, 1, 0, 1]), 2)) == {"action"}
    # Predictions: right object, wrong action; right; wrong object, right action; all wrong.
    predicted = [1, 1, 0, 0]
    embeddings = torch.eye(4)[predicted]
    item = EvalSet(
        name="k400",
        protocol="closedset",
        store=None,
        labels=labels,
        splits=np.array(["test"] * 4),
        text=torch.eye(4),
        eval_splits=("test",),
        class_factors=factors,
    )
    scored = {r["metric"]: r for r in score_set(embeddings, item)}
    assert scored["top1"]["value"] == 25.0
    assert scored["object_top1"]["value"] == 50.0 and scored["object_top1"]["n_classes"] == 2
    assert scored["action_top1"]["value"] == 50.0 and scored["action_top1"]["n_classes"] == 2
    assert (
        factor_accuracy(np.eye(4)[predicted], np.arange(4), np.array([3, 2, 1, 0]), factors)["object_top1"][0] == 50.0
    )
