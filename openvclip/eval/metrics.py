"""Metrics: top-k accuracy (scikit-learn) and text-video retrieval recalls."""

from __future__ import annotations

from typing import Dict

import numpy as np
from sklearn.metrics import top_k_accuracy_score


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the ``k`` highest scores (all classes count as labels)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores must be (videos, classes) matching {len(labels)} labels, got {scores.shape}")
    num_classes = scores.shape[1]
    if num_classes <= k:
        return 1.0
    if num_classes == 2:  # scikit-learn expects a 1-D score for binary problems
        return float(np.mean(labels == scores.argmax(1))) if k == 1 else 1.0
    return float(top_k_accuracy_score(labels, scores, k=k, labels=np.arange(num_classes)))


def _ranks(similarity: np.ndarray) -> np.ndarray:
    """1-based rank of the matching column (the diagonal) in each row."""
    diagonal = similarity[np.arange(len(similarity)), np.arange(len(similarity))]
    return 1 + (similarity > diagonal[:, None]).sum(axis=1)


def retrieval_metrics(similarity: np.ndarray) -> Dict[str, float]:
    """Text-to-video and video-to-text R@1/5/10 (%) and median rank; row i (text) matches column i (video)."""
    similarity = np.asarray(similarity)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"similarity must be square (texts x videos, paired by index), got {similarity.shape}")
    out = {}
    for name, matrix in (("t2v", similarity), ("v2t", similarity.T)):
        ranks = _ranks(matrix)
        for k in (1, 5, 10):
            out[f"{name}_r{k}"] = float(100.0 * np.mean(ranks <= k))
        out[f"{name}_medr"] = float(np.median(ranks))
    return out
