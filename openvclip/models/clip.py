"""Build open_clip models: named architectures with pretrained weights, or small ones from a config dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import open_clip
import torch
from torch import nn

from ..errors import Unreachable, UserError
from ..model_specs import image_side
from ..weights import load_weights
from .temporal import enable_temporal_attention

SPEC_KEYS = ("name", "pretrained", "config", "cache_dir", "quick_gelu", "temporal")


def uses_quick_gelu(spec: Mapping[str, Any]) -> Optional[bool]:
    """Whether the spec's weights were trained with QuickGELU (``x * sigmoid(1.702 x)``), as OpenAI's CLIP and
    several other releases were: an explicit ``quick_gelu`` key, else a ``-quickgelu`` architecture, else what
    open_clip records for the ``pretrained`` tag. ``None`` when the spec does not say (no tag, or a weights file
    of unknown origin): the weights file's own record decides then (:func:`quick_gelu_of_file`).

    open_clip 3.x builds ``create_model("ViT-B-16", pretrained="openai")`` with ``nn.GELU`` and only warns about
    the mismatch, so the activation has to be asked for; a model run with the other activation than it was
    trained with gives different features on every layer."""
    if spec.get("quick_gelu") is not None:
        return bool(spec["quick_gelu"])
    if "config" in spec:
        return bool(dict(spec["config"]).get("quick_gelu", False))
    if str(spec["name"]).endswith("-quickgelu"):
        return True
    tag = spec.get("pretrained")
    if tag and open_clip.get_pretrained_cfg(spec["name"], str(tag)):
        return bool(open_clip.get_pretrained_cfg(spec["name"], str(tag)).get("quick_gelu", False))
    return None


def quick_gelu_of_file(path) -> Optional[bool]:
    """The activation a weights file of ours records (``quick_gelu`` in its safetensors metadata: `fetch-clip`
    writes it beside the weights), or ``None`` for a file that records none."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        value = (f.metadata() or {}).get("quick_gelu")
    return None if value is None else value == "True"


def build_clip(spec: Mapping[str, Any], device: str | torch.device = "cpu") -> nn.Module:
    """An open_clip ``CLIP`` from a model spec, in eval mode.

    ``spec`` is either ``{"name": "ViT-B-16", "pretrained": "openai"}`` (open_clip's registry; ``pretrained``
    is a tag or a file path and may be omitted for random weights) or ``{"config": {...}}`` with the keyword
    arguments of ``open_clip.CLIP`` (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...) for small models.
    ``quick_gelu`` (optional) overrides the activation :func:`uses_quick_gelu` finds for the weights.
    Optional ``temporal: {"enabled": bool, "boundary": "mask"|"zeros"}`` enables expand-temporal-view attention.
    """
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise UserError(f"unknown model spec keys {sorted(unknown)}; allowed: {', '.join(SPEC_KEYS)}")
    if ("name" in spec) == ("config" in spec):
        raise UserError(
            "a model spec needs exactly one of 'name' (open_clip architecture, e.g. 'ViT-B-16') "
            "or 'config' (a dict of open_clip.CLIP arguments)"
        )
    quick_gelu = bool(uses_quick_gelu(spec))
    if "name" in spec:
        try:
            model = open_clip.create_model(
                spec["name"],
                pretrained=spec.get("pretrained"),
                cache_dir=spec.get("cache_dir"),
                device=device,
                force_quick_gelu=quick_gelu,
            )
        except RuntimeError as error:
            if not str(error).startswith("Failed to download"):  # open_clip's wording for a failed fetch
                raise
            raise _unreachable(spec, error) from None
    else:
        model = open_clip.CLIP(**{**dict(spec["config"]), "quick_gelu": quick_gelu}).to(device)
    temporal = spec.get("temporal") or {}
    if temporal.get("enabled", False):
        enable_temporal_attention(model, boundary=temporal.get("boundary", "mask"))
    return model.eval()


def _unreachable(spec: Mapping[str, Any], error: Exception) -> Unreachable:
    """The one-line account of weights open_clip could not download."""
    from huggingface_hub.constants import HF_HUB_CACHE

    cache = spec.get("cache_dir") or HF_HUB_CACHE
    cause = str(error).split(". Last error")[0]  # the rest is huggingface_hub's advice, given below for our case
    return Unreachable(
        f"could not download the CLIP weights {spec['name']}:{spec.get('pretrained')} ({cause}); "
        f"connect this machine to the internet (open_clip fetches them once into {cache}), copy them into that "
        "cache from a machine that has them, or name a local weights file instead of the tag "
        f"({spec['name']}:/path/to/open_clip_pytorch_model.bin)"
    )


