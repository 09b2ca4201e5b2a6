"""Expand-temporal-view attention for open_clip vision transformers, with no new parameters.

In every vision block, the tokens of frame ``t`` attend to the keys and values of frames ``t-1``, ``t`` and
``t+1``, projected with the block's own ``in_proj`` weights. Only methods are patched on the existing modules:
``state_dict()`` keys, shapes and values stay exactly those of the image model, so the original CLIP weights
load into the video model and interpolate with it key by key.

Property worth knowing: the window ``{t-1, t, t+1}`` is symmetric in time and attention is a set operation over
keys, so reversing a video's frames exactly reverses its frame embeddings. The model cannot tell a motion from
its reversal ("moving left" vs "moving right"); any other permutation of the frames changes the embeddings.
"""

from __future__ import annotations

import operator
import types
from typing import Dict, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import UserError

BOUNDARIES = ("mask", "zeros")

# Attribute names we set on open_clip modules (plain Python attributes: never in state_dict()).
_BOUNDARY_ATTR = "_openvclip_boundary"
_FRAMES_ATTR = "_openvclip_num_frames"
_VIDEO_FORWARD_ATTR = "_openvclip_video_forward"


def _vision_tower(model: nn.Module) -> nn.Module:
    """The open_clip ``VisionTransformer`` of a ``CLIP`` (or the tower itself)."""
    visual = getattr(model, "visual", model)
    transformer = getattr(visual, "transformer", None)
    if transformer is None or not hasattr(transformer, "resblocks") or not hasattr(visual, "conv1"):
        raise UserError(
            f"expected an open_clip CLIP whose vision tower is a VisionTransformer, got vision tower "
            f"{type(visual).__name__}; ResNet and timm towers have no attention blocks to expand"
        )
    return visual


def _check_block(block: nn.Module, index: int) -> None:
    attn = getattr(block, "attn", None)
    if not isinstance(attn, nn.MultiheadAttention) or not getattr(attn, "_qkv_same_embed_dim", False):
        raise UserError(
            f"vision block {index} uses {type(attn).__name__}; expand-temporal-view attention supports "
            "open_clip's default ResidualAttentionBlock (nn.MultiheadAttention with a packed in_proj); "
            "models built with qk_norm/scaled_cosine_attn/scale_heads use custom blocks that are not supported"
        )


