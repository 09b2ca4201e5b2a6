"""Build open_clip models: named architectures with pretrained weights, or small ones from a config dict."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import open_clip
import torch
from torch import nn

from .temporal import enable_temporal_attention


def build_clip(spec: Mapping[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    """An open_clip ``CLIP`` from a model spec, in eval mode.

    ``spec`` is either ``{"name": "ViT-B-16", "pretrained": "openai"}`` (open_clip's registry; ``pretrained``
    is a tag or a file path and may be omitted for random weights) or ``{"config": {...}}`` with the keyword
    arguments of ``open_clip.CLIP`` (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...) for small models.
    Optional ``temporal: {"enabled": bool, "boundary": "mask"|"zeros"}`` enables expand-temporal-view attention.
    """
    unknown = set(spec) - {"name", "pretrained", "config", "cache_dir", "temporal"}
    if unknown:
        raise KeyError(f"unknown model spec keys {sorted(unknown)}; allowed: name, pretrained, config, "
                       "cache_dir, temporal")
    if ("name" in spec) == ("config" in spec):
        raise ValueError("a model spec needs exactly one of 'name' (open_clip architecture, e.g. 'ViT-B-16') "
                         "or 'config' (a dict of open_clip.CLIP arguments)")
    if "name" in spec:
        model = open_clip.create_model(spec["name"], pretrained=spec.get("pretrained"),
                                       cache_dir=spec.get("cache_dir"), device=device)
    else:
        model = open_clip.CLIP(**dict(spec["config"])).to(device)
    temporal = spec.get("temporal") or {}
    if temporal.get("enabled", False):
        enable_temporal_attention(model, boundary=temporal.get("boundary", "mask"))
    return model.eval()


def build_tokenizer(spec: Mapping[str, Any]):
    """open_clip's tokenizer for the model spec (its context length for config-dict models)."""
    if "name" in spec:
        return open_clip.get_tokenizer(spec["name"])
    context_length = dict(spec["config"]).get("text_cfg", {}).get("context_length", 77)
    return open_clip.SimpleTokenizer(context_length=context_length)


def vision_parameters(model: nn.Module) -> Dict[str, nn.Parameter]:
    """The vision tower's parameters under their open_clip state-dict names (``visual.…``): what trains."""
    return {name: p for name, p in model.named_parameters() if name.startswith("visual.")}


def freeze_text_tower(model: nn.Module) -> Tuple[int, int]:
    """Freeze everything outside the vision tower (text encoder, logit scale); returns (trainable, frozen)."""
    trainable = frozen = 0
    for name, p in model.named_parameters():
        keep = name.startswith("visual.")
        p.requires_grad_(keep)
        if keep:
            trainable += p.numel()
        else:
            frozen += p.numel()
    return trainable, frozen


def clone_parameters(params: Mapping[str, torch.Tensor], dtype: Optional[torch.dtype] = None
                     ) -> Dict[str, torch.Tensor]:
    """Detached copies (theta0): they never receive gradients and never change."""
    return {k: v.detach().clone().to(dtype or v.dtype) for k, v in params.items()}
