"""The demo CLIP's pretraining: its loss with repeated captions, and the pairs that make motion words mean
something."""

import numpy as np
import open_clip
import torch
import torch.nn.functional as F

from openvclip.data.synthetic import MOTION_SCENES, MOTIONS
from openvclip.models import build_tokenizer
from openvclip.train.pretrain import (
    CaptionTokens,
    adamw,
    contrastive_loss,
    exposed_motions,
    motion_pairs,
    pictured_motions,
)


def _features(n, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, 16, generator=g), dim=-1), F.normalize(torch.randn(n, 16, generator=g), dim=-1)


def test_with_distinct_captions_the_loss_is_open_clips():
    images, texts = _features(6, 0)
    scale = torch.tensor(7.0)
    expected = open_clip.ClipLoss()(images, texts, scale)
    assert torch.allclose(contrastive_loss(images, texts, scale, list("abcdef")), expected)


def test_images_of_one_caption_are_positives_of_each_other():
    images, texts = _features(4, 1)
    scale = torch.tensor(10.0)
    names = ["red circle", "red circle", "blue bar", "green ring"]
    loss = contrastive_loss(images, texts, scale, names)
    # Swapping the two captions of the same name changes nothing: both are targets of both images.
    assert torch.allclose(contrastive_loss(images, texts[[1, 0, 2, 3]], scale, names), loss)
    # open_clip's loss would push the two "red circle" pairs apart: it differs.
    assert not torch.allclose(open_clip.ClipLoss()(images, texts, scale), loss)
    # By hand: the image-to-text target of image 0 is half on caption 0, half on caption 1.
    logits = scale * images @ texts.T
    targets = torch.tensor([[0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    by_hand = (
        -(targets * logits.log_softmax(1)).sum(1).mean() / 2 - (targets * logits.T.log_softmax(1)).sum(1).mean() / 2
    )
    assert torch.allclose(loss, by_hand)


def test_a_shared_scenes_photos_name_its_common_action_only():
    pictured = [MOTIONS[i] for i in pictured_motions(MOTION_SCENES)]
    # One motion per scene: the first of its motions; shaking and blinking share the scenes of moving sideways
    # and pulsing, and photos never name them.
    assert pictured == [
        "still",
        "moving sideways",
        "moving up and down",
        "moving diagonally",
        "circling",
        "pulsing",
        "growing",
    ]
    assert len({MOTION_SCENES[m] for m in pictured}) == len(pictured) == len(set(MOTION_SCENES.values()))
    swapped = {**MOTION_SCENES, "still": "rings", "pulsing": "checker"}
    assert [MOTIONS[i] for i in pictured_motions(swapped)][:1] == ["still"] and "blinking" not in [
        MOTIONS[i] for i in pictured_motions(swapped)
    ]


def test_pairs_are_two_different_motions_of_those_asked_for():
    rng = np.random.default_rng(0)
    pictured = pictured_motions(MOTION_SCENES)
    staged = motion_pairs(rng, 500, pictured)
    assert all(a != b for a, b in staged) and {int(m) for m in staged.reshape(-1)} == set(pictured)
    exposed = motion_pairs(rng, 500, exposed_motions())
    # Exposures pair two motions of one scene too (a streak tells shaking from moving sideways where the scene
    # cannot), but never name blinking: its exposure is pulsing's.
    assert {MOTIONS[int(m)] for m in exposed.reshape(-1)} == set(MOTIONS) - {"blinking"}
    assert any(MOTION_SCENES[MOTIONS[a]] == MOTION_SCENES[MOTIONS[b]] for a, b in exposed)
    assert {int(m) for m in motion_pairs(rng, 500).reshape(-1)} == set(range(len(MOTIONS)))
    assert motion_pairs(rng, 0).shape == (0, 2)


def test_kept_caption_tokens_equal_the_tokenizers_and_each_caption_is_tokenized_once():
    tokenizer = build_tokenizer({"config": {"text_cfg": {"context_length": 16}}})
    seen = []

    def counting(captions):
        seen.extend(captions)
        return tokenizer(captions)

    tokens = CaptionTokens(counting)
    first = ["a photo of a red circle.", "a red bar.", "a photo of a red circle."]
    second = ["a red bar.", "blue ring circling", "a photo of a red circle."]
    assert torch.equal(tokens(first), tokenizer(first))
    assert torch.equal(tokens(second), tokenizer(second))
    assert sorted(seen) == sorted(["a photo of a red circle.", "a red bar.", "blue ring circling"])


def test_adamw_takes_torchs_adamw_step():
    torch.manual_seed(0)
    plain, ours = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    ours.load_state_dict(plain.state_dict())
    start = [p.detach().clone() for p in plain.parameters()]
    optimizers = [torch.optim.AdamW(plain.parameters(), lr=0.1, weight_decay=0.1)]
    optimizers.append(adamw(ours.parameters(), lr=0.1, weight_decay=0.1))
    x = torch.randn(16, 8)
    for _ in range(3):
        for model, optimizer in zip((plain, ours), optimizers):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
    assert optimizers[1].defaults["fused"] == (torch.__version__ >= "2.4")
    for a, b, before in zip(plain.parameters(), ours.parameters(), start):
        assert torch.allclose(a, b, atol=1e-6) and not torch.allclose(a, before, atol=1e-3)
