"""Text side: prompt templates, template-averaged classifiers (frozen text encoder), video logits."""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import UserError
from .descriptions import ClassText, class_prompts

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


def tokenize_class_prompts(tokenizer, prompts: Sequence[Sequence[str]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(tokens, counts)``: every class's prompts tokenized, classes in order (``(N, L)``), and how many prompts
    each class has (``(C,)``), as :func:`encode_class_tokens` reads them."""
    if len(prompts) == 0:
        raise UserError("no classes to embed: a classifier needs at least one class")
    counts = torch.tensor([len(texts) for texts in prompts])
    if bool((counts == 0).any()):
        raise UserError(f"class {int((counts == 0).nonzero()[0])} has no prompt to embed")
    return tokenizer([text for texts in prompts for text in texts]), counts


def encode_class_tokens(model: nn.Module, tokens: torch.Tensor, counts: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """``(D, C)``: per class, the mean of its prompts' L2-normalised text embeddings, re-normalised.

    Differentiable (the caller chooses ``torch.no_grad``): FROSTER's training recomputes it every step with the
    text tower training. The prompts are encoded in batches of ``batch``, then averaged class by class."""
    device = next(model.parameters()).device
    embeddings = torch.cat(
        [
            F.normalize(model.encode_text(tokens[i : i + batch].to(device)).float(), dim=-1)
            for i in range(0, len(tokens), batch)
        ]
    )
    counts = counts.to(device)
    owner = torch.repeat_interleave(torch.arange(len(counts), device=device), counts)
    sums = torch.zeros(len(counts), embeddings.shape[1], device=device, dtype=embeddings.dtype)
    sums = sums.index_add(0, owner, embeddings)
    return F.normalize(sums / counts[:, None], dim=-1).T


def encode_class_prompts(
    model: nn.Module, tokenizer, prompts: Sequence[Sequence[str]], batch: int = 256
) -> torch.Tensor:
    """``(D, C)``: :func:`encode_class_tokens` of ``prompts`` (one list of prompts per class)."""
    return encode_class_tokens(model, *tokenize_class_prompts(tokenizer, prompts), batch=batch)


def build_classifier(
    model: nn.Module,
    tokenizer,
    classnames: Sequence[str],
    templates: Sequence[str] = PAPER_TEMPLATES,
    progress: bool = False,
    texts: Optional[Sequence[ClassText]] = None,
) -> torch.Tensor:
    """``(D, C)`` classifier: per class, the mean of the L2-normalised embeddings of its prompts (every template
    with the class name, or with ``texts``' descriptions: see ``descriptions.class_prompts``), re-normalised.
    Runs where the model is."""
    templates = check_templates(templates)
    if len(classnames) == 0:
        raise UserError("classnames is empty: a classifier needs at least one class")
    texts = list(texts) if texts is not None else [ClassText(name, ()) for name in classnames]
    if len(texts) != len(classnames):
        raise ValueError(f"{len(texts)} class texts for {len(classnames)} classes")
    prompts = [class_prompts(text, templates) for text in texts]
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            chunks = range(0, len(prompts), 64)
            weights = torch.cat(
                [
                    encode_class_prompts(model, tokenizer, prompts[i : i + 64])
                    for i in tqdm(chunks, desc="text", disable=not progress, leave=False)
                ],
                dim=1,
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


def class_texts_of(payload: Mapping) -> List[dict]:
    """A cached classifier's class texts (``{name, descriptions}`` per class); a cache written before they were
    recorded has the class names alone."""
    if "class_texts" in payload:
        return list(payload["class_texts"])
    return [{"name": name, "descriptions": []} for name in payload["classnames"]]
