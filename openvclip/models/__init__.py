"""Temporal CLIP: open_clip models with expand-temporal-view attention, text classifiers, video logits."""

from .clip import (
    build_clip,
    build_tokenizer,
    clone_parameters,
    freeze_text_tower,
    is_text_key,
    load_clip,
    quick_gelu_of_file,
    tensors_of,
    text_parameters,
    trained_parameters,
    uses_quick_gelu,
    vision_parameters,
)
from .temporal import BOUNDARIES, enable_temporal_attention, encode_video, temporal_attention_boundary
from .text import (
    PAPER_TEMPLATES,
    build_classifier,
    check_templates,
    encode_class_prompts,
    encode_class_tokens,
    load_text,
    tokenize_class_prompts,
    video_logits,
)

__all__ = [
    "BOUNDARIES",
    "PAPER_TEMPLATES",
    "build_classifier",
    "build_clip",
    "build_tokenizer",
    "check_templates",
    "clone_parameters",
    "enable_temporal_attention",
    "encode_class_prompts",
    "encode_class_tokens",
    "encode_video",
    "freeze_text_tower",
    "is_text_key",
    "load_clip",
    "load_text",
    "quick_gelu_of_file",
    "temporal_attention_boundary",
    "tensors_of",
    "text_parameters",
    "tokenize_class_prompts",
    "trained_parameters",
    "uses_quick_gelu",
    "vision_parameters",
    "video_logits",
]