def expand_temporal_window(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, H, L, d)`` -> ``(B, T, H, 3L, d)``: frame t's tokens followed by frames t-1 and t+1's.

    Missing neighbours at the first and last frame are zeros; the caller masks them out or lets them take
    part in the softmax (the released Open-VCLIP behaviour).
    """
    pad = torch.zeros_like(x[:, :1])
    previous = torch.cat([pad, x[:, :-1]], dim=1)
    following = torch.cat([x[:, 1:], pad], dim=1)
    return torch.cat([x, previous, following], dim=3)


def window_mask(num_frames: int, tokens: int, device: torch.device) -> torch.Tensor:
    """Boolean ``(T, 1, 1, 3L)`` mask, True where the key exists (same layout as ``expand_temporal_window``)."""
    t = torch.arange(num_frames, device=device)
    has = torch.stack([torch.ones_like(t, dtype=torch.bool), t > 0, t < num_frames - 1], dim=1)  # (T, 3)
    return has.repeat_interleave(tokens, dim=1).view(num_frames, 1, 1, 3 * tokens)


def _temporal_attention(
    self,
    q_x: torch.Tensor,
    k_x: Optional[torch.Tensor] = None,
    v_x: Optional[torch.Tensor] = None,
    attn_mask: Optional[torch.Tensor] = None,
):
    """Replacement for ``ResidualAttentionBlock.attention``; input ``(B*T, L, D)`` (or ``(L, B*T, D)``)."""
    if k_x is not None or v_x is not None or attn_mask is not None:
        raise NotImplementedError("expand-temporal-view attention is self-attention without an attention mask")
    attn: nn.MultiheadAttention = self.attn
    num_frames = getattr(self, _FRAMES_ATTR, 1)
    boundary = getattr(self, _BOUNDARY_ATTR)
    x = q_x if attn.batch_first else q_x.transpose(0, 1)
    n, length, width = x.shape
    if n % num_frames:
        raise ValueError(f"a batch of {n} frames does not split into videos of {num_frames} frames")
    batch = n // num_frames
    heads = attn.num_heads
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)

    def split_heads(t: torch.Tensor) -> torch.Tensor:  # (B*T, L, D) -> (B, T, H, L, d)
        return t.view(batch, num_frames, length, heads, width // heads).transpose(2, 3)

    q, k, v = split_heads(q), split_heads(k), split_heads(v)
    mask = None
    if boundary == "zeros" or num_frames > 1:
        k, v = expand_temporal_window(k), expand_temporal_window(v)
        if boundary == "mask":
            mask = window_mask(num_frames, length, x.device).unsqueeze(0).expand(batch, -1, -1, -1, -1)
            mask = mask.reshape(n, 1, 1, -1)
    keys = k.shape[3]
    # q as its own tensor: a view would keep the whole packed q/k/v projection alive for backward (3x q's memory);
    # k and v are copies already (the expanded window).
    out = F.scaled_dot_product_attention(
        q.reshape(n, heads, length, -1).contiguous(),
        k.reshape(n, heads, keys, -1),
        v.reshape(n, heads, keys, -1),
        attn_mask=mask,
        dropout_p=attn.dropout if self.training else 0.0,
    )
    out = F.linear(out.transpose(1, 2).reshape(n, length, width), attn.out_proj.weight, attn.out_proj.bias)
    return out if attn.batch_first else out.transpose(0, 1)


def _run_block(block: nn.Module, x: torch.Tensor, num_frames: int) -> torch.Tensor:
    setattr(block, _FRAMES_ATTR, num_frames)
    return block(x)


def _run_block_with(block: nn.Module, names, num_frames: int, x: torch.Tensor, *tensors: torch.Tensor):
    # Parameters come in as explicit inputs so that checkpoint's recomputation in backward uses the tensors of
    # the forward pass (e.g. interpolated weights under torch.func.functional_call), not whatever the module
    # holds when backward runs.
    setattr(block, _FRAMES_ATTR, num_frames)
    return torch.func.functional_call(block, dict(zip(names, tensors)), (x,))


def _video_transformer_forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None):
    """Replacement for open_clip ``Transformer.forward`` that tells every block the frame count.

    The frame count is handed to each block inside the (possibly checkpointed) call, so recomputation during
    backward sees the same count as the forward pass.
    """
    if attn_mask is not None:
        raise NotImplementedError("vision transformers run without an attention mask")
    num_frames = getattr(self, _FRAMES_ATTR, 1)
    if not self.batch_first:
        x = x.transpose(0, 1).contiguous()
    for block in self.resblocks:
        if self.grad_checkpointing and torch.is_grad_enabled():
            names = [name for name, _ in block.named_parameters()]
            tensors = [operator.attrgetter(name)(block) for name in names]
            x = checkpoint(_run_block_with, block, names, num_frames, x, *tensors, use_reentrant=False)
        else:
            x = _run_block(block, x, num_frames)
    if not self.batch_first:
        x = x.transpose(0, 1)
    return x


def _install_video_forward(visual: nn.Module) -> None:
    transformer = visual.transformer
    if not getattr(transformer, _VIDEO_FORWARD_ATTR, False):
        transformer.forward = types.MethodType(_video_transformer_forward, transformer)
        setattr(transformer, _VIDEO_FORWARD_ATTR, True)
        setattr(transformer, _FRAMES_ATTR, 1)


def enable_temporal_attention(model: nn.Module, boundary: str = "mask") -> nn.Module:
    """Patch an open_clip ``CLIP`` (or its ``VisionTransformer``) in place for expand-temporal-view attention.

    ``boundary="mask"``: missing neighbours at the first and last frame are masked out (a 1-frame video equals
    the image model). ``boundary="zeros"``: they are zero keys and zero values that still take part in the
    softmax, as in the released Open-VCLIP code, so its checkpoints evaluate as trained. Returns ``model``.
    """
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    visual = _vision_tower(model)
    for index, block in enumerate(visual.transformer.resblocks):
        _check_block(block, index)
    for block in visual.transformer.resblocks:
        block.attention = types.MethodType(_temporal_attention, block)
        setattr(block, _BOUNDARY_ATTR, boundary)
    _install_video_forward(visual)
    return model


def temporal_attention_boundary(model: nn.Module) -> Optional[str]:
    """The boundary mode of a patched model, or None if temporal attention is not enabled."""
    blocks = _vision_tower(model).transformer.resblocks
    return getattr(blocks[0], _BOUNDARY_ATTR, None) if len(blocks) else None


def encode_video(
    model: nn.Module,
    video: torch.Tensor,
    params: Optional[Mapping[str, torch.Tensor]] = None,
    expected_frames: Optional[int] = None,
) -> torch.Tensor:
    """Frame embeddings of ``video`` ``(B, T, 3, H, W)`` -> ``(B, T, D)``, not normalised.

    Without ``enable_temporal_attention`` every frame is encoded alone (the image model). ``params`` optionally
    maps open_clip state-dict names (``visual.…``) to tensors that replace the model's own for this call
    (``torch.func.functional_call``), which is how the interpolated pass runs without touching the module.
    ``expected_frames`` checks the clip length against the configured one.
    """
    visual = _vision_tower(model)
    if not torch.is_tensor(video) or video.dim() != 5:
        shape = tuple(video.shape) if torch.is_tensor(video) else type(video).__name__
        raise ValueError(f"video must be a tensor of shape (batch, frames, 3, height, width), got {shape}")
    batch, frames, channels, height, width = video.shape
    if expected_frames is not None and frames != expected_frames:
        raise ValueError(f"video has {frames} frames, expected {expected_frames} (the configured num_frames)")
    if frames < 1 or batch < 1:
        raise ValueError(f"video must hold at least one clip of one frame, got shape {tuple(video.shape)}")
    if channels != 3:
        raise ValueError(f"video frames must have 3 channels (RGB) at dim 2, got {channels}")
    image_size = tuple(getattr(visual, "image_size", (height, width)))
    if (height, width) != image_size:
        raise ValueError(f"video frames are {height}x{width}, the model expects {image_size[0]}x{image_size[1]}")
    _install_video_forward(visual)
    transformer = visual.transformer
    previous = getattr(transformer, _FRAMES_ATTR, 1)
    setattr(transformer, _FRAMES_ATTR, frames)
    try:
        flat = video.reshape(batch * frames, channels, height, width)
        if params is None:
            out = visual(flat)
        else:
            out = torch.func.functional_call(visual, _strip_visual_prefix(model, visual, params), (flat,))
    finally:
        setattr(transformer, _FRAMES_ATTR, previous)
    if isinstance(out, tuple):  # output_tokens=True
        out = out[0]
    return out.reshape(batch, frames, -1)


def _strip_visual_prefix(
    model: nn.Module, visual: nn.Module, params: Mapping[str, torch.Tensor]
) -> Dict[str, torch.Tensor]:
    if visual is model:
        return dict(params)
    stripped = {}
    for name, tensor in params.items():
        if not name.startswith("visual."):
            raise KeyError(f"parameter {name!r} is not in the vision tower; encode_video takes 'visual.*' names")
        stripped[name[len("visual.") :]] = tensor
    return stripped
