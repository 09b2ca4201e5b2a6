"""Temporal CLIP: open_clip models with expand-temporal-view attention, text classifiers, video logits."""

from .clip import build_clip, build_tokenizer, clone_parameters, freeze_text_tower, vision_parameters
from .temporal import BOUNDARIES, enable_temporal_attention, encode_video, temporal_attention_boundary
from .text import PAPER_TEMPLATES, build_classifier, check_templates, video_logits

__all__ = [
    "BOUNDARIES", "PAPER_TEMPLATES", "build_classifier", "build_clip", "build_tokenizer", "check_templates",
    "clone_parameters", "enable_temporal_attention", "encode_video", "freeze_text_tower",
    "temporal_attention_boundary", "vision_parameters", "video_logits",
]
