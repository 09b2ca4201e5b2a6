"""Evaluation protocols over a sweep of test-time interpolation ratios.

For each ratio r the vision tower gets ``r*theta0 + (1-r)*theta``; every video is embedded once per ratio and
scored by the data set's protocol on each of its splits:

- ``closedset`` and ``zeroshot``: top-1 / top-5 (%) against the template-averaged text classifier. Frame logits
  are averaged over frames, which ranks classes exactly as the mean of the normalised frame embeddings does.
- ``retrieval``: one caption per video; text-to-video and video-to-text R@1/5/10 (%) and median rank, with the
  video embedding the normalised mean of its normalised frame embeddings.
"""

from __future__ import annotations

import dataclasses
from typing import List, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.loader import normalise
from ..data.sets import in_split
from ..models import encode_video

from ..train import interpolate
from .metrics import retrieval_metrics, topk_accuracy

PROTOCOLS = ("closedset", "zeroshot", "retrieval")


@dataclasses.dataclass
class EvalSet:
    """One data set to score: its frame store, labels, splits and text side."""

    name: str
    protocol: str
    store: object                     # (N, V*T, H, W, 3) uint8 frames: a FrameStore or an array
    labels: np.ndarray                # (N,) class index per video (retrieval: caption index = row)
    splits: np.ndarray                # (N,) the split names of each video, space-separated ("test1 test3")
    text: torch.Tensor                # classification: (D, C) classifier; retrieval: (N, D) caption embeddings
    eval_splits: Sequence[str] = ("val", "test")
    views: int = 1                    # temporal views per video in the store, embeddings averaged
    classes_per_split: bool = False   # score each split over the classes its videos have (K600's 160 of 220)


@torch.inference_mode()
def embed_videos(model, store, batch_size: int = 128, progress: bool = False, device="cpu",
                 desc: str = "embed", views: int = 1) -> torch.Tensor:
    """``(N, D)`` per video: the mean of its L2-normalised frame embeddings over all frames of all ``views``
    (not re-normalised). Logits are linear in it, so this averages the views' scores."""
    out = []
    for start in tqdm(range(0, len(store), batch_size), desc=desc, disable=not progress, leave=False):
        frames = torch.from_numpy(np.array(store[start:start + batch_size]))
        count = frames.shape[0]
        clips = normalise(frames.reshape(count * views, frames.shape[1] // views, *frames.shape[2:])).to(device)
        embeddings = F.normalize(encode_video(model, clips), dim=-1).mean(dim=1)
        out.append(embeddings.view(count, views, -1).mean(dim=1).float().cpu())
    return torch.cat(out)


def split_mask(splits: np.ndarray, split: str) -> np.ndarray:
    """Videos that belong to ``split`` (a video's field lists its splits, space-separated)."""
    return np.array([in_split(field, split) for field in splits], dtype=bool)


def score_set(video_embeddings: torch.Tensor, item: EvalSet) -> List[dict]:
    """Metric rows (without variant/ratio/hash) for every evaluated split of ``item``."""
    rows = []
    for split in item.eval_splits:
        mask = split_mask(item.splits, split)
        count = int(mask.sum())
        if count == 0:
            continue
        embeddings = video_embeddings[torch.from_numpy(mask)]
        if item.protocol == "retrieval":
            videos = F.normalize(embeddings, dim=-1)
            texts = F.normalize(item.text[torch.from_numpy(mask)].float(), dim=-1)
            metrics = retrieval_metrics((texts @ videos.T).numpy())
            classes = count
        else:
            labels = item.labels[mask]
            columns = np.arange(item.text.shape[1])
            if item.classes_per_split:
                columns = np.unique(labels)
                labels = np.searchsorted(columns, labels)
            scores = (embeddings @ item.text.float()[:, torch.from_numpy(columns)]).numpy()
            metrics = {f"top{k}": 100.0 * topk_accuracy(scores, labels, k) for k in (1, 5)}
            classes = len(columns)
        rows += [{"dataset": item.name, "split": split, "metric": metric, "value": round(value, 4),
                  "n_videos": count, "n_classes": classes} for metric, value in metrics.items()]
    return rows


def sweep(model, theta0: Mapping[str, torch.Tensor], theta: Mapping[str, torch.Tensor], ratios: Sequence[float],
          sets: Sequence[EvalSet], variant: str, config_hash: str, batch_size: int = 128, device="cpu",
          progress: bool = True) -> List[dict]:
    """Score every set at every ratio; the model's vision tower is overwritten (keep theta0 to restore it)."""
    rows = []
    model.to(device).eval()
    known = set(model.state_dict())
    missing = [k for k in theta if k not in known]
    if missing:
        raise KeyError(f"weights hold keys the model lacks: {missing[:5]}")
    for ratio in tqdm(list(ratios), desc=f"sweep {variant}", disable=not progress):
        model.load_state_dict(interpolate(theta0, theta, ratio), strict=False)
        for item in sets:
            embeddings = embed_videos(model, item.store, batch_size, progress=False, device=device,
                                      views=item.views)
            rows += [{"variant": variant, "ratio": round(float(ratio), 4), **row, "config_hash": config_hash}
                     for row in score_set(embeddings, item)]
    return rows