def input_size(model: nn.Module) -> int:
    """The side of the square frames the vision tower takes (open_clip keeps an int or a pair)."""
    return image_side(model.visual.image_size)


def build_tokenizer(spec: Mapping[str, Any]):
    """open_clip's tokenizer for the model spec (its context length for config-dict models)."""
    if "name" in spec:
        return open_clip.get_tokenizer(spec["name"])
    context_length = dict(spec["config"]).get("text_cfg", {}).get("context_length", 77)
    return open_clip.SimpleTokenizer(context_length=context_length)


def vision_parameters(model: nn.Module) -> Dict[str, nn.Parameter]:
    """The vision tower's parameters under their open_clip state-dict names (``visual.…``): what trains."""
    return {name: p for name, p in model.named_parameters() if name.startswith("visual.")}


def text_parameters(model: nn.Module) -> Dict[str, nn.Parameter]:
    """The text tower's parameters (everything outside ``visual.`` but the logit scale), under state-dict names."""
    return {name: p for name, p in model.named_parameters() if not name.startswith("visual.") and name != "logit_scale"}


def is_text_key(name: str) -> bool:
    """Whether a state-dict name belongs to the text tower (a weights file that holds one trained the text)."""
    return not name.startswith("visual.") and name != "logit_scale"


def trained_parameters(model: nn.Module, logit_scale: bool = False, text: bool = False) -> Dict[str, nn.Parameter]:
    """What training changes, under state-dict names: the vision tower; the logit scale when asked (the released
    Open-VCLIP trains it); the text tower when asked (FROSTER trains it; Open-VCLIP keeps it frozen)."""
    params = vision_parameters(model)
    if text:
        params.update(text_parameters(model))
    if logit_scale:
        params["logit_scale"] = model.logit_scale
    return params


def tensors_of(model: nn.Module, names) -> Dict[str, torch.Tensor]:
    """Detached copies of the model's parameters under ``names`` (a trained weights file's keys: theta0's side
    of an interpolation); a name the model lacks raises, naming it."""
    own = dict(model.named_parameters())
    unknown = sorted(set(names) - set(own))
    if unknown:
        raise UserError(
            f"weights hold tensors the model lacks ({', '.join(unknown[:5])}): is the model the "
            "architecture they were trained with?"
        )
    return {k: own[k].detach().clone() for k in names}


def freeze_text_tower(model: nn.Module, train_text: bool = False) -> Tuple[int, int]:
    """Freeze everything outside the vision tower (the text encoder unless ``train_text``, the logit scale);
    returns (trainable, frozen)."""
    trainable = frozen = 0
    for name, p in model.named_parameters():
        keep = name.startswith("visual.") or (train_text and is_text_key(name))
        p.requires_grad_(keep)
        if keep:
            trainable += p.numel()
        else:
            frozen += p.numel()
    return trainable, frozen


def clone_parameters(
    params: Mapping[str, torch.Tensor], dtype: Optional[torch.dtype] = None
) -> Dict[str, torch.Tensor]:
    """Detached copies (theta0): they never receive gradients and never change."""
    return {k: v.detach().clone().to(dtype or v.dtype) for k, v in params.items()}


def load_clip(model_spec: Mapping, weights: Optional[Path], temporal: bool = False, boundary: str = "mask"):
    """The CLIP of ``model_spec`` with the full state dict of ``weights`` (theta0) loaded, eval mode."""
    spec = dict(model_spec)
    if weights is not None:
        state = load_weights(weights)
        # The weights come from the file, the activation they were trained with from the spec's tag (or the
        # file's record): dropping the tag alone would rebuild OpenAI's CLIP with GELU.
        quick_gelu = uses_quick_gelu(spec)
        spec = {k: v for k, v in spec.items() if k != "pretrained"}
        spec["quick_gelu"] = quick_gelu if quick_gelu is not None else bool(quick_gelu_of_file(weights))
    model = build_clip(spec)
    if weights is not None:
        expected = model.state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        reshaped = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
        if missing or unexpected or reshaped:
            shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in reshaped[:3]]
            raise UserError(
                f"{weights} does not fit model {spec}: missing {missing[:5]} ({len(missing)}), unexpected "
                f"{unexpected[:5]} ({len(unexpected)}), other shapes {shapes} ({len(reshaped)}); these weights are "
                "another architecture's: give the model they were saved from (the config's clip.model, or --model)"
            )
        model.load_state_dict(state)
    if temporal:
        enable_temporal_attention(model, boundary)
    return model.eval()
