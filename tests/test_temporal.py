"""Expand-temporal-view attention against open_clip and against a naive per-frame reference."""

import copy

import pytest
import torch
import torch.nn.functional as F

from openvclip.errors import UserError
from openvclip.models import (
    build_clip,
    enable_temporal_attention,
    encode_video,
    temporal_attention_boundary,
    vision_parameters,
)
from openvclip.train import interpolated_loss

from .conftest import make_clip, tiny_config


def naive_attention(block, x, num_frames, boundary):
    """Loops over videos and frames; explicit softmax over the keys of frames t-1, t, t+1."""
    attn = block.attn
    n, length, width = x.shape
    heads, d = attn.num_heads, width // attn.num_heads
    qkv = x @ attn.in_proj_weight.T + attn.in_proj_bias
    q, k, v = qkv.split(width, dim=-1)
    out = torch.empty_like(x)
    for b in range(n // num_frames):
        for t in range(num_frames):
            i = b * num_frames + t
            keys, values = [], []
            for s in (t - 1, t, t + 1):
                if 0 <= s < num_frames:
                    keys.append(k[b * num_frames + s])
                    values.append(v[b * num_frames + s])
                elif boundary == "zeros":
                    keys.append(torch.zeros_like(k[i]))
                    values.append(torch.zeros_like(v[i]))
            kk, vv = torch.cat(keys), torch.cat(values)
            heads_out = []
            for h in range(heads):
                sl = slice(h * d, (h + 1) * d)
                scores = q[i, :, sl] @ kk[:, sl].T / d**0.5
                weights = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
                weights = weights / weights.sum(dim=-1, keepdim=True)
                heads_out.append(weights @ vv[:, sl])
            out[i] = torch.cat(heads_out, dim=-1)
    return out @ attn.out_proj.weight.T + attn.out_proj.bias


def naive_encode_video(model, video, boundary):
    visual = model.visual
    b, t = video.shape[:2]
    x = visual._embeds(video.flatten(0, 1))
    for block in visual.transformer.resblocks:
        x = x + block.ls_1(naive_attention(block, block.ln_1(x), t, boundary))
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
    pooled, _ = visual._pool(x)
    return (pooled @ visual.proj).view(b, t, -1)


def test_state_dict_keys_shapes_values_are_open_clips(clip_pair):
    image_model, video_model = clip_pair
    enable_temporal_attention(video_model)
    before, after = image_model.state_dict(), video_model.state_dict()
    assert list(before) == list(after)
    for key in before:
        assert before[key].shape == after[key].shape and torch.equal(before[key], after[key]), key
    assert sum(p.numel() for p in video_model.parameters()) == sum(p.numel() for p in image_model.parameters())
    # The original weights load into the video model strictly, key by key.
    fresh = make_clip(seed=5)
    enable_temporal_attention(fresh)
    fresh.load_state_dict(image_model.state_dict(), strict=True)


@pytest.mark.parametrize("batch", [1, 3])
def test_one_frame_equals_open_clip_encode_image(clip_pair, batch):
    image_model, video_model = clip_pair
    enable_temporal_attention(video_model, boundary="mask")
    images = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        expected = image_model.encode_image(images)
        got = encode_video(video_model, images.unsqueeze(1))
    assert got.shape == (batch, 1, expected.shape[-1])
    assert (got[:, 0] - expected).abs().max().item() < 1e-5


def test_zeros_boundary_differs_from_image_model_at_one_frame(clip_pair):
    image_model, video_model = clip_pair
    enable_temporal_attention(video_model, boundary="zeros")
    assert temporal_attention_boundary(video_model) == "zeros"
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        diff = (encode_video(video_model, images.unsqueeze(1))[:, 0] - image_model.encode_image(images)).abs()
    assert diff.max().item() > 1e-3  # zero keys take part in the softmax, as in the released code


@pytest.mark.parametrize("boundary", ["mask", "zeros"])
@pytest.mark.parametrize("frames,batch,head_width", [(1, 2, 16), (2, 1, 32), (3, 2, 64), (5, 2, 16), (4, 1, 32)])
def test_matches_naive_reference(boundary, frames, batch, head_width):
    model = make_clip(seed=frames, head_width=head_width)
    reference = copy.deepcopy(model)
    enable_temporal_attention(model, boundary=boundary)
    video = torch.randn(batch, frames, 3, 32, 32)
    with torch.no_grad():
        got = encode_video(model, video)
        expected = naive_encode_video(reference, video, boundary)
    assert (got - expected).abs().max().item() < 1e-5


def test_frame_order_reversal_is_exact_other_permutations_are_not():
    model = enable_temporal_attention(make_clip())
    video = torch.randn(2, 5, 3, 32, 32)
    with torch.no_grad():
        base = encode_video(model, video)
        reversed_ = encode_video(model, video.flip(1))
        permutation = torch.tensor([1, 0, 2, 4, 3])
        shuffled = encode_video(model, video[:, permutation])
    # The {t-1, t, t+1} window is symmetric in time: reversal reverses the embeddings exactly.
    assert (reversed_ - base.flip(1)).abs().max().item() < 1e-5
    # Any other order changes the embeddings themselves, not just their order.
    assert (shuffled - base[:, permutation]).abs().max().item() > 1e-3


def test_without_temporal_attention_every_frame_is_encoded_alone():
    model = make_clip()
    video = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        got = encode_video(model, video)
        alone = torch.stack([model.encode_image(video[:, t]) for t in range(4)], dim=1)
        shuffled = encode_video(model, video[:, [2, 0, 3, 1]])
    assert (got - alone).abs().max().item() < 1e-5
    assert (shuffled - got[:, [2, 0, 3, 1]]).abs().max().item() < 1e-5


def test_receptive_field_grows_one_frame_per_block():
    model = enable_temporal_attention(make_clip(layers=2))
    video = torch.randn(1, 4, 3, 32, 32)
    changed = video.clone()
    changed[:, 3] = torch.randn(3, 32, 32)
    with torch.no_grad():
        a, b = encode_video(model, video), encode_video(model, changed)
    # Two blocks: frame 1 sees frame 3 through frame 2; frame 0 is three frames away and cannot.
    assert (a[:, 0] - b[:, 0]).abs().max().item() < 1e-6
    assert (a[:, 1] - b[:, 1]).abs().max().item() > 1e-4


@pytest.mark.parametrize("boundary", ["mask", "zeros"])
def test_gradient_checkpointing_gives_same_outputs_and_gradients(boundary):
    """Also under functional_call with interpolated weights, where recomputation must use those weights."""
    plain = enable_temporal_attention(make_clip(), boundary=boundary)
    checkpointed = enable_temporal_attention(make_clip(), boundary=boundary)
    checkpointed.visual.set_grad_checkpointing(True)
    video, labels = torch.randn(2, 3, 3, 32, 32), torch.tensor([0, 1])
    classes = torch.randn(32, 2)
    grads, losses, block_calls = [], [], []
    for model in (plain, checkpointed):
        model.train()
        calls, block = [], model.visual.transformer.resblocks[0]

        def counted(*args, attention=block.attention, calls=calls, **kwargs):
            calls.append(1)
            return attention(*args, **kwargs)

        block.attention = counted
        params = vision_parameters(model)
        theta0 = {
            k: v.detach() + 0.05 * torch.randn_like(v, generator=torch.Generator().manual_seed(1))
            for k, v in params.items()
        }

        def loss_of(p, model=model):
            logits = encode_video(model, video, params=p).mean(1) @ classes
            return F.cross_entropy(logits, labels)

        loss = interpolated_loss(loss_of, params, theta0, alpha=0.4)
        losses.append(loss.detach())
        loss.backward()
        grads.append({k: v.grad.clone() for k, v in params.items()})
        block_calls.append(len(calls))
    # Checkpointing is really on: the block's attention runs again in backward (in both passes: at theta and
    # interpolated).
    assert block_calls == [2, 4]
    assert torch.allclose(losses[0], losses[1], atol=1e-6)
    for key in grads[0]:
        assert torch.allclose(grads[0][key], grads[1][key], atol=1e-6), key


def test_enable_is_idempotent_and_switches_boundary():
    video = torch.randn(2, 4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    once = enable_temporal_attention(make_clip(), "mask")
    twice = enable_temporal_attention(enable_temporal_attention(make_clip(), "mask"), "mask")
    switched = enable_temporal_attention(enable_temporal_attention(make_clip(), "zeros"), "mask")
    zeros = enable_temporal_attention(make_clip(), "zeros")
    assert temporal_attention_boundary(switched) == "mask" and temporal_attention_boundary(zeros) == "zeros"
    with torch.no_grad():
        reference = encode_video(once, video)
        # Enabling again wraps nothing twice, and the last boundary asked for is the one in use.
        assert torch.equal(encode_video(twice, video), reference)
        assert torch.equal(encode_video(switched, video), reference)
        assert not torch.allclose(encode_video(zeros, video), reference, atol=1e-4)


def test_bad_inputs_name_the_problem():
    model = enable_temporal_attention(make_clip())
    with pytest.raises(ValueError, match=r"\(batch, frames, 3, height, width\)"):
        encode_video(model, torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="3 channels"):
        encode_video(model, torch.randn(1, 2, 1, 32, 32))
    with pytest.raises(ValueError, match="expects 32x32"):
        encode_video(model, torch.randn(1, 2, 3, 64, 64))
    with pytest.raises(ValueError, match="has 4 frames, expected 8"):
        encode_video(model, torch.randn(1, 4, 3, 32, 32), expected_frames=8)
    with pytest.raises(ValueError, match="boundary must be one of"):
        enable_temporal_attention(model, boundary="reflect")
    with pytest.raises(KeyError, match="not in the vision tower"):
        encode_video(model, torch.randn(1, 2, 3, 32, 32), params={"logit_scale": model.logit_scale})


def test_rejects_models_without_a_vision_transformer():
    config = tiny_config()
    config["vision_cfg"] = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 16}
    resnet = build_clip({"config": config})
    with pytest.raises(UserError, match="VisionTransformer"):
        enable_temporal_attention(resnet)
