"""FROSTER's residual feature distillation toward the frozen CLIP (Huang et al., ICLR 2024).

The student's L2-normalised features ``f`` pass through a residual head, ``f + residual * head(f)`` with ``head``
= Linear -> GELU -> Linear (no biases, the second layer zero-initialised, so training starts from the identity),
and are pulled toward the frozen CLIP's normalised features of the same input: per frame for video (the teacher
is the image CLIP, theta0, no temporal attention), per class for text. The heads feed only this loss:
classification and evaluation use the features before them, so the saved weights stay CLIP's state dict.

Released values (``slowfast/models/temporalclip_video_model.py``, ``tools/train_net.py`` of Visual-AI/FROSTER):
residual 0.1, ``loss = CE + 2.0 * (d_video + d_text)`` with ``d = 1 - cosine`` (an L2 distance before the
repository's commit 4a86ec1, both kept here as ``distance``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, ContextManager, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..models import encode_class_tokens, encode_video, tokenize_class_prompts, video_logits
from ..models.descriptions import ClassText, step_prompts
from .config import DISTANCES, TrainConfig
from .objective import BatchLoss


def residual_head(dim: int) -> nn.Sequential:
    """Linear -> GELU -> Linear, no biases; the first layer Kaiming-normal, the second zero (the residual branch
    adds nothing at the first step), as released."""
    head = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.GELU(), nn.Linear(dim, dim, bias=False))
    nn.init.kaiming_normal_(head[0].weight)
    nn.init.zeros_(head[2].weight)
    return head


class DistillHeads(nn.Module):
    """The video and text residual heads (trained beside the towers, dropped after training)."""

    def __init__(self, dim: int, residual: float = 0.1):
        super().__init__()
        self.residual = float(residual)
        self.video = residual_head(dim)
        self.text = residual_head(dim)

    @property
    def dtype(self) -> torch.dtype:
        """The heads' weights' dtype: features are cast to it (float32 under mixed precision)."""
        return self.video[0].weight.dtype

    def project(self, which: str, features: torch.Tensor) -> torch.Tensor:
        """``features + residual * head(features)`` (not re-normalised, as released)."""
        head = self.video if which == "video" else self.text
        return features + self.residual * head(features)


def row_distance(student: torch.Tensor, teacher: torch.Tensor, distance: str = "cosine") -> torch.Tensor:
    """Per row: ``1 - cos(student, teacher)`` (cosine) or ``||student - teacher||_2`` (l2)."""
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(student, teacher.to(student.dtype), dim=-1)
    if distance == "l2":
        return (student - teacher.to(student.dtype)).norm(p=2, dim=-1)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


@torch.no_grad()
def teacher_frame_features(teacher: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """``(B*T, D)`` normalised per-frame features of the frozen image CLIP: no gradient, no activations kept."""
    was_training = teacher.training
    teacher.eval()
    try:
        frames = encode_video(teacher, video)
    finally:
        teacher.train(was_training)
    return F.normalize(frames.reshape(-1, frames.shape[-1]).float(), dim=-1)


def video_distances(
    heads: DistillHeads, student_frames: torch.Tensor, teacher_frames: torch.Tensor, distance: str = "cosine"
) -> torch.Tensor:
    """``(B,)``: per video, the mean over its frames of the distance of the projected student frame feature to the
    teacher's. ``student_frames`` ``(B, T, D)`` raw frame embeddings (normalised here, as the classifier sees
    them); ``teacher_frames`` ``(B*T, D)`` from :func:`teacher_frame_features`."""
    batch, frames, dim = student_frames.shape
    student = F.normalize(student_frames.reshape(-1, dim).to(heads.dtype), dim=-1)
    return row_distance(heads.project("video", student), teacher_frames, distance).view(batch, frames).mean(dim=1)


def text_distance(
    heads: DistillHeads, student_text: torch.Tensor, teacher_text: torch.Tensor, distance: str = "cosine"
) -> torch.Tensor:
    """Mean over classes of the distance of the projected student class embedding to the teacher's; both
    ``(D, C)`` normalised classifiers (the text tower's output for the step's prompts)."""
    return row_distance(heads.project("text", student_text.T.to(heads.dtype)), teacher_text.T, distance).mean()


@dataclasses.dataclass
class StepText:
    """The training classes' text, to re-embed every step when the text tower trains (FROSTER): each class's name
    and descriptions, the templates, the tokenizer. One template is drawn per step, seeded by (seed, step), so
    every process and a resumed run draw the same."""

    texts: Sequence[ClassText]
    templates: Sequence[str]
    tokenizer: object
    # The tokens of each template's prompts, made on its first draw: tokenizing every class's prompts again at
    # every step, for the student and the teacher, would redo the same CPU work (K400: 800 prompts a step).
    _tokens: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def template_index(self, seed: int, step: int) -> int:
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
        return int(torch.randint(len(self.templates), (1,), generator=generator))

    def prompts(self, seed: int, step: int) -> List[List[str]]:
        return self._prompts_of(self.template_index(seed, step))

    def _prompts_of(self, index: int) -> List[List[str]]:
        return [step_prompts(text, self.templates, index) for text in self.texts]

    def tokens(self, seed: int, step: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """:func:`tokenize_class_prompts` of :meth:`prompts`, as :func:`encode_class_tokens` reads them."""
        index = self.template_index(seed, step)
        if index not in self._tokens:
            self._tokens[index] = tokenize_class_prompts(self.tokenizer, self._prompts_of(index))
        return self._tokens[index]


def froster_batch_loss(
    model: nn.Module,
    teacher: nn.Module,
    heads: DistillHeads,
    classifier: torch.Tensor,
    step_text: Optional[StepText],
    cfg: TrainConfig,
    autocast: Callable[[], ContextManager],
    step: int,
    video: torch.Tensor,
    labels: torch.Tensor,
    scored: int,
    batch_total: int,
) -> BatchLoss:
    """FROSTER's loss of given weights on this batch: ``CE + distill_weight * (d_video + d_text)``, with its
    classification and distillation terms as ``parts``. As every term is this process's share of the global
    batch, the text term (the same classes on every process) is weighted by the share of samples the process
    scores."""

    def terms(weights: Mapping[str, torch.Tensor]):
        visual = {k: v for k, v in weights.items() if k.startswith("visual.")}
        share = scored / batch_total
        with autocast():
            if step_text is not None:
                tokens = step_text.tokens(cfg.seed, step)
                text = encode_class_tokens(model, *tokens)
                with torch.no_grad():
                    teacher_text = encode_class_tokens(teacher, *tokens)
            else:
                text = teacher_text = None
            frames = encode_video(model, video, params=visual, expected_frames=cfg.num_frames)
            logits = video_logits(
                frames, classifier if text is None else text, weights.get("logit_scale", model.logit_scale)
            )
            teacher_frames = teacher_frame_features(teacher, video)
        classification = F.cross_entropy(logits.float(), labels, reduction="none")[:scored].sum() / batch_total
        distill = video_distances(heads, frames, teacher_frames, cfg.distill_distance)[:scored].sum() / batch_total
        if text is not None:
            distill = distill + share * text_distance(heads, text, teacher_text, cfg.distill_distance)
        total = classification + cfg.distill_weight * distill
        return total, {"loss": classification.detach(), "loss_distill": distill.detach()}

    return BatchLoss(terms)
