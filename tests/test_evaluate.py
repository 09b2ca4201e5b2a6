"""Evaluation: temporal views averaged, videos in several splits, K600-style per-split class sets."""

import numpy as np
import torch
import torch.nn.functional as F

from openvclip.eval.evaluate import EvalSet, embed_videos, score_set, split_mask
from openvclip.models import enable_temporal_attention

from .conftest import make_clip


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
    item = EvalSet("toy", "zeroshot", None, np.array([0, 1, 2, 1]), splits, torch.eye(3),
                   eval_splits=("test1", "test2", "test3"))
    rows = {(r["split"], r["metric"]): r for r in score_set(embeddings, item)}
    assert rows[("test1", "top1")]["n_videos"] == 1 and rows[("test3", "top1")]["n_videos"] == 2
    assert rows[("test1", "top1")]["value"] == 100.0 and rows[("test2", "top1")]["value"] == 100.0


def test_classes_per_split_scores_each_split_over_its_own_classes():
    # Every video looks most like class 1, which no video of split test1 has; among {0, 2} each is right.
    classifier = torch.eye(3)
    embeddings = F.normalize(torch.tensor([[0.5, 1.0, 0.1], [0.1, 1.0, 0.5]]), dim=-1)
    labels, splits = np.array([0, 2]), np.array(["test1", "test1"])
    common = dict(name="k600", protocol="zeroshot", store=None, labels=labels, splits=splits, text=classifier,
                  eval_splits=("test1",))
    whole = {r["metric"]: r for r in score_set(embeddings, EvalSet(**common))}
    own = {r["metric"]: r for r in score_set(embeddings, EvalSet(**common, classes_per_split=True))}
    assert whole["top1"]["value"] == 0.0 and whole["top1"]["n_classes"] == 3
    assert own["top1"]["value"] == 100.0 and own["top1"]["n_classes"] == 2
