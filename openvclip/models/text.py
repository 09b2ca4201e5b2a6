"""Text side: prompt templates, template-averaged classifiers (frozen text encoder), video logits."""

from __future__ import annotations

from typing import Sequence

import open_clip
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError

_VERBS = (
    "",
    "a person ",
    "a person using ",
    "a person doing ",
    "a person during ",
    "a person performing ",
    "a person practicing ",
)
_NOUNS = ("a photo of", "a video of", "a example of", "a demonstration of")
# The paper's 28 templates: 7 phrasings x 4 openings ("a example of" is the paper's spelling).
PAPER_TEMPLATES = tuple(f"{noun} {verb}{{}}." for noun in _NOUNS for verb in _VERBS)


def check_templates(templates: Sequence[str]) -> tuple:
    """Templates must be a non-empty list of strings with exactly one ``{}`` placeholder each."""
    if isinstance(templates, str) or not isinstance(templates, Sequence) or len(templates) == 0:
        raise UserError(f"templates must be a non-empty list of strings such as 'a video of {{}}.', got {templates!r}")
    for template in templates:
        if not isinstance(template, str) or template.count("{}") != 1:
            raise UserError(
                f"template {template!r} must contain the class-name placeholder '{{}}' exactly "
                "once, e.g. 'a video of {}.' or the bare '{}'"
            )
        stripped = template.replace("{}", "")
        if "{" in stripped or "}" in stripped:
            raise UserError(f"template {template!r} has braces other than the one '{{}}' placeholder")
    return tuple(templates)


def build_classifier(
    model: nn.Module,
    tokenizer,
    classnames: Sequence[str],
    templates: Sequence[str] = PAPER_TEMPLATES,
    device="cpu",
    progress: bool = False,
) -> torch.Tensor:
    """``(D, C)`` classifier: per class, the mean of L2-normalised template embeddings, re-normalised."""
    templates = check_templates(templates)
    if len(classnames) == 0:
        raise UserError("classnames is empty: a classifier needs at least one class")
    training = model.training
    model.eval()
    try:
        weights = open_clip.build_zero_shot_classifier(
            model, tokenizer, list(classnames), list(templates), device=device, use_tqdm=progress
        )
    finally:
        model.train(training)
    return weights.float()


def video_logits(frame_embeddings: torch.Tensor, classifier: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """``(B, T, D)`` frame embeddings -> ``(B, C)``: logit scale x cosine to each class, averaged over frames."""
    if frame_embeddings.dim() != 3:
        raise ValueError(f"frame embeddings must be (batch, frames, dim), got {tuple(frame_embeddings.shape)}")
    if frame_embeddings.shape[-1] != classifier.shape[0]:
        raise ValueError(
            f"frame embeddings have dim {frame_embeddings.shape[-1]}, the classifier expects "
            f"{classifier.shape[0]} (classifier is (dim, classes))"
        )
    frames = F.normalize(frame_embeddings, dim=-1)
    logits = frames @ classifier.to(frames.dtype)
    return logit_scale.exp().to(logits.dtype) * logits.mean(dim=1)


def load_text(path) -> dict:
    """A data set's cached text side (written by the embed-text job): tensors, strings and lists only."""
    return torch.load(path, map_location="cpu", weights_only=True)
